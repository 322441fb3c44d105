package org.gptaq;

/**
 * What every solve returns: the codes, g_idx, the dequantized weight (or null) and the
 * solve's report.
 *
 * <p>Codes are unsigned 8-bit values in the C API. Here they are a {@code short[]} holding
 * 0..255 (row-major rows x columns), so they read correctly without masking; {@link #code}
 * gives one as an int. The packers ({@link Gptq#pack}, {@link LutGemm#pack}) take them in
 * this form.
 */
public abstract class SolveResult {
  /** Rows x columns level indices (0..255), row-major. */
  public final short[] codes;
  /** Per column, the group whose parameters quantized it. */
  public final int[] gIdx;
  /** Rows x columns dequantized weight, row-major, or null when not asked for. */
  public final float[] dequant;
  /** The weight's shape (out_features x in_features). */
  public final long rows;
  public final long columns;
  /** Groups per row in the parameter arrays. */
  public final int nGroups;
  /** sum over columns of (w - q)^2 / d^2 / 2 (0 for RTN). */
  public final double loss;
  /** The relative damping finally used, and how many x10 retries it took. */
  public final float dampUsed;
  public final int dampRetries;
  /** Whether the cached factorization was reused. */
  public final boolean factorReused;
  /** Wall time of the solve in seconds. */
  public final double seconds;
  /** Calibration tokens the statistics held at the solve. */
  public final double tokens;
  /** Whether {@link Config#failsafeTokens} made this a round-to-nearest solve. */
  public final boolean failsafeUsed;

  SolveResult(byte[] codesU8, int[] gIdx, float[] dequant, long rows, long columns,
      org.gptaq.swig.gptaq_solve_info info) {
    this.codes = widen(codesU8);
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
    this.tokens = info.getTokens();
    this.failsafeUsed = info.getFailsafe_used() != 0;
  }

  /** The code of weight (r, c), 0..255. */
  public int code(long r, long c) {
    if (r < 0 || r >= rows || c < 0 || c >= columns)
      throw new IndexOutOfBoundsException("(" + r + ", " + c + ") outside " + rows + " x " + columns);
    return codes[(int) (r * columns + c)];
  }

  /** uint8 bytes as 0..255 shorts. */
  static short[] widen(byte[] b) {
    short[] s = new short[b.length];
    for (int i = 0; i < b.length; i++) s[i] = (short) (b[i] & 0xff);
    return s;
  }

  /** 0..255 shorts as uint8 bytes; a value outside is an IllegalArgumentException. */
  static byte[] narrow(short[] s, String name) {
    byte[] b = new byte[s.length];
    for (int i = 0; i < s.length; i++) {
      int v = s[i];
      if (v < 0 || v > 255)
        throw new IllegalArgumentException(name + "[" + i + "] = " + v + " is not a code in 0..255");
      b[i] = (byte) v;
    }
    return b;
  }
}
