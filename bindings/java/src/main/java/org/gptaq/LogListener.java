package org.gptaq;

/**
 * Receives the library's log messages for one Quantizer ({@link Quantizer#setLogListener}),
 * on the thread of the call that logs them. The library never prints; without a listener
 * the messages are dropped. An exception thrown by the listener does not stop the call;
 * it is rethrown when the call returns (the call's effects stand).
 */
@FunctionalInterface
public interface LogListener {
  /** One complete message, without a trailing newline. */
  void onLog(LogLevel level, String message);
}
