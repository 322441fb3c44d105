#include "quant/gptqt_search.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "config.h"
#include "error.h"
#include "parallel.h"

namespace gptaq {

int32_t binary_num_level_sets(int32_t n, int32_t k) {
  if (k < 0 || n < 0 || k > n) return 0;
  int64_t c = 1;
  for (int32_t i = 0; i < k; ++i) c = c * (n - i) / (i + 1);
  return static_cast<int32_t>(c);
}

void binary_level_set(int32_t n, int32_t k, int32_t index, float *alphas) {
  // Walk the k-subsets of {0..n-1} in lexicographic order; position p has weight
  // 2^(n-2-p), so position n-1 is 1/2.
  int pos[kBinaryMaxK];
  for (int i = 0; i < k; ++i) pos[i] = i;
  for (int32_t step = 0; step < index; ++step) {
    int i = k - 1;
    while (i >= 0 && pos[i] == n - k + i) --i;
    if (i < 0) fail(GPTAQ_ERR_INTERNAL, "level set %d is out of range for n=%d, k=%d", index, n, k);
    ++pos[i];
    for (int j = i + 1; j < k; ++j) pos[j] = pos[j - 1] + 1;
  }
  for (int i = 0; i < k; ++i) alphas[i] = std::ldexp(1.0f, n - 2 - pos[i]);
}

double binary_scale_ratio(int32_t n, int32_t e, int32_t S, int32_t t) {
  if (S <= 1) return 1.0 / (std::ldexp(1.0, n) - 1.0);
  const double lo = 1.0 / (std::ldexp(1.0, n + e) - 1.0);
  const double hi = 1.0 / (std::ldexp(1.0, n - e) - 1.0);
  return lo + (hi - lo) * static_cast<double>(t) / static_cast<double>(S - 1);
}

BinarySpec make_binary_spec(int32_t k, int32_t n, int32_t level_set, float ratio) {
  BinarySpec s;
  std::memset(&s, 0, sizeof s);
  if (k < 2 || k > kBinaryMaxK || n <= k || n > kBinaryMaxN)
    fail(GPTAQ_ERR_INTERNAL, "binary spec with k=%d, n=%d", k, n);
  s.k = k;
  s.n = n;
  s.umax = static_cast<float>((1 << n) - 1);
  s.ratio = ratio;
  s.n_levels = 1 << k;
  binary_level_set(n, k, level_set, s.alphas);
  const float c = s.umax / 2.0f;
  for (int idx = 0; idx < s.n_levels; ++idx) {
    float l = c;
    for (int i = 0; i < k; ++i) l += ((idx >> (k - 1 - i)) & 1) ? s.alphas[i] : -s.alphas[i];
    s.levels[idx] = l;
  }
  // Nearest level for every integer u; ties keep the lower level (levels ascend).
  for (int u = 0; u <= (1 << n) - 1; ++u) {
    int best = 0;
    float bestd = std::fabs(static_cast<float>(u) - s.levels[0]);
    for (int i = 1; i < s.n_levels; ++i) {
      const float d = std::fabs(static_cast<float>(u) - s.levels[i]);
      if (d < bestd) {
        bestd = d;
        best = i;
      }
    }
    s.snap[u] = static_cast<uint8_t>(best);
  }
  return s;
}

BinaryChoice gptqt_search(gptaq_ctx &ctx, const float *weight, int64_t m,
                          const std::vector<int64_t> *dead, bool use_stats) {
  const Config &cfg = ctx.cfg;
  Backend &be = *ctx.be;
  const int32_t k = cfg.bits, n = effective_hyper_bits(cfg);
  const int32_t e = cfg.explore_bits, S = cfg.explore_split;
  const int64_t cols = ctx.n;
  const int64_t gs = cfg.group_size > 0 ? cfg.group_size : cols;
  const int64_t G = (cols + gs - 1) / gs;
  const int32_t C = binary_num_level_sets(n, k);
  const int32_t nu = 1 << n;  // u takes 0 .. 2^n - 1
  const float umax = static_cast<float>(nu - 1);
  const int nt = parallel_threads(m, cfg.num_threads, 4);

  int32_t objective = cfg.objective;
  if (ctx.stats.tokens <= 0.0 || !use_stats) objective = GPTAQ_OBJECTIVE_WEIGHT;

  std::vector<BinarySpec> sets(static_cast<size_t>(C));
  for (int32_t a = 0; a < C; ++a) sets[a] = make_binary_spec(k, n, a, 0.0f);
  std::vector<float> ratios(static_cast<size_t>(S));
  for (int32_t t = 0; t < S; ++t) ratios[t] = static_cast<float>(binary_scale_ratio(n, e, S, t));
  // lvl[a][u]: the level u snaps to in set a.
  std::vector<double> lvl(static_cast<size_t>(C) * nu);
  for (int32_t a = 0; a < C; ++a)
    for (int32_t u = 0; u < nu; ++u) lvl[a * nu + u] = sets[a].levels[sets[a].snap[u]];

  std::vector<uint8_t> is_dead(static_cast<size_t>(cols), 0);
  if (dead)
    for (int64_t j : *dead) is_dead[static_cast<size_t>(j)] = 1;
  auto load_row = [&](int64_t r, float *dst) {
    const float *src = weight + r * cols;
    for (int64_t j = 0; j < cols; ++j) dst[j] = is_dead[j] ? 0.0f : src[j];
  };

  const size_t ncand = static_cast<size_t>(C) * static_cast<size_t>(S);
  std::vector<double> obj(ncand, 0.0);

  if (objective != GPTAQ_OBJECTIVE_HESSIAN) {
    const bool output = objective == GPTAQ_OBJECTIVE_OUTPUT;
    std::vector<double> xbar;
    if (output) {
      xbar.resize(static_cast<size_t>(cols));
      be.download(xbar.data(), ctx.stats.xsum, sizeof(double) * static_cast<size_t>(cols));
      for (double &x : xbar) x /= ctx.stats.tokens;
    }
    // Per-row objective contributions, reduced in row order afterwards so the result
    // does not depend on the thread count.
    std::vector<double> row_obj(static_cast<size_t>(m) * ncand);
    // Per-thread scratch, allocated here: parallel_for bodies must not throw.
    struct Scratch {
      std::vector<float> x;
      std::vector<double> h1, h2, acc;
    };
    std::vector<Scratch> scratch(static_cast<size_t>(nt));
    for (Scratch &sc : scratch) {
      sc.x.resize(static_cast<size_t>(cols));
      sc.h1.resize(static_cast<size_t>(nu));
      sc.h2.resize(static_cast<size_t>(nu));
      sc.acc.resize(static_cast<size_t>(C));
    }
    parallel_for(m, nt, [&](int tid, int64_t r0, int64_t r1) {
      std::vector<float> &x = scratch[static_cast<size_t>(tid)].x;
      std::vector<double> &h1 = scratch[static_cast<size_t>(tid)].h1;
      std::vector<double> &h2 = scratch[static_cast<size_t>(tid)].h2;
      std::vector<double> &acc = scratch[static_cast<size_t>(tid)].acc;
      for (int64_t r = r0; r < r1; ++r) {
        load_row(r, x.data());
        double wx = 0.0;
        if (output)
          for (int64_t j = 0; j < cols; ++j) wx += static_cast<double>(x[j]) * xbar[j];
        double *ro = row_obj.data() + static_cast<size_t>(r) * ncand;
        for (int32_t t = 0; t < S; ++t) {
          std::fill(acc.begin(), acc.end(), 0.0);
          for (int64_t gi = 0; gi < G; ++gi) {
            const int64_t c0 = gi * gs, c1 = std::min(cols, c0 + gs);
            float xmin, range, s, z;
            bq_range(x.data() + c0, c1 - c0, nullptr, 0, &xmin, &range);
            bq_params_from_range(umax, ratios[t], xmin, range, &s, &z);
            std::fill(h1.begin(), h1.end(), 0.0);
            std::fill(h2.begin(), h2.end(), 0.0);
            // output: h1[u] = sum xbar_j over the u bin, const = z * sum xbar_j
            // weight: h1[u] = sum (x_j - z), h2[u] = count, const = sum (x_j - z)^2
            double cst = 0.0;
            for (int64_t j = c0; j < c1; ++j) {
              const int u = bq_u(umax, x[j], s, z);
              if (output) {
                h1[u] += xbar[j];
                cst += xbar[j];
              } else {
                const double d = static_cast<double>(x[j]) - static_cast<double>(z);
                h1[u] += d;
                h2[u] += 1.0;
                cst += d * d;
              }
            }
            const double sd = s, zd = z;
            for (int32_t a = 0; a < C; ++a) {
              const double *L = lvl.data() + static_cast<size_t>(a) * nu;
              double v = 0.0;
              if (output) {
                for (int32_t u = 0; u < nu; ++u) v += L[u] * h1[u];
                acc[a] += sd * v + zd * cst;  // sum_j q_j xbar_j over the group
              } else {
                for (int32_t u = 0; u < nu; ++u) {
                  const double q = sd * L[u];
                  v += q * (q * h2[u] - 2.0 * h1[u]);
                }
                acc[a] += v + cst;  // sum_j (x_j - q_j)^2 over the group
              }
            }
          }
          for (int32_t a = 0; a < C; ++a) {
            const double v = output ? (wx - acc[a]) * (wx - acc[a]) : acc[a];
            ro[static_cast<size_t>(a) * S + t] = v;
          }
        }
      }
    });
    for (int64_t r = 0; r < m; ++r) {
      const double *ro = row_obj.data() + static_cast<size_t>(r) * ncand;
      for (size_t i = 0; i < ncand; ++i) obj[i] += ro[i];
    }
    if (output)
      for (double &v : obj) v /= static_cast<double>(m);
  } else {
    // trace(dW H dW^T) with H = (2/N) sum x x^T: one GEMM per candidate on the backend.
    const size_t wn = static_cast<size_t>(m) * static_cast<size_t>(cols);
    std::vector<float> xw(wn), dw(wn), t_host(wn);
    for (int64_t r = 0; r < m; ++r) load_row(r, xw.data() + static_cast<size_t>(r) * cols);
    // Per (row, group) range and xmin, shared by every candidate.
    std::vector<float> gmin(static_cast<size_t>(m * G)), grange(static_cast<size_t>(m * G));
    for (int64_t r = 0; r < m; ++r)
      for (int64_t gi = 0; gi < G; ++gi) {
        const int64_t c0 = gi * gs, c1 = std::min(cols, c0 + gs);
        bq_range(xw.data() + r * cols + c0, c1 - c0, nullptr, 0, &gmin[r * G + gi],
                 &grange[r * G + gi]);
      }
    DevBuf ddw(&be, sizeof(float) * wn), dt(&be, sizeof(float) * wn);
    const double norm = 2.0 / ctx.stats.tokens;
    for (int32_t a = 0; a < C; ++a) {
      BinarySpec spec = sets[a];
      for (int32_t t = 0; t < S; ++t) {
        spec.ratio = ratios[t];
        parallel_for(m, nt, [&](int, int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r)
            for (int64_t gi = 0; gi < G; ++gi) {
              const int64_t c0 = gi * gs, c1 = std::min(cols, c0 + gs);
              float s, z;
              bq_params_from_range(umax, spec.ratio, gmin[r * G + gi], grange[r * G + gi], &s,
                                   &z);
              for (int64_t j = c0; j < c1; ++j) {
                uint8_t code;
                const size_t i = static_cast<size_t>(r * cols + j);
                dw[i] = xw[i] - bq_quantize(spec, xw[i], s, z, &code);
              }
            }
        });
        be.upload(ddw.get(), dw.data(), sizeof(float) * wn);
        be.gemm(false, false, m, cols, cols, 1.0f, ddw.as<float>(), cols, ctx.stats.xx, cols,
                0.0f, dt.as<float>(), cols);
        be.download(t_host.data(), dt.get(), sizeof(float) * wn);
        double v = 0.0;
        for (size_t i = 0; i < wn; ++i) v += static_cast<double>(dw[i]) * t_host[i];
        obj[static_cast<size_t>(a) * S + t] = v * norm;
      }
    }
  }

  BinaryChoice ch;
  double best = std::numeric_limits<double>::infinity();
  for (int32_t a = 0; a < C; ++a)
    for (int32_t t = 0; t < S; ++t) {
      const double v = obj[static_cast<size_t>(a) * S + t];
      if (v < best) {
        best = v;
        ch.level_set = a;
        ch.scale_index = t;
      }
    }
  if (ch.level_set < 0)
    fail(GPTAQ_ERR_NON_FINITE,
         "the GPTQT search found no finite objective among %d candidates: the weight or "
         "the statistics are too large for fp32 products",
         static_cast<int>(ncand));
  ch.objective = objective;
  ch.value = best;
  ch.spec = make_binary_spec(k, n, ch.level_set, ratios[ch.scale_index]);
  return ch;
}

}  // namespace gptaq
