// A short float64 reference implementation of docs/ALGORITHMS.md sections 1-4 (statistics,
// inverse-Hessian preparation with act-order or group-aware reordering, the GPTQ / GPTAQ
// column sweep, the uniform quantizer).
//
// Written from ALGORITHMS.md and the public header only, for the numerical tests. It favours
// obviousness over speed: plain loops, no BLAS, every matrix a dense std::vector<double>.
// The sweep goes one column at a time; it keeps the library's lazy-block semantics (which
// matter for GPTAQ and for group parameters) by tracking the block [i1, i2) the column is
// in and applying the cross-block update explicitly when the block ends.
#ifndef GPTAQ_TESTS_REFERENCE_H
#define GPTAQ_TESTS_REFERENCE_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace ref {

// A dense row-major matrix of doubles.
struct Mat {
  int64_t rows = 0, cols = 0;
  std::vector<double> a;
  Mat() = default;
  Mat(int64_t r, int64_t c) : rows(r), cols(c), a(static_cast<size_t>(r * c), 0.0) {}
  double &operator()(int64_t i, int64_t j) { return a[static_cast<size_t>(i * cols + j)]; }
  double operator()(int64_t i, int64_t j) const { return a[static_cast<size_t>(i * cols + j)]; }
};

// ---- 1. statistics ----------------------------------------------------------------------

// Sums of x_q x_q^T and (x_fp - x_q) x_q^T over all tokens, and the token count N.
// H = (2/N) * sum_xx, dXXT = (2/N) * sum_dx.
struct Stats {
  int64_t n = 0;  // columns
  int64_t tokens = 0;
  Mat sum_xx, sum_dx;
  bool has_fp = false;
  explicit Stats(int64_t cols = 0, bool fp = false)
      : n(cols), sum_xx(cols, cols), sum_dx(cols, cols), has_fp(fp) {}

  // xq, xfp: tokens x n row-major fp32 (xfp may be null).
  void add(const float *xq, const float *xfp, int64_t t) {
    for (int64_t k = 0; k < t; ++k) {
      const float *q = xq + k * n;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) sum_xx(i, j) += double(q[i]) * double(q[j]);
      if (xfp) {
        const float *f = xfp + k * n;
        for (int64_t i = 0; i < n; ++i) {
          const double d = double(f[i]) - double(q[i]);
          for (int64_t j = 0; j < n; ++j) sum_dx(i, j) += d * double(q[j]);
        }
      }
    }
    tokens += t;
  }
  Mat H() const { return scaled(sum_xx); }
  Mat dXXT() const { return scaled(sum_dx); }

 private:
  Mat scaled(const Mat &m) const {
    Mat r = m;
    for (double &v : r.a) v *= 2.0 / double(tokens);
    return r;
  }
};

// ---- linear algebra in double -------------------------------------------------------------

// Lower Cholesky factor L (A = L L^T); false if a pivot is not positive.
inline bool cholesky_lower(const Mat &A, Mat &L) {
  const int64_t n = A.rows;
  L = Mat(n, n);
  for (int64_t j = 0; j < n; ++j) {
    double s = A(j, j);
    for (int64_t k = 0; k < j; ++k) s -= L(j, k) * L(j, k);
    if (!(s > 0.0) || !std::isfinite(s)) return false;
    L(j, j) = std::sqrt(s);
    for (int64_t i = j + 1; i < n; ++i) {
      double t = A(i, j);
      for (int64_t k = 0; k < j; ++k) t -= L(i, k) * L(j, k);
      L(i, j) = t / L(j, j);
    }
  }
  return true;
}

// A^-1 from its lower Cholesky factor: A^-1 = L^-T L^-1.
inline Mat inverse_from_cholesky(const Mat &L) {
  const int64_t n = L.rows;
  Mat Li(n, n);  // L^-1, lower triangular, by forward substitution on each unit vector
  for (int64_t c = 0; c < n; ++c) {
    for (int64_t i = c; i < n; ++i) {
      double s = (i == c) ? 1.0 : 0.0;
      for (int64_t k = c; k < i; ++k) s -= L(i, k) * Li(k, c);
      Li(i, c) = s / L(i, i);
    }
  }
  Mat inv(n, n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t k = std::max(i, j); k < n; ++k) s += Li(k, i) * Li(k, j);
      inv(i, j) = s;
    }
  return inv;
}

