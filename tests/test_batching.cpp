// Streaming behaviour of the statistics and of the context: batch splits, masks, 16-bit
// inputs, repeated solves on one context (factor reuse), set_config, damping retries.
//
// Tolerances, all from fp32 rounding.
//  - Statistics: the library keeps fp32 sums of T products. Whatever the order of the
//    additions, each entry is within (T + 2) * eps32 * sum_t |x_i x_j| of the exact sum
//    (the standard bound for recursive summation of rounded products); we check xx and dx
//    against float64 sums and against each other with that bound.
//  - Solves: where the computation is the same sequence of operations (same statistics,
//    same factor), the result must be bit-identical. Where statistics differ by rounding,
//    a code whose x/scale sits within rounding of k + 1/2 may flip and feed a different
//    error into the rest of its row (see test_numerics.cpp), so each solve is compared with
//    the float64 reference that follows the library on such ties: >= 99.9% identical codes,
//    at most 1% of them decided on a tie, loss within 1e-4 relative.
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "gptaq/gptaq.h"
#include "harness.h"
#include "problems.h"
#include "reference.h"

namespace {

problems::Spec small_spec(uint64_t seed) {
  problems::Spec s;
  s.rows = 32;
  s.cols = 128;
  s.tokens = 300;
  s.rank = 10;
  s.seed = seed;
  return s;
}

gptaq_config base_config(int method) {
  gptaq_config cfg;
  gptaq_config_init(&cfg, sizeof cfg);
  cfg.method = method;
  cfg.bits = 4;
  cfg.group_size = 32;
  cfg.sym = 0;
  cfg.act_order = 1;
  cfg.block_size = 48;
  cfg.backend = GPTAQ_BACKEND_CPU;
  cfg.num_threads = 1;  // tiny problems; the threaded path is exercised by the reuse test
  return cfg;
}

struct Ctx {
  gptaq_ctx *ctx = nullptr;
  Ctx(int64_t cols, const gptaq_config &cfg) {
    const int32_t st = gptaq_ctx_create(&ctx, cols, &cfg);
    INFO("create: ", gptaq_last_errmsg());
    REQUIRE(st == GPTAQ_OK);
  }
  ~Ctx() { gptaq_ctx_free(ctx); }
  Ctx(const Ctx &) = delete;
  Ctx &operator=(const Ctx &) = delete;
};

const std::vector<float> kNoFp;

const std::vector<float> &fp_of(const problems::Problem &p, int method) {
  return method == GPTAQ_METHOD_GPTAQ ? p.x_fp : kNoFp;
}

void require_ok(const harness::LibOut &o) {
  INFO("solve status ", o.status, ": ", o.errmsg);
  REQUIRE(o.status == GPTAQ_OK);
}

// Bit-for-bit equality of two solves.
void check_identical(const harness::LibOut &a, const harness::LibOut &b) {
  CHECK(a.codes == b.codes);
  CHECK(a.scales == b.scales);
  CHECK(a.zeros == b.zeros);
  CHECK(a.g_idx == b.g_idx);
  CHECK(a.dequant == b.dequant);
  CHECK(a.info.loss == b.info.loss);
}

// The float64 reference for one calibration set and library configuration.
struct Reference {
  ref::Stats st;
  ref::SolveConfig rc;
  ref::Factor f;
  Reference(const std::vector<float> &xq, const std::vector<float> &xfp, int64_t tokens,
            int64_t cols, const gptaq_config &cfg)
      : st(cols, cfg.method == GPTAQ_METHOD_GPTAQ) {
    st.add(xq.data(), cfg.method == GPTAQ_METHOD_GPTAQ ? xfp.data() : nullptr, tokens);
    rc.method = cfg.method;
    rc.q.bits = cfg.bits;
    rc.q.sym = cfg.sym != 0;
    rc.q.mse = cfg.mse != 0;
    rc.group_size = cfg.group_size;
    rc.act_order = cfg.act_order != 0;
    rc.static_groups = cfg.static_groups != 0;
    rc.block_size = cfg.block_size;
    rc.damp_percent = cfg.damp_percent;
    rc.alpha = cfg.alpha;
    f = ref::prepare(st, rc);
    REQUIRE(f.ok);
  }
};

// A solve of the library against the reference that follows it on fp32 ties.
void check_against(const Reference &r, const harness::LibOut &o,
                   const std::vector<float> &weight, int64_t rows, int64_t cols) {
  const ref::Follow follow{o.codes.data(), 1e-4};
  const ref::Result want = ref::solve(weight.data(), rows, cols, r.f, r.rc, &follow);
  REQUIRE(want.ok);
  const double match = harness::code_match(o.codes, want.codes);
  INFO("identical codes ", match, " (", want.followed, " ties followed), loss ", o.info.loss,
       " vs reference ", want.loss);
  CHECK(match >= 0.999);
  CHECK(double(want.followed) <= 0.01 * double(rows * cols));
  CHECK(harness::rel_diff(o.info.loss, want.loss) <= 1e-4);
  CHECK(o.g_idx == want.g_idx);
}

// Statistics of two contexts fed the same tokens (x_q, x_fp: tokens x cols as fp32
// values, after any 16-bit rounding) agree with each other and with float64 sums to the
// fp32 summation bound.
void check_stats(gptaq_ctx *a, gptaq_ctx *b, const std::vector<float> &xq,
                 const std::vector<float> &xfp, int64_t tokens, int64_t cols, bool cross) {
  gptaq_stats_buffers ba{}, bb{};
  ba.struct_size = bb.struct_size = sizeof(gptaq_stats_buffers);
  REQUIRE(gptaq_stats_buffers_get(a, &ba) == GPTAQ_OK);
  REQUIRE(gptaq_stats_buffers_get(b, &bb) == GPTAQ_OK);
  REQUIRE(ba.backend == GPTAQ_BACKEND_CPU);
  CHECK(*ba.tokens == double(tokens));
  CHECK(*bb.tokens == double(tokens));
  REQUIRE(ba.has_cross == int32_t(cross));
  REQUIRE(bb.has_cross == int32_t(cross));
  const double bound = double(tokens + 2) * double(FLT_EPSILON) / 2.0;
  int64_t bad = 0;
  for (int64_t i = 0; i < cols; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      double exact_xx = 0.0, abs_xx = 0.0, exact_dx = 0.0, abs_dx = 0.0;
      for (int64_t t = 0; t < tokens; ++t) {
        const double qi = xq[size_t(t * cols + i)], qj = xq[size_t(t * cols + j)];
        exact_xx += qi * qj;
        abs_xx += std::fabs(qi * qj);
        if (cross) {
          const double d = double(xfp[size_t(t * cols + i)]) - qi;
          exact_dx += d * qj;
          abs_dx += std::fabs(d * qj);
        }
      }
      const size_t k = size_t(i * cols + j);
      bad += std::fabs(ba.xx[k] - exact_xx) > bound * abs_xx;
      bad += std::fabs(bb.xx[k] - exact_xx) > bound * abs_xx;
      if (cross) {
        // x_fp - x_q is itself an fp32 subtraction: one more rounding per term.
        bad += std::fabs(ba.dx[k] - exact_dx) > (bound + FLT_EPSILON) * abs_dx;
        bad += std::fabs(bb.dx[k] - exact_dx) > (bound + FLT_EPSILON) * abs_dx;
      }
    }
  CHECK(bad == 0);
}

bool all_finite(const std::vector<float> &v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

}  // namespace

TEST_CASE("batching: one batch and many uneven batches give the same solve") {
  for (int method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ}) {
    INFO("method ", method);
    const problems::Spec s = small_spec(3);
    const problems::Problem p = problems::make_problem(s);
    const gptaq_config cfg = base_config(method);

    Ctx one(s.cols, cfg), many(s.cols, cfg);
    REQUIRE(harness::add_batches(one.ctx, p.x_q, fp_of(p, method), s.cols, {s.tokens}) ==
            GPTAQ_OK);
    // Uneven sizes, including single tokens; a zero-token batch is a no-op.
    const auto sizes = harness::uneven_splits(s.tokens, {1, 37, 100, 5, 64, 2, 29});
    REQUIRE(sizes.size() > 5);
    REQUIRE(harness::add_batches(many.ctx, p.x_q, fp_of(p, method), s.cols, sizes) ==
            GPTAQ_OK);
    REQUIRE(gptaq_add_batch(many.ctx, p.x_q.data(),
                            method == GPTAQ_METHOD_GPTAQ ? p.x_fp.data() : nullptr, 0,
                            GPTAQ_DTYPE_F32) == GPTAQ_OK);
    CHECK(gptaq_ctx_num_tokens(one.ctx) == s.tokens);
    CHECK(gptaq_ctx_num_tokens(many.ctx) == s.tokens);
    check_stats(one.ctx, many.ctx, p.x_q, p.x_fp, s.tokens, s.cols,
                method == GPTAQ_METHOD_GPTAQ);

    const auto a = harness::solve(one.ctx, p.weight, s.rows, s.cols, cfg.group_size);
    const auto b = harness::solve(many.ctx, p.weight, s.rows, s.cols, cfg.group_size);
    require_ok(a);
    require_ok(b);
    const Reference r(p.x_q, p.x_fp, s.tokens, s.cols, cfg);
    check_against(r, a, p.weight, s.rows, s.cols);
    check_against(r, b, p.weight, s.rows, s.cols);
    const double match = harness::code_match(a.codes, b.codes);
    MESSAGE("method ", method, ": one batch vs ", sizes.size(),
            " uneven batches: identical codes ", match, ", relative loss difference ",
            harness::rel_diff(a.info.loss, b.info.loss));
  }
}

