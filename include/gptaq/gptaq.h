/*
 * gptaq.h - the public C ABI of libgptaq.
 *
 * libgptaq quantizes the weights of linear layers with Hessian-based post-training
 * quantization: RTN (baseline), GPTQ, GPTAQ (asymmetric calibration) and GPTQT
 * (binary coding). Calibration activations are streamed in with gptaq_add_batch();
 * only O(columns^2) statistics are kept. gptaq_solve() then quantizes any number of
 * weights that read the same input (q/k/v, gate/up) against those statistics; the
 * factorization of the Hessian is computed once and reused.
 *
 * CONVENTIONS
 *  - Every function that can fail returns a gptaq_status (0 = GPTAQ_OK, < 0 = error).
 *    Nothing is printed and nothing aborts.
 *  - Errors on a context leave a message on the context (gptaq_ctx_errmsg). Calls that
 *    have no context (create, file helpers) leave it in a thread-local slot
 *    (gptaq_last_errmsg). A failed call leaves the context usable and its statistics
 *    unchanged.
 *  - Matrices are row-major (C order). A weight is rows x columns (out_features x
 *    in_features), as frameworks store it. A calibration batch is tokens x columns.
 *  - Sizes are int64_t; booleans are int32_t (0 / non-zero).
 *
 * REPRODUCIBILITY
 *  Results are deterministic for a given build, backend and thread configuration. BLAS
 *  products may round differently with another OpenBLAS thread count (set process-wide
 *  with OPENBLAS_NUM_THREADS; the library never changes it), which can flip codes that sit
 *  on a rounding boundary. config.num_threads does not change results.
 *
 * THREAD SAFETY
 *  A context is not thread-safe: use one context per thread, or serialize calls on a
 *  context yourself (a concurrent call that the library detects fails with
 *  GPTAQ_ERR_BUSY). Different contexts may be used from different threads at the same
 *  time. Functions without a context are thread-safe.
 */
#ifndef GPTAQ_GPTAQ_H
#define GPTAQ_GPTAQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Export macro: symbols are hidden by default and only the API is exported. */
#if defined(SWIG)
#define GPTAQ_API
#elif defined(_WIN32)
#if defined(GPTAQ_BUILDING_LIBRARY)
#define GPTAQ_API __declspec(dllexport)
#else
#define GPTAQ_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#define GPTAQ_API __attribute__((visibility("default")))
#else
#define GPTAQ_API
#endif

/* ---------------------------------------------------------------------------------- */
/* Version                                                                              */
/* ---------------------------------------------------------------------------------- */

#define GPTAQ_VERSION_MAJOR 0
#define GPTAQ_VERSION_MINOR 1
#define GPTAQ_VERSION_PATCH 0
#define GPTAQ_VERSION_NUMBER \
  (GPTAQ_VERSION_MAJOR * 10000 + GPTAQ_VERSION_MINOR * 100 + GPTAQ_VERSION_PATCH)

/* The version of the library actually loaded, as GPTAQ_VERSION_NUMBER. Compare with the
 * header's macro to detect a header/library mismatch. */
GPTAQ_API int32_t gptaq_version_number(void);

/* The version as a static string, e.g. "0.1.0". */
GPTAQ_API const char *gptaq_version_string(void);

/* A static one-line description of the build: version, backends built with it, BLAS,
 * and the backends found at run time ("found: cpu,cuda (1 device, ...)" or "found: cpu;
 * cuda: <why not>"). The first call looks for the CUDA module (see
 * gptaq_backend_available), so it may load the CUDA runtime. */
GPTAQ_API const char *gptaq_build_info(void);

/* ---------------------------------------------------------------------------------- */
/* Status codes (stable: values never change, new ones are appended)                    */
/* ---------------------------------------------------------------------------------- */

typedef enum gptaq_status {
  GPTAQ_OK = 0,
  GPTAQ_ERR_INVALID_ARGUMENT = -1,   /* NULL pointer, value out of range, bad enum     */
  GPTAQ_ERR_SHAPE = -2,              /* a size does not match the context or overflows */
  GPTAQ_ERR_NON_FINITE = -3,         /* NaN or Inf in an input; nothing was changed    */
  GPTAQ_ERR_NO_DATA = -4,            /* solve before any calibration batch             */
  GPTAQ_ERR_NOT_POSITIVE_DEFINITE = -5, /* Hessian still indefinite after damping retries */
  GPTAQ_ERR_OUT_OF_MEMORY = -6,      /* an allocation failed; the message gives the size */
  GPTAQ_ERR_BACKEND_UNAVAILABLE = -7, /* backend not compiled in or no device answers  */
  GPTAQ_ERR_DEVICE = -8,             /* a CUDA / cuBLAS / cuSOLVER call failed          */
  GPTAQ_ERR_IO = -9,                 /* a file could not be opened, read or written    */
  GPTAQ_ERR_FORMAT = -10,            /* a file or buffer is malformed or inconsistent  */
  GPTAQ_ERR_UNSUPPORTED = -11,       /* valid request this build or method cannot do   */
  GPTAQ_ERR_BUSY = -12,              /* the context is in use by another thread; the
                                        message is in gptaq_last_errmsg (the context's
                                        own message belongs to the other call)         */
  GPTAQ_ERR_INTERNAL = -13,          /* a bug: please report it with the message       */
  GPTAQ_ERR_CANCELLED = -14          /* the progress callback asked to stop; the context
                                        is exactly as it was before the call           */
} gptaq_status;

/* A static English name for a status, e.g. "invalid argument". Never NULL. */
GPTAQ_API const char *gptaq_status_string(int32_t status);

/* The message of the last failed call on this thread that had no context (create,
 * file helpers). Empty string when there is none. Valid until the next such call on the
 * same thread. Never NULL. */
GPTAQ_API const char *gptaq_last_errmsg(void);

/* ---------------------------------------------------------------------------------- */
/* Enumerations (stored as int32_t in structs so every binding sees the same layout)    */
/* ---------------------------------------------------------------------------------- */

typedef enum gptaq_method {
  GPTAQ_METHOD_RTN = 0,   /* round to nearest, no calibration needed beyond shapes     */
  GPTAQ_METHOD_GPTQ = 1,  /* GPTQ: error feedback through the inverse Hessian          */
  GPTAQ_METHOD_GPTAQ = 2  /* GPTAQ: GPTQ plus the asymmetric-calibration term (x_fp)   */
} gptaq_method;

typedef enum gptaq_quantizer_kind {
  GPTAQ_QUANTIZER_UNIFORM = 0, /* the GPTQ uniform grid: codes, scales, zeros           */
  GPTAQ_QUANTIZER_BINARY = 1   /* GPTQT binary coding: level indices, alphas, bias      */
} gptaq_quantizer_kind;

typedef enum gptaq_backend {
  GPTAQ_BACKEND_AUTO = 0, /* CUDA when compiled in and a device answers, else CPU       */
  GPTAQ_BACKEND_CPU = 1,
  GPTAQ_BACKEND_CUDA = 2
} gptaq_backend;

typedef enum gptaq_dtype {
  GPTAQ_DTYPE_F32 = 0,
  GPTAQ_DTYPE_F16 = 1,  /* IEEE binary16, passed as uint16_t bits                      */
  GPTAQ_DTYPE_BF16 = 2, /* bfloat16, passed as uint16_t bits                            */
  GPTAQ_DTYPE_U8 = 3,   /* only for files (codes)                                       */
  GPTAQ_DTYPE_I32 = 4   /* only for files (g_idx, packed words)                         */
} gptaq_dtype;

typedef enum gptaq_objective {
  GPTAQ_OBJECTIVE_OUTPUT = 0,  /* GPTQT search: mean_r (sum_j dW_rj * xbar_j)^2        */
  GPTAQ_OBJECTIVE_HESSIAN = 1, /* GPTQT search: trace(dW H dW^T)                        */
  GPTAQ_OBJECTIVE_WEIGHT = 2   /* GPTQT search: sum dW^2 (also the fallback)            */
} gptaq_objective;

/* ---------------------------------------------------------------------------------- */
/* Configuration: versioned and append-only                                            */
/* ---------------------------------------------------------------------------------- */

/* Fill with gptaq_config_init(&cfg, sizeof cfg) first, then change what you need.
 * The library reads only the first struct_size bytes and defaults the rest, so a
 * program compiled against an older header keeps working with a newer library.
 * Only int32_t and float fields: the layout is the same in every language. */