// ---- 4. the quantizer ----------------------------------------------------------------------

struct QParams {
  double scale = 1.0, zero = 0.0;
};

struct QuantConfig {
  int bits = 4;
  bool sym = true;
  bool mse = false;
  double norm = 2.4;
  int grid = 100;
  double max_shrink = 0.8;
  int maxq() const { return (1 << bits) - 1; }
};

// Round half to even (the default rounding mode of nearbyint).
inline double round_even(double x) { return std::nearbyint(x); }

inline double quant_code(double x, const QParams &p, int maxq) {
  const double c = round_even(x / p.scale) + p.zero;
  return std::min(std::max(c, 0.0), double(maxq));
}
inline double dequant(double code, const QParams &p) { return p.scale * (code - p.zero); }
inline double quant_dequant(double x, const QParams &p, int maxq) {
  return dequant(quant_code(x, p, maxq), p);
}

// Scale/zero for one row from the values it covers.
inline QParams find_params(const std::vector<double> &x, const QuantConfig &qc) {
  const int maxq = qc.maxq();
  double xmin = 0.0, xmax = 0.0;
  for (double v : x) {
    xmin = std::min(xmin, v);
    xmax = std::max(xmax, v);
  }
  if (qc.sym) {
    xmax = std::max(std::fabs(xmin), xmax);
    if (xmin < 0) xmin = -xmax;
  }
  if (xmin == 0.0 && xmax == 0.0) {
    xmin = -1.0;
    xmax = 1.0;
  }
  QParams p;
  p.scale = (xmax - xmin) / maxq;
  p.zero = qc.sym ? double((maxq + 1) / 2) : round_even(-xmin / p.scale);
  if (qc.mse) {
    const double sym_zero = p.zero;
    double best = INFINITY;
    const int steps = int(std::floor(qc.max_shrink * qc.grid + 1e-9));
    for (int i = 0; i < steps; ++i) {
      const double sh = 1.0 - double(i) / qc.grid;
      const double lo = sh * xmin, hi = sh * xmax;
      QParams c;
      c.scale = (hi - lo) / maxq;
      c.zero = qc.sym ? sym_zero : round_even(-lo / c.scale);
      double err = 0.0;
      for (double v : x) err += std::pow(std::fabs(quant_dequant(v, c, maxq) - v), qc.norm);
      if (err < best) {
        best = err;
        p = c;
      }
    }
  }
  return p;
}

// ---- 2 + 3. the solve ------------------------------------------------------------------------

struct SolveConfig {
  QuantConfig q;
  int method = 1;  // 0 RTN, 1 GPTQ, 2 GPTAQ (gptaq_method)
  int group_size = 128;  // -1 = per row
  bool act_order = false;
  bool act_group_aware = false;  // GAR (needs group_size > 0, excludes act_order)
  bool static_groups = false;
  int block_size = 128;
  double damp_percent = 0.01;
  int damp_retries = 4;
  double alpha = 0.25;
};

// Group-aware reordering (ALGORITHMS.md, "Group-aware reordering"), from the diagonal of
// H after the dead-column fix. Returns perm[position] = original column:
//  - inside each full group of g columns, its columns by diag descending;
//  - the full groups by their largest diag, descending;
//  - a partial last group (n % g columns) last, in its original column order.
// Every sort is stable (ties keep the lower index first).
inline std::vector<int64_t> group_aware_order(const std::vector<double> &diag, int64_t g) {
  const int64_t n = int64_t(diag.size());
  const int64_t full = n / g;
  std::vector<std::vector<int64_t>> groups(static_cast<size_t>(full));
  std::vector<double> top(static_cast<size_t>(full));
  for (int64_t k = 0; k < full; ++k) {
    std::vector<int64_t> &cols = groups[size_t(k)];
    for (int64_t c = k * g; c < (k + 1) * g; ++c) cols.push_back(c);
    std::stable_sort(cols.begin(), cols.end(),
                     [&](int64_t a, int64_t b) { return diag[size_t(a)] > diag[size_t(b)]; });
    top[size_t(k)] = diag[size_t(cols[0])];  // the group's largest entry
  }
  std::vector<int64_t> order(static_cast<size_t>(full));
  std::iota(order.begin(), order.end(), int64_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return top[size_t(a)] > top[size_t(b)]; });
  std::vector<int64_t> perm;
  for (int64_t k : order) perm.insert(perm.end(), groups[size_t(k)].begin(), groups[size_t(k)].end());
  for (int64_t c = full * g; c < n; ++c) perm.push_back(c);
  return perm;
}

