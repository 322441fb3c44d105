package org.gptaq;

import java.nio.Buffer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.lang.ref.Cleaner;
import java.util.concurrent.locks.ReentrantLock;
import org.gptaq.swig.GptaqSwig;
import org.gptaq.swig.SWIGTYPE_p_gptaq_ctx;
import org.gptaq.swig.SWIGTYPE_p_p_gptaq_ctx;
import org.gptaq.swig.gptaq_config;
import org.gptaq.swig.gptaq_solve_info;

/**
 * Calibration statistics of one layer input plus the solver (a native gptaq_ctx).
 *
 * <pre>{@code
 * try (Quantizer q = new Quantizer(4096, new Config().method(Method.GPTAQ).actOrder(true))) {
 *   for (...) q.addBatch(xQ, xFp);          // tokens x 4096, row-major
 *   QuantResult r = q.solve(weight, rows);  // rows x 4096, row-major
 * }
 * }</pre>
 *
 * <p>Batches are row-major tokens x columns: {@code float[]} (f32), {@code short[]}
 * (f16/bf16 bit patterns), or direct NIO buffers in native byte order, which are read in
 * place (no copy). Every library error throws {@link GptaqException} with the library's
 * status and message; misuse found before the call (closed quantizer, heap buffer) throws
 * {@link IllegalStateException} / {@link IllegalArgumentException}.
 *
 * <p>Statistics (distributed calibration, checkpoints of the sums): {@link #stats()}
 * ({@code q.stats().serialize()}, {@code save(path)}, {@code load}, {@code buffers()},
 * {@code imatrix()}) and {@link #merge(Quantizer)}. Long calls report progress and can be
 * cancelled through a {@link ProgressListener}; log messages go to a {@link LogListener}.
 *
 * <p>CONCURRENCY: a Quantizer is not thread-safe, and it does not wait: a call made while
 * another thread is inside a call on the same Quantizer throws {@link GptaqException} with
 * {@link Status#BUSY} at once (as the C library does; the Python, Go and Rust bindings
 * behave the same). Use one Quantizer per thread, or serialize the calls yourself.
 * Different Quantizers may be used from different threads at the same time.
 *
 * <p>Close it (try-with-resources) to free the native memory; a Quantizer that becomes
 * unreachable unclosed is freed by a {@link Cleaner} as a safety net, at a time the
 * garbage collector chooses (a Quantizer with a listener set stays reachable from the
 * native side until it is closed or the listener cleared).
 */
public final class Quantizer implements AutoCloseable {
  static {
    NativeLoader.load();
  }

  private static final Cleaner CLEANER = Cleaner.create();

  /** The native handle and callback registrations; freed once, by close() or the Cleaner. */
  private static final class Handle implements Runnable {
    volatile SWIGTYPE_p_gptaq_ctx ctx;
    long progressReg, logReg;

    Handle(SWIGTYPE_p_gptaq_ctx ctx) {
      this.ctx = ctx;
    }

    @Override
    public synchronized void run() {
      SWIGTYPE_p_gptaq_ctx c = ctx;
      ctx = null;
      if (c != null) GptaqSwig.gptaq_ctx_free(c);
      // after the context: nothing can call the callbacks any more
      GptaqSwig.gptaq_java_callback_free(progressReg);
      GptaqSwig.gptaq_java_callback_free(logReg);
      progressReg = logReg = 0;
    }
  }

  private final ReentrantLock lock = new ReentrantLock();
  private final long columns;
  private final Handle handle;
  private final Cleaner.Cleanable cleanable;
  private CallbackBridge progressBridge, logBridge;
  /** The open statistics-buffer session, if any (every other call waits for its commit). */
  StatsBuffers openBuffers;

  /** A quantizer for inputs of width {@code columns} with the library's defaults. */
  public Quantizer(long columns) {
    this(columns, new Config());
  }

  /** A quantizer for inputs of width {@code columns} (in_features) with {@code config}. */
  public Quantizer(long columns, Config config) {
    if (config == null) throw new NullPointerException("config is null");
    gptaq_config c = config.toNative();
    SWIGTYPE_p_p_gptaq_ctx pp = GptaqSwig.new_gptaq_ctx_pp();
    try {
      int st = GptaqSwig.gptaq_ctx_create(pp, columns, c);
      Gptaq.check(st, null);
      handle = new Handle(GptaqSwig.gptaq_ctx_pp_value(pp));
    } finally {
      GptaqSwig.delete_gptaq_ctx_pp(pp);
      c.delete();
    }
    cleanable = CLEANER.register(this, handle);
    this.columns = columns;
  }

