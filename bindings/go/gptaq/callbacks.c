/* C half of callbacks.go: the trampolines the library calls (progress, log), which hand
 * the call to the exported Go functions with the cgo.Handle of the quantizer's callback
 * state as user data, and the calls that take a context as an address (the SWIG layer
 * keeps handles as uintptr; converting in C keeps the Go side free of uintptr-to-pointer
 * conversions). */
#include <stdint.h>
#include <gptaq/gptaq.h>
#include "_cgo_export.h"

static int32_t gptaq_go_progress_tramp(void *user_data, int32_t phase, int64_t done,
                                       int64_t total) {
  return gptaqGoProgress((uintptr_t)user_data, phase, done, total);
}

static void gptaq_go_log_tramp(void *user_data, int32_t level, const char *message) {
  gptaqGoLog((uintptr_t)user_data, level, (char *)message);
}

/* Register (handle != 0) or clear the progress trampoline. The binding registers it only
 * for calls that can be cancelled or report progress: with a progress callback the
 * library keeps a copy of the statistics during a multi-chunk batch (to undo a cancel),
 * which a call nobody watches should not pay for. */
int32_t gptaq_go_set_progress(uintptr_t ctx, uintptr_t handle) {
  return gptaq_ctx_set_progress((gptaq_ctx *)ctx, handle ? gptaq_go_progress_tramp : NULL,
                                (void *)handle);
}

/* Register (handle != 0) or clear the log trampoline. */
int32_t gptaq_go_set_log(uintptr_t ctx, uintptr_t handle) {
  return gptaq_ctx_set_log((gptaq_ctx *)ctx, handle ? gptaq_go_log_tramp : NULL, (void *)handle);
}

int32_t gptaq_go_stats_buffers(uintptr_t ctx, gptaq_stats_buffers *out) {
  out->struct_size = (int32_t)sizeof *out;
  return gptaq_stats_buffers_get((gptaq_ctx *)ctx, out);
}
