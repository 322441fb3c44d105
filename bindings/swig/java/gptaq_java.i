/*
 * gptaq_java.i - the Java-specific part of the SWIG binding: module name, JNI typemaps
 * for arrays and direct buffers, and the loader hook. The shared, language-neutral
 * interface is ../gptaq.i, included last. Generated classes go to package
 * org.gptaq.swig (GptaqSwig: the raw C API, statuses as ints); the idiomatic API is
 * org.gptaq.Quantizer & co. (bindings/java/src/main/java).
 *
 * Data passing, never element by element and never boxed:
 *   - typed pointers (weights, outputs, f32/f16 conversions) take Java primitive arrays
 *     (float[], byte[], int[], short[], long[]) through Get/Release<T>ArrayElements
 *     (outputs are committed back; inputs released with JNI_ABORT);
 *   - untyped data (const void *x_q / x_fp / data / src, void *dst, the token mask)
 *     takes a DIRECT java.nio.Buffer, read in place (GetDirectBufferAddress, no copy);
 *   - the gptaq_java_* helpers below give the float[] / short[] forms of add_batch and
 *     the direct-buffer form of solve.
 * Lengths are not checked here (the C API does not take them): org.gptaq checks them.
 * null passes NULL.
 */
%module GptaqSwig

/* int64_t is long on LP64 (swig runs with -DSWIGWORDSIZE64 there, so the wrappers pass
 * the header's own pointer types); SWIG-Java maps C long to int by default: make it a
 * Java long. */
%apply long long { long };
%apply unsigned long long { unsigned long };

/* Constants as compile-time Java ints (GptaqSwigConstants), enums as plain ints. */
%include "enumtypeunsafe.swg"
%javaconst(1);

/* Loader: the JNI class loads libgptaq_jni through org.gptaq.NativeLoader (system
 * property gptaq.jni.library, java.library.path, or next to the jar). */
%pragma(java) jniclasscode=%{
  static {
    org.gptaq.NativeLoader.load();
  }
%}

