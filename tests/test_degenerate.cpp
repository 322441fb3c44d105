// Hostile numerics and shapes: rank-deficient and near-singular Hessians go through the
// damping escalation and either solve (finite outputs) or report
// GPTAQ_ERR_NOT_POSITIVE_DEFINITE, never NaN; sizes that would overflow are refused
// before anything is allocated.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gptaq/gptaq.h"
#include "hardening_util.h"

using hard::Ctx;

namespace {

// Solve and check the outcome is one of the two allowed ones, with sane outputs; with
// overflow_ok also GPTAQ_ERR_NON_FINITE for statistics whose fp32 sums overflowed.
// Returns the status.
int32_t solve_sane(gptaq_ctx *ctx, const std::vector<float> &w, int64_t rows, int32_t bits,
                   hard::Out *out = nullptr, bool overflow_ok = false) {
  hard::Out o = hard::solve(ctx, w, rows);
  CHECK_MESSAGE((o.status == GPTAQ_OK || o.status == GPTAQ_ERR_NOT_POSITIVE_DEFINITE ||
                 (overflow_ok && o.status == GPTAQ_ERR_NON_FINITE)),
                gptaq_ctx_errmsg(ctx));
  if (o.status == GPTAQ_OK) {
    CHECK(hard::all_finite(o.dequant));
    CHECK(hard::all_finite(o.scales));
    CHECK(hard::all_finite(o.zeros));
    CHECK(std::isfinite(o.info.loss));
    const int maxq = (1 << bits) - 1;
    bool in_range = true;
    for (uint8_t c : o.codes) in_range &= c <= maxq;
    CHECK(in_range);
  } else {
    const char *want = o.status == GPTAQ_ERR_NON_FINITE ? "overflowed fp32" : "positive definite";
    CHECK(std::string(gptaq_ctx_errmsg(ctx)).find(want) != std::string::npos);
  }
  if (out) *out = o;
  return o.status;
}

const int32_t kMethods[2] = {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ};

}  // namespace

TEST_CASE("fewer tokens than columns: damping makes the Hessian solvable") {
  const int64_t n = 96, rows = 16;
  for (int32_t method : kMethods)
    for (int64_t T : {int64_t(1), int64_t(3), int64_t(40)}) {
      CAPTURE(method);
      CAPTURE(T);
      const bool cross = method == GPTAQ_METHOD_GPTAQ;
      gptaq_config cfg = hard::config(method, 4, 32);
      cfg.act_order = 1;
      Ctx ctx = hard::make(n, cfg);
      std::vector<float> x = hard::activations(T, n, 5 + T), xf = hard::activations(T, n, 6 + T);
      REQUIRE(gptaq_add_batch(ctx.get(), x.data(), cross ? xf.data() : nullptr, T, 0) == 0);
      hard::Out o;
      CHECK(solve_sane(ctx.get(), hard::weights(rows, n, 7), rows, 4, &o) == GPTAQ_OK);
    }
}

TEST_CASE("duplicated and scaled-duplicate channels") {
  const int64_t n = 64, rows = 8, T = 200;
  for (int32_t method : kMethods) {
    CAPTURE(method);
    const bool cross = method == GPTAQ_METHOD_GPTAQ;
    std::vector<float> x = hard::activations(T, n, 11), xf = hard::activations(T, n, 12);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 32; j < n; ++j) {
        x[size_t(t * n + j)] = x[size_t(t * n + j - 32)] * (j % 2 ? 1.0f : -2.0f);
        xf[size_t(t * n + j)] = x[size_t(t * n + j)];
      }
    Ctx ctx = hard::make(n, hard::config(method, 3, -1));
    REQUIRE(gptaq_add_batch(ctx.get(), x.data(), cross ? xf.data() : nullptr, T, 0) == 0);
    CHECK(solve_sane(ctx.get(), hard::weights(rows, n, 13), rows, 3) == GPTAQ_OK);
  }
}

