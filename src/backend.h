// The small interface every backend implements. The solver (src/solver) is written once
// over these primitives; cpu/ and cuda/ implement them and never include each other.
//
// Buffers returned by alloc() live in the backend's address space (host memory for the
// CPU, device memory for CUDA). Every matrix is row-major with an explicit leading
// dimension. Primitives throw gptaq::Error on failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "gptaq/gptaq.h"
#include "quant/quantizer.h"

namespace gptaq {

// Accumulated calibration sums, kept by the backend in its memory. All are raw sums
// over the tokens counted so far (normalization happens at solve time):
//   xx    n x n, sum x_q x_q^T. The row-major lower triangle is always current; the
//         upper one may lag (upper_stale) until stats_finish mirrors it, so a backend
//         need not mirror after every batch. Read the full matrix only after stats_finish.
//   dx    n x n, sum (x_fp - x_q) x_q^T (GPTAQ only, else null)
//   xsum  n, sum x_q (fp64), for GPTQT's mean input
struct StatsBuffers {
  float *xx = nullptr;
  float *dx = nullptr;
  double *xsum = nullptr;
  double tokens = 0.0;
  bool upper_stale = false;
};

// Everything one in-block sweep needs (ALGORITHMS.md §3), in backend memory.
struct SweepBlock {
  float *w;            // rows x ldw, permuted working weight; columns [i1, i2) end up
                       // holding the quantized (dequantized) block Q1
  int64_t rows, cols, ldw;
  int64_t i1, i2;      // block columns
  const float *u;      // n x n upper factor U of H^-1, ld = cols
  const float *p;      // n x n GPTAQ P (strictly upper), ld = cols; null for GPTQ
  float *err;          // rows x (i2 - i1) out: E
  uint8_t *codes;      // rows x cols out, in permuted column order
  float *params;       // rows x n_groups x 2 quantizer params (in/out)
  int64_t n_groups;
  int32_t group_size;  // -1: one group, params precomputed
  int32_t dynamic;     // 1: compute params at the start of each group from current values
  const int32_t *group_of;  // per permuted position, the group index (backend memory)
  int32_t feedback;    // 0 for RTN: quantize without error propagation
  double *loss;        // accumulated sum of (w-q)^2/d^2/2 (host memory); a backend may
                       // keep it on its device during a sweep and add it when the block
                       // ending at cols is done (the solver reads it after the sweep)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual gptaq_backend kind() const = 0;

  // ---- memory ----
  virtual void *alloc(size_t bytes) = 0;  // zero-filled; throws OUT_OF_MEMORY naming the size
  virtual void release(void *p) = 0;
  virtual void upload(void *dst, const void *host_src, size_t bytes) = 0;
  virtual void download(void *host_dst, const void *src, size_t bytes) = 0;
  virtual void copy(void *dst, const void *src, size_t bytes) = 0;
  // Make xx fully symmetric (mirror its lower triangle) if upper_stale; clears the flag.
  virtual void stats_finish(StatsBuffers &s, int64_t n) = 0;
  // rows x width_bytes from src (row pitch lds_bytes) to dst (row pitch ldd_bytes).
  virtual void copy2d(void *dst, size_t ldd_bytes, const void *src, size_t lds_bytes,
                      size_t width_bytes, size_t rows) = 0;
  virtual void zero(void *p, size_t bytes) = 0;

  // ---- statistics ----
  // Throw NON_FINITE when x_q or x_fp (may be null; tokens x n in dtype) holds NaN/Inf;
  // lets a caller that adds a batch in several stats_add calls refuse it whole first.
  virtual void check_batch(const void *x_q, const void *x_fp, int64_t tokens, int64_t n,
                           gptaq_dtype dtype) = 0;
  // Accumulate one batch into s (n = columns). x_fp may be null (no cross term).
  // Must check the whole batch for NaN/Inf before changing anything and throw
  // NON_FINITE if it finds one. mask (host memory, may be null) drops tokens.
  // Returns the number of tokens counted.
  virtual int64_t stats_add(StatsBuffers &s, int64_t n, const void *x_q, const void *x_fp,
                            int64_t tokens, gptaq_dtype dtype, const uint8_t *mask) = 0;

  // ---- dense linear algebra (row-major) ----
  // C = alpha * op(A) * op(B) + beta * C. A may lie in the same array as C (the solver
  // reads finished columns of W while updating later ones) but shares no element with it.
  virtual void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                    float *c, int64_t ldc) = 0;