/* ---- primitive arrays ------------------------------------------------------------ */
%define GPTAQ_JARRAY(CTYPE, JNIARR, JARR, JELEM, PRIM, MODE)
%typemap(jni) CTYPE #JNIARR
%typemap(jtype) CTYPE #JARR
%typemap(jstype) CTYPE #JARR
%typemap(javain) CTYPE "$javainput"
%typemap(in) CTYPE {
  $1 = NULL;
  if ($input) {
    $1 = ($1_ltype)JCALL2(Get##PRIM##ArrayElements, jenv, $input, NULL);
    if (!$1) return $null; /* OutOfMemoryError pending */
  }
}
%typemap(freearg) CTYPE {
  if ($1) JCALL3(Release##PRIM##ArrayElements, jenv, $input, (JELEM *)$1, MODE);
}
%enddef

GPTAQ_JARRAY(const float *GPTAQ_F32_IN, jfloatArray, float[], jfloat, Float, JNI_ABORT)
GPTAQ_JARRAY(float *GPTAQ_F32_OUT, jfloatArray, float[], jfloat, Float, 0)
GPTAQ_JARRAY(const uint8_t *GPTAQ_U8_IN, jbyteArray, byte[], jbyte, Byte, JNI_ABORT)
GPTAQ_JARRAY(uint8_t *GPTAQ_U8_OUT, jbyteArray, byte[], jbyte, Byte, 0)
GPTAQ_JARRAY(char *GPTAQ_CHAR_OUT, jbyteArray, byte[], jbyte, Byte, 0)
GPTAQ_JARRAY(int32_t *GPTAQ_I32_OUT, jintArray, int[], jint, Int, 0)
GPTAQ_JARRAY(const int32_t *GPTAQ_I32_IN, jintArray, int[], jint, Int, JNI_ABORT)
GPTAQ_JARRAY(uint32_t *GPTAQ_U32_OUT, jintArray, int[], jint, Int, 0)
GPTAQ_JARRAY(const uint32_t *GPTAQ_U32_IN, jintArray, int[], jint, Int, JNI_ABORT)
GPTAQ_JARRAY(const uint16_t *GPTAQ_U16_IN, jshortArray, short[], jshort, Short, JNI_ABORT)
GPTAQ_JARRAY(uint16_t *GPTAQ_U16_OUT, jshortArray, short[], jshort, Short, 0)
GPTAQ_JARRAY(const int64_t *GPTAQ_I64_IN, jlongArray, long[], jlong, Long, JNI_ABORT)
GPTAQ_JARRAY(int64_t *GPTAQ_I64_OUT, jlongArray, long[], jlong, Long, 0)
GPTAQ_JARRAY(double *GPTAQ_F64_OUT, jdoubleArray, double[], jdouble, Double, 0)

%apply const float *GPTAQ_F32_IN { const float *weight, const float *src, const float *xq_array,
                                   const float *xfp_array, const float *scales,
                                   const float *zeros, const float *alpha, const float *bias,
                                   const float *in_sum2, const float *counts };
%apply float *GPTAQ_F32_OUT { float *scales, float *zeros, float *dequant, float *alpha,
                              float *bias, float *dst, float *scales_out, float *in_sum2,
                              float *scales_f32_out };
%apply const uint8_t *GPTAQ_U8_IN { const uint8_t *mask_array, const uint8_t *codes,
                                    const uint8_t *bytes_in };
%apply uint8_t *GPTAQ_U8_OUT { uint8_t *codes, uint8_t *bytes_out };
%apply char *GPTAQ_CHAR_OUT { char *buf };
%apply int32_t *GPTAQ_I32_OUT { int32_t *g_idx, int32_t *qweight, int32_t *qzeros,
                                int32_t *g_idx_out };
%apply const int32_t *GPTAQ_I32_IN { const int32_t *g_idx, const int32_t *qweight,
                                     const int32_t *qzeros };
%apply uint32_t *GPTAQ_U32_OUT { uint32_t *qbits };
%apply const uint32_t *GPTAQ_U32_IN { const uint32_t *qbits };
%apply const uint16_t *GPTAQ_U16_IN { const uint16_t *src, const uint16_t *xq_array,
                                      const uint16_t *xfp_array, const uint16_t *alpha_f16,
                                      const uint16_t *bias_f16, const uint16_t *scales_u16 };
%apply uint16_t *GPTAQ_U16_OUT { uint16_t *dst, uint16_t *alpha_f16, uint16_t *bias_f16,
                                 uint16_t *scales_u16_out };
%apply const int64_t *GPTAQ_I64_IN { const int64_t *shape };
%apply int64_t *GPTAQ_I64_OUT { int64_t *longs_out };
%apply double *GPTAQ_F64_OUT { double *doubles_out };

/* Strings in: Java Strings encoded as real UTF-8 (not JNI's modified UTF-8), so paths,
 * tensor names and metadata with any character reach the library unchanged. */
%typemap(jni) const char *GPTAQ_UTF8 "jbyteArray"
%typemap(jtype) const char *GPTAQ_UTF8 "byte[]"
%typemap(jstype) const char *GPTAQ_UTF8 "String"
%typemap(javain) const char *GPTAQ_UTF8 "utf8z($javainput)"
%typemap(in) const char *GPTAQ_UTF8 {
  $1 = NULL;
  if ($input) {
    $1 = ($1_ltype)JCALL2(GetByteArrayElements, jenv, $input, NULL);
    if (!$1) return $null;
  }
}
%typemap(freearg) const char *GPTAQ_UTF8 {
  if ($1) JCALL3(ReleaseByteArrayElements, jenv, $input, (jbyte *)$1, JNI_ABORT);
}
%apply const char *GPTAQ_UTF8 { const char *path, const char *name, const char *dtype,
                                const char *key, const char *value, const char *dataset };
%pragma(java) modulecode=%{
  /** A String as NUL-terminated UTF-8 bytes (null stays null). */
  static byte[] utf8z(String s) {
    if (s == null) return null;
    byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    return java.util.Arrays.copyOf(b, b.length + 1);
  }
%}

/* ---- direct buffers -------------------------------------------------------------- */
%typemap(jni) const void *GPTAQ_DIRECT "jobject"
%typemap(jtype) const void *GPTAQ_DIRECT "java.nio.Buffer"
%typemap(jstype) const void *GPTAQ_DIRECT "java.nio.Buffer"
%typemap(javain) const void *GPTAQ_DIRECT "$javainput"
%typemap(in) const void *GPTAQ_DIRECT {
  $1 = NULL;
  if ($input) {
    $1 = ($1_ltype)JCALL1(GetDirectBufferAddress, jenv, $input);
    if (!$1) {
      SWIG_JavaThrowException(jenv, SWIG_JavaIllegalArgumentException,
                              "$1_name: expected a direct java.nio.Buffer");
      return $null;
    }
  }
}
%apply const void *GPTAQ_DIRECT { const void *x_q, const void *x_fp, const void *data,
                                  const void *src, void *dst, const uint8_t *mask,
                                  const float *weight_buffer };

/* A CUDA stream is passed as its address. */
%typemap(jni) void *stream "jlong"
%typemap(jtype) void *stream "long"
%typemap(jstype) void *stream "long"
%typemap(javain) void *stream "$javainput"
%typemap(in) void *stream { $1 = (void *)(intptr_t)$input; }

/* ---- scalar out-parameters as one-element arrays (typemaps.i OUTPUT) -------------- */
%include <typemaps.i>
%apply int32_t *OUTPUT { int32_t *dtype, int32_t *format };
%apply long long *OUTPUT { int64_t *rows, int64_t *cols, int64_t *rows_read,
                           int64_t *qweight_rows, int64_t *qzeros_cols, int64_t *n_groups,
                           int64_t *zeros_clamped, int64_t *bytes, int64_t *written,
                           int64_t *length, int64_t *handle_out };

%{
#include <stdlib.h>
#include <string.h>
#include "gptaq/gptaq.h"
%}
%include <cpointer.i>
/* Opaque handles of the checkpoint formats (constructor out-parameters). */
%pointer_functions(gptaq_safetensors *, gptaq_java_safetensors_pp);
%pointer_functions(gptaq_safetensors_writer *, gptaq_java_st_writer_pp);
%pointer_functions(gptaq_imatrix *, gptaq_java_imatrix_pp);

%include "gptaq.i"

/* ---- helpers (after the shared file, which declares the types they use): the array
 * forms of add_batch and the direct form of solve ------------------------------------ */
%inline %{
/* add_batch_masked over float[] (dtype f32); mask_array may be null. */
int32_t gptaq_java_add_batch_f32(gptaq_ctx *ctx, const float *xq_array,
                                 const float *xfp_array, int64_t tokens,
                                 const uint8_t *mask_array) {
  return gptaq_add_batch_masked(ctx, xq_array, xfp_array, tokens, GPTAQ_DTYPE_F32,
                                mask_array);
}
/* add_batch_masked over short[] holding f16 or bf16 bit patterns. */
int32_t gptaq_java_add_batch_u16(gptaq_ctx *ctx, const uint16_t *xq_array,
                                 const uint16_t *xfp_array, int64_t tokens, int32_t dtype,
                                 const uint8_t *mask_array) {
  return gptaq_add_batch_masked(ctx, xq_array, xfp_array, tokens, dtype, mask_array);
}
/* gptaq_solve / gptaq_solve_binary with the weight in a direct FloatBuffer. */
int32_t gptaq_java_solve_direct(gptaq_ctx *ctx, const float *weight_buffer, int64_t rows,
                                int64_t columns, uint8_t *codes, float *scales,
                                float *zeros, int32_t *g_idx, float *dequant,
                                gptaq_solve_info *info) {
  return gptaq_solve(ctx, weight_buffer, rows, columns, codes, scales, zeros, g_idx,
                     dequant, info);
}
int32_t gptaq_java_solve_binary_direct(gptaq_ctx *ctx, const float *weight_buffer,
                                       int64_t rows, int64_t columns, uint8_t *codes,
                                       float *alpha, float *bias, int32_t *g_idx,
                                       float *dequant, gptaq_solve_info *info) {
  return gptaq_solve_binary(ctx, weight_buffer, rows, columns, codes, alpha, bias, g_idx,
                            dequant, info);
}
%}

/* ---- helpers of the idiomatic API (org.gptaq): forms of calls whose C signature has an
 * untyped or optional pointer, string out-parameters, and the JNI side of callbacks ---- */
%{
#include <jni.h>
/* The JVM that loaded this library, for callbacks (which get no JNIEnv from the C API). */
static JavaVM *gptaq_java_vm = NULL;
JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved) {
  (void)reserved;
  gptaq_java_vm = vm;
  return JNI_VERSION_1_6;
}
static JNIEnv *gptaq_java_env(int *attached) {
  JNIEnv *env = NULL;
  jint rc;
  *attached = 0;
  if (!gptaq_java_vm) return NULL;
  rc = (*gptaq_java_vm)->GetEnv(gptaq_java_vm, (void **)&env, JNI_VERSION_1_6);
  if (rc == JNI_EDETACHED) {
    /* Callbacks run on the calling (Java) thread, but a library thread would land here. */
    if ((*gptaq_java_vm)->AttachCurrentThread(gptaq_java_vm, (void **)&env, NULL) != JNI_OK)
      return NULL;
    *attached = 1;
  } else if (rc != JNI_OK) {
    return NULL;
  }
  return env;
}
static void gptaq_java_release_env(int attached) {
  if (attached) (*gptaq_java_vm)->DetachCurrentThread(gptaq_java_vm);
}

/* A callback registration: a global reference to an org.gptaq.CallbackBridge. */
typedef struct gptaq_java_callback {
  jobject bridge;
  jmethodID method;
} gptaq_java_callback;

static int32_t gptaq_java_progress_tramp(void *user_data, int32_t phase, int64_t done,
                                         int64_t total) {
  gptaq_java_callback *cb = (gptaq_java_callback *)user_data;
  int attached;
  jint r;
  JNIEnv *env = gptaq_java_env(&attached);
  if (!env) return 1; /* cannot reach the JVM: stop rather than run blind */
  r = (*env)->CallIntMethod(env, cb->bridge, cb->method, (jint)phase, (jlong)done,
                            (jlong)total);
  if ((*env)->ExceptionCheck(env)) {
    /* The bridge catches the listener's exceptions; this is one of its own (e.g.
     * StackOverflowError): cancel, and the Java side reports the cancellation. */
    (*env)->ExceptionClear(env);
    r = 1;
  }
  gptaq_java_release_env(attached);
  return r != 0 ? 1 : 0;
}

static void gptaq_java_log_tramp(void *user_data, int32_t level, const char *message) {
  gptaq_java_callback *cb = (gptaq_java_callback *)user_data;
  int attached;
  jbyteArray bytes;
  jsize n;
  JNIEnv *env = gptaq_java_env(&attached);
  if (!env) return;
  n = message ? (jsize)strlen(message) : 0;
  bytes = (*env)->NewByteArray(env, n);
  if (bytes) {
    if (n) (*env)->SetByteArrayRegion(env, bytes, 0, n, (const jbyte *)message);
    (*env)->CallVoidMethod(env, cb->bridge, cb->method, (jint)level, bytes);
    (*env)->DeleteLocalRef(env, bytes);
  }
  if ((*env)->ExceptionCheck(env)) (*env)->ExceptionClear(env);
  gptaq_java_release_env(attached);
}
%}

%inline %{
/* Install `bridge` (an org.gptaq.CallbackBridge, or null to clear) as the context's
 * progress (kind 0) or log (kind 1) callback. *handle_out gets the new registration (0
 * when cleared); the caller frees the previous one with gptaq_java_callback_free after
 * this call succeeded, and the current one after the context is freed. */
int32_t gptaq_java_set_callback(gptaq_ctx *ctx, int32_t kind, jobject bridge,
                                int64_t *handle_out) {
  int attached;
  JNIEnv *env;
  gptaq_java_callback *cb = NULL;
  int32_t st;
  *handle_out = 0;
  if (kind != 0 && kind != 1) return GPTAQ_ERR_INVALID_ARGUMENT;
  if (bridge) {
    jclass cls;
    env = gptaq_java_env(&attached);
    if (!env) return GPTAQ_ERR_INTERNAL;
    cls = (*env)->GetObjectClass(env, bridge);
    cb = (gptaq_java_callback *)calloc(1, sizeof *cb);
    if (!cb) {
      gptaq_java_release_env(attached);
      return GPTAQ_ERR_OUT_OF_MEMORY;
    }
    cb->method = kind == 0 ? (*env)->GetMethodID(env, cls, "progress", "(IJJ)I")
                           : (*env)->GetMethodID(env, cls, "log", "(I[B)V");
    (*env)->DeleteLocalRef(env, cls);
    if (!cb->method) { /* NoSuchMethodError pending: let Java see it */
      free(cb);
      gptaq_java_release_env(attached);
      return GPTAQ_ERR_INTERNAL;
    }
    cb->bridge = (*env)->NewGlobalRef(env, bridge);
    gptaq_java_release_env(attached);
    if (!cb->bridge) {
      free(cb);
      return GPTAQ_ERR_OUT_OF_MEMORY;
    }
  }
  st = kind == 0 ? gptaq_ctx_set_progress(ctx, cb ? gptaq_java_progress_tramp : NULL, cb)
                 : gptaq_ctx_set_log(ctx, cb ? gptaq_java_log_tramp : NULL, cb);
  if (st != GPTAQ_OK) {
    if (cb) {
      env = gptaq_java_env(&attached);
      if (env) (*env)->DeleteGlobalRef(env, cb->bridge);
      gptaq_java_release_env(attached);
      free(cb);
    }
    return st;
  }
  *handle_out = (int64_t)(intptr_t)cb;
  return GPTAQ_OK;
}

/* Free a registration made by gptaq_java_set_callback (0 is a no-op). */
void gptaq_java_callback_free(int64_t handle) {
  gptaq_java_callback *cb = (gptaq_java_callback *)(intptr_t)handle;
  int attached;
  JNIEnv *env;
  if (!cb) return;
  env = gptaq_java_env(&attached);
  if (env) (*env)->DeleteGlobalRef(env, cb->bridge);
  gptaq_java_release_env(attached);
  free(cb);
}

/* One of a context's statistics buffers as a direct ByteBuffer over its host memory
 * (which: 0 xx, 1 dx, 2 xsum, 3 tokens), or null when absent, on a device, or on error. */
jobject gptaq_java_stats_buffer(gptaq_ctx *ctx, int32_t which) {
  gptaq_stats_buffers b;
  int attached;
  JNIEnv *env;
  void *ptr = NULL;
  int64_t n = gptaq_ctx_columns(ctx), bytes = 0;
  jobject out;
  memset(&b, 0, sizeof b);
  b.struct_size = (int32_t)sizeof b;
  if (gptaq_stats_buffers_get(ctx, &b) != GPTAQ_OK) return NULL;
  if (which == 3) {
    ptr = b.tokens; bytes = 8;
  } else {
    if (b.backend != GPTAQ_BACKEND_CPU) return NULL;
    if (which == 0) { ptr = b.xx; bytes = 4 * n * n; }
    else if (which == 1) { ptr = b.dx; bytes = 4 * n * n; }
    else if (which == 2) { ptr = b.xsum; bytes = 8 * n; }
  }
  if (!ptr) return NULL;
  env = gptaq_java_env(&attached);
  if (!env) return NULL;
  out = (*env)->NewDirectByteBuffer(env, ptr, (jlong)bytes);
  gptaq_java_release_env(attached);
  return out;
}

/* backend, has_cross of the context's statistics buffers (longs_out[0..1]). */
int32_t gptaq_java_stats_buffers_info(gptaq_ctx *ctx, int64_t *longs_out) {
  gptaq_stats_buffers b;
  int32_t st;
  memset(&b, 0, sizeof b);
  b.struct_size = (int32_t)sizeof b;
  st = gptaq_stats_buffers_get(ctx, &b);
  if (st == GPTAQ_OK) {
    longs_out[0] = b.backend;
    longs_out[1] = b.has_cross;
  }
  return st;
}

/* gptaq_stats_file_info: longs_out[0..2] = columns, method, has_cross; doubles_out[0] =
 * tokens. */
int32_t gptaq_java_stats_file_info(const char *path, int64_t *longs_out,
                                   double *doubles_out) {
  int64_t columns = 0;
  int32_t method = 0, has_cross = 0;
  double tokens = 0;
  int32_t st = gptaq_stats_file_info(path, &columns, &method, &has_cross, &tokens);
  if (st == GPTAQ_OK) {
    longs_out[0] = columns;
    longs_out[1] = method;
    longs_out[2] = has_cross;
    doubles_out[0] = tokens;
  }
  return st;
}

/* gptaq_stats_serialize / _deserialize over byte[]. */
int32_t gptaq_java_stats_serialize(gptaq_ctx *ctx, uint8_t *bytes_out, int64_t capacity,
                                   int64_t *written) {
  return gptaq_stats_serialize(ctx, bytes_out, capacity, written);
}
int32_t gptaq_java_stats_deserialize(gptaq_ctx *ctx, const uint8_t *bytes_in, int64_t size,
                                     int32_t mode) {
  return gptaq_stats_deserialize(ctx, bytes_in, size, mode);
}

/* gptaq_ctx_imatrix with both outputs (longs_out[0] = tokens). */
int32_t gptaq_java_ctx_imatrix(gptaq_ctx *ctx, float *in_sum2, int64_t *longs_out) {
  return gptaq_ctx_imatrix(ctx, in_sum2, longs_out);
}

/* gptaq_gptq_pack with the scales in u16 (F16/BF16) or f32 form (the other null), and
 * the v1 zero clamp allowed (zeros_clamped counted) or refused (allow_clamp 0). */
int32_t gptaq_java_gptq_pack(int32_t format, int32_t bits, int64_t rows, int64_t columns,
                             int32_t group_size, const uint8_t *codes, const float *scales,
                             const float *zeros, const int32_t *g_idx, int32_t *qweight,
                             int32_t *qzeros, int32_t scales_dtype,
                             uint16_t *scales_u16_out, float *scales_f32_out,
                             int32_t *g_idx_out, int32_t allow_clamp,
                             int64_t *zeros_clamped) {
  void *so = scales_dtype == GPTAQ_DTYPE_F32 ? (void *)scales_f32_out : (void *)scales_u16_out;
  *zeros_clamped = 0;
  return gptaq_gptq_pack(format, bits, rows, columns, group_size, codes, scales, zeros,
                         g_idx, qweight, qzeros, scales_dtype, so, g_idx_out,
                         allow_clamp ? zeros_clamped : NULL);
}

/* gptaq_gptq_unpack with the scales as u16 bits (F16/BF16) or floats (F32). */
int32_t gptaq_java_gptq_unpack(int32_t format, int32_t bits, int64_t rows, int64_t columns,
                               int64_t n_groups, const int32_t *qweight,
                               const int32_t *qzeros, int32_t scales_dtype,
                               const uint16_t *scales_u16, const float *scales,
                               const int32_t *g_idx, uint8_t *codes, float *scales_out,
                               float *zeros, float *dequant) {
  const void *si = scales_dtype == GPTAQ_DTYPE_F32 ? (const void *)scales : (const void *)scales_u16;
  return gptaq_gptq_unpack(format, bits, rows, columns, n_groups, qweight, qzeros,
                           scales_dtype, si, g_idx, codes, scales_out, zeros, dequant);
}

/* gptaq_gptq_read_quantize_config into a config filled with the defaults. */
int32_t gptaq_java_read_quantize_config(const char *path, gptaq_config *cfg,
                                        int32_t *format) {
  int32_t st = gptaq_config_init(cfg, sizeof *cfg);
  if (st != GPTAQ_OK) return st;
  return gptaq_gptq_read_quantize_config(path, cfg, format);
}

/* A string of a safetensors reader as UTF-8 bytes: what 0 = tensor name, 1 = tensor
 * dtype, 2 = metadata key, 3 = metadata value of entry `index`. Copies up to capacity
 * bytes into buf (may be null) and returns the full length, or -1 for a bad index. */
int64_t gptaq_java_st_string(const gptaq_safetensors *r, int64_t index, int32_t what,
                             char *buf, int64_t capacity) {
  const char *s = NULL;
  int64_t n;
  if (what == 0 || what == 1) {
    if (gptaq_safetensors_tensor_info(r, index, what == 0 ? &s : NULL, what == 1 ? &s : NULL,
                                      NULL, NULL, NULL) != GPTAQ_OK)
      return -1;
  } else if (what == 2 || what == 3) {
    if (gptaq_safetensors_metadata_at(r, index, what == 2 ? &s : NULL, what == 3 ? &s : NULL) !=
        GPTAQ_OK)
      return -1;
  }
  if (!s) return -1;
  n = (int64_t)strlen(s);
  if (buf) memcpy(buf, s, (size_t)(n < capacity ? n : capacity));
  return n;
}

/* Shape of tensor `index`: longs_out (GPTAQ_SAFETENSORS_MAX_DIMS + 2 longs) gets ndim,
 * nbytes, then the dimensions. */
int32_t gptaq_java_st_shape(const gptaq_safetensors *r, int64_t index, int64_t *longs_out) {
  int32_t ndim = 0;
  int64_t nbytes = 0;
  int32_t st = gptaq_safetensors_tensor_info(r, index, NULL, NULL, &ndim, longs_out + 2,
                                             &nbytes);
  if (st == GPTAQ_OK) {
    longs_out[0] = ndim;
    longs_out[1] = nbytes;
  }
  return st;
}

/* gptaq_safetensors_read / writer_add over byte[]. */
int32_t gptaq_java_st_read(gptaq_safetensors *r, int64_t index, uint8_t *bytes_out,
                           int64_t dst_bytes) {
  return gptaq_safetensors_read(r, index, bytes_out, dst_bytes);
}
int32_t gptaq_java_st_add(gptaq_safetensors_writer *w, const char *name, const char *dtype,
                          int32_t ndim, const int64_t *shape, const uint8_t *bytes_in) {
  static const uint8_t empty = 0;
  return gptaq_safetensors_writer_add(w, name, dtype, ndim, shape,
                                      bytes_in ? (const void *)bytes_in : (const void *)&empty);
}

/* gptaq_npy_write_nd / read_rows over byte[] (the file's little-endian bytes). */
int32_t gptaq_java_npy_write(const char *path, int32_t dtype, int32_t ndim,
                             const int64_t *shape, const uint8_t *bytes_in) {
  static const uint8_t empty = 0;
  return gptaq_npy_write_nd(path, dtype, ndim, shape,
                            bytes_in ? (const void *)bytes_in : (const void *)&empty);
}
int32_t gptaq_java_npy_read_rows(gptaq_npy_reader *r, uint8_t *bytes_out, int64_t max_rows,
                                 int64_t *longs_out) {
  return gptaq_npy_read_rows(r, bytes_out, max_rows, longs_out);
}
%}
