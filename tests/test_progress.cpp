// Progress reports, cancellation and log messages of long calls (gptaq_ctx_set_progress,
// gptaq_ctx_set_log): the phases, rates and totals reported, and that a cancellation at
// any report of any phase leaves the statistics (compared as serialized bytes) and the
// cached factorization exactly as they were, for GPTQ, GPTAQ and GPTQT binary coding.
#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gptaq/gptaq.h"
#include "hardening_util.h"

using hard::Ctx;

namespace {

struct Report {
  int32_t phase;
  int64_t done, total;
};

// Records every report; cancels at report number cancel_at (counted from 0) of phase
// cancel_phase (-1: never).
struct Recorder {
  std::vector<Report> reports;
  int32_t cancel_phase = -1;
  int64_t cancel_at = 0;
  int64_t seen_in_phase = 0;
  bool cancelled = false;

  static int32_t fn(void *user, int32_t phase, int64_t done, int64_t total) {
    auto *r = static_cast<Recorder *>(user);
    r->reports.push_back({phase, done, total});
    if (phase == r->cancel_phase && !r->cancelled) {
      if (r->seen_in_phase++ == r->cancel_at) {
        r->cancelled = true;
        return 1;
      }
    }
    return 0;
  }
  std::vector<Report> of(int32_t phase) const {
    std::vector<Report> out;
    for (const Report &r : reports)
      if (r.phase == phase) out.push_back(r);
    return out;
  }
};

struct Logs {
  std::vector<std::pair<int32_t, std::string>> msgs;
  static void fn(void *user, int32_t level, const char *m) {
    static_cast<Logs *>(user)->msgs.emplace_back(level, m);
  }
  bool has(int32_t level, const char *needle) const {
    for (const auto &m : msgs)
      if (m.first == level && m.second.find(needle) != std::string::npos) return true;
    return false;
  }
};

std::vector<float> randn(int64_t count, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(count));
  for (float &x : v) x = d(rng);
  return v;
}

std::vector<uint8_t> serialized(gptaq_ctx *ctx) {
  int64_t size = 0;
  REQUIRE(gptaq_stats_serialized_size(ctx, &size) == GPTAQ_OK);
  std::vector<uint8_t> b(static_cast<size_t>(size));
  int64_t written = 0;
  REQUIRE(gptaq_stats_serialize(ctx, b.data(), size, &written) == GPTAQ_OK);
  REQUIRE(written == size);
  return b;
}

struct Solved {
  int32_t status = GPTAQ_OK;
  std::vector<uint8_t> codes;
  std::vector<float> p1, p2;
  gptaq_solve_info info{};
};

Solved solve_any(gptaq_ctx *ctx, const std::vector<float> &w, int64_t rows, int64_t n) {
  gptaq_config cfg;
  gptaq_config_init(&cfg, sizeof cfg);
  REQUIRE(gptaq_ctx_get_config(ctx, &cfg) == GPTAQ_OK);
  const int64_t G = gptaq_num_groups(n, cfg.group_size);
  const bool binary = cfg.quantizer == GPTAQ_QUANTIZER_BINARY;
  Solved s;
  s.codes.assign(size_t(rows * n), 0);
  s.p1.assign(size_t(rows * G * (binary ? cfg.bits : 1)), 0.0f);
  s.p2.assign(size_t(rows * G), 0.0f);
  s.info.struct_size = sizeof s.info;
  s.status = binary ? gptaq_solve_binary(ctx, w.data(), rows, n, s.codes.data(), s.p1.data(),
                                         s.p2.data(), nullptr, nullptr, &s.info)
                    : gptaq_solve(ctx, w.data(), rows, n, s.codes.data(), s.p1.data(),
                                  s.p2.data(), nullptr, nullptr, &s.info);
  return s;
}

gptaq_config cfg_for(const char *which) {
  const std::string w = which;
  gptaq_config c = hard::config(w == "gptaq" ? GPTAQ_METHOD_GPTAQ : GPTAQ_METHOD_GPTQ, 4, 32);
  c.block_size = 16;
  c.act_order = 1;
  if (w == "binary") {
    c.quantizer = GPTAQ_QUANTIZER_BINARY;
    c.bits = 2;
    c.explore_split = 4;
  }
  return c;
}