TEST_CASE("batching: fp16 and bf16 batches equal fp32 batches of the rounded values") {
  for (int32_t dtype : {GPTAQ_DTYPE_F16, GPTAQ_DTYPE_BF16}) {
    for (int method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ}) {
      INFO("dtype ", dtype, " method ", method);
      problems::Spec s = small_spec(5);
      s.n_outliers = 2;  // outliers up to 100x stay far inside the fp16 range
      const problems::Problem p = problems::make_problem(s);
      const gptaq_config cfg = base_config(method);
      const bool aq = method == GPTAQ_METHOD_GPTAQ;
      const int64_t n = s.tokens * s.cols;

      std::vector<uint16_t> hq(static_cast<size_t>(n)), hfp(static_cast<size_t>(n));
      REQUIRE(gptaq_f32_to_half(dtype, p.x_q.data(), hq.data(), n) == GPTAQ_OK);
      REQUIRE(gptaq_f32_to_half(dtype, p.x_fp.data(), hfp.data(), n) == GPTAQ_OK);
      std::vector<float> rq(static_cast<size_t>(n)), rfp(static_cast<size_t>(n));
      REQUIRE(gptaq_half_to_f32(dtype, hq.data(), rq.data(), n) == GPTAQ_OK);
      REQUIRE(gptaq_half_to_f32(dtype, hfp.data(), rfp.data(), n) == GPTAQ_OK);
      // The rounding did something, and nothing overflowed.
      CHECK(rq != p.x_q);
      CHECK(all_finite(rq));
      CHECK(all_finite(rfp));

      Ctx half(s.cols, cfg), full(s.cols, cfg);
      // The 16-bit stream in uneven batches, the fp32 one in one batch.
      int64_t off = 0;
      for (int64_t b : harness::uneven_splits(s.tokens, {77, 13, 120})) {
        REQUIRE(gptaq_add_batch(half.ctx, hq.data() + off * s.cols,
                                aq ? hfp.data() + off * s.cols : nullptr, b,
                                dtype) == GPTAQ_OK);
        off += b;
      }
      REQUIRE(gptaq_add_batch(full.ctx, rq.data(), aq ? rfp.data() : nullptr, s.tokens,
                              GPTAQ_DTYPE_F32) == GPTAQ_OK);
      check_stats(half.ctx, full.ctx, rq, rfp, s.tokens, s.cols, aq);
      const auto a = harness::solve(half.ctx, p.weight, s.rows, s.cols, cfg.group_size);
      const auto b = harness::solve(full.ctx, p.weight, s.rows, s.cols, cfg.group_size);
      require_ok(a);
      require_ok(b);
      const Reference r(rq, rfp, s.tokens, s.cols, cfg);
      check_against(r, a, p.weight, s.rows, s.cols);
      check_against(r, b, p.weight, s.rows, s.cols);

      // One 16-bit batch is converted and accumulated exactly as one fp32 batch of the
      // rounded values: the same statistics bit for bit, hence the same solve.
      Ctx half1(s.cols, cfg);
      REQUIRE(gptaq_add_batch(half1.ctx, hq.data(), aq ? hfp.data() : nullptr, s.tokens,
                              dtype) == GPTAQ_OK);
      const auto c = harness::solve(half1.ctx, p.weight, s.rows, s.cols, cfg.group_size);
      require_ok(c);
      check_identical(c, b);
    }
  }
}

