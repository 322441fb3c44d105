package org.gptaq;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ShortBuffer;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Results through the Java binding are bit-identical to the raw C API on the same inputs. */
class ParityTest {
  static Stream<Arguments> uniformCases() {
    return Stream.of(
        Arguments.of(new Config(), new String[] {"method=1"}),
        Arguments.of(new Config().bits(3).groupSize(16).actOrder(true),
            new String[] {"bits=3", "group_size=16", "act_order=1"}),
        Arguments.of(new Config().bits(2).groupSize(-1).sym(false).mse(true),
            new String[] {"bits=2", "group_size=-1", "sym=0", "mse=1"}),
        Arguments.of(new Config().groupSize(32).actOrder(true).staticGroups(true).blockSize(16),
            new String[] {"group_size=32", "act_order=1", "static_groups=1", "block_size=16"}),
        Arguments.of(new Config().method(Method.GPTAQ).groupSize(32).actOrder(true),
            new String[] {"method=2", "group_size=32", "act_order=1"}),
        Arguments.of(new Config().method(Method.GPTAQ).bits(3).groupSize(64).alpha(0.5f).blockSize(32).sym(false),
            new String[] {"method=2", "bits=3", "group_size=64", "alpha=0.5", "block_size=32", "sym=0"}),
        Arguments.of(new Config().method(Method.RTN).bits(8).groupSize(16),
            new String[] {"method=0", "bits=8", "group_size=16"}));
  }

  static void assertSame(QuantResult r, TestSupport.Ref ref) {
    assertEquals(0, ref.status(), ref.message());
    assertArrayEquals(SolveResult.widen(ref.u8("codes")), r.codes);
    assertArrayEquals(ref.f32("scales"), r.scales);
    assertArrayEquals(ref.f32("zeros"), r.zeros);
    assertArrayEquals(ref.i32("g_idx"), r.gIdx);
    assertArrayEquals(ref.f32("dequant"), r.dequant);
    assertEquals(ref.info("loss"), r.loss);
    assertEquals((int) ref.info("n_groups"), r.nGroups);
  }

  @ParameterizedTest
  @MethodSource("uniformCases")
  void uniformIdenticalToCApi(Config cfg, String[] fields) throws Exception {
    boolean pair = cfg.method() == Method.GPTAQ;
    TestSupport.Problem p = new TestSupport.Problem(48, 96, 300, 3, pair);
    TestSupport.Ref ref = TestSupport.capiRef(p.rows, p.cols, p.w, p.xQ, p.xFp, null, 128, "f32", fields);
    try (Quantizer q = new Quantizer(p.cols, cfg)) {
      for (int t0 = 0; t0 < p.tokens; t0 += 128) {
        int t1 = Math.min(p.tokens, t0 + 128);
        float[] xq = Arrays.copyOfRange(p.xQ, t0 * p.cols, t1 * p.cols);
        float[] xfp = pair ? Arrays.copyOfRange(p.xFp, t0 * p.cols, t1 * p.cols) : null;
        q.addBatch(xq, xfp);
      }
      assertEquals(p.tokens, q.numTokens());
      assertSame(q.solve(p.w, p.rows), ref);
    }
  }

  @Test
  void directBuffersIdenticalToCApi() throws Exception {
    TestSupport.Problem p = new TestSupport.Problem(16, 64, 200, 5, true);
    TestSupport.Ref ref = TestSupport.capiRef(p.rows, p.cols, p.w, p.xQ, p.xFp, null, 0, "f32",
        "method=2", "group_size=32");
    try (Quantizer q = new Quantizer(p.cols, new Config().method(Method.GPTAQ).groupSize(32))) {
      q.addBatch(TestSupport.directFloats(p.xQ), TestSupport.directFloats(p.xFp));
      assertSame(q.solve(TestSupport.directFloats(p.w), p.rows), ref);
    }
  }

