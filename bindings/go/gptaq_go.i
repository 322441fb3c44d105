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
GPTAQ_GO_SLICE(uint32_t, uint32)
GPTAQ_GO_SLICE(int32_t, int32)
GPTAQ_GO_SLICE(int64_t, int64)

/* Untyped data buffers (a batch in any dtype, npy rows) are []byte; the idiomatic layer
 * views []float32 / []uint16 as bytes without copying. Other void * (a CUDA stream)
 * keep SWIG's default (uintptr). */
%typemap(gotype) const void *x_q, const void *x_fp, const void *data, void *dst,
                 const void *src, const void *scales, void *scales_out "[]byte"
%typemap(in) const void *x_q, const void *x_fp, const void *data, void *dst,
             const void *src, const void *scales, void *scales_out
%{ $1 = ($1_ltype)($input.len > 0 ? $input.array : 0); %}

/* An output text buffer and its capacity (gptaq_gptq_quantize_config): a []byte, nil
 * (NULL, capacity 0) to learn the length. */
%typemap(gotype) (char *buf, int64_t capacity) "[]byte"
%typemap(in) (char *buf, int64_t capacity)
%{ $1 = (char *)($input.len > 0 ? $input.array : 0); $2 = (int64_t)$input.len; %}

/* String out-parameters (const char **: safetensors names, dtypes, metadata) cannot be
 * a Go *string (the C side writes a char pointer there). They are raw addresses, 0 for
 * NULL; the idiomatic layer passes 0 and reads the strings through the gptaq_go_*
 * accessors below, which return them as Go strings. */
%typemap(gotype) const char ** "uintptr"
%typemap(in) const char ** %{ $1 = ($1_ltype)$input; %}

/* The statistics buffers' pointer members are addresses of library memory (host or
 * CUDA device memory), not slices: the idiomatic package reads them through its own
 * cgo call (gptaq_stats_buffers_get) with their sizes. SWIG's accessors would present
 * them as slices of unknown length, so they are left out of this layer. */
%ignore gptaq_stats_buffers::xx;
%ignore gptaq_stats_buffers::dx;
%ignore gptaq_stats_buffers::xsum;
%ignore gptaq_stats_buffers::tokens;

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

/* Constructor out-parameters of the handles the shared file does not cover. */
%pointer_functions(gptaq_safetensors *, gptaq_safetensors_pp);
%pointer_functions(gptaq_safetensors_writer *, gptaq_safetensors_writer_pp);
%pointer_functions(gptaq_imatrix *, gptaq_imatrix_pp);

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

/* String accessors of the safetensors reader (its const char ** out-parameters): the
 * name and dtype of tensor i and metadata entry i's key and value, as Go strings
 * (copied), "" when i is out of range. */
%inline %{
const char *gptaq_go_safetensors_name(const gptaq_safetensors *r, int64_t i) {
  const char *s = NULL;
  if (gptaq_safetensors_tensor_info(r, i, &s, NULL, NULL, NULL, NULL) != GPTAQ_OK || !s) return "";
  return s;
}
const char *gptaq_go_safetensors_dtype(const gptaq_safetensors *r, int64_t i) {
  const char *s = NULL;
  if (gptaq_safetensors_tensor_info(r, i, NULL, &s, NULL, NULL, NULL) != GPTAQ_OK || !s) return "";
  return s;
}
const char *gptaq_go_safetensors_metadata_key(const gptaq_safetensors *r, int64_t i) {
  const char *k = NULL;
  if (gptaq_safetensors_metadata_at(r, i, &k, NULL) != GPTAQ_OK || !k) return "";
  return k;
}
const char *gptaq_go_safetensors_metadata_value(const gptaq_safetensors *r, int64_t i) {
  const char *v = NULL;
  if (gptaq_safetensors_metadata_at(r, i, NULL, &v) != GPTAQ_OK || !v) return "";
  return v;
}
%}
