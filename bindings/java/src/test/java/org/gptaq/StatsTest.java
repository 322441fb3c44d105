package org.gptaq;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Statistics exchange: serialize/deserialize, merge, save/load, file info, buffers, imatrix. */
class StatsTest {
  static final int COLS = 64, ROWS = 16, TOKENS = 256;
  // dyadic inputs: every fp32 sum is exact, so any split of the tokens gives identical sums
  final float[] x = TestSupport.dyadic(TOKENS * COLS, 1);
  final float[] xFp = TestSupport.dyadic(TOKENS * COLS, 2);
  final float[] w = TestSupport.dyadic(ROWS * COLS, 3);

  static float[] half(float[] a, int which) {
    int n = a.length / 2;
    return which == 0 ? Arrays.copyOfRange(a, 0, n) : Arrays.copyOfRange(a, n, a.length);
  }

  QuantResult whole(Config cfg) {
    try (Quantizer q = new Quantizer(COLS, cfg)) {
      q.addBatch(x, cfg.method() == Method.GPTAQ ? xFp : null);
      return q.solve(w, ROWS);
    }
  }

  @Test
  void serializeDeserializeMergeEqualsOneWorker() {
    for (Config cfg : new Config[] {new Config().groupSize(32), new Config().method(Method.GPTAQ).actOrder(true)}) {
      boolean pair = cfg.method() == Method.GPTAQ;
      QuantResult ref = whole(cfg);
      try (Quantizer a = new Quantizer(COLS, cfg); Quantizer b = new Quantizer(COLS, cfg);
           Quantizer c = new Quantizer(COLS, cfg)) {
        a.addBatch(half(x, 0), pair ? half(xFp, 0) : null);
        b.addBatch(half(x, 1), pair ? half(xFp, 1) : null);
        byte[] bytes = b.stats().serialize();
        assertEquals(b.stats().serializedSize(), bytes.length);
        assertEquals(64 + 4L * COLS * COLS * (pair ? 2 : 1) + 8L * COLS, bytes.length);
        // deserialize-accumulate into a, merge b into c after c got a's half
        c.addBatch(half(x, 0), pair ? half(xFp, 0) : null);
        a.stats().deserialize(bytes, StatsMode.ACCUMULATE);
        c.merge(b);
        assertEquals(TOKENS, a.numTokens());
        assertEquals(TOKENS, c.stats().tokens());
        assertEquals(TOKENS / 2, b.numTokens()); // the source is unchanged
        QuantResult ra = a.solve(w, ROWS), rc = c.solve(w, ROWS);
        assertArrayEquals(ref.codes, ra.codes);
        assertArrayEquals(ref.scales, ra.scales);
        assertArrayEquals(ref.codes, rc.codes);
        assertArrayEquals(ref.dequant, rc.dequant);
        // REPLACE makes a fresh quantizer hold exactly the bytes' statistics
        try (Quantizer d = new Quantizer(COLS, cfg)) {
          d.stats().deserialize(a.stats().serialize(), StatsMode.REPLACE);
          assertArrayEquals(a.stats().serialize(), d.stats().serialize());
          assertArrayEquals(ref.codes, d.solve(w, ROWS).codes);
        }
      }
    }
  }

  @Test
  void saveLoadAndFileInfo() throws Exception {
    Path dir = TestSupport.tmpDir();
    Path f = dir.resolve("stats ü.gstats"); // a non-ASCII path reaches the library as UTF-8
    Config cfg = new Config().method(Method.GPTAQ);
    try (Quantizer a = new Quantizer(COLS, cfg); Quantizer b = new Quantizer(COLS, cfg)) {
      a.addBatch(x, xFp);
      a.stats().save(f);
      assertTrue(Files.exists(f));
      StatsFileInfo info = Statistics.fileInfo(f);
      assertEquals(COLS, info.columns);
      assertEquals(Method.GPTAQ, info.method);
      assertTrue(info.hasCross);
      assertEquals(TOKENS, info.tokens);
      b.stats().load(f, StatsMode.REPLACE);
      assertArrayEquals(a.stats().serialize(), b.stats().serialize());
      b.stats().load(f, StatsMode.ACCUMULATE);
      assertEquals(2 * TOKENS, b.numTokens());
      assertEquals(Files.size(f), a.stats().serializedSize());
    }
    GptaqException e = assertThrows(GptaqException.class, () -> Statistics.fileInfo(dir.resolve("missing")));
    assertEquals(Status.IO, e.status());
  }

