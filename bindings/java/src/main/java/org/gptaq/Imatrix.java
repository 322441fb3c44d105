package org.gptaq;

import java.lang.ref.Cleaner;
import java.nio.file.Path;
import org.gptaq.swig.GptaqSwig;
import org.gptaq.swig.SWIGTYPE_p_gptaq_ctx;
import org.gptaq.swig.SWIGTYPE_p_gptaq_imatrix;
import org.gptaq.swig.SWIGTYPE_p_p_gptaq_imatrix;

/**
 * A llama.cpp importance matrix: entries by GGUF weight name ("blk.0.attn_q.weight"),
 * written as a GGUF imatrix or a legacy imatrix.dat. Calls are serialized (thread-safe); close it.
 *
 * <pre>{@code
 * try (Imatrix im = new Imatrix()) {
 *   im.add("blk.0.attn_q.weight", quantizer);   // q/k/v may share one Quantizer
 *   im.addDataset("calibration.txt");
 *   im.save(Paths.get("imatrix.gguf"), ImatrixFormat.GGUF);
 * }
 * }</pre>
 */
public final class Imatrix implements AutoCloseable {
  private static final Cleaner CLEANER = Cleaner.create();

  private static final class Handle implements Runnable {
    volatile SWIGTYPE_p_gptaq_imatrix im;

    @Override
    public void run() {
      SWIGTYPE_p_gptaq_imatrix x = im;
      im = null;
      if (x != null) GptaqSwig.gptaq_imatrix_free(x);
    }
  }

  private final Handle handle = new Handle();
  private final Cleaner.Cleanable cleanable;

  /** An empty collection (chunk size 512, no datasets). */
  public Imatrix() {
    NativeLoader.load();
    SWIGTYPE_p_p_gptaq_imatrix pp = GptaqSwig.new_gptaq_java_imatrix_pp();
    try {
      Gptaq.check(GptaqSwig.gptaq_imatrix_create(pp), null);
      handle.im = GptaqSwig.gptaq_java_imatrix_pp_value(pp);
    } finally {
      GptaqSwig.delete_gptaq_java_imatrix_pp(pp);
    }
    cleanable = CLEANER.register(this, handle);
  }

  private SWIGTYPE_p_gptaq_imatrix im() {
    SWIGTYPE_p_gptaq_imatrix im = handle.im;
    if (im == null) throw new IllegalStateException("the Imatrix is closed");
    return im;
  }

  /**
   * Add one weight's statistics: {@code inSum2} nMat x nPerRow (sum of x_j^2 per input
   * column, nMat &gt; 1 for stacked experts), {@code counts} nMat token counts. Adding a
   * name again sums into it (shapes must match).
   */
  public synchronized Imatrix add(String name, long nPerRow, int nMat, float[] inSum2, float[] counts) {
    Checks.nonNull(name, "name");
    Checks.nonNull(inSum2, "inSum2");
    Checks.nonNull(counts, "counts");
    if (nPerRow < 1 || nMat < 1)
      throw new GptaqException(Status.INVALID_ARGUMENT, "nPerRow = " + nPerRow + " and nMat = " + nMat + " must be >= 1");
    Checks.length(inSum2.length, nPerRow * nMat, "inSum2");
    Checks.length(counts.length, nMat, "counts");
    Gptaq.check(GptaqSwig.gptaq_imatrix_add(im(), name, nPerRow, nMat, inSum2, counts), null);
    return this;
  }

  /** Add a Quantizer's statistics (the diagonal of its sums and its token count) under {@code name}. */
  public synchronized Imatrix add(String name, Quantizer q) {
    Checks.nonNull(name, "name");
    Checks.nonNull(q, "quantizer");
    SWIGTYPE_p_gptaq_imatrix im = im();
    SWIGTYPE_p_gptaq_ctx c = q.enter();
    try {
      q.check(GptaqSwig.gptaq_imatrix_add_ctx(im, name, c), null);
    } finally {
      q.exit();
    }
    return this;
  }

  /** Append a dataset name to imatrix.datasets. */
  public synchronized Imatrix addDataset(String dataset) {
    Checks.nonNull(dataset, "dataset");
    Gptaq.check(GptaqSwig.gptaq_imatrix_add_dataset(im(), dataset), null);
    return this;
  }

  /** Tokens per chunk (llama-imatrix's n_ctx), &gt;= 1; default 512. */
  public synchronized Imatrix setChunkSize(int chunkSize) {
    Gptaq.check(GptaqSwig.gptaq_imatrix_set_chunk_size(im(), chunkSize), null);
    return this;
  }

  /** Write the collection. */
  public synchronized void save(Path path, ImatrixFormat format) {
    Checks.nonNull(path, "path");
    Checks.nonNull(format, "format");
    Gptaq.check(GptaqSwig.gptaq_imatrix_save(im(), path.toString(), format.code()), null);
  }

  /** Free the collection; idempotent. */
  @Override
  public synchronized void close() {
    cleanable.clean();
  }
}
