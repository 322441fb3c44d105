package org.gptaq;

/** The packed GPTQ shapes of a rows x columns weight ({@link Gptq#shapes}). */
public final class GptqShapes {
  public final long rows, columns;
  public final int bits, groupSize;
  /** qweight is qweightRows x rows int32 (qweightRows = columns * bits / 32). */
  public final long qweightRows;
  /** qzeros is nGroups x qzerosCols int32 (qzerosCols = rows * bits / 32). */
  public final long qzerosCols;
  public final long nGroups;

  GptqShapes(long rows, long columns, int bits, int groupSize, long qweightRows, long qzerosCols, long nGroups) {
    this.rows = rows;
    this.columns = columns;
    this.bits = bits;
    this.groupSize = groupSize;
    this.qweightRows = qweightRows;
    this.qzerosCols = qzerosCols;
    this.nGroups = nGroups;
  }
}