typedef struct gptaq_config {
  int32_t struct_size;     /* sizeof(gptaq_config) as the caller compiled it           */
  int32_t method;          /* gptaq_method; default GPTAQ_METHOD_GPTQ                 */
  int32_t bits;            /* 2..8 (uniform), 2..4 (binary); default 4                */
  int32_t group_size;      /* columns per group, or -1 for one group per row; def 128 */
  int32_t sym;             /* symmetric grid (zero = 2^(bits-1)); default 1           */
  int32_t act_order;       /* quantize columns by decreasing diag(H); default 0       */
  int32_t static_groups;   /* group params from the original weight; default 0        */
  int32_t mse;             /* MSE clip search for scale/zero; default 0               */
  int32_t block_size;      /* lazy block width B, 1..4096; default 128                */
  int32_t backend;         /* gptaq_backend; default GPTAQ_BACKEND_AUTO               */
  int32_t device;          /* CUDA device ordinal; default 0                          */
  int32_t num_threads;     /* CPU threads of the library's own loops, 0 = all; def 0  */
  float damp_percent;      /* relative damping, > 0 and finite; default 0.01          */
  int32_t damp_retries;    /* x10 damping retries when a factorization fails, 0..8; 4 */
  float alpha;             /* GPTAQ's weight of the asymmetry term, finite; def 0.25  */
  float mse_norm;          /* exponent of the MSE clip error, > 0; default 2.4        */
  int32_t mse_grid;        /* MSE grid points per unit shrink, 1..10000; default 100  */
  float mse_max_shrink;    /* largest shrink tried, (0, 1); default 0.8               */
  /* GPTQT binary coding (quantizer = GPTAQ_QUANTIZER_BINARY) */
  int32_t quantizer;       /* gptaq_quantizer_kind; default GPTAQ_QUANTIZER_UNIFORM   */
  int32_t hyper_bits;      /* n, the first linear step's bits, bits < n <= 8; 0 = bits+2 */
  int32_t explore_bits;    /* e, scale search span in bits, 0..n-1; default 1          */
  int32_t explore_split;   /* S, number of scale candidates, 1..1000; default 20        */
  int32_t objective;       /* gptaq_objective of the search; default OUTPUT            */
  /* Appended later: a caller compiled with a smaller struct_size gets the defaults */
  int32_t act_group_aware; /* group-aware reordering (GAR): columns by decreasing diag(H)
                              inside each group, groups by their largest entry, so groups
                              stay contiguous and g_idx is c / group_size. Needs
                              group_size >= 1, excludes act_order; default 0            */
  int32_t failsafe_tokens; /* quantize by round-to-nearest when the statistics hold fewer
                              than this many tokens (zero tokens included); 0 = off,
                              >= 0; default 0                                          */
} gptaq_config;

/* Fill *cfg with the defaults. struct_size is the caller's sizeof(gptaq_config); the
 * call writes only that many bytes.
 * Returns GPTAQ_OK, or GPTAQ_ERR_INVALID_ARGUMENT if cfg is NULL or struct_size is
 * smaller than the first field. */
GPTAQ_API int32_t gptaq_config_init(gptaq_config *cfg, size_t struct_size);

/* ---------------------------------------------------------------------------------- */
/* Contexts                                                                             */
/* ---------------------------------------------------------------------------------- */

typedef struct gptaq_ctx gptaq_ctx;

/* Create a context for inputs of width `columns` (in_features) with configuration
 * `cfg` (NULL = all defaults). The configuration is validated and copied.
 * On success *out is a new context; on failure *out is NULL and gptaq_last_errmsg()
 * says why.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL out, bad config field, unknown enum
 * value), GPTAQ_ERR_SHAPE (columns <= 0 or so large that columns^2 overflows),
 * GPTAQ_ERR_OUT_OF_MEMORY, GPTAQ_ERR_BACKEND_UNAVAILABLE (CUDA asked for but not compiled
 * in or no device), GPTAQ_ERR_DEVICE. */
GPTAQ_API int32_t gptaq_ctx_create(gptaq_ctx **out, int64_t columns, const gptaq_config *cfg);

/* Free a context and everything it owns. gptaq_ctx_free(NULL) is a no-op. */
GPTAQ_API void gptaq_ctx_free(gptaq_ctx *ctx);

/* The message of the last failed call on this context ("" if none). Never NULL; valid
 * until the next call on the context. gptaq_ctx_errmsg(NULL) returns a static message. */
GPTAQ_API const char *gptaq_ctx_errmsg(const gptaq_ctx *ctx);

/* The input width the context was created for, or -1 if ctx is NULL. */
GPTAQ_API int64_t gptaq_ctx_columns(const gptaq_ctx *ctx);

/* The backend the context actually runs on (GPTAQ_BACKEND_CPU or _CUDA), -1 if NULL. */
GPTAQ_API int32_t gptaq_ctx_backend(const gptaq_ctx *ctx);

/* Copy the context's configuration into *cfg (only cfg->struct_size bytes; set that
 * field first, or use gptaq_config_init). Returns GPTAQ_OK or GPTAQ_ERR_INVALID_ARGUMENT
 * (its message in gptaq_last_errmsg: the context is read-only here). */
GPTAQ_API int32_t gptaq_ctx_get_config(const gptaq_ctx *ctx, gptaq_config *cfg);

/* Replace the configuration of a context, keeping its statistics (e.g. solve the same
 * layer at other bits). The cached factorization is kept when damping, act-order,
 * method and alpha are unchanged. The backend, device and method family (whether x_fp
 * statistics are kept: GPTAQ vs others) cannot change; that is GPTAQ_ERR_INVALID_ARGUMENT.
 * On any error the old configuration stays. */
GPTAQ_API int32_t gptaq_ctx_set_config(gptaq_ctx *ctx, const gptaq_config *cfg);

/* Forget all statistics (as if freshly created). */
GPTAQ_API int32_t gptaq_ctx_reset(gptaq_ctx *ctx);

/* Total number of tokens accumulated so far (masked-out tokens not counted). */
GPTAQ_API int64_t gptaq_ctx_num_tokens(const gptaq_ctx *ctx);

/* CUDA only: the stream (a cudaStream_t passed as void *) the context enqueues its work
 * on; NULL = the context's own stream. The caller keeps the stream alive while the
 * context uses it. Work already queued on the previous stream is finished first; every
 * call on the context still returns only when its work is done, so the stream orders the
 * context after the caller's earlier work on it (e.g. kernels writing x_q).
 * Returns GPTAQ_OK, GPTAQ_ERR_UNSUPPORTED on the CPU backend unless stream is NULL,
 * GPTAQ_ERR_INVALID_ARGUMENT (the stream belongs to another device than the context's),
 * GPTAQ_ERR_DEVICE. */
GPTAQ_API int32_t gptaq_ctx_set_stream(gptaq_ctx *ctx, void *stream);

/* ---------------------------------------------------------------------------------- */
/* Progress, cancellation and log messages of long calls                               */
/* ---------------------------------------------------------------------------------- */

/* The phase a progress report is about. */
typedef enum gptaq_phase {
  GPTAQ_PHASE_STATISTICS = 0,    /* accumulating a batch (gptaq_add_batch*)             */
  GPTAQ_PHASE_FACTORIZATION = 1, /* damping, Cholesky, inverse, GPTAQ's P               */
  GPTAQ_PHASE_SWEEP = 2,         /* the column sweep (GPTQT: also the scale search)     */
  GPTAQ_PHASE_PACKING = 3        /* writing the outputs (un-permutation, dequant)       */
} gptaq_phase;

/* Progress callback: `done` of `total` units of `phase` (a gptaq_phase) are finished
 * (columns for the factorization and sweep, tokens of the batch for statistics, rows for
 * packing; GPTQT's sweep counts 2 x columns, the scale search being the first half).
 * Each phase of a call reports done = 0 first and done = total last, with done never
 * decreasing in between.
 * Return 0 to go on, non-zero to cancel: the call then returns GPTAQ_ERR_CANCELLED and
 * leaves the context exactly as before the call (statistics, cached factorization and
 * configuration); the same context may be used again at once. */
typedef int32_t (*gptaq_progress_fn)(void *user_data, int32_t phase, int64_t done,
                                     int64_t total);

