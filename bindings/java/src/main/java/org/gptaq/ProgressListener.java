package org.gptaq;

/**
 * Progress of a long call ({@link Quantizer#addBatch addBatch}, {@link Quantizer#solve
 * solve}, {@link Quantizer#solveBinary solveBinary}) and a way to cancel it. Set with
 * {@link Quantizer#setProgressListener}.
 *
 * <p>Called on the thread that made the call, from inside it, at a bounded rate (per block
 * of columns, per statistics chunk, at the start and end of each phase). It must not call
 * back into the same Quantizer (that throws BUSY).
 *
 * <p>Return {@code false} to cancel: the call then throws {@link GptaqException} with
 * {@link Status#CANCELLED} and leaves the Quantizer exactly as before the call (statistics,
 * cached factorization, configuration); it can be used again at once. An exception thrown
 * by the listener cancels the call the same way and is then rethrown by it (with the
 * CANCELLED GptaqException attached as suppressed).
 */
@FunctionalInterface
public interface ProgressListener {
  /**
   * {@code done} of {@code total} units of {@code phase} are finished (tokens for
   * STATISTICS, columns for FACTORIZATION and SWEEP, rows for PACKING).
   *
   * @return true to go on, false to cancel
   */
  boolean onProgress(Phase phase, long done, long total);
}
