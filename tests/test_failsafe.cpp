// The failsafe (config.failsafe_tokens, ALGORITHMS.md "Group-aware reordering (GAR) and
// the failsafe"): a solve whose statistics hold fewer tokens than the threshold (none
// included) is round-to-nearest, exactly what method RTN gives with the same grid
// settings, and says so in info (failsafe_used, tokens); at or above the threshold the
// solve is the one without a failsafe, bit for bit. For GPTQ, GPTAQ, with group-aware
// reordering and act-order, and for the binary quantizer (GPTQT), whose round-to-nearest
// chooses its code by weight MSE as with no statistics at all.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "gptaq/gptaq.h"
#include "gptqt_reference.h"
#include "harness.h"
#include "problems.h"
#include "reference.h"

namespace {

constexpr double kTieTol = 1e-4;  // as in test_numerics.cpp

problems::Problem make() {
  problems::Spec s;
  s.rows = 24;
  s.cols = 100;  // group 32: 3 full groups and a partial one of 4
  s.tokens = 200;
  s.seed = 41;
  return problems::make_problem(s);
}

gptaq_config base(int method, int32_t failsafe) {
  gptaq_config cfg;
  gptaq_config_init(&cfg, sizeof cfg);
  cfg.backend = GPTAQ_BACKEND_CPU;
  cfg.num_threads = 1;
  cfg.method = method;
  cfg.group_size = 32;
  cfg.block_size = 32;
  cfg.failsafe_tokens = failsafe;
  return cfg;
}

// Stream the first `tokens` tokens of p (x_fp too for GPTAQ) into ctx.
void feed(gptaq_ctx *ctx, const problems::Problem &p, int method, int64_t from, int64_t tokens) {
  if (tokens == 0) return;
  const int64_t n = p.spec.cols;
  const float *xq = p.x_q.data() + from * n;
  const float *xf = method == GPTAQ_METHOD_GPTAQ ? p.x_fp.data() + from * n : nullptr;
  REQUIRE(gptaq_add_batch(ctx, xq, xf, tokens, GPTAQ_DTYPE_F32) == GPTAQ_OK);
}

harness::LibOut run(const problems::Problem &p, const gptaq_config &cfg, int64_t tokens) {
  gptaq_ctx *ctx = nullptr;
  REQUIRE(gptaq_ctx_create(&ctx, p.spec.cols, &cfg) == GPTAQ_OK);
  feed(ctx, p, cfg.method, 0, tokens);
  harness::LibOut o = harness::solve(ctx, p.weight, p.spec.rows, p.spec.cols, cfg.group_size);
  gptaq_ctx_free(ctx);
  return o;
}

// Method RTN with cfg's grid settings (no statistics needed).
harness::LibOut rtn_of(const problems::Problem &p, gptaq_config cfg) {
  cfg.method = GPTAQ_METHOD_RTN;
  cfg.failsafe_tokens = 0;
  return run(p, cfg, 0);
}

void check_identical(const harness::LibOut &a, const harness::LibOut &b) {
  CHECK(a.codes == b.codes);
  CHECK(a.scales == b.scales);
  CHECK(a.zeros == b.zeros);
  CHECK(a.g_idx == b.g_idx);
  CHECK(a.dequant == b.dequant);
}

// The float64 reference's RTN agrees with the library's failsafe result.
void check_reference_rtn(const problems::Problem &p, const gptaq_config &cfg,
                         const harness::LibOut &got) {
  ref::SolveConfig rc;
  rc.method = 0;
  rc.q.bits = cfg.bits;
  rc.q.sym = cfg.sym != 0;
  rc.group_size = cfg.group_size;
  ref::Factor none;
  const ref::Follow follow{got.codes.data(), kTieTol};
  const ref::Result want = ref::solve(p.weight.data(), p.spec.rows, p.spec.cols, none, rc, &follow);
  REQUIRE(want.ok);
  CHECK(double(want.followed) <= 0.01 * double(got.codes.size()));
  CHECK(harness::code_match(got.codes, want.codes) >= 0.999);
  CHECK(got.g_idx == want.g_idx);
}

}  // namespace

