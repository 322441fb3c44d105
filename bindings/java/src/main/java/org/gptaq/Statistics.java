package org.gptaq;

import java.nio.file.Path;
import org.gptaq.swig.GptaqSwig;
import org.gptaq.swig.SWIGTYPE_p_gptaq_ctx;

/**
 * The calibration statistics of a {@link Quantizer} ({@link Quantizer#stats()}): plain
 * sums over tokens (xx = sum x x^T, GPTAQ's dx, xsum, tokens), so data-parallel
 * calibration is a reduction. Every worker streams its shard into its own Quantizer,
 * ships {@link #serialize()} bytes (or a {@link #save saved} file) however it likes, and
 * one {@link #deserialize deserializes} them with {@link StatsMode#ACCUMULATE} (or {@link
 * Quantizer#merge merges} a Quantizer) before solving:
 *
 * <pre>{@code
 * byte[] shard = worker.stats().serialize();
 * leader.stats().deserialize(shard, StatsMode.ACCUMULATE);
 * QuantResult r = leader.solve(weight, rows);
 * }</pre>
 *
 * <p>A view: it holds no native memory of its own and follows the Quantizer's rules
 * (BUSY from another thread, IllegalStateException once closed). Files and bytes are
 * verified in full (version, sizes, CRC-32, finiteness) before anything changes; a refused
 * one leaves the statistics as they were.
 */
public final class Statistics {
  private final Quantizer q;

  Statistics(Quantizer q) {
    this.q = q;
  }

  /** The Quantizer these statistics belong to. */
  public Quantizer quantizer() {
    return q;
  }

  /** Tokens accumulated (masked-out tokens not counted). */
  public long tokens() {
    return q.numTokens();
  }

  /** Size in bytes of {@link #serialize()}'s result: 64 + 4 n^2 (1 + hasCross) + 8 n. */
  public long serializedSize() {
    SWIGTYPE_p_gptaq_ctx c = q.enter();
    try {
      long[] n = new long[1];
      q.check(GptaqSwig.gptaq_stats_serialized_size(c, n), c);
      return n[0];
    } finally {
      q.exit();
    }
  }

  /** The statistics in the versioned, checksummed statistics-file format. */
  public byte[] serialize() {
    SWIGTYPE_p_gptaq_ctx c = q.enter();
    try {
      long[] n = new long[1];
      q.check(GptaqSwig.gptaq_stats_serialized_size(c, n), c);
      if (n[0] > Integer.MAX_VALUE - 8)
        throw new GptaqException(Status.SHAPE, "the statistics take " + n[0]
            + " bytes, more than a Java array holds: use save(path)");
      byte[] out = new byte[(int) n[0]];
      long[] written = new long[1];
      q.check(GptaqSwig.gptaq_java_stats_serialize(c, out, out.length, written), c);
      return written[0] == out.length ? out : java.util.Arrays.copyOf(out, (int) written[0]);
    } finally {
      q.exit();
    }
  }

  /**
   * Read statistics serialized by any binding (untrusted bytes, verified in full first),
   * replacing or adding to this Quantizer's.
   */
  public void deserialize(byte[] bytes, StatsMode mode) {
    if (bytes == null) throw new NullPointerException("bytes is null");
    if (mode == null) throw new NullPointerException("mode is null");
    SWIGTYPE_p_gptaq_ctx c = q.enter();
    try {
      q.check(GptaqSwig.gptaq_java_stats_deserialize(c, bytes, bytes.length, mode.code()), c);
    } finally {
      q.exit();
    }
  }

  /** Write the statistics file (through a temporary file renamed into place). */
  public void save(Path path) {
    if (path == null) throw new NullPointerException("path is null");
    SWIGTYPE_p_gptaq_ctx c = q.enter();
    try {
      q.check(GptaqSwig.gptaq_stats_save(c, path.toString()), c);
    } finally {
      q.exit();
    }
  }

  /** Read a statistics file, replacing or adding to this Quantizer's statistics. */
  public void load(Path path, StatsMode mode) {
    if (path == null) throw new NullPointerException("path is null");
    if (mode == null) throw new NullPointerException("mode is null");
    SWIGTYPE_p_gptaq_ctx c = q.enter();
    try {
      q.check(GptaqSwig.gptaq_stats_load(c, path.toString(), mode.code()), c);
    } finally {
      q.exit();
    }
  }

  /** Add another Quantizer's statistics into these ({@link Quantizer#merge}). */
  public void merge(Quantizer src) {
    q.merge(src);
  }

  /**
   * llama.cpp's importance-matrix vector: in_sum2[j] = sum over tokens of x_j^2 (the
   * diagonal of xx), {@code columns} floats. The token count is {@link #tokens()}.
   */
  public float[] imatrix() {
    long n = q.columns();
    if (n > Integer.MAX_VALUE - 8) throw new GptaqException(Status.SHAPE, "columns = " + n + " exceeds a Java array");
    SWIGTYPE_p_gptaq_ctx c = q.enter();
    try {
      float[] out = new float[(int) n];
      long[] tokens = new long[1];
      q.check(GptaqSwig.gptaq_java_ctx_imatrix(c, out, tokens), c);
      return out;
    } finally {
      q.exit();
    }
  }

  /**
   * Open the statistics buffers for an in-place all-reduce (see {@link StatsBuffers}).
   * Drops the cached factorization. Until the returned session is committed or closed,
   * every other call on the Quantizer throws IllegalStateException.
   */
  public StatsBuffers buffers() {
    SWIGTYPE_p_gptaq_ctx c = q.enter();
    try {
      long[] info = new long[2];
      q.check(GptaqSwig.gptaq_java_stats_buffers_info(c, info), c);
      StatsBuffers b = new StatsBuffers(q, c, Backend.of((int) info[0]), info[1] != 0);
      q.openBuffers = b;
      return b;
    } finally {
      q.exit();
    }
  }

  /** Read and verify only the header of a statistics file. */
  public static StatsFileInfo fileInfo(Path path) {
    if (path == null) throw new NullPointerException("path is null");
    NativeLoader.load();
    long[] l = new long[3];
    double[] d = new double[1];
    Gptaq.check(GptaqSwig.gptaq_java_stats_file_info(path.toString(), l, d), null);
    return new StatsFileInfo(l[0], Method.of((int) l[1]), l[2] != 0, d[0]);
  }
}
