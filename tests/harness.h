// Helpers shared by the numerical tests: run the library through the public C API and
// compare its outputs with the float64 reference (tests/reference.h).
#ifndef GPTAQ_TESTS_HARNESS_H
#define GPTAQ_TESTS_HARNESS_H

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gptaq/gptaq.h"
#include "reference.h"

namespace harness {

// What one gptaq_solve gave back.
struct LibOut {
  int32_t status = GPTAQ_OK;
  std::string errmsg;
  int64_t n_groups = 0;
  std::vector<uint8_t> codes;
  std::vector<float> scales, zeros, dequant;
  std::vector<int32_t> g_idx;
  gptaq_solve_info info{};
};

// The library configuration equivalent to a reference configuration (CPU backend).
inline gptaq_config lib_config(const ref::SolveConfig &c) {
  gptaq_config cfg;
  gptaq_config_init(&cfg, sizeof cfg);
  cfg.method = c.method;
  cfg.bits = c.q.bits;
  cfg.group_size = c.group_size;
  cfg.sym = c.q.sym ? 1 : 0;
  cfg.act_order = c.act_order ? 1 : 0;
  cfg.act_group_aware = c.act_group_aware ? 1 : 0;
  cfg.static_groups = c.static_groups ? 1 : 0;
  cfg.mse = c.q.mse ? 1 : 0;
  cfg.block_size = c.block_size;
  cfg.backend = GPTAQ_BACKEND_CPU;
  cfg.damp_percent = float(c.damp_percent);
  cfg.damp_retries = c.damp_retries;
  cfg.alpha = float(c.alpha);
  cfg.mse_norm = float(c.q.norm);
  cfg.mse_grid = c.q.grid;
  cfg.mse_max_shrink = float(c.q.max_shrink);
  return cfg;
}

// Solve `weight` (rows x cols) on an existing context.
inline LibOut solve(gptaq_ctx *ctx, const std::vector<float> &weight, int64_t rows,
                    int64_t cols, int32_t group_size) {
  LibOut o;
  o.n_groups = gptaq_num_groups(cols, group_size);
  o.codes.assign(size_t(rows * cols), 0);
  o.dequant.assign(size_t(rows * cols), 0.0f);
  o.scales.assign(size_t(rows * o.n_groups), 0.0f);
  o.zeros.assign(size_t(rows * o.n_groups), 0.0f);
  o.g_idx.assign(size_t(cols), -1);
  o.info.struct_size = sizeof(gptaq_solve_info);
  o.status = gptaq_solve(ctx, weight.data(), rows, cols, o.codes.data(), o.scales.data(),
                         o.zeros.data(), o.g_idx.data(), o.dequant.data(), &o.info);
  if (o.status != GPTAQ_OK) o.errmsg = gptaq_ctx_errmsg(ctx);
  return o;
}

// Split [0, tokens) into uneven batches (sizes cycle through `pattern`).
inline std::vector<int64_t> uneven_splits(int64_t tokens, const std::vector<int64_t> &pattern) {
  std::vector<int64_t> sizes;
  int64_t done = 0;
  for (size_t i = 0; done < tokens; ++i) {
    const int64_t s = std::min(pattern[i % pattern.size()], tokens - done);
    sizes.push_back(s);
    done += s;
  }
  return sizes;
}

// Stream x_q (and x_fp when non-empty) into ctx in batches of the given sizes.
inline int32_t add_batches(gptaq_ctx *ctx, const std::vector<float> &xq,
                           const std::vector<float> &xfp, int64_t cols,
                           const std::vector<int64_t> &sizes) {
  int64_t off = 0;
  for (int64_t s : sizes) {
    const int32_t st = gptaq_add_batch(ctx, xq.data() + off * cols,
                                       xfp.empty() ? nullptr : xfp.data() + off * cols, s,
                                       GPTAQ_DTYPE_F32);
    if (st != GPTAQ_OK) return st;
    off += s;
  }
  return GPTAQ_OK;
}

// Fraction of equal codes.
inline double code_match(const std::vector<uint8_t> &a, const std::vector<uint8_t> &b) {
  size_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += (a[i] == b[i]);
  return a.empty() ? 1.0 : double(same) / double(a.size());
}
inline double code_match(const std::vector<uint8_t> &a, const std::vector<int> &b) {
  size_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += (int(a[i]) == b[i]);
  return a.empty() ? 1.0 : double(same) / double(a.size());
}

inline double rel_diff(double a, double b) {
  const double den = std::max(std::fabs(a), std::fabs(b));
  return den == 0.0 ? 0.0 : std::fabs(a - b) / den;
}

// Internal consistency of one library result: codes in range, zeros integer (sym: the
// fixed 2^(bits-1)), scales finite and positive, g_idx in range, and dequant equal to
// scale * (code - zero) up to fp32 rounding of that product. Returns the number of
// violations (0 = consistent); `what` names the first one.
inline int64_t consistency_violations(const LibOut &o, int64_t rows, int64_t cols, int bits,
                                      bool sym, std::string *what) {
  const int maxq = (1 << bits) - 1;
  int64_t bad = 0;
  auto note = [&](const std::string &s) {
    if (bad++ == 0 && what) *what = s;
  };
  const int64_t ng = o.n_groups;
  for (int64_t c = 0; c < cols; ++c)
    if (o.g_idx[size_t(c)] < 0 || o.g_idx[size_t(c)] >= ng) note("g_idx out of range");
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < ng; ++k) {
      const float s = o.scales[size_t(r * ng + k)], z = o.zeros[size_t(r * ng + k)];
      if (!(std::isfinite(s) && s > 0.0f)) note("scale not finite and positive");
      if (z != std::nearbyint(z) || z < 0.0f || z > float(maxq + 1))
        note("zero not an integer in range");
      if (sym && z != float((maxq + 1) / 2)) note("symmetric zero is not 2^(bits-1)");
    }
    for (int64_t c = 0; c < cols; ++c) {
      const int code = o.codes[size_t(r * cols + c)];
      if (code > maxq) note("code out of range");
      const int32_t gi = o.g_idx[size_t(c)];
      if (gi < 0 || gi >= ng) continue;
      const double s = o.scales[size_t(r * ng + gi)], z = o.zeros[size_t(r * ng + gi)];
      const double exact = s * (double(code) - z);  // exact in double
      const double got = o.dequant[size_t(r * cols + c)];
      // fp32 rounding of the product (and of nothing else): half an ulp, one ulp of slack.
      if (std::fabs(got - exact) > double(FLT_EPSILON) * std::fabs(exact))
        note("dequant != scale * (code - zero)");
    }
  }
  return bad;
}

}  // namespace harness

#endif  // GPTAQ_TESTS_HARNESS_H
