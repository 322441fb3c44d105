package org.gptaq;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;

/**
 * Loads the JNI library {@code libgptaq_jni} (which links libgptaq by its soname) once per
 * class loader. The first of these that works wins:
 * <ol>
 *   <li>the file named by the system property {@code gptaq.jni.library};
 *   <li>{@code System.loadLibrary("gptaq_jni")}: java.library.path (a distribution's copy);
 *   <li>the file next to the jar (or class folder) this class came from, in {@code
 *       ../lib} from there (the build tree), or in the install layout's JNI folder
 *       ({@code <prefix>/share/java/gptaq.jar} and {@code <prefix>/<libdir>/jni}: the
 *       jar's build.properties holds the relative path);
 *   <li>the copy inside the jar, {@code /org/gptaq/native/<os>-<arch>/libgptaq_jni.so}
 *       (linux-x86_64 in the published jar), extracted to a temporary file and loaded
 *       with System.load, as sqlite-jdbc and zstd-jni do.
 * </ol>
 * The JNI library needs libgptaq itself ({@link #coreSoname()}, e.g. libgptaq.so.0.1). The
 * dynamic loader finds it through its usual path (ldconfig, LD_LIBRARY_PATH) or the
 * installed JNI library's RUNPATH. For a libgptaq in a prefix the loader does not search,
 * name its folder (or the file) with the system property {@code gptaq.library.path} or the
 * environment variable {@code GPTAQ_LIBRARY_PATH}: that copy is loaded first, so the JNI
 * library binds to it. Without either, a jar used from outside the install layout also
 * looks for libgptaq next to itself and in {@code ../lib}, {@code ../../lib} from there.
 * If nothing works, the {@link UnsatisfiedLinkError} lists every attempt.
 */
public final class NativeLoader {
  /** The system property naming the JNI library file explicitly. */
  public static final String PROPERTY = "gptaq.jni.library";
  /** The system property naming libgptaq's folder or file. */
  public static final String CORE_PROPERTY = "gptaq.library.path";
  /** The environment variable naming libgptaq's folder or file. */
  public static final String CORE_ENV = "GPTAQ_LIBRARY_PATH";
  /** The library's base name, as for System.loadLibrary. */
  public static final String NAME = "gptaq_jni";

  private static String loadedFrom;
  private static String coreLoadedFrom;

  private NativeLoader() {}

  /** Load the JNI library if not yet loaded. Thread-safe; idempotent. */
  public static synchronized void load() {
    if (loadedFrom != null) return;
    List<String> tried = new ArrayList<>();
    // A configured libgptaq comes first: the JNI library then binds to that copy.
    String configured = configuredCore();
    if (configured != null && !loadCore(configured, tried))
      throw new UnsatisfiedLinkError("gptaq: cannot load libgptaq from " + configured + " ("
          + CORE_PROPERTY + " / " + CORE_ENV + "); tried: " + String.join("; ", tried));
    String explicit = System.getProperty(PROPERTY);
    if (explicit != null && !explicit.isEmpty()) {
      if (tryLoad(new File(explicit), "property " + PROPERTY + "=" + explicit, tried)) return;
    }
    try {
      System.loadLibrary(NAME);
      loadedFrom = "java.library.path";
      return;
    } catch (UnsatisfiedLinkError e) {
      tried.add("System.loadLibrary(\"" + NAME + "\"): " + e.getMessage());
    }
    File dir = codeDir();
    String file = System.mapLibraryName(NAME);
    if (dir != null) {
      String jniDir = buildProperty("jnidir");
      File installed = jniDir == null || jniDir.isEmpty() ? null : new File(new File(dir, jniDir), file);
      File[] candidates = installed == null
          ? new File[] {new File(dir, file), new File(new File(dir.getParentFile(), "lib"), file)}
          : new File[] {new File(dir, file), new File(new File(dir.getParentFile(), "lib"), file), installed};
      for (File candidate : candidates) {
        if (!candidate.isFile()) {
          tried.add(candidate + ": no such file");
          continue;
        }
        if (tryLoad(candidate, "next to the jar: " + candidate, tried)) return;
      }
    }
    String resource = "/org/gptaq/native/" + platform() + "/" + file;
    File extracted = extract(resource, tried);
    if (extracted != null) {
      try {
        if (tryLoad(extracted, "from the jar: " + resource, tried)) return;
        // the usual reason: libgptaq is not on the loader's path; look near the jar
        if (configured == null && dir != null && loadCoreNear(dir, tried)
            && tryLoad(extracted, "from the jar: " + resource, tried))
          return;
      } finally {
        if (!extracted.delete()) extracted.deleteOnExit(); // Linux: fine once mapped
      }
    }
    throw new UnsatisfiedLinkError("gptaq: cannot load the JNI library; tried: " + String.join("; ", tried)
        + ". If libgptaq is not on the loader's path, set -D" + CORE_PROPERTY + "=<its folder> or "
        + CORE_ENV + ".");
  }