void check_phase(const std::vector<Report> &r, int64_t total) {
  REQUIRE(!r.empty());
  CHECK(r.front().done == 0);
  CHECK(r.back().done == total);
  for (size_t i = 0; i < r.size(); ++i) {
    CHECK(r[i].total == total);
    if (i) CHECK(r[i].done >= r[i - 1].done);
  }
  CHECK(r.size() <= 258);
}

}  // namespace

TEST_CASE("progress: phases, monotone done, final done == total, bounded rate") {
  const int64_t n = 256, rows = 24, T = 3000;
  for (const char *which : {"gptq", "gptaq", "binary"}) {
    CAPTURE(which);
    gptaq_config cfg = cfg_for(which);
    const bool cross = cfg.method == GPTAQ_METHOD_GPTAQ;
    Ctx ctx = hard::make(n, cfg);
    REQUIRE(ctx);
    Recorder rec;
    Logs logs;
    REQUIRE(gptaq_ctx_set_progress(ctx.get(), &Recorder::fn, &rec) == GPTAQ_OK);
    REQUIRE(gptaq_ctx_set_log(ctx.get(), &Logs::fn, &logs) == GPTAQ_OK);
    CHECK(logs.has(GPTAQ_LOG_INFO, "CPU backend"));
    const auto x = randn(T * n, 1), xf = randn(T * n, 2);
    REQUIRE(gptaq_add_batch(ctx.get(), x.data(), cross ? xf.data() : nullptr, T, 0) == 0);
    check_phase(rec.of(GPTAQ_PHASE_STATISTICS), T);
    CHECK(rec.reports.size() == rec.of(GPTAQ_PHASE_STATISTICS).size());

    rec.reports.clear();
    const auto w = randn(rows * n, 3, 0.05f);
    Solved s = solve_any(ctx.get(), w, rows, n);
    REQUIRE(s.status == GPTAQ_OK);
    CHECK(s.info.factor_reused == 0);
    const auto f = rec.of(GPTAQ_PHASE_FACTORIZATION);
    check_phase(f, n);
    CHECK(f.size() == 2);
    const bool binary = cfg.quantizer == GPTAQ_QUANTIZER_BINARY;
    const auto sw = rec.of(GPTAQ_PHASE_SWEEP);
    check_phase(sw, binary ? 2 * n : n);
    // One report per block of 16 columns (the last is the end of the phase), the start,
    // and for GPTQT the end of the search.
    CHECK(sw.size() == size_t(n / 16 + 1 + (binary ? 1 : 0)));
    check_phase(rec.of(GPTAQ_PHASE_PACKING), rows);
    // Phases come in order.
    for (size_t i = 1; i < rec.reports.size(); ++i)
      CHECK(rec.reports[i].phase >= rec.reports[i - 1].phase);

    rec.reports.clear();
    s = solve_any(ctx.get(), w, rows, n);
    REQUIRE(s.status == GPTAQ_OK);
    CHECK(s.info.factor_reused == 1);
    CHECK(rec.of(GPTAQ_PHASE_FACTORIZATION).empty());
    CHECK(logs.has(GPTAQ_LOG_INFO, "reusing the cached factorization"));

    // Clearing the callbacks stops the calls.
    REQUIRE(gptaq_ctx_set_progress(ctx.get(), nullptr, nullptr) == GPTAQ_OK);
    REQUIRE(gptaq_ctx_set_log(ctx.get(), nullptr, nullptr) == GPTAQ_OK);
    rec.reports.clear();
    logs.msgs.clear();
    REQUIRE(solve_any(ctx.get(), w, rows, n).status == GPTAQ_OK);
    CHECK(rec.reports.empty());
    CHECK(logs.msgs.empty());
  }
}

