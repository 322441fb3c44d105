/*
 * gptaq.i - the one SWIG interface over the public C API (include/gptaq/gptaq.h),
 * shared by every SWIG-generated binding (Python, Java, Go).
 *
 * HOW TO USE IT (udpipe style)
 *   A per-language file sets the module, defines that language's typemaps (buffers,
 *   out-parameters, exceptions) and loader code, and %includes this file LAST:
 *
 *       %module(...) mymodule
 *       ... language typemaps, %apply lines, %pythoncode / %pragma(java) ... ...
 *       %include "gptaq.i"
 *
 *   Typemaps must be defined before this file so that they apply to the declarations
 *   below. Run swig with -I<repo>/include -I<repo>/bindings/swig.
 *
 * WHAT IS HERE (language-neutral only)
 *   - the public header itself, %included whole: every function, struct, enum and
 *     macro of gptaq.h appears in each low-level module, including the functions that
 *     are appended to the header later (checkpoint formats, statistics exchange). A new
 *     function that takes plain pointers gets SWIG's default opaque pointer types until
 *     a language file gives it typemaps; it is never silently left out.
 *   - gptaq_config and gptaq_solve_info get a constructor that fills them the way the
 *     C API asks (gptaq_config_init / struct_size), and a matching destructor, so a
 *     binding can never pass an unsized or zeroed config.
 *   - %pointer_functions for the constructor out-parameters (gptaq_ctx **,
 *     gptaq_npy_reader **): new_gptaq_ctx_pp(), gptaq_ctx_pp_value(), ... A language may
 *     instead map these with its own argout typemap (Python does).
 *   - a few helpers in C (gptaq_swig_*) that every binding needs and that are awkward
 *     through the raw API: the right error message for a failed call, the sizes of the
 *     versioned structs, the number of binary-coding bits of a configuration.
 *
 * Nothing here may use a language-specific typemap, feature or #ifdef SWIGPYTHON etc.
 */

%{
#include <stdlib.h>
#include <string.h>
#include "gptaq/gptaq.h"
%}

%include <stdint.i>
%include <cpointer.i>

/* ---- constructor out-parameters ------------------------------------------------- */
%pointer_functions(gptaq_ctx *, gptaq_ctx_pp);
%pointer_functions(gptaq_npy_reader *, gptaq_npy_reader_pp);

/* ---- versioned structs: constructed filled, freed by the matching function ------- */
%extend gptaq_config {
  /* A configuration holding the library's defaults (gptaq_config_init). */
  gptaq_config() {
    gptaq_config *cfg = (gptaq_config *)calloc(1, sizeof(gptaq_config));
    if (cfg) gptaq_config_init(cfg, sizeof(gptaq_config));
    return cfg;
  }
  ~gptaq_config() { free($self); }
}

%extend gptaq_solve_info {
  /* An info block with struct_size set and everything else zero. */
  gptaq_solve_info() {
    gptaq_solve_info *info = (gptaq_solve_info *)calloc(1, sizeof(gptaq_solve_info));
    if (info) info->struct_size = (int32_t)sizeof(gptaq_solve_info);
    return info;
  }
  ~gptaq_solve_info() { free($self); }
}

/* ---- the whole public header ---------------------------------------------------- */
%include "gptaq/gptaq.h"

/* ---- helpers every binding needs ------------------------------------------------ */
%inline %{
/* The message that explains `status`, returned by a call on `ctx` (NULL for calls
 * without a context): the context's own message, or the thread-local one where the C
 * API puts it (NULL ctx, GPTAQ_ERR_BUSY, create, file helpers). Never NULL; falls back
 * to gptaq_status_string(status) when the library left no message. */
const char *gptaq_swig_errmsg(const gptaq_ctx *ctx, int32_t status) {
  const char *msg;
  if (status == GPTAQ_OK) return "";
  msg = (ctx && status != GPTAQ_ERR_BUSY) ? gptaq_ctx_errmsg(ctx) : gptaq_last_errmsg();
  if (!msg || !*msg) msg = gptaq_status_string(status);
  return msg;
}

/* sizeof the versioned structs as this binding was compiled. */
int32_t gptaq_swig_config_size(void) { return (int32_t)sizeof(gptaq_config); }
int32_t gptaq_swig_solve_info_size(void) { return (int32_t)sizeof(gptaq_solve_info); }

/* Refill *cfg with the library's defaults (gptaq_config_init with this sizeof). */
int32_t gptaq_swig_config_reset(gptaq_config *cfg) {
  return gptaq_config_init(cfg, sizeof(gptaq_config));
}

/* The number of output groups per row for a context's configuration and `columns`
 * (gptaq_num_groups of its group_size), or -1 on invalid input. */
int64_t gptaq_swig_ctx_num_groups(const gptaq_ctx *ctx) {
  gptaq_config cfg;
  if (!ctx) return -1;
  memset(&cfg, 0, sizeof cfg);
  cfg.struct_size = (int32_t)sizeof cfg;
  if (gptaq_ctx_get_config(ctx, &cfg) != GPTAQ_OK) return -1;
  return gptaq_num_groups(gptaq_ctx_columns(ctx), cfg.group_size);
}
%}