TEST_CASE("failsafe: below the threshold the solve is round-to-nearest, exactly") {
  const problems::Problem p = make();
  for (int method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ})
    for (int order : {0, 1, 2})  // none, act-order, group-aware reordering
      for (int sym : {1, 0}) {
        gptaq_config cfg = base(method, 100);
        cfg.sym = sym;
        cfg.act_order = order == 1;
        cfg.act_group_aware = order == 2;
        cfg.static_groups = order == 2 && sym;
        CAPTURE(method);
        CAPTURE(order);
        CAPTURE(sym);
        const harness::LibOut got = run(p, cfg, 37);
        REQUIRE_MESSAGE(got.status == GPTAQ_OK, got.errmsg);
        const harness::LibOut want = rtn_of(p, cfg);
        REQUIRE(want.status == GPTAQ_OK);
        check_identical(got, want);
        for (int64_t j = 0; j < p.spec.cols; ++j) REQUIRE(got.g_idx[size_t(j)] == j / 32);
        CHECK(got.info.failsafe_used == 1);
        CHECK(got.info.tokens == 37.0);
        CHECK(got.info.loss == 0.0);
        CHECK(got.info.damp_used == 0.0f);
        CHECK(got.info.damp_retries == 0);
        CHECK(got.info.factor_reused == 0);
        check_reference_rtn(p, cfg, got);
      }
}

TEST_CASE("failsafe: at or above the threshold the solve is unchanged") {
  const problems::Problem p = make();
  for (int method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ})
    for (int gar : {0, 1})
      for (int64_t tokens : {100, 150}) {
        CAPTURE(method);
        CAPTURE(gar);
        CAPTURE(tokens);
        gptaq_config off = base(method, 0);
        off.act_group_aware = gar;
        gptaq_config on = off;
        on.failsafe_tokens = 100;
        const harness::LibOut want = run(p, off, tokens);
        const harness::LibOut got = run(p, on, tokens);
        REQUIRE_MESSAGE(got.status == GPTAQ_OK, got.errmsg);
        REQUIRE(want.status == GPTAQ_OK);
        check_identical(got, want);
        CHECK(got.info.loss == want.info.loss);
        CHECK(got.info.loss > 0.0);
        CHECK(got.info.failsafe_used == 0);
        CHECK(want.info.failsafe_used == 0);
        CHECK(got.info.tokens == double(tokens));
        // And it is not RTN.
        CHECK(harness::code_match(got.codes, rtn_of(p, on).codes) < 0.99);
      }
}

TEST_CASE("failsafe: zero tokens with the failsafe on is RTN, not GPTAQ_ERR_NO_DATA") {
  const problems::Problem p = make();
  for (int method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ}) {
    CAPTURE(method);
    const gptaq_config off = base(method, 0);
    const harness::LibOut none = run(p, off, 0);
    CHECK(none.status == GPTAQ_ERR_NO_DATA);
    gptaq_config on = base(method, 1);
    on.act_group_aware = 1;
    const harness::LibOut got = run(p, on, 0);
    REQUIRE_MESSAGE(got.status == GPTAQ_OK, got.errmsg);
    check_identical(got, rtn_of(p, on));
    CHECK(got.info.failsafe_used == 1);
    CHECK(got.info.tokens == 0.0);
    // A batch whose every token is masked out counts nothing: still the failsafe.
    gptaq_ctx *ctx = nullptr;
    REQUIRE(gptaq_ctx_create(&ctx, p.spec.cols, &on) == GPTAQ_OK);
    const std::vector<uint8_t> mask(10, 0);
    REQUIRE(gptaq_add_batch_masked(ctx, p.x_q.data(),
                                   method == GPTAQ_METHOD_GPTAQ ? p.x_fp.data() : nullptr, 10,
                                   GPTAQ_DTYPE_F32, mask.data()) == GPTAQ_OK);
    const harness::LibOut masked = harness::solve(ctx, p.weight, p.spec.rows, p.spec.cols, 32);
    gptaq_ctx_free(ctx);
    REQUIRE(masked.status == GPTAQ_OK);
    CHECK(masked.info.failsafe_used == 1);
    CHECK(masked.info.tokens == 0.0);
    check_identical(masked, got);
  }
}

