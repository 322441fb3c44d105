package org.gptaq;

/** The header of a statistics file ({@link Statistics#fileInfo}). */
public final class StatsFileInfo {
  /** The input width n of the context that wrote it. */
  public final long columns;
  /** The method of the context that wrote it. */
  public final Method method;
  /** Whether GPTAQ's cross term dx is present. */
  public final boolean hasCross;
  /** The token count. */
  public final double tokens;

  StatsFileInfo(long columns, Method method, boolean hasCross, double tokens) {
    this.columns = columns;
    this.method = method;
    this.hasCross = hasCross;
    this.tokens = tokens;
  }

  @Override
  public String toString() {
    return "StatsFileInfo{columns=" + columns + ", method=" + method + ", hasCross=" + hasCross
        + ", tokens=" + tokens + "}";
  }
}
