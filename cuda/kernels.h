// The CUDA backend's own kernels, behind plain host-callable launchers (kernels.cu). The
// host side (cuda_backend.cpp) is ordinary C++; only this pair is compiled by nvcc.
// Every launcher enqueues on `stream` and returns cudaGetLastError() of the launch.
// Matrices are row-major with explicit leading dimensions; sizes are 64-bit throughout.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "quant/quantizer.h"

namespace gptaq {
namespace cuda {

// cudaSuccess when the current device can run this build's kernels (an image for its
// architecture or PTX it can compile), else the error (e.g. no kernel image).
cudaError_t probe_kernels();

// Batch element types, as gptaq_dtype: 0 = f32, 1 = f16, 2 = bf16.
// *flag |= bit when any of x[0 .. count) is NaN or Inf.
cudaError_t launch_check_finite(const void *x, int64_t count, int dtype, int *flag, int bit,
                                cudaStream_t stream);

// out[r][j] = float(src[row(r)][j]) - (sub ? sub[r][j] : 0) for r < rows, j < n, where
// row(r) = idx ? idx[r] : t0 + r. out, sub: rows x n (ld n); src: ld n, dtype as above.
cudaError_t launch_convert_rows(float *out, const void *src, int dtype, int64_t n,
                                int64_t rows, const int64_t *idx, int64_t t0,
                                const float *sub, cudaStream_t stream);

// xsum[j] += x[r][j] for r = 0, 1, ..., rows - 1 in that order (in fp64, as the CPU),
// x: rows x n.
cudaError_t launch_colsum(double *xsum, const float *x, int64_t n, int64_t rows,
                          cudaStream_t stream);

// n x n: copy the strictly lower triangle into the strictly upper one (a[r][c] = a[c][r]
// for r < c), making a matrix whose lower half cuBLAS syrk filled fully symmetric.
cudaError_t launch_mirror_lower(float *a, int64_t n, cudaStream_t stream);

// to[i] = from[count - 1 - i] (to and from do not overlap); a reversed in place.
cudaError_t launch_reverse_copy(float *to, const float *from, int64_t count, cudaStream_t stream);
cudaError_t launch_reverse_in_place(float *a, int64_t count, cudaStream_t stream);

// to[i] = from[i], converting between float and double. For one phase of
// widen_in_place_phases / narrow_in_place_phases (src/inplace_convert.h), whose element
// ranges do not overlap within a phase; the stream orders the phases.
cudaError_t launch_to_f64(double *to, const float *from, int64_t count, cudaStream_t stream);
cudaError_t launch_to_f32(float *to, const double *from, int64_t count, cudaStream_t stream);

// n x n (ld n): a[r][c] = 0 for c < r (inclusive = 0) or c <= r (inclusive = 1).
cudaError_t launch_zero_lower(float *a, int64_t n, int inclusive, cudaStream_t stream);
// The same for a rows x cols matrix with leading dimension ld.
cudaError_t launch_zero_lower_rect(float *a, int64_t rows, int64_t cols, int64_t ld,
                                   int inclusive, cudaStream_t stream);

// *flag = 1 when some a[j][j] (j < n, ld n) is not finite and > 0.
cudaError_t launch_check_diag(const float *a, int64_t n, int *flag, cudaStream_t stream);

// out[i] = in[i] * scale (out may equal in).
cudaError_t launch_scale(float *out, const float *in, int64_t count, float scale,
                         cudaStream_t stream);
// a[j][j] += value for j < n.
cudaError_t launch_add_diag(float *a, int64_t n, int64_t lda, float value, cudaStream_t stream);
// out[j] = a[j][j] for j < n.
cudaError_t launch_get_diag(float *out, const float *a, int64_t n, int64_t lda,
                            cudaStream_t stream);

// out[r][c] = in[ridx ? ridx[r] : r0 + r][cidx ? cidx[c] : c0 + c], r < rows, c < cols.
// out and in must not overlap.
cudaError_t launch_gather2d(float *out, int64_t ldo, const float *in, int64_t ldi,
                            int64_t rows, int64_t cols, const int64_t *ridx, int64_t r0,
                            const int64_t *cidx, int64_t c0, cudaStream_t stream);

// a[r][cols[k]] = 0 for r < rows, k < count.
cudaError_t launch_zero_cols(float *a, int64_t rows, int64_t lda, const int64_t *cols,
                             int64_t count, cudaStream_t stream);
// a[idx[k]][idx[k]] = value for k < count.
cudaError_t launch_set_diag_at(float *a, int64_t lda, const int64_t *idx, int64_t count,
                               float value, cudaStream_t stream);

// Quantizer params per row and group (Backend::find_params), one thread per pair.
cudaError_t launch_find_params(const QuantSpec &spec, const float *w, int64_t rows,
                               int64_t cols, int64_t ldw, int32_t group_size, float *params,
                               int64_t n_groups, cudaStream_t stream);

// Everything the fused in-block sweep reads and writes, all in device memory
// (see SweepBlock in src/backend.h).
struct SweepArgs {
  float *w;
  int64_t rows, cols, ldw, i1, i2;
  const float *u;
  const float *p;
  float *err;
  uint8_t *codes;
  float *params;
  int64_t n_groups;
  int32_t group_size;
  int32_t dynamic;
  const int32_t *group_of;
  int32_t feedback;
  double *row_loss;  // rows: scratch, each row's (halved) loss of this block
  double *loss;      // one fp64 accumulator: += the block's loss, in a fixed order
};

// Shared memory the fused sweep needs per row (one warp each), for block width bw, and
// the rows per thread block the launcher uses (0: a row does not fit in max_smem).
size_t sweep_smem_per_row(int64_t bw);
int sweep_rows_per_cta(int64_t bw, size_t max_smem);

// Lets the sweep kernel use up to max_smem bytes of dynamic shared memory. The attribute
// is process-wide per kernel and device: call it once per device (std::call_once),
// before any launch on that device, never concurrently with one.
cudaError_t sweep_prepare(size_t max_smem);

// The fused in-block sweep, one warp per row, then the block's loss added to *a.loss
// (no host synchronization). max_smem: what sweep_prepare allowed.
cudaError_t launch_sweep_block(const QuantSpec &spec, const SweepArgs &a, size_t max_smem,
                               cudaStream_t stream);

}  // namespace cuda
}  // namespace gptaq