/* Set (fn non-NULL) or clear (fn NULL) the context's progress callback. It is called on
 * the calling thread, inside gptaq_add_batch, gptaq_add_batch_masked, gptaq_solve and
 * gptaq_solve_binary, at a bounded rate (per block of columns, per statistics chunk, at
 * the start and the end of each phase: at most 258 calls per phase), so its cost is
 * negligible (with the CUDA backend it runs on the host between blocks). It must not
 * call back into the same context.
 * Phases per call: gptaq_add_batch*: STATISTICS (a batch is added in chunks of at least
 * 1024 tokens, at most 64 of them; the chunking does not depend on the callback, so
 * installing one never changes results). Solves: FACTORIZATION (start and end; absent
 * when the cached factorization is reused and for RTN), SWEEP (per block), PACKING.
 * Cost of cancelling a batch: while a callback is set, gptaq_add_batch* copies the
 * statistics first so that a cancellation (or any error) restores them exactly; the copy
 * (columns^2 floats, twice for GPTAQ, in the backend's memory) stays allocated on the
 * context until the callback is cleared. If that memory is not available the batch
 * reports only its start (where cancelling changes nothing) and a WARN message says so.
 * A solve caches a new factorization only when it succeeds. On GPTAQ_ERR_CANCELLED the
 * solve's output buffers may be partly written.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL ctx), GPTAQ_ERR_BUSY. */
GPTAQ_API int32_t gptaq_ctx_set_progress(gptaq_ctx *ctx, gptaq_progress_fn fn,
                                         void *user_data);

/* Severity of a log message. */
typedef enum gptaq_log_level {
  GPTAQ_LOG_DEBUG = 0, /* sizes, timings of phases                                   */
  GPTAQ_LOG_INFO = 1,  /* what a call decided: factor reused, backend chosen         */
  GPTAQ_LOG_WARN = 2   /* damping retries, the failsafe used, CUDA fallback to CPU   */
} gptaq_log_level;

/* Log callback: one complete message (no trailing newline), valid during the call. */
typedef void (*gptaq_log_fn)(void *user_data, int32_t level, const char *message);

/* Set (fn non-NULL) or clear (fn NULL) the context's log callback, called on the calling
 * thread from the context's calls. The library never prints; without a callback the
 * messages are dropped. Setting a callback logs (INFO) the backend the context runs on
 * and why (e.g. AUTO's fallback to the CPU). Messages: WARN for each damping retry and
 * the retries a factorization needed; INFO when the cached factorization is reused;
 * DEBUG with the size and time of each phase.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL ctx), GPTAQ_ERR_BUSY. */
GPTAQ_API int32_t gptaq_ctx_set_log(gptaq_ctx *ctx, gptaq_log_fn fn, void *user_data);

/* ---------------------------------------------------------------------------------- */
/* Calibration                                                                          */
/* ---------------------------------------------------------------------------------- */

/* Accumulate one batch of `tokens` calibration inputs, each of width columns, row-major
 * tokens x columns, in `dtype` (GPTAQ_DTYPE_F32, _F16 or _BF16; the 16-bit types are
 * passed as uint16_t bit patterns).
 *   x_q : the input the layer sees (with every earlier layer already quantized).
 *   x_fp: the full-precision model's input at the same positions. Required for
 *         GPTAQ_METHOD_GPTAQ, must be NULL otherwise.
 * With the CUDA backend the pointers may be host or device memory (detected per call).
 * H = (2/N) sum x_q x_q^T and dXXT = (2/N) sum (x_fp - x_q) x_q^T are accumulated as
 * sums; any split into batches gives the same statistics to fp32 rounding. Nothing of
 * the batch is kept after the call returns. tokens == 0 is a no-op.
 * A batch with any NaN or Inf is rejected whole (GPTAQ_ERR_NON_FINITE) and the
 * statistics are unchanged. Finite inputs so large that the fp32 sums overflow (|x|
 * from about 1e19) are not detected here: the next solve reports GPTAQ_ERR_NON_FINITE.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL ctx/x_q, x_fp missing for GPTAQ or
 * given for other methods, bad dtype, tokens < 0), GPTAQ_ERR_NON_FINITE,
 * GPTAQ_ERR_SHAPE (tokens * columns overflows), GPTAQ_ERR_OUT_OF_MEMORY,
 * GPTAQ_ERR_DEVICE, GPTAQ_ERR_BUSY, GPTAQ_ERR_CANCELLED (the progress callback asked to
 * stop: the statistics are exactly as before the call). */
GPTAQ_API int32_t gptaq_add_batch(gptaq_ctx *ctx, const void *x_q, const void *x_fp,
                                  int64_t tokens, int32_t dtype);

/* As gptaq_add_batch, with a token mask: tokens whose mask byte is 0 (padding) are left
 * out of the statistics and of the token count. mask NULL = every token counts. */
GPTAQ_API int32_t gptaq_add_batch_masked(gptaq_ctx *ctx, const void *x_q, const void *x_fp,
                                         int64_t tokens, int32_t dtype,
                                         const uint8_t *mask);

/* ---------------------------------------------------------------------------------- */
/* Solving                                                                              */
/* ---------------------------------------------------------------------------------- */

/* The number of quantization groups for `columns` inputs and `group_size`
 * (ceil(columns / group_size), or 1 when group_size is -1). -1 for invalid input. */
GPTAQ_API int64_t gptaq_num_groups(int64_t columns, int32_t group_size);

/* What a solve reports beside its outputs. Set struct_size = sizeof(gptaq_solve_info)
 * before the call (the library writes only that many bytes). */
typedef struct gptaq_solve_info {
  int32_t struct_size;
  int32_t n_groups;       /* groups per row in scales/zeros (alpha/bias for binary)   */
  double loss;            /* sum over columns of (w - q)^2 / d^2 / 2 (0 for RTN)      */
  float damp_used;        /* the relative damping finally used (after retries)        */
  int32_t damp_retries;   /* how many x10 damping increases were needed               */
  int32_t factor_reused;  /* 1 if the cached factorization was reused                 */
  int32_t level_set;      /* GPTQT: index of the chosen level set, else -1            */
  int32_t scale_index;    /* GPTQT: index of the chosen scale candidate, else -1      */
  double seconds;         /* wall time of the solve                                   */
  /* Appended later (written only when struct_size covers them) */
  double tokens;          /* calibration tokens the statistics held at the solve      */
  int32_t failsafe_used;  /* 1 when config.failsafe_tokens made this an RTN solve      */
  int32_t reserved;       /* 0                                                        */
} gptaq_solve_info;

/* Quantize one weight (rows x columns, fp32, row-major, host memory) against the
 * context's statistics with the uniform quantizer (GPTQ checkpoint conventions).
 * Outputs (caller-allocated, host memory, written only on success):
 *   codes   rows x columns uint8, each in [0, 2^bits - 1]          (required)
 *   scales  rows x n_groups float32                                (required)
 *   zeros   rows x n_groups float32 (integer-valued)               (required)
 *   g_idx   columns int32: the group that quantized each column    (may be NULL)
 *   dequant rows x columns float32: scale * (code - zero)          (may be NULL)
 *   info    loss, damping used, ...                                (may be NULL)
 * with n_groups = gptaq_num_groups(columns, group_size). RTN needs no batch and ignores
 * act_order and act_group_aware (there is no error feedback for the order to matter).
 * With config.failsafe_tokens > 0 and fewer tokens in the statistics (zero included),
 * the solve is exactly RTN's and info->failsafe_used = 1 (no GPTAQ_ERR_NO_DATA then). The factorization is cached on the context and
 * reused by the next solve until a batch is added or the configuration changes.
 * Memory, in columns^2 floats beside the statistics (1 for GPTQ, 2 for GPTAQ): the
 * cached factorization holds 1 (GPTQ) or 2 (GPTAQ); while it is computed, GPTQ needs 2
 * more for a moment and GPTAQ none. A solve adds working copies of the weight and codes.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL pointer, context configured for
 * the binary quantizer), GPTAQ_ERR_SHAPE (columns differs from the context, rows <= 0,
 * size overflow), GPTAQ_ERR_NON_FINITE (weight has NaN/Inf, the statistics overflowed
 * fp32, or the propagated error overflowed, e.g. with a huge GPTAQ alpha: the outputs
 * are then unspecified),
 * GPTAQ_ERR_NO_DATA, GPTAQ_ERR_NOT_POSITIVE_DEFINITE, GPTAQ_ERR_OUT_OF_MEMORY,
 * GPTAQ_ERR_DEVICE, GPTAQ_ERR_BUSY, GPTAQ_ERR_CANCELLED (the progress callback asked to
 * stop: statistics and cached factorization as before the call, outputs unspecified). */
