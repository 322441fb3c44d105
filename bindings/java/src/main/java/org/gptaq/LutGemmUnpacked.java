package org.gptaq;

/** LUT-GEMM arrays back in the solver's layout ({@link LutGemm#unpack}). */
public final class LutGemmUnpacked {
  /** rows x columns level indices, 0..255. */
  public final short[] codes;
  /** rows x nGroups x bits. */
  public final float[] alpha;
  /** rows x nGroups. */
  public final float[] bias;
  /** rows x columns: sum_i (+/-)alpha_i + bias. */
  public final float[] dequant;

  LutGemmUnpacked(short[] codes, float[] alpha, float[] bias, float[] dequant) {
    this.codes = codes;
    this.alpha = alpha;
    this.bias = bias;
    this.dequant = dequant;
  }
}
