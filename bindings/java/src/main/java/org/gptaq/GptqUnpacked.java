package org.gptaq;

/** GPTQ tensors back in the solver's layout ({@link Gptq#unpack}); arrays are row-major. */
public final class GptqUnpacked {
  /** rows x columns codes, 0..255. */
  public final short[] codes;
  /** rows x nGroups floats. */
  public final float[] scales;
  /** rows x nGroups: the stored zero (V2) or stored + 1 (V1, as loaders read it). */
  public final float[] zeros;
  /** rows x columns scale * (code - zero), or null when g_idx was not given. */
  public final float[] dequant;
  public final long rows, columns, nGroups;

  GptqUnpacked(short[] codes, float[] scales, float[] zeros, float[] dequant, long rows, long columns, long nGroups) {
    this.codes = codes;
    this.scales = scales;
    this.zeros = zeros;
    this.dequant = dequant;
    this.rows = rows;
    this.columns = columns;
    this.nGroups = nGroups;
  }
}
