package org.gptaq;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.gptaq.swig.GptaqSwig;
import org.gptaq.swig.gptaq_config;

/**
 * GPTQ checkpoints (the AutoGPTQ / GPTQModel / vLLM / transformers layout): pack a
 * uniform solve into {@code P.qweight}, {@code P.qzeros}, {@code P.scales}, {@code
 * P.g_idx}, unpack them back, and the {@code quantize_config.json} that goes with them.
 *
 * <pre>{@code
 * QuantResult r = q.solve(w, rows);
 * GptqPacked p = Gptq.pack(GptqFormat.V1, r);
 * try (SafetensorsWriter st = new SafetensorsWriter()) {
 *   p.addTo(st, "model.layers.0.mlp.up_proj");
 *   st.setMetadata("format", "pt");
 *   st.save(dir.resolve("model.safetensors"));
 * }
 * Gptq.writeQuantizeConfig(dir.resolve("quantize_config.json"), q.config(), GptqFormat.V1);
 * }</pre>
 *
 * All methods are static and thread-safe; sizes are checked before the native call.
 */
public final class Gptq {
  static {
    NativeLoader.load();
  }

  private Gptq() {}

  /** The packed shapes of a rows x columns weight (SHAPE / INVALID_ARGUMENT if not packable). */
  public static GptqShapes shapes(long rows, long columns, int groupSize, int bits) {
    long[] qw = new long[1], qz = new long[1], ng = new long[1];
    Gptaq.check(GptaqSwig.gptaq_gptq_shapes(rows, columns, groupSize, bits, qw, qz, ng), null);
    return new GptqShapes(rows, columns, bits, groupSize, qw[0], qz[0], ng[0]);
  }

  /** Pack a uniform solve result with fp16 scales (a v1 zero of 0 is refused: UNSUPPORTED). */
  public static GptqPacked pack(GptqFormat format, QuantResult r) {
    Checks.nonNull(r, "result");
    return pack(format, r.bits, r.rows, r.columns, r.groupSize, r.codes, r.scales, r.zeros, r.gIdx,
        DType.F16, false);
  }

  /**
   * Pack codes (rows x columns, 0..2^bits-1), scales and zeros (rows x nGroups) and g_idx
   * (columns, or null for c / groupSize) into GPTQ tensors, scales in {@code scalesDtype}
   * (F16 as checkpoints hold them, BF16 or F32). {@code allowV1ZeroClamp}: with V1 a zero
   * of 0 cannot be stored; true stores 0 instead and counts it in {@link
   * GptqPacked#zerosClamped}, false refuses it (UNSUPPORTED).
   */
  public static GptqPacked pack(GptqFormat format, int bits, long rows, long columns, int groupSize,
      short[] codes, float[] scales, float[] zeros, int[] gIdx, DType scalesDtype,
      boolean allowV1ZeroClamp) {
    Checks.nonNull(format, "format");
    Checks.nonNull(codes, "codes");
    Checks.nonNull(scales, "scales");
    Checks.nonNull(zeros, "zeros");
    Checks.nonNull(scalesDtype, "scalesDtype");
    if (scalesDtype != DType.F32 && !scalesDtype.isHalf())
      throw new IllegalArgumentException("scalesDtype must be F16, BF16 or F32, not " + scalesDtype);
    GptqShapes s = shapes(rows, columns, groupSize, bits);
    Checks.length(codes.length, rows * columns, "codes");
    Checks.length(scales.length, rows * s.nGroups, "scales");
    Checks.length(zeros.length, rows * s.nGroups, "zeros");
    if (gIdx != null) Checks.length(gIdx.length, columns, "gIdx");
    int[] qweight = new int[Checks.cells(s.qweightRows, rows, "qweight")];
    int[] qzeros = new int[Checks.cells(s.nGroups, s.qzerosCols, "qzeros")];
    int nScales = Checks.cells(s.nGroups, rows, "scales");
    short[] sh = scalesDtype.isHalf() ? new short[nScales] : null;
    float[] sf = scalesDtype == DType.F32 ? new float[nScales] : null;
    int[] gOut = new int[(int) columns];
    long[] clamped = new long[1];
    Gptaq.check(GptaqSwig.gptaq_java_gptq_pack(format.code(), bits, rows, columns, groupSize,
        SolveResult.narrow(codes, "codes"), scales, zeros, gIdx, qweight, qzeros, scalesDtype.code(), sh, sf,
        gOut, allowV1ZeroClamp ? 1 : 0, clamped), null);
    return new GptqPacked(s, format, qweight, qzeros, scalesDtype, sh, sf, gOut, clamped[0]);
  }

  /**
   * Unpack GPTQ tensors whose scales are F16 or BF16 bit patterns (n_groups x rows). g_idx
   * (columns, validated) may be null unless nGroups &gt; 1; dequant is then not computed.
   */
  public static GptqUnpacked unpack(GptqFormat format, int bits, long rows, long columns, long nGroups,
      int[] qweight, int[] qzeros, short[] scales, DType scalesDtype, int[] gIdx) {
    Checks.nonNull(scales, "scales");
    Checks.nonNull(scalesDtype, "scalesDtype");
    if (!scalesDtype.isHalf())
      throw new IllegalArgumentException("short[] scales hold F16 or BF16 bits, not " + scalesDtype);
    return unpackAny(format, bits, rows, columns, nGroups, qweight, qzeros, scalesDtype, scales, null,
        scales.length, gIdx);
  }

