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
GPTAQ_BUF(const float *GPTAQ_F32_IN, 0, "f", 4)
GPTAQ_BUF(float *GPTAQ_F32_OUT, 1, "f", 4)
GPTAQ_BUF(const uint8_t *GPTAQ_U8_IN, 0, "Bb?c", 1)
GPTAQ_BUF(uint8_t *GPTAQ_U8_OUT, 1, "Bb", 1)
GPTAQ_BUF(int32_t *GPTAQ_I32_OUT, 1, "il", 4)
GPTAQ_BUF(const uint16_t *GPTAQ_U16_IN, 0, "He", 2)
GPTAQ_BUF(uint16_t *GPTAQ_U16_OUT, 1, "He", 2)
GPTAQ_BUF(const int64_t *GPTAQ_I64_IN, 0, "lq", 8)

%apply const void *GPTAQ_ANY_IN { const void *x_q, const void *x_fp, const void *data };
%apply void *GPTAQ_ANY_OUT { void *dst };
%apply const float *GPTAQ_F32_IN { const float *weight, const float *src };
%apply float *GPTAQ_F32_OUT { float *scales, float *zeros, float *dequant, float *alpha,
                              float *bias, float *dst };
%apply const uint8_t *GPTAQ_U8_IN { const uint8_t *mask };
%apply uint8_t *GPTAQ_U8_OUT { uint8_t *codes };
%apply int32_t *GPTAQ_I32_OUT { int32_t *g_idx };
%apply const uint16_t *GPTAQ_U16_IN { const uint16_t *src };
%apply uint16_t *GPTAQ_U16_OUT { uint16_t *dst };
%apply const int64_t *GPTAQ_I64_IN { const int64_t *shape };

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
%apply int32_t *OUTPUT { int32_t *dtype };
%apply int64_t *OUTPUT { int64_t *rows, int64_t *cols, int64_t *rows_read };

%include "gptaq.i"
