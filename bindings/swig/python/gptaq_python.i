/*
 * gptaq_python.i - the Python-specific part of the SWIG binding: module name, buffer
 * typemaps and loader. The shared, language-neutral interface is ../gptaq.i, included
 * last. The generated module is gptaq.lowlevel (raw C API, statuses as ints); the
 * Pythonic layer is bindings/python/gptaq/__init__.py.
 *
 * Buffers: every pointer to array data takes any object with the buffer protocol
 * (NumPy arrays, memoryview, bytearray) WITHOUT copying; it must be C-contiguous, the
 * typed pointers check the element format (float32 'f', uint8 'B', int32 'i',
 * uint16 'H'/'e'), outputs must be writable; None passes NULL. The lengths are not
 * checked here (the C API does not take them): the Pythonic layer checks them.
 *
 * threads="1": the GIL is released around every native call (the buffers stay
 * pinned by their Py_buffer views meanwhile).
 */
%module(package="gptaq", threads="1") lowlevel

%pythonbegin %{
# Loader: if GPTAQ_LIBRARY names a libgptaq shared library, load it first (globally) so
# the extension binds to it instead of the one its RPATH or the system would find.
import os as _os
if _os.environ.get("GPTAQ_LIBRARY"):
    import ctypes as _ctypes
    _ctypes.CDLL(_os.environ["GPTAQ_LIBRARY"], mode=_ctypes.RTLD_GLOBAL)
%}

%{
#include <stdint.h>
#include <string.h>
#include "gptaq/gptaq.h"

/* Acquire a C-contiguous buffer of `obj`; fmts lists the accepted struct format
 * characters (NULL = any), itemsize the element size (0 = any). 0 or -1 with an
 * exception set. */
static int gptaq_py_get_buffer(PyObject *obj, Py_buffer *view, int writable,
                               const char *fmts, Py_ssize_t itemsize, const char *name) {
  int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
  if (PyObject_GetBuffer(obj, view, flags) != 0) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    PyErr_Format(PyExc_TypeError,
                 "%s: expected a C-contiguous%s buffer (e.g. a numpy array), got %.200s (%S)",
                 name, writable ? " writable" : "", Py_TYPE(obj)->tp_name,
                 value ? value : Py_None);
    Py_XDECREF(value);
    return -1;
  }
  if (itemsize && view->itemsize != itemsize) {
    PyErr_Format(PyExc_TypeError, "%s: expected %zd-byte elements, got %zd-byte elements",
                 name, itemsize, view->itemsize);
    PyBuffer_Release(view);
    return -1;
  }
  if (fmts) {
    const char *f = view->format ? view->format : "B";
    if (*f == '@' || *f == '=' || *f == '<') ++f;
    if (!f[0] || f[1] || !strchr(fmts, f[0])) {
      PyErr_Format(PyExc_TypeError, "%s: element format '%s' is not one of '%s'", name,
                   view->format ? view->format : "B", fmts);
      PyBuffer_Release(view);
      return -1;
    }
  }
  return 0;
}
%}

/* ---- buffer typemaps: GPTAQ_BUF(ctype, writable, formats, itemsize) ------------- */
%define GPTAQ_BUF(CTYPE, WRITABLE, FMTS, ISIZE)
%typemap(in) CTYPE (Py_buffer view, int got = 0) {
  if ($input == Py_None) {
    $1 = NULL;
  } else {
    if (gptaq_py_get_buffer($input, &view, WRITABLE, FMTS, ISIZE, "$1_name") < 0) SWIG_fail;
    got = 1;
    $1 = ($1_ltype)view.buf;
  }
}
%typemap(freearg) CTYPE {
  if (got$argnum) PyBuffer_Release(&view$argnum);
}
%enddef

GPTAQ_BUF(const void *GPTAQ_ANY_IN, 0, NULL, 0)
GPTAQ_BUF(void *GPTAQ_ANY_OUT, 1, NULL, 0)
GPTAQ_BUF(char *GPTAQ_CHAR_OUT, 1, NULL, 1)
GPTAQ_BUF(const float *GPTAQ_F32_IN, 0, "f", 4)
GPTAQ_BUF(float *GPTAQ_F32_OUT, 1, "f", 4)
GPTAQ_BUF(const uint8_t *GPTAQ_U8_IN, 0, "Bb?c", 1)
GPTAQ_BUF(uint8_t *GPTAQ_U8_OUT, 1, "Bb", 1)
GPTAQ_BUF(const int32_t *GPTAQ_I32_IN, 0, "il", 4)
GPTAQ_BUF(int32_t *GPTAQ_I32_OUT, 1, "il", 4)
GPTAQ_BUF(const uint32_t *GPTAQ_U32_IN, 0, "IL", 4)
GPTAQ_BUF(uint32_t *GPTAQ_U32_OUT, 1, "IL", 4)
GPTAQ_BUF(const uint16_t *GPTAQ_U16_IN, 0, "He", 2)
GPTAQ_BUF(uint16_t *GPTAQ_U16_OUT, 1, "He", 2)
GPTAQ_BUF(const int64_t *GPTAQ_I64_IN, 0, "lq", 8)

