package org.gptaq;

/**
 * The uniform-grid (GPTQ) quantization of one weight: codes in [0, 2^bits - 1],
 * scales and zeros (rows x nGroups, row-major); dequant = scale * (code - zero).
 */
public final class QuantResult extends SolveResult {
  public final float[] scales;
  public final float[] zeros;

  QuantResult(byte[] codes, float[] scales, float[] zeros, int[] gIdx, float[] dequant, int rows,
      int columns, org.gptaq.swig.gptaq_solve_info info) {
    super(codes, gIdx, dequant, rows, columns, info);
    this.scales = scales;
    this.zeros = zeros;
  }

  public float scale(int r, int group) {
    return scales[r * nGroups + group];
  }

  public float zero(int r, int group) {
    return zeros[r * nGroups + group];
  }
}
