package org.gptaq;

/**
 * What every solve returns: the codes (row-major rows x columns, unsigned bytes),
 * g_idx, the dequantized weight (or null) and the solve's report.
 */
public abstract class SolveResult {
  /** Rows x columns level indices, row-major; read them unsigned ({@link #code}). */
  public final byte[] codes;
  /** Per column, the group whose parameters quantized it. */
  public final int[] gIdx;
  /** Rows x columns dequantized weight, row-major, or null when not asked for. */
  public final float[] dequant;
  public final int rows;
  public final int columns;
  /** Groups per row in the parameter arrays. */
  public final int nGroups;
  /** sum over columns of (w - q)^2 / d^2 / 2 (0 for RTN). */
  public final double loss;
  /** The relative damping finally used, and how many x10 retries it took. */
  public final float dampUsed;
  public final int dampRetries;
  /** Whether the cached factorization was reused. */
  public final boolean factorReused;
  /** Wall time of the solve. */
  public final double seconds;

  SolveResult(byte[] codes, int[] gIdx, float[] dequant, int rows, int columns,
      org.gptaq.swig.gptaq_solve_info info) {
    this.codes = codes;
    this.gIdx = gIdx;
    this.dequant = dequant;
    this.rows = rows;
    this.columns = columns;
    this.nGroups = info.getN_groups();
    this.loss = info.getLoss();
    this.dampUsed = info.getDamp_used();
    this.dampRetries = info.getDamp_retries();
    this.factorReused = info.getFactor_reused() != 0;
    this.seconds = info.getSeconds();
  }

  /** The code of weight (r, c) as an unsigned value. */
  public int code(int r, int c) {
    return codes[r * columns + c] & 0xff;
  }
}
