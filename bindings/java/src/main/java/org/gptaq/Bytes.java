package org.gptaq;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Little-endian conversions between primitive arrays and the bytes of files. */
final class Bytes {
  private Bytes() {}

  static byte[] of(float[] a) {
    ByteBuffer b = ByteBuffer.allocate(Math.multiplyExact(a.length, 4)).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(a);
    return b.array();
  }

  static byte[] of(int[] a) {
    ByteBuffer b = ByteBuffer.allocate(Math.multiplyExact(a.length, 4)).order(ByteOrder.LITTLE_ENDIAN);
    b.asIntBuffer().put(a);
    return b.array();
  }

  static byte[] of(short[] a) {
    ByteBuffer b = ByteBuffer.allocate(Math.multiplyExact(a.length, 2)).order(ByteOrder.LITTLE_ENDIAN);
    b.asShortBuffer().put(a);
    return b.array();
  }

  static float[] floats(byte[] raw) {
    float[] a = new float[raw.length / 4];
    ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(a);
    return a;
  }

  static int[] ints(byte[] raw) {
    int[] a = new int[raw.length / 4];
    ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(a);
    return a;
  }

  static short[] shorts(byte[] raw) {
    short[] a = new short[raw.length / 2];
    ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asShortBuffer().get(a);
    return a;
  }

  /** The element count of a shape (checked: dims >= 0, at most 8, product fits a long). */
  static long elements(long[] shape, int maxDims) {
    Checks.nonNull(shape, "shape");
    if (shape.length > maxDims)
      throw new GptaqException(Status.INVALID_ARGUMENT, "shape has " + shape.length + " dimensions; at most " + maxDims);
    long n = 1;
    for (long d : shape) {
      if (d < 0) throw new GptaqException(Status.INVALID_ARGUMENT, "shape has a negative dimension " + d);
      try {
        n = Math.multiplyExact(n, d);
      } catch (ArithmeticException e) {
        throw new GptaqException(Status.SHAPE, "the shape's element count overflows");
      }
    }
    return n;
  }
}
