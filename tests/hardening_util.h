// Small helpers for the statistics-exchange, mask, thread and degenerate-input tests:
// deterministic data, RAII contexts, a solve wrapper and byte snapshots of statistics.
// Public API only.
#ifndef GPTAQ_TESTS_HARDENING_UTIL_H
#define GPTAQ_TESTS_HARDENING_UTIL_H

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "gptaq/gptaq.h"

namespace hard {

// splitmix64: bit-identical everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
  float sym() { return float(2.0 * uniform() - 1.0); }
  int64_t below(int64_t n) { return int64_t(next() % uint64_t(n)); }

 private:
  uint64_t s_;
};

// tokens x cols of correlated data (a random low-rank mix plus noise).
inline std::vector<float> activations(int64_t tokens, int64_t cols, uint64_t seed) {
  Rng r(seed);
  const int64_t rank = 6;
  std::vector<float> mix(size_t(rank * cols));
  for (auto &v : mix) v = r.sym();
  std::vector<float> x(size_t(tokens * cols));
  for (int64_t t = 0; t < tokens; ++t) {
    float z[rank];
    for (auto &v : z) v = r.sym();
    for (int64_t j = 0; j < cols; ++j) {
      float s = 0.3f * r.sym();
      for (int64_t k = 0; k < rank; ++k) s += z[k] * mix[size_t(k * cols + j)];
      x[size_t(t * cols + j)] = s;
    }
  }
  return x;
}

// Values on a dyadic grid (k / 8, |k| <= 16): every fp32 sum of their products over
// fewer than 2^16 tokens is exact, so statistics do not depend on summation order.
inline std::vector<float> dyadic(int64_t tokens, int64_t cols, uint64_t seed) {
  Rng r(seed);
  std::vector<float> x(size_t(tokens * cols));
  for (auto &v : x) v = float(r.below(33) - 16) / 8.0f;
  return x;
}

inline std::vector<float> weights(int64_t rows, int64_t cols, uint64_t seed) {
  Rng r(seed);
  std::vector<float> w(size_t(rows * cols));
  for (auto &v : w) v = 0.1f * r.sym();
  return w;
}

struct CtxDel {
  void operator()(gptaq_ctx *c) const { gptaq_ctx_free(c); }
};
using Ctx = std::unique_ptr<gptaq_ctx, CtxDel>;

inline gptaq_config config(int32_t method, int32_t bits = 4, int32_t group = 32) {
  gptaq_config c;
  gptaq_config_init(&c, sizeof c);
  c.method = method;
  c.bits = bits;
  c.group_size = group;
  c.backend = GPTAQ_BACKEND_CPU;
  return c;
}

inline Ctx make(int64_t cols, const gptaq_config &cfg) {
  gptaq_ctx *c = nullptr;
  if (gptaq_ctx_create(&c, cols, &cfg) != GPTAQ_OK) return Ctx();
  return Ctx(c);
}

struct Out {
  int32_t status = GPTAQ_OK;
  std::vector<uint8_t> codes;
  std::vector<float> scales, zeros, dequant;
  std::vector<int32_t> g_idx;
  gptaq_solve_info info{};
};

inline Out solve(gptaq_ctx *ctx, const std::vector<float> &w, int64_t rows) {
  const int64_t cols = gptaq_ctx_columns(ctx);
  gptaq_config cfg;
  cfg.struct_size = sizeof cfg;
  gptaq_ctx_get_config(ctx, &cfg);
  const int64_t G = gptaq_num_groups(cols, cfg.group_size);
  Out o;
  o.codes.assign(size_t(rows * cols), 0xEE);
  o.scales.assign(size_t(rows * G), 0.0f);
  o.zeros.assign(size_t(rows * G), 0.0f);
  o.dequant.assign(size_t(rows * cols), 0.0f);
  o.g_idx.assign(size_t(cols), -1);
  o.info.struct_size = sizeof o.info;
  o.status = gptaq_solve(ctx, w.data(), rows, cols, o.codes.data(), o.scales.data(),
                         o.zeros.data(), o.g_idx.data(), o.dequant.data(), &o.info);
  return o;
}

// The statistics of a context as bytes (the serialized format: header + payload).
inline std::vector<uint8_t> snapshot(gptaq_ctx *ctx) {
  int64_t size = 0;
  if (gptaq_stats_serialized_size(ctx, &size) != GPTAQ_OK) return {};
  std::vector<uint8_t> b(static_cast<size_t>(size));
  int64_t written = 0;
  if (gptaq_stats_serialize(ctx, b.data(), size, &written) != GPTAQ_OK) return {};
  return b;
}

inline bool all_finite(const std::vector<float> &v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

// A unique scratch file path under the system temp directory.
inline std::string temp_path(const std::string &name) {
  const char *dir = std::getenv("TMPDIR");
  std::string d = dir && *dir ? dir : "/tmp";
  static int counter = 0;
  return d + "/gptaq_test_" + std::to_string(long(getpid())) +
         "_" + std::to_string(++counter) + "_" + name;
}

inline std::vector<uint8_t> read_file(const std::string &path) {
  std::vector<uint8_t> b;
  std::FILE *f = std::fopen(path.c_str(), "rb");
  if (!f) return b;
  unsigned char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) b.insert(b.end(), buf, buf + n);
  std::fclose(f);
  return b;
}

inline bool write_file(const std::string &path, const std::vector<uint8_t> &b) {
  std::FILE *f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  bool ok = b.empty() || std::fwrite(b.data(), 1, b.size(), f) == b.size();
  return (std::fclose(f) == 0) && ok;
}

}  // namespace hard

#endif