  private static boolean tryLoad(File f, String how, List<String> tried) {
    try {
      System.load(f.getAbsolutePath());
      loadedFrom = how;
      return true;
    } catch (UnsatisfiedLinkError e) {
      tried.add(how + ": " + e.getMessage());
      return false;
    }
  }

  /** How the JNI library was found ("property ...", "java.library.path", "next to the jar: ...", "from the jar: ..."), or null. */
  public static synchronized String loadedFrom() {
    return loadedFrom;
  }

  /** The libgptaq file loaded by this class before the JNI library, or null (the loader found it). */
  public static synchronized String coreLoadedFrom() {
    return coreLoadedFrom;
  }

  /** The platform folder of the bundled JNI library, e.g. "linux-x86_64". */
  public static String platform() {
    String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
    String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
    if (os.startsWith("linux")) os = "linux";
    else if (os.startsWith("mac") || os.startsWith("darwin")) os = "macos";
    else if (os.startsWith("windows")) os = "windows";
    if (arch.equals("amd64") || arch.equals("x86_64")) arch = "x86_64";
    else if (arch.equals("arm64")) arch = "aarch64";
    return os + "-" + arch;
  }

  /** libgptaq's soname this binding was built against (from the jar's build.properties). */
  public static String coreSoname() {
    String s = buildProperty("soname");
    return s != null && !s.isEmpty() ? s : System.mapLibraryName("gptaq");
  }

  /** A value of the jar's build.properties, or null. */
  private static String buildProperty(String key) {
    try (InputStream in = NativeLoader.class.getResourceAsStream("/org/gptaq/native/build.properties")) {
      if (in == null) return null;
      Properties p = new Properties();
      p.load(in);
      return p.getProperty(key);
    } catch (IOException e) {
      return null;
    }
  }

  private static String configuredCore() {
    String v = System.getProperty(CORE_PROPERTY);
    if (v == null || v.isEmpty()) v = System.getenv(CORE_ENV);
    return v == null || v.isEmpty() ? null : v;
  }

  private static boolean loadCore(String where, List<String> tried) {
    File f = new File(where);
    if (f.isDirectory()) f = new File(f, coreSoname());
    if (!f.isFile()) {
      tried.add(f + ": no such file");
      return false;
    }
    try {
      System.load(f.getAbsolutePath());
      coreLoadedFrom = f.getAbsolutePath();
      return true;
    } catch (UnsatisfiedLinkError e) {
      tried.add(f + ": " + e.getMessage());
      return false;
    }
  }

  private static boolean loadCoreNear(File dir, List<String> tried) {
    File up = dir.getParentFile();
    File upup = up == null ? null : up.getParentFile();
    List<File> dirs = new ArrayList<>();
    dirs.add(dir);
    if (up != null) dirs.add(new File(up, "lib"));
    if (upup != null) {
      dirs.add(new File(upup, "lib"));
      dirs.add(upup); // the build tree: build/bindings/java -> build
    }
    for (File d : dirs) {
      File f = new File(d, coreSoname());
      if (f.isFile() && loadCore(f.getPath(), tried)) return true;
    }
    tried.add("no " + coreSoname() + " in " + dirs);
    return false;
  }

  private static File extract(String resource, List<String> tried) {
    try (InputStream in = NativeLoader.class.getResourceAsStream(resource)) {
      if (in == null) {
        tried.add("jar resource " + resource + ": not in the jar");
        return null;
      }
      Path tmp = Files.createTempFile("libgptaq_jni-", ".so");
      Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
      return tmp.toFile();
    } catch (IOException | SecurityException e) {
      tried.add("jar resource " + resource + ": cannot extract (" + e + ")");
      return null;
    }
  }

  private static File codeDir() {
    try {
      java.security.CodeSource cs = NativeLoader.class.getProtectionDomain().getCodeSource();
      if (cs == null || cs.getLocation() == null) return null;
      File here = new File(cs.getLocation().toURI());
      return here.isDirectory() ? here : here.getParentFile();
    } catch (URISyntaxException | SecurityException | IllegalArgumentException e) {
      return null;
    }
  }
}