struct Result {
  int64_t rows = 0, cols = 0, n_groups = 0;
  std::vector<int> codes;       // rows x cols
  std::vector<double> scales;   // rows x n_groups
  std::vector<double> zeros;    // rows x n_groups
  std::vector<int32_t> g_idx;   // cols
  std::vector<double> dequant;  // rows x cols
  double loss = 0.0;
  double damp_used = 0.0;
  int damp_retries = 0;
  bool ok = false;
  int64_t followed = 0;  // rounding decisions taken from Follow (see below)
};

// Optional tie-following, for comparing with an fp32 implementation. A value whose x/scale
// lies (to rounding) on a rounding boundary k + 1/2 can round either way in fp32 and fp64
// (every symmetric grid puts its most negative value exactly on -maxq/2), and the sweep
// then feeds a different error forward, so one such decision decorrelates the rest of the
// row. With a Follow, where x/scale is within `tol` of k + 1/2 and the other
// implementation's code (original column order) is one of the two neighbours, the reference
// takes that code and counts it in Result::followed. Every other decision stays its own.
struct Follow {
  const uint8_t *codes = nullptr;  // rows x cols
  double tol = 0.0;                // in grid steps
};

inline double decide_code(double x, const QParams &p, int maxq, const Follow *follow,
                          size_t idx, int64_t *followed) {
  const double code = quant_code(x, p, maxq);
  if (!follow || !follow->codes) return code;
  const double t = x / p.scale;
  const double fl = std::floor(t);
  if (std::fabs((t - fl) - 0.5) > follow->tol) return code;
  const double lo = std::min(std::max(fl + p.zero, 0.0), double(maxq));
  const double hi = std::min(std::max(fl + 1.0 + p.zero, 0.0), double(maxq));
  const double other = double(follow->codes[idx]);
  if (other != code && (other == lo || other == hi)) {
    ++*followed;
    return other;
  }
  return code;
}

// The prepared inverse factor for one (statistics, act-order, damping, method, alpha).
struct Factor {
  std::vector<int64_t> perm;  // perm[j] = original column at position j
  std::vector<bool> dead;     // per original column
  Mat U;                      // upper: H^-1 = U^T U (permuted order)
  Mat P;                      // GPTAQ: alpha * triu_strict(dXXT U^T) U (permuted order)
  bool has_P = false;
  double damp_used = 0.0;
  int retries = 0;
  bool ok = false;
};

inline Factor prepare(const Stats &st, const SolveConfig &cfg) {
  const int64_t n = st.n;
  Factor f;
  Mat H = st.H();
  Mat D = st.dXXT();
  // 1. dead columns (W is zeroed by the caller of the sweep, see solve()).
  f.dead.assign(static_cast<size_t>(n), false);
  for (int64_t j = 0; j < n; ++j) {
    if (H(j, j) == 0.0) {
      f.dead[static_cast<size_t>(j)] = true;
      H(j, j) = 1.0;
      for (int64_t i = 0; i < n; ++i) D(i, j) = 0.0;
    }
  }
  // 3. act-order: stable descending argsort of diag(H).
  f.perm.resize(static_cast<size_t>(n));
  std::iota(f.perm.begin(), f.perm.end(), int64_t(0));
  if (cfg.act_order) {
    std::stable_sort(f.perm.begin(), f.perm.end(),
                     [&](int64_t a, int64_t b) { return H(a, a) > H(b, b); });
  } else if (cfg.act_group_aware) {
    std::vector<double> diag(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) diag[size_t(j)] = H(j, j);
    f.perm = group_aware_order(diag, cfg.group_size);
  }
  Mat Hp(n, n), Dp(n, n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      Hp(i, j) = H(f.perm[size_t(i)], f.perm[size_t(j)]);
      Dp(i, j) = D(f.perm[size_t(i)], f.perm[size_t(j)]);
    }
  // 4 + 5. damping with x10 retries, U = upper Cholesky factor of H^-1.
  double mean_diag = 0.0;
  for (int64_t j = 0; j < n; ++j) mean_diag += Hp(j, j);
  mean_diag /= double(n);
  double damp = cfg.damp_percent;
  for (int attempt = 0; attempt <= cfg.damp_retries; ++attempt, damp *= 10.0) {
    Mat Hd = Hp;
    for (int64_t j = 0; j < n; ++j) Hd(j, j) += damp * mean_diag;
    Mat L;
    if (!cholesky_lower(Hd, L)) continue;
    Mat Hinv = inverse_from_cholesky(L);
    Mat L2;
    if (!cholesky_lower(Hinv, L2)) continue;
    f.U = Mat(n, n);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i; j < n; ++j) f.U(i, j) = L2(j, i);
    f.ok = true;
    f.damp_used = damp;
    f.retries = attempt;
    break;
  }
  if (!f.ok) return f;
  // 6. GPTAQ: P = alpha * triu_strict(dXXT U^T) U.
  if (cfg.method == 2) {
    Mat T(n, n);  // triu_strict(Dp U^T)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j) {
        double s = 0.0;
        for (int64_t k = j; k < n; ++k) s += Dp(i, k) * f.U(j, k);  // (U^T)(k, j) = U(j, k)
        T(i, j) = s;
      }
    f.P = Mat(n, n);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0.0;
        for (int64_t k = i + 1; k <= j; ++k) s += T(i, k) * f.U(k, j);
        f.P(i, j) = cfg.alpha * s;
      }
    f.has_P = true;
  }
  return f;
}

