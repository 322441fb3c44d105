// The CUDA backend's kernels. Compiled with --fmad=false so that the quantizer (the same
// header-only q_find_params / q_quantize the CPU runs) and the in-block update round
// exactly as the CPU build does (x86-64 without FMA contraction).
#include "kernels.h"

#include <cuda_fp16.h>

namespace gptaq {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxGrid = 4096;

unsigned grid_1d(int64_t count) {
  int64_t b = (count + kThreads - 1) / kThreads;
  if (b < 1) b = 1;
  if (b > kMaxGrid) b = kMaxGrid;
  return static_cast<unsigned>(b);
}

// Columns along x, rows along y (grid-stride both ways).
dim3 grid_2d(int64_t rows, int64_t cols) {
  int64_t gx = (cols + kThreads - 1) / kThreads;
  if (gx < 1) gx = 1;
  if (gx > 1024) gx = 1024;
  int64_t gy = rows < 1 ? 1 : rows;
  if (gy > 65535) gy = 65535;
  return dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy));
}

__device__ __forceinline__ int64_t gtid() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t gstride() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

template <int DT>
__device__ __forceinline__ float load_elem(const void *p, int64_t i) {
  if (DT == 0) return static_cast<const float *>(p)[i];
  const uint16_t h = static_cast<const uint16_t *>(p)[i];
  if (DT == 1) return __half2float(__ushort_as_half(h));
  return __uint_as_float(static_cast<uint32_t>(h) << 16);
}

template <int DT>
__global__ void k_check_finite(const void *x, int64_t count, int *flag, int bit) {
  bool bad = false;
  if (DT == 0) {
    const uint32_t *p = static_cast<const uint32_t *>(x);
    for (int64_t i = gtid(); i < count; i += gstride())
      bad |= (p[i] & 0x7f800000u) == 0x7f800000u;
  } else {
    const uint16_t *p = static_cast<const uint16_t *>(x);
    const uint16_t mask = DT == 1 ? 0x7c00u : 0x7f80u;
    for (int64_t i = gtid(); i < count; i += gstride()) bad |= (p[i] & mask) == mask;
  }
  if (__syncthreads_or(bad) && threadIdx.x == 0) atomicOr(flag, bit);
}

template <int DT>
__global__ void k_convert_rows(float *out, const void *src, int64_t n, int64_t rows,
                               const int64_t *idx, int64_t t0, const float *sub) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const int64_t sr = idx ? idx[r] : t0 + r;
    for (int64_t j = gtid(); j < n; j += gstride()) {
      float v = load_elem<DT>(src, sr * n + j);
      if (sub) v -= sub[r * n + j];
      out[r * n + j] = v;
    }
  }
}

__global__ void k_colsum(double *xsum, const float *x, int64_t n, int64_t rows) {
  for (int64_t j = gtid(); j < n; j += gstride()) {
    double s = 0.0;
    for (int64_t r = 0; r < rows; ++r) s += static_cast<double>(x[r * n + j]);
    xsum[j] += s;
  }
}

// Destination tile (bi, bj), bi <= bj, of the strictly upper triangle, read transposed
// from the lower one through shared memory so both sides stay coalesced.
__global__ void k_mirror_lower(float *a, int64_t n) {
  __shared__ float t[32][33];
  const int64_t tiles = (n + 31) / 32;
  for (int64_t bj = blockIdx.x; bj < tiles; bj += gridDim.x) {
    for (int64_t bi = blockIdx.y; bi <= bj; bi += gridDim.y) {
      const int64_t r0 = bi * 32, c0 = bj * 32;
      for (int y = threadIdx.y; y < 32; y += blockDim.y) {
        const int64_t sr = c0 + y, sc = r0 + threadIdx.x;  // source a[c][r]
        t[y][threadIdx.x] = (sr < n && sc < n) ? a[sr * n + sc] : 0.0f;
      }
      __syncthreads();
      for (int y = threadIdx.y; y < 32; y += blockDim.y) {
        const int64_t r = r0 + y, c = c0 + threadIdx.x;
        if (r < c && c < n) a[r * n + c] = t[threadIdx.x][y];
      }
      __syncthreads();
    }
  }
}