TEST_CASE("all-zero batches: every column dead, still a finite result") {
  const int64_t n = 32, rows = 5, T = 16;
  for (int32_t method : kMethods) {
    CAPTURE(method);
    const bool cross = method == GPTAQ_METHOD_GPTAQ;
    std::vector<float> zero(size_t(T * n), 0.0f), xf = hard::activations(T, n, 3);
    Ctx ctx = hard::make(n, hard::config(method, 4, 16));
    REQUIRE(gptaq_add_batch(ctx.get(), zero.data(), cross ? xf.data() : nullptr, T, 0) == 0);
    REQUIRE(gptaq_add_batch(ctx.get(), zero.data(), cross ? zero.data() : nullptr, T, 0) == 0);
    CHECK(gptaq_ctx_num_tokens(ctx.get()) == 2 * T);
    hard::Out o;
    REQUIRE(solve_sane(ctx.get(), hard::weights(rows, n, 4), rows, 4, &o) == GPTAQ_OK);
    // Dead columns are zeroed in W (ALGORITHMS.md 2.1): everything dequantizes to 0.
    for (float v : o.dequant) CHECK(v == 0.0f);
  }
}

TEST_CASE("tiny damping without retries: either a solution or NOT_POSITIVE_DEFINITE") {
  const int64_t n = 48, rows = 6;
  int solved = 0, refused = 0;
  for (int32_t method : kMethods)
    for (int64_t T : {int64_t(2), int64_t(10), int64_t(47), int64_t(300)})
      for (int retries : {0, 1, 8}) {
        CAPTURE(method);
        CAPTURE(T);
        CAPTURE(retries);
        const bool cross = method == GPTAQ_METHOD_GPTAQ;
        gptaq_config cfg = hard::config(method, 4, 16);
        cfg.damp_percent = 1e-9f;
        cfg.damp_retries = retries;
        Ctx ctx = hard::make(n, cfg);
        REQUIRE(ctx);
        std::vector<float> x = hard::activations(T, n, 21 + T), xf = hard::activations(T, n, 22);
        // Exactly collinear channels make H singular whatever T is.
        for (int64_t t = 0; t < T; ++t) x[size_t(t * n + 1)] = x[size_t(t * n)];
        REQUIRE(gptaq_add_batch(ctx.get(), x.data(), cross ? xf.data() : nullptr, T, 0) == 0);
        hard::Out o;
        const int32_t s = solve_sane(ctx.get(), hard::weights(rows, n, 23), rows, 4, &o);
        if (s == GPTAQ_OK) {
          ++solved;
          CHECK(o.info.damp_retries <= retries);
          CHECK(o.info.damp_used >= 1e-9f);
          if (o.info.damp_retries > 0) CHECK(o.info.damp_used > 1e-9f);
        } else {
          ++refused;
        }
      }
  // With 8 retries (x10 each, up to 0.1) every singular case here solves.
  MESSAGE("solved " << solved << ", refused " << refused);
  CHECK(solved > 0);
}

TEST_CASE("damping escalation is used and reported for a singular Hessian") {
  const int64_t n = 40, rows = 4, T = 3;
  gptaq_config cfg = hard::config(GPTAQ_METHOD_GPTQ, 4, -1);
  cfg.damp_percent = 1e-12f;
  cfg.damp_retries = 8;
  Ctx ctx = hard::make(n, cfg);
  std::vector<float> x = hard::activations(T, n, 31);
  REQUIRE(gptaq_add_batch(ctx.get(), x.data(), nullptr, T, 0) == 0);
  hard::Out o;
  REQUIRE(solve_sane(ctx.get(), hard::weights(rows, n, 32), rows, 4, &o) == GPTAQ_OK);
  // Rank 3 of 40: damping 1e-12 of the mean diagonal cannot make fp32 Cholesky succeed.
  CHECK(o.info.damp_retries > 0);
  CHECK(o.info.damp_used > cfg.damp_percent);
}

