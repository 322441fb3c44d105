// Error paths of the public C API: every bad input returns its documented status and a
// non-empty message that names the problem, and leaves the context usable with its
// statistics unchanged. "Unchanged" is proven, not assumed: after each failure the
// context gets one more valid batch and a solve, and its outputs must equal (bit for
// bit) those of a control context that saw the same valid calls and never the bad one.
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#define GPTAQ_TEST_HAVE_FAULT_HOOK 1
#endif

#include "gptaq/gptaq.h"

namespace {

constexpr int64_t kCols = 16;
constexpr int64_t kRows = 8;
constexpr int64_t kTokens = 32;

bool contains(const std::string &hay, const char *needle) {
  return hay.find(needle) != std::string::npos;
}

// Deterministic data: a small LCG, values in [-1, 1), columns of different scales so
// the Hessian is well conditioned but not trivial.
std::vector<float> make_data(int64_t rows, int64_t cols, uint32_t seed) {
  std::vector<float> v(static_cast<size_t>(rows * cols));
  uint32_t s = seed * 2654435761u + 12345u;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      s = s * 1664525u + 1013904223u;
      const float u = static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 2.0f - 1.0f;
      v[static_cast<size_t>(r * cols + c)] = u * (1.0f + 0.25f * static_cast<float>(c % 5));
    }
  return v;
}

// x_fp = x_q + a small deterministic drift (GPTAQ's asymmetric input).
std::vector<float> make_fp(const std::vector<float> &xq, uint32_t seed) {
  std::vector<float> d = make_data(1, static_cast<int64_t>(xq.size()), seed);
  std::vector<float> out(xq.size());
  for (size_t i = 0; i < xq.size(); ++i) out[i] = xq[i] + 0.2f * d[i];
  return out;
}

gptaq_config base_config(int32_t method = GPTAQ_METHOD_GPTQ) {
  gptaq_config c;
  REQUIRE(gptaq_config_init(&c, sizeof c) == GPTAQ_OK);
  c.method = method;
  c.bits = 3;
  c.group_size = 8;
  c.block_size = 4;  // several blocks and groups, so the sweep's cross-block path runs
  c.backend = GPTAQ_BACKEND_CPU;
  return c;
}

struct Outcome {
  int32_t status = -100;
  std::vector<uint8_t> codes;
  std::vector<float> scales, zeros, dequant;
  std::vector<int32_t> g_idx;
  double loss = 0.0;
};

Outcome solve_uniform(gptaq_ctx *ctx, const std::vector<float> &w) {
  Outcome o;
  const int64_t G = gptaq_num_groups(kCols, 8);
  o.codes.assign(static_cast<size_t>(kRows * kCols), 0xEE);
  o.scales.assign(static_cast<size_t>(kRows * G), -1.0f);
  o.zeros.assign(static_cast<size_t>(kRows * G), -1.0f);
  o.dequant.assign(static_cast<size_t>(kRows * kCols), -1.0f);
  o.g_idx.assign(static_cast<size_t>(kCols), -7);
  gptaq_solve_info info;
  std::memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  o.status = gptaq_solve(ctx, w.data(), kRows, kCols, o.codes.data(), o.scales.data(),
                         o.zeros.data(), o.g_idx.data(), o.dequant.data(), &info);
  o.loss = info.loss;
  return o;
}

bool same(const Outcome &a, const Outcome &b) {
  return a.status == b.status && a.codes == b.codes && a.scales == b.scales && a.zeros == b.zeros &&
         a.g_idx == b.g_idx && a.dequant == b.dequant && a.loss == b.loss;
}

// A context under test plus a control context that receives only the valid calls. The
// context may be created with a different configuration (ctx_cfg, e.g. the binary
// quantizer); check_intact puts it back on the control's configuration first.
struct Harness {
  gptaq_config cfg;  // the control's configuration (always the uniform quantizer)
  gptaq_ctx *ctx = nullptr;
  gptaq_ctx *control = nullptr;
  std::vector<float> weight = make_data(kRows, kCols, 99);

  Harness(const gptaq_config &ctx_cfg, const std::vector<float> &first) : cfg(ctx_cfg) {
    cfg.quantizer = GPTAQ_QUANTIZER_UNIFORM;
    REQUIRE(gptaq_ctx_create(&ctx, kCols, &ctx_cfg) == GPTAQ_OK);
    REQUIRE(gptaq_ctx_create(&control, kCols, &cfg) == GPTAQ_OK);
    add_valid(first, 1);
  }
  explicit Harness(const gptaq_config &ctx_cfg) : Harness(ctx_cfg, make_data(kTokens, kCols, 1)) {}
  explicit Harness(int32_t method = GPTAQ_METHOD_GPTQ) : Harness(base_config(method)) {}
  ~Harness() {
    gptaq_ctx_free(ctx);
    gptaq_ctx_free(control);
  }
  Harness(const Harness &) = delete;
  Harness &operator=(const Harness &) = delete;

  bool cross() const { return cfg.method == GPTAQ_METHOD_GPTAQ; }

  // The same valid batch into both contexts.
  void add_valid(const std::vector<float> &xq, uint32_t seed) {
    const int64_t t = static_cast<int64_t>(xq.size()) / kCols;
    std::vector<float> xfp = make_fp(xq, seed + 500);
    const float *fp = cross() ? xfp.data() : nullptr;
    REQUIRE(gptaq_add_batch(ctx, xq.data(), fp, t, GPTAQ_DTYPE_F32) == GPTAQ_OK);
    REQUIRE(gptaq_add_batch(control, xq.data(), fp, t, GPTAQ_DTYPE_F32) == GPTAQ_OK);
  }

  // After a failed call: same token count, still accepts a batch, and then solves to
  // exactly what the control context gives.
  void check_intact() {
    CHECK(gptaq_ctx_num_tokens(ctx) == gptaq_ctx_num_tokens(control));
    gptaq_config now, want;
    REQUIRE(gptaq_config_init(&now, sizeof now) == GPTAQ_OK);
    REQUIRE(gptaq_config_init(&want, sizeof want) == GPTAQ_OK);
    REQUIRE(gptaq_ctx_get_config(ctx, &now) == GPTAQ_OK);
    REQUIRE(gptaq_ctx_get_config(control, &want) == GPTAQ_OK);
    if (std::memcmp(&now, &want, sizeof now) != 0)
      REQUIRE(gptaq_ctx_set_config(ctx, &want) == GPTAQ_OK);
    add_valid(make_data(kTokens, kCols, 2), 2);
    CHECK(gptaq_ctx_num_tokens(ctx) == gptaq_ctx_num_tokens(control));
    const Outcome a = solve_uniform(ctx, weight);
    const Outcome b = solve_uniform(control, weight);
    INFO("solve after the failure: ", gptaq_ctx_errmsg(ctx));
    CHECK(a.status == GPTAQ_OK);
    CHECK(b.status == GPTAQ_OK);
    CHECK(same(a, b));
    CHECK(std::string(gptaq_ctx_errmsg(ctx)).empty());  // success clears the message
  }
};