TEST_CASE("batching: half conversion rounds to nearest even") {
  // 1 + 2^-11 is halfway between two fp16 values (1 and 1 + 2^-10): ties go to even (1);
  // 1 + 3 * 2^-11 is halfway between 1 + 2^-10 (odd) and 1 + 2^-9 (even).
  const float f16_in[] = {1.0f, 1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, -2.0f, 65504.0f, 0.0f};
  const uint16_t f16_want[] = {0x3C00, 0x3C00, 0x3C02, 0xC000, 0x7BFF, 0x0000};
  uint16_t got[6];
  REQUIRE(gptaq_f32_to_half(GPTAQ_DTYPE_F16, f16_in, got, 6) == GPTAQ_OK);
  for (int i = 0; i < 6; ++i) CHECK(got[i] == f16_want[i]);
  // bf16 keeps 8 significant bits: 1 + 2^-8 ties to 1, 1 + 3 * 2^-8 to 1 + 2^-6.
  const float bf_in[] = {1.0f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -2.0f, 3.0e38f, 0.0f};
  const uint16_t bf_want[] = {0x3F80, 0x3F80, 0x3F82, 0xC000, 0x7F62, 0x0000};
  REQUIRE(gptaq_f32_to_half(GPTAQ_DTYPE_BF16, bf_in, got, 6) == GPTAQ_OK);
  for (int i = 0; i < 6; ++i) CHECK(got[i] == bf_want[i]);
  float back[6];
  REQUIRE(gptaq_half_to_f32(GPTAQ_DTYPE_F16, f16_want, back, 6) == GPTAQ_OK);
  CHECK(back[2] == 1.0f + 0x1p-9f);
  CHECK(back[4] == 65504.0f);
}

