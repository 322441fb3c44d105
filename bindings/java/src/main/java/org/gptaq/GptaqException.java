package org.gptaq;

/**
 * An error reported by libgptaq (or found by the binding before calling it), with the
 * library's status and message. Unchecked, like {@link IllegalArgumentException}: most
 * statuses are programming errors (shapes, configuration); catch it where data can be
 * bad ({@link Status#NON_FINITE}, {@link Status#NOT_POSITIVE_DEFINITE}).
 */
public class GptaqException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final Status status;
  private final int code;

  public GptaqException(Status status, String message) {
    this(status.code(), message);
  }

  public GptaqException(int code, String message) {
    super(message);
    this.code = code;
    this.status = Status.of(code);
  }

  /** The status ({@link Status#UNKNOWN} for codes newer than this binding). */
  public Status status() {
    return status;
  }

  /** The raw C status value. */
  public int code() {
    return code;
  }
}