// A failed call on a context: the status, a non-empty message naming the problem.
#define EXPECT_CTX_ERR(ctx, call, want, needle)                                    \
  do {                                                                             \
    const int32_t st_ = (call);                                                    \
    const std::string msg_ = gptaq_ctx_errmsg(ctx);                                \
    INFO(#call, " -> ", st_, " (", gptaq_status_string(st_), "): \"", msg_, "\""); \
    CHECK(st_ == (want));                                                          \
    CHECK_FALSE(msg_.empty());                                                     \
    CHECK(contains(msg_, needle));                                                 \
  } while (0)

// A failed call without a context: the message is in the thread-local slot.
#define EXPECT_TLS_ERR(call, want, needle)                                         \
  do {                                                                             \
    const int32_t st_ = (call);                                                    \
    const std::string msg_ = gptaq_last_errmsg();                                  \
    INFO(#call, " -> ", st_, " (", gptaq_status_string(st_), "): \"", msg_, "\""); \
    CHECK(st_ == (want));                                                          \
    CHECK_FALSE(msg_.empty());                                                     \
    CHECK(contains(msg_, needle));                                                 \
  } while (0)

// gptaq_ctx_create must fail, leave *out NULL, and explain in gptaq_last_errmsg.
void expect_create_fails(int64_t columns, const gptaq_config *cfg, int32_t want,
                         const char *needle) {
  gptaq_ctx *out = reinterpret_cast<gptaq_ctx *>(&out);  // garbage that must be cleared
  const int32_t st = gptaq_ctx_create(&out, columns, cfg);
  const std::string msg = gptaq_last_errmsg();
  INFO("create(columns=", columns, ") -> ", st, " (", gptaq_status_string(st), "): \"", msg, "\"");
  CHECK(st == want);
  CHECK(out == nullptr);
  CHECK_FALSE(msg.empty());
  CHECK(contains(msg, needle));
  if (st == GPTAQ_OK) gptaq_ctx_free(out);
}

std::string temp_path(const char *name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("gptaq_test_errors_" + std::to_string(static_cast<long long>(::getpid())));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

void write_bytes(const std::string &path, const std::string &bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// An npy v1 file with a hand-written header dict (padded as numpy does).
std::string npy_bytes(const std::string &dict, size_t data_bytes, int version = 1) {
  std::string h = dict;
  const size_t pre = 10;
  while ((pre + h.size() + 1) % 64 != 0) h.push_back(' ');
  h.push_back('\n');
  std::string out = "\x93NUMPY";
  out.push_back(static_cast<char>(version));
  out.push_back('\0');
  out.push_back(static_cast<char>(h.size() & 0xff));
  out.push_back(static_cast<char>(h.size() >> 8));
  out += h;
  out.append(data_bytes, '\0');
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// The harness itself: it must notice a change in the statistics, or it proves nothing.
// ---------------------------------------------------------------------------------------

TEST_CASE("errors: the intact-check harness detects changed statistics") {
  SUBCASE("GPTQ: one extra batch changes the outputs") {
    Harness h;
    std::vector<float> extra = make_data(kTokens, kCols, 77);
    for (int64_t t = 0; t < kTokens; ++t) extra[static_cast<size_t>(t * kCols)] *= 40.0f;
    REQUIRE(gptaq_add_batch(h.ctx, extra.data(), nullptr, kTokens, GPTAQ_DTYPE_F32) == GPTAQ_OK);
    const Outcome a = solve_uniform(h.ctx, h.weight);
    const Outcome b = solve_uniform(h.control, h.weight);
    REQUIRE(a.status == GPTAQ_OK);
    REQUIRE(b.status == GPTAQ_OK);
    CHECK_FALSE(same(a, b));
  }
  SUBCASE("GPTAQ: a different x_fp (same x_q) changes the outputs") {
    Harness h(GPTAQ_METHOD_GPTAQ);
    const std::vector<float> xq = make_data(kTokens, kCols, 5);
    const std::vector<float> fp1 = make_fp(xq, 11), fp2 = make_fp(xq, 12);
    REQUIRE(gptaq_add_batch(h.ctx, xq.data(), fp1.data(), kTokens, GPTAQ_DTYPE_F32) == GPTAQ_OK);
    REQUIRE(gptaq_add_batch(h.control, xq.data(), fp2.data(), kTokens, GPTAQ_DTYPE_F32) ==
            GPTAQ_OK);
    const Outcome a = solve_uniform(h.ctx, h.weight);
    const Outcome b = solve_uniform(h.control, h.weight);
    REQUIRE(a.status == GPTAQ_OK);
    REQUIRE(b.status == GPTAQ_OK);
    CHECK_FALSE(same(a, b));
  }
  SUBCASE("a clean harness agrees with itself") {
    Harness h(GPTAQ_METHOD_GPTAQ);
    h.check_intact();
  }
}

// ---------------------------------------------------------------------------------------
// Status strings and messages
// ---------------------------------------------------------------------------------------

TEST_CASE("errors: gptaq_status_string names every status and tolerates unknown values") {
  std::vector<std::string> seen;
  for (int32_t s = GPTAQ_OK; s >= GPTAQ_ERR_CANCELLED; --s) {
    const char *str = gptaq_status_string(s);
    REQUIRE(str != nullptr);
    INFO("status ", s, " -> ", str);
    CHECK(std::strlen(str) > 0);
    CHECK(std::string(str) != "unknown status");
    for (const std::string &o : seen) CHECK(o != str);
    seen.push_back(str);
  }
  for (int32_t s : {1, 2, -15, -100, std::numeric_limits<int32_t>::min(),
                    std::numeric_limits<int32_t>::max()}) {
    const char *str = gptaq_status_string(s);
    REQUIRE(str != nullptr);
    CHECK(std::string(str) == "unknown status");
  }
}

TEST_CASE("errors: NULL-safe queries and free") {
  gptaq_ctx_free(nullptr);  // documented no-op
  gptaq_npy_close(nullptr);
  CHECK(gptaq_ctx_columns(nullptr) == -1);
  CHECK(gptaq_ctx_backend(nullptr) == -1);
  CHECK(gptaq_ctx_num_tokens(nullptr) == -1);
  REQUIRE(gptaq_ctx_errmsg(nullptr) != nullptr);
  CHECK(std::strlen(gptaq_ctx_errmsg(nullptr)) > 0);
  CHECK(gptaq_num_groups(0, 8) == -1);
  CHECK(gptaq_num_groups(-5, 8) == -1);
  CHECK(gptaq_num_groups(16, 0) == -1);
  CHECK(gptaq_num_groups(16, -2) == -1);
  CHECK(gptaq_num_groups(16, -1) == 1);
  CHECK(gptaq_num_groups(17, 8) == 3);
  CHECK(gptaq_backend_available(-1) == 0);
  CHECK(gptaq_backend_available(3) == 0);
  CHECK(gptaq_backend_available(GPTAQ_BACKEND_CPU) == 1);
  CHECK(gptaq_backend_available(GPTAQ_BACKEND_AUTO) == 1);
}

TEST_CASE("errors: every context entry point rejects a NULL ctx") {
  const std::vector<float> x = make_data(kTokens, kCols, 1);
  const std::vector<float> w = make_data(kRows, kCols, 2);
  std::vector<uint8_t> codes(static_cast<size_t>(kRows * kCols));
  std::vector<float> a(static_cast<size_t>(kRows * 8)), b(static_cast<size_t>(kRows * 8));
  gptaq_config cfg = base_config();
  EXPECT_TLS_ERR(gptaq_add_batch(nullptr, x.data(), nullptr, kTokens, GPTAQ_DTYPE_F32),
                 GPTAQ_ERR_INVALID_ARGUMENT, "ctx");
  EXPECT_TLS_ERR(
      gptaq_add_batch_masked(nullptr, x.data(), nullptr, kTokens, GPTAQ_DTYPE_F32, nullptr),
      GPTAQ_ERR_INVALID_ARGUMENT, "ctx");
  EXPECT_TLS_ERR(gptaq_solve(nullptr, w.data(), kRows, kCols, codes.data(), a.data(), b.data(),
                             nullptr, nullptr, nullptr),
                 GPTAQ_ERR_INVALID_ARGUMENT, "ctx");
  EXPECT_TLS_ERR(gptaq_solve_binary(nullptr, w.data(), kRows, kCols, codes.data(), a.data(),
                                    b.data(), nullptr, nullptr, nullptr),
                 GPTAQ_ERR_INVALID_ARGUMENT, "ctx");
  EXPECT_TLS_ERR(gptaq_ctx_set_config(nullptr, &cfg), GPTAQ_ERR_INVALID_ARGUMENT, "ctx");
  EXPECT_TLS_ERR(gptaq_ctx_get_config(nullptr, &cfg), GPTAQ_ERR_INVALID_ARGUMENT, "ctx");
  EXPECT_TLS_ERR(gptaq_ctx_reset(nullptr), GPTAQ_ERR_INVALID_ARGUMENT, "ctx");
  EXPECT_TLS_ERR(gptaq_ctx_set_stream(nullptr, nullptr), GPTAQ_ERR_INVALID_ARGUMENT, "ctx");
}

// ---------------------------------------------------------------------------------------
// Configuration and creation
// ---------------------------------------------------------------------------------------

TEST_CASE("errors: gptaq_config_init rejects NULL and sizes below the first field") {
  gptaq_config c;
  EXPECT_TLS_ERR(gptaq_config_init(nullptr, sizeof c), GPTAQ_ERR_INVALID_ARGUMENT, "cfg");
  EXPECT_TLS_ERR(gptaq_config_init(&c, 0), GPTAQ_ERR_INVALID_ARGUMENT, "struct_size");
  EXPECT_TLS_ERR(gptaq_config_init(&c, 3), GPTAQ_ERR_INVALID_ARGUMENT, "struct_size");
  // A success clears the thread-local message.
  CHECK(gptaq_config_init(&c, sizeof c) == GPTAQ_OK);
  CHECK(std::string(gptaq_last_errmsg()).empty());
  // A larger struct (a newer header) is filled up to what the library knows, the rest
  // zeroed, and struct_size says how much was written.
  struct Bigger {
    gptaq_config c;
    int32_t extra[4];
  } big;
  std::memset(&big, 0x5A, sizeof big);
  CHECK(gptaq_config_init(&big.c, sizeof big) == GPTAQ_OK);
  CHECK(big.c.struct_size == static_cast<int32_t>(sizeof(gptaq_config)));
  for (int32_t e : big.extra) CHECK(e == 0);
}

TEST_CASE("errors: gptaq_ctx_create rejects bad arguments, clears *out, explains why") {
  gptaq_config cfg = base_config();

  SUBCASE("NULL out") {
    EXPECT_TLS_ERR(gptaq_ctx_create(nullptr, kCols, &cfg), GPTAQ_ERR_INVALID_ARGUMENT, "out");
  }
  SUBCASE("columns <= 0 and absurdly large") {
    expect_create_fails(0, &cfg, GPTAQ_ERR_SHAPE, "columns");
    expect_create_fails(-1, &cfg, GPTAQ_ERR_SHAPE, "columns");
    expect_create_fails(std::numeric_limits<int64_t>::min(), &cfg, GPTAQ_ERR_SHAPE, "columns");
    expect_create_fails(int64_t{1} << 40, &cfg, GPTAQ_ERR_SHAPE, "columns");
    expect_create_fails(std::numeric_limits<int64_t>::max(), &cfg, GPTAQ_ERR_SHAPE, "columns");
  }
#if !defined(__SANITIZE_ADDRESS__)
  SUBCASE("columns that pass the overflow check but cannot be allocated") {
    // (2^27)^2 floats = 256 PiB: no machine has it; calloc fails cleanly. (Skipped under
    // ASan, whose allocator aborts on such requests by default.)
    expect_create_fails(int64_t{1} << 27, &cfg, GPTAQ_ERR_OUT_OF_MEMORY, "allocate");
  }
#endif
  SUBCASE("bits outside 2..8 (uniform) and 2..4 (binary)") {
    for (int32_t bits : {-1, 0, 1, 9, 16, 1000}) {
      cfg.bits = bits;
      expect_create_fails(kCols, &cfg, GPTAQ_ERR_INVALID_ARGUMENT, "bits");
    }
    cfg.quantizer = GPTAQ_QUANTIZER_BINARY;
    for (int32_t bits : {1, 5, 8}) {
      cfg.bits = bits;
      expect_create_fails(kCols, &cfg, GPTAQ_ERR_INVALID_ARGUMENT, "bits");
    }
  }
  SUBCASE("group_size 0, -2 and very negative") {
    for (int32_t g : {0, -2, std::numeric_limits<int32_t>::min()}) {
      cfg.group_size = g;
      expect_create_fails(kCols, &cfg, GPTAQ_ERR_INVALID_ARGUMENT, "group_size");
    }
  }
  SUBCASE("block_size outside 1..4096") {
    for (int32_t b : {0, -1, 4097, std::numeric_limits<int32_t>::max()}) {
      cfg.block_size = b;
      expect_create_fails(kCols, &cfg, GPTAQ_ERR_INVALID_ARGUMENT, "block_size");
    }
  }
  SUBCASE("unknown enum values") {
    gptaq_config c = cfg;
    for (int32_t v : {-1, 3, 99}) {
      c = cfg;
      c.method = v;
      expect_create_fails(kCols, &c, GPTAQ_ERR_INVALID_ARGUMENT, "method");
      c = cfg;
      c.backend = v;
      expect_create_fails(kCols, &c, GPTAQ_ERR_INVALID_ARGUMENT, "backend");
      c = cfg;
      c.quantizer = v == 3 ? 2 : v;
      expect_create_fails(kCols, &c, GPTAQ_ERR_INVALID_ARGUMENT, "quantizer");
      c = cfg;  // uniform quantizer: an unknown objective is still an unknown enum
      c.objective = v;
      expect_create_fails(kCols, &c, GPTAQ_ERR_INVALID_ARGUMENT, "objective");
      c = cfg;
      c.quantizer = GPTAQ_QUANTIZER_BINARY;
      c.objective = v;
      expect_create_fails(kCols, &c, GPTAQ_ERR_INVALID_ARGUMENT, "objective");
    }
  }
  SUBCASE("struct_size too small or larger than the library knows") {
    for (int32_t s : {0, 1, 3, -4, std::numeric_limits<int32_t>::min()}) {
      cfg.struct_size = s;
      expect_create_fails(kCols, &cfg, GPTAQ_ERR_INVALID_ARGUMENT, "struct_size");
    }
    struct Bigger {
      gptaq_config c;
      int32_t extra[8];
    } big;
    REQUIRE(gptaq_config_init(&big.c, sizeof big.c) == GPTAQ_OK);
    std::memset(big.extra, 0, sizeof big.extra);
    big.c.struct_size = static_cast<int32_t>(sizeof big);
    expect_create_fails(kCols, &big.c, GPTAQ_ERR_INVALID_ARGUMENT, "struct_size");
    cfg.struct_size = std::numeric_limits<int32_t>::max();
    expect_create_fails(kCols, &cfg, GPTAQ_ERR_INVALID_ARGUMENT, "struct_size");
  }
  SUBCASE("damp_percent <= 0, NaN or Inf; other float fields non-finite") {
    for (float d : {0.0f, -0.01f, std::nanf(""), std::numeric_limits<float>::infinity()}) {
      cfg.damp_percent = d;
      expect_create_fails(kCols, &cfg, GPTAQ_ERR_INVALID_ARGUMENT, "damp_percent");
    }
    cfg = base_config();
    cfg.alpha = std::nanf("");
    expect_create_fails(kCols, &cfg, GPTAQ_ERR_INVALID_ARGUMENT, "alpha");
    cfg = base_config();
    cfg.mse_norm = 0.0f;
    expect_create_fails(kCols, &cfg, GPTAQ_ERR_INVALID_ARGUMENT, "mse_norm");
    cfg = base_config();
    cfg.mse_max_shrink = 1.0f;
    expect_create_fails(kCols, &cfg, GPTAQ_ERR_INVALID_ARGUMENT, "mse_max_shrink");
    cfg = base_config();
    cfg.damp_retries = 9;
    expect_create_fails(kCols, &cfg, GPTAQ_ERR_INVALID_ARGUMENT, "damp_retries");
    cfg = base_config();
    cfg.sym = 2;
    expect_create_fails(kCols, &cfg, GPTAQ_ERR_INVALID_ARGUMENT, "sym");
    cfg = base_config();
    cfg.num_threads = -1;
    expect_create_fails(kCols, &cfg, GPTAQ_ERR_INVALID_ARGUMENT, "num_threads");
    cfg = base_config();
    cfg.device = -1;
    expect_create_fails(kCols, &cfg, GPTAQ_ERR_INVALID_ARGUMENT, "device");
  }
  SUBCASE("CUDA asked for where it is unavailable") {
    if (gptaq_backend_available(GPTAQ_BACKEND_CUDA)) {
      MESSAGE("a CUDA device answers here; the unavailable-backend path is not reachable");
    } else {
      cfg.backend = GPTAQ_BACKEND_CUDA;
      expect_create_fails(kCols, &cfg, GPTAQ_ERR_BACKEND_UNAVAILABLE, "CUDA");
      // AUTO falls back to the CPU.
      cfg.backend = GPTAQ_BACKEND_AUTO;
      gptaq_ctx *ctx = nullptr;
      REQUIRE(gptaq_ctx_create(&ctx, kCols, &cfg) == GPTAQ_OK);
      CHECK(gptaq_ctx_backend(ctx) == GPTAQ_BACKEND_CPU);
      gptaq_ctx_free(ctx);
    }
  }
  SUBCASE("a success clears the thread-local message") {
    expect_create_fails(0, &cfg, GPTAQ_ERR_SHAPE, "columns");
    gptaq_ctx *ctx = nullptr;
    REQUIRE(gptaq_ctx_create(&ctx, kCols, nullptr) == GPTAQ_OK);  // NULL cfg = defaults
    CHECK(std::string(gptaq_last_errmsg()).empty());
    CHECK(gptaq_ctx_columns(ctx) == kCols);
    gptaq_ctx_free(ctx);
  }
}

// ---------------------------------------------------------------------------------------
// Calibration batches
// ---------------------------------------------------------------------------------------

TEST_CASE("errors: bad batches are rejected and leave the statistics unchanged") {
  const std::vector<float> x = make_data(kTokens, kCols, 3);

  SUBCASE("NULL x_q") {
    Harness h;
    EXPECT_CTX_ERR(h.ctx, gptaq_add_batch(h.ctx, nullptr, nullptr, kTokens, GPTAQ_DTYPE_F32),
                   GPTAQ_ERR_INVALID_ARGUMENT, "x_q");
    h.check_intact();
  }
  SUBCASE("negative token count") {
    Harness h;
    EXPECT_CTX_ERR(h.ctx, gptaq_add_batch(h.ctx, x.data(), nullptr, -1, GPTAQ_DTYPE_F32),
                   GPTAQ_ERR_INVALID_ARGUMENT, "tokens");
    h.check_intact();
  }
  SUBCASE("tokens x columns overflows") {
    Harness h;
    EXPECT_CTX_ERR(h.ctx,
                   gptaq_add_batch(h.ctx, x.data(), nullptr, int64_t{1} << 62, GPTAQ_DTYPE_F32),
                   GPTAQ_ERR_SHAPE, "overflow");
    EXPECT_CTX_ERR(h.ctx,
                   gptaq_add_batch(h.ctx, x.data(), nullptr, std::numeric_limits<int64_t>::max(),
                                   GPTAQ_DTYPE_F32),
                   GPTAQ_ERR_SHAPE, "overflow");
    h.check_intact();
  }
  SUBCASE("unknown and file-only dtypes") {
    Harness h;
    for (int32_t dt :
         std::initializer_list<int32_t>{-1, GPTAQ_DTYPE_U8, GPTAQ_DTYPE_I32, 5, 1000}) {
      EXPECT_CTX_ERR(h.ctx, gptaq_add_batch(h.ctx, x.data(), nullptr, kTokens, dt),
                     GPTAQ_ERR_INVALID_ARGUMENT, "dtype");
    }
    h.check_intact();
  }
  SUBCASE("NaN / Inf anywhere in x_q, f32") {
    Harness h;
    for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity(),
                      -std::numeric_limits<float>::infinity()}) {
      for (size_t at : {size_t{0}, x.size() / 2, x.size() - 1}) {
        std::vector<float> y = x;
        y[at] = bad;
        EXPECT_CTX_ERR(h.ctx, gptaq_add_batch(h.ctx, y.data(), nullptr, kTokens, GPTAQ_DTYPE_F32),
                       GPTAQ_ERR_NON_FINITE, "x_q");
        CHECK(gptaq_ctx_num_tokens(h.ctx) == kTokens);  // whole batch rejected
      }
    }
    h.check_intact();
  }
  SUBCASE("NaN in x_q is rejected even in a token the mask drops") {
    Harness h;
    std::vector<float> y = x;
    y[5 * kCols + 3] = std::nanf("");
    std::vector<uint8_t> mask(static_cast<size_t>(kTokens), 1);
    mask[5] = 0;
    EXPECT_CTX_ERR(
        h.ctx,
        gptaq_add_batch_masked(h.ctx, y.data(), nullptr, kTokens, GPTAQ_DTYPE_F32, mask.data()),
        GPTAQ_ERR_NON_FINITE, "NaN");
    h.check_intact();
  }
  SUBCASE("NaN / Inf in fp16 and bf16 batches") {
    Harness h;
    for (int32_t dt : {GPTAQ_DTYPE_F16, GPTAQ_DTYPE_BF16}) {
      std::vector<uint16_t> half(x.size());
      REQUIRE(gptaq_f32_to_half(dt, x.data(), half.data(), static_cast<int64_t>(x.size())) ==
              GPTAQ_OK);
      const uint16_t nan_bits = dt == GPTAQ_DTYPE_F16 ? 0x7e00 : 0x7fc0;
      const uint16_t inf_bits = dt == GPTAQ_DTYPE_F16 ? 0x7c00 : 0x7f80;
      const uint16_t ninf_bits = dt == GPTAQ_DTYPE_F16 ? 0xfc00 : 0xff80;
      for (uint16_t bad : {nan_bits, inf_bits, ninf_bits}) {
        std::vector<uint16_t> y = half;
        y[y.size() - 2] = bad;
        EXPECT_CTX_ERR(h.ctx, gptaq_add_batch(h.ctx, y.data(), nullptr, kTokens, dt),
                       GPTAQ_ERR_NON_FINITE, "NaN or Inf");
        CHECK(gptaq_ctx_num_tokens(h.ctx) == kTokens);
      }
    }
    h.check_intact();
  }
  SUBCASE("GPTAQ without x_fp") {
    Harness h(GPTAQ_METHOD_GPTAQ);
    EXPECT_CTX_ERR(h.ctx, gptaq_add_batch(h.ctx, x.data(), nullptr, kTokens, GPTAQ_DTYPE_F32),
                   GPTAQ_ERR_INVALID_ARGUMENT, "x_fp");
    h.check_intact();
  }
  SUBCASE("x_fp given to GPTQ and to RTN") {
    for (int32_t m : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_RTN}) {
      Harness h(m);
      EXPECT_CTX_ERR(h.ctx, gptaq_add_batch(h.ctx, x.data(), x.data(), kTokens, GPTAQ_DTYPE_F32),
                     GPTAQ_ERR_INVALID_ARGUMENT, "x_fp");
      h.check_intact();
    }
  }
  SUBCASE("GPTAQ: NaN / Inf in x_q or x_fp, f32 and f16; the cross statistic is untouched") {
    Harness h(GPTAQ_METHOD_GPTAQ);
    const std::vector<float> fp = make_fp(x, 8);
    for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity()}) {
      std::vector<float> y = fp;
      y[y.size() - 1] = bad;
      EXPECT_CTX_ERR(h.ctx, gptaq_add_batch(h.ctx, x.data(), y.data(), kTokens, GPTAQ_DTYPE_F32),
                     GPTAQ_ERR_NON_FINITE, "x_fp");
      std::vector<float> z = x;
      z[7] = bad;
      EXPECT_CTX_ERR(h.ctx, gptaq_add_batch(h.ctx, z.data(), fp.data(), kTokens, GPTAQ_DTYPE_F32),
                     GPTAQ_ERR_NON_FINITE, "x_q");
      CHECK(gptaq_ctx_num_tokens(h.ctx) == kTokens);
    }
    std::vector<uint16_t> hq(x.size()), hf(x.size());
    REQUIRE(gptaq_f32_to_half(GPTAQ_DTYPE_F16, x.data(), hq.data(),
                              static_cast<int64_t>(x.size())) == GPTAQ_OK);
    REQUIRE(gptaq_f32_to_half(GPTAQ_DTYPE_F16, fp.data(), hf.data(),
                              static_cast<int64_t>(fp.size())) == GPTAQ_OK);
    hf[3] = 0x7e00;
    EXPECT_CTX_ERR(h.ctx, gptaq_add_batch(h.ctx, hq.data(), hf.data(), kTokens, GPTAQ_DTYPE_F16),
                   GPTAQ_ERR_NON_FINITE, "x_fp");
    CHECK(gptaq_ctx_num_tokens(h.ctx) == kTokens);
    h.check_intact();
  }
  SUBCASE("tokens == 0 is a documented no-op, even with NULL pointers") {
    Harness h(GPTAQ_METHOD_GPTAQ);
    CHECK(gptaq_add_batch(h.ctx, nullptr, nullptr, 0, GPTAQ_DTYPE_F32) == GPTAQ_OK);
    CHECK(gptaq_ctx_num_tokens(h.ctx) == kTokens);
    h.check_intact();
  }
}