// to[i] = from[count - 1 - i], widening or narrowing: the float64 factorization works on
// the index-reversed matrix, so the reversal is folded into the conversions.
__global__ void k_reverse_copy(float *to, const float *from, int64_t count) {
  for (int64_t i = gtid(); i < count; i += gstride()) to[i] = from[count - 1 - i];
}

template <class To, class From>
__global__ void k_convert(To *to, const From *from, int64_t count) {
  for (int64_t i = gtid(); i < count; i += gstride()) to[i] = static_cast<To>(from[i]);
}

__global__ void k_reverse_in_place(float *a, int64_t count) {
  for (int64_t i = gtid(); i < count / 2; i += gstride()) {
    const float t = a[i];
    a[i] = a[count - 1 - i];
    a[count - 1 - i] = t;
  }
}

__global__ void k_zero_lower(float *a, int64_t n, int inclusive) {
  for (int64_t r = blockIdx.y; r < n; r += gridDim.y) {
    const int64_t end = r + inclusive < n ? r + inclusive : n;
    for (int64_t c = gtid(); c < end; c += gstride()) a[r * n + c] = 0.0f;
  }
}

__global__ void k_check_diag(const float *a, int64_t n, int *flag) {
  bool bad = false;
  for (int64_t j = gtid(); j < n; j += gstride()) {
    const float v = a[j * n + j];
    bad |= !(v > 0.0f && v < INFINITY);
  }
  if (__syncthreads_or(bad) && threadIdx.x == 0) atomicOr(flag, 1);
}

__global__ void k_scale(float *out, const float *in, int64_t count, float scale) {
  for (int64_t i = gtid(); i < count; i += gstride()) out[i] = in[i] * scale;
}

__global__ void k_add_diag(float *a, int64_t n, int64_t lda, float value) {
  for (int64_t j = gtid(); j < n; j += gstride()) a[j * lda + j] += value;
}

__global__ void k_get_diag(float *out, const float *a, int64_t n, int64_t lda) {
  for (int64_t j = gtid(); j < n; j += gstride()) out[j] = a[j * lda + j];
}

__global__ void k_gather2d(float *out, int64_t ldo, const float *in, int64_t ldi,
                           int64_t rows, int64_t cols, const int64_t *ridx, int64_t r0,
                           const int64_t *cidx, int64_t c0) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const float *src = in + (ridx ? ridx[r] : r0 + r) * ldi;
    float *dst = out + r * ldo;
    for (int64_t c = gtid(); c < cols; c += gstride()) dst[c] = src[cidx ? cidx[c] : c0 + c];
  }
}

__global__ void k_zero_cols(float *a, int64_t rows, int64_t lda, const int64_t *cols,
                            int64_t count) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y)
    for (int64_t k = gtid(); k < count; k += gstride()) a[r * lda + cols[k]] = 0.0f;
}

__global__ void k_set_diag_at(float *a, int64_t lda, const int64_t *idx, int64_t count,
                              float value) {
  for (int64_t k = gtid(); k < count; k += gstride()) a[idx[k] * lda + idx[k]] = value;
}

__global__ void k_find_params(QuantSpec spec, const float *w, int64_t rows, int64_t cols,
                              int64_t ldw, int64_t gs, float *params, int64_t n_groups) {
  const int64_t total = rows * n_groups;
  for (int64_t t = gtid(); t < total; t += gstride()) {
    const int64_t r = t / n_groups, k = t - r * n_groups;
    const int64_t c0 = k * gs, c1 = c0 + gs < cols ? c0 + gs : cols;
    float *p = params + t * 2;
    q_find_params(spec, w + r * ldw + c0, c1 - c0, nullptr, 0, p, p + 1);
  }
}

