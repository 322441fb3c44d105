package org.gptaq;

/** GPTQ checkpoint format (gptaq_gptq_format): how qzeros store the zero point. */
public enum GptqFormat {
  /** checkpoint_format "gptq" (what vLLM and transformers load by default): zero - 1. */
  V1(0),
  /** checkpoint_format "gptq_v2": the zero itself. */
  V2(1);

  private final int code;

  GptqFormat(int code) {
    this.code = code;
  }

  /** The C value. */
  public int code() {
    return code;
  }

  /** The constant for a C value. */
  public static GptqFormat of(int code) {
    for (GptqFormat v : values()) if (v.code == code) return v;
    throw new GptaqException(Status.INVALID_ARGUMENT, "gptaq_gptq_format value " + code + " is not known to this binding");
  }
}
