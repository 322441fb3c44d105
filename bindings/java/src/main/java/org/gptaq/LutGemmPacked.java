package org.gptaq;

/** A binary-coded weight in the LUT-GEMM layout ({@link LutGemm#pack}). */
public final class LutGemmPacked {
  public final int bits;
  public final long rows, columns;
  public final int groupSize;
  public final long nGroups;
  /** uint32 words [ceil(columns/32)][bits][rows], as int. */
  public final int[] qbits;
  /** fp16 bit patterns [nGroups][bits][rows]. */
  public final short[] alphaF16;
  /** fp16 bit patterns [nGroups][rows]. */
  public final short[] biasF16;

  LutGemmPacked(int bits, long rows, long columns, int groupSize, long nGroups, int[] qbits,
      short[] alphaF16, short[] biasF16) {
    this.bits = bits;
    this.rows = rows;
    this.columns = columns;
    this.groupSize = groupSize;
    this.nGroups = nGroups;
    this.qbits = qbits;
    this.alphaF16 = alphaF16;
    this.biasF16 = biasF16;
  }
}
