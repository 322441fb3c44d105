package org.gptaq;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** GPTQ pack/unpack + quantize_config, safetensors, LUT-GEMM and npy. */
class CheckpointTest {
  static final int ROWS = 64, COLS = 128;
  final TestSupport.Problem p = new TestSupport.Problem(ROWS, COLS, 300, 21, false);

  QuantResult solve(Config cfg) {
    try (Quantizer q = new Quantizer(COLS, cfg)) {
      q.addBatch(p.xQ);
      return q.solve(p.w, ROWS);
    }
  }

  @Test
  void gptqPackUnpackRoundTrip() {
    for (GptqFormat fmt : GptqFormat.values())
      for (int bits : new int[] {2, 3, 4, 8}) {
        QuantResult r = solve(new Config().bits(bits).groupSize(32).actOrder(true));
        GptqPacked pk = Gptq.pack(fmt, r);
        assertEquals(COLS * bits / 32, pk.shapes.qweightRows);
        assertEquals(ROWS * bits / 32, pk.shapes.qzerosCols);
        assertEquals(4, pk.shapes.nGroups);
        assertEquals(pk.shapes.qweightRows * ROWS, pk.qweight.length);
        assertArrayEquals(r.gIdx, pk.gIdx);
        assertEquals(0, pk.zerosClamped);
        GptqUnpacked u = Gptq.unpack(pk);
        assertArrayEquals(r.codes, u.codes);
        assertArrayEquals(r.zeros, u.zeros, "format " + fmt);
        for (int i = 0; i < r.scales.length; i++) {
          float s16 = Gptaq.fromHalf(Gptaq.toHalf(new float[] {r.scales[i]}, DType.F16), DType.F16)[0];
          assertEquals(s16, u.scales[i]);
        }
        // dequant within fp16 rounding of the scales
        for (int i = 0; i < r.dequant.length; i++)
          assertEquals(r.dequant[i], u.dequant[i], Math.abs(r.dequant[i]) * 1e-3 + 1e-6);
      }
    // F32 scales are exact
    QuantResult r = solve(new Config().groupSize(64));
    GptqPacked pk = Gptq.pack(GptqFormat.V2, 4, ROWS, COLS, 64, r.codes, r.scales, r.zeros, null, DType.F32, false);
    assertNull(pk.scalesHalf);
    GptqUnpacked u = Gptq.unpack(pk);
    assertArrayEquals(r.scales, u.scales);
    assertArrayEquals(r.dequant, u.dequant);
  }

  @Test
  void v1ZeroClampIsRefusedOrCounted() {
    QuantResult r = solve(new Config().sym(false).groupSize(32));
    float[] zeros = r.zeros.clone();
    zeros[0] = 0;
    zeros[5] = 0;
    GptaqException e = assertThrows(GptaqException.class, () -> Gptq.pack(GptqFormat.V1, 4, ROWS, COLS, 32,
        r.codes, r.scales, zeros, r.gIdx, DType.F16, false));
    assertEquals(Status.UNSUPPORTED, e.status());
    GptqPacked pk = Gptq.pack(GptqFormat.V1, 4, ROWS, COLS, 32, r.codes, r.scales, zeros, r.gIdx, DType.F16, true);
    assertTrue(pk.zerosClamped >= 2);
  }

  @Test
  void packingChecksEverythingBeforeC() {
    QuantResult r = solve(new Config().groupSize(32));
    GptaqException e = assertThrows(GptaqException.class, () -> Gptq.pack(GptqFormat.V1, 4, ROWS, COLS, 32,
        java.util.Arrays.copyOf(r.codes, 10), r.scales, r.zeros, null, DType.F16, false));
    assertEquals(Status.SHAPE, e.status());
    assertTrue(e.getMessage().contains("codes"), e.getMessage());
    short[] big = r.codes.clone();
    big[3] = 300;
    assertThrows(IllegalArgumentException.class,
        () -> Gptq.pack(GptqFormat.V1, 4, ROWS, COLS, 32, big, r.scales, r.zeros, null, DType.F16, false));
    big[3] = 16; // in 0..255 but not a 4-bit code: the library's check
    assertEquals(Status.INVALID_ARGUMENT, assertThrows(GptaqException.class,
        () -> Gptq.pack(GptqFormat.V1, 4, ROWS, COLS, 32, big, r.scales, r.zeros, null, DType.F16, false)).status());
    assertEquals(Status.INVALID_ARGUMENT, assertThrows(GptaqException.class, () -> Gptq.shapes(ROWS, COLS, 32, 5)).status());
    assertEquals(Status.SHAPE, assertThrows(GptaqException.class, () -> Gptq.shapes(ROWS, 100, 32, 4)).status());
    NullPointerException npe = assertThrows(NullPointerException.class, () -> Gptq.pack(null, r));
    assertEquals("format is null", npe.getMessage());
    assertThrows(IllegalArgumentException.class,
        () -> Gptq.pack(GptqFormat.V1, 4, ROWS, COLS, 32, r.codes, r.scales, r.zeros, null, DType.U8, false));
    // unpack: a g_idx entry out of range is FORMAT
    GptqPacked pk = Gptq.pack(GptqFormat.V1, r);
    int[] g = pk.gIdx.clone();
    g[7] = 99;
    assertEquals(Status.FORMAT, assertThrows(GptaqException.class, () -> Gptq.unpack(GptqFormat.V1, 4, ROWS, COLS,
        4, pk.qweight, pk.qzeros, pk.scalesHalf, DType.F16, g)).status());
    assertEquals(Status.SHAPE, assertThrows(GptaqException.class, () -> Gptq.unpack(GptqFormat.V1, 4, ROWS, COLS,
        4, java.util.Arrays.copyOf(pk.qweight, 3), pk.qzeros, pk.scalesHalf, DType.F16, g)).status());
  }