// Shared-memory layout of the sweep: per row, the working block row W1 and its errors E
// (floats, odd leading dimension: conflict-free when each thread walks its own row) and
// the codes (bytes, a leading dimension of an odd number of words).
__host__ __device__ inline int sweep_ld(int bw) { return bw % 2 == 0 ? bw + 1 : bw; }
__host__ __device__ inline int sweep_ldc(int bw) {
  int words = (bw + 3) / 4;
  if (words % 2 == 0) ++words;
  return words * 4;
}

// One thread per row runs the block's column loop (ALGORITHMS.md §3) on its row held in
// shared memory: quantize with the group's params, error, update the rest of the row by
// the block of U (and P for GPTAQ), read from L1/L2 as warp-wide broadcasts. The tile is
// loaded and stored cooperatively (coalesced) by the whole thread block.
__global__ void k_sweep(QuantSpec spec, SweepArgs a, int R) {
  extern __shared__ float4 smem_raw[];
  const int B = static_cast<int>(a.i2 - a.i1);
  const int ld = sweep_ld(B), ldc = sweep_ldc(B);
  float *w1 = reinterpret_cast<float *>(smem_raw);
  float *es = w1 + static_cast<size_t>(R) * ld;
  uint8_t *cs = reinterpret_cast<uint8_t *>(es + static_cast<size_t>(R) * ld);
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * R;
  const int rr = static_cast<int>(a.rows - row0 < R ? a.rows - row0 : R);
  const int tid = threadIdx.x, nt = blockDim.x;

  for (int idx = tid; idx < rr * B; idx += nt) {
    const int r = idx / B, c = idx - r * B;
    w1[r * ld + c] = a.w[(row0 + r) * a.ldw + a.i1 + c];
  }
  __syncthreads();

  double row_loss = 0.0;
  if (tid < rr) {
    const int64_t row = row0 + tid;
    float *wr = w1 + tid * ld;
    float *er = es + tid * ld;
    uint8_t *cr = cs + tid * ldc;
    float *pr = a.params + row * a.n_groups * 2;
    const float *wg = a.w + row * a.ldw;
    for (int i = 0; i < B; ++i) {
      const int64_t j = a.i1 + i;
      if (a.dynamic && j % a.group_size == 0) {
        const int64_t end = j + a.group_size < a.cols ? j + a.group_size : a.cols;
        const int64_t na = (end < a.i2 ? end : a.i2) - j;
        const int64_t nb = end > a.i2 ? end - a.i2 : 0;
        float *pg = pr + (j / a.group_size) * 2;
        q_find_params(spec, wr + i, na, wg + a.i2, nb, pg, pg + 1);
      }
      const float *pp = pr + static_cast<int64_t>(a.group_of[j]) * 2;
      const float x = wr[i];
      uint8_t code = 0;
      const float q = q_quantize(spec, x, pp[0], pp[1], &code);
      cr[i] = code;
      if (a.feedback) {
        const float d = __ldg(a.u + j * a.cols + j);
        const float e = (x - q) / d;
        row_loss += static_cast<double>((x - q) * (x - q) / (d * d));
        const float *urow = a.u + j * a.cols + a.i1;
        if (a.p) {
          const float *prow = a.p + j * a.cols + a.i1;
          for (int k = i + 1; k < B; ++k) wr[k] -= e * __ldg(urow + k) - x * __ldg(prow + k);
        } else {
          for (int k = i + 1; k < B; ++k) wr[k] -= e * __ldg(urow + k);
        }
        er[i] = e;
      } else {
        er[i] = 0.0f;
      }
      wr[i] = q;
    }
  }
  // Per-row losses, halved as the CPU does, summed per warp, one atomic per warp.
  row_loss *= 0.5;
  for (int off = 16; off > 0; off >>= 1) row_loss += __shfl_down_sync(0xffffffffu, row_loss, off);
  if ((tid & 31) == 0 && row_loss != 0.0) atomicAdd(a.loss, row_loss);
  __syncthreads();

  for (int idx = tid; idx < rr * B; idx += nt) {
    const int r = idx / B, c = idx - r * B;
    const int64_t row = row0 + r;
    const float v = w1[r * ld + c];
    a.w[row * a.ldw + a.i1 + c] = v;
    a.err[row * B + c] = es[r * ld + c];
    a.codes[row * a.cols + a.i1 + c] = cs[r * ldc + c];
  }
}

}  // namespace