TEST_CASE("extreme magnitudes never give NaN") {
  const int64_t n = 24, rows = 4, T = 64;
  for (int32_t method : kMethods)
    for (float scale : {1e-30f, 1e-19f, 1e15f, 1e19f, 3e19f}) {
      CAPTURE(method);
      CAPTURE(scale);
      const bool cross = method == GPTAQ_METHOD_GPTAQ;
      std::vector<float> x = hard::activations(T, n, 41), xf = hard::activations(T, n, 42);
      for (auto &v : x) v *= scale;
      for (auto &v : xf) v *= scale;
      Ctx ctx = hard::make(n, hard::config(method, 4, -1));
      const int32_t s = gptaq_add_batch(ctx.get(), x.data(), cross ? xf.data() : nullptr, T, 0);
      // Either refused as non-finite or accepted; a solve of accepted statistics must
      // then be sane, or refuse sums that overflowed fp32 (scale 3e19: x^2 ~ 1e39).
      CHECK((s == GPTAQ_OK || s == GPTAQ_ERR_NON_FINITE));
      if (s == GPTAQ_OK) {
        const int32_t r =
            solve_sane(ctx.get(), hard::weights(rows, n, 43), rows, 4, nullptr, true);
        CHECK((r == GPTAQ_OK || r == GPTAQ_ERR_NOT_POSITIVE_DEFINITE ||
               r == GPTAQ_ERR_NON_FINITE));
        if (scale < 1e18f) CHECK(r != GPTAQ_ERR_NON_FINITE);
      }
    }
}

TEST_CASE("one hot channel dwarfs the others (ill-conditioned H)") {
  const int64_t n = 32, rows = 6, T = 100;
  std::vector<float> x = hard::activations(T, n, 51);
  for (int64_t t = 0; t < T; ++t) x[size_t(t * n + 3)] *= 1e6f;
  for (int32_t act : {0, 1}) {
    gptaq_config cfg = hard::config(GPTAQ_METHOD_GPTQ, 4, 8);
    cfg.act_order = act;
    Ctx ctx = hard::make(n, cfg);
    REQUIRE(gptaq_add_batch(ctx.get(), x.data(), nullptr, T, 0) == 0);
    CHECK(solve_sane(ctx.get(), hard::weights(rows, n, 52), rows, 4) == GPTAQ_OK);
  }
}

TEST_CASE("huge shapes are refused before allocating") {
  const int64_t big[] = {int64_t(1) << 32, int64_t(1) << 40, int64_t(1) << 62,
                         std::numeric_limits<int64_t>::max()};
  for (int64_t cols : big) {
    CAPTURE(cols);
    gptaq_ctx *ctx = reinterpret_cast<gptaq_ctx *>(0x1);
    gptaq_config cfg = hard::config(GPTAQ_METHOD_GPTAQ);
    CHECK(gptaq_ctx_create(&ctx, cols, &cfg) == GPTAQ_ERR_SHAPE);
    CHECK(ctx == nullptr);
    CHECK(std::string(gptaq_last_errmsg()).find("large") != std::string::npos);
  }
  gptaq_ctx *ctx = nullptr;
  CHECK(gptaq_ctx_create(&ctx, 0, nullptr) == GPTAQ_ERR_SHAPE);
  CHECK(gptaq_ctx_create(&ctx, -5, nullptr) == GPTAQ_ERR_SHAPE);
  CHECK(gptaq_num_groups(std::numeric_limits<int64_t>::max(), 1) > 0);

  const int64_t n = 16;
  Ctx c = hard::make(n, hard::config(GPTAQ_METHOD_GPTQ));
  std::vector<float> x = hard::activations(4, n, 1);
  const std::vector<uint8_t> before = hard::snapshot(c.get());
  // tokens * columns overflows: refused before the batch is read.
  CHECK(gptaq_add_batch(c.get(), x.data(), nullptr, std::numeric_limits<int64_t>::max(), 0) ==
        GPTAQ_ERR_SHAPE);
  CHECK(gptaq_add_batch(c.get(), x.data(), nullptr, int64_t(1) << 60, 0) == GPTAQ_ERR_SHAPE);
  CHECK(hard::snapshot(c.get()) == before);
  REQUIRE(gptaq_add_batch(c.get(), x.data(), nullptr, 4, 0) == 0);
  // rows * columns overflows: refused before the weight is read or outputs written.
  std::vector<float> w(static_cast<size_t>(n), 0.1f);
  std::vector<uint8_t> codes(static_cast<size_t>(n));
  std::vector<float> s(4), z(4);
  for (int64_t rows : {int64_t(1) << 60, std::numeric_limits<int64_t>::max()}) {
    CHECK(gptaq_solve(c.get(), w.data(), rows, n, codes.data(), s.data(), z.data(), nullptr,
                      nullptr, nullptr) == GPTAQ_ERR_SHAPE);
    CHECK(std::string(gptaq_ctx_errmsg(c.get())).find("overflow") != std::string::npos);
  }
}

