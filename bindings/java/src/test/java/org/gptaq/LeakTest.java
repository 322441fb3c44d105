package org.gptaq;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** No native memory leak over many create/add/solve/close cycles (RSS, heap capped by -Xmx). */
class LeakTest {
  static void cycle(TestSupport.Problem p) {
    try (Quantizer q = new Quantizer(p.cols, new Config().groupSize(32).actOrder(true))) {
      q.setProgressListener((phase, done, total) -> true);
      q.setLogListener((level, msg) -> {});
      q.addBatch(p.xQ);
      QuantResult r = q.solve(p.w, p.rows);
      assertEquals(p.rows * p.cols, r.codes.length);
    }
  }

  @Test
  void noLeakOver2000Cycles() throws Exception {
    // 128 columns: each context holds >= 64 KiB of statistics plus the cached factor and
    // the solve's work buffers, so a leaked context over 2000 cycles would grow RSS by
    // well over 128 MiB. A listener is set each cycle too (its JNI global reference
    // must go with the context).
    TestSupport.Problem p = new TestSupport.Problem(16, 128, 150, 1, false);
    for (int i = 0; i < 100; i++) cycle(p);
    System.gc();
    long before = TestSupport.rssBytes();
    for (int i = 0; i < 2000; i++) cycle(p);
    System.gc();
    long growth = TestSupport.rssBytes() - before;
    assertTrue(growth < 48L << 20, "RSS grew by " + (growth >> 20) + " MiB over 2000 cycles");
  }

  @Test
  void noLeakOnErrorPaths() throws Exception {
    int cols = 256;
    float[] bad = new float[10 * cols];
    bad[0] = Float.NaN;
    for (int i = 0; i < 20; i++) errorCycle(cols, bad);
    System.gc();
    long before = TestSupport.rssBytes();
    for (int i = 0; i < 300; i++) errorCycle(cols, bad);
    System.gc();
    long growth = TestSupport.rssBytes() - before;
    assertTrue(growth < 48L << 20, "RSS grew by " + (growth >> 20) + " MiB over 300 error cycles");
  }

  @Test
  void unclosedQuantizersAreFreedByTheCleaner() throws Exception {
    TestSupport.Problem p = new TestSupport.Problem(8, 256, 50, 2, false);
    for (int i = 0; i < 20; i++) cycle(p);
    System.gc();
    long before = TestSupport.rssBytes();
    for (int i = 0; i < 400; i++) {
      Quantizer q = new Quantizer(p.cols); // never closed: >= 0.5 MiB native each
      q.addBatch(p.xQ);
      if (i % 50 == 49) System.gc();
    }
    // Wait (bounded) for the collector and the Cleaner thread to run.
    long growth = Long.MAX_VALUE;
    for (int attempt = 0; attempt < 100 && growth >= 48L << 20; attempt++) {
      System.gc();
      Thread.sleep(20);
      growth = TestSupport.rssBytes() - before;
    }
    assertTrue(growth < 48L << 20, "RSS grew by " + (growth >> 20) + " MiB: unclosed Quantizers not freed");
  }

  static void errorCycle(int cols, float[] bad) {
    try (Quantizer q = new Quantizer(cols)) {
      assertThrows(GptaqException.class, () -> q.addBatch(bad));
      assertThrows(GptaqException.class, () -> q.solve(new float[cols], 1));
    }
    assertThrows(GptaqException.class, () -> new Quantizer(cols, new Config().bits(1)));
  }
}