  // ---- lifetime ----

  /** Free the native context. Idempotent; later calls throw IllegalStateException. */
  @Override
  public void close() {
    if (lock.isHeldByCurrentThread())
      throw new GptaqException(Status.BUSY, "cannot close the Quantizer from inside one of its calls (a listener)");
    if (!lock.tryLock())
      throw new GptaqException(Status.BUSY, "cannot close the Quantizer while another thread uses it");
    try {
      if (openBuffers != null)
        throw new IllegalStateException("cannot close the Quantizer while its statistics buffers are open: close them first");
      cleanable.clean(); // frees the handle once
    } finally {
      lock.unlock();
    }
  }

  public boolean isClosed() {
    return handle.ctx == null;
  }

  /** Take the lock (or throw BUSY) and the live handle; the caller unlocks. */
  SWIGTYPE_p_gptaq_ctx enter() {
    SWIGTYPE_p_gptaq_ctx c = enterAny();
    if (openBuffers != null) {
      lock.unlock();
      throw new IllegalStateException("the Quantizer's statistics buffers are open: commit or close them first");
    }
    return c;
  }

  /** enter() without the open-buffers check (for the buffers' own commit). */
  SWIGTYPE_p_gptaq_ctx enterAny() {
    if (lock.isHeldByCurrentThread())
      throw new GptaqException(Status.BUSY, "the Quantizer is inside a call on this thread "
          + "(a listener must not call back into its own Quantizer)");
    if (!lock.tryLock())
      throw new GptaqException(Status.BUSY, "the Quantizer is being used by another thread at the same time");
    SWIGTYPE_p_gptaq_ctx c = handle.ctx;
    if (c == null) {
      lock.unlock();
      throw new IllegalStateException("the Quantizer is closed");
    }
    return c;
  }

  void exit() {
    lock.unlock();
  }

  /**
   * After a native call on this context: rethrow what a listener threw during it (the
   * call's own error attached as suppressed), else throw for a failed status.
   */
  void check(int status, SWIGTYPE_p_gptaq_ctx c) {
    Throwable t = null;
    for (CallbackBridge b : new CallbackBridge[] {progressBridge, logBridge}) {
      if (b != null && b.pending != null) {
        if (t == null) t = b.pending;
        else if (t != b.pending) t.addSuppressed(b.pending);
        b.pending = null;
      }
    }
    if (t != null) {
      if (status != 0) t.addSuppressed(new GptaqException(status, GptaqSwig.gptaq_swig_errmsg(c, status)));
      throw Quantizer.<RuntimeException>sneaky(t);
    }
    Gptaq.check(status, c);
  }

  @SuppressWarnings("unchecked")
  private static <T extends Throwable> T sneaky(Throwable t) throws T {
    throw (T) t;
  }

  // ---- progress, cancellation and logs ----

  /**
   * Report progress of the long calls on this Quantizer to {@code listener} and let it
   * cancel them (see {@link ProgressListener}); null removes it. The native side holds the
   * listener until it is replaced or the Quantizer is closed.
   */
  public void setProgressListener(ProgressListener listener) {
    SWIGTYPE_p_gptaq_ctx c = enter();
    try {
      CallbackBridge b = listener == null ? null : new CallbackBridge(listener, null);
      long[] reg = new long[1];
      Gptaq.check(GptaqSwig.gptaq_java_set_callback(c, 0, b, reg), c);
      GptaqSwig.gptaq_java_callback_free(handle.progressReg);
      handle.progressReg = reg[0];
      progressBridge = b;
    } finally {
      lock.unlock();
    }
  }

  /** Send the library's log messages for this Quantizer to {@code listener}; null removes it. */
  public void setLogListener(LogListener listener) {
    SWIGTYPE_p_gptaq_ctx c = enter();
    try {
      CallbackBridge b = listener == null ? null : new CallbackBridge(null, listener);
      long[] reg = new long[1];
      Gptaq.check(GptaqSwig.gptaq_java_set_callback(c, 1, b, reg), c);
      GptaqSwig.gptaq_java_callback_free(handle.logReg);
      handle.logReg = reg[0];
      logBridge = b;
    } finally {
      lock.unlock();
    }
  }

  /**
   * CUDA backend only: enqueue the context's work on the CUDA stream at this address (a
   * cudaStream_t); 0 = the context's own stream. Throws UNSUPPORTED on the CPU backend
   * unless the address is 0.
   */
  public void setCudaStream(long streamAddress) {
    SWIGTYPE_p_gptaq_ctx c = enter();
    try {
      Gptaq.check(GptaqSwig.gptaq_ctx_set_stream(c, streamAddress), c);
    } finally {
      lock.unlock();
    }
  }