TEST_CASE("failsafe: one context crosses the threshold both ways") {
  const problems::Problem p = make();
  gptaq_config cfg = base(GPTAQ_METHOD_GPTAQ, 100);
  cfg.act_group_aware = 1;
  gptaq_ctx *ctx = nullptr;
  REQUIRE(gptaq_ctx_create(&ctx, p.spec.cols, &cfg) == GPTAQ_OK);
  feed(ctx, p, cfg.method, 0, 60);
  const harness::LibOut below = harness::solve(ctx, p.weight, p.spec.rows, p.spec.cols, 32);
  REQUIRE(below.status == GPTAQ_OK);
  CHECK(below.info.failsafe_used == 1);
  CHECK(below.info.tokens == 60.0);
  check_identical(below, rtn_of(p, cfg));

  feed(ctx, p, cfg.method, 60, 60);
  const harness::LibOut above = harness::solve(ctx, p.weight, p.spec.rows, p.spec.cols, 32);
  REQUIRE(above.status == GPTAQ_OK);
  CHECK(above.info.failsafe_used == 0);
  CHECK(above.info.tokens == 120.0);
  gptaq_config off = cfg;
  off.failsafe_tokens = 0;
  gptaq_ctx *fresh = nullptr;
  REQUIRE(gptaq_ctx_create(&fresh, p.spec.cols, &off) == GPTAQ_OK);
  feed(fresh, p, cfg.method, 0, 60);  // the same batches: the same fp32 sums
  feed(fresh, p, cfg.method, 60, 60);
  const harness::LibOut want = harness::solve(fresh, p.weight, p.spec.rows, p.spec.cols, 32);
  gptaq_ctx_free(fresh);
  check_identical(above, want);

  // Raising the threshold past the tokens held makes it RTN again; lowering it back
  // reuses the cached factorization (the failsafe never touched it).
  gptaq_config higher = cfg;
  higher.failsafe_tokens = 121;
  REQUIRE(gptaq_ctx_set_config(ctx, &higher) == GPTAQ_OK);
  const harness::LibOut again = harness::solve(ctx, p.weight, p.spec.rows, p.spec.cols, 32);
  REQUIRE(again.status == GPTAQ_OK);
  CHECK(again.info.failsafe_used == 1);
  check_identical(again, below);
  REQUIRE(gptaq_ctx_set_config(ctx, &cfg) == GPTAQ_OK);
  const harness::LibOut back = harness::solve(ctx, p.weight, p.spec.rows, p.spec.cols, 32);
  REQUIRE(back.status == GPTAQ_OK);
  CHECK(back.info.failsafe_used == 0);
  CHECK(back.info.factor_reused == 1);
  check_identical(back, want);
  gptaq_ctx_free(ctx);
}

TEST_CASE("failsafe: an older caller's info struct gets only what it covers") {
  const problems::Problem p = make();
  const gptaq_config cfg = base(GPTAQ_METHOD_GPTQ, 100);
  gptaq_ctx *ctx = nullptr;
  REQUIRE(gptaq_ctx_create(&ctx, p.spec.cols, &cfg) == GPTAQ_OK);
  feed(ctx, p, cfg.method, 0, 10);
  std::vector<uint8_t> codes(size_t(p.spec.rows * p.spec.cols));
  std::vector<float> sc(size_t(p.spec.rows * 4)), zr(sc.size());
  gptaq_solve_info info;
  std::memset(&info, 0x5a, sizeof info);
  info.struct_size = static_cast<int32_t>(offsetof(gptaq_solve_info, tokens));
  REQUIRE(gptaq_solve(ctx, p.weight.data(), p.spec.rows, p.spec.cols, codes.data(), sc.data(),
                      zr.data(), nullptr, nullptr, &info) == GPTAQ_OK);
  gptaq_solve_info untouched;
  std::memset(&untouched, 0x5a, sizeof untouched);
  CHECK(std::memcmp(&info.tokens, &untouched.tokens,
                    sizeof info - offsetof(gptaq_solve_info, tokens)) == 0);
  CHECK(info.n_groups == 4);
  gptaq_ctx_free(ctx);
}

