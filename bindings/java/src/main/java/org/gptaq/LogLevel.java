package org.gptaq;

/** Severity of a library log message (gptaq_log_level). */
public enum LogLevel {
  /** Sizes, timings of phases. */
  DEBUG(0),
  /** What a call decided: factor reused, backend chosen. */
  INFO(1),
  /** Damping retries, the failsafe used, CUDA fallback to CPU. */
  WARN(2);

  private final int code;

  LogLevel(int code) {
    this.code = code;
  }

  /** The C value (gptaq_log_level). */
  public int code() {
    return code;
  }

  /** The constant for a C value (unknown, newer levels read as WARN). */
  public static LogLevel of(int code) {
    for (LogLevel v : values()) if (v.code == code) return v;
    return WARN;
  }
}