  // ---- statistics ----

  /** The statistics of this Quantizer: save/load, serialize, buffers, imatrix. */
  public Statistics stats() {
    return new Statistics(this);
  }

  /**
   * Add the statistics of {@code src} into this Quantizer's (token counts too); src is
   * unchanged. Both need the same columns and method family (GPTAQ or not). BUSY when
   * either is in use by another thread.
   */
  public void merge(Quantizer src) {
    if (src == null) throw new NullPointerException("src is null");
    if (src == this) throw new GptaqException(Status.INVALID_ARGUMENT, "cannot merge a Quantizer into itself");
    SWIGTYPE_p_gptaq_ctx c = enter();
    try {
      SWIGTYPE_p_gptaq_ctx s = src.enter();
      try {
        check(GptaqSwig.gptaq_stats_merge(c, s), c);
      } finally {
        src.exit();
      }
    } finally {
      lock.unlock();
    }
  }

  // ---- information and configuration ----

  /** The input width (in_features). */
  public long columns() {
    return columns;
  }

  /** Tokens accumulated so far (masked-out tokens not counted). */
  public long numTokens() {
    SWIGTYPE_p_gptaq_ctx c = enter();
    try {
      return GptaqSwig.gptaq_ctx_num_tokens(c);
    } finally {
      lock.unlock();
    }
  }

  /** The backend the context actually runs on. */
  public Backend backend() {
    SWIGTYPE_p_gptaq_ctx c = enter();
    try {
      return Backend.of(GptaqSwig.gptaq_ctx_backend(c));
    } finally {
      lock.unlock();
    }
  }

  /** The context's configuration (a fresh copy). */
  public Config config() {
    SWIGTYPE_p_gptaq_ctx c = enter();
    try {
      return readConfig(c);
    } finally {
      lock.unlock();
    }
  }

  private static Config readConfig(SWIGTYPE_p_gptaq_ctx c) {
    gptaq_config nc = new gptaq_config();
    try {
      Gptaq.check(GptaqSwig.gptaq_ctx_get_config(c, nc), c);
      Config out = new Config();
      out.read(nc);
      return out;
    } finally {
      nc.delete();
    }
  }

  /**
   * Replace the configuration, keeping the statistics (e.g. solve the same layer at
   * other bits). Backend, device and GPTAQ-vs-others cannot change; on error the old
   * configuration stays.
   */
  public void setConfig(Config config) {
    if (config == null) throw new NullPointerException("config is null");
    SWIGTYPE_p_gptaq_ctx c = enter();
    gptaq_config nc = config.toNative();
    try {
      Gptaq.check(GptaqSwig.gptaq_ctx_set_config(c, nc), c);
    } finally {
      nc.delete();
      lock.unlock();
    }
  }

  /** Forget all statistics. */
  public void reset() {
    SWIGTYPE_p_gptaq_ctx c = enter();
    try {
      Gptaq.check(GptaqSwig.gptaq_ctx_reset(c), c);
    } finally {
      lock.unlock();
    }
  }

  // ---- calibration ----

  private long tokensOf(long length, String name) {
    if (length % columns != 0)
      throw new GptaqException(Status.SHAPE, name + " has " + length
          + " elements, not a multiple of columns = " + columns + " (row-major tokens x columns)");
    return length / columns;
  }

  private static void sameLength(long a, long b) {
    if (a != b)
      throw new GptaqException(Status.SHAPE, "xFp has " + b + " elements but xQ has " + a);
  }

  private static void maskLength(long mask, long tokens) {
    if (mask != tokens)
      throw new GptaqException(Status.SHAPE, "mask has " + mask + " entries; expected one per token (" + tokens + ")");
  }

  /** Accumulate a batch the layer sees (GPTQ / RTN). */
  public void addBatch(float[] xQ) {
    addBatch(xQ, null, null);
  }

  /**
   * Accumulate one f32 batch. {@code xQ}: the input the layer sees (earlier layers
   * quantized); {@code xFp}: the full-precision model's input at the same positions,
   * required for GPTAQ and null otherwise. A NaN/Inf rejects the whole batch
   * (GptaqException NON_FINITE) and leaves the statistics unchanged.
   */
  public void addBatch(float[] xQ, float[] xFp) {
    addBatch(xQ, xFp, null);
  }