// ---------------------------------------------------------------------------------------
// Solving
// ---------------------------------------------------------------------------------------

TEST_CASE("errors: bad solve arguments are rejected and leave the context usable") {
  const int64_t G = gptaq_num_groups(kCols, 8);
  std::vector<uint8_t> codes(static_cast<size_t>(kRows * kCols));
  std::vector<float> scales(static_cast<size_t>(kRows * G)), zeros(static_cast<size_t>(kRows * G));

  SUBCASE("NULL weight, codes, scales, zeros") {
    Harness h;
    const float *w = h.weight.data();
    EXPECT_CTX_ERR(h.ctx,
                   gptaq_solve(h.ctx, nullptr, kRows, kCols, codes.data(), scales.data(),
                               zeros.data(), nullptr, nullptr, nullptr),
                   GPTAQ_ERR_INVALID_ARGUMENT, "weight");
    EXPECT_CTX_ERR(h.ctx,
                   gptaq_solve(h.ctx, w, kRows, kCols, nullptr, scales.data(), zeros.data(),
                               nullptr, nullptr, nullptr),
                   GPTAQ_ERR_INVALID_ARGUMENT, "codes");
    EXPECT_CTX_ERR(h.ctx,
                   gptaq_solve(h.ctx, w, kRows, kCols, codes.data(), nullptr, zeros.data(), nullptr,
                               nullptr, nullptr),
                   GPTAQ_ERR_INVALID_ARGUMENT, "scales");
    EXPECT_CTX_ERR(h.ctx,
                   gptaq_solve(h.ctx, w, kRows, kCols, codes.data(), scales.data(), nullptr,
                               nullptr, nullptr, nullptr),
                   GPTAQ_ERR_INVALID_ARGUMENT, "zeros");
    h.check_intact();
  }
  SUBCASE("weight width differs from the context") {
    Harness h;
    for (int64_t c : {kCols - 1, kCols + 1, int64_t{0}, int64_t{-1}, int64_t{1} << 40}) {
      EXPECT_CTX_ERR(h.ctx,
                     gptaq_solve(h.ctx, h.weight.data(), kRows, c, codes.data(), scales.data(),
                                 zeros.data(), nullptr, nullptr, nullptr),
                     GPTAQ_ERR_SHAPE, "columns");
    }
    h.check_intact();
  }
  SUBCASE("rows <= 0 and rows x columns overflowing") {
    Harness h;
    for (int64_t r : {int64_t{0}, int64_t{-1}, std::numeric_limits<int64_t>::min()}) {
      EXPECT_CTX_ERR(h.ctx,
                     gptaq_solve(h.ctx, h.weight.data(), r, kCols, codes.data(), scales.data(),
                                 zeros.data(), nullptr, nullptr, nullptr),
                     GPTAQ_ERR_SHAPE, "rows");
    }
    EXPECT_CTX_ERR(h.ctx,
                   gptaq_solve(h.ctx, h.weight.data(), int64_t{1} << 62, kCols, codes.data(),
                               scales.data(), zeros.data(), nullptr, nullptr, nullptr),
                   GPTAQ_ERR_SHAPE, "overflow");
    h.check_intact();
  }
  SUBCASE("NaN / Inf in the weight") {
    Harness h;
    for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity()}) {
      std::vector<float> w = h.weight;
      w[static_cast<size_t>(3 * kCols + 5)] = bad;
      std::vector<uint8_t> c2(codes.size(), 0xAB);
      EXPECT_CTX_ERR(h.ctx,
                     gptaq_solve(h.ctx, w.data(), kRows, kCols, c2.data(), scales.data(),
                                 zeros.data(), nullptr, nullptr, nullptr),
                     GPTAQ_ERR_NON_FINITE,
                     std::isnan(bad) ? "weight[3][5] is NaN" : "weight[3][5] is Inf");
      for (uint8_t v : c2) CHECK(v == 0xAB);  // outputs written only on success
    }
    h.check_intact();
  }
  SUBCASE("info->struct_size too small") {
    Harness h;
    gptaq_solve_info info;
    std::memset(&info, 0, sizeof info);
    EXPECT_CTX_ERR(h.ctx,
                   gptaq_solve(h.ctx, h.weight.data(), kRows, kCols, codes.data(), scales.data(),
                               zeros.data(), nullptr, nullptr, &info),
                   GPTAQ_ERR_INVALID_ARGUMENT, "struct_size");
    h.check_intact();
  }
  SUBCASE("gptaq_solve on a binary-quantizer context") {
    gptaq_config cfg = base_config();
    cfg.quantizer = GPTAQ_QUANTIZER_BINARY;
    Harness h(cfg);
    EXPECT_CTX_ERR(h.ctx,
                   gptaq_solve(h.ctx, h.weight.data(), kRows, kCols, codes.data(), scales.data(),
                               zeros.data(), nullptr, nullptr, nullptr),
                   GPTAQ_ERR_INVALID_ARGUMENT, "gptaq_solve_binary");
    // NULL outputs of the binary solve are named too.
    std::vector<float> alpha(static_cast<size_t>(kRows * G * 3)),
        bias(static_cast<size_t>(kRows * G));
    EXPECT_CTX_ERR(h.ctx,
                   gptaq_solve_binary(h.ctx, h.weight.data(), kRows, kCols, nullptr, alpha.data(),
                                      bias.data(), nullptr, nullptr, nullptr),
                   GPTAQ_ERR_INVALID_ARGUMENT, "codes");
    EXPECT_CTX_ERR(h.ctx,
                   gptaq_solve_binary(h.ctx, h.weight.data(), kRows, kCols, codes.data(), nullptr,
                                      bias.data(), nullptr, nullptr, nullptr),
                   GPTAQ_ERR_INVALID_ARGUMENT, "alpha");
    EXPECT_CTX_ERR(h.ctx,
                   gptaq_solve_binary(h.ctx, h.weight.data(), kRows, kCols, codes.data(),
                                      alpha.data(), nullptr, nullptr, nullptr, nullptr),
                   GPTAQ_ERR_INVALID_ARGUMENT, "bias");
    EXPECT_CTX_ERR(h.ctx,
                   gptaq_solve_binary(h.ctx, nullptr, kRows, kCols, codes.data(), alpha.data(),
                                      bias.data(), nullptr, nullptr, nullptr),
                   GPTAQ_ERR_INVALID_ARGUMENT, "weight");
    h.check_intact();  // switches the context back to the uniform quantizer, then compares
  }
  SUBCASE("gptaq_solve_binary on a uniform context") {
    Harness h;
    std::vector<float> alpha(static_cast<size_t>(kRows * G * 3)),
        bias(static_cast<size_t>(kRows * G));
    EXPECT_CTX_ERR(h.ctx,
                   gptaq_solve_binary(h.ctx, h.weight.data(), kRows, kCols, codes.data(),
                                      alpha.data(), bias.data(), nullptr, nullptr, nullptr),
                   GPTAQ_ERR_INVALID_ARGUMENT, "gptaq_solve");
    h.check_intact();
  }
}