cudaError_t probe_kernels() {
  cudaFuncAttributes attr;
  return cudaFuncGetAttributes(&attr, k_sweep);
}

cudaError_t launch_check_finite(const void *x, int64_t count, int dtype, int *flag, int bit,
                                cudaStream_t s) {
  const unsigned g = grid_1d(count);
  if (dtype == 0)
    k_check_finite<0><<<g, kThreads, 0, s>>>(x, count, flag, bit);
  else if (dtype == 1)
    k_check_finite<1><<<g, kThreads, 0, s>>>(x, count, flag, bit);
  else
    k_check_finite<2><<<g, kThreads, 0, s>>>(x, count, flag, bit);
  return cudaGetLastError();
}

cudaError_t launch_convert_rows(float *out, const void *src, int dtype, int64_t n,
                                int64_t rows, const int64_t *idx, int64_t t0,
                                const float *sub, cudaStream_t s) {
  const dim3 g = grid_2d(rows, n);
  if (dtype == 0)
    k_convert_rows<0><<<g, kThreads, 0, s>>>(out, src, n, rows, idx, t0, sub);
  else if (dtype == 1)
    k_convert_rows<1><<<g, kThreads, 0, s>>>(out, src, n, rows, idx, t0, sub);
  else
    k_convert_rows<2><<<g, kThreads, 0, s>>>(out, src, n, rows, idx, t0, sub);
  return cudaGetLastError();
}

cudaError_t launch_colsum(double *xsum, const float *x, int64_t n, int64_t rows,
                          cudaStream_t s) {
  k_colsum<<<grid_1d(n), kThreads, 0, s>>>(xsum, x, n, rows);
  return cudaGetLastError();
}

cudaError_t launch_mirror_lower(float *a, int64_t n, cudaStream_t s) {
  int64_t tiles = (n + 31) / 32;
  const unsigned gx = static_cast<unsigned>(tiles < 65535 ? tiles : 65535);
  const unsigned gy = static_cast<unsigned>(tiles < 65535 ? tiles : 65535);
  k_mirror_lower<<<dim3(gx, gy), dim3(32, 8), 0, s>>>(a, n);
  return cudaGetLastError();
}

cudaError_t launch_reverse_copy(float *to, const float *from, int64_t count, cudaStream_t s) {
  k_reverse_copy<<<grid_1d(count), kThreads, 0, s>>>(to, from, count);
  return cudaGetLastError();
}

cudaError_t launch_reverse_in_place(float *a, int64_t count, cudaStream_t s) {
  k_reverse_in_place<<<grid_1d(count / 2), kThreads, 0, s>>>(a, count);
  return cudaGetLastError();
}

cudaError_t launch_to_f64(double *to, const float *from, int64_t count, cudaStream_t s) {
  k_convert<double, float><<<grid_1d(count), kThreads, 0, s>>>(to, from, count);
  return cudaGetLastError();
}

cudaError_t launch_to_f32(float *to, const double *from, int64_t count, cudaStream_t s) {
  k_convert<float, double><<<grid_1d(count), kThreads, 0, s>>>(to, from, count);
  return cudaGetLastError();
}

cudaError_t launch_zero_lower(float *a, int64_t n, int inclusive, cudaStream_t s) {
  k_zero_lower<<<grid_2d(n, n), kThreads, 0, s>>>(a, n, inclusive);
  return cudaGetLastError();
}

cudaError_t launch_check_diag(const float *a, int64_t n, int *flag, cudaStream_t s) {
  k_check_diag<<<grid_1d(n), kThreads, 0, s>>>(a, n, flag);
  return cudaGetLastError();
}

