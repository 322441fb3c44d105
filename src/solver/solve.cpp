#include "solver/solve.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "error.h"
#include "parallel.h"
#include "progress.h"
#include "quant/gptqt_search.h"

namespace gptaq {
namespace {

int64_t groups_of(int64_t cols, int32_t g) { return g > 0 ? (cols + g - 1) / g : 1; }

// Group-aware reordering (ALGORITHMS.md "Group-aware reordering"): inside each full group
// of g columns its columns by diag descending; the full groups by their largest diag,
// descending; a partial last group (n % g columns) last, in its original order. All sorts
// stable. perm[position] = original column; each run of g positions is one original group.
std::vector<int64_t> group_aware_perm(const std::vector<float> &diag, int64_t n, int32_t g) {
  const int64_t full = n / g;
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  std::vector<float> top(static_cast<size_t>(full));
  for (int64_t k = 0; k < full; ++k) {
    auto first = perm.begin() + k * g, last = first + g;
    std::stable_sort(first, last, [&](int64_t a, int64_t b) { return diag[a] > diag[b]; });
    top[k] = diag[*first];
  }
  std::vector<int64_t> order(static_cast<size_t>(full));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return top[a] > top[b]; });
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t k : order) out.insert(out.end(), perm.begin() + k * g, perm.begin() + (k + 1) * g);
  for (int64_t j = full * g; j < n; ++j) out.push_back(j);
  return out;
}

QuantSpec make_spec(const Config &c) {
  QuantSpec s{};
  s.kind = c.quantizer == GPTAQ_QUANTIZER_BINARY ? QUANT_BINARY : QUANT_UNIFORM;
  s.uniform.bits = c.bits;
  s.uniform.maxq = static_cast<float>((1 << c.bits) - 1);
  s.uniform.sym = c.sym;
  s.uniform.mse = c.mse;
  s.uniform.mse_norm = c.mse_norm;
  s.uniform.mse_grid = c.mse_grid;
  s.uniform.mse_max_shrink = c.mse_max_shrink;
  return s;
}