  /** As the short[] form, with F32 scales. */
  public static GptqUnpacked unpack(GptqFormat format, int bits, long rows, long columns, long nGroups,
      int[] qweight, int[] qzeros, float[] scales, int[] gIdx) {
    Checks.nonNull(scales, "scales");
    return unpackAny(format, bits, rows, columns, nGroups, qweight, qzeros, DType.F32, null, scales,
        scales.length, gIdx);
  }

  /** Unpack what {@link #pack} produced. */
  public static GptqUnpacked unpack(GptqPacked p) {
    Checks.nonNull(p, "packed");
    return p.scalesDtype == DType.F32
        ? unpack(p.format, p.shapes.bits, p.shapes.rows, p.shapes.columns, p.shapes.nGroups, p.qweight,
            p.qzeros, p.scalesF32, p.gIdx)
        : unpack(p.format, p.shapes.bits, p.shapes.rows, p.shapes.columns, p.shapes.nGroups, p.qweight,
            p.qzeros, p.scalesHalf, p.scalesDtype, p.gIdx);
  }

  private static GptqUnpacked unpackAny(GptqFormat format, int bits, long rows, long columns,
      long nGroups, int[] qweight, int[] qzeros, DType dt, short[] sh, float[] sf, int nScales,
      int[] gIdx) {
    Checks.nonNull(format, "format");
    Checks.nonNull(qweight, "qweight");
    Checks.nonNull(qzeros, "qzeros");
    if (nGroups < 1) throw new GptaqException(Status.INVALID_ARGUMENT, "nGroups = " + nGroups + " must be >= 1");
    // group size 1 only feeds the shape check of rows/columns/bits here
    GptqShapes s = shapes(rows, columns, -1, bits);
    Checks.length(qweight.length, s.qweightRows * rows, "qweight");
    Checks.length(qzeros.length, nGroups * s.qzerosCols, "qzeros");
    Checks.length(nScales, nGroups * rows, "scales");
    if (gIdx != null) Checks.length(gIdx.length, columns, "gIdx");
    int cells = Checks.cells(rows, columns, "rows x columns");
    int params = Checks.cells(rows, nGroups, "rows x nGroups");
    byte[] codes = new byte[cells];
    float[] scales = new float[params];
    float[] zeros = new float[params];
    boolean withDq = gIdx != null || nGroups == 1;
    float[] dq = withDq ? new float[cells] : null;
    Gptaq.check(GptaqSwig.gptaq_java_gptq_unpack(format.code(), bits, rows, columns, nGroups, qweight,
        qzeros, dt.code(), sh, sf, gIdx, codes, scales, zeros, dq), null);
    return new GptqUnpacked(SolveResult.widen(codes), scales, zeros, dq, rows, columns, nGroups);
  }

  /** The quantize_config.json text for a uniform configuration (AutoGPTQ/GPTQModel/vLLM keys). */
  public static String quantizeConfig(Config config, GptqFormat format) {
    Checks.nonNull(config, "config");
    Checks.nonNull(format, "format");
    gptaq_config c = config.toNative();
    try {
      long[] len = new long[1];
      Gptaq.check(GptaqSwig.gptaq_gptq_quantize_config(c, format.code(), null, 0, len), null);
      byte[] buf = new byte[(int) len[0] + 1];
      Gptaq.check(GptaqSwig.gptaq_gptq_quantize_config(c, format.code(), buf, buf.length, len), null);
      return new String(buf, 0, (int) len[0], StandardCharsets.UTF_8);
    } finally {
      c.delete();
    }
  }

  /** Write {@link #quantizeConfig} to a file (e.g. dir/quantize_config.json). */
  public static void writeQuantizeConfig(Path path, Config config, GptqFormat format) {
    Checks.nonNull(path, "path");
    Checks.nonNull(config, "config");
    Checks.nonNull(format, "format");
    gptaq_config c = config.toNative();
    try {
      Gptaq.check(GptaqSwig.gptaq_gptq_write_quantize_config(path.toString(), c, format.code()), null);
    } finally {
      c.delete();
    }
  }

  /**
   * Read a quantize_config.json (or a model's config.json with "quantization_config"):
   * the library's defaults overlaid with the file's bits, group_size, sym, desc_act,
   * static_groups, damp_percent (and method/alpha for files this library wrote).
   */
  public static QuantizeConfigFile readQuantizeConfig(Path path) {
    Checks.nonNull(path, "path");
    gptaq_config c = new gptaq_config();
    try {
      int[] fmt = new int[1];
      Gptaq.check(GptaqSwig.gptaq_java_read_quantize_config(path.toString(), c, fmt), null);
      Config out = new Config();
      out.read(c);
      return new QuantizeConfigFile(out, GptqFormat.of(fmt[0]));
    } finally {
      c.delete();
    }
  }
}
