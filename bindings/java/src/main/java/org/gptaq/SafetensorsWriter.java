package org.gptaq;

import java.lang.ref.Cleaner;
import java.nio.file.Path;
import org.gptaq.swig.GptaqSwig;
import org.gptaq.swig.SWIGTYPE_p_gptaq_safetensors_writer;
import org.gptaq.swig.SWIGTYPE_p_p_gptaq_safetensors_writer;

/**
 * Collects tensors (copying their bytes) and metadata, then writes a .safetensors file in
 * one go ({@link #save}, through a temporary file renamed into place). Tensors are stored
 * in the order added. Calls are serialized (thread-safe); close it (try-with-resources).
 *
 * <pre>{@code
 * try (SafetensorsWriter w = new SafetensorsWriter()) {
 *   w.add("layer.weight", new long[] {rows, cols}, floats);
 *   w.setMetadata("format", "pt");
 *   w.save(Paths.get("model.safetensors"));
 * }
 * }</pre>
 */
public final class SafetensorsWriter implements AutoCloseable {
  private static final Cleaner CLEANER = Cleaner.create();

  private static final class Handle implements Runnable {
    volatile SWIGTYPE_p_gptaq_safetensors_writer w;

    @Override
    public void run() {
      SWIGTYPE_p_gptaq_safetensors_writer x = w;
      w = null;
      if (x != null) GptaqSwig.gptaq_safetensors_writer_free(x);
    }
  }

  private final Handle handle = new Handle();
  private final Cleaner.Cleanable cleanable;

  /** An empty writer. */
  public SafetensorsWriter() {
    NativeLoader.load();
    SWIGTYPE_p_p_gptaq_safetensors_writer pp = GptaqSwig.new_gptaq_java_st_writer_pp();
    try {
      Gptaq.check(GptaqSwig.gptaq_safetensors_writer_create(pp), null);
      handle.w = GptaqSwig.gptaq_java_st_writer_pp_value(pp);
    } finally {
      GptaqSwig.delete_gptaq_java_st_writer_pp(pp);
    }
    cleanable = CLEANER.register(this, handle);
  }

  private SWIGTYPE_p_gptaq_safetensors_writer w() {
    SWIGTYPE_p_gptaq_safetensors_writer w = handle.w;
    if (w == null) throw new IllegalStateException("the SafetensorsWriter is closed");
    return w;
  }

  /** Bytes per element of a safetensors dtype name, or -1 if unknown. */
  static int dtypeSize(String dtype) {
    switch (dtype) {
      case "F64": case "I64": case "U64": return 8;
      case "F32": case "I32": case "U32": return 4;
      case "F16": case "BF16": case "I16": case "U16": return 2;
      case "I8": case "U8": case "BOOL": case "F8_E4M3": case "F8_E5M2": return 1;
      default: return -1;
    }
  }

  /**
   * Add a tensor from its raw little-endian bytes: {@code dtype} a safetensors dtype name
   * ("F32", "F16", "BF16", "I32", "U8", ...), {@code shape} up to 8 dimensions (empty = a
   * scalar), {@code data} exactly elements x dtype size bytes.
   */
  public synchronized SafetensorsWriter add(String name, String dtype, long[] shape, byte[] data) {
    Checks.nonNull(name, "name");
    Checks.nonNull(dtype, "dtype");
    Checks.nonNull(data, "data");
    int es = dtypeSize(dtype);
    if (es < 0)
      throw new IllegalArgumentException("dtype \"" + dtype + "\" is not a safetensors dtype "
          + "(F64 F32 F16 BF16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL F8_E4M3 F8_E5M2)");
    long n = Bytes.elements(shape, 8);
    if (n > Long.MAX_VALUE / es || data.length != n * es)
      throw new GptaqException(Status.SHAPE, "tensor " + name + ": data has " + data.length
          + " bytes; the shape and " + dtype + " need " + (n * es));
    Gptaq.check(GptaqSwig.gptaq_java_st_add(w(), name, dtype, shape.length, shape, data), null);
    return this;
  }

  /** Add an F32 tensor. */
  public synchronized SafetensorsWriter add(String name, long[] shape, float[] data) {
    Checks.nonNull(data, "data");
    return add(name, "F32", shape, Bytes.of(data));
  }

  /** Add an I32 tensor. */
  public synchronized SafetensorsWriter add(String name, long[] shape, int[] data) {
    Checks.nonNull(data, "data");
    return add(name, "I32", shape, Bytes.of(data));
  }

  /** Add an F16 or BF16 tensor of bit patterns. */
  public synchronized SafetensorsWriter add(String name, DType dtype, long[] shape, short[] data) {
    Checks.nonNull(dtype, "dtype");
    Checks.nonNull(data, "data");
    if (!dtype.isHalf()) throw new IllegalArgumentException("short[] tensors hold F16 or BF16 bits, not " + dtype);
    return add(name, dtype == DType.F16 ? "F16" : "BF16", shape, Bytes.of(data));
  }

  /** Set a __metadata__ entry (replacing an earlier value); transformers expects format=pt. */
  public synchronized SafetensorsWriter setMetadata(String key, String value) {
    Checks.nonNull(key, "key");
    Checks.nonNull(value, "value");
    Gptaq.check(GptaqSwig.gptaq_safetensors_writer_set_metadata(w(), key, value), null);
    return this;
  }

  /** Write everything added so far to {@code path}; the writer stays usable. */
  public synchronized void save(Path path) {
    Checks.nonNull(path, "path");
    Gptaq.check(GptaqSwig.gptaq_safetensors_writer_save(w(), path.toString()), null);
  }

  /** Free the writer; idempotent. */
  @Override
  public synchronized void close() {
    cleanable.clean();
  }
}
