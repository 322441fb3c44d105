// Statistics exchange: in-place buffer access (all-reduce), commit, merge, and the
// statistics file / byte format (save, load, serialize, deserialize, file_info), with
// every refusal path leaving the context untouched.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "gptaq/gptaq.h"
#include "hardening_util.h"

using hard::Ctx;

namespace {

// An independent, bitwise CRC-32 (IEEE, reflected), to check the documented format.
uint32_t crc32_ref(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (0xEDB88320u ^ (c >> 1)) : (c >> 1);
  }
  return ~c;
}

uint32_t rd32(const std::vector<uint8_t> &b, size_t off) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t(b[off + i]) << (8 * i);
  return v;
}
uint64_t rd64(const std::vector<uint8_t> &b, size_t off) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(b[off + i]) << (8 * i);
  return v;
}
void wr32(std::vector<uint8_t> &b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = uint8_t(v >> (8 * i));
}
// Recompute the header checksum after editing a header field.
void reseal_header(std::vector<uint8_t> &b) { wr32(b, 60, crc32_ref(b.data(), 60)); }
void reseal_payload(std::vector<uint8_t> &b) {
  wr32(b, 48, crc32_ref(b.data() + 64, b.size() - 64));
  reseal_header(b);
}

struct Filled {
  Ctx ctx;
  std::vector<float> xq, xfp;
};

Filled filled(int64_t cols, int32_t method, int64_t tokens, uint64_t seed) {
  Filled f;
  f.ctx = hard::make(cols, hard::config(method));
  f.xq = hard::activations(tokens, cols, seed);
  if (method == GPTAQ_METHOD_GPTAQ) {
    f.xfp = f.xq;
    hard::Rng r(seed + 100);
    for (auto &v : f.xfp) v += 0.05f * r.sym();
  }
  if (f.ctx)
    gptaq_add_batch(f.ctx.get(), f.xq.data(), f.xfp.empty() ? nullptr : f.xfp.data(), tokens,
                    GPTAQ_DTYPE_F32);
  return f;
}

gptaq_stats_buffers buffers(gptaq_ctx *ctx) {
  gptaq_stats_buffers b;
  std::memset(&b, 0, sizeof b);
  b.struct_size = sizeof b;
  REQUIRE(gptaq_stats_buffers_get(ctx, &b) == GPTAQ_OK);
  return b;
}

}  // namespace

TEST_CASE("stats buffers expose the raw sums in host memory on the CPU") {
  const int64_t n = 24, T = 50;
  for (int32_t method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ}) {
    CAPTURE(method);
    Filled f = filled(n, method, T, 7);
    REQUIRE(f.ctx);
    gptaq_stats_buffers b = buffers(f.ctx.get());
    CHECK(b.struct_size == int32_t(sizeof b));
    CHECK(b.backend == GPTAQ_BACKEND_CPU);
    CHECK(b.has_cross == (method == GPTAQ_METHOD_GPTAQ ? 1 : 0));
    REQUIRE(b.xx);
    REQUIRE(b.xsum);
    REQUIRE(b.tokens);
    CHECK(*b.tokens == double(T));
    CHECK((b.dx != nullptr) == (method == GPTAQ_METHOD_GPTAQ));
    // Compare with float64 sums.
    double worst = 0.0;
    for (int64_t a = 0; a < n; ++a)
      for (int64_t c = 0; c < n; ++c) {
        double s = 0.0, d = 0.0;
        for (int64_t t = 0; t < T; ++t) {
          s += double(f.xq[t * n + a]) * f.xq[t * n + c];
          if (b.dx) d += (double(f.xfp[t * n + a]) - f.xq[t * n + a]) * f.xq[t * n + c];
        }
        worst = std::max(worst, std::fabs(s - b.xx[a * n + c]) / (1.0 + std::fabs(s)));
        if (b.dx) worst = std::max(worst, std::fabs(d - b.dx[a * n + c]) / (1.0 + std::fabs(d)));
        CHECK(b.xx[a * n + c] == b.xx[c * n + a]);  // full symmetric
      }
    CHECK(worst < 1e-5);
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t t = 0; t < T; ++t) s += f.xq[t * n + j];
      CHECK(b.xsum[j] == doctest::Approx(s).epsilon(1e-9));
    }
  }
}

