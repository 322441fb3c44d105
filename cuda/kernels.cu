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

// One thread per column adds the rows in token order straight into the fp64 sum, as the
// CPU does (xsum[j] += x[t][j] for t = 0, 1, ...), so both give the same bits for the
// same chunks of tokens in the same order; no atomics, so every run gives the same bits.
__global__ void k_colsum(double *xsum, const float *x, int64_t n, int64_t rows) {
  for (int64_t j = gtid(); j < n; j += gstride()) {
    double s = xsum[j];
    for (int64_t r = 0; r < rows; ++r) s += static_cast<double>(x[r * n + j]);
    xsum[j] = s;
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

// rows x cols (ld): a[r][c] = 0 for c < r + inclusive.
__global__ void k_zero_lower(float *a, int64_t rows, int64_t cols, int64_t ld, int inclusive) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    int64_t end = r + inclusive;
    if (end > cols) end = cols;
    for (int64_t c = gtid(); c < end; c += gstride()) a[r * ld + c] = 0.0f;
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

// The fused in-block sweep (ALGORITHMS.md §3; the layout and its arithmetic are in
// docs/PERFORMANCE.md, "CUDA sweep layout"): one warp per row, kSweepWarps rows per
// thread block. Lane l owns the block columns k = l (mod 32): it alone holds them (in its
// warp's shared-memory slice) from the load to the store. For column i, the owner reads
// x and every lane gets it by one shuffle; every lane then quantizes x with the group's
// params (all lanes compute the same values, so no second broadcast), the owner records
// q, E and the code, and each lane updates its own columns k > i with
// w[k] -= e * U[j][k] - x * P[j][k]. Every element therefore sees exactly the CPU's
// operations in the CPU's order (column i's update after column i - 1's), and the per-row
// loss is summed by lane 0 in column order like the CPU's. A dynamic group's params are
// computed by lane 0 from the current in-block values after a warp barrier, as the CPU
// computes them from its tile. Warps never wait for each other (no __syncthreads).
constexpr int kSweepWarps = 4;
// 8 resident blocks per SM (at most 64 registers a thread): 132 SMs x 8 x 4 rows = 4224
// rows in one wave, so 4096 rows run in a single wave on an H200.
constexpr int kSweepMinBlocks = 8;
constexpr unsigned kFull = 0xffffffffu;

// Shared memory of one row: W1 and E (floats), codes (bytes, rounded to 4).
__host__ __device__ inline size_t sweep_row_bytes(int64_t bw) {
  return 8 * static_cast<size_t>(bw) + ((static_cast<size_t>(bw) + 3) & ~size_t{3});
}

__global__ void __launch_bounds__(kSweepWarps * 32, kSweepMinBlocks)
    k_sweep(QuantSpec spec, SweepArgs a, int rows_per_cta) {
  extern __shared__ float4 smem_raw[];
  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  if (warp >= rows_per_cta) return;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * rows_per_cta + warp;
  if (row >= a.rows) return;  // whole warps only: the shuffles below need all 32 lanes
  const int B = static_cast<int>(a.i2 - a.i1);
  char *base = reinterpret_cast<char *>(smem_raw) + static_cast<size_t>(warp) * sweep_row_bytes(B);
  float *w1 = reinterpret_cast<float *>(base);
  float *e1 = w1 + B;
  uint8_t *c1 = reinterpret_cast<uint8_t *>(e1 + B);
  const float *wg = a.w + row * a.ldw;
  for (int c = lane; c < B; c += 32) w1[c] = wg[a.i1 + c];

  float *pr = a.params + row * a.n_groups * 2;
  double row_loss = 0.0;
  for (int i = 0; i < B; ++i) {
    const int64_t j = a.i1 + i;
    const int owner = i & 31;
    if (a.dynamic && j % a.group_size == 0) {
      __syncwarp();  // the owners' latest updates of the group's in-block values
      if (lane == 0) {
        const int64_t end = j + a.group_size < a.cols ? j + a.group_size : a.cols;
        const int64_t na = (end < a.i2 ? end : a.i2) - j;
        const int64_t nb = end > a.i2 ? end - a.i2 : 0;
        float *pg = pr + (j / a.group_size) * 2;
        q_find_params(spec, w1 + i, na, wg + a.i2, nb, pg, pg + 1);
      }
      __syncwarp();  // the params, and no owner changes a value before lane 0 read it
    }
    const float *pp = pr + static_cast<int64_t>(a.group_of[j]) * 2;
    const float sc = pp[0], zr = pp[1];
    const float x = __shfl_sync(kFull, lane == owner ? w1[i] : 0.0f, owner);
    uint8_t code = 0;
    const float q = q_quantize(spec, x, sc, zr, &code);
    // d = 1 without feedback (RTN), whose E is never read, as on the CPU.
    const float d = a.feedback ? __ldg(a.u + j * a.cols + j) : 1.0f;
    const float e = (x - q) / d;
    if (lane == 0) row_loss += static_cast<double>((x - q) * (x - q) / (d * d));
    if (lane == owner) {
      w1[i] = q;
      e1[i] = e;
      c1[i] = code;
    }
    if (a.feedback) {
      // This lane's first column after i: k = lane (mod 32), k > i.
      const int k0 = i + 1 + ((lane - (i + 1)) & 31);
      const float *urow = a.u + j * a.cols + a.i1;
      if (a.p) {
        const float *prow = a.p + j * a.cols + a.i1;
        for (int k = k0; k < B; k += 32) w1[k] -= e * __ldg(urow + k) - x * __ldg(prow + k);
      } else {
        for (int k = k0; k < B; k += 32) w1[k] -= e * __ldg(urow + k);
      }
    }
  }
  float *eg = a.err + row * B;
  uint8_t *cg = a.codes + row * a.cols + a.i1;
  float *wo = a.w + row * a.ldw + a.i1;
  for (int c = lane; c < B; c += 32) {
    wo[c] = w1[c];
    eg[c] = e1[c];
    cg[c] = c1[c];
  }
  // Halved as on the CPU; RTN reports 0.
  if (lane == 0) a.row_loss[row] = a.feedback ? row_loss / 2.0 : 0.0;
}

// *acc += sum of the rows' losses in one fixed order (per-thread strided sums, then a
// fixed tree): the same bits on every run.
constexpr int kReduceThreads = 256;
__global__ void __launch_bounds__(kReduceThreads)
    k_loss_add(const double *row_loss, int64_t rows, double *acc) {
  __shared__ double part[kReduceThreads];
  double s = 0.0;
  for (int64_t r = threadIdx.x; r < rows; r += kReduceThreads) s += row_loss[r];
  part[threadIdx.x] = s;
  __syncthreads();
  for (int h = kReduceThreads / 2; h > 0; h >>= 1) {
    if (static_cast<int>(threadIdx.x) < h) part[threadIdx.x] += part[threadIdx.x + h];
    __syncthreads();
  }
  if (threadIdx.x == 0) *acc += part[0];
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
  return launch_zero_lower_rect(a, n, n, n, inclusive, s);
}

cudaError_t launch_zero_lower_rect(float *a, int64_t rows, int64_t cols, int64_t ld,
                                   int inclusive, cudaStream_t s) {
  if (rows <= 0 || cols <= 0) return cudaSuccess;
  k_zero_lower<<<grid_2d(rows, cols), kThreads, 0, s>>>(a, rows, cols, ld, inclusive);
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

size_t sweep_smem_per_row(int64_t bw) { return sweep_row_bytes(bw); }

int sweep_rows_per_cta(int64_t bw, size_t max_smem) {
  const size_t fit = max_smem / sweep_row_bytes(bw);
  return static_cast<int>(fit < static_cast<size_t>(kSweepWarps) ? fit : kSweepWarps);
}

cudaError_t sweep_prepare(size_t max_smem) {
  return cudaFuncSetAttribute(k_sweep, cudaFuncAttributeMaxDynamicSharedMemorySize,
                              static_cast<int>(max_smem));
}

cudaError_t launch_sweep_block(const QuantSpec &spec, const SweepArgs &a, size_t max_smem,
                               cudaStream_t s) {
  const int64_t bw = a.i2 - a.i1;
  if (bw <= 0 || a.rows <= 0) return cudaSuccess;
  const int R = sweep_rows_per_cta(bw, max_smem);
  if (R < 1) return cudaErrorInvalidConfiguration;  // a block row does not fit on chip
  const size_t smem = static_cast<size_t>(R) * sweep_row_bytes(bw);
  const int64_t blocks = (a.rows + R - 1) / R;
  if (blocks > 0x7fffffff) return cudaErrorInvalidConfiguration;
  k_sweep<<<static_cast<unsigned>(blocks), R * 32, smem, s>>>(spec, a, R);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  k_loss_add<<<1, kReduceThreads, 0, s>>>(a.row_loss, a.rows, a.loss);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace gptaq