TEST_CASE("batching: repeated solves reuse the factor and equal a fresh context") {
  for (int method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ}) {
    INFO("method ", method);
    const problems::Spec s = small_spec(6);
    const problems::Problem p = problems::make_problem(s);
    gptaq_config cfg = base_config(method);
    cfg.num_threads = 0;  // all threads: reuse and fresh solves must still agree bit for bit
    const auto &fp = fp_of(p, method);
    const std::vector<float> w2 = problems::other_weight(s, 1);
    const auto first = harness::uneven_splits(s.tokens / 2, {50, 31});
    const int64_t half_tokens = s.tokens / 2;

    Ctx ctx(s.cols, cfg);
    REQUIRE(harness::add_batches(ctx.ctx, p.x_q, fp, s.cols, first) == GPTAQ_OK);
    const auto a1 = harness::solve(ctx.ctx, p.weight, s.rows, s.cols, cfg.group_size);
    require_ok(a1);
    CHECK(a1.info.factor_reused == 0);
    {  // the threaded solve agrees with the reference as the single-threaded ones do
      std::vector<float> fq(p.x_q.begin(), p.x_q.begin() + half_tokens * s.cols), ffp;
      if (!fp.empty()) ffp.assign(fp.begin(), fp.begin() + half_tokens * s.cols);
      const Reference r(fq, ffp, half_tokens, s.cols, cfg);
      check_against(r, a1, p.weight, s.rows, s.cols);
    }
    const auto a2 = harness::solve(ctx.ctx, w2, s.rows, s.cols, cfg.group_size);
    require_ok(a2);
    CHECK(a2.info.factor_reused == 1);
    // Solving the first weight again gives it back exactly.
    const auto a3 = harness::solve(ctx.ctx, p.weight, s.rows, s.cols, cfg.group_size);
    require_ok(a3);
    CHECK(a3.info.factor_reused == 1);
    check_identical(a1, a3);

    // A fresh context with the same batches: the same computation, the same bits.
    {
      Ctx fresh(s.cols, cfg);
      REQUIRE(harness::add_batches(fresh.ctx, p.x_q, fp, s.cols, first) == GPTAQ_OK);
      const auto f2 = harness::solve(fresh.ctx, w2, s.rows, s.cols, cfg.group_size);
      require_ok(f2);
      CHECK(f2.info.factor_reused == 0);
      check_identical(a2, f2);
    }

    // More data invalidates the factor; the result then matches a fresh context that saw
    // all of it.
    std::vector<float> rest_q(p.x_q.begin() + half_tokens * s.cols, p.x_q.end());
    std::vector<float> rest_fp;
    if (!fp.empty()) rest_fp.assign(fp.begin() + half_tokens * s.cols, fp.end());
    REQUIRE(harness::add_batches(ctx.ctx, rest_q, rest_fp, s.cols,
                                 {s.tokens - half_tokens}) == GPTAQ_OK);
    const auto b1 = harness::solve(ctx.ctx, w2, s.rows, s.cols, cfg.group_size);
    require_ok(b1);
    CHECK(b1.info.factor_reused == 0);
    CHECK(harness::code_match(b1.codes, a2.codes) < 1.0);  // the new data mattered
    {
      Ctx fresh(s.cols, cfg);
      auto sizes = first;
      sizes.push_back(s.tokens - half_tokens);
      REQUIRE(harness::add_batches(fresh.ctx, p.x_q, fp, s.cols, sizes) == GPTAQ_OK);
      const auto f3 = harness::solve(fresh.ctx, w2, s.rows, s.cols, cfg.group_size);
      require_ok(f3);
      check_identical(b1, f3);
    }
  }
}