// §2: dead columns, act-order or group-aware reordering, damping with bounded x10
// retries, U, and GPTAQ's P.
// diag: the diagonal of the statistics' xx (the raw sums), already checked finite.
// Returns the factor without caching it: the solve caches it once it has succeeded, so a
// cancelled or failed solve leaves the context's cache as it was.
Factor factorize(gptaq_ctx &ctx, std::vector<float> diag) {
  Backend &be = *ctx.be;
  const Config &c = ctx.cfg;
  const int64_t n = ctx.n;
  const size_t mat = sizeof(float) * static_cast<size_t>(n) * static_cast<size_t>(n);
  if (ctx.stats.tokens <= 0.0)
    fail(GPTAQ_ERR_NO_DATA, "no calibration tokens: call gptaq_add_batch before gptaq_solve");
  Progress prog(ctx, GPTAQ_PHASE_FACTORIZATION, n);
  prog.start();
  Factor f;
  const float norm = static_cast<float>(2.0 / ctx.stats.tokens);

  // H = (2/N) sum x x^T; dead columns get H[j][j] = 1.
  for (int64_t j = 0; j < n; ++j)
    if (diag[j] == 0.0f) f.dead.push_back(j);
  for (int64_t j = 0; j < n; ++j) diag[j] = diag[j] == 0.0f ? 1.0f : diag[j] * norm;

  if (c.act_group_aware) {
    f.perm = group_aware_perm(diag, n, c.group_size);
  } else {
    f.perm.resize(static_cast<size_t>(n));
    std::iota(f.perm.begin(), f.perm.end(), int64_t{0});
    if (c.act_order)
      std::stable_sort(f.perm.begin(), f.perm.end(),
                       [&](int64_t a, int64_t b) { return diag[a] > diag[b]; });
  }
  const bool permuted = c.act_order || c.act_group_aware;

  double mean_diag = 0.0;
  for (float d : diag) mean_diag += d;
  mean_diag /= static_cast<double>(n);

  // H is rebuilt from the statistics for every attempt: a retry costs O(n^2) and no
  // undamped copy is kept, so a solve holds at most U and P beside the statistics.
  // Permuted, the matrices are gathered straight from the statistics and scaled in place,
  // so the dead columns are addressed by their permuted positions.
  std::vector<int64_t> dead_at = f.dead;
  if (permuted) {
    std::vector<int64_t> pos(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) pos[f.perm[k]] = k;
    for (int64_t &j : dead_at) j = pos[j];
  }
  const int64_t n_dead = static_cast<int64_t>(dead_at.size());
  auto from_stats = [&](float *out, const float *stat) {
    if (permuted) {
      be.permute_sym(out, stat, n, f.perm.data());
      be.scale_copy(out, out, n * n, norm);
    } else {
      be.scale_copy(out, stat, n * n, norm);
    }
  };
  auto build_h = [&](float *h) {
    from_stats(h, ctx.stats.xx);
    be.set_diag_at(h, n, dead_at.data(), n_dead, 1.0f);
  };
  // GPTAQ allocates U and P together: P's half lends the factorization the room for its
  // float64 matrix, so a GPTAQ solve peaks at the statistics plus U and P (4 n^2).
  const bool cross = ctx.wants_cross();
  f.mem = DevBuf(&be, cross ? 2 * mat : mat);
  f.u = f.mem.as<float>();
  float *spare = cross ? f.u + n * n : nullptr;
  bool ok = false;
  float damp = c.damp_percent;
  for (int32_t attempt = 0; attempt <= c.damp_retries; ++attempt) {
    build_h(f.u);
    be.add_diag(f.u, n, n, static_cast<float>(damp * mean_diag));
    if (be.inverse_upper_factor(f.u, n, spare)) {
      ok = true;
      f.retries = attempt;
      break;
    }
    if (attempt < c.damp_retries) {
      log_msg(ctx, GPTAQ_LOG_WARN,
              "the damped Hessian (%lld columns) is not positive definite with relative "
              "damping %g; retrying with %g (retry %d of %d)",
              static_cast<long long>(n), static_cast<double>(damp), static_cast<double>(damp) * 10.0,
              attempt + 1, c.damp_retries);
      damp *= 10.0f;
    }
  }
  if (!ok)
    fail(GPTAQ_ERR_NOT_POSITIVE_DEFINITE,
         "the Hessian (%lld columns) is not positive definite even with relative damping %g "
         "after %d retries; more calibration tokens or a larger damp_percent may help",
         static_cast<long long>(n), static_cast<double>(damp), c.damp_retries);
  f.damp_used = damp;
  if (f.retries > 0)
    log_msg(ctx, GPTAQ_LOG_WARN,
            "the factorization needed %d damping retries: relative damping %g instead of %g",
            f.retries, static_cast<double>(damp), static_cast<double>(c.damp_percent));

  if (cross) {
    // P = alpha * triu_strict(dXXT U^T) U with dXXT[:, dead] = 0, permuted like H.
    f.p = spare;
    from_stats(f.p, ctx.stats.dx);
    be.zero_cols(f.p, n, n, dead_at.data(), n_dead);
    be.asym_term(f.p, f.u, n, c.alpha);
  }
  f.valid = true;
  prog.finish();
  log_msg(ctx, GPTAQ_LOG_DEBUG, "factorization: %lld columns (%lld dead) in %.3f s",
          static_cast<long long>(n), static_cast<long long>(n_dead), prog.seconds());
  return f;
}

}  // namespace

void invalidate_factor(gptaq_ctx &ctx) { ctx.factor = Factor(); }