GPTAQ_API int32_t gptaq_solve(gptaq_ctx *ctx, const float *weight, int64_t rows,
                              int64_t columns, uint8_t *codes, float *scales, float *zeros,
                              int32_t *g_idx, float *dequant, gptaq_solve_info *info);

/* Quantize one weight with the GPTQT binary-coding quantizer (quantizer =
 * GPTAQ_QUANTIZER_BINARY, bits = k). Outputs (host memory, written only on success):
 *   codes   rows x columns uint8 level indices in [0, 2^k); bit i (most significant
 *           first) is the sign of alpha_i: set = +alpha_i, clear = -alpha_i (required)
 *   alpha   rows x n_groups x k float32                            (required)
 *   bias    rows x n_groups float32                                (required)
 *   g_idx   columns int32                                          (may be NULL)
 *   dequant rows x columns float32: sum_i (+/-)alpha_i + bias        (may be NULL)
 *   info    as for gptaq_solve, with the chosen level set and scale (may be NULL)
 * With n = hyper_bits, the level sets are the C(n, k) k-subsets A = {a_1 > ... > a_k}
 * of {2^(n-2), ..., 2, 1, 1/2}, numbered in lexicographic order of positions in that
 * list (info->level_set 0 = the k largest, a uniform grid); alpha[r][g][i] = s * a_i
 * and bias = s * (2^n - 1) / 2 + z for the group's scale s and offset z. The scale
 * candidates t = 0 .. S-1 (info->scale_index) are s = range * (1/(2^(n+e) - 1) +
 * t/(S-1) * (1/(2^(n-e) - 1) - 1/(2^(n+e) - 1))); S = 1 keeps s = range / (2^n - 1).
 * (A, t) is chosen once per call, before the sweep, by round-to-nearest of this weight
 * (dead columns zeroed, per-row or per-group params from the original values) with
 * each candidate, minimizing config.objective: OUTPUT mean_r (sum_j dW_rj xbar_j)^2
 * with xbar the mean of every streamed token, HESSIAN trace(dW H dW^T) (one
 * rows x columns x columns product per candidate: the costly option), WEIGHT sum dW^2
 * (used whatever the objective when no token was streamed). Ties keep the first.
 * Returns the statuses of gptaq_solve (GPTAQ_ERR_NON_FINITE also when no candidate has
 * a finite objective); GPTAQ_ERR_INVALID_ARGUMENT when the context is configured for
 * the uniform quantizer. */
GPTAQ_API int32_t gptaq_solve_binary(gptaq_ctx *ctx, const float *weight, int64_t rows,
                                     int64_t columns, uint8_t *codes, float *alpha,
                                     float *bias, int32_t *g_idx, float *dequant,
                                     gptaq_solve_info *info);

/* ---------------------------------------------------------------------------------- */
/* Capabilities                                                                         */
/* ---------------------------------------------------------------------------------- */

/* 1 if `backend` can be used, else 0. AUTO and CPU always answer 1. CUDA answers 1 when
 * its module loads and a device answers: the CUDA backend is a separate module,
 * libgptaq-cuda.so, loaded at run time the first time a CUDA (or AUTO) context, this
 * function or gptaq_build_info asks for it; the library itself never links CUDA. It is
 * looked for at $GPTAQ_CUDA_MODULE (a file path; when set, the only place tried), else
 * in gptaq-<major>.<minor>/ beside the loaded libgptaq, then beside libgptaq itself.
 * The outcome is kept for the life of the process. Never fails. */
GPTAQ_API int32_t gptaq_backend_available(int32_t backend);

/* ---------------------------------------------------------------------------------- */
/* NumPy .npy files (used by the gptaq tool; handy for tests and bindings)             */
/* ---------------------------------------------------------------------------------- */

/* A streaming reader of a 2-D (or 1-D, seen as 1 x n) C-order .npy file with dtype
 * <f4, <f2, |u1 or <i4. Headers are validated against the file size. */
typedef struct gptaq_npy_reader gptaq_npy_reader;

/* Open `path`. Errors: GPTAQ_ERR_INVALID_ARGUMENT, GPTAQ_ERR_IO, GPTAQ_ERR_FORMAT
 * (not an npy file, Fortran order, unsupported dtype or rank, size mismatch). */
GPTAQ_API int32_t gptaq_npy_open(gptaq_npy_reader **out, const char *path);

/* Shape and dtype (gptaq_dtype) of the array; any pointer may be NULL. */
GPTAQ_API int32_t gptaq_npy_info(const gptaq_npy_reader *r, int32_t *dtype, int64_t *rows,
                                 int64_t *cols);

/* Read the next up-to `max_rows` rows into dst (max_rows * cols elements of the file's
 * dtype). *rows_read gets how many were read (0 at the end). */
GPTAQ_API int32_t gptaq_npy_read_rows(gptaq_npy_reader *r, void *dst, int64_t max_rows,
                                      int64_t *rows_read);

/* Close the reader; NULL is a no-op. */
GPTAQ_API void gptaq_npy_close(gptaq_npy_reader *r);

/* Write a 2-D C-order .npy file (rows x cols of dtype); cols < 0 writes a 1-D array of
 * `rows` elements. Errors: GPTAQ_ERR_INVALID_ARGUMENT, GPTAQ_ERR_IO. */
GPTAQ_API int32_t gptaq_npy_write(const char *path, int32_t dtype, int64_t rows,
                                  int64_t cols, const void *data);

/* Write an N-D C-order .npy file: ndim (1..8) dimensions in shape[], data holding their
 * product of elements of dtype (f32, f16, u8 or i32).
 * Errors: GPTAQ_ERR_INVALID_ARGUMENT, GPTAQ_ERR_IO. */
GPTAQ_API int32_t gptaq_npy_write_nd(const char *path, int32_t dtype, int32_t ndim,
                                     const int64_t *shape, const void *data);

/* ---------------------------------------------------------------------------------- */
/* Half-precision helpers                                                               */
/* ---------------------------------------------------------------------------------- */

/* Convert n values between fp32 and fp16/bf16 bit patterns (round to nearest even).
 * dtype is GPTAQ_DTYPE_F16 or GPTAQ_DTYPE_BF16. Returns GPTAQ_ERR_INVALID_ARGUMENT for
 * NULL pointers or another dtype. */
GPTAQ_API int32_t gptaq_f32_to_half(int32_t dtype, const float *src, uint16_t *dst, int64_t n);
GPTAQ_API int32_t gptaq_half_to_f32(int32_t dtype, const uint16_t *src, float *dst, int64_t n);

/* ==== BEGIN SECTION: checkpoint formats (GPTQ packing, safetensors, LUT-GEMM, imatrix) ==== */

/* ---------------------------------------------------------------------------------- */
/* GPTQ checkpoint packing (AutoGPTQ / GPTQModel / vLLM / transformers layout)          */
/* ---------------------------------------------------------------------------------- */

/* A linear layer at path P (e.g. "model.layers.0.self_attn.q_proj") with K = columns
 * (in_features), N = rows (out_features), b bits and G groups is stored as:
 *   P.qweight  int32 [K*b/32, N]  codes packed along K
 *   P.qzeros   int32 [G, N*b/32]  zeros packed along N
 *   P.scales   fp16  [G, N]
 *   P.g_idx    int32 [K]          the group of each input column
 *   P.bias     (if the layer has one, unchanged; there is no P.weight)
 * Packing: each column of qweight (and each row of qzeros) is a little-endian bit
 * stream of b-bit codes, least significant bit first: code i sits at bit i*b of the
 * stream, i.e. in word (i*b)/32 at bit offset (i*b) mod 32. For b = 2, 4, 8 that is
 * word i/(32/b), offset (i mod (32/b))*b. For b = 3, 32 codes fill 3 words in the
 * pattern 10 | 1 | 10 | 1 | 10: code 10 takes bits 30-31 of the first word and bit 0 of
 * the second, code 21 bit 31 of the second word and bits 0-1 of the third.
 * Supported bits: 2, 3, 4, 8. K*b and N*b must be multiples of 32 (K and N multiples
 * of 32 for 3 bits, of 32/b otherwise).
 * Zero convention: the "gptq" checkpoint format (v1, what vLLM and transformers load by
 * default) stores zero - 1 in qzeros (a symmetric 4-bit layer's words are 0x77777777);
 * "gptq_v2" stores the zero itself. A v1 file cannot hold a zero of 0 (asymmetric
 * grids produce it for groups whose values are all >= 0): see gptaq_gptq_pack. */
