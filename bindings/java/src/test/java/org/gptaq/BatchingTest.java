package org.gptaq;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Any split of the same tokens into batches gives the same result. */
class BatchingTest {
  static QuantResult solveWithSplits(int cols, float[] w, int rows, float[] xq, float[] xfp, int[] splits, Config cfg) {
    try (Quantizer q = new Quantizer(cols, cfg)) {
      int t0 = 0;
      for (int n : splits) {
        q.addBatch(Arrays.copyOfRange(xq, t0 * cols, (t0 + n) * cols),
            xfp == null ? null : Arrays.copyOfRange(xfp, t0 * cols, (t0 + n) * cols));
        t0 += n;
      }
      assertEquals(xq.length / cols, t0);
      assertEquals(t0, q.numTokens());
      return q.solve(w, rows);
    }
  }

  @Test
  void exactInputsBitIdenticalForAnyBatching() {
    int rows = 24, cols = 48, tokens = 240;
    float[] xfp = TestSupport.dyadic(tokens * cols, 4);
    float[] noise = TestSupport.dyadic(tokens * cols, 5);
    float[] xq = new float[xfp.length];
    for (int i = 0; i < xq.length; i++) xq[i] = xfp[i] + Math.signum(noise[i]) * 0.25f;
    float[] w = new TestSupport.Problem(rows, cols, 1, 6, false).w;
    int[][] splits = {{240}, ones(240), {100, 0, 140}, {64, 64, 64, 48}, sevens()};
    for (Method m : new Method[] {Method.GPTQ, Method.GPTAQ}) {
      Config cfg = new Config().method(m).groupSize(16).actOrder(true);
      float[] fp = m == Method.GPTAQ ? xfp : null;
      QuantResult base = solveWithSplits(cols, w, rows, xq, fp, splits[0], cfg);
      for (int i = 1; i < splits.length; i++) {
        QuantResult r = solveWithSplits(cols, w, rows, xq, fp, splits[i], cfg);
        assertArrayEquals(base.codes, r.codes);
        assertArrayEquals(base.scales, r.scales);
        assertArrayEquals(base.zeros, r.zeros);
        assertArrayEquals(base.gIdx, r.gIdx);
        assertArrayEquals(base.dequant, r.dequant);
        assertEquals(base.loss, r.loss);
      }
    }
  }

  static int[] ones(int n) {
    int[] a = new int[n];
    Arrays.fill(a, 1);
    return a;
  }

  static int[] sevens() {
    int[] a = new int[35];
    Arrays.fill(a, 7);
    a[34] = 2;
    return a;
  }

  @Test
  void randomInputsCloseForAnyBatching() {
    TestSupport.Problem p = new TestSupport.Problem(32, 64, 240, 12, true);
    Config cfg = new Config().method(Method.GPTAQ).groupSize(32);
    QuantResult base = solveWithSplits(p.cols, p.w, p.rows, p.xQ, p.xFp, new int[] {240}, cfg);
    QuantResult r = solveWithSplits(p.cols, p.w, p.rows, p.xQ, p.xFp, sevens(), cfg);
    int same = 0;
    for (int i = 0; i < base.codes.length; i++) if (base.codes[i] == r.codes[i]) same++;
    assertTrue(same > 0.98 * base.codes.length, same + " of " + base.codes.length);
    assertEquals(base.loss, r.loss, 1e-2 * base.loss);
  }
}