  /** As {@link #addBatch(float[], float[])}, with a per-token mask (0 = padding, left out). */
  public void addBatch(float[] xQ, float[] xFp, byte[] mask) {
    if (xQ == null) throw new NullPointerException("xQ is null");
    long tokens = tokensOf(xQ.length, "xQ");
    if (xFp != null) sameLength(xQ.length, xFp.length);
    if (mask != null) maskLength(mask.length, tokens);
    SWIGTYPE_p_gptaq_ctx c = enter();
    try {
      check(GptaqSwig.gptaq_java_add_batch_f32(c, xQ, xFp, tokens, mask), c);
    } finally {
      lock.unlock();
    }
  }

  /** Accumulate one batch of f16 or bf16 bit patterns ({@code dtype} F16 or BF16). */
  public void addBatch(short[] xQ, short[] xFp, DType dtype) {
    addBatch(xQ, xFp, dtype, null);
  }

  /** As {@link #addBatch(short[], short[], DType)}, with a per-token mask (0 = padding). */
  public void addBatch(short[] xQ, short[] xFp, DType dtype, byte[] mask) {
    if (xQ == null) throw new NullPointerException("xQ is null");
    halfType(dtype, "short[] batches");
    long tokens = tokensOf(xQ.length, "xQ");
    if (xFp != null) sameLength(xQ.length, xFp.length);
    if (mask != null) maskLength(mask.length, tokens);
    SWIGTYPE_p_gptaq_ctx c = enter();
    try {
      check(GptaqSwig.gptaq_java_add_batch_u16(c, xQ, xFp, tokens, dtype.code(), mask), c);
    } finally {
      lock.unlock();
    }
  }

  /** Accumulate one f32 batch from direct buffers (read in place, from their positions). */
  public void addBatch(FloatBuffer xQ, FloatBuffer xFp) {
    addBatchDirect(xQ, xFp, DType.F32, null);
  }

  /** Accumulate one f16/bf16 batch from direct buffers (read in place). */
  public void addBatch(ShortBuffer xQ, ShortBuffer xFp, DType dtype) {
    halfType(dtype, "ShortBuffer batches");
    addBatchDirect(xQ, xFp, dtype, null);
  }

  /**
   * The general direct form: {@code xQ}/{@code xFp} are direct FloatBuffers (F32) or
   * ShortBuffers (F16/BF16) in native byte order; {@code mask} a direct ByteBuffer of one
   * byte per token, or null. The remaining elements from each position are used.
   */
  public void addBatchDirect(Buffer xQ, Buffer xFp, DType dtype, ByteBuffer mask) {
    if (xQ == null) throw new NullPointerException("xQ is null");
    if (dtype == null) throw new NullPointerException("dtype is null");
    if (dtype != DType.F32) halfType(dtype, "batches");
    Buffer q = direct(xQ, dtype, "xQ");
    Buffer fp = xFp == null ? null : direct(xFp, dtype, "xFp");
    long tokens = tokensOf(q.remaining(), "xQ");
    if (fp != null) sameLength(q.remaining(), fp.remaining());
    ByteBuffer m = null;
    if (mask != null) {
      if (!mask.isDirect()) throw new IllegalArgumentException("mask must be a direct ByteBuffer");
      m = mask.slice();
      maskLength(m.remaining(), tokens);
    }
    SWIGTYPE_p_gptaq_ctx c = enter();
    try {
      check(GptaqSwig.gptaq_add_batch_masked(c, q, fp, tokens, dtype.code(), m), c);
    } finally {
      lock.unlock();
    }
  }

  private static void halfType(DType dtype, String what) {
    if (dtype == null) throw new NullPointerException("dtype is null");
    if (!dtype.isHalf())
      throw new IllegalArgumentException(what + " hold F16 or BF16 bits, not " + dtype);
  }

  /** A direct, native-order view starting at the buffer's position (no copy). */
  private static Buffer direct(Buffer b, DType dtype, String name) {
    if (!b.isDirect())
      throw new IllegalArgumentException(name + " must be a direct buffer (ByteBuffer.allocateDirect(...)"
          + ".order(ByteOrder.nativeOrder()).as...Buffer()); use the array overloads for heap data");
    if (dtype == DType.F32) {
      if (!(b instanceof FloatBuffer)) throw new IllegalArgumentException(name + " must be a FloatBuffer for F32");
      FloatBuffer f = (FloatBuffer) b;
      if (f.order() != ByteOrder.nativeOrder()) throw new IllegalArgumentException(name + " is not in native byte order");
      return f.slice();
    }
    if (!(b instanceof ShortBuffer)) throw new IllegalArgumentException(name + " must be a ShortBuffer for " + dtype);
    ShortBuffer s = (ShortBuffer) b;
    if (s.order() != ByteOrder.nativeOrder()) throw new IllegalArgumentException(name + " is not in native byte order");
    return s.slice();
  }