typedef enum gptaq_gptq_format {
  GPTAQ_GPTQ_V1 = 0, /* checkpoint_format "gptq": qzeros store zero - 1              */
  GPTAQ_GPTQ_V2 = 1  /* checkpoint_format "gptq_v2": qzeros store the zero            */
} gptaq_gptq_format;

/* The packed shapes for a rows x columns weight: *qweight_rows = columns*bits/32
 * (qweight is qweight_rows x rows), *qzeros_cols = rows*bits/32 (qzeros is n_groups x
 * qzeros_cols), *n_groups = gptaq_num_groups(columns, group_size). Any output pointer
 * may be NULL.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (bits not 2/3/4/8, group_size not -1 or
 * >= 1), GPTAQ_ERR_SHAPE (rows or columns <= 0, columns*bits or rows*bits not a
 * multiple of 32). */
GPTAQ_API int32_t gptaq_gptq_shapes(int64_t rows, int64_t columns, int32_t group_size,
                                    int32_t bits, int64_t *qweight_rows,
                                    int64_t *qzeros_cols, int64_t *n_groups);

/* Pack a uniform solve result (gptaq_solve's outputs) into GPTQ checkpoint tensors.
 * Inputs (host memory, as gptaq_solve writes them):
 *   codes   rows x columns uint8, each in [0, 2^bits - 1]
 *   scales  rows x n_groups float32, finite
 *   zeros   rows x n_groups float32, integers in [0, 2^bits - 1]
 *   g_idx   columns int32 in [0, n_groups), or NULL for column c -> c / group_size
 *           (0 when group_size is -1)
 * with n_groups = gptaq_num_groups(columns, group_size).
 * Outputs (caller-allocated, shapes from gptaq_gptq_shapes; each may be NULL to skip):
 *   qweight      (columns*bits/32) x rows int32
 *   qzeros       n_groups x (rows*bits/32) int32
 *   scales_out   n_groups x rows, of scales_dtype: GPTAQ_DTYPE_F16 (what checkpoints
 *                hold; uint16_t bit patterns), GPTAQ_DTYPE_BF16 or GPTAQ_DTYPE_F32
 *   g_idx_out    columns int32 (a copy of g_idx, or the default above)
 *   zeros_clamped  see below
 * Zeros that v1 cannot hold: with format GPTAQ_GPTQ_V1 a zero of 0 would have to be
 * stored as -1. The packer then stores 0 instead (a loader reads back a zero of 1, so
 * that group's weights dequantize one scale step lower than solved) and counts the
 * (row, group) entries so changed in *zeros_clamped. If zeros_clamped is NULL such a
 * clamp is refused instead: the call fails with GPTAQ_ERR_UNSUPPORTED and writes
 * nothing, so a lossy v1 pack never happens unnoticed. With GPTAQ_GPTQ_V2, or when no
 * zero is 0 (every symmetric grid), *zeros_clamped is 0. Use gptq_v2, or a symmetric
 * grid, to avoid the issue.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL input, bad format, bits or
 * scales_dtype, a code or zero out of range or not an integer, a g_idx entry out of
 * range, a scale not finite), GPTAQ_ERR_SHAPE (as gptaq_gptq_shapes),
 * GPTAQ_ERR_UNSUPPORTED (a scale overflows fp16/bf16; a v1 zero of 0 with
 * zeros_clamped NULL), GPTAQ_ERR_OUT_OF_MEMORY. Thread-safe. */
GPTAQ_API int32_t gptaq_gptq_pack(int32_t format, int32_t bits, int64_t rows,
                                  int64_t columns, int32_t group_size,
                                  const uint8_t *codes, const float *scales,
                                  const float *zeros, const int32_t *g_idx,
                                  int32_t *qweight, int32_t *qzeros,
                                  int32_t scales_dtype, void *scales_out,
                                  int32_t *g_idx_out, int64_t *zeros_clamped);

/* Unpack GPTQ checkpoint tensors back into the solver's layout (the inverse of
 * gptaq_gptq_pack up to the rounding of the scales to scales_dtype).
 * Inputs (host memory; typically read from an untrusted file, so g_idx is validated):
 *   qweight  (columns*bits/32) x rows int32
 *   qzeros   n_groups x (rows*bits/32) int32
 *   scales   n_groups x rows of scales_dtype (GPTAQ_DTYPE_F16, _BF16 or _F32)
 *   g_idx    columns int32 in [0, n_groups); may be NULL unless dequant is requested
 *            with n_groups > 1
 * Outputs (caller-allocated, each may be NULL to skip):
 *   codes    rows x columns uint8
 *   scales_out rows x n_groups float32
 *   zeros    rows x n_groups float32: the stored value (v2) or the stored value + 1
 *            (v1, as loaders read it; a stored 2^bits - 1 therefore reads as 2^bits)
 *   dequant  rows x columns float32: scale[g] * (code - zero[g]) with g = g_idx[c]
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL input, bad format, bits or dtype,
 * n_groups < 1, g_idx NULL where needed), GPTAQ_ERR_SHAPE (as gptaq_gptq_shapes),
 * GPTAQ_ERR_FORMAT (a g_idx entry out of range). Thread-safe. */
GPTAQ_API int32_t gptaq_gptq_unpack(int32_t format, int32_t bits, int64_t rows,
                                    int64_t columns, int64_t n_groups,
                                    const int32_t *qweight, const int32_t *qzeros,
                                    int32_t scales_dtype, const void *scales,
                                    const int32_t *g_idx, uint8_t *codes,
                                    float *scales_out, float *zeros, float *dequant);

/* The quantize_config.json text for a uniform (GPTQ/GPTAQ/RTN) configuration, as
 * AutoGPTQ, GPTQModel, transformers and vLLM read it (also the value of
 * "quantization_config" in a model's config.json):
 *   bits, group_size, desc_act (= act_order; false with act_group_aware), sym,
 *   static_groups, damp_percent, true_sequential (true), lm_head (false), quant_method
 *   "gptq", checkpoint_format ("gptq" or "gptq_v2"), pack_dtype "int32", and meta, as
 *   GPTQModel writes it: {"quantizer": ["libgptaq:<version>"], "method":
 *   "rtn"|"gptq"|"gptaq", "damp_percent", "static_groups", "true_sequential",
 *   "act_group_aware" (bool), "failsafe": {"strategy": "rtn", "threshold":
 *   failsafe_tokens, "smooth": null} or null when off, "gptaq": {"alpha": alpha} for a
 *   GPTAQ run else null, "mse": the clip search's norm (mse_norm) or 0.0 when off,
 *   "block_size"}.
 * cfg NULL means the defaults. The text (pretty-printed JSON, NUL-terminated) is written
 * to buf when buf is not NULL; *length (if not NULL) gets its length without the NUL.
 * Call with buf = NULL to learn the length.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (bad format, cfg for the binary
 * quantizer, bits not 2/3/4/8, buf given with capacity <= length: nothing is written
 * then but *length is set). */
GPTAQ_API int32_t gptaq_gptq_quantize_config(const gptaq_config *cfg, int32_t format,
                                             char *buf, int64_t capacity, int64_t *length);

/* Write that text to the file `path` (e.g. "<dir>/quantize_config.json").
 * Returns the statuses of gptaq_gptq_quantize_config, and GPTAQ_ERR_IO. */
GPTAQ_API int32_t gptaq_gptq_write_quantize_config(const char *path, const gptaq_config *cfg,
                                                   int32_t format);

/* Read a quantize_config.json, or a model's config.json holding "quantization_config",
 * over *cfg (fill it with gptaq_config_init first; only cfg->struct_size bytes are
 * touched): bits, group_size, sym, act_order (desc_act), static_groups and damp_percent
 * (top level or in meta) are taken from the file, quantizer becomes uniform; from meta
 * (or the top level) as GPTQModel writes them: act_group_aware (absent: unchanged, or 0
 * when desc_act is true), failsafe (null: failsafe_tokens 0; an absolute threshold t:
 * failsafe_tokens = ceil(t); a percentage: unchanged, it has no token count), gptaq
 * ({alpha}: method GPTAQ with that alpha; null: not GPTAQ), mse (a norm > 0: mse on with
 * mse_norm; 0: off); and, for files this library wrote, meta's method. *format (may be NULL)
 * gets GPTAQ_GPTQ_V1 for checkpoint_format "gptq" or none, GPTAQ_GPTQ_V2 for "gptq_v2".
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL path or cfg, bad struct_size),
 * GPTAQ_ERR_IO, GPTAQ_ERR_FORMAT (not JSON, quant_method not "gptq", no bits or bits not
 * 2/3/4/8, a field of the wrong type, an unknown checkpoint_format, desc_act and
 * act_group_aware both true, act_group_aware without groups, a negative or non-numeric
 * failsafe threshold, a negative mse). */