TEST_CASE("errors: solve before any batch is GPTAQ_ERR_NO_DATA (RTN needs none)") {
  const int64_t G = gptaq_num_groups(kCols, 8);
  const std::vector<float> w = make_data(kRows, kCols, 4);
  std::vector<uint8_t> codes(static_cast<size_t>(kRows * kCols));
  std::vector<float> scales(static_cast<size_t>(kRows * G)), zeros(static_cast<size_t>(kRows * G));
  for (int32_t m : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ}) {
    gptaq_config cfg = base_config(m);
    gptaq_ctx *ctx = nullptr;
    REQUIRE(gptaq_ctx_create(&ctx, kCols, &cfg) == GPTAQ_OK);
    EXPECT_CTX_ERR(ctx,
                   gptaq_solve(ctx, w.data(), kRows, kCols, codes.data(), scales.data(),
                               zeros.data(), nullptr, nullptr, nullptr),
                   GPTAQ_ERR_NO_DATA, "gptaq_add_batch");
    // A batch whose every token is masked out is still no data.
    const std::vector<float> x = make_data(kTokens, kCols, 6);
    const std::vector<float> fp = make_fp(x, 7);
    const std::vector<uint8_t> none(static_cast<size_t>(kTokens), 0);
    REQUIRE(gptaq_add_batch_masked(ctx, x.data(), m == GPTAQ_METHOD_GPTAQ ? fp.data() : nullptr,
                                   kTokens, GPTAQ_DTYPE_F32, none.data()) == GPTAQ_OK);
    CHECK(gptaq_ctx_num_tokens(ctx) == 0);
    EXPECT_CTX_ERR(ctx,
                   gptaq_solve(ctx, w.data(), kRows, kCols, codes.data(), scales.data(),
                               zeros.data(), nullptr, nullptr, nullptr),
                   GPTAQ_ERR_NO_DATA, "no calibration");
    // After gptaq_ctx_reset, again no data.
    REQUIRE(gptaq_add_batch(ctx, x.data(), m == GPTAQ_METHOD_GPTAQ ? fp.data() : nullptr, kTokens,
                            GPTAQ_DTYPE_F32) == GPTAQ_OK);
    CHECK(gptaq_solve(ctx, w.data(), kRows, kCols, codes.data(), scales.data(), zeros.data(),
                      nullptr, nullptr, nullptr) == GPTAQ_OK);
    REQUIRE(gptaq_ctx_reset(ctx) == GPTAQ_OK);
    EXPECT_CTX_ERR(ctx,
                   gptaq_solve(ctx, w.data(), kRows, kCols, codes.data(), scales.data(),
                               zeros.data(), nullptr, nullptr, nullptr),
                   GPTAQ_ERR_NO_DATA, "no calibration");
    gptaq_ctx_free(ctx);
  }
  gptaq_config rtn = base_config(GPTAQ_METHOD_RTN);
  gptaq_ctx *ctx = nullptr;
  REQUIRE(gptaq_ctx_create(&ctx, kCols, &rtn) == GPTAQ_OK);
  CHECK(gptaq_solve(ctx, w.data(), kRows, kCols, codes.data(), scales.data(), zeros.data(), nullptr,
                    nullptr, nullptr) == GPTAQ_OK);
  gptaq_ctx_free(ctx);
}