TEST_CASE("batching: set_config keeps the statistics") {
  for (int method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ}) {
    INFO("method ", method);
    const problems::Spec s = small_spec(7);
    const problems::Problem p = problems::make_problem(s);
    const gptaq_config cfg4 = base_config(method);
    const auto &fp = fp_of(p, method);

    Ctx ctx(s.cols, cfg4);
    REQUIRE(harness::add_batches(ctx.ctx, p.x_q, fp, s.cols, {120, s.tokens - 120}) ==
            GPTAQ_OK);
    const auto a4 = harness::solve(ctx.ctx, p.weight, s.rows, s.cols, cfg4.group_size);
    require_ok(a4);

    // Other bits, group size and grid: the factor stays valid.
    gptaq_config cfg3 = cfg4;
    cfg3.bits = 3;
    cfg3.group_size = 64;
    cfg3.sym = 1;
    REQUIRE(gptaq_ctx_set_config(ctx.ctx, &cfg3) == GPTAQ_OK);
    CHECK(gptaq_ctx_num_tokens(ctx.ctx) == s.tokens);
    gptaq_config back;
    gptaq_config_init(&back, sizeof back);
    REQUIRE(gptaq_ctx_get_config(ctx.ctx, &back) == GPTAQ_OK);
    CHECK(back.bits == 3);
    CHECK(back.group_size == 64);
    const auto a3 = harness::solve(ctx.ctx, p.weight, s.rows, s.cols, cfg3.group_size);
    require_ok(a3);
    CHECK(a3.info.factor_reused == 1);
    CHECK(a3.n_groups == 2);
    for (uint8_t c : a3.codes) CHECK(c <= 7);

    Ctx fresh(s.cols, cfg3);
    REQUIRE(harness::add_batches(fresh.ctx, p.x_q, fp, s.cols, {120, s.tokens - 120}) ==
            GPTAQ_OK);
    const auto f3 = harness::solve(fresh.ctx, p.weight, s.rows, s.cols, cfg3.group_size);
    require_ok(f3);
    check_identical(a3, f3);

    // Turning act-order off changes the factor: it is recomputed, and the result again
    // equals a fresh context's.
    gptaq_config cfg_noact = cfg3;
    cfg_noact.act_order = 0;
    REQUIRE(gptaq_ctx_set_config(ctx.ctx, &cfg_noact) == GPTAQ_OK);
    const auto n1 = harness::solve(ctx.ctx, p.weight, s.rows, s.cols, cfg3.group_size);
    require_ok(n1);
    CHECK(n1.info.factor_reused == 0);
    Ctx fresh2(s.cols, cfg_noact);
    REQUIRE(harness::add_batches(fresh2.ctx, p.x_q, fp, s.cols, {120, s.tokens - 120}) ==
            GPTAQ_OK);
    const auto n2 = harness::solve(fresh2.ctx, p.weight, s.rows, s.cols, cfg3.group_size);
    require_ok(n2);
    check_identical(n1, n2);

    // Switching the method family is refused, and the old configuration stays.
    gptaq_config other = cfg3;
    other.method = method == GPTAQ_METHOD_GPTAQ ? GPTAQ_METHOD_GPTQ : GPTAQ_METHOD_GPTAQ;
    CHECK(gptaq_ctx_set_config(ctx.ctx, &other) == GPTAQ_ERR_INVALID_ARGUMENT);
    CHECK(std::strlen(gptaq_ctx_errmsg(ctx.ctx)) > 0);
    REQUIRE(gptaq_ctx_get_config(ctx.ctx, &back) == GPTAQ_OK);
    CHECK(back.method == method);
    CHECK(back.act_order == 0);
  }
}

