package org.gptaq;

/** An array read from a .npy file ({@link Npy}): rows x cols of dtype, row-major. */
public final class NpyArray {
  public final DType dtype;
  public final long rows, cols;
  private final byte[] raw;

  NpyArray(DType dtype, long rows, long cols, byte[] raw) {
    this.dtype = dtype;
    this.rows = rows;
    this.cols = cols;
    this.raw = raw;
  }

  private void need(DType d) {
    if (dtype != d) throw new IllegalStateException("the array is " + dtype + ", not " + d);
  }

  /** The values of an F32 array. */
  public float[] f32() {
    need(DType.F32);
    return Bytes.floats(raw);
  }

  /** The bit patterns of an F16 array. */
  public short[] f16() {
    need(DType.F16);
    return Bytes.shorts(raw);
  }

  /** The values of a U8 array, 0..255. */
  public short[] u8() {
    need(DType.U8);
    byte[] b = raw;
    short[] s = new short[b.length];
    for (int i = 0; i < b.length; i++) s[i] = (short) (b[i] & 0xff);
    return s;
  }

  /** The values of an I32 array. */
  public int[] i32() {
    need(DType.I32);
    return Bytes.ints(raw);
  }

  /** Any F32 or F16 array as floats. */
  public float[] toFloats() {
    if (dtype == DType.F32) return f32();
    if (dtype == DType.F16) return Gptaq.fromHalf(f16(), DType.F16);
    throw new IllegalStateException("the array is " + dtype + ", not floating point");
  }
}