cudaError_t launch_scale(float *out, const float *in, int64_t count, float scale,
                         cudaStream_t s) {
  k_scale<<<grid_1d(count), kThreads, 0, s>>>(out, in, count, scale);
  return cudaGetLastError();
}

cudaError_t launch_add_diag(float *a, int64_t n, int64_t lda, float value, cudaStream_t s) {
  k_add_diag<<<grid_1d(n), kThreads, 0, s>>>(a, n, lda, value);
  return cudaGetLastError();
}

cudaError_t launch_get_diag(float *out, const float *a, int64_t n, int64_t lda,
                            cudaStream_t s) {
  k_get_diag<<<grid_1d(n), kThreads, 0, s>>>(out, a, n, lda);
  return cudaGetLastError();
}

cudaError_t launch_gather2d(float *out, int64_t ldo, const float *in, int64_t ldi,
                            int64_t rows, int64_t cols, const int64_t *ridx, int64_t r0,
                            const int64_t *cidx, int64_t c0, cudaStream_t s) {
  k_gather2d<<<grid_2d(rows, cols), kThreads, 0, s>>>(out, ldo, in, ldi, rows, cols, ridx, r0,
                                                     cidx, c0);
  return cudaGetLastError();
}

cudaError_t launch_zero_cols(float *a, int64_t rows, int64_t lda, const int64_t *cols,
                             int64_t count, cudaStream_t s) {
  k_zero_cols<<<grid_2d(rows, count), kThreads, 0, s>>>(a, rows, lda, cols, count);
  return cudaGetLastError();
}

cudaError_t launch_set_diag_at(float *a, int64_t lda, const int64_t *idx, int64_t count,
                               float value, cudaStream_t s) {
  k_set_diag_at<<<grid_1d(count), kThreads, 0, s>>>(a, lda, idx, count, value);
  return cudaGetLastError();
}

cudaError_t launch_find_params(const QuantSpec &spec, const float *w, int64_t rows,
                               int64_t cols, int64_t ldw, int32_t group_size, float *params,
                               int64_t n_groups, cudaStream_t s) {
  const int64_t gs = group_size > 0 ? group_size : cols;
  // Few threads per block: each runs a long serial loop (the MSE search).
  const int threads = 64;
  int64_t blocks = (rows * n_groups + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > 65535) blocks = 65535;
  k_find_params<<<static_cast<unsigned>(blocks), threads, 0, s>>>(spec, w, rows, cols, ldw, gs,
                                                                 params, n_groups);
  return cudaGetLastError();
}

size_t sweep_smem_per_row(int64_t bw) {
  const int b = static_cast<int>(bw);
  return 2 * sizeof(float) * static_cast<size_t>(sweep_ld(b)) + static_cast<size_t>(sweep_ldc(b));
}

cudaError_t launch_sweep_block(const QuantSpec &spec, const SweepArgs &a, int rows_per_cta,
                               size_t max_smem, cudaStream_t s) {
  const int64_t bw = a.i2 - a.i1;
  if (bw <= 0 || a.rows <= 0) return cudaSuccess;
  const size_t per_row = sweep_smem_per_row(bw);
  int64_t R = static_cast<int64_t>(max_smem / per_row);
  if (R > rows_per_cta) R = rows_per_cta;
  if (R > a.rows) R = a.rows;
  if (R < 1) return cudaErrorInvalidConfiguration;  // a block row does not fit on chip
  const size_t smem = static_cast<size_t>(R) * per_row;
  if (smem > 48 * 1024) {
    cudaError_t e =
        cudaFuncSetAttribute(k_sweep, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(smem));
    if (e != cudaSuccess) return e;
  }
  const int threads = static_cast<int>((R + 31) / 32 * 32);
  const int64_t blocks = (a.rows + R - 1) / R;
  if (blocks > 0x7fffffff) return cudaErrorInvalidConfiguration;
  k_sweep<<<static_cast<unsigned>(blocks), threads, smem, s>>>(spec, a, static_cast<int>(R));
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace gptaq