TEST_CASE("progress: the sweep's rate stays bounded with block size 1") {
  const int64_t n = 1024, rows = 2, T = 2048;
  gptaq_config cfg = hard::config(GPTAQ_METHOD_GPTQ, 4, 128);
  cfg.block_size = 1;
  Ctx ctx = hard::make(n, cfg);
  REQUIRE(ctx);
  const auto x = randn(T * n, 4);
  REQUIRE(gptaq_add_batch(ctx.get(), x.data(), nullptr, T, 0) == 0);
  Recorder rec;
  REQUIRE(gptaq_ctx_set_progress(ctx.get(), &Recorder::fn, &rec) == GPTAQ_OK);
  REQUIRE(solve_any(ctx.get(), randn(rows * n, 5), rows, n).status == GPTAQ_OK);
  const auto sw = rec.of(GPTAQ_PHASE_SWEEP);
  check_phase(sw, n);
  CHECK(sw.size() >= 200);
}

TEST_CASE("progress: a big batch reports per chunk; masked batches count every token") {
  const int64_t n = 1024, T = 5000;  // chunks of 2048 tokens at this width
  for (const char *which : {"gptq", "gptaq"}) {
    CAPTURE(which);
    gptaq_config cfg = cfg_for(which);
    const bool cross = cfg.method == GPTAQ_METHOD_GPTAQ;
    Ctx ctx = hard::make(n, cfg), plain = hard::make(n, cfg);
    REQUIRE(ctx);
    REQUIRE(plain);
    Recorder rec;
    REQUIRE(gptaq_ctx_set_progress(ctx.get(), &Recorder::fn, &rec) == GPTAQ_OK);
    const auto x = randn(T * n, 6), xf = randn(T * n, 7);
    std::vector<uint8_t> mask(size_t(T), 1);
    for (int64_t t = 0; t < T; t += 3) mask[size_t(t)] = 0;
    REQUIRE(gptaq_add_batch_masked(ctx.get(), x.data(), cross ? xf.data() : nullptr, T, 0,
                                   mask.data()) == 0);
    REQUIRE(gptaq_add_batch_masked(plain.get(), x.data(), cross ? xf.data() : nullptr, T, 0,
                                   mask.data()) == 0);
    const auto st = rec.of(GPTAQ_PHASE_STATISTICS);
    check_phase(st, T);
    CHECK(st.size() == 4);  // 0, 2048, 4096, 5000
    CHECK(gptaq_ctx_num_tokens(ctx.get()) == T - (T + 2) / 3);
    // A callback does not change the statistics.
    CHECK(serialized(ctx.get()) == serialized(plain.get()));
  }
}

TEST_CASE("cancel during statistics: the statistics are bit-identical, the factor kept") {
  const int64_t n = 1024, T1 = 700, T2 = 5000, rows = 8;
  for (const char *which : {"gptq", "gptaq", "binary"}) {
    gptaq_config cfg = cfg_for(which);
    const bool cross = cfg.method == GPTAQ_METHOD_GPTAQ;
    const auto x1 = randn(T1 * n, 10), f1 = randn(T1 * n, 11);
    const auto x2 = randn(T2 * n, 12), f2 = randn(T2 * n, 13);
    const auto w = randn(rows * n, 14, 0.05f);
    // The uncancelled run: batch 1 only.
    Ctx ref = hard::make(n, cfg);
    REQUIRE(ref);
    REQUIRE(gptaq_add_batch(ref.get(), x1.data(), cross ? f1.data() : nullptr, T1, 0) == 0);
    const Solved want = solve_any(ref.get(), w, rows, n);
    REQUIRE(want.status == GPTAQ_OK);
    for (int64_t at : {0, 1, 2, 3}) {  // start, two chunks, the final report
      for (bool cached : {false, true}) {
        CAPTURE(which);
        CAPTURE(at);
        CAPTURE(cached);
        Ctx ctx = hard::make(n, cfg);
        REQUIRE(ctx);
        REQUIRE(gptaq_add_batch(ctx.get(), x1.data(), cross ? f1.data() : nullptr, T1, 0) == 0);
        if (cached) REQUIRE(solve_any(ctx.get(), w, rows, n).status == GPTAQ_OK);
        const auto before = serialized(ctx.get());
        Recorder rec;
        rec.cancel_phase = GPTAQ_PHASE_STATISTICS;
        rec.cancel_at = at;
        REQUIRE(gptaq_ctx_set_progress(ctx.get(), &Recorder::fn, &rec) == GPTAQ_OK);
        CHECK(gptaq_add_batch(ctx.get(), x2.data(), cross ? f2.data() : nullptr, T2, 0) ==
              GPTAQ_ERR_CANCELLED);
        CHECK(rec.cancelled);
        CHECK(std::string(gptaq_ctx_errmsg(ctx.get())).find("cancelled") != std::string::npos);
        CHECK(gptaq_ctx_num_tokens(ctx.get()) == T1);
        CHECK(serialized(ctx.get()) == before);
        const Solved got = solve_any(ctx.get(), w, rows, n);
        REQUIRE(got.status == GPTAQ_OK);
        CHECK(got.info.factor_reused == (cached ? 1 : 0));
        CHECK(got.codes == want.codes);
        CHECK(got.p1 == want.p1);
        CHECK(got.p2 == want.p2);
        // The context goes on normally: the batch can be added after all.
        rec.cancel_phase = -1;
        REQUIRE(gptaq_add_batch(ctx.get(), x2.data(), cross ? f2.data() : nullptr, T2, 0) == 0);
        CHECK(gptaq_ctx_num_tokens(ctx.get()) == T1 + T2);
      }
    }
  }
}

