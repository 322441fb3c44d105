package org.gptaq;

import java.io.File;
import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.List;

/**
 * Loads the JNI library {@code libgptaq_jni} (which links libgptaq) once per class loader.
 *
 * <p>Tried in order: the absolute path in the system property {@code gptaq.jni.library};
 * {@code System.loadLibrary("gptaq_jni")} (java.library.path); the file next to the jar
 * (or class folder) this class was loaded from, and {@code ../lib} from there. The first
 * that works wins; if none does, an {@link UnsatisfiedLinkError} lists every attempt.
 */
public final class NativeLoader {
  /** The system property naming the JNI library file explicitly. */
  public static final String PROPERTY = "gptaq.jni.library";
  /** The library's base name, as for System.loadLibrary. */
  public static final String NAME = "gptaq_jni";

  private static String loadedFrom;

  private NativeLoader() {}

  /** Load the JNI library if not yet loaded. Thread-safe; idempotent. */
  public static synchronized void load() {
    if (loadedFrom != null) return;
    List<String> tried = new ArrayList<>();
    String explicit = System.getProperty(PROPERTY);
    if (explicit != null && !explicit.isEmpty()) {
      try {
        System.load(new File(explicit).getAbsolutePath());
        loadedFrom = "property " + PROPERTY + "=" + explicit;
        return;
      } catch (UnsatisfiedLinkError e) {
        tried.add(PROPERTY + "=" + explicit + ": " + e.getMessage());
      }
    }
    try {
      System.loadLibrary(NAME);
      loadedFrom = "java.library.path";
      return;
    } catch (UnsatisfiedLinkError e) {
      tried.add("System.loadLibrary(\"" + NAME + "\"): " + e.getMessage());
    }
    File here = codeLocation();
    if (here != null) {
      File dir = here.isDirectory() ? here : here.getParentFile();
      String file = System.mapLibraryName(NAME);
      for (File candidate : new File[] {new File(dir, file), new File(new File(dir.getParentFile(), "lib"), file)}) {
        if (!candidate.isFile()) {
          tried.add(candidate + ": no such file");
          continue;
        }
        try {
          System.load(candidate.getAbsolutePath());
          loadedFrom = "next to the jar: " + candidate;
          return;
        } catch (UnsatisfiedLinkError e) {
          tried.add(candidate + ": " + e.getMessage());
        }
      }
    }
    throw new UnsatisfiedLinkError("gptaq: cannot load the JNI library; tried: " + String.join("; ", tried));
  }

  /** How the library was found ("property ...", "java.library.path", "next to the jar: ..."), or null. */
  public static synchronized String loadedFrom() {
    return loadedFrom;
  }

  private static File codeLocation() {
    try {
      java.security.CodeSource cs = NativeLoader.class.getProtectionDomain().getCodeSource();
      if (cs == null || cs.getLocation() == null) return null;
      return new File(cs.getLocation().toURI());
    } catch (URISyntaxException | SecurityException e) {
      return null;
    }
  }
}
