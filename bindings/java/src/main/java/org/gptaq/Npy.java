package org.gptaq;

import java.lang.ref.Cleaner;
import java.nio.file.Path;
import org.gptaq.swig.GptaqSwig;
import org.gptaq.swig.SWIGTYPE_p_gptaq_npy_reader;
import org.gptaq.swig.SWIGTYPE_p_p_gptaq_npy_reader;

/**
 * NumPy .npy files through the library's reader and writer: 2-D (or 1-D, seen as 1 x n)
 * C-order arrays of f32, f16, u8 or i32.
 *
 * <pre>{@code
 * NpyArray w = Npy.read(Paths.get("W.npy"));          // w.f32(), w.rows, w.cols
 * Npy.write(Paths.get("codes.npy"), new long[] {rows, cols}, result.codes, DType.U8);
 * try (Npy.Reader r = Npy.open(Paths.get("X.npy"))) {  // stream big files
 *   for (NpyArray chunk; (chunk = r.readRows(256)) != null; ) q.addBatch(chunk.f32());
 * }
 * }</pre>
 */
public final class Npy {
  static {
    NativeLoader.load();
  }

  private Npy() {}

  /** Read a whole file. */
  public static NpyArray read(Path path) {
    try (Reader r = open(path)) {
      NpyArray a = r.readRows(Math.max(r.rows(), 1));
      return a != null ? a : new NpyArray(r.dtype(), 0, r.cols(), new byte[0]);
    }
  }

  /** Open a file for reading in chunks of rows. */
  public static Reader open(Path path) {
    return new Reader(path);
  }

  /** A streaming reader (calls are serialized); close it. */
  public static final class Reader implements AutoCloseable {
    private static final Cleaner CLEANER = Cleaner.create();

    private static final class Handle implements Runnable {
      volatile SWIGTYPE_p_gptaq_npy_reader r;

      @Override
      public void run() {
        SWIGTYPE_p_gptaq_npy_reader x = r;
        r = null;
        if (x != null) GptaqSwig.gptaq_npy_close(x);
      }
    }

    private final Handle handle = new Handle();
    private final Cleaner.Cleanable cleanable;
    private final DType dtype;
    private final long rows, cols;

    Reader(Path path) {
      Checks.nonNull(path, "path");
      SWIGTYPE_p_p_gptaq_npy_reader pp = GptaqSwig.new_gptaq_npy_reader_pp();
      try {
        Gptaq.check(GptaqSwig.gptaq_npy_open(pp, path.toString()), null);
        handle.r = GptaqSwig.gptaq_npy_reader_pp_value(pp);
      } finally {
        GptaqSwig.delete_gptaq_npy_reader_pp(pp);
      }
      cleanable = CLEANER.register(this, handle);
      int[] dt = new int[1];
      long[] r = new long[1], c = new long[1];
      Gptaq.check(GptaqSwig.gptaq_npy_info(handle.r, dt, r, c), null);
      dtype = DType.of(dt[0]);
      rows = r[0];
      cols = c[0];
    }

    public DType dtype() {
      return dtype;
    }

    public long rows() {
      return rows;
    }

    public long cols() {
      return cols;
    }

    /** The next up-to {@code maxRows} rows, or null at the end of the file. */
    public synchronized NpyArray readRows(long maxRows) {
      SWIGTYPE_p_gptaq_npy_reader r = handle.r;
      if (r == null) throw new IllegalStateException("the Npy.Reader is closed");
      if (maxRows < 1) throw new IllegalArgumentException("maxRows = " + maxRows + " must be >= 1");
      long want = Math.min(maxRows, Math.max(rows, 1));
      byte[] buf = new byte[Checks.cells(want * cols, dtype.size(), "the chunk's bytes")];
      long[] got = new long[1];
      Gptaq.check(GptaqSwig.gptaq_java_npy_read_rows(r, buf, want, got), null);
      if (got[0] == 0) return null;
      int used = (int) (got[0] * cols * dtype.size());
      return new NpyArray(dtype, got[0], cols, used == buf.length ? buf : java.util.Arrays.copyOf(buf, used));
    }

    /** Close the file; idempotent. */
    @Override
    public synchronized void close() {
      cleanable.clean();
    }
  }

  private static void write(Path path, DType dtype, long[] shape, byte[] bytes, int length) {
    Checks.nonNull(path, "path");
    long n = Bytes.elements(shape, 8);
    if (shape.length < 1) throw new GptaqException(Status.INVALID_ARGUMENT, "shape needs 1..8 dimensions");
    if (n != length)
      throw new GptaqException(Status.SHAPE, "data has " + length + " elements; the shape has " + n);
    Gptaq.check(GptaqSwig.gptaq_java_npy_write(path.toString(), dtype.code(), shape.length, shape, bytes), null);
  }

  /** Write an f32 array of {@code shape} (1..8 dimensions, C order). */
  public static void write(Path path, long[] shape, float[] data) {
    Checks.nonNull(data, "data");
    write(path, DType.F32, shape, Bytes.of(data), data.length);
  }

  /** Write an i32 array. */
  public static void write(Path path, long[] shape, int[] data) {
    Checks.nonNull(data, "data");
    write(path, DType.I32, shape, Bytes.of(data), data.length);
  }

  /**
   * Write a short[] array as F16 bit patterns ({@code dtype} F16) or as U8 values 0..255
   * ({@code dtype} U8, e.g. {@link SolveResult#codes}).
   */
  public static void write(Path path, long[] shape, short[] data, DType dtype) {
    Checks.nonNull(data, "data");
    Checks.nonNull(dtype, "dtype");
    if (dtype == DType.U8) write(path, DType.U8, shape, SolveResult.narrow(data, "data"), data.length);
    else if (dtype == DType.F16) write(path, DType.F16, shape, Bytes.of(data), data.length);
    else throw new IllegalArgumentException("short[] data is written as F16 or U8, not " + dtype);
  }
}
