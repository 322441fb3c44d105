package org.gptaq;

import org.gptaq.swig.gptaq_backend;

/** Where the work runs (gptaq_backend). */
public enum Backend {
  AUTO(gptaq_backend.GPTAQ_BACKEND_AUTO),
  CPU(gptaq_backend.GPTAQ_BACKEND_CPU),
  CUDA(gptaq_backend.GPTAQ_BACKEND_CUDA);

  private final int code;

  Backend(int code) {
    this.code = code;
  }

  /** The C value (gptaq_backend). */
  public int code() {
    return code;
  }

  /** The constant for a C value. */
  public static Backend of(int code) {
    for (Backend v : values()) if (v.code == code) return v;
    throw new GptaqException(Status.INVALID_ARGUMENT, "gptaq_backend value " + code + " is not known to this binding");
  }
}
