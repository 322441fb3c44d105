// CPU backend: OpenBLAS for every O(n^3) / O(m n^2) / O(n^2 T) product, plain threads over
// rows for the fused in-block sweep (sleeping, not spinning, between blocks, so they do
// not compete with OpenBLAS's own threads; and no OpenMP runtime imposed on the host).
#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>


#include "backend.h"
#include "blas.h"
#include "error.h"
#include "half.h"
#include "inplace_convert.h"
#include "parallel.h"

namespace gptaq {
namespace {

int to_int(int64_t v, const char *what) {
  if (v < 0 || v > INT_MAX)
    fail(GPTAQ_ERR_SHAPE, "%s = %lld exceeds the BLAS integer range", what,
         static_cast<long long>(v));
  return static_cast<int>(v);
}

bool all_finite(const void *x, int64_t count, gptaq_dtype dt) {
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

// Convert `tokens` rows starting at row t0 (only rows with mask != 0) into dst as fp32.
// Returns the number of rows written.
int64_t gather_rows(float *dst, const void *src, int64_t n, int64_t t0, int64_t tokens,
                    gptaq_dtype dt, const uint8_t *mask) {
  int64_t out = 0;
  for (int64_t t = t0; t < t0 + tokens; ++t) {
    if (mask && !mask[t]) continue;
    float *d = dst + out * n;
    if (dt == GPTAQ_DTYPE_F32) {
      std::memcpy(d, static_cast<const float *>(src) + t * n, sizeof(float) * n);
    } else {
      const uint16_t *s = static_cast<const uint16_t *>(src) + t * n;
      if (dt == GPTAQ_DTYPE_F16)
        for (int64_t j = 0; j < n; ++j) d[j] = f16_to_f32(s[j]);
      else
        for (int64_t j = 0; j < n; ++j) d[j] = bf16_to_f32(s[j]);
    }
    ++out;
  }
  return out;
}

// The in-block column loop for a tile of R <= kTileRows rows (rows are independent):
// quantize, record the scaled error, update the rest of each row's block. The tile is
// held column-major (wt[i * R + rr]) so that the rank-1 update of one column runs across
// the rows in SIMD lanes and the quantize -> error -> update chain of R rows overlaps
// instead of waiting on itself. Every element sees the same operations in the same order
// as a one-row-at-a-time loop, so the results do not depend on the tiling. Compiled for
// several instruction sets; no FP contraction (-ffp-contract=off), so every clone rounds the
// same way.
constexpr int64_t kTileRows = 16;

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void sweep_tile(const QuantSpec &spec, const SweepBlock &b, int64_t r0, int64_t R, float *wt,
                float *et, uint8_t *ct, float *tmp, double *row_loss) {
  const int64_t B = b.i2 - b.i1;
  for (int64_t rr = 0; rr < R; ++rr) {
    const float *wr = b.w + (r0 + rr) * b.ldw + b.i1;
    for (int64_t i = 0; i < B; ++i) wt[i * R + rr] = wr[i];
    row_loss[rr] = 0.0;
  }
  const bool uniform = spec.kind == QUANT_UNIFORM;
  const float maxq = spec.uniform.maxq;
  float ev[kTileRows], xv[kTileRows], sc[kTileRows], zr[kTileRows];
  for (int64_t i = 0; i < B; ++i) {
    const int64_t j = b.i1 + i;
    if (b.dynamic && j % b.group_size == 0) {
      const int64_t end = std::min(b.cols, j + b.group_size);
      const int64_t na = std::min(end, b.i2) - j;
      const int64_t nb = std::max<int64_t>(0, end - b.i2);
      for (int64_t rr = 0; rr < R; ++rr) {
        for (int64_t k = 0; k < na; ++k) tmp[k] = wt[(i + k) * R + rr];
        float *p = b.params + ((r0 + rr) * b.n_groups + j / b.group_size) * 2;
        q_find_params(spec, tmp, na, b.w + (r0 + rr) * b.ldw + b.i2, nb, p, p + 1);
      }
    }
    const int64_t g = b.group_of[j];
    for (int64_t rr = 0; rr < R; ++rr) {
      const float *p = b.params + ((r0 + rr) * b.n_groups + g) * 2;
      sc[rr] = p[0];
      zr[rr] = p[1];
    }
    float *wi = wt + i * R;
    float *ei = et + i * R;
    uint8_t *ci = ct + i * R;
    const float d = b.feedback ? b.u[j * b.cols + j] : 1.0f;
    const float dd = d * d;
    // quantize(rr, x, code) -> the dequantized value. The rest of the column's work is
    // the same for every quantizer; d = 1 for RTN, whose E is never read.
    auto column = [&](auto quantize) {
#pragma GCC ivdep
      for (int64_t rr = 0; rr < R; ++rr) {
        const float x = wi[rr];
        const float q = quantize(rr, x, ci + rr);
        const float e = (x - q) / d;
        row_loss[rr] += static_cast<double>((x - q) * (x - q) / dd);
        ev[rr] = e;
        xv[rr] = x;
        ei[rr] = e;
        wi[rr] = q;
      }
    };
    if (uniform) {
      // The uniform grid without calls or branches, so the rows run in SIMD lanes.
      column([&](int64_t rr, float x, uint8_t *code) {
        const float c = uq_code(x, sc[rr], zr[rr], maxq);
        *code = static_cast<uint8_t>(c);
        return uq_dequant(c, sc[rr], zr[rr]);
      });
    } else {
      column([&](int64_t rr, float x, uint8_t *code) {
        return q_quantize(spec, x, sc[rr], zr[rr], code);
      });
    }
    if (!b.feedback) continue;
    const float *urow = b.u + j * b.cols + b.i1;
    if (b.p) {
      const float *prow = b.p + j * b.cols + b.i1;
      for (int64_t k = i + 1; k < B; ++k) {
        const float uk = urow[k], pk = prow[k];
        float *wk = wt + k * R;
#pragma GCC ivdep
        for (int64_t rr = 0; rr < R; ++rr) wk[rr] -= ev[rr] * uk - xv[rr] * pk;
      }
    } else {
      for (int64_t k = i + 1; k < B; ++k) {
        const float uk = urow[k];
        float *wk = wt + k * R;
#pragma GCC ivdep
        for (int64_t rr = 0; rr < R; ++rr) wk[rr] -= ev[rr] * uk;
      }
    }
  }
  // Column i of the tile now holds Q: it is both the quantized block and the block's
  // final working weight.
  for (int64_t rr = 0; rr < R; ++rr) {
    const int64_t r = r0 + rr;
    float *wr = b.w + r * b.ldw + b.i1;
    float *er = b.err + r * B;
    uint8_t *cr = b.codes + r * b.cols + b.i1;
    for (int64_t i = 0; i < B; ++i) {
      const float q = wt[i * R + rr];
      wr[i] = q;
      er[i] = et[i * R + rr];
      cr[i] = ct[i * R + rr];
    }
    // RTN (no feedback) reports 0 loss like before: its error is not scaled by U.
    row_loss[rr] = b.feedback ? row_loss[rr] / 2.0 : 0.0;
  }
}

class CpuBackend final : public Backend {
 public:
  // num_threads sizes the library's own row threads only. OpenBLAS's thread count is
  // process-wide (OPENBLAS_NUM_THREADS), so a context must not change it for others.
  explicit CpuBackend(int num_threads) : threads_(num_threads) {}
  gptaq_backend kind() const override { return GPTAQ_BACKEND_CPU; }

  void *alloc(size_t bytes) override {
    void *p = std::calloc(bytes ? bytes : 1, 1);
    if (!p)
      fail(GPTAQ_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes (%.2f GiB) of host memory", bytes,
           static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
    return p;
  }
  void release(void *p) override { std::free(p); }
  void upload(void *dst, const void *src, size_t bytes) override { par_copy(dst, src, bytes); }
  void download(void *dst, const void *src, size_t bytes) override {
    par_copy(dst, src, bytes);
  }
  void copy(void *dst, const void *src, size_t bytes) override { std::memmove(dst, src, bytes); }
  void stats_finish(StatsBuffers &s, int64_t n) override {
    if (!s.upper_stale) return;
    mirror_lower_to_upper(s.xx, n);
    s.upper_stale = false;
  }
  void copy2d(void *dst, size_t ldd_bytes, const void *src, size_t lds_bytes,
              size_t width_bytes, size_t rows) override {
    for (size_t r = 0; r < rows; ++r)
      std::memcpy(static_cast<char *>(dst) + r * ldd_bytes,
                  static_cast<const char *>(src) + r * lds_bytes, width_bytes);
  }
  void zero(void *p, size_t bytes) override { std::memset(p, 0, bytes); }

  void check_batch(const void *x_q, const void *x_fp, int64_t tokens, int64_t n,
                   gptaq_dtype dt) override {
    const int64_t total = tokens * n;
    if (!par_all_finite(x_q, total, dt))
      fail(GPTAQ_ERR_NON_FINITE, "x_q contains NaN or Inf; the batch of %lld tokens was rejected",
           static_cast<long long>(tokens));
    if (x_fp && !par_all_finite(x_fp, total, dt))
      fail(GPTAQ_ERR_NON_FINITE,
           "x_fp contains NaN or Inf; the batch of %lld tokens was rejected",
           static_cast<long long>(tokens));
  }

  int64_t stats_add(StatsBuffers &s, int64_t n, const void *x_q, const void *x_fp,
                    int64_t tokens, gptaq_dtype dt, const uint8_t *mask) override {
    check_batch(x_q, x_fp, tokens, n, dt);
    const int ni = to_int(n, "columns");
    // Tiles of tokens: large enough for syrk/gemm to run at speed, small enough to stay
    // O(columns) in extra memory per token row.
    // Read in place (fp32, no mask, no x_fp), there is no buffer and one call takes the
    // whole batch; otherwise the tile buffers stay under 32 MiB each.
    const bool direct = dt == GPTAQ_DTYPE_F32 && !mask;  // read x_q in place
    const int64_t tile =
        direct && !x_fp
            ? tokens
            : std::min<int64_t>(tokens, std::max<int64_t>(256, (int64_t{1} << 23) / n));
    // Kept between batches (at most 32 MiB each): a fresh zeroed buffer per batch costs a
    // page fault per 4 KiB and a memset.
    std::vector<float> &bq = conv_q_, &bd = conv_d_;
    try {
      if (!direct && bq.size() < static_cast<size_t>(tile * n)) bq.resize(static_cast<size_t>(tile * n));
      if (x_fp && bd.size() < static_cast<size_t>(tile * n)) bd.resize(static_cast<size_t>(tile * n));
    } catch (const std::bad_alloc &) {
      fail(GPTAQ_ERR_OUT_OF_MEMORY, "cannot allocate %lld bytes of conversion buffers",
           static_cast<long long>(2 * tile * n * 4));
    }
    int64_t counted = 0;
    for (int64_t t0 = 0; t0 < tokens; t0 += tile) {
      const int64_t tt = std::min(tile, tokens - t0);
      const float *q;
      int64_t rows;
      if (direct) {
        q = static_cast<const float *>(x_q) + t0 * n;
        rows = tt;
      } else {
        rows = gather_rows(bq.data(), x_q, n, t0, tt, dt, mask);
        q = bq.data();
      }
      if (rows == 0) continue;
      const int k = static_cast<int>(rows);
      const float one = 1.0f;
      // Column-major view: q is n x k (lda n); xx += q q^T (upper triangle, col-major).
      ssyrk_("U", "N", &ni, &k, &one, q, &ni, &one, s.xx, &ni);
      if (x_fp) {
        float *d = bd.data();
        if (direct) {
          const float *f = static_cast<const float *>(x_fp) + t0 * n;
          parallel_elems(rows * n, [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) d[i] = f[i] - q[i];
          });
        } else {
          gather_rows(d, x_fp, n, t0, tt, dt, mask);
          parallel_elems(rows * n, [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) d[i] -= q[i];
          });
        }
        // Row-major dx[a][b] += sum_t d[t][a] q[t][b]  ==  col-major C = Q D^T.
        sgemm_("N", "T", &ni, &ni, &k, &one, q, &ni, d, &ni, &one, s.dx, &ni);
      }
      // Column ranges per thread; each column sums its tokens in order.
      parallel_for(n, parallel_threads(n, threads_, 256), [&](int, int64_t j0, int64_t j1) {
        for (int64_t t = 0; t < rows; ++t) {
          const float *row = q + t * n;
          for (int64_t j = j0; j < j1; ++j) s.xsum[j] += row[j];
        }
      });
      counted += rows;
    }
    // Only the col-major upper triangle (row-major lower) was updated: stats_finish
    // mirrors it once, before anything reads the full matrix.
    s.upper_stale = true;
    s.tokens += static_cast<double>(counted);
    return counted;
  }

  void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
            int64_t lda, const float *b, int64_t ldb, float beta, float *c,
            int64_t ldc) override {
    if (m == 0 || n == 0) return;
    // Row-major C = op(A) op(B)  <=>  col-major C^T = op(B)^T op(A)^T.
    const int mi = to_int(m, "m"), ni = to_int(n, "n"), ki = to_int(k, "k");
    const int la = to_int(lda, "lda"), lb = to_int(ldb, "ldb"), lc = to_int(ldc, "ldc");
    sgemm_(tb ? "T" : "N", ta ? "T" : "N", &ni, &mi, &ki, &alpha, b, &lb, a, &la, &beta, c, &lc);
  }

