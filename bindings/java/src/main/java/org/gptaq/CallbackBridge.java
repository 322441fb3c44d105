package org.gptaq;

import java.nio.charset.StandardCharsets;

/**
 * What the JNI trampolines call (methods {@code progress(IJJ)I} and {@code log(I[B)V}):
 * turns the C callback into the listener call and keeps the listener's exception for the
 * Quantizer to rethrow after the native call returns. Never lets an exception reach JNI.
 */
final class CallbackBridge {
  private final ProgressListener progress;
  private final LogListener log;
  /** The first exception a listener threw during the current call, or null. */
  Throwable pending;

  CallbackBridge(ProgressListener progress, LogListener log) {
    this.progress = progress;
    this.log = log;
  }

  /** 0 = go on, 1 = cancel. */
  int progress(int phase, long done, long total) {
    if (pending != null) return 1;
    try {
      Phase p = Phase.of(phase);
      if (p == null) return 0; // a phase newer than this binding: not reported
      return progress.onProgress(p, done, total) ? 0 : 1;
    } catch (Throwable t) {
      pending = t;
      return 1;
    }
  }

  void log(int level, byte[] message) {
    if (pending != null) return;
    try {
      log.onLog(LogLevel.of(level), new String(message, StandardCharsets.UTF_8));
    } catch (Throwable t) {
      pending = t;
    }
  }
}