TEST_CASE("statistics near the fp32 limit: merge and accumulate refuse to overflow") {
  // 6 tokens of 6e18: every xx entry is 6 * 3.6e37 = 2.16e38 (finite); twice that is not.
  const int64_t n = 4, T = 6;
  std::vector<float> x(static_cast<size_t>(T * n), 6e18f);
  Ctx a = hard::make(n, hard::config(GPTAQ_METHOD_GPTQ));
  Ctx b = hard::make(n, hard::config(GPTAQ_METHOD_GPTQ));
  REQUIRE(gptaq_add_batch(a.get(), x.data(), nullptr, T, 0) == GPTAQ_OK);
  REQUIRE(gptaq_add_batch(b.get(), x.data(), nullptr, T, 0) == GPTAQ_OK);
  const std::vector<uint8_t> before = hard::snapshot(a.get());
  CHECK(gptaq_stats_merge(a.get(), b.get()) == GPTAQ_ERR_NON_FINITE);
  CHECK(std::string(gptaq_ctx_errmsg(a.get())).find("overflow") != std::string::npos);
  CHECK(hard::snapshot(a.get()) == before);
  CHECK(gptaq_stats_deserialize(a.get(), before.data(), int64_t(before.size()),
                                GPTAQ_STATS_ACCUMULATE) == GPTAQ_ERR_NON_FINITE);
  CHECK(hard::snapshot(a.get()) == before);
  CHECK(gptaq_stats_deserialize(a.get(), before.data(), int64_t(before.size()),
                                GPTAQ_STATS_REPLACE) == GPTAQ_OK);
  CHECK(solve_sane(a.get(), hard::weights(2, n, 1), 2, 4) == GPTAQ_OK);
}

TEST_CASE("a diverging error propagation is refused, never returned as NaN") {
  // Found by fuzz_capi: GPTAQ with a huge alpha made the propagated weights overflow and
  // the solve returned GPTAQ_OK with a NaN loss.
  const int64_t n = 39, rows = 7, T = 4;
  for (float alpha : {1e6f, 1e3f, -2.0f, 0.25f}) {
    CAPTURE(alpha);
    gptaq_config cfg = hard::config(GPTAQ_METHOD_GPTAQ, 4, 32);
    cfg.act_order = 1;
    cfg.block_size = 5;
    cfg.alpha = alpha;
    Ctx ctx = hard::make(n, cfg);
    std::vector<float> x = hard::activations(T, n, 61), xf = hard::activations(T, n, 62);
    for (auto &v : xf) v *= 3.0f;
    REQUIRE(gptaq_add_batch(ctx.get(), x.data(), xf.data(), T, 0) == GPTAQ_OK);
    hard::Out o = hard::solve(ctx.get(), hard::weights(rows, n, 63), rows);
    CHECK((o.status == GPTAQ_OK || o.status == GPTAQ_ERR_NON_FINITE));
    if (o.status == GPTAQ_OK) {
      CHECK(std::isfinite(o.info.loss));
      CHECK(hard::all_finite(o.dequant));
    } else {
      CHECK(std::string(gptaq_ctx_errmsg(ctx.get())).find("diverged") != std::string::npos);
      CHECK(o.codes[0] == 0xEE);  // outputs untouched
    }
    if (alpha == 0.25f) CHECK(o.status == GPTAQ_OK);
  }
}
