package org.gptaq;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** Group-aware reordering (GAR) and the failsafe for under-calibrated modules. */
class OptionsTest {
  static final int ROWS = 16, COLS = 96;
  final TestSupport.Problem p = new TestSupport.Problem(ROWS, COLS, 200, 41, false);

  @Test
  void configRoundTripAndValidation() {
    Config d = new Config();
    assertFalse(d.actGroupAware());
    assertEquals(0, d.failsafeTokens());
    try (Quantizer q = new Quantizer(COLS, new Config().actGroupAware(true).groupSize(32).failsafeTokens(50))) {
      assertTrue(q.config().actGroupAware());
      assertEquals(50, q.config().failsafeTokens());
    }
    GptaqException e = assertThrows(GptaqException.class,
        () -> new Quantizer(COLS, new Config().actGroupAware(true).actOrder(true)));
    assertEquals(Status.INVALID_ARGUMENT, e.status());
    assertTrue(e.getMessage().contains("act_group_aware"), e.getMessage());
    e = assertThrows(GptaqException.class, () -> new Quantizer(COLS, new Config().actGroupAware(true).groupSize(-1)));
    assertEquals(Status.INVALID_ARGUMENT, e.status());
    e = assertThrows(GptaqException.class, () -> new Quantizer(COLS, new Config().failsafeTokens(-1)));
    assertEquals(Status.INVALID_ARGUMENT, e.status());
    assertTrue(e.getMessage().contains("failsafe_tokens"), e.getMessage());
  }

  @Test
  void garKeepsGroupsContiguous() {
    for (Method m : new Method[] {Method.GPTQ, Method.GPTAQ})
      for (boolean sym : new boolean[] {true, false}) {
        Config cfg = new Config().method(m).sym(sym).groupSize(40).actGroupAware(true); // partial last group
        TestSupport.Problem pp = new TestSupport.Problem(ROWS, COLS, 200, 43, m == Method.GPTAQ);
        QuantResult plain;
        try (Quantizer q = new Quantizer(COLS, cfg.clone().actGroupAware(false))) {
          q.addBatch(pp.xQ, pp.xFp);
          plain = q.solve(pp.w, ROWS);
        }
        try (Quantizer q = new Quantizer(COLS, cfg)) {
          q.addBatch(pp.xQ, pp.xFp);
          QuantResult r = q.solve(pp.w, ROWS);
          // the reordering changes the error propagation, so the codes change ...
          assertFalse(java.util.Arrays.equals(plain.codes, r.codes), "GAR gave the plain solve's codes");
          for (int c = 0; c < COLS; c++) assertEquals(c / 40, r.gIdx[c], "g_idx[" + c + "]");
          assertEquals(3, r.nGroups);
          assertFalse(r.failsafeUsed);
        }
      }
  }

  @Test
  void failsafeIsRoundToNearestBelowTheThreshold() {
    QuantResult rtn, normal;
    try (Quantizer q = new Quantizer(COLS, new Config().method(Method.RTN).groupSize(32))) {
      rtn = q.solve(p.w, ROWS);
    }
    try (Quantizer q = new Quantizer(COLS, new Config().groupSize(32))) {
      q.addBatch(p.xQ);
      normal = q.solve(p.w, ROWS);
    }
    try (Quantizer q = new Quantizer(COLS, new Config().groupSize(32).failsafeTokens(201))) {
      QuantResult zero = q.solve(p.w, ROWS); // zero tokens with the failsafe on: RTN, not NO_DATA
      assertTrue(zero.failsafeUsed);
      assertEquals(0.0, zero.tokens);
      assertArrayEquals(rtn.codes, zero.codes);
      q.addBatch(p.xQ);
      QuantResult below = q.solve(p.w, ROWS);
      assertTrue(below.failsafeUsed);
      assertEquals(200.0, below.tokens);
      assertArrayEquals(rtn.codes, below.codes);
      assertArrayEquals(rtn.scales, below.scales);
    }
    try (Quantizer q = new Quantizer(COLS, new Config().groupSize(32).failsafeTokens(200))) {
      q.addBatch(p.xQ);
      QuantResult at = q.solve(p.w, ROWS);
      assertFalse(at.failsafeUsed);
      assertEquals(200.0, at.tokens);
      assertArrayEquals(normal.codes, at.codes);
    }
  }
}