  @Test
  void quantizeConfigWriteRead() throws Exception {
    Path dir = TestSupport.tmpDir();
    Config cfg = new Config().method(Method.GPTAQ).bits(3).groupSize(64).sym(false).actOrder(true).alpha(0.5f);
    String json = Gptq.quantizeConfig(cfg, GptqFormat.V2);
    assertTrue(json.contains("\"bits\": 3"), json);
    assertTrue(json.contains("gptq_v2"), json);
    Path f = dir.resolve("quantize_config.json");
    Gptq.writeQuantizeConfig(f, cfg, GptqFormat.V2);
    assertEquals(json.trim(), new String(Files.readAllBytes(f), java.nio.charset.StandardCharsets.UTF_8).trim());
    QuantizeConfigFile back = Gptq.readQuantizeConfig(f);
    assertEquals(GptqFormat.V2, back.format);
    assertEquals(3, back.config.bits());
    assertEquals(64, back.config.groupSize());
    assertFalse(back.config.sym());
    assertTrue(back.config.actOrder());
    assertEquals(Method.GPTAQ, back.config.method());
    assertEquals(0.5f, back.config.alpha());
    // GAR and the failsafe travel through the file (GPTQModel's keys)
    Path gar = dir.resolve("gar.json");
    Gptq.writeQuantizeConfig(gar, new Config().groupSize(32).actGroupAware(true).failsafeTokens(20), GptqFormat.V1);
    QuantizeConfigFile g = Gptq.readQuantizeConfig(gar);
    assertTrue(g.config.actGroupAware());
    assertFalse(g.config.actOrder());
    assertEquals(20, g.config.failsafeTokens());
    assertEquals(Status.INVALID_ARGUMENT,
        assertThrows(GptaqException.class, () -> Gptq.quantizeConfig(new Config().bits(5), GptqFormat.V1)).status());
    Files.write(dir.resolve("bad.json"), "{not json".getBytes());
    assertEquals(Status.FORMAT,
        assertThrows(GptaqException.class, () -> Gptq.readQuantizeConfig(dir.resolve("bad.json"))).status());
    assertEquals(Status.IO,
        assertThrows(GptaqException.class, () -> Gptq.readQuantizeConfig(dir.resolve("none.json"))).status());
  }

