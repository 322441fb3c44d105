// CUDA backend: cuBLAS (syrk, gemm, trmm; fp32, TF32 off) and cuSOLVER (potrf, trtri,
// 64-bit APIs) for the dense algebra, the kernels of kernels.cu for conversions, checks,
// permutations and the fused in-block sweep. Work goes to one stream per context (or
// the caller's, gptaq_ctx_set_stream); host batches are staged through pinned memory on
// a second stream so copies overlap the statistics products.
//
// Errors: every CUDA/cuBLAS/cuSOLVER status is checked and becomes GPTAQ_ERR_DEVICE with
// the library's text, allocation failures GPTAQ_ERR_OUT_OF_MEMORY naming the size.
// Nothing aborts; a non-sticky error is cleared so the context stays usable.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "error.h"
#include "inplace_convert.h"
#include "kernels.h"

namespace gptaq {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
// Size of one fp32 chunk of a batch, and of the scratch of an in-place permutation.
constexpr size_t kChunkBytes = size_t{64} << 20;
// Rows of the weight per thread block in the fused sweep (fewer when a block row is wide).
constexpr int kSweepRows = 64;

[[noreturn]] void cuda_fail(cudaError_t e, const char *what) {
  (void)cudaGetLastError();  // clear a non-sticky error so later calls work
  if (e == cudaErrorMemoryAllocation)
    fail(GPTAQ_ERR_OUT_OF_MEMORY, "CUDA out of memory in %s: %s", what, cudaGetErrorString(e));
  fail(GPTAQ_ERR_DEVICE, "CUDA error in %s: %s (%s)", what, cudaGetErrorName(e),
       cudaGetErrorString(e));
}

inline void ck(cudaError_t e, const char *what) {
  if (e != cudaSuccess) cuda_fail(e, what);
}

inline void ck_blas(cublasStatus_t s, const char *what) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  if (s == CUBLAS_STATUS_ALLOC_FAILED)
    fail(GPTAQ_ERR_OUT_OF_MEMORY, "cuBLAS could not allocate device memory in %s", what);
  fail(GPTAQ_ERR_DEVICE, "cuBLAS error in %s: %s (%s)", what, cublasGetStatusName(s),
       cublasGetStatusString(s));
}

const char *solver_status_text(cusolverStatus_t s) {
  switch (s) {
    case CUSOLVER_STATUS_NOT_INITIALIZED: return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED: return "CUSOLVER_STATUS_ALLOC_FAILED";
    case CUSOLVER_STATUS_INVALID_VALUE: return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH: return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_MAPPING_ERROR: return "CUSOLVER_STATUS_MAPPING_ERROR";
    case CUSOLVER_STATUS_EXECUTION_FAILED: return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR: return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED:
      return "CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED";
    case CUSOLVER_STATUS_NOT_SUPPORTED: return "CUSOLVER_STATUS_NOT_SUPPORTED";
    case CUSOLVER_STATUS_INVALID_WORKSPACE: return "CUSOLVER_STATUS_INVALID_WORKSPACE";
    default: return "cuSOLVER error";
  }
}

inline void ck_solver(cusolverStatus_t s, const char *what) {
  if (s == CUSOLVER_STATUS_SUCCESS) return;
  if (s == CUSOLVER_STATUS_ALLOC_FAILED)
    fail(GPTAQ_ERR_OUT_OF_MEMORY, "cuSOLVER could not allocate memory in %s", what);
  fail(GPTAQ_ERR_DEVICE, "cuSOLVER error in %s: %s (status %d)", what, solver_status_text(s),
       static_cast<int>(s));
}

// Makes `dev` current for the duration of a call and restores the caller's device.
class DeviceGuard {
 public:
  DeviceGuard(int dev, bool nothrow = false) : dev_(dev) {
    if (cudaGetDevice(&prev_) != cudaSuccess) {
      (void)cudaGetLastError();
      prev_ = -1;
    }
    if (prev_ != dev_) {
      cudaError_t e = cudaSetDevice(dev_);
      if (e != cudaSuccess && !nothrow) cuda_fail(e, "cudaSetDevice");
    }
  }
  ~DeviceGuard() {
    if (prev_ >= 0 && prev_ != dev_) (void)cudaSetDevice(prev_);
  }
  DeviceGuard(const DeviceGuard &) = delete;
  DeviceGuard &operator=(const DeviceGuard &) = delete;

 private:
  int dev_;
  int prev_ = -1;
};

// Device memory owned by a call (cudaFree waits for the work still using it).
struct CudaFree {
  void operator()(void *p) const { (void)cudaFree(p); }
};
using DPtr = std::unique_ptr<void, CudaFree>;

