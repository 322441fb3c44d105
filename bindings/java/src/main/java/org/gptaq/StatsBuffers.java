package org.gptaq;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import org.gptaq.swig.GptaqSwig;
import org.gptaq.swig.SWIGTYPE_p_gptaq_ctx;

/**
 * A session with direct access to a Quantizer's statistics, for an in-place sum
 * all-reduce with the application's own collectives (MPI, a socket, ...):
 *
 * <pre>{@code
 * try (StatsBuffers b = q.stats().buffers()) {
 *   allReduceSum(b.xx());  // columns x columns floats, row-major, symmetric
 *   allReduceSum(b.xsum()); // columns doubles
 *   b.setTokens(allReduceSum(b.tokens()));
 *   b.commit();            // verify, re-symmetrize, drop the cached factorization
 * }
 * }</pre>
 *
 * <p>The buffers are direct NIO views of the native memory in native byte order (no
 * copy). While the session is open every other call on the Quantizer throws
 * IllegalStateException and the Quantizer cannot be closed; {@link #close()} commits if
 * {@link #commit()} was not called. The views must not be used after the session ends
 * (the accessors then throw; a view kept from before is the caller's responsibility).
 * With the CUDA backend the sums live in device memory: {@link #xx()}, {@link #dx()} and
 * {@link #xsum()} throw UNSUPPORTED there (use serialize/deserialize or merge instead).
 */
public final class StatsBuffers implements AutoCloseable {
  private final Quantizer q;
  private final SWIGTYPE_p_gptaq_ctx ctx;
  private final Backend backend;
  private final boolean hasCross;
  private boolean open = true;

  StatsBuffers(Quantizer q, SWIGTYPE_p_gptaq_ctx ctx, Backend backend, boolean hasCross) {
    this.q = q;
    this.ctx = ctx;
    this.backend = backend;
    this.hasCross = hasCross;
  }

  /** Where the sums live (CPU = host memory). */
  public Backend backend() {
    return backend;
  }

  /** Whether GPTAQ's dx is kept. */
  public boolean hasCross() {
    return hasCross;
  }

  private ByteBuffer view(int which, String name) {
    if (!open) throw new IllegalStateException("the statistics buffers are closed");
    if (backend != Backend.CPU && which != 3)
      throw new GptaqException(Status.UNSUPPORTED, name + " is in " + backend
          + " device memory; use serialize/deserialize or merge");
    ByteBuffer b = (ByteBuffer) GptaqSwig.gptaq_java_stats_buffer(ctx, which);
    if (b == null) throw new GptaqException(Status.INTERNAL, "no view of the statistics buffer " + name);
    return b.order(ByteOrder.nativeOrder());
  }

  /** xx = sum x_q x_q^T: columns x columns floats, row-major. */
  public FloatBuffer xx() {
    return view(0, "xx").asFloatBuffer();
  }

  /** GPTAQ's dx = sum (x_fp - x_q) x_q^T (columns x columns floats), or null when not kept. */
  public FloatBuffer dx() {
    if (!hasCross) {
      if (!open) throw new IllegalStateException("the statistics buffers are closed");
      return null;
    }
    return view(1, "dx").asFloatBuffer();
  }

  /** xsum = sum x_q: columns doubles. */
  public DoubleBuffer xsum() {
    return view(2, "xsum").asDoubleBuffer();
  }

  /** The token count. */
  public double tokens() {
    return view(3, "tokens").getDouble(0);
  }

  /** Set the token count (e.g. to the all-reduced sum). */
  public void setTokens(double tokens) {
    view(3, "tokens").putDouble(0, tokens);
  }

  /**
   * Declare the buffers modified and end the session: xx is made exactly symmetric and the
   * sums are checked (finite, tokens &gt;= 0, diag(xx) &gt;= 0). On failure the statistics
   * stay as written (reset or load good ones) and the session still ends.
   */
  public void commit() {
    if (!open) throw new IllegalStateException("the statistics buffers are closed");
    SWIGTYPE_p_gptaq_ctx c = q.enterAny();
    try {
      open = false;
      q.openBuffers = null;
      q.check(GptaqSwig.gptaq_stats_commit(c), c);
    } finally {
      q.exit();
    }
  }

  /** Commit if not yet committed. */
  @Override
  public void close() {
    if (open) commit();
  }
}