GPTAQ_API int32_t gptaq_gptq_read_quantize_config(const char *path, gptaq_config *cfg,
                                                  int32_t *format);

/* ---------------------------------------------------------------------------------- */
/* safetensors files                                                                    */
/* ---------------------------------------------------------------------------------- */

/* The format: an 8-byte little-endian header length L, L bytes of JSON
 * {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "value", ...}} (optional), then the raw little-endian data;
 * offsets are relative to the first byte after the header. dtype names are those of
 * the format: F64 F32 F16 BF16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL F8_E4M3 F8_E5M2.
 *
 * Reading treats the file as untrusted: gptaq_safetensors_open validates the whole
 * header before anything else and refuses (GPTAQ_ERR_FORMAT, with a message naming
 * the problem) a file shorter than 8 bytes, a header length past the end of the file or
 * above 100 MB, a header that is not a JSON object, an entry without a known dtype,
 * a shape of non-negative integers (rank <= GPTAQ_SAFETENSORS_MAX_DIMS) or two
 * data_offsets, offsets whose size is not the shape's element count times the dtype
 * size, offsets past the end of the data, tensors that overlap or leave gaps, data that
 * does not end at the end of the file, and a __metadata__ that is not an object of
 * strings. Tensor data is read only on request.
 *
 * THREAD SAFETY: a reader or writer handle must not be used by two threads at once;
 * different handles are independent. */
typedef struct gptaq_safetensors gptaq_safetensors;
typedef struct gptaq_safetensors_writer gptaq_safetensors_writer;

#define GPTAQ_SAFETENSORS_MAX_DIMS 8

/* Open and validate `path`. On success *out is a new reader (free with
 * gptaq_safetensors_close); on failure *out is NULL.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL out or path), GPTAQ_ERR_IO (cannot
 * open or read), GPTAQ_ERR_FORMAT (see above), GPTAQ_ERR_OUT_OF_MEMORY. */
GPTAQ_API int32_t gptaq_safetensors_open(gptaq_safetensors **out, const char *path);

/* Close a reader; NULL is a no-op. Strings it returned become invalid. */
GPTAQ_API void gptaq_safetensors_close(gptaq_safetensors *r);

/* The number of tensors (-1 if r is NULL). Tensors are indexed 0..count-1 in the order
 * of their data in the file. */
GPTAQ_API int64_t gptaq_safetensors_count(const gptaq_safetensors *r);

/* The index of the tensor called `name`, or -1 if there is none (or r/name is NULL). */
GPTAQ_API int64_t gptaq_safetensors_find(const gptaq_safetensors *r, const char *name);

/* Describe tensor `index`. Any output may be NULL:
 *   name, dtype  NUL-terminated strings owned by the reader (valid until close);
 *                dtype is the format's name ("BF16", "I32", ...)
 *   ndim         the rank, 0..GPTAQ_SAFETENSORS_MAX_DIMS (0 = a scalar)
 *   shape        GPTAQ_SAFETENSORS_MAX_DIMS int64_t; the first ndim are set
 *   nbytes       the size of its data in bytes
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL r, index out of range). */
GPTAQ_API int32_t gptaq_safetensors_tensor_info(const gptaq_safetensors *r, int64_t index,
                                                const char **name, const char **dtype,
                                                int32_t *ndim, int64_t *shape,
                                                int64_t *nbytes);

/* Copy the raw bytes of tensor `index` (little-endian, row-major) into dst, which holds
 * dst_bytes bytes (at least the tensor's nbytes).
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL r/dst, bad index, dst_bytes too
 * small), GPTAQ_ERR_IO (the file shrank or a read failed). */
GPTAQ_API int32_t gptaq_safetensors_read(gptaq_safetensors *r, int64_t index, void *dst,
                                         int64_t dst_bytes);

/* Read a floating-point tensor (F32, F16, BF16 or F64) converted to float32 into dst,
 * which holds `count` floats (at least the tensor's element count).
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL r/dst, bad index, count too small),
 * GPTAQ_ERR_UNSUPPORTED (another dtype), GPTAQ_ERR_IO, GPTAQ_ERR_OUT_OF_MEMORY. */
GPTAQ_API int32_t gptaq_safetensors_read_f32(gptaq_safetensors *r, int64_t index,
                                             float *dst, int64_t count);

/* The number of __metadata__ entries (-1 if r is NULL). */
GPTAQ_API int64_t gptaq_safetensors_metadata_count(const gptaq_safetensors *r);

/* Metadata entry i (0..count-1, sorted by key): *key and *value are owned by the reader.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL r, i out of range). */
GPTAQ_API int32_t gptaq_safetensors_metadata_at(const gptaq_safetensors *r, int64_t i,
                                                const char **key, const char **value);

/* The metadata value for `key`, owned by the reader, or NULL if absent. */
GPTAQ_API const char *gptaq_safetensors_metadata(const gptaq_safetensors *r, const char *key);

/* A writer collects tensors (copying their bytes: memory use is the file's size) and
 * metadata, then writes the file in one go with gptaq_safetensors_writer_save. Tensors
 * are stored in the order they were added, the data 8-byte aligned after the header.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL out), GPTAQ_ERR_OUT_OF_MEMORY. */
GPTAQ_API int32_t gptaq_safetensors_writer_create(gptaq_safetensors_writer **out);

/* Free a writer; NULL is a no-op. */
GPTAQ_API void gptaq_safetensors_writer_free(gptaq_safetensors_writer *w);

/* Add a tensor: `dtype` a safetensors dtype name ("F32", "F16", "BF16", "I32", "U8",
 * ...), ndim 0..GPTAQ_SAFETENSORS_MAX_DIMS dimensions in shape (NULL allowed when ndim
 * is 0), data holding their product of elements (NULL allowed when that is 0). The
 * bytes are copied.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL w or name, empty name or not valid
 * UTF-8, the name "__metadata__" or one already added, unknown dtype, bad ndim or
 * negative dimension, NULL data), GPTAQ_ERR_SHAPE (the size overflows),
 * GPTAQ_ERR_OUT_OF_MEMORY. */
GPTAQ_API int32_t gptaq_safetensors_writer_add(gptaq_safetensors_writer *w, const char *name,
                                               const char *dtype, int32_t ndim,
                                               const int64_t *shape, const void *data);

/* Set a __metadata__ entry (replacing an earlier value of the same key). Transformers
 * expects {"format": "pt"} in model files.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL argument, empty key, key or value
 * not valid UTF-8). */
GPTAQ_API int32_t gptaq_safetensors_writer_set_metadata(gptaq_safetensors_writer *w,
                                                        const char *key, const char *value);

/* Write everything added so far to `path` (through a temporary file beside it that is
 * renamed into place, so a failed save leaves no partial file). The writer stays usable.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL argument), GPTAQ_ERR_IO. */
GPTAQ_API int32_t gptaq_safetensors_writer_save(gptaq_safetensors_writer *w, const char *path);

/* ---------------------------------------------------------------------------------- */
/* llama.cpp importance matrix (imatrix)                                                */
/* ---------------------------------------------------------------------------------- */

/* llama.cpp's quantizers weight each input column j of a weight by the mean of x_j^2
 * over calibration tokens. The statistics a context streams already hold it:
 * in_sum2[j] = sum over tokens of x_j^2 = diag(sum x_q x_q^T) = diag(H) * N / 2.
 *
 * Copy that diagonal of the context's accumulated statistics (columns floats) into
 * in_sum2 and the number of tokens counted into *tokens (either may be NULL).
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL ctx), GPTAQ_ERR_DEVICE, GPTAQ_ERR_BUSY. */
GPTAQ_API int32_t gptaq_ctx_imatrix(gptaq_ctx *ctx, float *in_sum2, int64_t *tokens);

/* An imatrix collection: entries by weight name, written as a llama.cpp imatrix file.
 * Names are what llama.cpp's quantize will look up: GGUF tensor names such as
 * "blk.0.attn_q.weight" (not the Hugging Face names). */
typedef struct gptaq_imatrix gptaq_imatrix;

