package org.gptaq;

import org.gptaq.swig.gptaq_dtype;

/**
 * Element types (gptaq_dtype). Calibration batches are F32, F16 or BF16 (the 16-bit types
 * travel as short bit patterns); U8 and I32 exist only in files (.npy codes, g_idx).
 */
public enum DType {
  F32(gptaq_dtype.GPTAQ_DTYPE_F32),
  F16(gptaq_dtype.GPTAQ_DTYPE_F16),
  BF16(gptaq_dtype.GPTAQ_DTYPE_BF16),
  U8(gptaq_dtype.GPTAQ_DTYPE_U8),
  I32(gptaq_dtype.GPTAQ_DTYPE_I32);

  private final int code;

  DType(int code) {
    this.code = code;
  }

  /** The C value (gptaq_dtype). */
  public int code() {
    return code;
  }

  /** Bytes per element. */
  public int size() {
    switch (this) {
      case F32: case I32: return 4;
      case F16: case BF16: return 2;
      default: return 1;
    }
  }

  /** Whether this is a 16-bit floating-point type (F16 or BF16). */
  public boolean isHalf() {
    return this == F16 || this == BF16;
  }

  /** The constant for a C value. */
  public static DType of(int code) {
    for (DType v : values()) if (v.code == code) return v;
    throw new GptaqException(Status.INVALID_ARGUMENT, "gptaq_dtype value " + code + " is not known to this binding");
  }
}
