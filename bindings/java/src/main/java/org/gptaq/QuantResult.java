package org.gptaq;

/**
 * The uniform-grid (GPTQ) quantization of one weight: codes in [0, 2^bits - 1],
 * scales and zeros (rows x nGroups, row-major); dequant = scale * (code - zero).
 */
public final class QuantResult extends SolveResult {
  public final float[] scales;
  public final float[] zeros;
  /** The bit width of the codes and the group size they were solved with. */
  public final int bits;
  public final int groupSize;

  QuantResult(byte[] codes, float[] scales, float[] zeros, int[] gIdx, float[] dequant, long rows,
      long columns, int bits, int groupSize, org.gptaq.swig.gptaq_solve_info info) {
    super(codes, gIdx, dequant, rows, columns, info);
    this.scales = scales;
    this.zeros = zeros;
    this.bits = bits;
    this.groupSize = groupSize;
  }

  public float scale(long r, int group) {
    return scales[(int) (r * nGroups + group)];
  }

  public float zero(long r, int group) {
    return zeros[(int) (r * nGroups + group)];
  }
}
