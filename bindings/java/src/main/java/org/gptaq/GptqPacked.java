package org.gptaq;

/** GPTQ checkpoint tensors of one layer ({@link Gptq#pack}); arrays are row-major. */
public final class GptqPacked {
  public final GptqShapes shapes;
  public final GptqFormat format;
  /** qweightRows x rows int32. */
  public final int[] qweight;
  /** nGroups x qzerosCols int32. */
  public final int[] qzeros;
  /** The dtype of the scales: F16/BF16 in {@link #scalesHalf}, F32 in {@link #scalesF32}. */
  public final DType scalesDtype;
  /** nGroups x rows F16/BF16 bit patterns, or null. */
  public final short[] scalesHalf;
  /** nGroups x rows floats, or null. */
  public final float[] scalesF32;
  /** columns int32: the group of each input column. */
  public final int[] gIdx;
  /** V1: how many (row, group) zeros of 0 were stored as 0 (read back as 1). */
  public final long zerosClamped;

  GptqPacked(GptqShapes shapes, GptqFormat format, int[] qweight, int[] qzeros, DType scalesDtype,
      short[] scalesHalf, float[] scalesF32, int[] gIdx, long zerosClamped) {
    this.shapes = shapes;
    this.format = format;
    this.qweight = qweight;
    this.qzeros = qzeros;
    this.scalesDtype = scalesDtype;
    this.scalesHalf = scalesHalf;
    this.scalesF32 = scalesF32;
    this.gIdx = gIdx;
    this.zerosClamped = zerosClamped;
  }

  /** Add prefix.qweight, prefix.qzeros, prefix.scales and prefix.g_idx to a safetensors writer. */
  public void addTo(SafetensorsWriter w, String prefix) {
    Checks.nonNull(w, "writer");
    Checks.nonNull(prefix, "prefix");
    w.add(prefix + ".qweight", new long[] {shapes.qweightRows, shapes.rows}, qweight);
    w.add(prefix + ".qzeros", new long[] {shapes.nGroups, shapes.qzerosCols}, qzeros);
    if (scalesHalf != null) w.add(prefix + ".scales", scalesDtype, new long[] {shapes.nGroups, shapes.rows}, scalesHalf);
    else w.add(prefix + ".scales", new long[] {shapes.nGroups, shapes.rows}, scalesF32);
    w.add(prefix + ".g_idx", new long[] {shapes.columns}, gIdx);
  }
}