  // ---- solving ----

  /** Quantize a row-major rows x columns weight with the uniform grid (and dequant). */
  public QuantResult solve(float[] weight, long rows) {
    return solve(weight, rows, true);
  }

  /**
   * Quantize one weight (row-major rows x columns) against the statistics with the
   * uniform grid; {@code withDequant} false skips the dequantized weight. The
   * factorization is cached for later solves until a batch is added or the config changes.
   */
  public QuantResult solve(float[] weight, long rows, boolean withDequant) {
    if (weight == null) throw new NullPointerException("weight is null");
    return (QuantResult) solveAny(weight, null, rows, weight.length, withDequant, false);
  }

  /** As {@link #solve(float[], long)} with the weight in a direct FloatBuffer (read in place). */
  public QuantResult solve(FloatBuffer weight, long rows) {
    if (weight == null) throw new NullPointerException("weight is null");
    FloatBuffer w = (FloatBuffer) direct(weight, DType.F32, "weight");
    return (QuantResult) solveAny(null, w, rows, w.remaining(), true, false);
  }

  /** Quantize one weight with the GPTQT binary-coding quantizer (config quantizer BINARY). */
  public BinaryResult solveBinary(float[] weight, long rows) {
    if (weight == null) throw new NullPointerException("weight is null");
    return (BinaryResult) solveAny(weight, null, rows, weight.length, true, true);
  }

  /** As {@link #solveBinary(float[], long)} with the weight in a direct FloatBuffer. */
  public BinaryResult solveBinary(FloatBuffer weight, long rows) {
    if (weight == null) throw new NullPointerException("weight is null");
    FloatBuffer w = (FloatBuffer) direct(weight, DType.F32, "weight");
    return (BinaryResult) solveAny(null, w, rows, w.remaining(), true, true);
  }

  private SolveResult solveAny(float[] wa, FloatBuffer wb, long rows, long length,
      boolean withDequant, boolean binary) {
    if (rows > 0 && (rows > Integer.MAX_VALUE || length != rows * columns))
      throw new GptaqException(Status.SHAPE, "weight has " + length + " elements; expected rows x columns = "
          + rows + " x " + columns);
    long safeRows = Math.max(rows, 0);
    long cells = safeRows * columns;
    if (cells > Integer.MAX_VALUE - 8)
      throw new GptaqException(Status.SHAPE, "rows x columns = " + cells + " exceeds a Java array");
    SWIGTYPE_p_gptaq_ctx c = enter();
    gptaq_solve_info info = new gptaq_solve_info();
    try {
      Config cfg = readConfig(c);
      long g = Math.max(GptaqSwig.gptaq_num_groups(columns, cfg.groupSize()), 0);
      int k = cfg.bits();
      long params = safeRows * g * (binary ? Math.max(k, 1) : 1);
      if (params > Integer.MAX_VALUE - 8)
        throw new GptaqException(Status.SHAPE, "rows x groups = " + params + " exceeds a Java array");
      byte[] codes = new byte[(int) cells];
      int[] gIdx = new int[(int) columns];
      float[] dq = withDequant ? new float[(int) cells] : null;
      int st;
      if (binary) {
        float[] alpha = new float[(int) params];
        float[] bias = new float[(int) (safeRows * g)];
        st = wa != null
            ? GptaqSwig.gptaq_solve_binary(c, wa, rows, columns, codes, alpha, bias, gIdx, dq, info)
            : GptaqSwig.gptaq_java_solve_binary_direct(c, wb, rows, columns, codes, alpha, bias, gIdx, dq, info);
        check(st, c);
        return new BinaryResult(codes, alpha, bias, k, gIdx, dq, rows, columns, cfg.groupSize(), info);
      }
      float[] scales = new float[(int) params];
      float[] zeros = new float[(int) params];
      st = wa != null
          ? GptaqSwig.gptaq_solve(c, wa, rows, columns, codes, scales, zeros, gIdx, dq, info)
          : GptaqSwig.gptaq_java_solve_direct(c, wb, rows, columns, codes, scales, zeros, gIdx, dq, info);
      check(st, c);
      return new QuantResult(codes, scales, zeros, gIdx, dq, rows, columns, k, cfg.groupSize(), info);
    } finally {
      info.delete();
      lock.unlock();
    }
  }

  @Override
  public String toString() {
    if (handle.ctx == null) return "Quantizer[closed]";
    return "Quantizer[columns=" + columns + ", tokens=" + numTokens() + ", " + config() + "]";
  }
}
