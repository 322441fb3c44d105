package org.gptaq;

/** What a progress report is about (gptaq_phase). */
public enum Phase {
  /** Accumulating a calibration batch (units: tokens). */
  STATISTICS(0),
  /** Damping, Cholesky, inverse, GPTAQ's P (units: columns). */
  FACTORIZATION(1),
  /** The column sweep; GPTQT: also the scale search (units: columns). */
  SWEEP(2),
  /** Writing the outputs: un-permutation, dequant (units: rows). */
  PACKING(3);

  private final int code;

  Phase(int code) {
    this.code = code;
  }

  /** The C value (gptaq_phase). */
  public int code() {
    return code;
  }

  /** The constant for a C value, or null for one this binding does not know. */
  public static Phase of(int code) {
    for (Phase v : values()) if (v.code == code) return v;
    return null;
  }
}