/* Every array parameter of the header, by type and name (const = input). */
%apply const void *GPTAQ_ANY_IN { const void *x_q, const void *x_fp, const void *data,
                                   const void *scales, const void *src };
%apply void *GPTAQ_ANY_OUT { void *dst, void *scales_out };
%apply char *GPTAQ_CHAR_OUT { char *buf };
%apply const float *GPTAQ_F32_IN { const float *weight, const float *src,
                                    const float *scales, const float *zeros,
                                    const float *alpha, const float *bias,
                                    const float *in_sum2, const float *counts };
%apply float *GPTAQ_F32_OUT { float *scales, float *zeros, float *dequant, float *alpha,
                              float *bias, float *dst, float *scales_out, float *in_sum2 };
%apply const uint8_t *GPTAQ_U8_IN { const uint8_t *mask, const uint8_t *codes };
%apply uint8_t *GPTAQ_U8_OUT { uint8_t *codes };
%apply const int32_t *GPTAQ_I32_IN { const int32_t *g_idx, const int32_t *qweight,
                                      const int32_t *qzeros };
%apply int32_t *GPTAQ_I32_OUT { int32_t *g_idx, int32_t *qweight, int32_t *qzeros,
                                int32_t *g_idx_out };
%apply const uint32_t *GPTAQ_U32_IN { const uint32_t *qbits };
%apply uint32_t *GPTAQ_U32_OUT { uint32_t *qbits };
%apply const uint16_t *GPTAQ_U16_IN { const uint16_t *src, const uint16_t *alpha_f16,
                                       const uint16_t *bias_f16 };
%apply uint16_t *GPTAQ_U16_OUT { uint16_t *dst, uint16_t *alpha_f16, uint16_t *bias_f16 };
%apply const int64_t *GPTAQ_I64_IN { const int64_t *shape };
%typemap(argout) const int64_t *shape "";

/* A CUDA stream is passed as an integer address (e.g. torch's stream.cuda_stream). */
%typemap(in) void *stream {
  if ($input == Py_None) {
    $1 = NULL;
  } else {
    $1 = PyLong_AsVoidPtr($input);
    if (PyErr_Occurred()) SWIG_fail;
  }
}

/* ---- constructor out-parameters: status, handle = gptaq_ctx_create(...) ----------
 * Any `T **out` parameter (gptaq_ctx, gptaq_npy_reader, and the handles later sections
 * of the header add) becomes an extra return value. */
%typemap(in, numinputs=0) SWIGTYPE **out ($*1_ltype tmp = NULL) { $1 = &tmp; }
%typemap(argout) SWIGTYPE **out {
  $result = SWIG_Python_AppendOutput($result, SWIG_NewPointerObj(*$1, $*1_descriptor, 0));
}

/* ---- scalar out-parameters: status, dtype, rows, cols = gptaq_npy_info(r) -------- */
%include <typemaps.i>
%apply int32_t *OUTPUT { int32_t *dtype, int32_t *method, int32_t *has_cross,
                         int32_t *format, int32_t *ndim };
%apply int64_t *OUTPUT { int64_t *rows, int64_t *cols, int64_t *rows_read,
                         int64_t *qweight_rows, int64_t *qzeros_cols, int64_t *n_groups,
                         int64_t *zeros_clamped, int64_t *length, int64_t *bytes,
                         int64_t *written, int64_t *nbytes, int64_t *columns,
                         int64_t *tokens };
%apply double *OUTPUT { double *tokens };

/* Strings the library owns (safetensors names, dtypes, metadata): returned as str
 * (None for NULL). */
%typemap(in, numinputs=0) const char **name (const char *tmp = NULL),
                          const char **dtype (const char *tmp = NULL),
                          const char **key (const char *tmp = NULL),
                          const char **value (const char *tmp = NULL) { $1 = ($1_ltype)&tmp; }
%typemap(argout) const char **name, const char **dtype, const char **key,
                 const char **value {
  PyObject *s_;
  if (*$1) {
    s_ = PyUnicode_DecodeUTF8(*$1, (Py_ssize_t)strlen(*$1), "replace");
  } else {
    Py_INCREF(Py_None);
    s_ = Py_None;
  }
  $result = SWIG_Python_AppendOutput($result, s_);
}

/* gptaq_safetensors_tensor_info's shape: GPTAQ_SAFETENSORS_MAX_DIMS dimensions, returned
 * as a tuple of all of them (the caller keeps the first ndim). */