// H = (2/N) X^T X + damping is positive definite in exact arithmetic whatever the
// stream, so "not positive definite" is reachable only through fp32 rounding: with an
// exactly rank-1 H (every token identical) and a relative damping far below fp32's
// rounding unit (damp_percent = 1e-30, which is a valid setting), H + damping rounds to
// the singular H and Cholesky meets an exact zero pivot. Ten-fold retries (at most 8)
// only reach 1e-22, still below the rounding unit, so the failure survives every retry.
TEST_CASE("errors: a Hessian that stays singular after all damping retries") {
  std::vector<float> ones(static_cast<size_t>(kTokens * kCols), 1.0f);
  gptaq_config cfg = base_config();
  gptaq_config tiny = cfg;
  tiny.damp_percent = 1e-30f;
  SUBCASE("damp_percent 1e-30 with 0 and with 8 retries") {
    for (int32_t retries : {0, 8}) {
      CAPTURE(retries);
      tiny.damp_retries = retries;
      Harness h(cfg, ones);
      REQUIRE(gptaq_ctx_set_config(h.ctx, &tiny) == GPTAQ_OK);
      const int64_t G = gptaq_num_groups(kCols, 8);
      std::vector<uint8_t> codes(static_cast<size_t>(kRows * kCols), 0xAB);
      std::vector<float> scales(static_cast<size_t>(kRows * G)),
          zeros(static_cast<size_t>(kRows * G));
      EXPECT_CTX_ERR(h.ctx,
                     gptaq_solve(h.ctx, h.weight.data(), kRows, kCols, codes.data(), scales.data(),
                                 zeros.data(), nullptr, nullptr, nullptr),
                     GPTAQ_ERR_NOT_POSITIVE_DEFINITE, "positive definite");
      for (uint8_t v : codes) CHECK(v == 0xAB);
      // The same singular statistics with usable damping solve, and equal the control.
      h.check_intact();
    }
  }
  SUBCASE("a damping that rounds away at first is rescued by the x10 retries") {
    gptaq_config small = cfg;
    small.damp_percent = 1e-9f;
    small.damp_retries = 8;
    Harness h(small, ones);
    gptaq_solve_info info;
    std::memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    const int64_t G = gptaq_num_groups(kCols, 8);
    std::vector<uint8_t> codes(static_cast<size_t>(kRows * kCols));
    std::vector<float> scales(static_cast<size_t>(kRows * G)),
        zeros(static_cast<size_t>(kRows * G));
    REQUIRE(gptaq_solve(h.ctx, h.weight.data(), kRows, kCols, codes.data(), scales.data(),
                        zeros.data(), nullptr, nullptr, &info) == GPTAQ_OK);
    CHECK(info.damp_retries >= 1);
    CHECK(info.damp_used > small.damp_percent);
    for (uint8_t v : codes) CHECK(v <= 7);
  }
}

