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
GPTAQ_JARRAY(int32_t *GPTAQ_I32_OUT, jintArray, int[], jint, Int, 0)
GPTAQ_JARRAY(const uint16_t *GPTAQ_U16_IN, jshortArray, short[], jshort, Short, JNI_ABORT)
GPTAQ_JARRAY(uint16_t *GPTAQ_U16_OUT, jshortArray, short[], jshort, Short, 0)
GPTAQ_JARRAY(const int64_t *GPTAQ_I64_IN, jlongArray, long[], jlong, Long, JNI_ABORT)

%apply const float *GPTAQ_F32_IN { const float *weight, const float *src, const float *xq_array,
                                   const float *xfp_array };
%apply float *GPTAQ_F32_OUT { float *scales, float *zeros, float *dequant, float *alpha,
                              float *bias, float *dst };
%apply const uint8_t *GPTAQ_U8_IN { const uint8_t *mask_array };
%apply uint8_t *GPTAQ_U8_OUT { uint8_t *codes };
%apply int32_t *GPTAQ_I32_OUT { int32_t *g_idx };
%apply const uint16_t *GPTAQ_U16_IN { const uint16_t *src, const uint16_t *xq_array,
                                      const uint16_t *xfp_array };
%apply uint16_t *GPTAQ_U16_OUT { uint16_t *dst };
%apply const int64_t *GPTAQ_I64_IN { const int64_t *shape };

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
%apply int32_t *OUTPUT { int32_t *dtype };
%apply long long *OUTPUT { int64_t *rows, int64_t *cols, int64_t *rows_read };

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