TEST_CASE("batching: a rank-deficient Hessian with tiny damping retries or solves cleanly") {
  // 24 tokens for 64 columns, every channel duplicated (columns 2k and 2k+1 equal): H has
  // rank <= 24, and damping of 1e-7 * mean(diag) is below fp32 rounding of H.
  const int64_t cols = 64, tokens = 24, rows = 16;
  problems::Rng rng(2024);
  std::vector<float> xq(size_t(tokens * cols)), xfp(size_t(tokens * cols));
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t c = 0; c < cols; c += 2) {
      const float v = float(rng.normal());
      xq[size_t(t * cols + c)] = xq[size_t(t * cols + c + 1)] = v;
      xfp[size_t(t * cols + c)] = xfp[size_t(t * cols + c + 1)] = v + 0.05f * float(rng.normal());
    }
  std::vector<float> w(size_t(rows * cols));
  for (auto &v : w) v = float(0.02 * rng.normal());

  for (int method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ}) {
    INFO("method ", method);
    const bool aq = method == GPTAQ_METHOD_GPTAQ;
    gptaq_config cfg = base_config(method);
    cfg.damp_percent = 1e-7f;
    cfg.damp_retries = 8;
    Ctx ctx(cols, cfg);
    REQUIRE(gptaq_add_batch(ctx.ctx, xq.data(), aq ? xfp.data() : nullptr, tokens,
                            GPTAQ_DTYPE_F32) == GPTAQ_OK);
    const auto o = harness::solve(ctx.ctx, w, rows, cols, cfg.group_size);
    require_ok(o);
    MESSAGE("method ", method, ": damp_retries ", o.info.damp_retries, ", damp_used ",
            o.info.damp_used, ", loss ", o.info.loss);
    CHECK(o.info.damp_retries >= 0);
    CHECK(o.info.damp_retries <= cfg.damp_retries);
    CHECK(double(o.info.damp_used) ==
          doctest::Approx(1e-7 * std::pow(10.0, o.info.damp_retries)).epsilon(1e-5));
    CHECK(std::isfinite(o.info.loss));
    CHECK(all_finite(o.dequant));
    CHECK(all_finite(o.scales));
    std::string what;
    CHECK(harness::consistency_violations(o, rows, cols, cfg.bits, cfg.sym != 0, &what) == 0);

    // Without retries the same problem either solves cleanly or fails with the documented
    // status and a message, and the context stays usable.
    gptaq_config none = cfg;
    none.damp_retries = 0;
    Ctx ctx0(cols, none);
    REQUIRE(gptaq_add_batch(ctx0.ctx, xq.data(), aq ? xfp.data() : nullptr, tokens,
                            GPTAQ_DTYPE_F32) == GPTAQ_OK);
    const auto o0 = harness::solve(ctx0.ctx, w, rows, cols, none.group_size);
    if (o.info.damp_retries > 0) {
      CHECK(o0.status == GPTAQ_ERR_NOT_POSITIVE_DEFINITE);
      CHECK(!o0.errmsg.empty());
      REQUIRE(gptaq_ctx_set_config(ctx0.ctx, &cfg) == GPTAQ_OK);
      const auto o1 = harness::solve(ctx0.ctx, w, rows, cols, cfg.group_size);
      require_ok(o1);
      check_identical(o, o1);
    } else {
      require_ok(o0);
      CHECK(all_finite(o0.dequant));
    }
  }
}

