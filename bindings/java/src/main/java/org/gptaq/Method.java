package org.gptaq;

import org.gptaq.swig.gptaq_method;

/** How quantization error propagates (gptaq_method). */
public enum Method {
  RTN(gptaq_method.GPTAQ_METHOD_RTN),
  GPTQ(gptaq_method.GPTAQ_METHOD_GPTQ),
  GPTAQ(gptaq_method.GPTAQ_METHOD_GPTAQ);

  private final int code;

  Method(int code) {
    this.code = code;
  }

  /** The C value (gptaq_method). */
  public int code() {
    return code;
  }

  /** The constant for a C value. */
  public static Method of(int code) {
    for (Method v : values()) if (v.code == code) return v;
    throw new GptaqException(Status.INVALID_ARGUMENT, "gptaq_method value " + code + " is not known to this binding");
  }
}