  bool inverse_upper_factor(float *h, int64_t n, float *spare) override {
    const int ni = to_int(n, "columns");
    // U = J L^-1 J where J H J = L L^T (J reverses indices): one Cholesky and one
    // triangular inverse (2/3 n^3) instead of the reference's three factorizations.
    // The Cholesky in float64: U feeds every later column's update, and fp32
    // factorizations of the ill-conditioned Hessians of real layers flip codes
    // downstream. Reversing a row-major n x n matrix in both indices is reversing its n^2
    // elements. The float64 matrix fills 2 n^2 floats: h and the spare the caller lends,
    // or a temporary buffer when it lends none.
    const int64_t nn = n * n;
    std::unique_ptr<float[]> tmp;
    float *work = h;
    if (spare == nullptr || spare != h + nn) {
      try {
        tmp.reset(new float[static_cast<size_t>(2 * nn)]);
      } catch (const std::bad_alloc &) {
        fail(GPTAQ_ERR_OUT_OF_MEMORY,
             "cannot allocate the %lld-byte float64 factorization workspace",
             static_cast<long long>(nn * 8));
      }
      work = tmp.get();
      spare = work + nn;
    }
    // H reversed into the second half, widened to float64 over the whole buffer, and
    // after the Cholesky narrowed back into the first half, each conversion in phases on
    // all threads. The bytes change type as they go, so they are written through memcpy
    // (untyped): no type-based alias assumption can move a store of one phase ahead of a
    // load of an earlier one.
    unsigned char *bytes = reinterpret_cast<unsigned char *>(work);
    parallel_elems(nn, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) spare[i] = h[nn - 1 - i];
    });
    widen_in_place_phases(nn, [&](int64_t b, int64_t e) {
      parallel_elems(e - b, [&](int64_t i0, int64_t i1) {
        for (int64_t i = b + i0; i < b + i1; ++i) {
          const double v = static_cast<double>(spare[i]);
          std::memcpy(bytes + 8 * i, &v, sizeof v);
        }
      });
    });
    int info = 0;
    // Row-major lower == col-major upper: dpotrf('U') gives H' = Uc^T Uc, and the
    // col-major upper inverse is the row-major lower L^-1.
    dpotrf_("U", &ni, reinterpret_cast<double *>(work), &ni, &info);
    if (info != 0) return false;
    narrow_in_place_phases(nn, [&](int64_t b, int64_t e) {
      parallel_elems(e - b, [&](int64_t i0, int64_t i1) {
        for (int64_t i = b + i0; i < b + i1; ++i) {
          double v;
          std::memcpy(&v, bytes + 8 * i, sizeof v);
          const float f = static_cast<float>(v);
          std::memcpy(bytes + 4 * i, &f, sizeof f);
        }
      });
    });
    if (work != h) par_copy(h, work, sizeof(float) * static_cast<size_t>(nn));
    // The triangular inverse in fp32: its error grows with cond(L) = sqrt(cond(H)), not
    // with cond(H) like the Cholesky's, and it is half the factorization's time.
    strtri_("U", "N", &ni, h, &ni, &info);
    if (info != 0) return false;
    parallel_elems(nn / 2, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) std::swap(h[i], h[nn - 1 - i]);
    });
    parallel_rows(n, [&](int, int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) std::memset(h + r * n, 0, sizeof(float) * r);
    });
    for (int64_t j = 0; j < n; ++j) {
      float d = h[j * n + j];
      if (!(std::isfinite(d) && d > 0.0f)) return false;
    }
    return true;
  }

  void asym_term(float *d, const float *u, int64_t n, float alpha) override {
    // P = alpha * triu_strict(D U^T) U, one tile of rows at a time. Row i of P only needs
    // T[i][k] for k > i, and T[i][k] = sum_{l >= k} D[i][l] U[k][l], so rows [r0, r1)
    // need only the trailing columns [r0, n) of D and the trailing block U[r0:, r0:]:
    // two triangular products on a (r1 - r0) x (n - r0) panel. That is 2/3 n^3 flops
    // in all instead of 2 n^3 for full-size triangular products.
    const int64_t nb = std::min<int64_t>(n, 256);
    std::vector<float> panel(static_cast<size_t>(nb * n));
    const int ldu = to_int(n, "columns");
    const float one = 1.0f;
    for (int64_t r0 = 0; r0 < n; r0 += nb) {
      const int64_t rows = std::min(nb, n - r0), len = n - r0;
      const int ri = static_cast<int>(rows), li = static_cast<int>(len);
      for (int64_t r = 0; r < rows; ++r)
        std::memcpy(&panel[r * len], d + (r0 + r) * n + r0, sizeof(float) * len);
      const float *usub = u + r0 * n + r0;
      // Row-major panel <- panel U_sub^T: col-major panel^T <- U_sub panel^T, and the
      // row-major upper U_sub read col-major is lower: op = transpose.
      strmm_("L", "L", "T", "N", &li, &ri, &one, usub, &ldu, panel.data(), &li);
      for (int64_t r = 0; r < rows; ++r)  // strictly upper part of T only
        std::memset(&panel[r * len], 0, sizeof(float) * (r + 1));
      // Row-major panel <- alpha panel U_sub: op = no transpose.
      strmm_("L", "L", "N", "N", &li, &ri, &alpha, usub, &ldu, panel.data(), &li);
      for (int64_t r = 0; r < rows; ++r) {
        float *drow = d + (r0 + r) * n;
        std::memset(drow, 0, sizeof(float) * r0);
        std::memcpy(drow + r0, &panel[r * len], sizeof(float) * len);
      }
    }
  }

  void scale_copy(float *out, const float *in, int64_t count, float scale) override {
    parallel_elems(count, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) out[i] = in[i] * scale;
    });
  }
  void add_diag(float *a, int64_t n, int64_t lda, float value) override {
    for (int64_t j = 0; j < n; ++j) a[j * lda + j] += value;
  }
  void get_diag(const float *a, int64_t n, int64_t lda, float *out) override {
    for (int64_t j = 0; j < n; ++j) out[j] = a[j * lda + j];
  }

  void permute_sym(float *out, const float *in, int64_t n, const int64_t *perm) override {
    parallel_rows(n, [&](int, int64_t r0, int64_t r1) {  // one gather pass
      for (int64_t r = r0; r < r1; ++r) {
        const float *src = in + perm[r] * n;
        float *dst = out + r * n;
        for (int64_t j = 0; j < n; ++j) dst[j] = src[perm[j]];
      }
    });
  }

  void permute_cols(float *out, const float *in, int64_t rows, int64_t n,
                    const int64_t *perm) override {
    const int t = threads_for(rows);
    std::vector<float> tmp(static_cast<size_t>(t * n));
    parallel_for(rows, t, [&](int k, int64_t r0, int64_t r1) {
      float *tk = tmp.data() + k * n;
      for (int64_t r = r0; r < r1; ++r) {
        const float *src = in + r * n;
        for (int64_t j = 0; j < n; ++j) tk[j] = src[perm[j]];
        std::memcpy(out + r * n, tk, sizeof(float) * n);
      }
    });
  }

  void zero_cols(float *a, int64_t rows, int64_t lda, const int64_t *cols,
                 int64_t count) override {
    parallel_rows(rows, [&](int, int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t k = 0; k < count; ++k) a[r * lda + cols[k]] = 0.0f;
    });
  }
  void set_diag_at(float *a, int64_t lda, const int64_t *idx, int64_t count,
                   float value) override {
    for (int64_t k = 0; k < count; ++k) a[idx[k] * lda + idx[k]] = value;
  }

  void find_params(const QuantSpec &spec, const float *w, int64_t rows, int64_t cols,
                   int64_t ldw, int32_t g, float *params, int64_t n_groups) override {
    const int64_t gs = g > 0 ? g : cols;
    parallel_rows(rows, [&](int, int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t k = 0; k < n_groups; ++k) {
          const int64_t c0 = k * gs, c1 = std::min(cols, c0 + gs);
          float *p = params + (r * n_groups + k) * 2;
          q_find_params(spec, w + r * ldw + c0, c1 - c0, nullptr, 0, p, p + 1);
        }
    });
  }

  void sweep_block(const QuantSpec &spec, const SweepBlock &b) override {
    const int64_t B = b.i2 - b.i1;
    const int t = threads_for(b.rows);
    std::vector<double> partial(static_cast<size_t>(t), 0.0);
    // Per thread: the tile, its errors and codes, and one row's group values.
    const int64_t per = 2 * B * kTileRows + B + B * kTileRows / 4 + 1;
    std::vector<float> scratch(static_cast<size_t>(t * per));
    parallel_rows(b.rows, [&](int k, int64_t r0, int64_t r1) {
      float *wt = scratch.data() + k * per;
      float *et = wt + B * kTileRows;
      float *tmp = et + B * kTileRows;
      uint8_t *ct = reinterpret_cast<uint8_t *>(tmp + B);
      double loss = 0.0, row_loss[kTileRows];
      for (int64_t r = r0; r < r1; r += kTileRows) {
        const int64_t R = std::min(kTileRows, r1 - r);
        sweep_tile(spec, b, r, R, wt, et, ct, tmp, row_loss);
        for (int64_t rr = 0; rr < R; ++rr) loss += row_loss[rr];
      }
      partial[static_cast<size_t>(k)] = loss;
    });
    for (double l : partial) *b.loss += l;
  }

 private:
  // xx[r][c] = xx[c][r] for c > r, in square tiles so both sides stay in cache (a plain
  // double loop reads one side with a stride of n floats: a TLB miss per element).
  void mirror_lower_to_upper(float *xx, int64_t n) {
    constexpr int64_t T = 64;
    const int64_t tiles = (n + T - 1) / T;
    const int t = parallel_threads(tiles, threads_, 4);
    parallel_for(t, t, [&](int k, int64_t, int64_t) {  // tile rows dealt round-robin
      for (int64_t rb = k; rb < tiles; rb += t) {
        const int64_t r0 = rb * T, r1 = std::min(n, r0 + T);
        for (int64_t c0 = r0; c0 < n; c0 += T) {
          const int64_t c1 = std::min(n, c0 + T);
          for (int64_t r = r0; r < r1; ++r)
            for (int64_t c = std::max(c0, r + 1); c < c1; ++c) xx[r * n + c] = xx[c * n + r];
        }
      }
    });
  }

  int threads_for(int64_t rows) const { return parallel_threads(rows, threads_); }

  // body(i0, i1) over [0, count) in chunks of at least 64K elements per thread: the
  // O(n^2) and O(tokens n) passes around the BLAS calls are memory-bound and otherwise
  // leave the other cores idle.
  template <class F>
  void parallel_elems(int64_t count, F &&body) {
    const int t = parallel_threads(count, threads_, int64_t{1} << 16);
    parallel_for(count, t, [&](int, int64_t i0, int64_t i1) { body(i0, i1); });
  }
  void par_copy(void *dst, const void *src, size_t bytes) {
    parallel_elems(static_cast<int64_t>(bytes), [&](int64_t i0, int64_t i1) {
      std::memcpy(static_cast<char *>(dst) + i0, static_cast<const char *>(src) + i0,
                  static_cast<size_t>(i1 - i0));
    });
  }
  bool par_all_finite(const void *x, int64_t count, gptaq_dtype dt) {
    const size_t esz = dt == GPTAQ_DTYPE_F32 ? 4 : 2;
    std::atomic<bool> ok{true};
    parallel_elems(count, [&](int64_t i0, int64_t i1) {
      if (!all_finite(static_cast<const char *>(x) + i0 * esz, i1 - i0, dt)) ok = false;
    });
    return ok;
  }

  template <class F>
  void parallel_rows(int64_t rows, F &&body) {
    parallel_for(rows, threads_for(rows), body);
  }

  int threads_;
  std::vector<float> conv_q_, conv_d_;  // statistics conversion tiles, reused
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int num_threads) {
  return std::unique_ptr<Backend>(new CpuBackend(num_threads));
}

}  // namespace gptaq