typedef enum gptaq_imatrix_format {
  GPTAQ_IMATRIX_GGUF = 0, /* current llama.cpp: GGUF v3 with general.type = "imatrix",
                             per weight <name>.in_sum2 F32 [n_per_row, n_mat] and
                             <name>.counts F32 [1, n_mat], keys imatrix.datasets,
                             imatrix.chunk_count, imatrix.chunk_size; tensors sorted by
                             name, 32-byte alignment                                    */
  GPTAQ_IMATRIX_DAT = 1   /* legacy imatrix.dat: int32 n_entries, per entry (int32
                             name length, name, int32 ncall, int32 nval, float
                             values[nval] = in_sum2 / count * ncall with ncall =
                             ceil(count / chunk_size)), int32 chunk count, int32 length
                             + the last dataset name                                    */
} gptaq_imatrix_format;

/* Create an empty collection (chunk size 512, no datasets).
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL out), GPTAQ_ERR_OUT_OF_MEMORY. */
GPTAQ_API int32_t gptaq_imatrix_create(gptaq_imatrix **out);

/* Free a collection; NULL is a no-op. */
GPTAQ_API void gptaq_imatrix_free(gptaq_imatrix *im);

/* Add the statistics of one weight: in_sum2 is n_mat x n_per_row float32 (n_mat > 1 for
 * stacked expert weights, else 1), counts n_mat float32 (tokens per matrix). Adding a
 * name again sums into the entry (the shapes must match), as llama-imatrix combines
 * files.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL or empty argument, n_per_row or
 * n_mat < 1, a negative or non-finite value), GPTAQ_ERR_SHAPE (the shape differs from
 * an earlier entry of the name), GPTAQ_ERR_OUT_OF_MEMORY. */
GPTAQ_API int32_t gptaq_imatrix_add(gptaq_imatrix *im, const char *name, int64_t n_per_row,
                                    int32_t n_mat, const float *in_sum2, const float *counts);

/* Add the statistics of a context (gptaq_ctx_imatrix) under `name`. Several names may
 * share one context (q/k/v read the same input).
 * Returns the statuses of gptaq_imatrix_add and gptaq_ctx_imatrix; the message is in
 * gptaq_last_errmsg() (and also on the context when reading its statistics failed). */
GPTAQ_API int32_t gptaq_imatrix_add_ctx(gptaq_imatrix *im, const char *name, gptaq_ctx *ctx);

/* Append a dataset name to imatrix.datasets (e.g. the calibration file). */
GPTAQ_API int32_t gptaq_imatrix_add_dataset(gptaq_imatrix *im, const char *dataset);

/* Tokens per chunk, >= 1 (llama-imatrix's n_ctx, default 512): imatrix.chunk_size,
 * and imatrix.chunk_count (also the .dat trailer) = floor(largest count / chunk_size),
 * the whole chunks, as llama-imatrix counts them (1100 tokens in chunks of 512: 2). */
GPTAQ_API int32_t gptaq_imatrix_set_chunk_size(gptaq_imatrix *im, int32_t chunk_size);

/* Write the collection to `path` in `format` (gptaq_imatrix_format).
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL argument, bad format, an empty
 * collection), GPTAQ_ERR_IO. */
GPTAQ_API int32_t gptaq_imatrix_save(const gptaq_imatrix *im, const char *path, int32_t format);

/* ---------------------------------------------------------------------------------- */
/* LUT-GEMM layout (GPTQT binary coding)                                                */
/* ---------------------------------------------------------------------------------- */

/* LUT-GEMM kernels read a binary-coded weight, w ~ sum_i alpha_i * b_i + bias with
 * b_i = +1/-1, for N = rows (out_features), K = columns (in_features), k = bits bit
 * planes and G groups of contiguous columns, as three arrays:
 *   qbits  uint32 [W][k][N] with W = ceil(K / 32): bit j of word [w][i][r] is bit i
 *          (most significant first) of the level index of weight (r, 32*w + j); a set
 *          bit means +alpha_i. Bits of padding columns (32*w + j >= K) are 0.
 *   alpha  fp16 [G][k][N]   (uint16_t bit patterns)
 *   bias   fp16 [G][N]
 * G = gptaq_num_groups(K, group_size); group g covers columns g*group_size ..
 * (g+1)*group_size - 1 (all columns for group_size -1).
 *
 * Pack a binary solve result (gptaq_solve_binary's outputs, host memory) into it:
 *   codes  rows x columns uint8 level indices in [0, 2^bits)
 *   alpha  rows x G x bits float32;  bias  rows x G float32 (finite)
 *   g_idx  columns int32 or NULL. LUT-GEMM has no g_idx: when given it must equal
 *          c / group_size (0 for group_size -1) for every column c, which holds unless
 *          act-order ran with dynamic groups (use static_groups then).
 * Outputs (caller-allocated; each may be NULL to skip): qbits (W*bits*rows words),
 * alpha_f16 (G*bits*rows), bias_f16 (G*rows), rounded to nearest fp16.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL input, bits outside 1..8,
 * group_size not -1 or >= 1, a code >= 2^bits, a non-finite alpha or bias),
 * GPTAQ_ERR_SHAPE (rows or columns <= 0, sizes overflow), GPTAQ_ERR_UNSUPPORTED (g_idx
 * not contiguous groups; an alpha or bias beyond the fp16 range). Thread-safe. */
GPTAQ_API int32_t gptaq_lutgemm_pack(int32_t bits, int64_t rows, int64_t columns,
                                     int32_t group_size, const uint8_t *codes,
                                     const float *alpha, const float *bias,
                                     const int32_t *g_idx, uint32_t *qbits,
                                     uint16_t *alpha_f16, uint16_t *bias_f16);

/* Unpack the LUT-GEMM arrays (layout above) back into the solver's layout: the inverse
 * of gptaq_lutgemm_pack up to the fp16 rounding of alpha and bias.
 * Outputs (caller-allocated; each may be NULL to skip):
 *   codes    rows x columns uint8;  alpha  rows x G x bits float32;  bias  rows x G
 *   dequant  rows x columns float32: sum_i (+/-)alpha_i + bias of the weight's group
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL input, bits outside 1..8,
 * group_size not -1 or >= 1), GPTAQ_ERR_SHAPE (rows or columns <= 0, overflow).
 * Thread-safe. */
GPTAQ_API int32_t gptaq_lutgemm_unpack(int32_t bits, int64_t rows, int64_t columns,
                                       int32_t group_size, const uint32_t *qbits,
                                       const uint16_t *alpha_f16, const uint16_t *bias_f16,
                                       uint8_t *codes, float *alpha, float *bias,
                                       float *dequant);

/* ==== END SECTION: checkpoint formats ==== */

/* ==== BEGIN SECTION: statistics exchange (merge, save/load, all-reduce access) ==== */

/*
 * The statistics of a context are plain sums over tokens:
 *   xx     = sum_t x_q[t] x_q[t]^T                  columns x columns fp32 (symmetric)
 *   dx     = sum_t (x_fp[t] - x_q[t]) x_q[t]^T      columns x columns fp32 (GPTAQ only)
 *   xsum   = sum_t x_q[t]                           columns fp64
 *   tokens = the number of tokens counted           one fp64
 * and H = (2 / tokens) xx, dXXT = (2 / tokens) dx at solve time. Data-parallel
 * calibration is therefore a reduction: every rank (process, GPU) streams its shard of
 * the calibration tokens into its own context, the four sums are added across ranks, and
 * any rank can then solve. The functions below give a distributed framework what it
 * needs to do this with its own collectives (MPI_Allreduce, NCCL, torch.distributed):
 * direct access to the buffers for an in-place all-reduce, a merge of one context into
 * another, and a versioned, checksummed file / byte format.
 *
 * Contexts whose statistics are combined must have the same columns and the same
 * method family: GPTAQ_METHOD_GPTAQ (keeps dx) or not (RTN and GPTQ keep the same sums).
 * Sums are fp32 (xx, dx): adding shards in another order than a single process would
 * changes results by fp32 rounding only.
 */

/* Where a context's statistics live, for an in-place all-reduce. Set struct_size =
 * sizeof(gptaq_stats_buffers) before gptaq_stats_buffers_get (the library writes only
 * that many bytes). The pointers stay valid until gptaq_ctx_free (reset and
 * set_config clear or keep the buffers in place, they never move them). */