TEST_CASE("errors: finite inputs whose fp32 sums overflow make the solve GPTAQ_ERR_NON_FINITE") {
  // 1e30 is finite and passes the batch check, but its square overflows the Hessian's
  // fp32 sum. Every solver path that reads the statistics refuses with a clear message,
  // writes no output, and the context works again after a reset.
  std::vector<float> big = make_data(kTokens, kCols, 5);
  big[3 * kCols + 2] = 1e30f;
  struct Path {
    const char *name;
    int32_t method, quantizer, objective;
  };
  for (const Path &p : {Path{"gptq", GPTAQ_METHOD_GPTQ, GPTAQ_QUANTIZER_UNIFORM, 0},
                        Path{"gptaq", GPTAQ_METHOD_GPTAQ, GPTAQ_QUANTIZER_UNIFORM, 0},
                        Path{"gptqt", GPTAQ_METHOD_GPTQ, GPTAQ_QUANTIZER_BINARY,
                             GPTAQ_OBJECTIVE_OUTPUT},
                        Path{"rtn binary, Hessian objective", GPTAQ_METHOD_RTN,
                             GPTAQ_QUANTIZER_BINARY, GPTAQ_OBJECTIVE_HESSIAN}}) {
    CAPTURE(p.name);
    gptaq_config cfg = base_config(p.method);
    cfg.quantizer = p.quantizer;
    cfg.objective = p.objective;
    if (p.quantizer == GPTAQ_QUANTIZER_BINARY) cfg.bits = 2;
    gptaq_ctx *ctx = nullptr;
    REQUIRE(gptaq_ctx_create(&ctx, kCols, &cfg) == GPTAQ_OK);
    std::vector<float> fp = make_fp(big, 7);
    const float *xfp = p.method == GPTAQ_METHOD_GPTAQ ? fp.data() : nullptr;
    REQUIRE(gptaq_add_batch(ctx, big.data(), xfp, kTokens, GPTAQ_DTYPE_F32) == GPTAQ_OK);
    const std::vector<float> w = make_data(kRows, kCols, 99);
    const int64_t G = gptaq_num_groups(kCols, cfg.group_size);
    std::vector<uint8_t> codes(static_cast<size_t>(kRows * kCols), 0xAB);
    std::vector<float> p1(static_cast<size_t>(kRows * G * 8), -5.0f),
        p2(static_cast<size_t>(kRows * G), -5.0f);
    auto run = [&] {
      return p.quantizer == GPTAQ_QUANTIZER_BINARY
                 ? gptaq_solve_binary(ctx, w.data(), kRows, kCols, codes.data(), p1.data(),
                                      p2.data(), nullptr, nullptr, nullptr)
                 : gptaq_solve(ctx, w.data(), kRows, kCols, codes.data(), p1.data(), p2.data(),
                               nullptr, nullptr, nullptr);
    };
    EXPECT_CTX_ERR(ctx, run(), GPTAQ_ERR_NON_FINITE, "overflowed fp32");
    for (uint8_t v : codes) CHECK(v == 0xAB);
    for (float v : p2) CHECK(v == -5.0f);
    // After a reset, ordinary inputs solve on the same context.
    REQUIRE(gptaq_ctx_reset(ctx) == GPTAQ_OK);
    std::vector<float> ok = make_data(kTokens, kCols, 6), okfp = make_fp(ok, 8);
    REQUIRE(gptaq_add_batch(ctx, ok.data(), xfp ? okfp.data() : nullptr, kTokens,
                            GPTAQ_DTYPE_F32) == GPTAQ_OK);
    CHECK(run() == GPTAQ_OK);
    gptaq_ctx_free(ctx);
  }
}

// ---------------------------------------------------------------------------------------
// Context settings
// ---------------------------------------------------------------------------------------

TEST_CASE("errors: gptaq_ctx_set_config refuses what cannot change and keeps the old config") {
  auto expect_unchanged = [](gptaq_ctx *ctx, const gptaq_config &want) {
    gptaq_config now;
    REQUIRE(gptaq_config_init(&now, sizeof now) == GPTAQ_OK);
    REQUIRE(gptaq_ctx_get_config(ctx, &now) == GPTAQ_OK);
    CHECK(std::memcmp(&now, &want, sizeof now) == 0);
  };
  SUBCASE("GPTQ -> GPTAQ") {
    Harness h;
    gptaq_config c = h.cfg;
    c.method = GPTAQ_METHOD_GPTAQ;
    EXPECT_CTX_ERR(h.ctx, gptaq_ctx_set_config(h.ctx, &c), GPTAQ_ERR_INVALID_ARGUMENT, "GPTAQ");
    expect_unchanged(h.ctx, h.cfg);
    h.check_intact();
  }
  SUBCASE("GPTAQ -> GPTQ and GPTAQ -> RTN") {
    Harness h(GPTAQ_METHOD_GPTAQ);
    for (int32_t m : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_RTN}) {
      gptaq_config c = h.cfg;
      c.method = m;
      EXPECT_CTX_ERR(h.ctx, gptaq_ctx_set_config(h.ctx, &c), GPTAQ_ERR_INVALID_ARGUMENT, "GPTAQ");
      expect_unchanged(h.ctx, h.cfg);
    }
    h.check_intact();
  }
  SUBCASE("backend or device") {
    Harness h;
    for (int32_t b : {GPTAQ_BACKEND_AUTO, GPTAQ_BACKEND_CUDA}) {
      gptaq_config c = h.cfg;
      c.backend = b;
      EXPECT_CTX_ERR(h.ctx, gptaq_ctx_set_config(h.ctx, &c), GPTAQ_ERR_INVALID_ARGUMENT, "backend");
      expect_unchanged(h.ctx, h.cfg);
    }
    gptaq_config c = h.cfg;
    c.device = 1;
    EXPECT_CTX_ERR(h.ctx, gptaq_ctx_set_config(h.ctx, &c), GPTAQ_ERR_INVALID_ARGUMENT, "device");
    expect_unchanged(h.ctx, h.cfg);
    h.check_intact();
  }
  SUBCASE("invalid fields, bad struct_size and NULL cfg") {
    Harness h;
    gptaq_config c = h.cfg;
    c.bits = 9;
    EXPECT_CTX_ERR(h.ctx, gptaq_ctx_set_config(h.ctx, &c), GPTAQ_ERR_INVALID_ARGUMENT, "bits");
    c = h.cfg;
    c.damp_percent = std::nanf("");
    EXPECT_CTX_ERR(h.ctx, gptaq_ctx_set_config(h.ctx, &c), GPTAQ_ERR_INVALID_ARGUMENT,
                   "damp_percent");
    c = h.cfg;
    c.struct_size = 2;
    EXPECT_CTX_ERR(h.ctx, gptaq_ctx_set_config(h.ctx, &c), GPTAQ_ERR_INVALID_ARGUMENT,
                   "struct_size");
    EXPECT_CTX_ERR(h.ctx, gptaq_ctx_set_config(h.ctx, nullptr), GPTAQ_ERR_INVALID_ARGUMENT, "cfg");
    expect_unchanged(h.ctx, h.cfg);
    h.check_intact();
  }
  SUBCASE("gptaq_ctx_get_config: NULL cfg and bad struct_size") {
    Harness h;
    gptaq_config c;
    std::memset(&c, 0, sizeof c);
    EXPECT_TLS_ERR(gptaq_ctx_get_config(h.ctx, &c), GPTAQ_ERR_INVALID_ARGUMENT, "struct_size");
    EXPECT_TLS_ERR(gptaq_ctx_get_config(h.ctx, nullptr), GPTAQ_ERR_INVALID_ARGUMENT, "cfg");
    h.check_intact();
  }
}

