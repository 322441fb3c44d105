// A short float64 reference of GPTQT (ALGORITHMS.md §5) for the tests: the candidate level
// sets, the quantize-twice rounding, the per-layer re-explore search (output, Hessian and
// weight objectives, evaluated directly, without the library's histogram shortcut), and
// the GPTQ / GPTAQ sweep (§2-3) with the binary quantizer. Written from ALGORITHMS.md and
// the public header only; plain loops over std::vector<double>, obviousness over speed.
#ifndef GPTAQ_TESTS_GPTQT_REFERENCE_H
#define GPTAQ_TESTS_GPTQT_REFERENCE_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "reference.h"  // ref::group_aware_order, the one written-down GAR order

namespace gptqt_ref {

using Vec = std::vector<double>;

// ---- the level sets ----------------------------------------------------------------------

// All k-subsets of the bit-plane weights {2^(n-2), ..., 1, 1/2} (positions 0..n-1) in
// lexicographic order of positions; each as its weights, descending.
inline std::vector<Vec> level_sets(int n, int k) {
  std::vector<Vec> out;
  std::vector<int> pos(static_cast<size_t>(k));
  auto rec = [&](auto &&self, int start, int depth) -> void {
    if (depth == k) {
      Vec a;
      for (int p : pos) a.push_back(std::ldexp(1.0, n - 2 - p));
      out.push_back(a);
      return;
    }
    for (int p = start; p < n; ++p) {
      pos[static_cast<size_t>(depth)] = p;
      self(self, p + 1, depth + 1);
    }
  };
  rec(rec, 0, 0);
  return out;
}

// The 2^k levels on the u-grid, index = code (bit i, MSB first, set = +a_i).
inline Vec levels_of(const Vec &a, int n) {
  const int k = static_cast<int>(a.size());
  const double c = (std::ldexp(1.0, n) - 1.0) / 2.0;
  Vec l;
  for (int idx = 0; idx < (1 << k); ++idx) {
    double v = c;
    for (int i = 0; i < k; ++i) v += ((idx >> (k - 1 - i)) & 1) ? a[size_t(i)] : -a[size_t(i)];
    l.push_back(v);
  }
  return l;
}

inline double scale_ratio(int n, int e, int S, int t) {
  if (S <= 1) return 1.0 / (std::ldexp(1.0, n) - 1.0);
  const double lo = 1.0 / (std::ldexp(1.0, n + e) - 1.0);
  const double hi = 1.0 / (std::ldexp(1.0, n - e) - 1.0);
  return lo + (hi - lo) * t / (S - 1);
}

// ---- the quantizer -------------------------------------------------------------------------

struct Code {
  int n = 5, k = 3;
  Vec alphas, levels;
  double ratio = 0.0;
  double umax() const { return std::ldexp(1.0, n) - 1.0; }
};

inline Code make_code(int n, int k, int set, double ratio) {
  Code c;
  c.n = n;
  c.k = k;
  c.alphas = level_sets(n, k)[size_t(set)];
  c.levels = levels_of(c.alphas, n);
  c.ratio = ratio;
  return c;
}

struct Params {
  double s = 1.0, z = 0.0;
};

inline Params params_of(const Code &c, const Vec &x) {
  double xmin = 0.0, xmax = 0.0;
  for (double v : x) {
    xmin = std::min(xmin, v);
    xmax = std::max(xmax, v);
  }
  double range = xmax - xmin;
  if (range == 0.0) {
    xmin = -1.0;
    range = 2.0;
  }
  const double s0 = range / c.umax();
  Params p;
  p.z = std::nearbyint(xmin / s0) * s0;
  p.s = range * c.ratio;
  return p;
}

// Quantize twice; returns the dequantized value and the code.
inline double quantize(const Code &c, double x, const Params &p, int *code) {
  const double u = std::min(std::max(std::nearbyint((x - p.z) / p.s), 0.0), c.umax());
  int best = 0;
  for (int i = 1; i < int(c.levels.size()); ++i)
    if (std::fabs(u - c.levels[size_t(i)]) < std::fabs(u - c.levels[size_t(best)])) best = i;
  *code = best;
  return p.s * c.levels[size_t(best)] + p.z;
}

// ---- statistics ------------------------------------------------------------------------------

struct Stats {
  int64_t n = 0, tokens = 0;
  Vec xx, dx, xsum;  // raw sums
  explicit Stats(int64_t cols) : n(cols), xx(size_t(cols * cols)), dx(size_t(cols * cols)), xsum(size_t(cols)) {}
  void add(const float *xq, const float *xfp, int64_t t) {
    for (int64_t r = 0; r < t; ++r) {
      const float *q = xq + r * n;
      for (int64_t i = 0; i < n; ++i) {
        xsum[size_t(i)] += q[i];
        for (int64_t j = 0; j < n; ++j) xx[size_t(i * n + j)] += double(q[i]) * q[j];
        if (xfp) {
          const double d = double(xfp[r * n + i]) - q[i];
          for (int64_t j = 0; j < n; ++j) dx[size_t(i * n + j)] += d * q[j];
        }
      }
    }
    tokens += t;
  }
};

// ---- the search --------------------------------------------------------------------------------

enum Objective { OUTPUT = 0, HESSIAN = 1, WEIGHT = 2 };

struct SearchConfig {
  int n = 5, k = 3, e = 1, S = 20;
  int group_size = -1;
  int objective = OUTPUT;
};

struct Choice {
  int set = -1, t = -1;
  double value = 0.0;
};

// RTN of W (rows x cols, dead columns already zeroed) with every candidate; the smallest
// objective wins, ties keep the first. st may be null (no activations: weight MSE).
inline Choice search(const Vec &W, int64_t rows, int64_t cols, const SearchConfig &sc,
                     const Stats *st) {
  const int objective = (st && st->tokens > 0) ? sc.objective : WEIGHT;
  const int64_t gs = sc.group_size > 0 ? sc.group_size : cols;
  const int n_sets = int(level_sets(sc.n, sc.k).size());
  Choice best;
  best.value = std::numeric_limits<double>::infinity();
  for (int a = 0; a < n_sets; ++a)
    for (int t = 0; t < sc.S; ++t) {
      const Code c = make_code(sc.n, sc.k, a, scale_ratio(sc.n, sc.e, sc.S, t));
      Vec dW(static_cast<size_t>(rows * cols));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c0 = 0; c0 < cols; c0 += gs) {
          const int64_t c1 = std::min(cols, c0 + gs);
          Vec x(W.begin() + r * cols + c0, W.begin() + r * cols + c1);
          const Params p = params_of(c, x);
          for (int64_t j = c0; j < c1; ++j) {
            int code;
            dW[size_t(r * cols + j)] = W[size_t(r * cols + j)] - quantize(c, W[size_t(r * cols + j)], p, &code);
          }
        }
      double v = 0.0;
      if (objective == OUTPUT) {
        for (int64_t r = 0; r < rows; ++r) {
          double e = 0.0;
          for (int64_t j = 0; j < cols; ++j)
            e += dW[size_t(r * cols + j)] * st->xsum[size_t(j)] / double(st->tokens);
          v += e * e;
        }
        v /= double(rows);
      } else if (objective == HESSIAN) {
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t i = 0; i < cols; ++i) {
            double hi = 0.0;
            for (int64_t j = 0; j < cols; ++j) hi += st->xx[size_t(i * cols + j)] * dW[size_t(r * cols + j)];
            v += dW[size_t(r * cols + i)] * hi * 2.0 / double(st->tokens);
          }
      } else {
        for (double d : dW) v += d * d;
      }
      if (v < best.value) {
        best.value = v;
        best.set = a;
        best.t = t;
      }
    }
  return best;
}