TEST_CASE("batching: all-zero calibration makes every column dead") {
  // H = 0: every column is dead, the weight is zeroed, and each row's grid is the
  // [-1, 1] fallback with every code at the zero point. Checked against the reference.
  const int64_t cols = 40, rows = 8, tokens = 16;
  std::vector<float> x(size_t(tokens * cols), 0.0f);
  problems::Rng rng(7);
  std::vector<float> w(size_t(rows * cols));
  for (auto &v : w) v = float(rng.normal());
  for (int sym : {1, 0}) {
    gptaq_config cfg = base_config(GPTAQ_METHOD_GPTQ);
    cfg.sym = sym;
    cfg.group_size = 16;
    cfg.block_size = 16;
    Ctx ctx(cols, cfg);
    REQUIRE(gptaq_add_batch(ctx.ctx, x.data(), nullptr, tokens, GPTAQ_DTYPE_F32) == GPTAQ_OK);
    const auto o = harness::solve(ctx.ctx, w, rows, cols, cfg.group_size);
    require_ok(o);
    for (float d : o.dequant) CHECK(d == 0.0f);
    CHECK(o.info.loss == 0.0);

    ref::Stats st(cols);
    st.add(x.data(), nullptr, tokens);
    ref::SolveConfig rc;
    rc.q.bits = cfg.bits;
    rc.q.sym = sym;
    rc.group_size = cfg.group_size;
    rc.act_order = cfg.act_order;
    rc.block_size = cfg.block_size;
    const ref::Result want = ref::solve(w.data(), rows, cols, ref::prepare(st, rc), rc);
    REQUIRE(want.ok);
    CHECK(o.g_idx == want.g_idx);
    for (size_t k = 0; k < o.scales.size(); ++k) {
      CHECK(o.scales[k] == doctest::Approx(want.scales[k]).epsilon(1e-6));
      // Asymmetric: zero = round(1 / (2 / maxq)) = round(7.5) exactly on a tie, which fp64
      // rounds to 8 and fp32 (1 / fl32(2/15) = 7.4999996) to 7; symmetric: always 8.
      if (sym)
        CHECK(o.zeros[k] == 8.0f);
      else
        CHECK((o.zeros[k] == 7.0f || o.zeros[k] == 8.0f));
    }
    // Every code is its group's zero point (the weight was zeroed).
    const int64_t ng = o.n_groups;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        CHECK(float(o.codes[size_t(r * cols + c)]) ==
              o.zeros[size_t(r * ng + o.g_idx[size_t(c)])]);
  }
}
