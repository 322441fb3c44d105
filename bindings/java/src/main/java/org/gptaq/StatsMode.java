package org.gptaq;

/** How loaded or deserialized statistics combine with a Quantizer's own (gptaq_stats_mode). */
public enum StatsMode {
  /** The Quantizer's statistics become the file's. */
  REPLACE(0),
  /** The file's statistics are added (a merge). */
  ACCUMULATE(1);

  private final int code;

  StatsMode(int code) {
    this.code = code;
  }

  /** The C value. */
  public int code() {
    return code;
  }
}