TEST_CASE("errors: gptaq_ctx_set_stream on a CPU context") {
  Harness h;
  int dummy = 0;
  EXPECT_CTX_ERR(h.ctx, gptaq_ctx_set_stream(h.ctx, &dummy), GPTAQ_ERR_UNSUPPORTED, "CUDA");
  CHECK(gptaq_ctx_set_stream(h.ctx, nullptr) == GPTAQ_OK);  // NULL = own stream: fine
  h.check_intact();
}

// ---------------------------------------------------------------------------------------
// Concurrent use of one context
// ---------------------------------------------------------------------------------------

#if defined(GPTAQ_TEST_HAVE_FAULT_HOOK) && !defined(__SANITIZE_THREAD__)
namespace {
// Deterministic overlap: the batch given to the first call lives on a page with no
// access rights. The library's first read of it faults; the SIGSEGV handler (on the
// calling thread, which is now inside the library call) lets a second thread run its
// calls on the same context, waits until they are done, then makes the page readable
// and returns, so the first call resumes and completes normally.
std::atomic<int> g_fault_seen{0};
std::atomic<int> g_second_done{0};
void *g_page = nullptr;
size_t g_page_size = 0;
struct sigaction g_old_action;

void on_fault(int sig, siginfo_t *si, void *uctx) {
  char *addr = static_cast<char *>(si->si_addr);
  char *page = static_cast<char *>(g_page);
  if (page && addr >= page && addr < page + g_page_size && !g_fault_seen.load()) {
    g_fault_seen.store(1);
    while (!g_second_done.load()) sched_yield();
    mprotect(g_page, g_page_size, PROT_READ);
    return;
  }
  // Not ours: hand it to whatever was installed before (usually the default: crash).
  if (g_old_action.sa_flags & SA_SIGINFO) {
    if (g_old_action.sa_sigaction) g_old_action.sa_sigaction(sig, si, uctx);
  } else {
    sigaction(SIGSEGV, &g_old_action, nullptr);
  }
}
}  // namespace