  @Test
  void refusedInputLeavesTheStatisticsUnchanged() throws Exception {
    try (Quantizer a = new Quantizer(COLS); Quantizer other = new Quantizer(COLS + 1);
         Quantizer gptaq = new Quantizer(COLS, new Config().method(Method.GPTAQ))) {
      a.addBatch(x);
      byte[] before = a.stats().serialize();
      byte[] bad = before.clone();
      bad[bad.length - 3] ^= 1; // payload CRC mismatch
      GptaqException e = assertThrows(GptaqException.class, () -> a.stats().deserialize(bad, StatsMode.ACCUMULATE));
      assertEquals(Status.FORMAT, e.status());
      assertFalse(e.getMessage().isEmpty());
      e = assertThrows(GptaqException.class,
          () -> a.stats().deserialize(Arrays.copyOf(before, 40), StatsMode.REPLACE));
      assertEquals(Status.FORMAT, e.status());
      e = assertThrows(GptaqException.class, () -> a.merge(other));
      assertEquals(Status.SHAPE, e.status());
      e = assertThrows(GptaqException.class, () -> a.merge(gptaq));
      assertEquals(Status.INVALID_ARGUMENT, e.status());
      e = assertThrows(GptaqException.class, () -> a.merge(a));
      assertEquals(Status.INVALID_ARGUMENT, e.status());
      Path junk = TestSupport.tmpDir().resolve("junk");
      Files.write(junk, new byte[100]);
      e = assertThrows(GptaqException.class, () -> a.stats().load(junk, StatsMode.REPLACE));
      assertEquals(Status.FORMAT, e.status());
      assertThrows(NullPointerException.class, () -> a.stats().deserialize(null, StatsMode.REPLACE));
      NullPointerException npe = assertThrows(NullPointerException.class, () -> a.stats().deserialize(before, null));
      assertTrue(npe.getMessage().contains("mode"), npe.getMessage());
      assertThrows(NullPointerException.class, () -> a.merge(null));
      assertArrayEquals(before, a.stats().serialize());
    }
  }

  @Test
  void buffersAllReduceInPlace() {
    QuantResult ref = whole(new Config());
    try (Quantizer a = new Quantizer(COLS); Quantizer b = new Quantizer(COLS)) {
      a.addBatch(half(x, 0));
      b.addBatch(half(x, 1));
      try (StatsBuffers bb = b.stats().buffers()) {
        assertEquals(Backend.CPU, bb.backend());
        assertFalse(bb.hasCross());
        assertNull(bb.dx());
        // another call on b while its buffers are open is refused
        assertThrows(IllegalStateException.class, b::numTokens);
        assertThrows(IllegalStateException.class, b::close);
        float[] xx = new float[COLS * COLS];
        double[] xsum = new double[COLS];
        bb.xx().get(xx);
        bb.xsum().get(xsum);
        double tokens = bb.tokens();
        assertEquals(TOKENS / 2, tokens);
        // "all-reduce": add b's sums into a's buffers
        try (StatsBuffers ab = a.stats().buffers()) {
          FloatBuffer axx = ab.xx();
          for (int i = 0; i < xx.length; i++) axx.put(i, axx.get(i) + xx[i]);
          DoubleBuffer axs = ab.xsum();
          for (int i = 0; i < COLS; i++) axs.put(i, axs.get(i) + xsum[i]);
          ab.setTokens(ab.tokens() + tokens);
          ab.commit();
          assertThrows(IllegalStateException.class, ab::xx);
        }
      }
      assertEquals(TOKENS, a.numTokens());
      assertArrayEquals(ref.codes, a.solve(w, ROWS).codes);
      // a bad commit: NaN in xx is NON_FINITE, the session still ends
      StatsBuffers bad = a.stats().buffers();
      bad.xx().put(0, Float.NaN);
      GptaqException e = assertThrows(GptaqException.class, bad::commit);
      assertEquals(Status.NON_FINITE, e.status());
      a.reset();
      assertEquals(0, a.numTokens());
    }
  }

  @Test
  void imatrixIsTheDiagonal() throws Exception {
    try (Quantizer q = new Quantizer(COLS)) {
      q.addBatch(x);
      float[] d = q.stats().imatrix();
      assertEquals(COLS, d.length);
      for (int j = 0; j < COLS; j++) {
        double s = 0;
        for (int t = 0; t < TOKENS; t++) s += (double) x[t * COLS + j] * x[t * COLS + j];
        assertEquals(s, d[j], 0.0);
      }
      Path dir = TestSupport.tmpDir();
      try (Imatrix im = new Imatrix()) {
        im.add("blk.0.attn_q.weight", q).add("blk.0.attn_k.weight", q);
        float[] counts = {10};
        im.add("blk.0.ffn_up.weight", 4, 1, new float[] {1, 2, 3, 4}, counts);
        im.addDataset("calib.txt").setChunkSize(128);
        im.save(dir.resolve("im.gguf"), ImatrixFormat.GGUF);
        im.save(dir.resolve("im.dat"), ImatrixFormat.DAT);
        byte[] gguf = Files.readAllBytes(dir.resolve("im.gguf"));
        assertEquals("GGUF", new String(gguf, 0, 4, java.nio.charset.StandardCharsets.US_ASCII));
        assertTrue(Files.size(dir.resolve("im.dat")) > (2 * COLS + 4) * 4);
        GptaqException e = assertThrows(GptaqException.class,
            () -> im.add("blk.0.ffn_up.weight", 8, 1, new float[8], counts));
        assertEquals(Status.SHAPE, e.status());
        assertEquals(Status.SHAPE, assertThrows(GptaqException.class,
            () -> im.add("x", 4, 1, new float[3], counts)).status());
        assertEquals(Status.INVALID_ARGUMENT, assertThrows(GptaqException.class, () -> im.setChunkSize(0)).status());
      }
    }
  }
}
