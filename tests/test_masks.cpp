// Token masks (gptaq_add_batch_masked): padding tokens are left out of the statistics
// and of the token count, for every dtype and method; masked batches are exactly the
// batch of their unmasked tokens.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "gptaq/gptaq.h"
#include "hardening_util.h"

using hard::Ctx;

namespace {

// Keep only the rows of x (tokens x n) whose mask byte is non-zero.
std::vector<float> compact(const std::vector<float> &x, int64_t n, const std::vector<uint8_t> &m) {
  std::vector<float> out;
  for (size_t t = 0; t < m.size(); ++t)
    if (m[t]) out.insert(out.end(), x.begin() + int64_t(t) * n, x.begin() + int64_t(t + 1) * n);
  return out;
}

std::vector<uint16_t> to_half(const std::vector<float> &x, int32_t dt) {
  std::vector<uint16_t> h(x.size());
  if (!x.empty()) gptaq_f32_to_half(dt, x.data(), h.data(), int64_t(x.size()));
  return h;
}

// Add a batch given as fp32 values in dtype dt (converted first for f16/bf16).
int32_t add(gptaq_ctx *ctx, const std::vector<float> &xq, const std::vector<float> &xfp,
            int64_t tokens, int32_t dt, const uint8_t *mask) {
  if (dt == GPTAQ_DTYPE_F32)
    return gptaq_add_batch_masked(ctx, xq.data(), xfp.empty() ? nullptr : xfp.data(), tokens,
                                  dt, mask);
  std::vector<uint16_t> hq = to_half(xq, dt), hf = to_half(xfp, dt);
  return gptaq_add_batch_masked(ctx, hq.data(), xfp.empty() ? nullptr : hf.data(), tokens, dt,
                                mask);
}

std::vector<uint8_t> random_mask(int64_t tokens, uint64_t seed, int keep_percent) {
  hard::Rng r(seed);
  std::vector<uint8_t> m(static_cast<size_t>(tokens));
  for (auto &v : m) v = r.below(100) < keep_percent ? uint8_t(1 + r.below(255)) : 0;
  return m;
}

}  // namespace

TEST_CASE("masked batch == batch of only its unmasked tokens (all dtypes, all methods)") {
  const int64_t n = 40, rows = 10, T = 70;
  for (int32_t method : {GPTAQ_METHOD_RTN, GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ}) {
    for (int32_t dt : {GPTAQ_DTYPE_F32, GPTAQ_DTYPE_F16, GPTAQ_DTYPE_BF16}) {
      CAPTURE(method);
      CAPTURE(dt);
      const bool cross = method == GPTAQ_METHOD_GPTAQ;
      std::vector<float> xq = hard::activations(T, n, 100 + dt);
      std::vector<float> xfp;
      if (cross) xfp = hard::activations(T, n, 200 + dt);
      const std::vector<uint8_t> mask = random_mask(T, 300 + method * 3 + dt, 60);
      int64_t kept = 0;
      for (uint8_t v : mask) kept += v != 0;
      REQUIRE(kept > 0);
      REQUIRE(kept < T);
      gptaq_config cfg = hard::config(method);
      cfg.act_order = method != GPTAQ_METHOD_RTN;
      Ctx masked = hard::make(n, cfg), plain = hard::make(n, cfg);
      REQUIRE(add(masked.get(), xq, xfp, T, dt, mask.data()) == GPTAQ_OK);
      REQUIRE(add(plain.get(), compact(xq, n, mask), cross ? compact(xfp, n, mask) : xfp, kept,
                  dt, nullptr) == GPTAQ_OK);
      CHECK(gptaq_ctx_num_tokens(masked.get()) == kept);
      CHECK(hard::snapshot(masked.get()) == hard::snapshot(plain.get()));
      const std::vector<float> w = hard::weights(rows, n, 7);
      hard::Out a = hard::solve(masked.get(), w, rows), b = hard::solve(plain.get(), w, rows);
      REQUIRE(a.status == GPTAQ_OK);
      REQUIRE(b.status == GPTAQ_OK);
      CHECK(a.codes == b.codes);
      CHECK(a.scales == b.scales);
      CHECK(a.zeros == b.zeros);
      CHECK(a.g_idx == b.g_idx);
    }
  }
}