  @Test
  void halfInputsIdenticalToCApi() throws Exception {
    TestSupport.Problem p = new TestSupport.Problem(16, 64, 200, 7, true);
    for (DType dt : new DType[] {DType.F16, DType.BF16}) {
      short[] hq = Gptaq.toHalf(p.xQ, dt), hfp = Gptaq.toHalf(p.xFp, dt);
      TestSupport.Ref ref = TestSupport.capiRef(p.rows, p.cols, p.w, hq, hfp, null, 64,
          dt == DType.F16 ? "f16" : "bf16", "method=2", "group_size=32", "act_order=1");
      Config cfg = new Config().method(Method.GPTAQ).groupSize(32).actOrder(true);
      try (Quantizer q = new Quantizer(p.cols, cfg)) {
        for (int t0 = 0; t0 < p.tokens; t0 += 64) {
          int t1 = Math.min(p.tokens, t0 + 64);
          q.addBatch(Arrays.copyOfRange(hq, t0 * p.cols, t1 * p.cols),
              Arrays.copyOfRange(hfp, t0 * p.cols, t1 * p.cols), dt);
        }
        assertSame(q.solve(p.w, p.rows), ref);
      }
      // the same through direct ShortBuffers, in one batch
      TestSupport.Ref ref1 = TestSupport.capiRef(p.rows, p.cols, p.w, hq, hfp, null, 0,
          dt == DType.F16 ? "f16" : "bf16", "method=2", "group_size=32", "act_order=1");
      try (Quantizer q = new Quantizer(p.cols, cfg)) {
        q.addBatch(directShorts(hq), directShorts(hfp), dt);
        assertSame(q.solve(p.w, p.rows), ref1);
      }
    }
  }

  static ShortBuffer directShorts(short[] a) {
    ShortBuffer b = ByteBuffer.allocateDirect(a.length * 2).order(ByteOrder.nativeOrder()).asShortBuffer();
    b.put(a).flip();
    return b;
  }

  @Test
  void maskIdenticalToCApi() throws Exception {
    TestSupport.Problem p = new TestSupport.Problem(16, 64, 240, 9, false);
    byte[] mask = new byte[p.tokens];
    for (int t = 0; t < p.tokens; t++) mask[t] = (byte) (t % 3 != 0 ? 1 : 0);
    TestSupport.Ref ref = TestSupport.capiRef(p.rows, p.cols, p.w, p.xQ, null, mask, 0, "f32", "group_size=16");
    try (Quantizer q = new Quantizer(p.cols, new Config().groupSize(16))) {
      q.addBatch(p.xQ, null, mask);
      assertEquals(160, q.numTokens());
      assertEquals((long) ref.info("num_tokens"), q.numTokens());
      assertSame(q.solve(p.w, p.rows), ref);
    }
  }

  @Test
  void binaryIdenticalToCApi() throws Exception {
    TestSupport.Problem p = new TestSupport.Problem(32, 64, 256, 11, false);
    TestSupport.Ref ref = TestSupport.capiRef(p.rows, p.cols, p.w, p.xQ, null, null, 0, "f32",
        "quantizer=1", "bits=3", "objective=1", "explore_split=8");
    Config cfg = Config.gptqt(3).objective(Objective.HESSIAN).exploreSplit(8);
    try (Quantizer q = new Quantizer(p.cols, cfg)) {
      q.addBatch(p.xQ);
      if (ref.status() != 0) {
        GptaqException e = assertThrows(GptaqException.class, () -> q.solveBinary(p.w, p.rows));
        assertEquals(ref.status(), e.code());
        assertEquals(ref.message(), e.getMessage());
        return;
      }
      BinaryResult r = q.solveBinary(p.w, p.rows);
      assertArrayEquals(SolveResult.widen(ref.u8("codes")), r.codes);
      assertArrayEquals(ref.f32("alpha"), r.alpha);
      assertArrayEquals(ref.f32("bias"), r.bias);
      assertArrayEquals(ref.i32("g_idx"), r.gIdx);
      assertArrayEquals(ref.f32("dequant"), r.dequant);
      assertEquals(ref.info("loss"), r.loss);
      assertEquals((int) ref.info("level_set"), r.levelSet);
      assertEquals((int) ref.info("scale_index"), r.scaleIndex);
      assertEquals(3 * r.nGroups * p.rows, r.alpha.length);
      // sum_i (+-alpha_i) + bias reproduces dequant
      for (int row = 0; row < p.rows; row++)
        for (int c = 0; c < p.cols; c++) {
          int code = r.code(row, c), g = r.gIdx[c];
          double v = r.bias(row, g);
          for (int i = 0; i < 3; i++) v += (((code >> (2 - i)) & 1) != 0 ? 1 : -1) * r.alpha(row, g, i);
          assertEquals(r.dequant[row * p.cols + c], v, 1e-5);
        }
      // the uniform solve on a binary quantizer is refused with the library's message
      GptaqException e = assertThrows(GptaqException.class, () -> q.solve(p.w, p.rows));
      assertEquals(Status.INVALID_ARGUMENT, e.status());
      assertTrue(e.getMessage().contains("gptaq_solve_binary"), e.getMessage());
    }
  }
}
