/*
 * gptaq_go.i - the Go-specific part of the SWIG binding: module name, cgo link line and
 * slice typemaps. The shared, language-neutral interface is ../swig/gptaq.i, included
 * last. The generated package is internal/lowlevel (the raw C API one to one, statuses
 * as int32); the idiomatic package is ./gptaq.
 *
 * Generate (CMake does this into its build tree; by hand, for `go build` without CMake):
 *   cd bindings/go/internal/lowlevel && go generate
 * which runs
 *   swig -go -cgo -intgosize 64 -DSWIGWORDSIZE64 -module lowlevel -I../../../../include -I../../../swig \
 *        -o gptaq_wrap.c -outdir . ../../gptaq_go.i
 */
%module lowlevel

/* Link through pkg-config: `pkg-config gptaq` must answer (PKG_CONFIG_PATH=<prefix>/lib/
 * pkgconfig for an installed library; CMake writes one for its build tree). Extra flags,
 * e.g. an rpath, come through CGO_LDFLAGS. */
%insert(cgo_comment_typedefs) %{
#cgo pkg-config: gptaq
%}

/* ---- slices for the C API's buffers -----------------------------------------------
 * A Go slice is passed to C as its backing array (no copy); nil or empty is NULL. The C
 * side never keeps the pointer after the call (the library copies what it needs), which
 * is what cgo's pointer rules ask. Lengths are checked by the idiomatic layer. */
%define GPTAQ_GO_SLICE(CTYPE, GOTYPE)
%typemap(gotype) CTYPE *, const CTYPE * "[]" #GOTYPE
%typemap(in) CTYPE *, const CTYPE *
%{ $1 = ($1_ltype)($input.len > 0 ? $input.array : 0); %}
%typemap(freearg) CTYPE *, const CTYPE * ""
%typemap(argout) CTYPE *, const CTYPE * ""
%enddef

GPTAQ_GO_SLICE(float, float32)
GPTAQ_GO_SLICE(double, float64)
GPTAQ_GO_SLICE(uint8_t, uint8)
GPTAQ_GO_SLICE(uint16_t, uint16)
GPTAQ_GO_SLICE(int32_t, int32)
GPTAQ_GO_SLICE(int64_t, int64)

/* Untyped data buffers (a batch in any dtype, npy rows) are []byte; the idiomatic layer
 * views []float32 / []uint16 as bytes without copying. Other void * (a CUDA stream)
 * keep SWIG's default (uintptr). */
%typemap(gotype) const void *x_q, const void *x_fp, const void *data, void *dst "[]byte"
%typemap(in) const void *x_q, const void *x_fp, const void *data, void *dst
%{ $1 = ($1_ltype)($input.len > 0 ? $input.array : 0); %}

/* ---- calls whose error message lives in a thread-local slot ------------------------
 * A goroutine can move to another OS thread between two cgo calls, so a thread-local
 * message must be read inside the same C call that failed. gptaq_go_ctx_create (below)
 * does that and copies the message into a caller-owned buffer (msg, NUL-terminated,
 * truncated). Context calls keep their message on the context, which the idiomatic
 * layer reads (gptaq_swig_errmsg) while it still holds the context's lock. */
%typemap(gotype) (char *msg, int64_t msg_cap) "[]byte"
%typemap(in) (char *msg, int64_t msg_cap)
%{ $1 = (char *)$input.array; $2 = (int64_t)$input.len; %}


%include "gptaq.i"

/* After the shared file: this uses its gptaq_swig_errmsg. */
%{
static void gptaq_go_copy_msg(char *msg, int64_t cap, const char *src) {
  int64_t i = 0;
  if (!msg || cap <= 0) return;
  if (src)
    for (; i + 1 < cap && src[i]; ++i) msg[i] = src[i];
  msg[i] = 0;
}
%}

%inline %{
/* gptaq_ctx_create; on failure the thread-local message is copied into msg in the same
 * C call (the goroutine may run on another OS thread by the next cgo call). */
int32_t gptaq_go_ctx_create(gptaq_ctx **out, int64_t columns, const gptaq_config *cfg,
                            char *msg, int64_t msg_cap) {
  int32_t st = gptaq_ctx_create(out, columns, cfg);
  gptaq_go_copy_msg(msg, msg_cap, st == GPTAQ_OK ? "" : gptaq_swig_errmsg(NULL, st));
  return st;
}
%}