// ---- the solve ---------------------------------------------------------------------------------

struct SolveConfig {
  SearchConfig search;
  int method = 1;  // 0 RTN, 1 GPTQ, 2 GPTAQ
  bool act_order = false;
  bool act_group_aware = false;  // GAR, as ref::group_aware_order (reference.h)
  bool static_groups = false;
  int block_size = 128;
  double damp_percent = 0.01;
  double alpha = 0.25;
};

struct Result {
  Choice choice;
  std::vector<int> codes;  // rows x cols
  Vec dequant;             // rows x cols
  Vec s, z;                // rows x n_groups
  double loss = 0.0;
  bool ok = false;
};

inline bool cholesky_lower(const Vec &A, int64_t n, Vec &L) {
  L.assign(size_t(n * n), 0.0);
  for (int64_t j = 0; j < n; ++j) {
    double s = A[size_t(j * n + j)];
    for (int64_t k = 0; k < j; ++k) s -= L[size_t(j * n + k)] * L[size_t(j * n + k)];
    if (!(s > 0.0)) return false;
    L[size_t(j * n + j)] = std::sqrt(s);
    for (int64_t i = j + 1; i < n; ++i) {
      double t = A[size_t(i * n + j)];
      for (int64_t k = 0; k < j; ++k) t -= L[size_t(i * n + k)] * L[size_t(j * n + k)];
      L[size_t(i * n + j)] = t / L[size_t(j * n + j)];
    }
  }
  return true;
}