namespace {

struct BinOut {
  int32_t status = GPTAQ_OK;
  std::string err;
  std::vector<uint8_t> codes;
  std::vector<float> alpha, bias, dequant;
  std::vector<int32_t> g_idx;
  gptaq_solve_info info{};
};

BinOut run_binary(const problems::Problem &p, const gptaq_config &cfg, int64_t tokens) {
  BinOut o;
  gptaq_ctx *ctx = nullptr;
  REQUIRE(gptaq_ctx_create(&ctx, p.spec.cols, &cfg) == GPTAQ_OK);
  feed(ctx, p, cfg.method, 0, tokens);
  const int64_t m = p.spec.rows, n = p.spec.cols, G = gptaq_num_groups(n, cfg.group_size);
  o.codes.assign(size_t(m * n), 0xff);
  o.alpha.assign(size_t(m * G * cfg.bits), 0.0f);
  o.bias.assign(size_t(m * G), 0.0f);
  o.dequant.assign(size_t(m * n), 0.0f);
  o.g_idx.assign(size_t(n), -1);
  o.info.struct_size = sizeof o.info;
  o.status = gptaq_solve_binary(ctx, p.weight.data(), m, n, o.codes.data(), o.alpha.data(),
                                o.bias.data(), o.g_idx.data(), o.dequant.data(), &o.info);
  o.err = gptaq_ctx_errmsg(ctx);
  gptaq_ctx_free(ctx);
  return o;
}

}  // namespace

TEST_CASE("failsafe: the binary quantizer (GPTQT) falls back to its round-to-nearest") {
  // GPTQT's round-to-nearest: the binary code (level set, scale) chosen by weight MSE, as
  // with no statistics, and every weight rounded to it without error feedback: exactly
  // what method RTN gives on a context without tokens.
  const problems::Problem p = make();
  for (int method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ})
    for (int group : {-1, 32}) {
      CAPTURE(method);
      CAPTURE(group);
      gptaq_config cfg = base(method, 100);
      cfg.quantizer = GPTAQ_QUANTIZER_BINARY;
      cfg.bits = 3;
      cfg.group_size = group;
      cfg.objective = GPTAQ_OBJECTIVE_OUTPUT;
      cfg.act_group_aware = group > 0;
      const BinOut got = run_binary(p, cfg, 37);
      REQUIRE_MESSAGE(got.status == GPTAQ_OK, got.err);
      gptaq_config rtn = cfg;
      rtn.method = GPTAQ_METHOD_RTN;
      rtn.failsafe_tokens = 0;
      const BinOut want = run_binary(p, rtn, 0);
      REQUIRE(want.status == GPTAQ_OK);
      CHECK(got.codes == want.codes);
      CHECK(got.alpha == want.alpha);
      CHECK(got.bias == want.bias);
      CHECK(got.dequant == want.dequant);
      CHECK(got.g_idx == want.g_idx);
      CHECK(got.info.level_set == want.info.level_set);
      CHECK(got.info.scale_index == want.info.scale_index);
      CHECK(got.info.failsafe_used == 1);
      CHECK(got.info.tokens == 37.0);
      CHECK(got.info.loss == 0.0);
      if (group > 0)
        for (int64_t j = 0; j < p.spec.cols; ++j) REQUIRE(got.g_idx[size_t(j)] == j / group);

      // The float64 reference of GPTQT's RTN without statistics.
      gptqt_ref::SolveConfig rc;
      rc.search.n = 5;
      rc.search.k = 3;
      rc.search.group_size = group;
      rc.search.objective = gptqt_ref::OUTPUT;  // falls back to WEIGHT without stats
      rc.method = 0;
      const gptqt_ref::Result r =
          gptqt_ref::solve(p.weight.data(), p.spec.rows, p.spec.cols, nullptr, rc);
      REQUIRE(r.ok);
      CHECK(got.info.level_set == r.choice.set);
      CHECK(got.info.scale_index == r.choice.t);
      int64_t same = 0;
      for (size_t i = 0; i < got.codes.size(); ++i) same += got.codes[i] == r.codes[i];
      CHECK(double(same) / double(got.codes.size()) >= 0.99);

      // At the threshold: unchanged from the solve without a failsafe.
      gptaq_config off = cfg;
      off.failsafe_tokens = 0;
      const BinOut at = run_binary(p, cfg, 100);
      const BinOut plain = run_binary(p, off, 100);
      REQUIRE(at.status == GPTAQ_OK);
      REQUIRE(plain.status == GPTAQ_OK);
      CHECK(at.codes == plain.codes);
      CHECK(at.alpha == plain.alpha);
      CHECK(at.bias == plain.bias);
      CHECK(at.info.loss == plain.info.loss);
      CHECK(at.info.failsafe_used == 0);
      CHECK(at.info.tokens == 100.0);
    }
}