typedef struct gptaq_stats_buffers {
  int32_t struct_size;
  int32_t backend;   /* memory the pointers refer to: GPTAQ_BACKEND_CPU = host memory,
                        GPTAQ_BACKEND_CUDA = device memory of the context's device        */
  int32_t has_cross; /* 1 when dx is kept (GPTAQ), else 0 and dx is NULL                 */
  int32_t reserved;  /* 0                                                                */
  float *xx;         /* columns x columns fp32, row-major, full symmetric                */
  float *dx;         /* columns x columns fp32, row-major (not symmetric), or NULL       */
  double *xsum;      /* columns fp64                                                     */
  double *tokens;    /* ONE double in HOST memory (every backend): the token count       */
} gptaq_stats_buffers;

/* Expose the context's accumulated statistics for in-place modification, typically a
 * sum all-reduce across ranks:
 *     gptaq_stats_buffers b; b.struct_size = sizeof b;
 *     gptaq_stats_buffers_get(ctx, &b);
 *     MPI_Allreduce(MPI_IN_PLACE, b.xx, n*n, MPI_FLOAT, MPI_SUM, comm);   (and dx)
 *     MPI_Allreduce(MPI_IN_PLACE, b.xsum, n, MPI_DOUBLE, MPI_SUM, comm);
 *     MPI_Allreduce(MPI_IN_PLACE, b.tokens, 1, MPI_DOUBLE, MPI_SUM, comm);
 *     gptaq_stats_commit(ctx);
 * With the CUDA backend xx, dx and xsum are device pointers (usable by NCCL on the
 * context's stream; synchronize it before the collective), tokens is host memory.
 * The call drops the cached factorization, because the caller may write the buffers.
 * After ANY write through these pointers call gptaq_stats_commit before the next call
 * on the context. The caller must not use the context from another thread while it
 * writes the buffers.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL ctx/out, out->struct_size too
 * small), GPTAQ_ERR_BUSY. */
GPTAQ_API int32_t gptaq_stats_buffers_get(gptaq_ctx *ctx, gptaq_stats_buffers *out);

/* Declare that the statistics were modified in place (after gptaq_stats_buffers_get).
 * Drops the cached factorization, makes xx exactly symmetric again (its lower triangle,
 * row-major, is copied to the upper one: a reduction may round mirrored elements
 * differently), and checks the result: the token count must be finite and >= 0, every
 * value finite, and the diagonal of xx >= 0. On failure the statistics stay as the
 * caller left them (a later solve would use them as they are): gptaq_ctx_reset the
 * context or load good statistics into it.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL ctx, bad token count),
 * GPTAQ_ERR_NON_FINITE (NaN/Inf in a buffer), GPTAQ_ERR_FORMAT (negative diagonal of
 * xx: not a sum of squares), GPTAQ_ERR_OUT_OF_MEMORY, GPTAQ_ERR_DEVICE, GPTAQ_ERR_BUSY. */
GPTAQ_API int32_t gptaq_stats_commit(gptaq_ctx *ctx);

/* Add the statistics of `src` into `dst` (dst += src, token counts too); src is not
 * changed. Both must have the same columns and method family; their backends may
 * differ (data is staged through host memory when they do). Drops dst's cached
 * factorization.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL, src == dst, different method
 * family), GPTAQ_ERR_SHAPE (different columns), GPTAQ_ERR_NON_FINITE (a sum would
 * overflow fp32, checked before anything changes), GPTAQ_ERR_OUT_OF_MEMORY,
 * GPTAQ_ERR_DEVICE, GPTAQ_ERR_BUSY (either context in use by another thread). On any
 * error but GPTAQ_ERR_DEVICE, dst is unchanged. */
GPTAQ_API int32_t gptaq_stats_merge(gptaq_ctx *dst, const gptaq_ctx *src);

/* How gptaq_stats_load / gptaq_stats_deserialize combine a file with the context. */
typedef enum gptaq_stats_mode {
  GPTAQ_STATS_REPLACE = 0,   /* the context's statistics become the file's            */
  GPTAQ_STATS_ACCUMULATE = 1 /* the file's statistics are added (a merge)             */
} gptaq_stats_mode;

/* THE STATISTICS FILE (format version 1), also the byte format of
 * gptaq_stats_serialize. Little-endian throughout; a 64-byte header then the payload:
 *   off  size  field
 *     0     8  magic "GPTAQSTS"
 *     8     4  uint32 format version (1); readers refuse newer versions
 *    12     4  uint32 header size in bytes (64)
 *    16     8  int64  columns n (> 0)
 *    24     4  int32  gptaq_method of the context that wrote it
 *    28     4  int32  has_cross: 1 when dx is present (GPTAQ), else 0
 *    32     8  fp64   tokens (finite, >= 0)
 *    40     8  uint64 payload size in bytes: 4 n^2 (1 + has_cross) + 8 n
 *    48     4  uint32 CRC-32 (IEEE 802.3, as zlib's crc32) of the payload
 *    52     8  reserved, 0
 *    60     4  uint32 CRC-32 of header bytes 0..59
 *    64        payload: xx (n*n fp32, row-major), dx (n*n fp32, if has_cross),
 *              xsum (n fp64)
 * A file that is truncated, too long, of a newer version, fails a checksum or holds a
 * NaN/Inf is refused; one of another shape or method family is refused as a mismatch.
 * A refused file never changes the context. */
#define GPTAQ_STATS_FORMAT_VERSION 1
#define GPTAQ_STATS_HEADER_BYTES 64

/* Write the context's statistics to `path` (written to a temporary file in the same
 * directory, then renamed over `path`, so a crash never leaves a half-written file).
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL), GPTAQ_ERR_IO,
 * GPTAQ_ERR_OUT_OF_MEMORY, GPTAQ_ERR_DEVICE, GPTAQ_ERR_BUSY, GPTAQ_ERR_UNSUPPORTED
 * (big-endian host). */
GPTAQ_API int32_t gptaq_stats_save(gptaq_ctx *ctx, const char *path);

/* Read statistics written by gptaq_stats_save into the context, replacing or adding to
 * its own (`mode`, a gptaq_stats_mode). The whole file is read and verified (header,
 * sizes, both checksums, finiteness) before the context is touched; on any error the
 * context is unchanged. Drops the cached factorization on success.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL, bad mode, file of the other method
 * family), GPTAQ_ERR_SHAPE (file's columns differ from the context's), GPTAQ_ERR_IO
 * (cannot open or read), GPTAQ_ERR_FORMAT (not a statistics file, newer version,
 * truncated, checksum mismatch), GPTAQ_ERR_NON_FINITE (NaN/Inf in the file, or an
 * accumulated sum would overflow fp32), GPTAQ_ERR_OUT_OF_MEMORY, GPTAQ_ERR_DEVICE,
 * GPTAQ_ERR_BUSY, GPTAQ_ERR_UNSUPPORTED (big-endian host). */
GPTAQ_API int32_t gptaq_stats_load(gptaq_ctx *ctx, const char *path, int32_t mode);

/* Read and verify only the header of a statistics file (no context needed; errors go to
 * gptaq_last_errmsg), e.g. to create a matching context before gptaq_stats_load. Any
 * output pointer may be NULL. The payload checksum is not verified here.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT, GPTAQ_ERR_IO, GPTAQ_ERR_FORMAT. */
GPTAQ_API int32_t gptaq_stats_file_info(const char *path, int64_t *columns, int32_t *method,
                                        int32_t *has_cross, double *tokens);

/* The size in bytes of the context's statistics in the file format (header included):
 * 64 + 4 n^2 (1 + has_cross) + 8 n. Returns GPTAQ_OK or GPTAQ_ERR_INVALID_ARGUMENT. */
GPTAQ_API int32_t gptaq_stats_serialized_size(const gptaq_ctx *ctx, int64_t *bytes);

/* Write the statistics, in the file format, into the caller's buffer `dst` of
 * `capacity` bytes (host memory); *written (may be NULL) gets the size.
 * Returns GPTAQ_OK, GPTAQ_ERR_INVALID_ARGUMENT (NULL ctx/dst), GPTAQ_ERR_SHAPE
 * (capacity smaller than gptaq_stats_serialized_size), GPTAQ_ERR_DEVICE,
 * GPTAQ_ERR_BUSY. */
GPTAQ_API int32_t gptaq_stats_serialize(gptaq_ctx *ctx, void *dst, int64_t capacity,
                                        int64_t *written);

/* gptaq_stats_load from `size` bytes of host memory (untrusted: fully verified first).
 * Returns the statuses of gptaq_stats_load except GPTAQ_ERR_IO. */
GPTAQ_API int32_t gptaq_stats_deserialize(gptaq_ctx *ctx, const void *src, int64_t size,
                                          int32_t mode);

/* ==== END SECTION: statistics exchange ==== */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GPTAQ_GPTAQ_H */
