package org.gptaq;

import org.gptaq.swig.gptaq_objective;

/** The GPTQT level-set / scale search objective (gptaq_objective). */
public enum Objective {
  OUTPUT(gptaq_objective.GPTAQ_OBJECTIVE_OUTPUT),
  HESSIAN(gptaq_objective.GPTAQ_OBJECTIVE_HESSIAN),
  WEIGHT(gptaq_objective.GPTAQ_OBJECTIVE_WEIGHT);

  private final int code;

  Objective(int code) {
    this.code = code;
  }

  /** The C value (gptaq_objective). */
  public int code() {
    return code;
  }

  /** The constant for a C value. */
  public static Objective of(int code) {
    for (Objective v : values()) if (v.code == code) return v;
    throw new GptaqException(Status.INVALID_ARGUMENT, "gptaq_objective value " + code + " is not known to this binding");
  }
}
