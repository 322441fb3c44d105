package org.gptaq;

import org.gptaq.swig.gptaq_dtype;

/** Element type of calibration batches; F16 and BF16 travel as short bit patterns. */
public enum DType {
  F32(gptaq_dtype.GPTAQ_DTYPE_F32),
  F16(gptaq_dtype.GPTAQ_DTYPE_F16),
  BF16(gptaq_dtype.GPTAQ_DTYPE_BF16);

  private final int code;

  DType(int code) {
    this.code = code;
  }

  /** The C value (gptaq_dtype). */
  public int code() {
    return code;
  }

  /** The constant for a C value. */
  public static DType of(int code) {
    for (DType v : values()) if (v.code == code) return v;
    throw new GptaqException(Status.INVALID_ARGUMENT, "gptaq_dtype value " + code + " is not known to this binding");
  }
}