bool host_all_finite(const void *x, int64_t count, gptaq_dtype dt) {
  if (dt == GPTAQ_DTYPE_F32) {
    const uint32_t *p = static_cast<const uint32_t *>(x);
    uint32_t bad = 0;
    for (int64_t i = 0; i < count; ++i) bad |= ((p[i] & 0x7f800000u) == 0x7f800000u);
    return bad == 0;
  }
  const uint16_t *p = static_cast<const uint16_t *>(x);
  const uint16_t mask = dt == GPTAQ_DTYPE_F16 ? 0x7c00u : 0x7f80u;
  uint32_t bad = 0;
  for (int64_t i = 0; i < count; ++i) bad |= ((p[i] & mask) == mask);
  return bad == 0;
}

// Small values read back from the device: flags, cuSOLVER info, the sweep's loss.
struct Scalars {
  int flag;
  int info;
  double loss;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : dev_(device) {
    try {
      init();
    } catch (...) {
      destroy();
      throw;
    }
  }
  ~CudaBackend() override { destroy(); }
  CudaBackend(const CudaBackend &) = delete;
  CudaBackend &operator=(const CudaBackend &) = delete;

  gptaq_backend kind() const override { return GPTAQ_BACKEND_CUDA; }

  // ---- memory ----
  void *alloc(size_t bytes) override {
    DeviceGuard g(dev_);
    DPtr p = dalloc(bytes);
    ck(cudaMemsetAsync(p.get(), 0, bytes, stream_), "cudaMemsetAsync");
    return p.release();
  }
  void release(void *p) override {
    if (!p) return;
    DeviceGuard g(dev_, true);
    (void)cudaStreamSynchronize(stream_);
    (void)cudaFree(p);
    (void)cudaGetLastError();
  }
  void upload(void *dst, const void *src, size_t bytes) override {
    DeviceGuard g(dev_);
    ck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream_), "upload (cudaMemcpyAsync)");
    sync("upload");
  }
  void download(void *dst, const void *src, size_t bytes) override {
    DeviceGuard g(dev_);
    ck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream_),
       "download (cudaMemcpyAsync)");
    sync("download");
  }
  void copy(void *dst, const void *src, size_t bytes) override {
    DeviceGuard g(dev_);
    ck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_),
       "copy (cudaMemcpyAsync)");
  }
  void stats_finish(StatsBuffers &s, int64_t n) override {
    // add_batch mirrors on the device already; a merge can still leave the flag set.
    if (!s.upper_stale) return;
    DeviceGuard g(dev_);
    ck(cuda::launch_mirror_lower(s.xx, n, stream_), "the symmetrize kernel");
    sync("stats_finish");
    s.upper_stale = false;
  }
  void copy2d(void *dst, size_t ldd_bytes, const void *src, size_t lds_bytes,
              size_t width_bytes, size_t rows) override {
    DeviceGuard g(dev_);
    ck(cudaMemcpy2DAsync(dst, ldd_bytes, src, lds_bytes, width_bytes, rows,
                         cudaMemcpyDeviceToDevice, stream_),
       "copy2d (cudaMemcpy2DAsync)");
  }
  void zero(void *p, size_t bytes) override {
    DeviceGuard g(dev_);
    ck(cudaMemsetAsync(p, 0, bytes, stream_), "cudaMemsetAsync");
    sync("zero");
  }

  void set_stream(void *stream) override {
    DeviceGuard g(dev_);
    cudaStream_t ns = stream ? static_cast<cudaStream_t>(stream) : own_;
    if (ns == stream_) return;
    if (stream) {
      int sdev = -1;
      cudaError_t e = cudaStreamGetDevice(ns, &sdev);
      if (e != cudaSuccess) {
        (void)cudaGetLastError();
        fail(GPTAQ_ERR_INVALID_ARGUMENT, "the stream is not a valid CUDA stream: %s",
             cudaGetErrorString(e));
      }
      if (sdev != dev_)
        fail(GPTAQ_ERR_INVALID_ARGUMENT,
             "the stream belongs to CUDA device %d but the context runs on device %d", sdev,
             dev_);
    }
    sync("set_stream");  // finish what was queued on the old stream
    ck_blas(cublasSetStream(blas_, ns), "cublasSetStream");
    ck_solver(cusolverDnSetStream(solver_, ns), "cusolverDnSetStream");
    stream_ = ns;
  }

  // ---- statistics ----
  void check_batch(const void *x_q, const void *x_fp, int64_t tokens, int64_t n,
                   gptaq_dtype dt) override {
    DeviceGuard g(dev_);
    const int dti = static_cast<int>(dt);
    const bool q_dev = is_device(x_q, "x_q");
    const bool f_dev = x_fp && is_device(x_fp, "x_fp");
    const int64_t total = tokens * n;
    // Reject a batch with NaN/Inf before any statistic changes: host data is checked on
    // the CPU, device data by a kernel that raises a flag.
    int flag = 0;
    if (q_dev || f_dev) {
      ck(cudaMemsetAsync(&dsc_->flag, 0, sizeof(int), stream_), "cudaMemsetAsync");
      if (q_dev) ck(cuda::launch_check_finite(x_q, total, dti, &dsc_->flag, 1, stream_),
                    "the finiteness check kernel");
      if (f_dev) ck(cuda::launch_check_finite(x_fp, total, dti, &dsc_->flag, 2, stream_),
                    "the finiteness check kernel");
      flag = read_scalars().flag;
    }
    if (q_dev ? (flag & 1) != 0 : !host_all_finite(x_q, total, dt))
      fail(GPTAQ_ERR_NON_FINITE, "x_q contains NaN or Inf; the batch of %lld tokens was rejected",
           static_cast<long long>(tokens));
    if (x_fp && (f_dev ? (flag & 2) != 0 : !host_all_finite(x_fp, total, dt)))
      fail(GPTAQ_ERR_NON_FINITE,
           "x_fp contains NaN or Inf; the batch of %lld tokens was rejected",
           static_cast<long long>(tokens));
  }

  int64_t stats_add(StatsBuffers &s, int64_t n, const void *x_q, const void *x_fp,
                    int64_t tokens, gptaq_dtype dt, const uint8_t *mask) override {
    DeviceGuard g(dev_);
    const int dti = static_cast<int>(dt);
    const size_t es = dt == GPTAQ_DTYPE_F32 ? 4 : 2;
    const size_t row_bytes = es * static_cast<size_t>(n);
    const bool q_dev = is_device(x_q, "x_q");
    const bool f_dev = x_fp && is_device(x_fp, "x_fp");
    check_batch(x_q, x_fp, tokens, n, dt);

    std::vector<int64_t> kept;
    int64_t counted = tokens;
    if (mask) {
      for (int64_t t = 0; t < tokens; ++t)
        if (mask[t]) kept.push_back(t);
      counted = static_cast<int64_t>(kept.size());
    }
    if (counted == 0) return 0;
    DPtr kept_buf;
    const int64_t *kept_dev = nullptr;
    if (mask && (q_dev || f_dev)) {
      kept_buf = dalloc(sizeof(int64_t) * kept.size());
      ck(cudaMemcpyAsync(kept_buf.get(), kept.data(), sizeof(int64_t) * kept.size(),
                         cudaMemcpyHostToDevice, stream_),
         "cudaMemcpyAsync (token mask)");
      kept_dev = static_cast<const int64_t *>(kept_buf.get());
    }

    // Chunks of at most kChunkBytes of fp32 rows.
    const int64_t ch = std::max<int64_t>(
        1, std::min<int64_t>(counted, static_cast<int64_t>(kChunkBytes / (4 * static_cast<size_t>(n)))));
    const size_t chunk_f32 = sizeof(float) * static_cast<size_t>(ch) * static_cast<size_t>(n);
    const size_t chunk_raw = row_bytes * static_cast<size_t>(ch);
    const bool q_host = !q_dev, f_host = x_fp && !f_dev;
    const bool q_direct = q_dev && dt == GPTAQ_DTYPE_F32 && !mask;
    const bool host_in[2] = {q_host, f_host};
    const void *src_in[2] = {x_q, x_fp};

    DPtr qbuf, dbuf, raw[2][2];
    if (!q_direct && !(q_host && dt == GPTAQ_DTYPE_F32)) qbuf = dalloc(chunk_f32);
    if (x_fp) dbuf = dalloc(chunk_f32);
    for (int in = 0; in < 2; ++in)
      if (host_in[in]) {
        for (int slot = 0; slot < 2; ++slot) raw[in][slot] = dalloc(chunk_raw);
        ensure_staging(chunk_raw);
      }
    const bool any_host = q_host || f_host;

    const float one = 1.0f;
    for (int64_t c0 = 0, chunk = 0; c0 < counted; c0 += ch, ++chunk) {
      const int64_t rows = std::min(ch, counted - c0);
      const int slot = static_cast<int>(chunk & 1);
      if (any_host) {
        // The pinned slot is free once its last copy finished; the device slot once the
        // products that read it finished.
        ck(cudaEventSynchronize(ev_h2d_[slot]), "cudaEventSynchronize");
        ck(cudaStreamWaitEvent(copy_, ev_used_[slot], 0), "cudaStreamWaitEvent");
        for (int in = 0; in < 2; ++in) {
          if (!host_in[in]) continue;
          char *pin = static_cast<char *>(staging_[in * 2 + slot]);
          const char *src = static_cast<const char *>(src_in[in]);
          if (mask) {
            for (int64_t r = 0; r < rows; ++r)
              std::memcpy(pin + static_cast<size_t>(r) * row_bytes,
                          src + static_cast<size_t>(kept[c0 + r]) * row_bytes, row_bytes);
          } else {
            std::memcpy(pin, src + static_cast<size_t>(c0) * row_bytes,
                        static_cast<size_t>(rows) * row_bytes);
          }
          ck(cudaMemcpyAsync(raw[in][slot].get(), pin, static_cast<size_t>(rows) * row_bytes,
                             cudaMemcpyHostToDevice, copy_),
             "cudaMemcpyAsync (batch upload)");
        }
        ck(cudaEventRecord(ev_h2d_[slot], copy_), "cudaEventRecord");
        ck(cudaStreamWaitEvent(stream_, ev_h2d_[slot], 0), "cudaStreamWaitEvent");
      }

      const float *q;
      if (q_host) {
        if (dt == GPTAQ_DTYPE_F32) {
          q = static_cast<const float *>(raw[0][slot].get());
        } else {
          ck(cuda::launch_convert_rows(static_cast<float *>(qbuf.get()), raw[0][slot].get(), dti,
                                       n, rows, nullptr, 0, nullptr, stream_),
             "the conversion kernel");
          q = static_cast<const float *>(qbuf.get());
        }
      } else if (q_direct) {
        q = static_cast<const float *>(x_q) + c0 * n;
      } else {
        ck(cuda::launch_convert_rows(static_cast<float *>(qbuf.get()), x_q, dti, n, rows,
                                     kept_dev ? kept_dev + c0 : nullptr, c0, nullptr, stream_),
           "the conversion kernel");
        q = static_cast<const float *>(qbuf.get());
      }
      if (x_fp) {
        // d = x_fp - x_q
        if (f_host)
          ck(cuda::launch_convert_rows(static_cast<float *>(dbuf.get()), raw[1][slot].get(), dti,
                                       n, rows, nullptr, 0, q, stream_),
             "the conversion kernel");
        else
          ck(cuda::launch_convert_rows(static_cast<float *>(dbuf.get()), x_fp, dti, n, rows,
                                       kept_dev ? kept_dev + c0 : nullptr, c0, q, stream_),
             "the conversion kernel");
      }
      // Column-major view: q is n x rows (ld n). xx += q q^T (col-major upper = row-major
      // lower); row-major dx[a][b] += sum_t d[t][a] q[t][b] == col-major q d^T.
      ck_blas(cublasSsyrk_64(blas_, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, n, rows, &one, q, n,
                             &one, s.xx, n),
              "cublasSsyrk (H)");
      if (x_fp)
        ck_blas(cublasSgemm_64(blas_, CUBLAS_OP_N, CUBLAS_OP_T, n, n, rows, &one, q, n,
                               static_cast<const float *>(dbuf.get()), n, &one, s.dx, n),
                "cublasSgemm (GPTAQ cross term)");
      ck(cuda::launch_colsum(s.xsum, q, n, rows, stream_), "the column-sum kernel");
      if (any_host) ck(cudaEventRecord(ev_used_[slot], stream_), "cudaEventRecord");
    }
    ck(cuda::launch_mirror_lower(s.xx, n, stream_), "the symmetrize kernel");
    sync("gptaq_add_batch");
    s.tokens += static_cast<double>(counted);
    return counted;
  }

  // ---- dense linear algebra ----
  void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
            int64_t lda, const float *b, int64_t ldb, float beta, float *c,
            int64_t ldc) override {
    if (m == 0 || n == 0) return;
    DeviceGuard g(dev_);
    // Row-major C = op(A) op(B)  <=>  col-major C^T = op(B)^T op(A)^T.
    ck_blas(cublasSgemm_64(blas_, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                           n, m, k, &alpha, b, ldb, a, lda, &beta, c, ldc),
            "cublasSgemm");
  }

  bool inverse_upper_factor(float *h, int64_t n, float *spare) override {
    DeviceGuard g(dev_);
    // As the CPU backend: U = J L^-1 J where J H J = L L^T (J reverses indices), i.e.
    // reverse, potrf, trtri, reverse back (2/3 n^3 instead of three factorizations), in
    // float64 like the CPU (fp32 factorizations of ill-conditioned Hessians flip codes
    // downstream). The float64 matrix fills 2 n^2 floats: h and the spare the caller
    // lends, or a temporary buffer when it lends none. H is reversed into the second
    // half and widened over the whole buffer; after the factorization it is narrowed back
    // into the first half and reversed there (phases of src/inplace_convert.h, ordered by
    // the stream).
    const int64_t nn = n * n;
    DPtr tmp;
    float *work = h;
    if (spare == nullptr || spare != h + nn) {
      tmp = dalloc(sizeof(float) * static_cast<size_t>(2 * nn));
      work = static_cast<float *>(tmp.get());
      spare = work + nn;
    }
    double *ad = reinterpret_cast<double *>(work);
    ck(cuda::launch_reverse_copy(spare, h, nn, stream_), "the copy kernel");
    widen_in_place_phases(nn, [&](int64_t b, int64_t e) {
      ck(cuda::launch_to_f64(ad + b, spare + b, e - b, stream_), "the conversion kernel");
    });
    size_t dws = 0, hws = 0, dws2 = 0, hws2 = 0;
    ck_solver(cusolverDnXpotrf_bufferSize(solver_, sparams_, CUBLAS_FILL_MODE_UPPER, n,
                                          CUDA_R_64F, ad, n, CUDA_R_64F, &dws, &hws),
              "cusolverDnXpotrf_bufferSize");
    ck_solver(cusolverDnXtrtri_bufferSize(solver_, CUBLAS_FILL_MODE_UPPER,
                                          CUBLAS_DIAG_NON_UNIT, n, CUDA_R_64F, ad, n, &dws2,
                                          &hws2),
              "cusolverDnXtrtri_bufferSize");
    DPtr dwork = dalloc(std::max<size_t>({dws, dws2, 16}));
    std::vector<char> hwork(std::max<size_t>({hws, hws2, 16}));
    ck_solver(cusolverDnXpotrf(solver_, sparams_, CUBLAS_FILL_MODE_UPPER, n, CUDA_R_64F, ad, n,
                               CUDA_R_64F, dwork.get(), dws, hwork.data(), hws, &dsc_->info),
              "cusolverDnXpotrf");
    if (read_scalars().info != 0) return false;  // not positive definite
    ck_solver(cusolverDnXtrtri(solver_, CUBLAS_FILL_MODE_UPPER, CUBLAS_DIAG_NON_UNIT, n,
                               CUDA_R_64F, ad, n, dwork.get(), dws2, hwork.data(), hws2,
                               &dsc_->info),
              "cusolverDnXtrtri");
    if (read_scalars().info != 0) return false;  // singular factor
    narrow_in_place_phases(nn, [&](int64_t b, int64_t e) {
      ck(cuda::launch_to_f32(work + b, ad + b, e - b, stream_), "the conversion kernel");
    });
    if (work != h)
      ck(cudaMemcpyAsync(h, work, sizeof(float) * static_cast<size_t>(nn),
                         cudaMemcpyDeviceToDevice, stream_),
         "cudaMemcpyAsync (factor)");
    ck(cuda::launch_reverse_in_place(h, nn, stream_), "the reversal kernel");
    ck(cuda::launch_zero_lower(h, n, 0, stream_), "the triangle kernel");
    ck(cudaMemsetAsync(&dsc_->flag, 0, sizeof(int), stream_), "cudaMemsetAsync");
    ck(cuda::launch_check_diag(h, n, &dsc_->flag, stream_), "the diagonal check kernel");
    return read_scalars().flag == 0;
  }

  void asym_term(float *d, const float *u, int64_t n, float alpha) override {
    DeviceGuard g(dev_);
    const float one = 1.0f;
    // Row-major T = D U^T: col-major T^T = U D^T with the U buffer read col-major being
    // U^T (lower), so op = transpose. cuBLAS trmm is in place when C == B.
    ck_blas(cublasStrmm_64(blas_, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_T,
                           CUBLAS_DIAG_NON_UNIT, n, n, &one, u, n, d, n, d, n),
            "cublasStrmm");
    ck(cuda::launch_zero_lower(d, n, 1, stream_), "the triangle kernel");
    // Row-major P = alpha T U: col-major P^T = U^T T^T, op = no transpose.
    ck_blas(cublasStrmm_64(blas_, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N,
                           CUBLAS_DIAG_NON_UNIT, n, n, &alpha, u, n, d, n, d, n),
            "cublasStrmm");
  }

  // ---- element-wise helpers ----
  void scale_copy(float *out, const float *in, int64_t count, float scale) override {
    DeviceGuard g(dev_);
    ck(cuda::launch_scale(out, in, count, scale, stream_), "the scale kernel");
  }
  void add_diag(float *a, int64_t n, int64_t lda, float value) override {
    DeviceGuard g(dev_);
    ck(cuda::launch_add_diag(a, n, lda, value, stream_), "the diagonal kernel");
  }
  void get_diag(const float *a, int64_t n, int64_t lda, float *host_out) override {
    DeviceGuard g(dev_);
    DPtr tmp = dalloc(sizeof(float) * static_cast<size_t>(n));
    ck(cuda::launch_get_diag(static_cast<float *>(tmp.get()), a, n, lda, stream_),
       "the diagonal kernel");
    ck(cudaMemcpyAsync(host_out, tmp.get(), sizeof(float) * static_cast<size_t>(n),
                       cudaMemcpyDeviceToHost, stream_),
       "cudaMemcpyAsync (diagonal)");
    sync("get_diag");
  }

  void permute_sym(float *out, const float *in, int64_t n, const int64_t *perm) override {
    DeviceGuard g(dev_);
    const int64_t *pd = upload_index(perm, n);
    ck(cuda::launch_gather2d(out, n, in, n, n, n, pd, 0, pd, 0, stream_), "the gather kernel");
  }

  void permute_cols(float *out, const float *in, int64_t rows, int64_t n,
                    const int64_t *perm) override {
    DeviceGuard g(dev_);
    const int64_t *pd = upload_index(perm, n);
    if (out != in)
      ck(cuda::launch_gather2d(out, n, in, n, rows, n, nullptr, 0, pd, 0, stream_),
         "the gather kernel");
    else
      permute_cols_inplace(out, rows, n, pd);
  }

  void zero_cols(float *a, int64_t rows, int64_t lda, const int64_t *cols,
                 int64_t count) override {
    if (count <= 0) return;
    DeviceGuard g(dev_);
    const int64_t *cd = upload_index(cols, count);
    ck(cuda::launch_zero_cols(a, rows, lda, cd, count, stream_), "the zero-columns kernel");
  }
  void set_diag_at(float *a, int64_t lda, const int64_t *idx, int64_t count,
                   float value) override {
    if (count <= 0) return;
    DeviceGuard g(dev_);
    const int64_t *id = upload_index(idx, count);
    ck(cuda::launch_set_diag_at(a, lda, id, count, value, stream_), "the diagonal kernel");
  }

  // ---- quantization ----
  void find_params(const QuantSpec &spec, const float *w, int64_t rows, int64_t cols,
                   int64_t ldw, int32_t g, float *params, int64_t n_groups) override {
    DeviceGuard dg(dev_);
    ck(cuda::launch_find_params(spec, w, rows, cols, ldw, g, params, n_groups, stream_),
       "the quantizer-params kernel");
  }

  void sweep_block(const QuantSpec &spec, const SweepBlock &b) override {
    DeviceGuard g(dev_);
    cuda::SweepArgs a;
    a.w = b.w;
    a.rows = b.rows;
    a.cols = b.cols;
    a.ldw = b.ldw;
    a.i1 = b.i1;
    a.i2 = b.i2;
    a.u = b.u;
    a.p = b.p;
    a.err = b.err;
    a.codes = b.codes;
    a.params = b.params;
    a.n_groups = b.n_groups;
    a.group_size = b.group_size;
    a.dynamic = b.dynamic;
    a.group_of = b.group_of;
    a.feedback = b.feedback;
    a.loss = &dsc_->loss;
    ck(cudaMemsetAsync(&dsc_->loss, 0, sizeof(double), stream_), "cudaMemsetAsync");
    // Fewer rows per thread block when the weight is short, so every SM gets work.
    const int rows_per_cta = b.rows >= int64_t{kSweepRows} * sm_count_ ? kSweepRows : 32;
    ck(cuda::launch_sweep_block(spec, a, rows_per_cta, max_smem_, stream_), "the sweep kernel");
    *b.loss += read_scalars().loss;
  }

 private:
  void init() {
    DeviceGuard g(dev_);
    ck(cuda::probe_kernels(), "loading the kernels (is the device older than sm_80?)");
    int smem = 0;
    ck(cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev_),
       "cudaDeviceGetAttribute");
    max_smem_ = static_cast<size_t>(smem);
    ck(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, dev_),
       "cudaDeviceGetAttribute");
    ck(cudaStreamCreateWithFlags(&own_, cudaStreamDefault), "cudaStreamCreate");
    stream_ = own_;
    ck(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking), "cudaStreamCreate");
    for (int i = 0; i < 2; ++i) {
      ck(cudaEventCreateWithFlags(&ev_h2d_[i], cudaEventDisableTiming), "cudaEventCreate");
      ck(cudaEventCreateWithFlags(&ev_used_[i], cudaEventDisableTiming), "cudaEventCreate");
    }
    void *p = nullptr;
    ck(cudaMalloc(&p, sizeof(Scalars)), "cudaMalloc");
    dsc_ = static_cast<Scalars *>(p);
    ck(cudaHostAlloc(&p, sizeof(Scalars), cudaHostAllocDefault), "cudaHostAlloc");
    hsc_ = static_cast<Scalars *>(p);
    ck_blas(cublasCreate(&blas_), "cublasCreate");
    ck_blas(cublasSetStream(blas_, stream_), "cublasSetStream");
    // Plain fp32: no TF32 tensor-core rounding unless the user forces it by environment.
    ck_blas(cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    ck_solver(cusolverDnCreate(&solver_), "cusolverDnCreate");
    ck_solver(cusolverDnSetStream(solver_, stream_), "cusolverDnSetStream");
    ck_solver(cusolverDnCreateParams(&sparams_), "cusolverDnCreateParams");
  }

  void destroy() noexcept {
    DeviceGuard g(dev_, true);
    if (stream_) (void)cudaStreamSynchronize(stream_);
    if (sparams_) (void)cusolverDnDestroyParams(sparams_);
    if (solver_) (void)cusolverDnDestroy(solver_);
    if (blas_) (void)cublasDestroy(blas_);
    for (int i = 0; i < 2; ++i) {
      if (ev_h2d_[i]) (void)cudaEventDestroy(ev_h2d_[i]);
      if (ev_used_[i]) (void)cudaEventDestroy(ev_used_[i]);
    }
    free_staging();
    if (copy_) (void)cudaStreamDestroy(copy_);
    if (own_) (void)cudaStreamDestroy(own_);
    idx_.reset();
    if (dsc_) (void)cudaFree(dsc_);
    if (hsc_) (void)cudaFreeHost(hsc_);
    sparams_ = nullptr;
    solver_ = nullptr;
    blas_ = nullptr;
    copy_ = own_ = stream_ = nullptr;
    dsc_ = nullptr;
    hsc_ = nullptr;
    (void)cudaGetLastError();
  }

  void sync(const char *what) {
    cudaError_t e = cudaStreamSynchronize(stream_);
    if (e != cudaSuccess) cuda_fail(e, what);
  }

  // Device memory, not initialized; OUT_OF_MEMORY names the size and what is free.
  DPtr dalloc(size_t bytes) {
    void *p = nullptr;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) (void)cudaGetLastError();
      fail(GPTAQ_ERR_OUT_OF_MEMORY,
           "cannot allocate %zu bytes (%.2f GiB) of device memory on CUDA device %d "
           "(%.2f GiB free of %.2f GiB)",
           bytes, static_cast<double>(bytes) / kGiB, dev_, static_cast<double>(free_b) / kGiB,
           static_cast<double>(total_b) / kGiB);
    }
    if (e != cudaSuccess) cuda_fail(e, "cudaMalloc");
    return DPtr(p);
  }

  // Copies this call's scalars (flag, info, loss) back and waits for the stream.
  const Scalars &read_scalars() {
    ck(cudaMemcpyAsync(hsc_, dsc_, sizeof(Scalars), cudaMemcpyDeviceToHost, stream_),
       "cudaMemcpyAsync (scalars)");
    sync("reading back a result");
    return *hsc_;
  }

  // Whether a batch pointer is device memory this context can read (device memory of its
  // own device, or managed memory). Host memory, pinned or not, goes through staging.
  bool is_device(const void *p, const char *name) {
    cudaPointerAttributes attr;
    std::memset(&attr, 0, sizeof attr);
    cudaError_t e = cudaPointerGetAttributes(&attr, p);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      return false;
    }
    if (attr.type == cudaMemoryTypeManaged) return true;
    if (attr.type != cudaMemoryTypeDevice) return false;
    if (attr.device != dev_)
      fail(GPTAQ_ERR_INVALID_ARGUMENT,
           "%s is memory of CUDA device %d but the context runs on device %d", name,
           attr.device, dev_);
    return true;
  }

  // Index lists (host) copied to a reusable device buffer; valid until the next call.
  const int64_t *upload_index(const int64_t *host, int64_t count) {
    const size_t bytes = sizeof(int64_t) * static_cast<size_t>(count);
    if (bytes > idx_bytes_) {
      idx_.reset();
      idx_bytes_ = 0;
      idx_ = dalloc(bytes);
      idx_bytes_ = bytes;
    }
    ck(cudaMemcpyAsync(idx_.get(), host, bytes, cudaMemcpyHostToDevice, stream_),
       "cudaMemcpyAsync (index list)");
    // The host list may be a temporary of the caller: make the copy complete.
    sync("uploading an index list");
    return static_cast<const int64_t *>(idx_.get());
  }

  // a[:, j] = a[:, perm[j]] for a rows x n (ld n), in place, through row chunks.
  void permute_cols_inplace(float *a, int64_t rows, int64_t n, const int64_t *perm) {
    const int64_t rch = std::max<int64_t>(
        1, std::min<int64_t>(rows, static_cast<int64_t>(kChunkBytes / (4 * static_cast<size_t>(n)))));
    DPtr tmp = dalloc(sizeof(float) * static_cast<size_t>(rch) * static_cast<size_t>(n));
    float *t = static_cast<float *>(tmp.get());
    for (int64_t r0 = 0; r0 < rows; r0 += rch) {
      const int64_t rr = std::min(rch, rows - r0);
      ck(cuda::launch_gather2d(t, n, a + r0 * n, n, rr, n, nullptr, 0, perm, 0, stream_),
         "the gather kernel");
      ck(cudaMemcpyAsync(a + r0 * n, t, sizeof(float) * static_cast<size_t>(rr * n),
                         cudaMemcpyDeviceToDevice, stream_),
         "cudaMemcpyAsync (permutation)");
    }
    sync("permuting columns");
  }

  // Host staging for batches: two slots per input (x_q, x_fp), pinned when possible
  // (pageable memory is a slower but correct fallback when pinning fails).
  void ensure_staging(size_t bytes) {
    if (bytes <= staging_bytes_) return;
    free_staging();
    for (int i = 0; i < 4; ++i) {
      void *p = nullptr;
      if (cudaHostAlloc(&p, bytes, cudaHostAllocDefault) == cudaSuccess) {
        staging_pinned_[i] = true;
      } else {
        (void)cudaGetLastError();
        staging_pinned_[i] = false;
        p = std::malloc(bytes);
        if (!p) {
          free_staging();
          fail(GPTAQ_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes of host staging memory",
               bytes);
        }
      }
      staging_[i] = p;
    }
    staging_bytes_ = bytes;
  }
  void free_staging() noexcept {
    // Copies out of the staging buffers must be finished before they go.
    if (copy_) (void)cudaStreamSynchronize(copy_);
    for (int i = 0; i < 4; ++i) {
      if (staging_[i]) {
        if (staging_pinned_[i])
          (void)cudaFreeHost(staging_[i]);
        else
          std::free(staging_[i]);
      }
      staging_[i] = nullptr;
    }
    staging_bytes_ = 0;
  }

  int dev_;
  size_t max_smem_ = 48 * 1024;
  int sm_count_ = 1;
  cudaStream_t own_ = nullptr, stream_ = nullptr, copy_ = nullptr;
  cudaEvent_t ev_h2d_[2] = {nullptr, nullptr}, ev_used_[2] = {nullptr, nullptr};
  cublasHandle_t blas_ = nullptr;
  cusolverDnHandle_t solver_ = nullptr;
  cusolverDnParams_t sparams_ = nullptr;
  Scalars *dsc_ = nullptr;  // device
  Scalars *hsc_ = nullptr;  // pinned host
  DPtr idx_;
  size_t idx_bytes_ = 0;
  void *staging_[4] = {nullptr, nullptr, nullptr, nullptr};
  bool staging_pinned_[4] = {false, false, false, false};
  size_t staging_bytes_ = 0;
};

}  // namespace

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

std::unique_ptr<Backend> make_cuda_backend(int device, std::string *why) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count <= 0) {
    (void)cudaGetLastError();
    if (why)
      *why = e != cudaSuccess
                 ? std::string("no CUDA device (cudaGetDeviceCount: ") + cudaGetErrorString(e) + ")"
                 : std::string("no CUDA device (the driver reports 0 devices)");
    return nullptr;
  }
  if (device < 0 || device >= count) {
    if (why)
      *why = "no CUDA device " + std::to_string(device) + " (" + std::to_string(count) +
             " device" + (count == 1 ? "" : "s") + " present)";
    return nullptr;
  }
  try {
    return std::unique_ptr<Backend>(new CudaBackend(device));
  } catch (const Error &err) {
    if (why) *why = std::string("CUDA device ") + std::to_string(device) + ": " + err.what();
    return nullptr;
  }
}

}  // namespace gptaq
