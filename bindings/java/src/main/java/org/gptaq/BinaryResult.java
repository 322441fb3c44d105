package org.gptaq;

/**
 * The GPTQT binary-coding quantization of one weight with k = bits: codes are level
 * indices in [0, 2^k) whose bit i (most significant first) is the sign of alpha_i;
 * alpha is rows x nGroups x k and bias rows x nGroups (row-major); dequant =
 * sum_i (+/-)alpha_i + bias.
 */
public final class BinaryResult extends SolveResult {
  public final float[] alpha;
  public final float[] bias;
  public final int bits;
  /** The group size the weight was solved with. */
  public final int groupSize;
  /** The chosen candidate level set and scale index. */
  public final int levelSet;
  public final int scaleIndex;

  BinaryResult(byte[] codes, float[] alpha, float[] bias, int bits, int[] gIdx, float[] dequant,
      long rows, long columns, int groupSize, org.gptaq.swig.gptaq_solve_info info) {
    super(codes, gIdx, dequant, rows, columns, info);
    this.alpha = alpha;
    this.bias = bias;
    this.bits = bits;
    this.groupSize = groupSize;
    this.levelSet = info.getLevel_set();
    this.scaleIndex = info.getScale_index();
  }

  public float alpha(long r, int group, int i) {
    return alpha[(int) ((r * nGroups + group) * bits + i)];
  }

  public float bias(long r, int group) {
    return bias[(int) (r * nGroups + group)];
  }
}