// Quantize W (rows x n, fp32 row-major) with a prepared factor (ignored for RTN).
inline Result solve(const float *weight, int64_t rows, int64_t n, const Factor &f,
                    const SolveConfig &cfg, const Follow *follow = nullptr) {
  Result r;
  r.rows = rows;
  r.cols = n;
  const int64_t g = cfg.group_size;
  const int64_t ng = (g < 0) ? 1 : (n + g - 1) / g;
  r.n_groups = ng;
  r.codes.assign(size_t(rows * n), 0);
  r.dequant.assign(size_t(rows * n), 0.0);
  r.scales.assign(size_t(rows * ng), 0.0);
  r.zeros.assign(size_t(rows * ng), 0.0);
  r.g_idx.assign(size_t(n), 0);
  const int maxq = cfg.q.maxq();
  const bool rtn = cfg.method == 0;
  if (!rtn && !f.ok) return r;
  r.damp_used = rtn ? 0.0 : f.damp_used;
  r.damp_retries = rtn ? 0 : f.retries;

  // W in original column order, dead columns zeroed (step 1).
  Mat W0(rows, n);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < n; ++j) W0(i, j) = double(weight[i * n + j]);
  if (!rtn)
    for (int64_t j = 0; j < n; ++j)
      if (f.dead[size_t(j)])
        for (int64_t i = 0; i < rows; ++i) W0(i, j) = 0.0;

  auto params_of = [&](const Mat &M, int64_t row, int64_t c0, int64_t c1) {
    std::vector<double> x;
    for (int64_t c = c0; c < c1; ++c) x.push_back(M(row, c));
    return find_params(x, cfg.q);
  };

  if (rtn) {  // round to nearest: group params from the weight itself, no feedback
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t k = 0; k < ng; ++k) {
        const int64_t c0 = (g < 0) ? 0 : k * g, c1 = (g < 0) ? n : std::min(n, c0 + g);
        const QParams p = params_of(W0, i, c0, c1);
        r.scales[size_t(i * ng + k)] = p.scale;
        r.zeros[size_t(i * ng + k)] = p.zero;
        for (int64_t c = c0; c < c1; ++c) {
          const double code =
              decide_code(W0(i, c), p, maxq, follow, size_t(i * n + c), &r.followed);
          r.codes[size_t(i * n + c)] = int(code);
          r.dequant[size_t(i * n + c)] = dequant(code, p);
        }
      }
    for (int64_t c = 0; c < n; ++c) r.g_idx[size_t(c)] = (g < 0) ? 0 : int32_t(c / g);
    r.ok = true;
    return r;
  }

  // 2. static groups (and per-row params): from the original, unpermuted weight.
  std::vector<QParams> fixed(static_cast<size_t>(rows * ng));
  if (g < 0 || cfg.static_groups) {
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t k = 0; k < ng; ++k) {
        const int64_t c0 = (g < 0) ? 0 : k * g, c1 = (g < 0) ? n : std::min(n, c0 + g);
        fixed[size_t(i * ng + k)] = params_of(W0, i, c0, c1);
      }
  }

  // 3. permute the columns.
  Mat W(rows, n);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < n; ++j) W(i, j) = W0(i, f.perm[size_t(j)]);

  const Mat &U = f.U;
  const int64_t B = cfg.block_size;
  std::vector<QParams> cur(static_cast<size_t>(rows));  // dynamic group params, per row
  const size_t nr = static_cast<size_t>(rows);
  std::vector<double> e(nr), wcol(nr), qcol(nr);
  Mat E(rows, B), Q(rows, B);  // the block's errors and quantized values
  std::vector<int64_t> group_of_pos(size_t(n), 0);

  for (int64_t i1 = 0; i1 < n; i1 += B) {
    const int64_t i2 = std::min(n, i1 + B);
    for (int64_t j = i1; j < i2; ++j) {
      const int64_t orig = f.perm[size_t(j)];
      // group params for this column
      int64_t grp = 0;
      if (g > 0 && !cfg.static_groups) {
        // Dynamic groups: each run of g positions. With GAR such a run is exactly one
        // original group, whose index keeps its params (and is its g_idx).
        grp = cfg.act_group_aware ? orig / g : j / g;
        if (j % g == 0) {
          for (int64_t i = 0; i < rows; ++i) {
            // W holds the current values: in-block columns are updated column by column,
            // later blocks only receive the cross-block update at each block's end.
            cur[size_t(i)] = params_of(W, i, j, std::min(n, j + g));
            r.scales[size_t(i * ng + grp)] = cur[size_t(i)].scale;
            r.zeros[size_t(i * ng + grp)] = cur[size_t(i)].zero;
          }
        }
      } else if (g > 0) {
        grp = orig / g;
      }
      group_of_pos[size_t(j)] = grp;
      const double d = U(j, j);
      for (int64_t i = 0; i < rows; ++i) {
        const QParams &p = (g > 0 && !cfg.static_groups) ? cur[size_t(i)]
                                                         : fixed[size_t(i * ng + grp)];
        const double w = W(i, j);
        const double code =
            decide_code(w, p, maxq, follow, size_t(i * n + orig), &r.followed);
        const double q = dequant(code, p);
        r.codes[size_t(i * n + orig)] = int(code);
        r.dequant[size_t(i * n + orig)] = q;
        r.loss += (w - q) * (w - q) / (d * d) / 2.0;
        wcol[size_t(i)] = w;
        qcol[size_t(i)] = q;
        e[size_t(i)] = (w - q) / d;
      }
      // In-block update of the remaining columns of this block (pre-quantization w in the
      // GPTAQ term). Column j itself becomes q: w - e*d - w*P[j][j] with P strictly upper.
      for (int64_t i = 0; i < rows; ++i) {
        for (int64_t k = j; k < i2; ++k) {
          double upd = e[size_t(i)] * U(j, k);
          if (f.has_P) upd -= wcol[size_t(i)] * f.P(j, k);
          W(i, k) -= upd;
        }
        E(i, j - i1) = e[size_t(i)];
        Q(i, j - i1) = qcol[size_t(i)];
      }
    }
    // Cross-block update: W[:, i2:] -= E U[i1:i2, i2:] - Q1 P[i1:i2, i2:].
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t k = i2; k < n; ++k) {
        double upd = 0.0;
        for (int64_t j = i1; j < i2; ++j) {
          upd += E(i, j - i1) * U(j, k);
          if (f.has_P) upd -= Q(i, j - i1) * f.P(j, k);
        }
        W(i, k) -= upd;
      }
  }

  // Static groups / per row: report the fixed params. g_idx per original column.
  if (g < 0 || cfg.static_groups)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t k = 0; k < ng; ++k) {
        r.scales[size_t(i * ng + k)] = fixed[size_t(i * ng + k)].scale;
        r.zeros[size_t(i * ng + k)] = fixed[size_t(i * ng + k)].zero;
      }
  for (int64_t j = 0; j < n; ++j) r.g_idx[size_t(f.perm[size_t(j)])] = int32_t(group_of_pos[size_t(j)]);
  r.ok = true;
  return r;
}

}  // namespace ref

#endif  // GPTAQ_TESTS_REFERENCE_H