void solve(gptaq_ctx &ctx, const float *weight, int64_t rows, SolveOutputs &out) {
  Backend &be = *ctx.be;
  const Config &c = ctx.cfg;
  const int64_t n = ctx.n, m = rows;
  // The failsafe: fewer calibration tokens than config.failsafe_tokens (none included)
  // make this solve round-to-nearest, exactly what method RTN gives; for the binary
  // quantizer the code is then chosen by weight MSE, as with no statistics at all.
  const bool failsafe = c.failsafe_tokens > 0 && ctx.stats.tokens < c.failsafe_tokens;
  out.failsafe_used = failsafe;
  if (failsafe)
    log_msg(ctx, GPTAQ_LOG_WARN,
            "failsafe: %.0f calibration tokens < failsafe_tokens %d: quantizing by "
            "round-to-nearest",
            ctx.stats.tokens, c.failsafe_tokens);
  const bool rtn = c.method == GPTAQ_METHOD_RTN || failsafe;
  const int32_t g = c.group_size;  // -1: one group per row
  const int64_t G = groups_of(n, g);
  QuantSpec spec = make_spec(c);
  be.stats_finish(ctx.stats, n);  // factorize and GPTQT's Hessian objective read xx
  const bool reads_stats = !rtn || (spec.kind == QUANT_BINARY && !failsafe);
  std::vector<float> diag;
  if (ctx.stats.tokens > 0.0 && reads_stats) {
    // Finite inputs can still overflow the fp32 sums (|x| from about 1e19 up). Every
    // entry of H is bounded by its diagonal (Cauchy-Schwarz), so the diagonal tells.
    diag.resize(static_cast<size_t>(n));
    be.get_diag(ctx.stats.xx, n, n, diag.data());
    for (int64_t j = 0; j < n; ++j)
      if (!std::isfinite(diag[static_cast<size_t>(j)]))
        fail(GPTAQ_ERR_NON_FINITE,
             "the statistics overflowed fp32 (the sum of squares of input column %lld is "
             "not finite): the calibration inputs are too large; scale them down, "
             "gptaq_ctx_reset and add the batches again",
             static_cast<long long>(j));
  }

  out.factor_reused = false;
  Factor fresh;  // cached on the context only when the whole solve succeeds
  if (!rtn) {
    if (ctx.factor.valid) {
      out.factor_reused = true;
      log_msg(ctx, GPTAQ_LOG_INFO,
              "reusing the cached factorization (%lld columns, relative damping %g)",
              static_cast<long long>(n), static_cast<double>(ctx.factor.damp_used));
    } else {
      fresh = factorize(ctx, std::move(diag));
    }
  }
  const Factor &f = fresh.valid ? fresh : ctx.factor;
  // The sweep's units are columns; GPTQT's search counts as one more pass over them.
  const int64_t search_units = spec.kind == QUANT_BINARY ? n : 0;
  Progress sweep_prog(ctx, GPTAQ_PHASE_SWEEP, search_units + n);
  sweep_prog.start();
  if (spec.kind == QUANT_BINARY) {
    // GPTQT: choose the level set and scale candidate once per layer, before the sweep.
    const BinaryChoice ch = gptqt_search(ctx, weight, m, rtn ? nullptr : &f.dead, !failsafe);
    sweep_prog.step(search_units);
    spec.binary = ch.spec;
    out.binary = ch.spec;
    out.level_set = ch.level_set;
    out.scale_index = ch.scale_index;
  }
  const bool gar = !rtn && c.act_group_aware;
  const bool permuted = !rtn && (c.act_order || c.act_group_aware);
  const bool static_groups = g > 0 && c.static_groups;

  // Working weight in backend memory; dead columns zeroed.
  const size_t wbytes = sizeof(float) * static_cast<size_t>(m) * static_cast<size_t>(n);
  DevBuf w(&be, wbytes);
  be.upload(w.get(), weight, wbytes);
  if (!rtn && !f.dead.empty())
    be.zero_cols(w.as<float>(), m, n, f.dead.data(), static_cast<int64_t>(f.dead.size()));

  DevBuf params(&be, sizeof(float) * static_cast<size_t>(m * G * 2));
  // Static groups: from the original (unpermuted, not yet updated) weight. Per-row
  // params likewise come from the whole weight before the sweep.
  if (static_groups || g < 0) be.find_params(spec, w.as<float>(), m, n, n, g, params.as<float>(), G);
  if (permuted) be.permute_cols(w.as<float>(), w.as<float>(), m, n, f.perm.data());

  // Group of each permuted position: the original group with static groups, else the
  // run of g positions (with GAR each run is one original group: its params are moved
  // to that group's index after the sweep).
  std::vector<int32_t> group_of(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    const int64_t orig = permuted ? f.perm[j] : j;
    group_of[j] = g < 0 ? 0 : static_cast<int32_t>((static_groups ? orig : j) / g);
  }
  DevBuf group_dev(&be, sizeof(int32_t) * static_cast<size_t>(n));
  be.upload(group_dev.get(), group_of.data(), sizeof(int32_t) * static_cast<size_t>(n));

  const int64_t B = std::min<int64_t>(c.block_size, n);
  DevBuf codes(&be, static_cast<size_t>(m * n));
  DevBuf err(&be, sizeof(float) * static_cast<size_t>(m * B));
  // Two levels of lazy updates (ALGORITHMS.md §3 is the one-level special case, and the
  // sums are the same): after each block only the columns of its super-block of S
  // columns are updated; the columns after the super-block get one product with K = S
  // from the super-block's E (and, for GPTAQ, its Q: the super-block's own, finished
  // columns of W), which BLAS runs closer to its peak than K = B slices. S is up to 4
  // blocks, and keeps the copy of E within one column^2.
  // A group whose parameters are found from current values must not straddle a
  // super-block (its columns after the super-block would miss updates), so S is a
  // multiple of lcm(B, group size); where that is too large, one level it is.
  const bool dynamic = g > 0 && !static_groups;
  int64_t S = B;
  if (!rtn) {
    const int64_t cap = std::min<int64_t>(4 * B, (n * n) / std::max<int64_t>(1, m));
    const int64_t unit = dynamic ? std::lcm<int64_t>(B, g) : B;
    if (unit <= cap) S = std::min<int64_t>(cap / unit * unit, n);
  }
  const bool two_level = S > B && S < n;
  DevBuf es;
  if (two_level) es = DevBuf(&be, sizeof(float) * static_cast<size_t>(m * S));
  const float *u = rtn ? nullptr : f.u;
  const float *p = rtn ? nullptr : f.p;
  double loss = 0.0;
  SweepBlock sb;
  sb.w = w.as<float>();
  sb.rows = m;
  sb.cols = n;
  sb.ldw = n;
  sb.u = u;
  sb.p = p;
  sb.err = err.as<float>();
  sb.codes = codes.as<uint8_t>();
  sb.params = params.as<float>();
  sb.n_groups = G;
  sb.group_size = g;
  sb.dynamic = dynamic;
  sb.group_of = group_dev.as<int32_t>();
  sb.feedback = rtn ? 0 : 1;
  sb.loss = &loss;
  for (int64_t s1 = 0; s1 < n; s1 += S) {
    const int64_t s2 = std::min(n, s1 + S), sw = s2 - s1;
    const bool stage = two_level && s2 < n;  // E (and Q) kept for the product after s2
    for (int64_t i1 = s1; i1 < s2; i1 += B) {
      const int64_t i2 = std::min(s2, i1 + B), bw = i2 - i1;
      sb.i1 = i1;
      sb.i2 = i2;
      be.sweep_block(spec, sb);
      sweep_prog.step(search_units + i2);
      if (rtn) continue;
      // W[:, i2:end] -= E U[i1:i2, i2:end]  -  Q1 P[i1:i2, i2:end], end = s2 (two levels)
      const int64_t end = two_level ? s2 : n;
      if (i2 < end) {
        be.gemm(false, false, m, end - i2, bw, -1.0f, err.as<float>(), bw, u + i1 * n + i2, n,
                1.0f, w.as<float>() + i2, n);
        if (p)  // Q1 is the block's own columns of W (disjoint from the columns updated)
          be.gemm(false, false, m, end - i2, bw, 1.0f, w.as<float>() + i1, n, p + i1 * n + i2,
                  n, 1.0f, w.as<float>() + i2, n);
      }
      if (stage)
        be.copy2d(es.as<float>() + (i1 - s1), sizeof(float) * S, err.get(), sizeof(float) * bw,
                  sizeof(float) * bw, m);
    }
    if (stage) {
      be.gemm(false, false, m, n - s2, sw, -1.0f, es.as<float>(), S, u + s1 * n + s2, n, 1.0f,
              w.as<float>() + s2, n);
      if (p)
        be.gemm(false, false, m, n - s2, sw, 1.0f, w.as<float>() + s1, n, p + s1 * n + s2, n,
                1.0f, w.as<float>() + s2, n);
    }
  }
  // Hostile inputs (e.g. a huge GPTAQ alpha, or weights near the fp32 limit) can make
  // the error propagation overflow; the loss sums every column's error, so a non-finite
  // loss is the cheap sentinel. Refuse rather than return NaN/Inf-derived outputs.
  if (!std::isfinite(loss))
    fail(GPTAQ_ERR_NON_FINITE,
         "the solve diverged: the propagated error is not finite (alpha = %g; a smaller "
         "GPTAQ alpha, more damping or a finite, moderate weight may help)",
         static_cast<double>(c.alpha));
  out.loss = loss;
  sweep_prog.finish();
  log_msg(ctx, GPTAQ_LOG_DEBUG, "sweep: %lld x %lld weight, block %lld, in %.3f s",
          static_cast<long long>(m), static_cast<long long>(n), static_cast<long long>(B),
          sweep_prog.seconds());
  Progress pack_prog(ctx, GPTAQ_PHASE_PACKING, m);
  pack_prog.start();

  // Back to host, undoing the permutation.
  std::vector<uint8_t> hc;
  std::vector<float> hw;
  const uint8_t *cp;
  const float *wp;
  if (be.kind() == GPTAQ_BACKEND_CPU) {
    cp = codes.as<uint8_t>();
    wp = w.as<float>();
  } else {
    hc.resize(static_cast<size_t>(m * n));
    be.download(hc.data(), codes.get(), static_cast<size_t>(m * n));
    cp = hc.data();
    wp = nullptr;
    if (out.dequant) {
      hw.resize(static_cast<size_t>(m * n));
      be.download(hw.data(), w.get(), wbytes);
      wp = hw.data();
    }
  }
  be.download(out.params, params.get(), sizeof(float) * static_cast<size_t>(m * G * 2));
  if (gar && dynamic) {
    // Position group k quantized original group perm[k g] / g: store it there.
    std::vector<float> row(static_cast<size_t>(G * 2));
    for (int64_t r = 0; r < m; ++r) {
      float *pr = out.params + r * G * 2;
      std::copy(pr, pr + G * 2, row.begin());
      for (int64_t k = 0; k < G; ++k) {
        const int64_t og = f.perm[k * g] / g;
        pr[og * 2] = row[k * 2];
        pr[og * 2 + 1] = row[k * 2 + 1];
      }
    }
  }
  if (permuted) {
    parallel_for(m, parallel_threads(m, c.num_threads), [&](int, int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t j = 0; j < n; ++j) out.codes[r * n + f.perm[j]] = cp[r * n + j];
        if (out.dequant)
          for (int64_t j = 0; j < n; ++j) out.dequant[r * n + f.perm[j]] = wp[r * n + j];
      }
    });
  } else {
    std::memcpy(out.codes, cp, static_cast<size_t>(m * n));
    if (out.dequant) std::memcpy(out.dequant, wp, wbytes);
  }
  if (out.g_idx) {
    if (gar)  // groups stay contiguous: the trivial c / g
      for (int64_t j = 0; j < n; ++j) out.g_idx[j] = static_cast<int32_t>(j / g);
    else
      for (int64_t j = 0; j < n; ++j) out.g_idx[permuted ? f.perm[j] : j] = group_of[j];
  }
  pack_prog.finish();
  if (fresh.valid) ctx.factor = std::move(fresh);
}

}  // namespace gptaq
