package org.gptaq;

import static org.junit.jupiter.api.Assertions.*;

import java.util.HashSet;
import java.util.Set;
import org.gptaq.swig.gptaq_config;
import org.junit.jupiter.api.Test;

class ConfigTest {
  static Config nonDefault() {
    return new Config().method(Method.GPTAQ).bits(3).groupSize(32).sym(false).actOrder(true)
        .staticGroups(true).mse(true).blockSize(64).backend(Backend.CPU).device(0).numThreads(1)
        .dampPercent(0.05f).dampRetries(2).alpha(0.5f).mseNorm(2.0f).mseGrid(50).mseMaxShrink(0.5f)
        .quantizer(QuantizerKind.BINARY).hyperBits(6).exploreBits(2).exploreSplit(7)
        .objective(Objective.HESSIAN).failsafeTokens(3);
  }

  /** snake_case C field -> camelCase Java accessor. */
  static String camel(String snake) {
    StringBuilder b = new StringBuilder();
    boolean up = false;
    for (char ch : snake.toCharArray()) {
      if (ch == '_') {
        up = true;
        continue;
      }
      b.append(up ? Character.toUpperCase(ch) : ch);
      up = false;
    }
    return b.toString();
  }

  @Test
  void configCoversEveryCField() {
    Set<String> javaNames = new HashSet<>();
    for (java.lang.reflect.Method m : Config.class.getMethods()) javaNames.add(m.getName());
    int n = 0;
    for (java.lang.reflect.Method m : gptaq_config.class.getMethods()) {
      String name = m.getName();
      if (!name.startsWith("get") || name.equals("getClass") || name.equals("getStruct_size")) continue;
      String field = Character.toLowerCase(name.charAt(3)) + name.substring(4);
      assertTrue(javaNames.contains(camel(field)), "Config lacks " + camel(field));
      n++;
    }
    assertEquals(24, n);
  }

  @Test
  void everyFieldRoundTrips() {
    Config want = nonDefault();
    try (Quantizer q = new Quantizer(64, want)) {
      Config got = q.config();
      assertEquals(want.toString(), got.toString());
      assertEquals(want.method(), got.method());
      assertEquals(want.quantizer(), got.quantizer());
      assertEquals(want.objective(), got.objective());
      assertEquals(want.hyperBits(), got.hyperBits());
      assertEquals(want.dampPercent(), got.dampPercent());
      assertEquals(want.mseMaxShrink(), got.mseMaxShrink());
    }
  }

  @Test
  void defaultsComeFromTheLibrary() {
    gptaq_config c = new gptaq_config();
    try {
      Config d = new Config();
      assertEquals(c.getBits(), d.bits());
      assertEquals(c.getGroup_size(), d.groupSize());
      assertEquals(c.getDamp_percent(), d.dampPercent());
      assertEquals(c.getExplore_split(), d.exploreSplit());
      try (Quantizer q = new Quantizer(16)) {
        assertEquals(d.toString(), q.config().toString());
      }
    } finally {
      c.delete();
    }
  }

  @Test
  void invalidFieldsRaiseTheLibraryMessage() {
    Object[][] cases = {
        {new Config().bits(9), "config.bits 9"},
        {new Config().groupSize(0), "config.group_size 0"},
        {new Config().blockSize(5000), "config.block_size 5000"},
        {new Config().dampPercent(-1f), "config.damp_percent"},
        {new Config().dampRetries(9), "config.damp_retries 9"},
        {new Config().alpha(Float.NaN), "config.alpha"},
        {new Config().mseMaxShrink(1.5f), "config.mse_max_shrink"},
        {Config.gptqt(5), "binary quantizer"},
    };
    for (Object[] c : cases) {
      GptaqException e = assertThrows(GptaqException.class, () -> new Quantizer(16, (Config) c[0]));
      assertEquals(Status.INVALID_ARGUMENT, e.status());
      assertTrue(e.getMessage().contains((String) c[1]), e.getMessage());
    }
    GptaqException e = assertThrows(GptaqException.class, () -> new Quantizer(0));
    assertEquals(Status.SHAPE, e.status());
    assertTrue(e.getMessage().contains("columns = 0"), e.getMessage());
  }

  @Test
  void setConfigKeepsStatistics() {
    TestSupport.Problem p = new TestSupport.Problem(8, 32, 100, 1, false);
    try (Quantizer q = new Quantizer(32, new Config().groupSize(8))) {
      q.addBatch(p.xQ);
      QuantResult r4 = q.solve(p.w, 8);
      q.setConfig(q.config().bits(2));
      assertEquals(2, q.config().bits());
      assertEquals(100, q.numTokens());
      QuantResult r2 = q.solve(p.w, 8);
      assertTrue(r2.factorReused);
      int max2 = 0, max4 = 0;
      for (int i = 0; i < r2.codes.length; i++) {
        max2 = Math.max(max2, r2.codes[i]);
        max4 = Math.max(max4, r4.codes[i]);
      }
      assertTrue(max2 <= 3 && max4 > 3);
      GptaqException e = assertThrows(GptaqException.class, () -> q.setConfig(q.config().method(Method.GPTAQ)));
      assertEquals(Status.INVALID_ARGUMENT, e.status());
      assertEquals(Method.GPTQ, q.config().method());
      q.reset();
      assertEquals(0, q.numTokens());
      assertEquals(Status.NO_DATA, assertThrows(GptaqException.class, () -> q.solve(p.w, 8)).status());
    }
  }
}
