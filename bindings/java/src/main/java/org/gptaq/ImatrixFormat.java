package org.gptaq;

/** llama.cpp importance-matrix file formats (gptaq_imatrix_format). */
public enum ImatrixFormat {
  /** Current llama.cpp: GGUF with general.type = "imatrix". */
  GGUF(0),
  /** The legacy imatrix.dat. */
  DAT(1);

  private final int code;

  ImatrixFormat(int code) {
    this.code = code;
  }

  /** The C value. */
  public int code() {
    return code;
  }
}