TEST_CASE("cancel during factorization, sweep or packing: statistics and factor unchanged") {
  const int64_t n = 256, rows = 24, T = 2000;
  for (const char *which : {"gptq", "gptaq", "binary"}) {
    gptaq_config cfg = cfg_for(which);
    const bool cross = cfg.method == GPTAQ_METHOD_GPTAQ;
    const auto x = randn(T * n, 20), xf = randn(T * n, 21);
    const auto w = randn(rows * n, 22, 0.05f), w2 = randn(rows * n, 23, 0.05f);
    Ctx ref = hard::make(n, cfg);
    REQUIRE(ref);
    REQUIRE(gptaq_add_batch(ref.get(), x.data(), cross ? xf.data() : nullptr, T, 0) == 0);
    const Solved want = solve_any(ref.get(), w, rows, n);
    REQUIRE(want.status == GPTAQ_OK);
    struct Case {
      int32_t phase;
      int64_t at;
    };
    const Case cases[] = {{GPTAQ_PHASE_FACTORIZATION, 0}, {GPTAQ_PHASE_FACTORIZATION, 1},
                          {GPTAQ_PHASE_SWEEP, 0},         {GPTAQ_PHASE_SWEEP, 5},
                          {GPTAQ_PHASE_SWEEP, 1000},      {GPTAQ_PHASE_PACKING, 0},
                          {GPTAQ_PHASE_PACKING, 1}};
    for (const Case &c : cases)
      for (bool cached : {false, true}) {
        if (cached && c.phase == GPTAQ_PHASE_FACTORIZATION) continue;  // nothing to factor
        CAPTURE(which);
        CAPTURE(c.phase);
        CAPTURE(c.at);
        CAPTURE(cached);
        Ctx ctx = hard::make(n, cfg);
        REQUIRE(ctx);
        REQUIRE(gptaq_add_batch(ctx.get(), x.data(), cross ? xf.data() : nullptr, T, 0) == 0);
        // A cached factor from another weight of the same layer (q/k/v share it).
        if (cached) REQUIRE(solve_any(ctx.get(), w2, rows, n).status == GPTAQ_OK);
        const auto before = serialized(ctx.get());
        Recorder rec;
        rec.cancel_phase = c.phase;
        // 1000: the last report of the sweep, whatever its count.
        rec.cancel_at = c.at;
        if (c.at == 1000) {
          Recorder count;
          Ctx probe = hard::make(n, cfg);
          REQUIRE(gptaq_add_batch(probe.get(), x.data(), cross ? xf.data() : nullptr, T, 0) == 0);
          REQUIRE(gptaq_ctx_set_progress(probe.get(), &Recorder::fn, &count) == GPTAQ_OK);
          REQUIRE(solve_any(probe.get(), w, rows, n).status == GPTAQ_OK);
          rec.cancel_at = int64_t(count.of(c.phase).size()) - 1;
        }
        REQUIRE(gptaq_ctx_set_progress(ctx.get(), &Recorder::fn, &rec) == GPTAQ_OK);
        const Solved bad = solve_any(ctx.get(), w, rows, n);
        CHECK(bad.status == GPTAQ_ERR_CANCELLED);
        CHECK(rec.cancelled);
        CHECK(serialized(ctx.get()) == before);
        // The same context solves normally afterwards, to the same answer, and reuses
        // the factorization exactly when one was cached before the cancelled call.
        const Solved got = solve_any(ctx.get(), w, rows, n);
        REQUIRE(got.status == GPTAQ_OK);
        CHECK(got.info.factor_reused == (cached ? 1 : 0));
        CHECK(got.codes == want.codes);
        CHECK(got.p1 == want.p1);
        CHECK(got.p2 == want.p2);
        CHECK(got.info.loss == want.info.loss);
      }
  }
}