TEST_CASE("padding differs from real tokens: the mask really removes them") {
  const int64_t n = 16, T = 30;
  std::vector<float> xq = hard::activations(T, n, 5);
  std::vector<uint8_t> mask(size_t(T), 1);
  for (int64_t t = 20; t < T; ++t) {
    mask[size_t(t)] = 0;
    for (int64_t j = 0; j < n; ++j) xq[size_t(t * n + j)] = 1000.0f;  // loud padding
  }
  const gptaq_config cfg = hard::config(GPTAQ_METHOD_GPTQ);
  Ctx masked = hard::make(n, cfg), unmasked = hard::make(n, cfg), first = hard::make(n, cfg);
  REQUIRE(gptaq_add_batch_masked(masked.get(), xq.data(), nullptr, T, 0, mask.data()) == 0);
  REQUIRE(gptaq_add_batch_masked(unmasked.get(), xq.data(), nullptr, T, 0, nullptr) == 0);
  REQUIRE(gptaq_add_batch(first.get(), xq.data(), nullptr, 20, 0) == 0);
  CHECK(hard::snapshot(masked.get()) == hard::snapshot(first.get()));
  CHECK(hard::snapshot(masked.get()) != hard::snapshot(unmasked.get()));
  CHECK(gptaq_ctx_num_tokens(unmasked.get()) == T);
  CHECK(gptaq_ctx_num_tokens(masked.get()) == 20);
}

TEST_CASE("all-masked batch is a no-op that keeps the cached factorization") {
  const int64_t n = 24, rows = 6, T = 40;
  for (int32_t method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ}) {
    CAPTURE(method);
    const bool cross = method == GPTAQ_METHOD_GPTAQ;
    std::vector<float> xq = hard::activations(T, n, 9), xfp = hard::activations(T, n, 10);
    Ctx ctx = hard::make(n, hard::config(method));
    REQUIRE(gptaq_add_batch(ctx.get(), xq.data(), cross ? xfp.data() : nullptr, T, 0) == 0);
    const std::vector<float> w = hard::weights(rows, n, 11);
    hard::Out a = hard::solve(ctx.get(), w, rows);
    REQUIRE(a.status == GPTAQ_OK);
    const std::vector<uint8_t> before = hard::snapshot(ctx.get());
    const std::vector<uint8_t> none(size_t(T), 0);
    std::vector<float> other = hard::activations(T, n, 12);
    for (int32_t dt : {GPTAQ_DTYPE_F32, GPTAQ_DTYPE_F16, GPTAQ_DTYPE_BF16})
      CHECK(add(ctx.get(), other, cross ? other : std::vector<float>(), T, dt, none.data()) ==
            GPTAQ_OK);
    CHECK(gptaq_ctx_num_tokens(ctx.get()) == T);
    CHECK(hard::snapshot(ctx.get()) == before);
    hard::Out b = hard::solve(ctx.get(), w, rows);
    REQUIRE(b.status == GPTAQ_OK);
    CHECK(b.info.factor_reused == 1);
    CHECK(b.codes == a.codes);
  }
}

TEST_CASE("all-masked first batch leaves the context without data") {
  const int64_t n = 8, T = 5;
  std::vector<float> x = hard::activations(T, n, 1);
  const std::vector<uint8_t> none(size_t(T), 0);
  Ctx ctx = hard::make(n, hard::config(GPTAQ_METHOD_GPTQ));
  REQUIRE(gptaq_add_batch_masked(ctx.get(), x.data(), nullptr, T, 0, none.data()) == GPTAQ_OK);
  CHECK(gptaq_ctx_num_tokens(ctx.get()) == 0);
  const std::vector<float> w = hard::weights(2, n, 1);
  CHECK(hard::solve(ctx.get(), w, 2).status == GPTAQ_ERR_NO_DATA);
}

TEST_CASE("NULL mask and all-ones mask equal the unmasked call, and any non-zero byte counts") {
  const int64_t n = 20, T = 33;
  std::vector<float> x = hard::activations(T, n, 17);
  const gptaq_config cfg = hard::config(GPTAQ_METHOD_GPTQ);
  Ctx a = hard::make(n, cfg), b = hard::make(n, cfg), c = hard::make(n, cfg),
      d = hard::make(n, cfg);
  std::vector<uint8_t> ones(size_t(T), 1), odd(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) odd[size_t(t)] = uint8_t(1 + (t * 37) % 255);  // 1..255
  REQUIRE(gptaq_add_batch(a.get(), x.data(), nullptr, T, 0) == 0);
  REQUIRE(gptaq_add_batch_masked(b.get(), x.data(), nullptr, T, 0, nullptr) == 0);
  REQUIRE(gptaq_add_batch_masked(c.get(), x.data(), nullptr, T, 0, ones.data()) == 0);
  REQUIRE(gptaq_add_batch_masked(d.get(), x.data(), nullptr, T, 0, odd.data()) == 0);
  const std::vector<uint8_t> s = hard::snapshot(a.get());
  CHECK(hard::snapshot(b.get()) == s);
  CHECK(hard::snapshot(c.get()) == s);
  CHECK(hard::snapshot(d.get()) == s);
  CHECK(gptaq_ctx_num_tokens(d.get()) == T);
}

