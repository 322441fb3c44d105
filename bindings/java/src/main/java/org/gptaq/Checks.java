package org.gptaq;

/** Argument checks done before a call reaches C. */
final class Checks {
  private Checks() {}

  static <T> T nonNull(T v, String name) {
    if (v == null) throw new NullPointerException(name + " is null");
    return v;
  }

  /** a * b as an array length, or SHAPE. */
  static int cells(long a, long b, String what) {
    if (a < 0 || b < 0) throw new GptaqException(Status.SHAPE, what + ": negative size " + a + " x " + b);
    if (b != 0 && a > (Integer.MAX_VALUE - 8) / b)
      throw new GptaqException(Status.SHAPE, what + " = " + a + " x " + b + " exceeds a Java array");
    return (int) (a * b);
  }

  static void length(int actual, long expected, String name) {
    if (actual != expected)
      throw new GptaqException(Status.SHAPE, name + " has " + actual + " elements; expected " + expected);
  }
}
