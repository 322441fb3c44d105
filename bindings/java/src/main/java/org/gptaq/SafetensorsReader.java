package org.gptaq;

import java.lang.ref.Cleaner;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.gptaq.swig.GptaqSwig;
import org.gptaq.swig.SWIGTYPE_p_gptaq_safetensors;
import org.gptaq.swig.SWIGTYPE_p_p_gptaq_safetensors;

/**
 * A validated .safetensors file: the whole header is checked on open (the file is
 * untrusted; a malformed one is GptaqException FORMAT naming the problem), tensor data is
 * read on request. Calls are serialized (thread-safe); close it (try-with-resources).
 *
 * <pre>{@code
 * try (SafetensorsReader r = new SafetensorsReader(path)) {
 *   for (TensorInfo t : r.tensors()) System.out.println(t);
 *   int[] qweight = r.readI32("model.layers.0.mlp.up_proj.qweight");
 * }
 * }</pre>
 */
public final class SafetensorsReader implements AutoCloseable {
  private static final Cleaner CLEANER = Cleaner.create();
  private static final int MAX_DIMS = 8;

  private static final class Handle implements Runnable {
    volatile SWIGTYPE_p_gptaq_safetensors r;

    @Override
    public void run() {
      SWIGTYPE_p_gptaq_safetensors x = r;
      r = null;
      if (x != null) GptaqSwig.gptaq_safetensors_close(x);
    }
  }

  private final Handle handle = new Handle();
  private final Cleaner.Cleanable cleanable;

  /** Open and validate {@code path}. */
  public SafetensorsReader(Path path) {
    Checks.nonNull(path, "path");
    NativeLoader.load();
    SWIGTYPE_p_p_gptaq_safetensors pp = GptaqSwig.new_gptaq_java_safetensors_pp();
    try {
      Gptaq.check(GptaqSwig.gptaq_safetensors_open(pp, path.toString()), null);
      handle.r = GptaqSwig.gptaq_java_safetensors_pp_value(pp);
    } finally {
      GptaqSwig.delete_gptaq_java_safetensors_pp(pp);
    }
    cleanable = CLEANER.register(this, handle);
  }

  private SWIGTYPE_p_gptaq_safetensors r() {
    SWIGTYPE_p_gptaq_safetensors r = handle.r;
    if (r == null) throw new IllegalStateException("the SafetensorsReader is closed");
    return r;
  }

  /** The number of tensors. */
  public synchronized long count() {
    return GptaqSwig.gptaq_safetensors_count(r());
  }

  /** The index of the tensor called {@code name}, or -1. */
  public synchronized long find(String name) {
    Checks.nonNull(name, "name");
    return GptaqSwig.gptaq_safetensors_find(r(), name);
  }

  private String string(long index, int what) {
    SWIGTYPE_p_gptaq_safetensors r = r();
    long n = GptaqSwig.gptaq_java_st_string(r, index, what, null, 0);
    if (n < 0) return null;
    byte[] b = new byte[(int) n];
    GptaqSwig.gptaq_java_st_string(r, index, what, b, n);
    return new String(b, StandardCharsets.UTF_8);
  }

  private void checkIndex(long index) {
    long n = count();
    if (index < 0 || index >= n)
      throw new GptaqException(Status.INVALID_ARGUMENT, "tensor index " + index + " is out of range (" + n + " tensors)");
  }

  /** Describe tensor {@code index} (0..count-1, in the order of the data). */
  public synchronized TensorInfo info(long index) {
    checkIndex(index);
    long[] l = new long[MAX_DIMS + 2];
    Gptaq.check(GptaqSwig.gptaq_java_st_shape(r(), index, l), null);
    long[] shape = java.util.Arrays.copyOfRange(l, 2, 2 + (int) l[0]);
    return new TensorInfo(index, string(index, 0), string(index, 1), shape, l[1]);
  }

  /** Describe the tensor called {@code name}; IllegalArgumentException if there is none. */
  public synchronized TensorInfo info(String name) {
    long i = find(name);
    if (i < 0) throw new IllegalArgumentException("no tensor named \"" + name + "\"");
    return info(i);
  }

  /** Every tensor, in data order. */
  public synchronized List<TensorInfo> tensors() {
    List<TensorInfo> out = new ArrayList<>();
    for (long i = 0, n = count(); i < n; i++) out.add(info(i));
    return Collections.unmodifiableList(out);
  }

  /** The raw little-endian bytes of a tensor. */
  public synchronized byte[] readBytes(String name) {
    TensorInfo t = info(name);
    if (t.nbytes > Integer.MAX_VALUE - 8)
      throw new GptaqException(Status.SHAPE, "tensor " + name + " has " + t.nbytes + " bytes, more than a Java array");
    byte[] out = new byte[(int) t.nbytes];
    Gptaq.check(GptaqSwig.gptaq_java_st_read(r(), t.index, out, out.length), null);
    return out;
  }

  /** A floating-point tensor (F32, F16, BF16 or F64) converted to float. */
  public synchronized float[] readF32(String name) {
    TensorInfo t = info(name);
    long n = t.elements();
    if (n > Integer.MAX_VALUE - 8)
      throw new GptaqException(Status.SHAPE, "tensor " + name + " has " + n + " elements, more than a Java array");
    float[] out = new float[(int) n];
    Gptaq.check(GptaqSwig.gptaq_safetensors_read_f32(r(), t.index, out, out.length), null);
    return out;
  }

  /** An I32 tensor (qweight, qzeros, g_idx). */
  public synchronized int[] readI32(String name) {
    return Bytes.ints(readTyped(name, "I32"));
  }

  /** An F16 or BF16 tensor as bit patterns. */
  public synchronized short[] readHalf(String name) {
    TensorInfo t = info(name);
    if (!t.dtype.equals("F16") && !t.dtype.equals("BF16"))
      throw new GptaqException(Status.UNSUPPORTED, "tensor " + name + " is " + t.dtype + ", not F16 or BF16");
    return Bytes.shorts(readBytes(name));
  }

  private byte[] readTyped(String name, String dtype) {
    TensorInfo t = info(name);
    if (!t.dtype.equals(dtype))
      throw new GptaqException(Status.UNSUPPORTED, "tensor " + name + " is " + t.dtype + ", not " + dtype);
    return readBytes(name);
  }

  /** The __metadata__ entries, sorted by key. */
  public synchronized Map<String, String> metadata() {
    long n = GptaqSwig.gptaq_safetensors_metadata_count(r());
    Map<String, String> out = new LinkedHashMap<>();
    for (long i = 0; i < n; i++) out.put(string(i, 2), string(i, 3));
    return Collections.unmodifiableMap(out);
  }

  /** One metadata value, or null if absent. */
  public synchronized String metadata(String key) {
    Checks.nonNull(key, "key");
    return metadata().get(key);
  }

  /** Close the file; idempotent. */
  @Override
  public synchronized void close() {
    cleanable.clean();
  }
}