  @Test
  void safetensorsWriteRead() throws Exception {
    Path f = TestSupport.tmpDir().resolve("t.safetensors");
    float[] a = {1, 2.5f, -3, 4};
    int[] b = {7, -8, 9};
    short[] h = Gptaq.toHalf(new float[] {0.5f, 1.5f}, DType.F16);
    try (SafetensorsWriter w = new SafetensorsWriter()) {
      w.add("a", new long[] {2, 2}, a).add("b", new long[] {3}, b).add("h ü", DType.F16, new long[] {2}, h);
      w.add("u8", "U8", new long[] {2, 1}, new byte[] {(byte) 200, 3});
      w.add("scalar", "F32", new long[] {}, new byte[4]);
      w.setMetadata("format", "pt").setMetadata("k", "v ü");
      assertEquals(Status.SHAPE, assertThrows(GptaqException.class, () -> w.add("x", new long[] {3}, a)).status());
      assertThrows(IllegalArgumentException.class, () -> w.add("x", "F33", new long[] {1}, new byte[4]));
      assertEquals(Status.INVALID_ARGUMENT, assertThrows(GptaqException.class, () -> w.add("a", new long[] {4}, a)).status());
      assertEquals(Status.INVALID_ARGUMENT,
          assertThrows(GptaqException.class, () -> w.add("x", new long[] {-1}, new float[0])).status());
      w.save(f);
    }
    try (SafetensorsReader r = new SafetensorsReader(f)) {
      assertEquals(5, r.count());
      assertEquals(-1, r.find("zz"));
      TensorInfo ti = r.info("a");
      assertEquals("F32", ti.dtype);
      assertArrayEquals(new long[] {2, 2}, ti.shape);
      assertEquals(16, ti.nbytes);
      assertArrayEquals(a, r.readF32("a"));
      assertArrayEquals(b, r.readI32("b"));
      assertArrayEquals(h, r.readHalf("h ü"));
      assertArrayEquals(new float[] {0.5f, 1.5f}, r.readF32("h ü"));
      assertEquals((byte) 200, r.readBytes("u8")[0]);
      assertEquals(0, r.info("scalar").shape.length);
      Map<String, String> md = r.metadata();
      assertEquals("pt", md.get("format"));
      assertEquals("v ü", r.metadata("k"));
      assertEquals(Status.UNSUPPORTED, assertThrows(GptaqException.class, () -> r.readI32("a")).status());
      assertEquals(Status.INVALID_ARGUMENT, assertThrows(GptaqException.class, () -> r.info(99)).status());
      assertThrows(IllegalArgumentException.class, () -> r.info("zz"));
    }
    Path bad = f.resolveSibling("bad.safetensors");
    Files.write(bad, new byte[] {1, 0, 0, 0, 0, 0, 0, 0, '{'});
    GptaqException e = assertThrows(GptaqException.class, () -> new SafetensorsReader(bad));
    assertEquals(Status.FORMAT, e.status());
    assertFalse(e.getMessage().isEmpty());
    SafetensorsReader closed = new SafetensorsReader(f);
    closed.close();
    closed.close();
    assertThrows(IllegalStateException.class, closed::count);
  }

  @Test
  void lutGemmRoundTrip() {
    Config cfg = Config.gptqt(3).groupSize(32);
    BinaryResult r;
    try (Quantizer q = new Quantizer(COLS, cfg)) {
      q.addBatch(p.xQ);
      r = q.solveBinary(p.w, ROWS);
    }
    LutGemmPacked pk = LutGemm.pack(r);
    assertEquals((COLS + 31) / 32 * 3 * ROWS, pk.qbits.length);
    assertEquals(4 * 3 * ROWS, pk.alphaF16.length);
    LutGemmUnpacked u = LutGemm.unpack(pk);
    assertArrayEquals(r.codes, u.codes);
    for (int i = 0; i < r.alpha.length; i++) assertEquals(r.alpha[i], u.alpha[i], Math.abs(r.alpha[i]) * 1e-3);
    for (int i = 0; i < r.dequant.length; i++)
      assertEquals(r.dequant[i], u.dequant[i], 2e-3 * (1 + Math.abs(r.dequant[i])));
    assertEquals(Status.INVALID_ARGUMENT, assertThrows(GptaqException.class,
        () -> LutGemm.pack(9, ROWS, COLS, 32, r.codes, r.alpha, r.bias, null)).status());
    assertEquals(Status.SHAPE, assertThrows(GptaqException.class,
        () -> LutGemm.pack(3, ROWS, COLS, 32, r.codes, new float[3], r.bias, null)).status());
  }

  @Test
  void npyWriteReadStream() throws Exception {
    Path dir = TestSupport.tmpDir();
    float[] a = TestSupport.dyadic(6 * 4, 9);
    Npy.write(dir.resolve("a.npy"), new long[] {6, 4}, a);
    NpyArray back = Npy.read(dir.resolve("a.npy"));
    assertEquals(DType.F32, back.dtype);
    assertEquals(6, back.rows);
    assertEquals(4, back.cols);
    assertArrayEquals(a, back.f32());
    try (Npy.Reader r = Npy.open(dir.resolve("a.npy"))) {
      NpyArray c1 = r.readRows(4), c2 = r.readRows(4);
      assertEquals(4, c1.rows);
      assertEquals(2, c2.rows);
      assertNull(r.readRows(4));
      assertEquals(a[16], c2.f32()[0]);
    }
    short[] codes = {0, 255, 17};
    Npy.write(dir.resolve("c.npy"), new long[] {3}, codes, DType.U8);
    NpyArray c = Npy.read(dir.resolve("c.npy"));
    assertEquals(DType.U8, c.dtype);
    assertArrayEquals(codes, c.u8());
    Npy.write(dir.resolve("i.npy"), new long[] {3}, new int[] {1, -2, 3});
    assertArrayEquals(new int[] {1, -2, 3}, Npy.read(dir.resolve("i.npy")).i32());
    assertEquals(Status.SHAPE, assertThrows(GptaqException.class,
        () -> Npy.write(dir.resolve("x.npy"), new long[] {5}, a)).status());
    assertEquals(Status.IO, assertThrows(GptaqException.class, () -> Npy.read(dir.resolve("none.npy"))).status());
    assertThrows(IllegalStateException.class, () -> back.i32());
  }
}
