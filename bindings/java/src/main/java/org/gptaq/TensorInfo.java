package org.gptaq;

/** One tensor of a safetensors file ({@link SafetensorsReader#info}). */
public final class TensorInfo {
  /** Its index in the file (data order). */
  public final long index;
  public final String name;
  /** The format's dtype name ("F32", "BF16", "I32", ...). */
  public final String dtype;
  /** The dimensions (empty for a scalar). */
  public final long[] shape;
  /** The size of its data in bytes. */
  public final long nbytes;

  TensorInfo(long index, String name, String dtype, long[] shape, long nbytes) {
    this.index = index;
    this.name = name;
    this.dtype = dtype;
    this.shape = shape;
    this.nbytes = nbytes;
  }

  /** The element count. */
  public long elements() {
    long n = 1;
    for (long d : shape) n *= d;
    return n;
  }

  @Override
  public String toString() {
    return name + " " + dtype + java.util.Arrays.toString(shape);
  }
}