  // Given symmetric positive definite H (n x n, full, row-major), overwrite it with the
  // upper-triangular U with H^-1 = U^T U (zeros below the diagonal). Returns false, with
  // H's content unspecified, when H is not positive definite. Implementations should
  // factor in float64 (the CPU does): fp32 factorizations of ill-conditioned Hessians
  // flip codes downstream. The float64 matrix needs n^2 doubles: spare is either null
  // (the backend allocates 2 n^2 floats for the call) or h + n^2, n^2 floats directly
  // after h that the caller lends, with unspecified content on return, so that h and
  // spare together hold the float64 matrix and the factorization costs nothing more.
  virtual bool inverse_upper_factor(float *h, int64_t n, float *spare) = 0;

  // GPTAQ: d <- alpha * triu_strict(d * U^T) * U in place (n x n, U upper).
  virtual void asym_term(float *d, const float *u, int64_t n, float alpha) = 0;

  // ---- small element-wise helpers ----
  // out = scale * in (n x n), plus add to the diagonal; used to form the damped H.
  virtual void scale_copy(float *out, const float *in, int64_t count, float scale) = 0;
  virtual void add_diag(float *a, int64_t n, int64_t lda, float value) = 0;
  // Read the diagonal of an n x n matrix into host memory.
  virtual void get_diag(const float *a, int64_t n, int64_t lda, float *host_out) = 0;
  // Symmetric permutation out = A[perm][:, perm]; out != in. perm in host memory.
  virtual void permute_sym(float *out, const float *in, int64_t n, const int64_t *perm) = 0;
  // Row-and-column permutation of a non-symmetric matrix (same as permute_sym).
  // Column gather: out[:, j] = in[:, perm[j]] for rows x n matrices.
  virtual void permute_cols(float *out, const float *in, int64_t rows, int64_t n,
                            const int64_t *perm) = 0;
  // Zero the listed columns (and for square matrices optionally the diagonal fix-up is
  // done by the caller): a[:, cols[k]] = 0 for k < count, host index list.
  virtual void zero_cols(float *a, int64_t rows, int64_t lda, const int64_t *cols,
                         int64_t count) = 0;
  // Set a[j][j] = value for the listed j.
  virtual void set_diag_at(float *a, int64_t lda, const int64_t *idx, int64_t count,
                           float value) = 0;

  // ---- quantization ----
  // params for each row and group k of a rows x cols matrix (columns k*g .. k*g+g-1, or
  // all columns when g = -1), written as params[(r * n_groups + k) * 2 + {0,1}].
  virtual void find_params(const QuantSpec &spec, const float *w, int64_t rows,
                           int64_t cols, int64_t ldw, int32_t group_size, float *params,
                           int64_t n_groups) = 0;
  // The in-block column loop of the sweep, fused (quantize, error, in-block update).
  virtual void sweep_block(const QuantSpec &spec, const SweepBlock &b) = 0;

  // ---- streams ----
  // The device stream (a cudaStream_t as void *) to enqueue work on; null = the
  // backend's own. Backends without streams ignore it (the C API rejects a non-null
  // stream for them before calling).
  virtual void set_stream(void *stream) { (void)stream; }

  // The context's thread count (config.num_threads, 0 = all hardware threads) for a
  // backend's host-side work; the CPU backend takes it at construction.
  virtual void set_num_threads(int threads) { (void)threads; }
};

// Factories. Other backends than the CPU are modules loaded at run time
// (src/backend_module.h); backend_registry.cpp alone knows them.
std::unique_ptr<Backend> make_cpu_backend(int num_threads);
// Throws BACKEND_UNAVAILABLE when the backend's module is missing or refused or no device
// answers (the message names the module paths tried); AUTO falls back to the CPU.
// note (may be null) gets why this backend was chosen, e.g. AUTO's fallback to the CPU.
std::unique_ptr<Backend> make_backend(gptaq_backend which, int device, int num_threads,
                                      std::string *note = nullptr);
bool backend_available(gptaq_backend which);
// The backends built with this library ("cpu" or "cpu,cuda"), and what was found at run
// time (loads the modules): "cpu,cuda (1 device, ...)" or "cpu; cuda: <why not>".
const char *backends_compiled();
std::string backends_found();

}  // namespace gptaq