// U upper with A^-1 = U^T U (U = transpose of the lower Cholesky factor of A^-1).
inline bool inverse_upper(const Vec &A, int64_t n, Vec &U) {
  Vec L;
  if (!cholesky_lower(A, n, L)) return false;
  Vec Li(static_cast<size_t>(n * n), 0.0);
  for (int64_t c = 0; c < n; ++c)
    for (int64_t i = c; i < n; ++i) {
      double s = (i == c) ? 1.0 : 0.0;
      for (int64_t k = c; k < i; ++k) s -= L[size_t(i * n + k)] * Li[size_t(k * n + c)];
      Li[size_t(i * n + c)] = s / L[size_t(i * n + i)];
    }
  Vec inv(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t k = std::max(i, j); k < n; ++k) s += Li[size_t(k * n + i)] * Li[size_t(k * n + j)];
      inv[size_t(i * n + j)] = s;
    }
  Vec L2;
  if (!cholesky_lower(inv, n, L2)) return false;
  U.assign(size_t(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i; j < n; ++j) U[size_t(i * n + j)] = L2[size_t(j * n + i)];
  return true;
}

inline Result solve(const float *weight, int64_t rows, int64_t n, const Stats *st,
                    const SolveConfig &cfg) {
  Result r;
  const bool rtn = cfg.method == 0;
  const int64_t g = cfg.search.group_size;
  const int64_t ng = g > 0 ? (n + g - 1) / g : 1;
  Vec W0(size_t(rows * n));
  for (size_t i = 0; i < W0.size(); ++i) W0[i] = weight[i];

  // §2: H, dead columns, act-order, damping, U, P.
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t(0));
  Vec U, P;
  bool has_p = false;
  if (!rtn) {
    Vec H(static_cast<size_t>(n * n)), D(static_cast<size_t>(n * n));
    for (size_t i = 0; i < H.size(); ++i) {
      H[i] = st->xx[i] * 2.0 / double(st->tokens);
      D[i] = st->dx[i] * 2.0 / double(st->tokens);
    }
    for (int64_t j = 0; j < n; ++j)
      if (H[size_t(j * n + j)] == 0.0) {
        H[size_t(j * n + j)] = 1.0;
        for (int64_t i = 0; i < rows; ++i) W0[size_t(i * n + j)] = 0.0;
        for (int64_t i = 0; i < n; ++i) D[size_t(i * n + j)] = 0.0;
      }
    if (cfg.act_order)
      std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) {
        return H[size_t(a * n + a)] > H[size_t(b * n + b)];
      });
    if (cfg.act_group_aware) {
      Vec diag(static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j) diag[size_t(j)] = H[size_t(j * n + j)];
      perm = ref::group_aware_order(diag, g);
    }
    Vec Hp(static_cast<size_t>(n * n)), Dp(static_cast<size_t>(n * n));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        Hp[size_t(i * n + j)] = H[size_t(perm[size_t(i)] * n + perm[size_t(j)])];
        Dp[size_t(i * n + j)] = D[size_t(perm[size_t(i)] * n + perm[size_t(j)])];
      }
    double mean = 0.0;
    for (int64_t j = 0; j < n; ++j) mean += Hp[size_t(j * n + j)];
    mean /= double(n);
    for (int64_t j = 0; j < n; ++j) Hp[size_t(j * n + j)] += cfg.damp_percent * mean;
    if (!inverse_upper(Hp, n, U)) return r;
    if (cfg.method == 2) {
      has_p = true;
      Vec T(static_cast<size_t>(n * n), 0.0);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = i + 1; j < n; ++j) {
          double s = 0.0;
          for (int64_t k = j; k < n; ++k) s += Dp[size_t(i * n + k)] * U[size_t(j * n + k)];
          T[size_t(i * n + j)] = s;
        }
      P.assign(size_t(n * n), 0.0);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double s = 0.0;
          for (int64_t k = i + 1; k <= j; ++k) s += T[size_t(i * n + k)] * U[size_t(k * n + j)];
          P[size_t(i * n + j)] = cfg.alpha * s;
        }
    }
  }

  // §5: the search, on the weight the sweep starts from.
  r.choice = search(W0, rows, n, cfg.search, st);
  const Code code = make_code(cfg.search.n, cfg.search.k, r.choice.set,
                              scale_ratio(cfg.search.n, cfg.search.e, cfg.search.S, r.choice.t));
  r.codes.assign(size_t(rows * n), 0);
  r.dequant.assign(size_t(rows * n), 0.0);
  r.s.assign(size_t(rows * ng), 0.0);
  r.z.assign(size_t(rows * ng), 0.0);
  auto group_params = [&](const Vec &M, int64_t i, int64_t c0, int64_t c1) {
    Vec x(M.begin() + i * n + c0, M.begin() + i * n + c1);
    return params_of(code, x);
  };
  std::vector<Params> fixed(static_cast<size_t>(rows * ng));
  if (rtn || g < 0 || cfg.static_groups)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t k = 0; k < ng; ++k) {
        const int64_t c0 = g < 0 ? 0 : k * g, c1 = g < 0 ? n : std::min(n, c0 + g);
        fixed[size_t(i * ng + k)] = group_params(W0, i, c0, c1);
        r.s[size_t(i * ng + k)] = fixed[size_t(i * ng + k)].s;
        r.z[size_t(i * ng + k)] = fixed[size_t(i * ng + k)].z;
      }
  const bool dynamic = !rtn && g > 0 && !cfg.static_groups;
  Vec W(static_cast<size_t>(rows * n));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < n; ++j) W[size_t(i * n + j)] = W0[size_t(i * n + perm[size_t(j)])];
  const int64_t B = cfg.block_size;
  std::vector<Params> cur(static_cast<size_t>(rows));
  Vec E(static_cast<size_t>(rows * B)), Q(static_cast<size_t>(rows * B)), e(static_cast<size_t>(rows)), wc(static_cast<size_t>(rows));
  for (int64_t i1 = 0; i1 < n; i1 += B) {
    const int64_t i2 = std::min(n, i1 + B);
    for (int64_t j = i1; j < i2; ++j) {
      const int64_t orig = perm[size_t(j)];
      int64_t grp = 0;
      if (dynamic) {
        grp = cfg.act_group_aware ? orig / g : j / g;  // GAR: a run of g is one group
        if (j % g == 0)
          for (int64_t i = 0; i < rows; ++i) {
            cur[size_t(i)] = group_params(W, i, j, std::min(n, j + g));
            r.s[size_t(i * ng + grp)] = cur[size_t(i)].s;
            r.z[size_t(i * ng + grp)] = cur[size_t(i)].z;
          }
      } else if (g > 0) {
        grp = orig / g;
      }
      const double d = rtn ? 1.0 : U[size_t(j * n + j)];
      for (int64_t i = 0; i < rows; ++i) {
        const Params &p = dynamic ? cur[size_t(i)] : fixed[size_t(i * ng + grp)];
        const double w = W[size_t(i * n + j)];
        int c;
        const double q = quantize(code, w, p, &c);
        r.codes[size_t(i * n + orig)] = c;
        r.dequant[size_t(i * n + orig)] = q;
        wc[size_t(i)] = w;
        if (rtn) {
          W[size_t(i * n + j)] = q;
          continue;
        }
        r.loss += (w - q) * (w - q) / (d * d) / 2.0;
        e[size_t(i)] = (w - q) / d;
        Q[size_t(i * B + (j - i1))] = q;
        E[size_t(i * B + (j - i1))] = e[size_t(i)];
      }
      if (rtn) continue;
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t k = j; k < i2; ++k) {
          double upd = e[size_t(i)] * U[size_t(j * n + k)];
          if (has_p) upd -= wc[size_t(i)] * P[size_t(j * n + k)];
          W[size_t(i * n + k)] -= upd;
        }
    }
    if (rtn) continue;
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t k = i2; k < n; ++k) {
        double upd = 0.0;
        for (int64_t j = i1; j < i2; ++j) {
          upd += E[size_t(i * B + (j - i1))] * U[size_t(j * n + k)];
          if (has_p) upd -= Q[size_t(i * B + (j - i1))] * P[size_t(j * n + k)];
        }
        W[size_t(i * n + k)] -= upd;
      }
  }
  r.ok = true;
  return r;
}

}  // namespace gptqt_ref

#endif  // GPTAQ_TESTS_GPTQT_REFERENCE_H
