package org.gptaq;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.gptaq.swig.GptaqSwig;
import org.gptaq.swig.GptaqSwigConstants;
import org.gptaq.swig.SWIGTYPE_p_gptaq_ctx;

/** Library-wide information: version, build, backends. */
public final class Gptaq {
  static {
    NativeLoader.load();
  }

  private Gptaq() {}

  /** The loaded library's version, e.g. "0.1.0". */
  public static String version() {
    return GptaqSwig.gptaq_version_string();
  }

  /** The loaded library's version as MAJOR*10000 + MINOR*100 + PATCH. */
  public static int versionNumber() {
    return GptaqSwig.gptaq_version_number();
  }

  /** The version of the header this binding was generated from. */
  public static int headerVersionNumber() {
    return GptaqSwigConstants.GPTAQ_VERSION_NUMBER;
  }

  /** One line describing the build: version, backends compiled in, BLAS. */
  public static String buildInfo() {
    return GptaqSwig.gptaq_build_info();
  }

  /** Whether a backend can be used now (compiled in and, for CUDA, a device answers). */
  public static boolean backendAvailable(Backend backend) {
    Checks.nonNull(backend, "backend");
    return GptaqSwig.gptaq_backend_available(backend.code()) != 0;
  }

  /** The concrete backends usable in this process (CPU, and CUDA when available). */
  public static List<Backend> availableBackends() {
    List<Backend> out = new ArrayList<>();
    for (Backend b : new Backend[] {Backend.CPU, Backend.CUDA}) if (backendAvailable(b)) out.add(b);
    return Collections.unmodifiableList(out);
  }

  /** The library's English name of a status, e.g. "invalid argument". */
  public static String statusString(Status status) {
    Checks.nonNull(status, "status");
    return GptaqSwig.gptaq_status_string(status.code());
  }

  /** Groups per row: ceil(columns / groupSize), or 1 for groupSize -1. */
  public static long numGroups(long columns, int groupSize) {
    long n = GptaqSwig.gptaq_num_groups(columns, groupSize);
    if (n < 0)
      throw new GptaqException(Status.INVALID_ARGUMENT,
          "no group count for columns=" + columns + ", groupSize=" + groupSize);
    return n;
  }

  /** Round floats to f16/bf16 bit patterns (nearest even) with the library's converter. */
  public static short[] toHalf(float[] src, DType dtype) {
    Checks.nonNull(src, "src");
    halfOnly(dtype);
    short[] out = new short[src.length];
    check(GptaqSwig.gptaq_f32_to_half(dtype.code(), src, out, src.length), null);
    return out;
  }

  /** Widen f16/bf16 bit patterns to floats (exact). */
  public static float[] fromHalf(short[] src, DType dtype) {
    Checks.nonNull(src, "src");
    halfOnly(dtype);
    float[] out = new float[src.length];
    check(GptaqSwig.gptaq_half_to_f32(dtype.code(), src, out, src.length), null);
    return out;
  }

  private static void halfOnly(DType dtype) {
    Checks.nonNull(dtype, "dtype");
    if (!dtype.isHalf()) throw new IllegalArgumentException("dtype must be F16 or BF16, not " + dtype);
  }

  /** Throw the exception for a non-zero status, with the message where the C API left it. */
  static void check(int status, SWIGTYPE_p_gptaq_ctx ctx) {
    if (status == 0) return;
    throw new GptaqException(status, GptaqSwig.gptaq_swig_errmsg(ctx, status));
  }
}
