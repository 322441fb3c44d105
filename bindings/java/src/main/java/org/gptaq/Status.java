package org.gptaq;

import org.gptaq.swig.gptaq_status;

/** The C API's status codes (gptaq_status); values are stable. */
public enum Status {
  OK(gptaq_status.GPTAQ_OK),
  INVALID_ARGUMENT(gptaq_status.GPTAQ_ERR_INVALID_ARGUMENT),
  SHAPE(gptaq_status.GPTAQ_ERR_SHAPE),
  NON_FINITE(gptaq_status.GPTAQ_ERR_NON_FINITE),
  NO_DATA(gptaq_status.GPTAQ_ERR_NO_DATA),
  NOT_POSITIVE_DEFINITE(gptaq_status.GPTAQ_ERR_NOT_POSITIVE_DEFINITE),
  OUT_OF_MEMORY(gptaq_status.GPTAQ_ERR_OUT_OF_MEMORY),
  BACKEND_UNAVAILABLE(gptaq_status.GPTAQ_ERR_BACKEND_UNAVAILABLE),
  DEVICE(gptaq_status.GPTAQ_ERR_DEVICE),
  IO(gptaq_status.GPTAQ_ERR_IO),
  FORMAT(gptaq_status.GPTAQ_ERR_FORMAT),
  UNSUPPORTED(gptaq_status.GPTAQ_ERR_UNSUPPORTED),
  BUSY(gptaq_status.GPTAQ_ERR_BUSY),
  INTERNAL(gptaq_status.GPTAQ_ERR_INTERNAL),
  /** A progress listener asked to stop; the quantizer is exactly as before the call. */
  CANCELLED(gptaq_status.GPTAQ_ERR_CANCELLED),
  /** A code this version of the binding does not know (a newer library). */
  UNKNOWN(Integer.MIN_VALUE);

  private final int code;

  Status(int code) {
    this.code = code;
  }

  /** The C value. */
  public int code() {
    return code;
  }

  /** The Status for a C value ({@link #UNKNOWN} if not known). */
  public static Status of(int code) {
    for (Status s : values()) if (s.code == code) return s;
    return UNKNOWN;
  }
}