TEST_CASE("padded sequence batches == streaming each sequence's real tokens") {
  // Four sequences of lengths 9, 3, 12, 1 padded to 12, sent as one masked batch of 48
  // tokens, twice over (the second time in bf16), versus one unmasked batch per sequence.
  const int64_t n = 32, L = 12, rows = 8;
  const int64_t lens[4] = {9, 3, 12, 1};
  for (int32_t method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ}) {
    CAPTURE(method);
    const bool cross = method == GPTAQ_METHOD_GPTAQ;
    std::vector<float> xq = hard::activations(4 * L, n, 41), xfp = hard::activations(4 * L, n, 42);
    std::vector<uint8_t> mask(size_t(4 * L), 0);
    for (int s = 0; s < 4; ++s)
      for (int64_t t = 0; t < lens[s]; ++t) mask[size_t(s * L + t)] = 1;
    const gptaq_config cfg = hard::config(method, 3, -1);
    Ctx batched = hard::make(n, cfg), streamed = hard::make(n, cfg);
    for (int32_t dt : {GPTAQ_DTYPE_F32, GPTAQ_DTYPE_BF16}) {
      REQUIRE(add(batched.get(), xq, cross ? xfp : std::vector<float>(), 4 * L, dt,
                  mask.data()) == GPTAQ_OK);
      for (int s = 0; s < 4; ++s) {
        std::vector<float> q(xq.begin() + s * L * n, xq.begin() + (s * L + lens[s]) * n);
        std::vector<float> f;
        if (cross) f.assign(xfp.begin() + s * L * n, xfp.begin() + (s * L + lens[s]) * n);
        REQUIRE(add(streamed.get(), q, f, lens[s], dt, nullptr) == GPTAQ_OK);
      }
    }
    CHECK(gptaq_ctx_num_tokens(batched.get()) == 2 * 25);
    const std::vector<float> w = hard::weights(rows, n, 43);
    hard::Out a = hard::solve(batched.get(), w, rows), b = hard::solve(streamed.get(), w, rows);
    REQUIRE(a.status == GPTAQ_OK);
    REQUIRE(b.status == GPTAQ_OK);
    // Different batch splits: equal statistics to fp32 rounding, so compare closely.
    gptaq_stats_buffers ba, bb;
    ba.struct_size = bb.struct_size = sizeof ba;
    REQUIRE(gptaq_stats_buffers_get(batched.get(), &ba) == 0);
    REQUIRE(gptaq_stats_buffers_get(streamed.get(), &bb) == 0);
    double worst = 0.0;
    for (int64_t i = 0; i < n * n; ++i) {
      worst = std::max(worst, std::fabs(double(ba.xx[i]) - bb.xx[i]) / (1.0 + std::fabs(double(bb.xx[i]))));
      if (cross)
        worst = std::max(worst, std::fabs(double(ba.dx[i]) - bb.dx[i]) / (1.0 + std::fabs(double(bb.dx[i]))));
    }
    CHECK(worst < 1e-5);
    CHECK(*ba.tokens == *bb.tokens);
    size_t same = 0;
    for (size_t i = 0; i < a.codes.size(); ++i) same += a.codes[i] == b.codes[i];
    CHECK(double(same) / double(a.codes.size()) > 0.97);
  }
}

TEST_CASE("masked batches: errors leave the statistics unchanged") {
  const int64_t n = 12, T = 10;
  std::vector<float> x = hard::activations(T, n, 3);
  std::vector<uint8_t> mask(size_t(T), 1);
  mask[2] = 0;
  Ctx ctx = hard::make(n, hard::config(GPTAQ_METHOD_GPTAQ));
  REQUIRE(gptaq_add_batch_masked(ctx.get(), x.data(), x.data(), T, 0, mask.data()) == 0);
  const std::vector<uint8_t> before = hard::snapshot(ctx.get());
  std::vector<float> bad = x;
  bad[size_t(5 * n + 3)] = NAN;  // in a counted token
  CHECK(gptaq_add_batch_masked(ctx.get(), bad.data(), x.data(), T, 0, mask.data()) ==
        GPTAQ_ERR_NON_FINITE);
  CHECK(gptaq_add_batch_masked(ctx.get(), x.data(), bad.data(), T, 0, mask.data()) ==
        GPTAQ_ERR_NON_FINITE);
  CHECK(gptaq_add_batch_masked(ctx.get(), x.data(), nullptr, T, 0, mask.data()) ==
        GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(gptaq_add_batch_masked(ctx.get(), x.data(), x.data(), -1, 0, mask.data()) ==
        GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(gptaq_add_batch_masked(ctx.get(), x.data(), x.data(), T, 9, mask.data()) ==
        GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(gptaq_add_batch_masked(ctx.get(), x.data(), x.data(), int64_t(1) << 62, 0,
                               mask.data()) == GPTAQ_ERR_SHAPE);
  CHECK(hard::snapshot(ctx.get()) == before);
  CHECK(gptaq_ctx_num_tokens(ctx.get()) == T - 1);
  // tokens == 0 with NULL inputs and mask is a no-op.
  CHECK(gptaq_add_batch_masked(ctx.get(), nullptr, nullptr, 0, 0, nullptr) == GPTAQ_OK);
  CHECK(hard::snapshot(ctx.get()) == before);
}