TEST_CASE("errors: a second thread using a busy context gets GPTAQ_ERR_BUSY") {
  Harness h;
  g_page_size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t bytes = sizeof(float) * static_cast<size_t>(kTokens * kCols);
  REQUIRE(bytes <= g_page_size);
  g_page = mmap(nullptr, g_page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(g_page != MAP_FAILED);
  const std::vector<float> batch = make_data(kTokens, kCols, 2);  // check_intact's batch
  std::memcpy(g_page, batch.data(), bytes);
  REQUIRE(mprotect(g_page, g_page_size, PROT_NONE) == 0);
  g_fault_seen = 0;
  g_second_done = 0;

  struct sigaction act;
  std::memset(&act, 0, sizeof act);
  act.sa_sigaction = on_fault;
  act.sa_flags = SA_SIGINFO;
  sigemptyset(&act.sa_mask);
  REQUIRE(sigaction(SIGSEGV, &act, &g_old_action) == 0);

  std::atomic<int> first_returned{0};
  std::vector<int32_t> st;
  std::vector<std::string> msgs;
  std::string ctx_msg_during;
  std::thread second([&] {
    while (!g_fault_seen.load() && !first_returned.load()) sched_yield();
    if (g_fault_seen.load()) {
      const std::vector<float> x = make_data(kTokens, kCols, 3);
      const int64_t G = gptaq_num_groups(kCols, 8);
      std::vector<uint8_t> codes(static_cast<size_t>(kRows * kCols));
      std::vector<float> s(static_cast<size_t>(kRows * G)), z(static_cast<size_t>(kRows * G));
      st.push_back(gptaq_add_batch(h.ctx, x.data(), nullptr, kTokens, GPTAQ_DTYPE_F32));
      msgs.push_back(gptaq_last_errmsg());
      st.push_back(gptaq_solve(h.ctx, h.weight.data(), kRows, kCols, codes.data(), s.data(),
                               z.data(), nullptr, nullptr, nullptr));
      msgs.push_back(gptaq_last_errmsg());
      st.push_back(gptaq_ctx_reset(h.ctx));
      msgs.push_back(gptaq_last_errmsg());
      st.push_back(gptaq_ctx_set_config(h.ctx, &h.cfg));
      msgs.push_back(gptaq_last_errmsg());
    }
    g_second_done.store(1);
  });
  const int32_t first = gptaq_add_batch(h.ctx, g_page, nullptr, kTokens, GPTAQ_DTYPE_F32);
  first_returned.store(1);
  second.join();
  sigaction(SIGSEGV, &g_old_action, nullptr);
  munmap(g_page, g_page_size);
  g_page = nullptr;

  REQUIRE(g_fault_seen.load() == 1);
  CHECK(first == GPTAQ_OK);
  REQUIRE(st.size() == 4);
  for (size_t i = 0; i < st.size(); ++i) {
    INFO("call ", i, ": ", st[i], " \"", msgs[i], "\"");
    CHECK(st[i] == GPTAQ_ERR_BUSY);
    CHECK(contains(msgs[i], "another thread"));
  }
  // The first call's batch went in exactly once (the control gets it in check_intact,
  // so add it there now and compare everything else as usual).
  const std::vector<float> again = make_data(kTokens, kCols, 2);
  REQUIRE(gptaq_add_batch(h.control, again.data(), nullptr, kTokens, GPTAQ_DTYPE_F32) == GPTAQ_OK);
  CHECK(gptaq_ctx_num_tokens(h.ctx) == gptaq_ctx_num_tokens(h.control));
  // The busy calls neither changed nor reset anything, nor overwrote the context's
  // message (the first call succeeded, so it is empty).
  CHECK(std::string(gptaq_ctx_errmsg(h.ctx)).empty());
  h.check_intact();
}
#endif

// ---------------------------------------------------------------------------------------
// Helpers without a context: half conversion, npy files
// ---------------------------------------------------------------------------------------

TEST_CASE("errors: half-precision helpers") {
  float f[4] = {1, 2, 3, 4};
  uint16_t hbits[4] = {0, 0, 0, 0};
  EXPECT_TLS_ERR(gptaq_f32_to_half(GPTAQ_DTYPE_F32, f, hbits, 4), GPTAQ_ERR_INVALID_ARGUMENT,
                 "dtype");
  EXPECT_TLS_ERR(gptaq_f32_to_half(GPTAQ_DTYPE_F16, nullptr, hbits, 4), GPTAQ_ERR_INVALID_ARGUMENT,
                 "NULL");
  EXPECT_TLS_ERR(gptaq_f32_to_half(GPTAQ_DTYPE_F16, f, hbits, -1), GPTAQ_ERR_INVALID_ARGUMENT,
                 "n =");
  EXPECT_TLS_ERR(gptaq_half_to_f32(7, hbits, f, 4), GPTAQ_ERR_INVALID_ARGUMENT, "dtype");
  EXPECT_TLS_ERR(gptaq_half_to_f32(GPTAQ_DTYPE_BF16, hbits, nullptr, 4), GPTAQ_ERR_INVALID_ARGUMENT,
                 "NULL");
}

TEST_CASE("errors: npy reader on missing, garbage and truncated files") {
  auto expect_open_fails = [](const std::string &path, int32_t want, const char *needle) {
    gptaq_npy_reader *r = reinterpret_cast<gptaq_npy_reader *>(&r);
    const int32_t st = gptaq_npy_open(&r, path.c_str());
    const std::string msg = gptaq_last_errmsg();
    INFO(path, " -> ", st, " (", gptaq_status_string(st), "): \"", msg, "\"");
    CHECK(st == want);
    CHECK(r == nullptr);
    CHECK_FALSE(msg.empty());
    CHECK(contains(msg, needle));
    if (st == GPTAQ_OK) gptaq_npy_close(r);
  };

  // A valid file to start from: 6 x 5 float32.
  const std::string good = temp_path("good.npy");
  const std::vector<float> data = make_data(6, 5, 9);
  REQUIRE(gptaq_npy_write(good.c_str(), GPTAQ_DTYPE_F32, 6, 5, data.data()) == GPTAQ_OK);
  const std::uintmax_t good_size = std::filesystem::file_size(good);

  SUBCASE("NULL arguments") {
    gptaq_npy_reader *r = nullptr;
    EXPECT_TLS_ERR(gptaq_npy_open(nullptr, good.c_str()), GPTAQ_ERR_INVALID_ARGUMENT, "out");
    EXPECT_TLS_ERR(gptaq_npy_open(&r, nullptr), GPTAQ_ERR_INVALID_ARGUMENT, "path");
    CHECK(r == nullptr);
    int64_t n = 5;
    EXPECT_TLS_ERR(gptaq_npy_info(nullptr, nullptr, nullptr, nullptr), GPTAQ_ERR_INVALID_ARGUMENT,
                   "reader");
    EXPECT_TLS_ERR(gptaq_npy_read_rows(nullptr, &n, 1, &n), GPTAQ_ERR_INVALID_ARGUMENT, "reader");
    CHECK(n == 0);
    REQUIRE(gptaq_npy_open(&r, good.c_str()) == GPTAQ_OK);
    EXPECT_TLS_ERR(gptaq_npy_read_rows(r, nullptr, 2, nullptr), GPTAQ_ERR_INVALID_ARGUMENT, "dst");
    std::vector<float> buf(static_cast<size_t>(6 * 5));
    EXPECT_TLS_ERR(gptaq_npy_read_rows(r, buf.data(), -1, nullptr), GPTAQ_ERR_INVALID_ARGUMENT,
                   "max_rows");
    // The reader is still usable after those failures.
    int64_t got = 0;
    REQUIRE(gptaq_npy_read_rows(r, buf.data(), 100, &got) == GPTAQ_OK);
    CHECK(got == 6);
    CHECK(buf == data);
    CHECK(std::string(gptaq_last_errmsg()).empty());
    gptaq_npy_close(r);
  }
  SUBCASE("missing file and a directory") {
    expect_open_fails(temp_path("does_not_exist.npy"), GPTAQ_ERR_IO, "does_not_exist.npy");
    const std::string dir = temp_path("a_directory.npy");
    std::filesystem::create_directories(dir);
    gptaq_npy_reader *r = nullptr;
    const int32_t st = gptaq_npy_open(&r, dir.c_str());
    CHECK((st == GPTAQ_ERR_IO || st == GPTAQ_ERR_FORMAT));
    CHECK(r == nullptr);
    CHECK(contains(gptaq_last_errmsg(), "a_directory.npy"));
  }
  SUBCASE("garbage, empty and short files") {
    const std::string p = temp_path("garbage.npy");
    write_bytes(p, "this is certainly not a numpy file, just some text\n");
    expect_open_fails(p, GPTAQ_ERR_FORMAT, "not a .npy");
    write_bytes(p, "");
    expect_open_fails(p, GPTAQ_ERR_FORMAT, "not a .npy");
    write_bytes(p, "\x93NUM");
    expect_open_fails(p, GPTAQ_ERR_FORMAT, "not a .npy");
  }
  SUBCASE("truncated header and truncated data") {
    const std::string p = temp_path("truncated.npy");
    std::filesystem::copy_file(good, p, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(p, 30);  // inside the header
    expect_open_fails(p, GPTAQ_ERR_FORMAT, "truncated");
    std::filesystem::copy_file(good, p, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(p, good_size - 1);  // one byte of data missing
    expect_open_fails(p, GPTAQ_ERR_FORMAT, "promises");
    std::filesystem::copy_file(good, p, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(p, good_size - 4 * 5);  // one row missing
    expect_open_fails(p, GPTAQ_ERR_FORMAT, "promises");
  }
  SUBCASE("malformed headers") {
    const std::string p = temp_path("bad_header.npy");
    write_bytes(p, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24, 9));
    expect_open_fails(p, GPTAQ_ERR_FORMAT, "version");
    write_bytes(p, npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24));
    expect_open_fails(p, GPTAQ_ERR_FORMAT, "Fortran");
    write_bytes(p, npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 48));
    expect_open_fails(p, GPTAQ_ERR_FORMAT, "dtype");
    write_bytes(p, npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 24));
    expect_open_fails(p, GPTAQ_ERR_FORMAT, "dtype");
    write_bytes(p, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }", 96));
    expect_open_fails(p, GPTAQ_ERR_FORMAT, "rank");
    write_bytes(p, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 4));
    expect_open_fails(p, GPTAQ_ERR_FORMAT, "rank");
    write_bytes(p, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }", 24));
    expect_open_fails(p, GPTAQ_ERR_FORMAT, "shape");
    write_bytes(p, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, }", 24));
    expect_open_fails(p, GPTAQ_ERR_FORMAT, "malformed");
    write_bytes(p, npy_bytes("{'descr': '<f4', 'fortran_order': False, }", 24));
    expect_open_fails(p, GPTAQ_ERR_FORMAT, "shape");
    write_bytes(p, npy_bytes("{'fortran_order': False, 'shape': (2, 3), }", 24));
    expect_open_fails(p, GPTAQ_ERR_FORMAT, "descr");
    // A shape whose byte count overflows, and one that overflows int64 while parsing.
    write_bytes(p, npy_bytes("{'descr': '<f4', 'fortran_order': False, "
                             "'shape': (4611686018427387904, 4611686018427387904), }",
                             24));
    expect_open_fails(p, GPTAQ_ERR_FORMAT, "overflows");
    write_bytes(p, npy_bytes("{'descr': '<f4', 'fortran_order': False, "
                             "'shape': (99999999999999999999999, 3), }",
                             24));
    expect_open_fails(p, GPTAQ_ERR_FORMAT, "overflows");
    // A header length beyond the file (v2 header, 4-byte length).
    std::string v2 = "\x93NUMPY";
    v2.push_back('\x02');
    v2.push_back('\0');
    v2 += std::string("\xff\xff\x0f\x00", 4);
    v2 += "{'descr': '<f4'";
    write_bytes(p, v2);
    expect_open_fails(p, GPTAQ_ERR_FORMAT, "header");
  }
  SUBCASE("npy writer errors") {
    EXPECT_TLS_ERR(gptaq_npy_write(nullptr, GPTAQ_DTYPE_F32, 6, 5, data.data()),
                   GPTAQ_ERR_INVALID_ARGUMENT, "path");
    EXPECT_TLS_ERR(gptaq_npy_write(temp_path("w.npy").c_str(), GPTAQ_DTYPE_BF16, 6, 5, data.data()),
                   GPTAQ_ERR_INVALID_ARGUMENT, "dtype");
    EXPECT_TLS_ERR(gptaq_npy_write(temp_path("w.npy").c_str(), 42, 6, 5, data.data()),
                   GPTAQ_ERR_INVALID_ARGUMENT, "dtype");
    EXPECT_TLS_ERR(gptaq_npy_write(temp_path("w.npy").c_str(), GPTAQ_DTYPE_F32, 6, 5, nullptr),
                   GPTAQ_ERR_INVALID_ARGUMENT, "data");
    EXPECT_TLS_ERR(gptaq_npy_write(temp_path("w.npy").c_str(), GPTAQ_DTYPE_F32, -6, 5, data.data()),
                   GPTAQ_ERR_INVALID_ARGUMENT, "negative");
    const std::string nodir = temp_path("no_such_dir") + "/x.npy";
    EXPECT_TLS_ERR(gptaq_npy_write(nodir.c_str(), GPTAQ_DTYPE_F32, 6, 5, data.data()), GPTAQ_ERR_IO,
                   "no_such_dir");
  }
  std::error_code ec;
  std::filesystem::remove_all(std::filesystem::path(good).parent_path(), ec);
}
