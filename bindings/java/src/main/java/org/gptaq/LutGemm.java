package org.gptaq;

import org.gptaq.swig.GptaqSwig;

/**
 * The LUT-GEMM layout of a GPTQT binary-coded weight (N = rows, K = columns, k = bits,
 * G groups): qbits uint32 [ceil(K/32)][k][N] (as int[]), alpha fp16 [G][k][N] and bias
 * fp16 [G][N] (as short[] bit patterns). See gptaq.h for the bit order.
 *
 * <pre>{@code
 * BinaryResult r = q.solveBinary(w, rows);
 * LutGemmPacked p = LutGemm.pack(r);
 * LutGemmUnpacked u = LutGemm.unpack(p);   // codes equal, alpha/bias within fp16 rounding
 * }</pre>
 */
public final class LutGemm {
  static {
    NativeLoader.load();
  }

  private LutGemm() {}

  private static long groups(long columns, int groupSize) {
    long g = GptaqSwig.gptaq_num_groups(columns, groupSize);
    if (g < 1)
      throw new GptaqException(Status.INVALID_ARGUMENT, "groupSize = " + groupSize + " must be -1 or >= 1 (columns = " + columns + ")");
    return g;
  }

  private static void shape(int bits, long rows, long columns) {
    if (bits < 1 || bits > 8) throw new GptaqException(Status.INVALID_ARGUMENT, "bits = " + bits + " must be in 1..8");
    if (rows <= 0 || columns <= 0)
      throw new GptaqException(Status.SHAPE, "rows = " + rows + " and columns = " + columns + " must be > 0");
  }

  /** Pack a binary solve result. */
  public static LutGemmPacked pack(BinaryResult r) {
    Checks.nonNull(r, "result");
    return pack(r.bits, r.rows, r.columns, r.groupSize, r.codes, r.alpha, r.bias, r.gIdx);
  }

  /**
   * Pack codes (rows x columns, 0..2^bits-1), alpha (rows x G x bits), bias (rows x G) and
   * g_idx (columns, must be c / groupSize; or null).
   */
  public static LutGemmPacked pack(int bits, long rows, long columns, int groupSize, short[] codes,
      float[] alpha, float[] bias, int[] gIdx) {
    Checks.nonNull(codes, "codes");
    Checks.nonNull(alpha, "alpha");
    Checks.nonNull(bias, "bias");
    shape(bits, rows, columns);
    long g = groups(columns, groupSize);
    Checks.length(codes.length, rows * columns, "codes");
    Checks.length(alpha.length, rows * g * bits, "alpha");
    Checks.length(bias.length, rows * g, "bias");
    if (gIdx != null) Checks.length(gIdx.length, columns, "gIdx");
    long words = (columns + 31) / 32;
    int[] qbits = new int[Checks.cells(words * bits, rows, "qbits")];
    short[] a16 = new short[Checks.cells(g * bits, rows, "alpha")];
    short[] b16 = new short[Checks.cells(g, rows, "bias")];
    Gptaq.check(GptaqSwig.gptaq_lutgemm_pack(bits, rows, columns, groupSize, SolveResult.narrow(codes, "codes"),
        alpha, bias, gIdx, qbits, a16, b16), null);
    return new LutGemmPacked(bits, rows, columns, groupSize, g, qbits, a16, b16);
  }

  /** Unpack what {@link #pack} produced. */
  public static LutGemmUnpacked unpack(LutGemmPacked p) {
    Checks.nonNull(p, "packed");
    return unpack(p.bits, p.rows, p.columns, p.groupSize, p.qbits, p.alphaF16, p.biasF16);
  }

  /** Unpack LUT-GEMM arrays back into the solver's layout (and the dequantized weight). */
  public static LutGemmUnpacked unpack(int bits, long rows, long columns, int groupSize, int[] qbits,
      short[] alphaF16, short[] biasF16) {
    Checks.nonNull(qbits, "qbits");
    Checks.nonNull(alphaF16, "alphaF16");
    Checks.nonNull(biasF16, "biasF16");
    shape(bits, rows, columns);
    long g = groups(columns, groupSize);
    long words = (columns + 31) / 32;
    Checks.length(qbits.length, words * bits * rows, "qbits");
    Checks.length(alphaF16.length, g * bits * rows, "alphaF16");
    Checks.length(biasF16.length, g * rows, "biasF16");
    int cells = Checks.cells(rows, columns, "rows x columns");
    byte[] codes = new byte[cells];
    float[] alpha = new float[Checks.cells(rows * g, bits, "alpha")];
    float[] bias = new float[Checks.cells(rows, g, "bias")];
    float[] dq = new float[cells];
    Gptaq.check(GptaqSwig.gptaq_lutgemm_unpack(bits, rows, columns, groupSize, qbits, alphaF16, biasF16,
        codes, alpha, bias, dq), null);
    return new LutGemmUnpacked(SolveResult.widen(codes), alpha, bias, dq);
  }
}