TEST_CASE("stats buffers: argument errors") {
  Filled f = filled(8, GPTAQ_METHOD_GPTQ, 10, 1);
  gptaq_stats_buffers b;
  CHECK(gptaq_stats_buffers_get(nullptr, &b) == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(gptaq_stats_buffers_get(f.ctx.get(), nullptr) == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(std::string(gptaq_ctx_errmsg(f.ctx.get())).find("NULL") != std::string::npos);
  b.struct_size = 0;
  CHECK(gptaq_stats_buffers_get(f.ctx.get(), &b) == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(std::string(gptaq_ctx_errmsg(f.ctx.get())).find("struct_size") != std::string::npos);
  CHECK(gptaq_stats_commit(nullptr) == GPTAQ_ERR_INVALID_ARGUMENT);
  // A smaller (older) struct gets only its prefix written.
  struct {
    int32_t struct_size, backend;
    int32_t guard;
  } small = {8, -5, 12345};
  CHECK(gptaq_stats_buffers_get(f.ctx.get(), reinterpret_cast<gptaq_stats_buffers *>(&small)) ==
        GPTAQ_OK);
  CHECK(small.struct_size == 8);
  CHECK(small.backend == GPTAQ_BACKEND_CPU);
  CHECK(small.guard == 12345);
}

TEST_CASE("simulated all-reduce through the buffers equals one context on all tokens") {
  // Dyadic data: fp32 sums are exact, so the reduction order cannot matter and the
  // codes must be identical.
  const int64_t n = 48, rows = 16, T = 96;
  for (int32_t method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ}) {
    CAPTURE(method);
    const bool cross = method == GPTAQ_METHOD_GPTAQ;
    std::vector<float> xq = hard::dyadic(T, n, 3), xfp = hard::dyadic(T, n, 4);
    const gptaq_config cfg = hard::config(method);
    Ctx whole = hard::make(n, cfg);
    const int R = 3;
    std::vector<Ctx> rank;
    for (int r = 0; r < R; ++r) rank.push_back(hard::make(n, cfg));
    REQUIRE(gptaq_add_batch(whole.get(), xq.data(), cross ? xfp.data() : nullptr, T,
                            GPTAQ_DTYPE_F32) == GPTAQ_OK);
    // Uneven shards: rank r takes tokens [r*T/R, (r+1)*T/R) minus a few.
    const int64_t cut[R + 1] = {0, 20, 61, T};
    for (int r = 0; r < R; ++r)
      REQUIRE(gptaq_add_batch(rank[r].get(), xq.data() + cut[r] * n,
                              cross ? xfp.data() + cut[r] * n : nullptr, cut[r + 1] - cut[r],
                              GPTAQ_DTYPE_F32) == GPTAQ_OK);
    // All-reduce (sum) into every rank's buffers, as MPI_Allreduce would.
    std::vector<gptaq_stats_buffers> b;
    for (int r = 0; r < R; ++r) b.push_back(buffers(rank[r].get()));
    std::vector<float> sxx(size_t(n * n), 0.0f), sdx(size_t(n * n), 0.0f);
    std::vector<double> sxs(size_t(n), 0.0);
    double st = 0.0;
    for (int r = 0; r < R; ++r) {
      for (int64_t i = 0; i < n * n; ++i) {
        sxx[i] += b[r].xx[i];
        if (cross) sdx[i] += b[r].dx[i];
      }
      for (int64_t j = 0; j < n; ++j) sxs[j] += b[r].xsum[j];
      st += *b[r].tokens;
    }
    for (int r = 0; r < R; ++r) {
      std::memcpy(b[r].xx, sxx.data(), sizeof(float) * n * n);
      if (cross) std::memcpy(b[r].dx, sdx.data(), sizeof(float) * n * n);
      std::memcpy(b[r].xsum, sxs.data(), sizeof(double) * n);
      *b[r].tokens = st;
      REQUIRE(gptaq_stats_commit(rank[r].get()) == GPTAQ_OK);
    }
    CHECK(gptaq_ctx_num_tokens(rank[1].get()) == T);
    CHECK(hard::snapshot(rank[0].get()) == hard::snapshot(whole.get()));
    const std::vector<float> w = hard::weights(rows, n, 5);
    hard::Out ref = hard::solve(whole.get(), w, rows);
    REQUIRE(ref.status == GPTAQ_OK);
    for (int r = 0; r < R; ++r) {
      hard::Out o = hard::solve(rank[r].get(), w, rows);
      REQUIRE(o.status == GPTAQ_OK);
      CHECK(o.codes == ref.codes);
      CHECK(o.scales == ref.scales);
      CHECK(o.zeros == ref.zeros);
    }
  }
}

TEST_CASE("buffer access and commit drop the cached factorization") {
  const int64_t n = 32, rows = 8;
  Filled f = filled(n, GPTAQ_METHOD_GPTQ, 64, 9);
  const std::vector<float> w = hard::weights(rows, n, 2);
  hard::Out a = hard::solve(f.ctx.get(), w, rows);
  REQUIRE(a.status == GPTAQ_OK);
  CHECK(a.info.factor_reused == 0);
  hard::Out b = hard::solve(f.ctx.get(), w, rows);
  CHECK(b.info.factor_reused == 1);
  gptaq_stats_buffers sb = buffers(f.ctx.get());
  hard::Out c = hard::solve(f.ctx.get(), w, rows);
  CHECK(c.info.factor_reused == 0);
  CHECK(c.codes == a.codes);
  // A modification after a solve (e.g. a second reduction) + commit is seen by the next
  // solve: scaling every sum by 4 changes nothing (H is normalized by the token count).
  for (int64_t i = 0; i < n * n; ++i) sb.xx[i] *= 4.0f;
  for (int64_t j = 0; j < n; ++j) sb.xsum[j] *= 4.0;
  *sb.tokens *= 4.0;
  REQUIRE(gptaq_stats_commit(f.ctx.get()) == GPTAQ_OK);
  hard::Out d = hard::solve(f.ctx.get(), w, rows);
  CHECK(d.info.factor_reused == 0);
  CHECK(d.codes == a.codes);
  CHECK(gptaq_ctx_num_tokens(f.ctx.get()) == 256);
  // Doubling only the token count halves H: damping is relative, so still the same
  // codes up to rounding, but the factorization must be recomputed.
  *sb.tokens = 1.0;
  REQUIRE(gptaq_stats_commit(f.ctx.get()) == GPTAQ_OK);
  CHECK(hard::solve(f.ctx.get(), w, rows).info.factor_reused == 0);
}

TEST_CASE("commit re-symmetrizes xx and validates what the caller wrote") {
  const int64_t n = 16;
  Filled f = filled(n, GPTAQ_METHOD_GPTAQ, 40, 11);
  gptaq_stats_buffers b = buffers(f.ctx.get());
  // Rounding asymmetry from a reduction: the lower triangle (row-major) wins.
  const float lower = b.xx[5 * n + 2];
  b.xx[2 * n + 5] = lower * 1.001f + 1.0f;
  REQUIRE(gptaq_stats_commit(f.ctx.get()) == GPTAQ_OK);
  CHECK(b.xx[2 * n + 5] == lower);
  CHECK(b.xx[5 * n + 2] == lower);

  const double t = *b.tokens;
  *b.tokens = -1.0;
  CHECK(gptaq_stats_commit(f.ctx.get()) == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(std::string(gptaq_ctx_errmsg(f.ctx.get())).find("token") != std::string::npos);
  *b.tokens = NAN;
  CHECK(gptaq_stats_commit(f.ctx.get()) == GPTAQ_ERR_INVALID_ARGUMENT);
  *b.tokens = t;

  const float keep = b.xx[3 * n + 1];
  b.xx[3 * n + 1] = INFINITY;
  CHECK(gptaq_stats_commit(f.ctx.get()) == GPTAQ_ERR_NON_FINITE);
  CHECK(std::string(gptaq_ctx_errmsg(f.ctx.get())).find("xx") != std::string::npos);
  b.xx[3 * n + 1] = keep;

  b.dx[7] = NAN;
  CHECK(gptaq_stats_commit(f.ctx.get()) == GPTAQ_ERR_NON_FINITE);
  CHECK(std::string(gptaq_ctx_errmsg(f.ctx.get())).find("dx") != std::string::npos);
  b.dx[7] = 0.0f;

  b.xsum[2] = -INFINITY;
  CHECK(gptaq_stats_commit(f.ctx.get()) == GPTAQ_ERR_NON_FINITE);
  CHECK(std::string(gptaq_ctx_errmsg(f.ctx.get())).find("xsum") != std::string::npos);
  b.xsum[2] = 0.0;

  const float d = b.xx[4 * n + 4];
  b.xx[4 * n + 4] = -1.0f;
  CHECK(gptaq_stats_commit(f.ctx.get()) == GPTAQ_ERR_FORMAT);
  b.xx[4 * n + 4] = d;
  CHECK(gptaq_stats_commit(f.ctx.get()) == GPTAQ_OK);
  CHECK(std::string(gptaq_ctx_errmsg(f.ctx.get())).empty());
}

TEST_CASE("merge: split calibration merges to the whole") {
  const int64_t n = 40, rows = 12, T = 120;
  for (int32_t method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ}) {
    CAPTURE(method);
    const bool cross = method == GPTAQ_METHOD_GPTAQ;
    std::vector<float> xq = hard::dyadic(T, n, 21), xfp = hard::dyadic(T, n, 22);
    const gptaq_config cfg = hard::config(method);
    Ctx whole = hard::make(n, cfg), a = hard::make(n, cfg), b = hard::make(n, cfg);
    REQUIRE(gptaq_add_batch(whole.get(), xq.data(), cross ? xfp.data() : nullptr, T,
                            GPTAQ_DTYPE_F32) == GPTAQ_OK);
    REQUIRE(gptaq_add_batch(a.get(), xq.data(), cross ? xfp.data() : nullptr, 45,
                            GPTAQ_DTYPE_F32) == GPTAQ_OK);
    REQUIRE(gptaq_add_batch(b.get(), xq.data() + 45 * n, cross ? xfp.data() + 45 * n : nullptr,
                            T - 45, GPTAQ_DTYPE_F32) == GPTAQ_OK);
    const std::vector<uint8_t> b_before = hard::snapshot(b.get());
    const std::vector<float> w = hard::weights(rows, n, 23);
    REQUIRE(hard::solve(a.get(), w, rows).status == GPTAQ_OK);  // caches a factor
    REQUIRE(gptaq_stats_merge(a.get(), b.get()) == GPTAQ_OK);
    CHECK(hard::snapshot(b.get()) == b_before);  // src unchanged
    CHECK(gptaq_ctx_num_tokens(a.get()) == T);
    CHECK(hard::snapshot(a.get()) == hard::snapshot(whole.get()));
    hard::Out oa = hard::solve(a.get(), w, rows), ow = hard::solve(whole.get(), w, rows);
    REQUIRE(oa.status == GPTAQ_OK);
    CHECK(oa.info.factor_reused == 0);  // the merge dropped the stale factor
    CHECK(oa.codes == ow.codes);
    CHECK(oa.dequant == ow.dequant);
  }
}

TEST_CASE("merge with general data agrees to fp32 rounding") {
  const int64_t n = 64, T = 300;
  std::vector<float> x = hard::activations(T, n, 31);
  const gptaq_config cfg = hard::config(GPTAQ_METHOD_GPTQ);
  Ctx whole = hard::make(n, cfg), a = hard::make(n, cfg), b = hard::make(n, cfg);
  gptaq_add_batch(whole.get(), x.data(), nullptr, T, GPTAQ_DTYPE_F32);
  gptaq_add_batch(a.get(), x.data(), nullptr, 101, GPTAQ_DTYPE_F32);
  gptaq_add_batch(b.get(), x.data() + 101 * n, nullptr, T - 101, GPTAQ_DTYPE_F32);
  REQUIRE(gptaq_stats_merge(a.get(), b.get()) == GPTAQ_OK);
  gptaq_stats_buffers ba = buffers(a.get()), bw = buffers(whole.get());
  double worst = 0.0;
  for (int64_t i = 0; i < n * n; ++i)
    worst = std::max(worst, double(std::fabs(ba.xx[i] - bw.xx[i])) /
                                (1.0 + std::fabs(double(bw.xx[i]))));
  CHECK(worst < 1e-5);
  CHECK(*ba.tokens == *bw.tokens);
}

TEST_CASE("merge: mismatches are refused and leave dst unchanged") {
  Filled g = filled(16, GPTAQ_METHOD_GPTQ, 30, 1);
  Filled g2 = filled(16, GPTAQ_METHOD_GPTQ, 30, 2);
  Filled q = filled(16, GPTAQ_METHOD_GPTAQ, 30, 3);
  Filled wide = filled(17, GPTAQ_METHOD_GPTQ, 30, 4);
  Filled rtn = filled(16, GPTAQ_METHOD_RTN, 30, 5);
  const std::vector<uint8_t> before = hard::snapshot(g.ctx.get());
  CHECK(gptaq_stats_merge(g.ctx.get(), wide.ctx.get()) == GPTAQ_ERR_SHAPE);
  CHECK(std::string(gptaq_ctx_errmsg(g.ctx.get())).find("17") != std::string::npos);
  CHECK(gptaq_stats_merge(g.ctx.get(), q.ctx.get()) == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(std::string(gptaq_ctx_errmsg(g.ctx.get())).find("GPTAQ") != std::string::npos);
  CHECK(gptaq_stats_merge(q.ctx.get(), g.ctx.get()) == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(gptaq_stats_merge(g.ctx.get(), g.ctx.get()) == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(gptaq_stats_merge(g.ctx.get(), nullptr) == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(gptaq_stats_merge(nullptr, g.ctx.get()) == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(hard::snapshot(g.ctx.get()) == before);
  // RTN and GPTQ keep the same sums: they merge.
  CHECK(gptaq_stats_merge(rtn.ctx.get(), g.ctx.get()) == GPTAQ_OK);
  CHECK(gptaq_ctx_num_tokens(rtn.ctx.get()) == 60);
  CHECK(gptaq_stats_merge(g.ctx.get(), g2.ctx.get()) == GPTAQ_OK);
  CHECK(gptaq_ctx_num_tokens(g.ctx.get()) == 60);
}

TEST_CASE("stats file: save and load round trip, replace and accumulate") {
  const int64_t n = 20, rows = 6;
  for (int32_t method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ}) {
    CAPTURE(method);
    Filled f = filled(n, method, 77, 41);
    const std::string path = hard::temp_path("roundtrip.gstats");
    REQUIRE(gptaq_stats_save(f.ctx.get(), path.c_str()) == GPTAQ_OK);
    const std::vector<uint8_t> file = hard::read_file(path);
    CHECK(file == hard::snapshot(f.ctx.get()));  // the file is the serialized form

    int64_t cols = 0;
    int32_t m = -1, cross = -1;
    double tokens = 0;
    REQUIRE(gptaq_stats_file_info(path.c_str(), &cols, &m, &cross, &tokens) == GPTAQ_OK);
    CHECK(cols == n);
    CHECK(m == method);
    CHECK(cross == (method == GPTAQ_METHOD_GPTAQ));
    CHECK(tokens == 77.0);
    CHECK(gptaq_stats_file_info(path.c_str(), nullptr, nullptr, nullptr, nullptr) == GPTAQ_OK);

    Ctx g = hard::make(n, hard::config(method));
    Filled other = filled(n, method, 5, 99);  // replaced wholesale
    REQUIRE(gptaq_stats_load(other.ctx.get(), path.c_str(), GPTAQ_STATS_REPLACE) == GPTAQ_OK);
    CHECK(hard::snapshot(other.ctx.get()) == file);
    REQUIRE(gptaq_stats_load(g.get(), path.c_str(), GPTAQ_STATS_REPLACE) == GPTAQ_OK);
    const std::vector<float> w = hard::weights(rows, n, 42);
    hard::Out a = hard::solve(f.ctx.get(), w, rows), b = hard::solve(g.get(), w, rows);
    REQUIRE(a.status == GPTAQ_OK);
    REQUIRE(b.status == GPTAQ_OK);
    CHECK(a.codes == b.codes);
    CHECK(a.dequant == b.dequant);

    // Accumulate twice == every sum doubled (exact in binary floating point).
    Ctx acc = hard::make(n, hard::config(method));
    REQUIRE(gptaq_stats_load(acc.get(), path.c_str(), GPTAQ_STATS_ACCUMULATE) == GPTAQ_OK);
    REQUIRE(gptaq_stats_load(acc.get(), path.c_str(), GPTAQ_STATS_ACCUMULATE) == GPTAQ_OK);
    CHECK(gptaq_ctx_num_tokens(acc.get()) == 154);
    gptaq_stats_buffers ba = buffers(acc.get()), bf = buffers(f.ctx.get());
    bool doubled = true;
    for (int64_t i = 0; i < n * n; ++i) doubled &= ba.xx[i] == 2.0f * bf.xx[i];
    if (ba.dx)
      for (int64_t i = 0; i < n * n; ++i) doubled &= ba.dx[i] == 2.0f * bf.dx[i];
    for (int64_t j = 0; j < n; ++j) doubled &= ba.xsum[j] == 2.0 * bf.xsum[j];
    CHECK(doubled);
    std::remove(path.c_str());
  }
}

TEST_CASE("stats file: the documented layout and CRC-32") {
  const uint8_t digits[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  REQUIRE(crc32_ref(digits, 9) == 0xCBF43926u);  // the standard check value
  const int64_t n = 9;
  Filled f = filled(n, GPTAQ_METHOD_GPTAQ, 13, 51);
  std::vector<uint8_t> b = hard::snapshot(f.ctx.get());
  REQUIRE(b.size() == size_t(GPTAQ_STATS_HEADER_BYTES + 4 * n * n * 2 + 8 * n));
  int64_t sz = 0;
  REQUIRE(gptaq_stats_serialized_size(f.ctx.get(), &sz) == GPTAQ_OK);
  CHECK(sz == int64_t(b.size()));
  CHECK(std::memcmp(b.data(), "GPTAQSTS", 8) == 0);
  CHECK(rd32(b, 8) == GPTAQ_STATS_FORMAT_VERSION);
  CHECK(rd32(b, 12) == GPTAQ_STATS_HEADER_BYTES);
  CHECK(int64_t(rd64(b, 16)) == n);
  CHECK(rd32(b, 24) == GPTAQ_METHOD_GPTAQ);
  CHECK(rd32(b, 28) == 1);
  const uint64_t tb = rd64(b, 32);
  double tokens;
  std::memcpy(&tokens, &tb, 8);
  CHECK(tokens == 13.0);
  CHECK(rd64(b, 40) == uint64_t(4 * n * n * 2 + 8 * n));
  CHECK(rd32(b, 48) == crc32_ref(b.data() + 64, b.size() - 64));
  CHECK(rd64(b, 52) == 0);
  CHECK(rd32(b, 60) == crc32_ref(b.data(), 60));
  // Payload: xx row-major, then dx, then xsum.
  gptaq_stats_buffers sb = buffers(f.ctx.get());
  CHECK(std::memcmp(b.data() + 64, sb.xx, 4 * n * n) == 0);
  CHECK(std::memcmp(b.data() + 64 + 4 * n * n, sb.dx, 4 * n * n) == 0);
  CHECK(std::memcmp(b.data() + 64 + 8 * n * n, sb.xsum, 8 * n) == 0);
}

TEST_CASE("stats file: corrupt, truncated and mismatched input is refused, context untouched") {
  const int64_t n = 12;
  Filled f = filled(n, GPTAQ_METHOD_GPTQ, 33, 61);
  const std::vector<uint8_t> good = hard::snapshot(f.ctx.get());
  Filled target = filled(n, GPTAQ_METHOD_GPTQ, 8, 62);
  gptaq_ctx *t = target.ctx.get();
  const std::vector<uint8_t> before = hard::snapshot(t);
  const std::string path = hard::temp_path("bad.gstats");

  auto expect = [&](const std::vector<uint8_t> &bytes, int32_t status, const char *needle) {
    CHECK(gptaq_stats_deserialize(t, bytes.data(), int64_t(bytes.size()),
                                  GPTAQ_STATS_REPLACE) == status);
    const std::string msg = gptaq_ctx_errmsg(t);
    CHECK_MESSAGE(msg.find(needle) != std::string::npos, msg);
    REQUIRE(hard::write_file(path, bytes));
    CHECK(gptaq_stats_load(t, path.c_str(), GPTAQ_STATS_ACCUMULATE) == status);
    CHECK_MESSAGE(std::string(gptaq_ctx_errmsg(t)).find(needle) != std::string::npos,
                  gptaq_ctx_errmsg(t));
    CHECK(hard::snapshot(t) == before);
  };

  SUBCASE("flipped payload byte") {
    for (size_t off : {size_t(64), size_t(64 + 4 * n * n / 2), good.size() - 1}) {
      std::vector<uint8_t> b = good;
      b[off] ^= 0x10;
      expect(b, GPTAQ_ERR_FORMAT, "checksum");
    }
  }
  SUBCASE("flipped header byte") {
    for (size_t off : {size_t(17), size_t(33), size_t(49), size_t(60)}) {
      std::vector<uint8_t> b = good;
      b[off] ^= 0x01;
      expect(b, GPTAQ_ERR_FORMAT, "checksum");
    }
  }
  SUBCASE("bad magic") {
    std::vector<uint8_t> b = good;
    b[0] = 'X';
    expect(b, GPTAQ_ERR_FORMAT, "magic");
  }
  SUBCASE("newer version") {
    std::vector<uint8_t> b = good;
    wr32(b, 8, GPTAQ_STATS_FORMAT_VERSION + 1);
    reseal_header(b);
    expect(b, GPTAQ_ERR_FORMAT, "version");
  }
  SUBCASE("truncated") {
    expect(std::vector<uint8_t>(good.begin(), good.end() - 1), GPTAQ_ERR_FORMAT, "truncated");
    expect(std::vector<uint8_t>(good.begin(), good.begin() + 63), GPTAQ_ERR_FORMAT, "truncated");
    expect(std::vector<uint8_t>(good.begin(), good.begin() + 64), GPTAQ_ERR_FORMAT, "truncated");
    expect(std::vector<uint8_t>(), GPTAQ_ERR_FORMAT, "truncated");
  }
  SUBCASE("trailing bytes") {
    std::vector<uint8_t> b = good;
    b.push_back(0);
    expect(b, GPTAQ_ERR_FORMAT, "bytes");
  }
  SUBCASE("lying sizes with a valid header checksum") {
    std::vector<uint8_t> b = good;
    wr32(b, 40, rd32(b, 40) + 4);
    reseal_header(b);
    expect(b, GPTAQ_ERR_FORMAT, "payload size");
    b = good;
    for (int i = 0; i < 8; ++i) b[16 + i] = 0xff;  // columns = -1
    reseal_header(b);
    expect(b, GPTAQ_ERR_FORMAT, "columns");
    b = good;
    b[16 + 7] = 0x40;  // columns ~ 2^62: sizes overflow
    reseal_header(b);
    expect(b, GPTAQ_ERR_FORMAT, "columns");
    b = good;
    wr32(b, 28, 7);  // has_cross not 0/1
    reseal_header(b);
    expect(b, GPTAQ_ERR_FORMAT, "has_cross");
    b = good;
    wr32(b, 24, GPTAQ_METHOD_GPTAQ);  // method disagrees with has_cross
    reseal_header(b);
    expect(b, GPTAQ_ERR_FORMAT, "disagree");
    b = good;
    const double neg = -3.0;
    std::memcpy(b.data() + 32, &neg, 8);
    reseal_header(b);
    expect(b, GPTAQ_ERR_FORMAT, "token");
  }
  SUBCASE("non-finite statistics with valid checksums") {
    std::vector<uint8_t> b = good;
    const float nan = NAN;
    std::memcpy(b.data() + 64 + 4 * 5, &nan, 4);
    reseal_payload(b);
    expect(b, GPTAQ_ERR_NON_FINITE, "xx");
    b = good;
    const double inf = INFINITY;
    std::memcpy(b.data() + b.size() - 8, &inf, 8);
    reseal_payload(b);
    expect(b, GPTAQ_ERR_NON_FINITE, "xsum");
  }
  SUBCASE("shape and method family mismatches") {
    Filled wide = filled(n + 1, GPTAQ_METHOD_GPTQ, 10, 63);
    expect(hard::snapshot(wide.ctx.get()), GPTAQ_ERR_SHAPE, "columns");
    Filled gq = filled(n, GPTAQ_METHOD_GPTAQ, 10, 64);
    expect(hard::snapshot(gq.ctx.get()), GPTAQ_ERR_INVALID_ARGUMENT, "GPTAQ");
  }
  SUBCASE("argument errors") {
    CHECK(gptaq_stats_deserialize(t, good.data(), int64_t(good.size()), 2) ==
          GPTAQ_ERR_INVALID_ARGUMENT);
    CHECK(gptaq_stats_deserialize(t, nullptr, 10, 0) == GPTAQ_ERR_INVALID_ARGUMENT);
    CHECK(gptaq_stats_deserialize(t, good.data(), -1, 0) == GPTAQ_ERR_INVALID_ARGUMENT);
    CHECK(gptaq_stats_deserialize(nullptr, good.data(), 10, 0) == GPTAQ_ERR_INVALID_ARGUMENT);
    CHECK(gptaq_stats_load(t, nullptr, 0) == GPTAQ_ERR_INVALID_ARGUMENT);
    CHECK(gptaq_stats_save(t, nullptr) == GPTAQ_ERR_INVALID_ARGUMENT);
    CHECK(gptaq_stats_save(nullptr, path.c_str()) == GPTAQ_ERR_INVALID_ARGUMENT);
    CHECK(gptaq_stats_file_info(nullptr, nullptr, nullptr, nullptr, nullptr) ==
          GPTAQ_ERR_INVALID_ARGUMENT);
    int64_t sz = 5;
    CHECK(gptaq_stats_serialized_size(nullptr, &sz) == GPTAQ_ERR_INVALID_ARGUMENT);
    CHECK(sz == 0);
    CHECK(gptaq_stats_serialized_size(t, nullptr) == GPTAQ_ERR_INVALID_ARGUMENT);
    std::vector<uint8_t> small(good.size() - 1);
    int64_t written = 7;
    CHECK(gptaq_stats_serialize(t, small.data(), int64_t(small.size()), &written) ==
          GPTAQ_ERR_SHAPE);
    CHECK(written == 0);
    CHECK(gptaq_stats_serialize(t, nullptr, 1 << 20, &written) == GPTAQ_ERR_INVALID_ARGUMENT);
    CHECK(hard::snapshot(t) == before);
  }
  SUBCASE("I/O errors") {
    const std::string missing = hard::temp_path("does/not/exist.gstats");
    CHECK(gptaq_stats_load(t, missing.c_str(), 0) == GPTAQ_ERR_IO);
    CHECK(std::string(gptaq_ctx_errmsg(t)).find("cannot open") != std::string::npos);
    CHECK(gptaq_stats_file_info(missing.c_str(), nullptr, nullptr, nullptr, nullptr) ==
          GPTAQ_ERR_IO);
    CHECK(std::string(gptaq_last_errmsg()).find("cannot open") != std::string::npos);
    CHECK(gptaq_stats_save(t, missing.c_str()) == GPTAQ_ERR_IO);
    CHECK(gptaq_stats_load(t, "/", 0) != GPTAQ_OK);  // a directory
    CHECK(hard::snapshot(t) == before);
  }
  SUBCASE("file_info refuses what load refuses in the header") {
    std::vector<uint8_t> b = good;
    b[3] ^= 1;
    REQUIRE(hard::write_file(path, b));
    CHECK(gptaq_stats_file_info(path.c_str(), nullptr, nullptr, nullptr, nullptr) ==
          GPTAQ_ERR_FORMAT);
    REQUIRE(hard::write_file(path, std::vector<uint8_t>(good.begin(), good.end() - 3)));
    CHECK(gptaq_stats_file_info(path.c_str(), nullptr, nullptr, nullptr, nullptr) ==
          GPTAQ_ERR_FORMAT);
    CHECK(std::string(gptaq_last_errmsg()).find("truncated") != std::string::npos);
  }
  std::remove(path.c_str());
}

TEST_CASE("stats: saving does not leave temporary files and overwrites atomically") {
  Filled f = filled(6, GPTAQ_METHOD_GPTQ, 9, 71);
  const std::string path = hard::temp_path("atomic.gstats");
  REQUIRE(hard::write_file(path, std::vector<uint8_t>(1000, 0xAB)));
  REQUIRE(gptaq_stats_save(f.ctx.get(), path.c_str()) == GPTAQ_OK);
  CHECK(hard::read_file(path) == hard::snapshot(f.ctx.get()));
  const std::string tmp = path + ".tmp-" + std::to_string(long(getpid()));
  CHECK(hard::read_file(tmp).empty());
  std::FILE *probe = std::fopen(tmp.c_str(), "rb");
  CHECK(probe == nullptr);
  if (probe) std::fclose(probe);
  std::remove(path.c_str());
}

TEST_CASE("stats: a reset context serializes as empty and loads back") {
  Filled f = filled(10, GPTAQ_METHOD_GPTAQ, 20, 81);
  REQUIRE(gptaq_ctx_reset(f.ctx.get()) == GPTAQ_OK);
  std::vector<uint8_t> b = hard::snapshot(f.ctx.get());
  Ctx g = hard::make(10, hard::config(GPTAQ_METHOD_GPTAQ));
  REQUIRE(gptaq_stats_deserialize(g.get(), b.data(), int64_t(b.size()), 0) == GPTAQ_OK);
  CHECK(gptaq_ctx_num_tokens(g.get()) == 0);
  const std::vector<float> w = hard::weights(3, 10, 1);
  CHECK(hard::solve(g.get(), w, 3).status == GPTAQ_ERR_NO_DATA);
}

TEST_CASE("stats exchange on a CUDA context: device buffers, merge and files across backends") {
  const int64_t n = 40, rows = 8, T = 90;
  gptaq_config gcfg = hard::config(GPTAQ_METHOD_GPTAQ);
  gcfg.backend = GPTAQ_BACKEND_CUDA;
  if (!gptaq_backend_available(GPTAQ_BACKEND_CUDA)) {
    gptaq_ctx *none = nullptr;
    CHECK(gptaq_ctx_create(&none, n, &gcfg) == GPTAQ_ERR_BACKEND_UNAVAILABLE);
    MESSAGE("no CUDA device: the device path of the statistics exchange is not exercised");
    return;
  }
  std::vector<float> xq = hard::dyadic(T, n, 91), xfp = hard::dyadic(T, n, 92);
  const gptaq_config ccfg = hard::config(GPTAQ_METHOD_GPTAQ);
  Ctx gpu_a = hard::make(n, gcfg), gpu_b = hard::make(n, gcfg), cpu = hard::make(n, ccfg);
  REQUIRE(gpu_a);
  REQUIRE(gpu_b);
  REQUIRE(gptaq_add_batch(gpu_a.get(), xq.data(), xfp.data(), 50, 0) == GPTAQ_OK);
  REQUIRE(gptaq_add_batch(gpu_b.get(), xq.data() + 50 * n, xfp.data() + 50 * n, T - 50, 0) ==
          GPTAQ_OK);
  REQUIRE(gptaq_add_batch(cpu.get(), xq.data(), xfp.data(), T, 0) == GPTAQ_OK);
  gptaq_stats_buffers b = buffers(gpu_a.get());
  CHECK(b.backend == GPTAQ_BACKEND_CUDA);
  CHECK(*b.tokens == 50.0);  // host memory on every backend
  // Dyadic data: every sum is exact, so GPU == CPU bit for bit after a merge.
  REQUIRE(gptaq_stats_merge(gpu_a.get(), gpu_b.get()) == GPTAQ_OK);
  CHECK(hard::snapshot(gpu_a.get()) == hard::snapshot(cpu.get()));
  // Files cross backends both ways; commit works on device buffers.
  const std::vector<uint8_t> bytes = hard::snapshot(cpu.get());
  Ctx gpu_c = hard::make(n, gcfg);
  REQUIRE(gptaq_stats_deserialize(gpu_c.get(), bytes.data(), int64_t(bytes.size()), 0) == 0);
  REQUIRE(gptaq_stats_commit(gpu_c.get()) == GPTAQ_OK);
  CHECK(hard::snapshot(gpu_c.get()) == bytes);
  REQUIRE(gptaq_stats_merge(cpu.get(), gpu_c.get()) == GPTAQ_OK);
  CHECK(gptaq_ctx_num_tokens(cpu.get()) == 2 * T);
  const std::vector<float> w = hard::weights(rows, n, 93);
  hard::Out o = hard::solve(gpu_c.get(), w, rows);
  CHECK(o.status == GPTAQ_OK);
}

TEST_CASE("stats: batches, merges and loads compose before anything reads the sums") {
  // The CPU backend accumulates only one triangle of xx per batch and mirrors it when the
  // sums are first read (solve, buffers, serialize, merge source). Every way of adding
  // to a context that has not been read yet must still read back as the full sums.
  const int64_t n = 40, T = 90;
  for (int32_t method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ}) {
    CAPTURE(method);
    const bool cross = method == GPTAQ_METHOD_GPTAQ;
    std::vector<float> xq = hard::dyadic(T, n, 41), xfp = hard::dyadic(T, n, 42);
    const float *fp = cross ? xfp.data() : nullptr;
    const gptaq_config cfg = hard::config(method);
    Ctx whole = hard::make(n, cfg), a = hard::make(n, cfg), b = hard::make(n, cfg),
        c = hard::make(n, cfg), d = hard::make(n, cfg);
    REQUIRE(gptaq_add_batch(whole.get(), xq.data(), fp, T, GPTAQ_DTYPE_F32) == GPTAQ_OK);
    // a: two batches, then b merged in while both are unread.
    REQUIRE(gptaq_add_batch(a.get(), xq.data(), fp, 20, GPTAQ_DTYPE_F32) == GPTAQ_OK);
    REQUIRE(gptaq_add_batch(a.get(), xq.data() + 20 * n, cross ? fp + 20 * n : nullptr, 20,
                            GPTAQ_DTYPE_F32) == GPTAQ_OK);
    REQUIRE(gptaq_add_batch(b.get(), xq.data() + 40 * n, cross ? fp + 40 * n : nullptr, 30,
                            GPTAQ_DTYPE_F32) == GPTAQ_OK);
    REQUIRE(gptaq_stats_merge(a.get(), b.get()) == GPTAQ_OK);
    // c: the last 20 tokens, serialized and accumulated into a (still unread).
    REQUIRE(gptaq_add_batch(c.get(), xq.data() + 70 * n, cross ? fp + 70 * n : nullptr, 20,
                            GPTAQ_DTYPE_F32) == GPTAQ_OK);
    int64_t size = 0;
    REQUIRE(gptaq_stats_serialized_size(c.get(), &size) == GPTAQ_OK);
    std::vector<uint8_t> blob(static_cast<size_t>(size));
    REQUIRE(gptaq_stats_serialize(c.get(), blob.data(), size, nullptr) == GPTAQ_OK);
    REQUIRE(gptaq_add_batch(d.get(), xq.data(), fp, 5, GPTAQ_DTYPE_F32) == GPTAQ_OK);
    REQUIRE(gptaq_stats_deserialize(d.get(), blob.data(), size, GPTAQ_STATS_REPLACE) ==
            GPTAQ_OK);
    REQUIRE(gptaq_stats_deserialize(a.get(), blob.data(), size, GPTAQ_STATS_ACCUMULATE) ==
            GPTAQ_OK);
    CHECK(hard::snapshot(a.get()) == hard::snapshot(whole.get()));
    CHECK(hard::snapshot(d.get()) == hard::snapshot(c.get()));
    const gptaq_stats_buffers ba = buffers(a.get()), bw = buffers(whole.get());
    for (int64_t i = 0; i < n * n; ++i) REQUIRE(ba.xx[i] == bw.xx[i]);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t k = 0; k < r; ++k) REQUIRE(ba.xx[r * n + k] == ba.xx[k * n + r]);
    const std::vector<float> w = hard::weights(16, n, 43);
    hard::Out oa = hard::solve(a.get(), w, 16), ow = hard::solve(whole.get(), w, 16);
    REQUIRE(oa.status == GPTAQ_OK);
    CHECK(oa.codes == ow.codes);
    CHECK(oa.dequant == ow.dequant);
  }
}
