package org.gptaq;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.gptaq.swig.GptaqSwig;
import org.gptaq.swig.GptaqSwigConstants;
import org.junit.jupiter.api.Test;

class LibraryTest {
  @Test
  void versionMatchesHeaderAndLibrary() {
    String v = GptaqSwigConstants.GPTAQ_VERSION_MAJOR + "." + GptaqSwigConstants.GPTAQ_VERSION_MINOR + "."
        + GptaqSwigConstants.GPTAQ_VERSION_PATCH;
    assertEquals(v, Gptaq.version());
    assertEquals(Gptaq.headerVersionNumber(), Gptaq.versionNumber());
    assertTrue(Gptaq.buildInfo().contains(v), Gptaq.buildInfo());
  }

  @Test
  void backendsReported() {
    List<Backend> b = Gptaq.availableBackends();
    assertTrue(b.contains(Backend.CPU));
    assertTrue(Gptaq.backendAvailable(Backend.AUTO));
    assertEquals(b.contains(Backend.CUDA), Gptaq.backendAvailable(Backend.CUDA));
    assertTrue(Gptaq.buildInfo().contains("cpu"));
    try (Quantizer q = new Quantizer(8, new Config().backend(Backend.CPU))) {
      assertEquals(Backend.CPU, q.backend());
    }
    if (!b.contains(Backend.CUDA)) {
      GptaqException e = assertThrows(GptaqException.class,
          () -> new Quantizer(8, new Config().backend(Backend.CUDA)));
      assertEquals(Status.BACKEND_UNAVAILABLE, e.status());
      assertFalse(e.getMessage().isEmpty());
    }
  }

  @Test
  void loaderPath() {
    Gptaq.version();
    String how = NativeLoader.loadedFrom();
    assertNotNull(how);
    String expect = System.getProperty("gptaq.expect.loader", "next to the jar");
    assertTrue(how.startsWith(expect), how);
  }

  @Test
  void everyHeaderFunctionIsInTheLowLevelClass() throws Exception {
    String header = new String(Files.readAllBytes(Paths.get(System.getProperty("gptaq.header"))));
    Matcher m = Pattern.compile("GPTAQ_API\\s+[^;(]*?\\b(gptaq_\\w+)\\s*\\(").matcher(header);
    Set<String> names = new HashSet<>();
    while (m.find()) names.add(m.group(1));
    assertTrue(names.size() > 25);
    Set<String> have = new HashSet<>();
    for (Method mm : GptaqSwig.class.getMethods()) have.add(mm.getName());
    Set<String> missing = new HashSet<>(names);
    missing.removeAll(have);
    assertTrue(missing.isEmpty(), "missing: " + missing);
  }

  @Test
  void statusesAndHalfHelpers() {
    for (Status s : Status.values())
      if (s != Status.UNKNOWN) assertFalse(GptaqSwig.gptaq_status_string(s.code()).isEmpty());
    assertEquals(Status.UNKNOWN, Status.of(-999));
    assertEquals(3, Gptaq.numGroups(300, 128));
    assertEquals(1, Gptaq.numGroups(300, -1));
    float[] x = {1.0f, -2.5f, 3.140625f, 65504.0f};
    assertArrayEquals(x, Gptaq.fromHalf(Gptaq.toHalf(x, DType.F16), DType.F16));
    short[] bf = Gptaq.toHalf(new float[] {1.0f, 1.00390625f}, DType.BF16);
    assertEquals((short) 0x3F80, bf[0]);
    assertEquals((short) 0x3F80, bf[1]); // ties to even
  }
}
