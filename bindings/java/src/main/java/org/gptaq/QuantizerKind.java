package org.gptaq;

import org.gptaq.swig.gptaq_quantizer_kind;

/** How one column is rounded: the uniform grid (GPTQ) or binary coding (GPTQT). */
public enum QuantizerKind {
  UNIFORM(gptaq_quantizer_kind.GPTAQ_QUANTIZER_UNIFORM),
  BINARY(gptaq_quantizer_kind.GPTAQ_QUANTIZER_BINARY);

  private final int code;

  QuantizerKind(int code) {
    this.code = code;
  }

  /** The C value (gptaq_quantizer_kind). */
  public int code() {
    return code;
  }

  /** The constant for a C value. */
  public static QuantizerKind of(int code) {
    for (QuantizerKind v : values()) if (v.code == code) return v;
    throw new GptaqException(Status.INVALID_ARGUMENT, "gptaq_quantizer_kind value " + code + " is not known to this binding");
  }
}