TEST_CASE("progress: RTN reports the sweep and packing, no factorization") {
  const int64_t n = 128, rows = 4;
  Ctx ctx = hard::make(n, hard::config(GPTAQ_METHOD_RTN, 4, 32));
  REQUIRE(ctx);
  Recorder rec;
  REQUIRE(gptaq_ctx_set_progress(ctx.get(), &Recorder::fn, &rec) == GPTAQ_OK);
  REQUIRE(solve_any(ctx.get(), randn(rows * n, 30), rows, n).status == GPTAQ_OK);
  CHECK(rec.of(GPTAQ_PHASE_FACTORIZATION).empty());
  check_phase(rec.of(GPTAQ_PHASE_SWEEP), n);
  check_phase(rec.of(GPTAQ_PHASE_PACKING), rows);
}

TEST_CASE("log: damping retries are reported as warnings") {
  const int64_t n = 8, rows = 2;
  for (int32_t method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ}) {
    CAPTURE(method);
    gptaq_config cfg = hard::config(method, 4, -1);
    cfg.damp_percent = 0.01f;
    cfg.damp_retries = 4;
    Ctx ctx = hard::make(n, cfg);
    REQUIRE(ctx);
    Logs logs;
    REQUIRE(gptaq_ctx_set_log(ctx.get(), &Logs::fn, &logs) == GPTAQ_OK);
    // An indefinite "Hessian" written through the all-reduce buffers: H = I except
    // H[0][1] = H[1][0] = 3 (eigenvalue -2), so relative damping 0.01, 0.1 and 1 fail
    // and 10 succeeds: three retries.
    gptaq_stats_buffers b;
    b.struct_size = sizeof b;
    REQUIRE(gptaq_stats_buffers_get(ctx.get(), &b) == GPTAQ_OK);
    for (int64_t i = 0; i < n; ++i) b.xx[i * n + i] = 1.0f;
    b.xx[1] = b.xx[n] = 3.0f;
    *b.tokens = 2.0;  // H = (2 / tokens) xx = xx
    REQUIRE(gptaq_stats_commit(ctx.get()) == GPTAQ_OK);
    const Solved s = solve_any(ctx.get(), randn(rows * n, 31), rows, n);
    REQUIRE(s.status == GPTAQ_OK);
    CHECK(s.info.damp_retries == 3);
    CHECK(logs.has(GPTAQ_LOG_WARN, "retry 1 of 4"));
    CHECK(logs.has(GPTAQ_LOG_WARN, "retry 3 of 4"));
    CHECK(!logs.has(GPTAQ_LOG_WARN, "retry 4 of 4"));
    CHECK(logs.has(GPTAQ_LOG_WARN, "needed 3 damping retries"));
    CHECK(logs.has(GPTAQ_LOG_DEBUG, "factorization"));
    for (const auto &m : logs.msgs) {
      CHECK(!m.second.empty());
      CHECK(m.second.back() != '\n');
    }
  }
}

TEST_CASE("progress and log setters: NULL context") {
  CHECK(gptaq_ctx_set_progress(nullptr, nullptr, nullptr) == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(gptaq_ctx_set_log(nullptr, nullptr, nullptr) == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(std::string(gptaq_status_string(GPTAQ_ERR_CANCELLED)) == "cancelled");
}