%typemap(in, numinputs=0) int64_t *shape (int64_t tmp[GPTAQ_SAFETENSORS_MAX_DIMS]) {
  memset(tmp, 0, sizeof tmp);
  $1 = tmp;
}
%typemap(argout) int64_t *shape {
  PyObject *t_ = PyTuple_New(GPTAQ_SAFETENSORS_MAX_DIMS);
  int i_;
  for (i_ = 0; i_ < GPTAQ_SAFETENSORS_MAX_DIMS; ++i_)
    PyTuple_SET_ITEM(t_, i_, PyLong_FromLongLong((long long)$1[i_]));
  $result = SWIG_Python_AppendOutput($result, t_);
}
/* ... while the shape INPUT of gptaq_safetensors_writer_add / gptaq_npy_write_nd stays a
 * buffer (SWIG would otherwise match the typemap above for const int64_t * too). */
%apply const int64_t *GPTAQ_I64_IN { const int64_t *shape };

/* ---- callbacks ------------------------------------------------------------------
 * One Python object per context receives both callbacks: obj.progress(phase, done,
 * total) -> truthy to cancel, and obj.log(level, message). The C library calls them on
 * the calling thread while the GIL is released; the trampolines take the GIL. Pending
 * signals (Ctrl-C) are checked at every progress report: a KeyboardInterrupt (or any
 * exception escaping the object's method) is stored as obj.error and cancels the call;
 * the Pythonic layer raises it once the call has returned. The object must stay alive
 * while it is set (the Pythonic layer keeps it beside the context). */
%{
static void gptaq_py_store_error(PyObject *obj) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (value) {
    if (tb) PyException_SetTraceback(value, tb);
    if (PyObject_SetAttrString(obj, "error", value) < 0) PyErr_Clear();
  }
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
}

static int32_t gptaq_py_progress_tramp(void *user_data, int32_t phase, int64_t done,
                                       int64_t total) {
  PyObject *obj = (PyObject *)user_data, *r;
  int32_t stop = 0;
  PyGILState_STATE g = PyGILState_Ensure();
  if (PyErr_CheckSignals() < 0) {
    gptaq_py_store_error(obj);
    stop = 1;
  } else {
    r = PyObject_CallMethod(obj, "progress", "iLL", (int)phase, (long long)done,
                            (long long)total);
    if (!r) {
      gptaq_py_store_error(obj);
      stop = 1;
    } else {
      int t = PyObject_IsTrue(r);
      Py_DECREF(r);
      if (t < 0) {
        gptaq_py_store_error(obj);
        stop = 1;
      } else {
        stop = t ? 1 : 0;
      }
    }
  }
  PyGILState_Release(g);
  return stop;
}

static void gptaq_py_log_tramp(void *user_data, int32_t level, const char *message) {
  PyObject *obj = (PyObject *)user_data, *msg, *r;
  PyGILState_STATE g = PyGILState_Ensure();
  msg = PyUnicode_DecodeUTF8(message ? message : "", message ? (Py_ssize_t)strlen(message) : 0,
                             "replace");
  if (msg) {
    r = PyObject_CallMethod(obj, "log", "iO", (int)level, msg);
    Py_DECREF(msg);
    if (r) Py_DECREF(r);
  }
  if (PyErr_Occurred()) gptaq_py_store_error(obj);
  PyGILState_Release(g);
}
%}

%nothread gptaq_py_set_callbacks;
%nothread gptaq_py_stats_buffers;
%inline %{
/* Point ctx's log callback at obj (None clears it) and its progress callback too when
 * `progress` is non-zero (else clear it: with a progress callback the C library copies the
 * statistics before each batch, so the binding arms it only when it is wanted). */
int32_t gptaq_py_set_callbacks(gptaq_ctx *ctx, PyObject *obj, int progress) {
  int32_t st;
  int on = obj && obj != Py_None;
  st = gptaq_ctx_set_progress(ctx, on && progress ? gptaq_py_progress_tramp : NULL,
                              on && progress ? (void *)obj : NULL);
  if (st != GPTAQ_OK) return st;
  return gptaq_ctx_set_log(ctx, on ? gptaq_py_log_tramp : NULL, on ? (void *)obj : NULL);
}

/* gptaq_stats_buffers_get as (status, backend, has_cross, xx, dx, xsum, tokens) with the
 * pointers as integer addresses (0 for NULL), for the Pythonic layer's array views. */
PyObject *gptaq_py_stats_buffers(gptaq_ctx *ctx) {
  gptaq_stats_buffers b;
  int32_t st;
  memset(&b, 0, sizeof b);
  b.struct_size = (int32_t)sizeof b;
  Py_BEGIN_ALLOW_THREADS
  st = gptaq_stats_buffers_get(ctx, &b);
  Py_END_ALLOW_THREADS
  return Py_BuildValue("(iiiKKKK)", (int)st, (int)b.backend, (int)b.has_cross,
                       (unsigned long long)(uintptr_t)b.xx, (unsigned long long)(uintptr_t)b.dx,
                       (unsigned long long)(uintptr_t)b.xsum,
                       (unsigned long long)(uintptr_t)b.tokens);
}
%}

%include "gptaq.i"
