// The CUDA backend: selection and its errors (run everywhere), and, where a device
// answers, cross-backend consistency with the CPU on structured problems across
// configurations, batches in every dtype from host and device memory, masks, NaN
// rejection, caller streams and allocation failure, rows that are not multiples of 32,
// multi-chunk statistics compared bit for bit on exact (dyadic) data, MSE, GPTQT binary,
// damping retries, factor reuse, dequantized outputs, two threads with two contexts at
// once, and (opt-in, GPTAQ_TEST_LARGE=1) more than 2^31 elements per matrix. Without a
// device those cases say so (MESSAGE) and return early; with GPTAQ_REQUIRE_CUDA=1 (the
// device check, scripts/gpu-check.sh) every such skip is a failure instead.
//
// Device memory for the device-pointer cases comes from the CUDA runtime opened with
// dlopen, so this file needs no CUDA headers and builds in CPU-only trees too.
#include <doctest/doctest.h>
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gptaq/gptaq.h"

namespace {

bool has_cuda_device() { return gptaq_backend_available(GPTAQ_BACKEND_CUDA) == 1; }
bool cuda_compiled() {
  return std::string(gptaq_build_info()).find("backends: cpu,cuda") != std::string::npos;
}

// GPTAQ_REQUIRE_CUDA=1 (anything but empty or "0"): a device run, where a skip means the
// check did not happen.
bool require_cuda() {
  const char *e = std::getenv("GPTAQ_REQUIRE_CUDA");
  return e && *e && std::strcmp(e, "0") != 0;
}

#define SKIP_CUDA(why)                                                                     \
  do {                                                                                     \
    if (require_cuda()) FAIL("GPTAQ_REQUIRE_CUDA is set but " why);                        \
    MESSAGE("skipped: " why);                                                              \
    return;                                                                                \
  } while (0)

#define SKIP_WITHOUT_CUDA()                                                                \
  do {                                                                                     \
    if (!has_cuda_device()) SKIP_CUDA("no CUDA device answers (gptaq_backend_available(CUDA) == 0)"); \
  } while (0)

// The few runtime entry points the device-pointer cases need, from libcudart by dlopen.
struct CudaRt {
  void *lib = nullptr;
  int (*malloc_)(void **, size_t) = nullptr;
  int (*free_)(void *) = nullptr;
  int (*memcpy_)(void *, const void *, size_t, int) = nullptr;
  int (*stream_create)(void **) = nullptr;
  int (*stream_destroy)(void *) = nullptr;
  int (*stream_sync)(void *) = nullptr;
  int (*device_sync)() = nullptr;
  CudaRt() {
    for (const char *name : {"libcudart.so.13", "libcudart.so.12", "libcudart.so"}) {
      lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (lib) break;
    }
    if (!lib) return;
    malloc_ = reinterpret_cast<int (*)(void **, size_t)>(dlsym(lib, "cudaMalloc"));
    free_ = reinterpret_cast<int (*)(void *)>(dlsym(lib, "cudaFree"));
    memcpy_ = reinterpret_cast<int (*)(void *, const void *, size_t, int)>(dlsym(lib, "cudaMemcpy"));
    stream_create = reinterpret_cast<int (*)(void **)>(dlsym(lib, "cudaStreamCreate"));
    stream_destroy = reinterpret_cast<int (*)(void *)>(dlsym(lib, "cudaStreamDestroy"));
    stream_sync = reinterpret_cast<int (*)(void *)>(dlsym(lib, "cudaStreamSynchronize"));
    device_sync = reinterpret_cast<int (*)()>(dlsym(lib, "cudaDeviceSynchronize"));
  }
  ~CudaRt() {
    if (lib) dlclose(lib);
  }
  bool ok() const {
    return malloc_ && free_ && memcpy_ && stream_create && stream_destroy && stream_sync &&
           device_sync;
  }
  // A device copy of host bytes (nullptr on failure).
  void *to_device(const void *host, size_t bytes) {
    void *d = nullptr;
    if (malloc_(&d, bytes) != 0) return nullptr;
    if (memcpy_(d, host, bytes, 1 /* cudaMemcpyHostToDevice */) != 0) {
      free_(d);
      return nullptr;
    }
    return d;
  }
};

// Deterministic structured problem: correlated inputs (low rank plus noise) with uneven
// channel scales, two outlier channels and one dead channel; x_fp = x_q plus a small
// perturbation; weights mostly Gaussian with a few heavy entries.
struct Problem {
  int64_t rows, cols, tokens;
  std::vector<float> w, xq, xfp;
};

struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
  double normal() {
    double t = 0.0;
    for (int i = 0; i < 4; ++i) t += uniform();
    return (t - 2.0) * std::sqrt(3.0);
  }
};

Problem make_problem(int64_t rows, int64_t cols, int64_t tokens, uint64_t seed) {
  Problem p{rows, cols, tokens, {}, {}, {}};
  Rng rng{seed * 7919 + 17};
  const int64_t rank = 16;
  std::vector<double> mix(static_cast<size_t>(rank * cols)), scale(static_cast<size_t>(cols));
  for (auto &v : mix) v = rng.normal();
  for (auto &v : scale) v = 0.5 + rng.uniform();
  scale[size_t(cols / 3)] = 20.0;
  scale[size_t(cols / 2)] = 45.0;
  const int64_t dead = cols - 5;
  p.xq.resize(size_t(tokens * cols));
  p.xfp.resize(size_t(tokens * cols));
  std::vector<double> z(static_cast<size_t>(rank));
  for (int64_t t = 0; t < tokens; ++t) {
    for (auto &v : z) v = rng.normal();
    for (int64_t c = 0; c < cols; ++c) {
      double v = 0.0;
      for (int64_t k = 0; k < rank; ++k) v += z[size_t(k)] * mix[size_t(k * cols + c)];
      v = (v / std::sqrt(double(rank)) + 0.3 * rng.normal()) * scale[size_t(c)];
      const size_t i = size_t(t * cols + c);
      p.xq[i] = c == dead ? 0.0f : float(v);
      p.xfp[i] = float(v + 0.05 * scale[size_t(c)] * rng.normal());
    }
  }
  p.w.resize(size_t(rows * cols));
  for (auto &v : p.w) v = float(rng.normal() * (rng.uniform() < 0.03 ? 4.0 : 1.0) * 0.02);
  return p;
}

struct Result {
  int32_t status = -1;
  std::string err;
  std::vector<uint8_t> codes;
  std::vector<float> scales, zeros;
  std::vector<int32_t> g_idx;
  std::vector<float> dequant;
  double loss = 0.0;
  int64_t tokens = 0;
  int32_t backend = -1;
  gptaq_solve_info info{};
};

// Feed the problem in batches of `batch` tokens (dtype f32/f16/bf16, from host memory)
// and solve.
Result run(int32_t backend, gptaq_config cfg, const Problem &p, int32_t dtype = GPTAQ_DTYPE_F32,
           int64_t batch = 200, int solves = 1) {
  Result r;
  cfg.backend = backend;
  gptaq_ctx *ctx = nullptr;
  r.status = gptaq_ctx_create(&ctx, p.cols, &cfg);
  if (r.status != GPTAQ_OK) {
    r.err = gptaq_last_errmsg();
    return r;
  }
  r.backend = gptaq_ctx_backend(ctx);
  const bool cross = cfg.method == GPTAQ_METHOD_GPTAQ;
  std::vector<uint16_t> hq, hfp;
  for (int64_t t0 = 0; t0 < p.tokens && r.status == GPTAQ_OK; t0 += batch) {
    const int64_t tt = std::min(batch, p.tokens - t0);
    const float *q = p.xq.data() + t0 * p.cols, *f = p.xfp.data() + t0 * p.cols;
    if (dtype == GPTAQ_DTYPE_F32) {
      r.status = gptaq_add_batch(ctx, q, cross ? f : nullptr, tt, dtype);
    } else {
      hq.resize(size_t(tt * p.cols));
      hfp.resize(size_t(tt * p.cols));
      gptaq_f32_to_half(dtype, q, hq.data(), tt * p.cols);
      gptaq_f32_to_half(dtype, f, hfp.data(), tt * p.cols);
      r.status = gptaq_add_batch(ctx, hq.data(), cross ? hfp.data() : nullptr, tt, dtype);
    }
  }
  if (r.status == GPTAQ_OK) {
    const int64_t G = gptaq_num_groups(p.cols, cfg.group_size);
    r.codes.assign(size_t(p.rows * p.cols), 0);
    r.scales.assign(size_t(p.rows * G), 0.0f);
    r.zeros.assign(size_t(p.rows * G), 0.0f);
    r.g_idx.assign(size_t(p.cols), -1);
    r.dequant.assign(size_t(p.rows * p.cols), 0.0f);
    const bool binary = cfg.quantizer == GPTAQ_QUANTIZER_BINARY;
    if (binary) r.scales.assign(size_t(p.rows * G * cfg.bits), 0.0f);
    // solves > 1: the later solves reuse the factorization and must give the same bits.
    for (int k = 0; k < solves && r.status == GPTAQ_OK; ++k) {
      gptaq_solve_info info;
      std::memset(&info, 0, sizeof info);
      info.struct_size = sizeof info;
      std::vector<uint8_t> codes(r.codes.size());
      std::vector<float> sc(r.scales.size()), z(r.zeros.size()), dq(r.dequant.size());
      r.status = binary ? gptaq_solve_binary(ctx, p.w.data(), p.rows, p.cols, codes.data(),
                                             sc.data(), z.data(), r.g_idx.data(), dq.data(), &info)
                        : gptaq_solve(ctx, p.w.data(), p.rows, p.cols, codes.data(), sc.data(),
                                      z.data(), r.g_idx.data(), dq.data(), &info);
      if (r.status != GPTAQ_OK) break;
      if (k == 0) {
        r.codes = codes;
        r.scales = sc;
        r.zeros = z;
        r.dequant = dq;
        r.info = info;
        r.loss = info.loss;
      } else {
        CHECK(info.factor_reused == 1);
        CHECK(codes == r.codes);
        CHECK(sc == r.scales);
        CHECK(z == r.zeros);
        CHECK(dq == r.dequant);
        CHECK(info.loss == r.loss);
      }
    }
  }
  if (r.status != GPTAQ_OK) r.err = gptaq_ctx_errmsg(ctx);
  r.tokens = gptaq_ctx_num_tokens(ctx);
  gptaq_ctx_free(ctx);
  return r;
}

double same_fraction(const std::vector<uint8_t> &a, const std::vector<uint8_t> &b) {
  if (a.size() != b.size() || a.empty()) return 0.0;
  size_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  return double(same) / double(a.size());
}

// CUDA against CPU: >= 99% identical codes, loss within 0.5%.
void check_consistent(const Result &cpu, const Result &gpu, bool has_loss) {
  REQUIRE(cpu.status == GPTAQ_OK);
  REQUIRE(gpu.status == GPTAQ_OK);
  CHECK(cpu.backend == GPTAQ_BACKEND_CPU);
  CHECK(gpu.backend == GPTAQ_BACKEND_CUDA);
  CHECK(gpu.tokens == cpu.tokens);
  const double same = same_fraction(cpu.codes, gpu.codes);
  CAPTURE(same);
  CHECK(same >= 0.99);
  CHECK(gpu.g_idx == cpu.g_idx);
  if (has_loss) {
    CAPTURE(cpu.loss);
    CAPTURE(gpu.loss);
    CHECK(cpu.loss > 0.0);
    CHECK(std::fabs(gpu.loss - cpu.loss) <= 0.005 * cpu.loss);
  }
}

gptaq_config base_config() {
  gptaq_config c;
  gptaq_config_init(&c, sizeof c);
  return c;
}

// The tighter checks: >= 99.9% identical codes, the same g_idx, a loss within 0.5%, the
// dequantized outputs equal where the codes and params are, and identical params where
// they come from the original weight (static groups, one group per row, and every
// row's first group, which no error has reached when its params are computed). RTN
// (no statistics, no factorization) must agree bit for bit.
void check_tight(const Result &cpu, const Result &gpu, const gptaq_config &cfg) {
  REQUIRE(cpu.status == GPTAQ_OK);
  REQUIRE(gpu.status == GPTAQ_OK);
  CHECK(gpu.backend == GPTAQ_BACKEND_CUDA);
  const double same = same_fraction(cpu.codes, gpu.codes);
  CAPTURE(same);
  CHECK(gpu.g_idx == cpu.g_idx);
  if (cfg.method == GPTAQ_METHOD_RTN) {
    CHECK(gpu.codes == cpu.codes);
    CHECK(gpu.scales == cpu.scales);
    CHECK(gpu.zeros == cpu.zeros);
    CHECK(gpu.dequant == cpu.dequant);
    return;
  }
  CHECK(same >= 0.999);
  CAPTURE(cpu.loss);
  CAPTURE(gpu.loss);
  CHECK(std::fabs(gpu.loss - cpu.loss) <= 0.005 * cpu.loss);
  const size_t rows = cpu.codes.size() / cpu.g_idx.size();
  const size_t G = cpu.zeros.size() / rows, per = cpu.scales.size() / cpu.zeros.size();
  const bool from_original = cfg.static_groups || cfg.group_size < 0;
  if (!cfg.mse) {
    size_t params_same = 0;
    for (size_t r = 0; r < rows; ++r)
      for (size_t k = 0; k < G; ++k) {
        bool eq = cpu.zeros[r * G + k] == gpu.zeros[r * G + k];
        for (size_t b = 0; b < per; ++b)
          eq = eq && cpu.scales[(r * G + k) * per + b] == gpu.scales[(r * G + k) * per + b];
        params_same += eq;
        if (from_original || k == 0) CHECK(eq);
      }
    CHECK(double(params_same) >= 0.99 * double(rows * G));
  }
  // Dequantized values: equal wherever the code and the group's params are.
  size_t checked = 0, equal = 0;
  const size_t n = cpu.g_idx.size();
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < n; ++j) {
      const size_t k = size_t(cpu.g_idx[j] < 0 ? 0 : cpu.g_idx[j]);
      bool pe = cpu.zeros[r * G + k] == gpu.zeros[r * G + k];
      for (size_t b = 0; b < per; ++b)
        pe = pe && cpu.scales[(r * G + k) * per + b] == gpu.scales[(r * G + k) * per + b];
      if (!pe || cpu.codes[r * n + j] != gpu.codes[r * n + j]) continue;
      ++checked;
      equal += cpu.dequant[r * n + j] == gpu.dequant[r * n + j];
    }
  CHECK(checked > 0);
  CHECK(equal == checked);
}

// Exact data: every input a multiple of 1/8 in [-1, 1], so every product and every sum
// of the statistics is exact in fp32 (and in fp16 inputs), whatever the summation order.
Problem make_dyadic_problem(int64_t rows, int64_t cols, int64_t tokens, uint64_t seed) {
  Problem p{rows, cols, tokens, {}, {}, {}};
  Rng rng{seed * 104729 + 3};
  p.xq.resize(size_t(tokens * cols));
  p.xfp.resize(p.xq.size());
  for (size_t i = 0; i < p.xq.size(); ++i) {
    p.xq[i] = float(int64_t(rng.next() % 17) - 8) / 8.0f;
    p.xfp[i] = p.xq[i] + float(int64_t(rng.next() % 5) - 2) / 8.0f;
  }
  p.w.resize(size_t(rows * cols));
  for (auto &v : p.w) v = float(rng.normal() * 0.02);
  return p;
}

// The serialized statistics (the byte format of gptaq_stats_save) of a context.
std::vector<uint8_t> serialized(gptaq_ctx *ctx) {
  int64_t bytes = 0;
  REQUIRE(gptaq_stats_serialized_size(ctx, &bytes) == GPTAQ_OK);
  std::vector<uint8_t> out(static_cast<size_t>(bytes));
  int64_t written = 0;
  REQUIRE(gptaq_stats_serialize(ctx, out.data(), bytes, &written) == GPTAQ_OK);
  out.resize(size_t(written));
  return out;
}

}  // namespace

TEST_CASE("cuda: selecting the backend without a device fails clearly, AUTO falls back") {
  gptaq_config cfg = base_config();
  if (!has_cuda_device()) {
    if (require_cuda()) FAIL("GPTAQ_REQUIRE_CUDA is set but no CUDA device answers");
    cfg.backend = GPTAQ_BACKEND_CUDA;
    gptaq_ctx *ctx = reinterpret_cast<gptaq_ctx *>(0x1);
    CHECK(gptaq_ctx_create(&ctx, 64, &cfg) == GPTAQ_ERR_BACKEND_UNAVAILABLE);
    CHECK(ctx == nullptr);
    const std::string msg = gptaq_last_errmsg();
    CAPTURE(msg);
    if (cuda_compiled())
      CHECK(msg.find("no CUDA device") != std::string::npos);
    else
      CHECK(msg.find("no CUDA support") != std::string::npos);
    cfg.backend = GPTAQ_BACKEND_AUTO;
    REQUIRE(gptaq_ctx_create(&ctx, 64, &cfg) == GPTAQ_OK);
    CHECK(gptaq_ctx_backend(ctx) == GPTAQ_BACKEND_CPU);
    gptaq_ctx_free(ctx);
  } else {
    cfg.backend = GPTAQ_BACKEND_AUTO;
    gptaq_ctx *ctx = nullptr;
    REQUIRE(gptaq_ctx_create(&ctx, 64, &cfg) == GPTAQ_OK);
    CHECK(gptaq_ctx_backend(ctx) == GPTAQ_BACKEND_CUDA);
    gptaq_ctx_free(ctx);
    cfg.backend = GPTAQ_BACKEND_CUDA;
    cfg.device = 4095;
    CHECK(gptaq_ctx_create(&ctx, 64, &cfg) == GPTAQ_ERR_BACKEND_UNAVAILABLE);
    CHECK(std::string(gptaq_last_errmsg()).find("no CUDA device 4095") != std::string::npos);
  }
  CHECK(gptaq_backend_available(GPTAQ_BACKEND_CPU) == 1);
  CHECK(gptaq_backend_available(GPTAQ_BACKEND_AUTO) == 1);
}

TEST_CASE("cuda: a stream can be set only on a CUDA context") {
  gptaq_config cfg = base_config();
  cfg.backend = GPTAQ_BACKEND_CPU;
  gptaq_ctx *ctx = nullptr;
  REQUIRE(gptaq_ctx_create(&ctx, 16, &cfg) == GPTAQ_OK);
  int dummy = 0;
  CHECK(gptaq_ctx_set_stream(ctx, &dummy) == GPTAQ_ERR_UNSUPPORTED);
  CHECK(std::string(gptaq_ctx_errmsg(ctx)).find("CUDA") != std::string::npos);
  CHECK(gptaq_ctx_set_stream(ctx, nullptr) == GPTAQ_OK);
  gptaq_ctx_free(ctx);
}

TEST_CASE("cuda: CPU and CUDA agree across configurations") {
  SKIP_WITHOUT_CUDA();
  struct Case {
    const char *name;
    int32_t method, bits, group, sym, act_order, static_groups, mse, block;  // act_order 2: GAR
    int32_t failsafe_tokens = 0;
  };
  const Case cases[] = {
      {"gptq 4b g128", GPTAQ_METHOD_GPTQ, 4, 128, 1, 0, 0, 0, 128},
      {"gptq 3b per-row asym", GPTAQ_METHOD_GPTQ, 3, -1, 0, 0, 0, 0, 128},
      {"gptq 2b g64 act-order", GPTAQ_METHOD_GPTQ, 2, 64, 1, 1, 0, 0, 128},
      {"gptq 4b g64 act-order static", GPTAQ_METHOD_GPTQ, 4, 64, 0, 1, 1, 0, 128},
      {"gptq 3b g128 mse", GPTAQ_METHOD_GPTQ, 3, 128, 1, 0, 0, 1, 128},
      {"gptq 8b g32 block 48 (groups straddle blocks)", GPTAQ_METHOD_GPTQ, 8, 32, 0, 0, 0, 0, 48},
      {"gptq 4b g100 block 37 (odd)", GPTAQ_METHOD_GPTQ, 4, 100, 1, 0, 0, 0, 37},
      {"gptq 4b per-row block 1024", GPTAQ_METHOD_GPTQ, 4, -1, 1, 0, 0, 0, 1024},
      {"gptaq 4b g128", GPTAQ_METHOD_GPTAQ, 4, 128, 1, 0, 0, 0, 128},
      {"gptaq 3b g64 act-order asym", GPTAQ_METHOD_GPTAQ, 3, 64, 0, 1, 0, 0, 128},
      {"gptaq 2b g128 static act-order mse", GPTAQ_METHOD_GPTAQ, 2, 128, 1, 1, 1, 1, 64},
      {"rtn 4b g128", GPTAQ_METHOD_RTN, 4, 128, 1, 0, 0, 0, 128},
      {"gptq 4b g100 GAR (partial last group)", GPTAQ_METHOD_GPTQ, 4, 100, 1, 2, 0, 0, 128},
      {"gptq 3b g64 GAR block 48 asym", GPTAQ_METHOD_GPTQ, 3, 64, 0, 2, 0, 0, 48},
      {"gptaq 4b g128 GAR static", GPTAQ_METHOD_GPTAQ, 4, 128, 1, 2, 1, 0, 128},
      {"gptaq 3b g64 failsafe (RTN)", GPTAQ_METHOD_GPTAQ, 3, 64, 0, 2, 0, 0, 128, 1 << 30},
  };
  const Problem p = make_problem(96, 384, 700, 3);
  for (const Case &c : cases) {
    CAPTURE(c.name);
    gptaq_config cfg = base_config();
    cfg.method = c.method;
    cfg.bits = c.bits;
    cfg.group_size = c.group;
    cfg.sym = c.sym;
    cfg.act_order = c.act_order == 1;
    cfg.act_group_aware = c.act_order == 2;
    cfg.failsafe_tokens = c.failsafe_tokens;
    cfg.static_groups = c.static_groups;
    cfg.mse = c.mse;
    cfg.block_size = c.block;
    const Result cpu = run(GPTAQ_BACKEND_CPU, cfg, p);
    const Result gpu = run(GPTAQ_BACKEND_CUDA, cfg, p);
    INFO(gpu.err);
    check_consistent(cpu, gpu, c.method != GPTAQ_METHOD_RTN && c.failsafe_tokens == 0);
  }
}

TEST_CASE("cuda: fp16 and bf16 batches match the CPU") {
  SKIP_WITHOUT_CUDA();
  const Problem p = make_problem(64, 256, 500, 5);
  for (int32_t dt : {GPTAQ_DTYPE_F16, GPTAQ_DTYPE_BF16}) {
    for (int32_t method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ}) {
      CAPTURE(dt);
      CAPTURE(method);
      gptaq_config cfg = base_config();
      cfg.method = method;
      const Result cpu = run(GPTAQ_BACKEND_CPU, cfg, p, dt, 128);
      const Result gpu = run(GPTAQ_BACKEND_CUDA, cfg, p, dt, 128);
      INFO(gpu.err);
      check_consistent(cpu, gpu, true);
    }
  }
}

TEST_CASE("cuda: device-pointer batches give the same statistics as host ones") {
  SKIP_WITHOUT_CUDA();
  CudaRt rt;
  if (!rt.ok()) SKIP_CUDA("the CUDA runtime library could not be opened");
  const Problem p = make_problem(48, 192, 300, 7);
  const int64_t n = p.cols;
  for (int32_t dt : {GPTAQ_DTYPE_F32, GPTAQ_DTYPE_F16, GPTAQ_DTYPE_BF16}) {
    CAPTURE(dt);
    std::vector<uint16_t> hq(p.xq.size()), hfp(p.xfp.size());
    const void *q = p.xq.data(), *f = p.xfp.data();
    size_t bytes = p.xq.size() * 4;
    if (dt != GPTAQ_DTYPE_F32) {
      gptaq_f32_to_half(dt, p.xq.data(), hq.data(), int64_t(hq.size()));
      gptaq_f32_to_half(dt, p.xfp.data(), hfp.data(), int64_t(hfp.size()));
      q = hq.data();
      f = hfp.data();
      bytes = hq.size() * 2;
    }
    void *dq = rt.to_device(q, bytes), *df = rt.to_device(f, bytes);
    REQUIRE(dq != nullptr);
    REQUIRE(df != nullptr);
    // Mask out every third token; mixed host/device inputs too.
    std::vector<uint8_t> mask(size_t(p.tokens));
    for (size_t t = 0; t < mask.size(); ++t) mask[t] = t % 3 != 0;
    gptaq_config cfg = base_config();
    cfg.method = GPTAQ_METHOD_GPTAQ;
    cfg.backend = GPTAQ_BACKEND_CUDA;
    gptaq_ctx *a = nullptr, *b = nullptr, *c = nullptr;
    REQUIRE(gptaq_ctx_create(&a, n, &cfg) == GPTAQ_OK);
    REQUIRE(gptaq_ctx_create(&b, n, &cfg) == GPTAQ_OK);
    REQUIRE(gptaq_ctx_create(&c, n, &cfg) == GPTAQ_OK);
    CHECK(gptaq_add_batch_masked(a, q, f, p.tokens, dt, mask.data()) == GPTAQ_OK);
    CHECK(gptaq_add_batch_masked(b, dq, df, p.tokens, dt, mask.data()) == GPTAQ_OK);
    CHECK(gptaq_add_batch_masked(c, dq, f, p.tokens, dt, mask.data()) == GPTAQ_OK);
    const int64_t kept = int64_t(std::count(mask.begin(), mask.end(), 1));
    CHECK(gptaq_ctx_num_tokens(a) == kept);
    CHECK(gptaq_ctx_num_tokens(b) == kept);
    CHECK(gptaq_ctx_num_tokens(c) == kept);
    const int64_t G = gptaq_num_groups(n, cfg.group_size);
    std::vector<uint8_t> ca(size_t(p.rows * n)), cb(ca.size()), cc(ca.size());
    std::vector<float> s(size_t(p.rows * G)), z(s.size());
    REQUIRE(gptaq_solve(a, p.w.data(), p.rows, n, ca.data(), s.data(), z.data(), nullptr,
                        nullptr, nullptr) == GPTAQ_OK);
    REQUIRE(gptaq_solve(b, p.w.data(), p.rows, n, cb.data(), s.data(), z.data(), nullptr,
                        nullptr, nullptr) == GPTAQ_OK);
    REQUIRE(gptaq_solve(c, p.w.data(), p.rows, n, cc.data(), s.data(), z.data(), nullptr,
                        nullptr, nullptr) == GPTAQ_OK);
    // Same data, same chunking, deterministic cuBLAS: identical results.
    CHECK(ca == cb);
    CHECK(ca == cc);
    gptaq_ctx_free(a);
    gptaq_ctx_free(b);
    gptaq_ctx_free(c);
    rt.free_(dq);
    rt.free_(df);
  }
}

TEST_CASE("cuda: a batch with NaN or Inf is rejected whole, from host or device memory") {
  SKIP_WITHOUT_CUDA();
  CudaRt rt;
  const Problem p = make_problem(32, 128, 256, 11);
  gptaq_config cfg = base_config();
  cfg.method = GPTAQ_METHOD_GPTAQ;
  cfg.backend = GPTAQ_BACKEND_CUDA;
  gptaq_ctx *clean = nullptr, *ctx = nullptr;
  REQUIRE(gptaq_ctx_create(&clean, p.cols, &cfg) == GPTAQ_OK);
  REQUIRE(gptaq_ctx_create(&ctx, p.cols, &cfg) == GPTAQ_OK);
  REQUIRE(gptaq_add_batch(clean, p.xq.data(), p.xfp.data(), p.tokens, GPTAQ_DTYPE_F32) == GPTAQ_OK);
  REQUIRE(gptaq_add_batch(ctx, p.xq.data(), p.xfp.data(), p.tokens, GPTAQ_DTYPE_F32) == GPTAQ_OK);

  std::vector<float> bad_q(p.xq), bad_fp(p.xfp);
  bad_q[bad_q.size() - 1] = NAN;  // the very last element
  bad_fp[7] = INFINITY;
  CHECK(gptaq_add_batch(ctx, bad_q.data(), p.xfp.data(), p.tokens, GPTAQ_DTYPE_F32) ==
        GPTAQ_ERR_NON_FINITE);
  CHECK(std::string(gptaq_ctx_errmsg(ctx)).find("x_q") != std::string::npos);
  CHECK(gptaq_add_batch(ctx, p.xq.data(), bad_fp.data(), p.tokens, GPTAQ_DTYPE_F32) ==
        GPTAQ_ERR_NON_FINITE);
  CHECK(std::string(gptaq_ctx_errmsg(ctx)).find("x_fp") != std::string::npos);
  if (require_cuda()) REQUIRE(rt.ok());
  if (rt.ok()) {
    void *dq = rt.to_device(bad_q.data(), bad_q.size() * 4);
    void *df = rt.to_device(bad_fp.data(), bad_fp.size() * 4);
    REQUIRE(dq != nullptr);
    REQUIRE(df != nullptr);
    CHECK(gptaq_add_batch(ctx, dq, p.xfp.data(), p.tokens, GPTAQ_DTYPE_F32) ==
          GPTAQ_ERR_NON_FINITE);
    CHECK(gptaq_add_batch(ctx, p.xq.data(), df, p.tokens, GPTAQ_DTYPE_F32) ==
          GPTAQ_ERR_NON_FINITE);
    rt.free_(dq);
    rt.free_(df);
  }
  CHECK(gptaq_ctx_num_tokens(ctx) == p.tokens);
  const int64_t G = gptaq_num_groups(p.cols, cfg.group_size);
  std::vector<uint8_t> c1(size_t(p.rows * p.cols)), c2(c1.size());
  std::vector<float> s(size_t(p.rows * G)), z(s.size());
  REQUIRE(gptaq_solve(clean, p.w.data(), p.rows, p.cols, c1.data(), s.data(), z.data(), nullptr,
                      nullptr, nullptr) == GPTAQ_OK);
  REQUIRE(gptaq_solve(ctx, p.w.data(), p.rows, p.cols, c2.data(), s.data(), z.data(), nullptr,
                      nullptr, nullptr) == GPTAQ_OK);
  CHECK(c1 == c2);  // the statistics did not move
  gptaq_ctx_free(clean);
  gptaq_ctx_free(ctx);
}

TEST_CASE("cuda: work on a caller's stream gives the same result") {
  SKIP_WITHOUT_CUDA();
  CudaRt rt;
  if (!rt.ok()) SKIP_CUDA("the CUDA runtime library could not be opened");
  void *stream = nullptr;
  REQUIRE(rt.stream_create(&stream) == 0);
  const Problem p = make_problem(40, 160, 320, 13);
  gptaq_config cfg = base_config();
  cfg.backend = GPTAQ_BACKEND_CUDA;
  cfg.act_order = 1;
  gptaq_ctx *own = nullptr, *ext = nullptr;
  REQUIRE(gptaq_ctx_create(&own, p.cols, &cfg) == GPTAQ_OK);
  REQUIRE(gptaq_ctx_create(&ext, p.cols, &cfg) == GPTAQ_OK);
  CHECK(gptaq_ctx_set_stream(ext, stream) == GPTAQ_OK);
  CHECK(gptaq_add_batch(own, p.xq.data(), nullptr, p.tokens, GPTAQ_DTYPE_F32) == GPTAQ_OK);
  CHECK(gptaq_add_batch(ext, p.xq.data(), nullptr, p.tokens, GPTAQ_DTYPE_F32) == GPTAQ_OK);
  const int64_t G = gptaq_num_groups(p.cols, cfg.group_size);
  std::vector<uint8_t> c1(size_t(p.rows * p.cols)), c2(c1.size());
  std::vector<float> s(size_t(p.rows * G)), z(s.size());
  REQUIRE(gptaq_solve(own, p.w.data(), p.rows, p.cols, c1.data(), s.data(), z.data(), nullptr,
                      nullptr, nullptr) == GPTAQ_OK);
  REQUIRE(gptaq_solve(ext, p.w.data(), p.rows, p.cols, c2.data(), s.data(), z.data(), nullptr,
                      nullptr, nullptr) == GPTAQ_OK);
  CHECK(c1 == c2);
  CHECK(gptaq_ctx_set_stream(ext, nullptr) == GPTAQ_OK);  // back to its own stream
  gptaq_ctx_free(own);
  gptaq_ctx_free(ext);
  CHECK(rt.stream_destroy(stream) == 0);
}

TEST_CASE("cuda: running out of device memory is a clear error and leaves CUDA usable") {
  SKIP_WITHOUT_CUDA();
  gptaq_config cfg = base_config();
  cfg.backend = GPTAQ_BACKEND_CUDA;
  gptaq_ctx *ctx = nullptr;
  // 400k columns: a 596 GiB Hessian, beyond any current device.
  CHECK(gptaq_ctx_create(&ctx, 400000, &cfg) == GPTAQ_ERR_OUT_OF_MEMORY);
  CHECK(ctx == nullptr);
  const std::string msg = gptaq_last_errmsg();
  CAPTURE(msg);
  CHECK(msg.find("640000000000 bytes") != std::string::npos);
  // The device still works afterwards.
  const Problem p = make_problem(16, 64, 128, 17);
  cfg.group_size = 32;
  const Result r = run(GPTAQ_BACKEND_CUDA, cfg, p);
  INFO(r.err);
  CHECK(r.status == GPTAQ_OK);
}

TEST_CASE("cuda: rows that are not multiples of 32 (33 and 8450) match the CPU tightly") {
  SKIP_WITHOUT_CUDA();
  for (int64_t rows : {int64_t{33}, int64_t{8450}}) {
    const Problem p = make_problem(rows, 256, 600, 19);
    for (int32_t method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ, GPTAQ_METHOD_RTN}) {
      for (int32_t group : {128, -1}) {
        CAPTURE(rows);
        CAPTURE(method);
        CAPTURE(group);
        gptaq_config cfg = base_config();
        cfg.method = method;
        cfg.group_size = group;
        const Result cpu = run(GPTAQ_BACKEND_CPU, cfg, p);
        const Result gpu = run(GPTAQ_BACKEND_CUDA, cfg, p);
        INFO(gpu.err);
        check_tight(cpu, gpu, cfg);
      }
    }
  }
}

TEST_CASE("cuda: static groups, act-order and block widths match the CPU tightly") {
  SKIP_WITHOUT_CUDA();
  const Problem p = make_problem(96, 384, 700, 23);
  struct Case {
    int32_t method, bits, group, sym, act_order, static_groups, block;
  };
  const Case cases[] = {{GPTAQ_METHOD_GPTQ, 4, 128, 1, 1, 1, 128},
                        {GPTAQ_METHOD_GPTAQ, 3, 64, 0, 1, 1, 256},
                        {GPTAQ_METHOD_GPTQ, 4, 32, 0, 0, 0, 48},
                        {GPTAQ_METHOD_GPTAQ, 2, -1, 1, 0, 0, 37}};
  for (const Case &c : cases) {
    gptaq_config cfg = base_config();
    cfg.method = c.method;
    cfg.bits = c.bits;
    cfg.group_size = c.group;
    cfg.sym = c.sym;
    cfg.act_order = c.act_order;
    cfg.static_groups = c.static_groups;
    cfg.block_size = c.block;
    CAPTURE(c.method);
    CAPTURE(c.block);
    const Result cpu = run(GPTAQ_BACKEND_CPU, cfg, p);
    const Result gpu = run(GPTAQ_BACKEND_CUDA, cfg, p);
    INFO(gpu.err);
    check_tight(cpu, gpu, cfg);
  }
}

TEST_CASE("cuda: the MSE clip search gives the CPU's bits (RTN) and codes (GPTQ)") {
  SKIP_WITHOUT_CUDA();
  const Problem p = make_problem(128, 256, 500, 29);
  for (int32_t method : {GPTAQ_METHOD_RTN, GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ}) {
    for (int32_t bits : {2, 4}) {
      CAPTURE(method);
      CAPTURE(bits);
      gptaq_config cfg = base_config();
      cfg.method = method;
      cfg.bits = bits;
      cfg.mse = 1;
      cfg.sym = bits == 4;
      const Result cpu = run(GPTAQ_BACKEND_CPU, cfg, p);
      const Result gpu = run(GPTAQ_BACKEND_CUDA, cfg, p);
      INFO(gpu.err);
      // RTN: identical bits (the same power function on host and device, pow_det).
      check_tight(cpu, gpu, cfg);
      if (method != GPTAQ_METHOD_RTN) {
        // Every row's first group is searched on the original weight: identical params.
        const size_t G = size_t(gptaq_num_groups(p.cols, cfg.group_size));
        for (size_t r = 0; r < size_t(p.rows); ++r) {
          CHECK(cpu.scales[r * G] == gpu.scales[r * G]);
          CHECK(cpu.zeros[r * G] == gpu.zeros[r * G]);
        }
      }
    }
  }
}

TEST_CASE("cuda: GPTQT binary coding matches the CPU") {
  SKIP_WITHOUT_CUDA();
  const Problem p = make_problem(64, 256, 500, 31);
  for (int32_t objective : {GPTAQ_OBJECTIVE_OUTPUT, GPTAQ_OBJECTIVE_HESSIAN}) {
    CAPTURE(objective);
    gptaq_config cfg = base_config();
    cfg.quantizer = GPTAQ_QUANTIZER_BINARY;
    cfg.bits = 3;
    cfg.objective = objective;
    const Result cpu = run(GPTAQ_BACKEND_CPU, cfg, p);
    const Result gpu = run(GPTAQ_BACKEND_CUDA, cfg, p);
    INFO(gpu.err);
    REQUIRE(cpu.status == GPTAQ_OK);
    REQUIRE(gpu.status == GPTAQ_OK);
    CHECK(gpu.info.level_set == cpu.info.level_set);
    CHECK(gpu.info.scale_index == cpu.info.scale_index);
    check_tight(cpu, gpu, cfg);
  }
}

TEST_CASE("cuda: a reused factorization gives the same bits, on both backends") {
  SKIP_WITHOUT_CUDA();
  const Problem p = make_problem(48, 192, 400, 37);
  for (int32_t method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ}) {
    CAPTURE(method);
    gptaq_config cfg = base_config();
    cfg.method = method;
    cfg.act_order = 1;
    const Result cpu = run(GPTAQ_BACKEND_CPU, cfg, p, GPTAQ_DTYPE_F32, 200, 3);
    const Result gpu = run(GPTAQ_BACKEND_CUDA, cfg, p, GPTAQ_DTYPE_F32, 200, 3);
    INFO(gpu.err);
    check_tight(cpu, gpu, cfg);
  }
}

// Statistics written through gptaq_stats_buffers_get: H = c I except one 2 x 2 block
// [[c, 2c], [2c, c]] (eigenvalues 3c and -c), all powers of two. Relative damping 0.01,
// 0.1 and 1 leave it not positive definite (1 makes it exactly singular), 10 solves:
// three retries on either backend, exactly.
Result run_indefinite(int32_t backend, const Problem &p, CudaRt *rt) {
  gptaq_config cfg = base_config();
  cfg.backend = backend;
  cfg.damp_percent = 0.01f;
  cfg.damp_retries = 4;
  Result r;
  gptaq_ctx *ctx = nullptr;
  REQUIRE(gptaq_ctx_create(&ctx, p.cols, &cfg) == GPTAQ_OK);
  r.backend = gptaq_ctx_backend(ctx);
  gptaq_stats_buffers b;
  std::memset(&b, 0, sizeof b);
  b.struct_size = sizeof b;
  REQUIRE(gptaq_stats_buffers_get(ctx, &b) == GPTAQ_OK);
  const int64_t n = p.cols;
  std::vector<float> xx(size_t(n * n), 0.0f);
  for (int64_t j = 0; j < n; ++j) xx[size_t(j * n + j)] = 4.0f;
  xx[1] = xx[size_t(n)] = 8.0f;
  std::vector<double> xsum(static_cast<size_t>(n), 0.0);
  if (b.backend == GPTAQ_BACKEND_CUDA) {
    REQUIRE(rt->memcpy_(b.xx, xx.data(), xx.size() * 4, 1) == 0);
    REQUIRE(rt->memcpy_(b.xsum, xsum.data(), xsum.size() * 8, 1) == 0);
    REQUIRE(rt->device_sync() == 0);
  } else {
    std::memcpy(b.xx, xx.data(), xx.size() * 4);
    std::memcpy(b.xsum, xsum.data(), xsum.size() * 8);
  }
  *b.tokens = 8.0;
  REQUIRE(gptaq_stats_commit(ctx) == GPTAQ_OK);
  const int64_t G = gptaq_num_groups(n, cfg.group_size);
  r.codes.assign(size_t(p.rows * n), 0);
  r.scales.assign(size_t(p.rows * G), 0.0f);
  r.zeros.assign(r.scales.size(), 0.0f);
  r.g_idx.assign(size_t(n), 0);
  r.dequant.assign(r.codes.size(), 0.0f);
  r.info.struct_size = sizeof r.info;
  r.status = gptaq_solve(ctx, p.w.data(), p.rows, n, r.codes.data(), r.scales.data(),
                         r.zeros.data(), r.g_idx.data(), r.dequant.data(), &r.info);
  if (r.status != GPTAQ_OK) r.err = gptaq_ctx_errmsg(ctx);
  r.loss = r.info.loss;
  gptaq_ctx_free(ctx);
  return r;
}

TEST_CASE("cuda: damping retries happen exactly as on the CPU") {
  SKIP_WITHOUT_CUDA();
  CudaRt rt;
  if (!rt.ok()) SKIP_CUDA("the CUDA runtime library could not be opened");
  const Problem p = make_problem(40, 128, 1, 41);
  const Result cpu = run_indefinite(GPTAQ_BACKEND_CPU, p, &rt);
  const Result gpu = run_indefinite(GPTAQ_BACKEND_CUDA, p, &rt);
  INFO(gpu.err);
  REQUIRE(cpu.status == GPTAQ_OK);
  REQUIRE(gpu.status == GPTAQ_OK);
  CHECK(cpu.info.damp_retries == 3);
  CHECK(gpu.info.damp_retries == 3);
  CHECK(gpu.info.damp_used == cpu.info.damp_used);
  gptaq_config cfg = base_config();
  check_tight(cpu, gpu, cfg);
}

TEST_CASE("cuda: multi-chunk statistics (9000 tokens x 4096 columns) are the CPU's bits") {
  SKIP_WITHOUT_CUDA();
  CudaRt rt;
  if (!rt.ok()) SKIP_CUDA("the CUDA runtime library could not be opened");
  // 64 MiB chunks of fp32 rows: 4096 tokens each at 4096 columns, so one batch of 9000
  // tokens runs three chunks (two with the mask, which keeps 6 of 7) through both staging
  // slots; the CPU converts in tiles of 2048 tokens. The sums are exact, so the order
  // does not matter and the statistics must agree bit for bit.
  const int64_t n = 4096, tokens = 9000;
  const Problem p = make_dyadic_problem(64, n, tokens, 43);
  std::vector<uint16_t> hq(p.xq.size()), hfp(p.xfp.size());
  gptaq_f32_to_half(GPTAQ_DTYPE_F16, p.xq.data(), hq.data(), int64_t(hq.size()));
  gptaq_f32_to_half(GPTAQ_DTYPE_F16, p.xfp.data(), hfp.data(), int64_t(hfp.size()));
  std::vector<uint8_t> mask(static_cast<size_t>(tokens));
  for (size_t t = 0; t < mask.size(); ++t) mask[t] = (t % 7) != 3;
  void *dq = rt.to_device(hq.data(), hq.size() * 2), *df = rt.to_device(hfp.data(), hfp.size() * 2);
  void *dq32 = rt.to_device(p.xq.data(), p.xq.size() * 4);
  REQUIRE(dq != nullptr);
  REQUIRE(df != nullptr);
  REQUIRE(dq32 != nullptr);
  for (int32_t method : {GPTAQ_METHOD_GPTQ, GPTAQ_METHOD_GPTAQ}) {
    CAPTURE(method);
    const bool cross = method == GPTAQ_METHOD_GPTAQ;
    gptaq_config cfg = base_config();
    cfg.method = method;
    cfg.backend = GPTAQ_BACKEND_CPU;
    gptaq_ctx *cpu = nullptr, *host = nullptr, *dev = nullptr;
    REQUIRE(gptaq_ctx_create(&cpu, n, &cfg) == GPTAQ_OK);
    cfg.backend = GPTAQ_BACKEND_CUDA;
    REQUIRE(gptaq_ctx_create(&host, n, &cfg) == GPTAQ_OK);
    REQUIRE(gptaq_ctx_create(&dev, n, &cfg) == GPTAQ_OK);
    // fp16 from host memory with a mask (CPU and CUDA), and the same from device memory.
    CHECK(gptaq_add_batch_masked(cpu, hq.data(), cross ? hfp.data() : nullptr, tokens,
                                 GPTAQ_DTYPE_F16, mask.data()) == GPTAQ_OK);
    CHECK(gptaq_add_batch_masked(host, hq.data(), cross ? hfp.data() : nullptr, tokens,
                                 GPTAQ_DTYPE_F16, mask.data()) == GPTAQ_OK);
    CHECK(gptaq_add_batch_masked(dev, dq, cross ? df : nullptr, tokens, GPTAQ_DTYPE_F16,
                                 mask.data()) == GPTAQ_OK);
    const std::vector<uint8_t> s_cpu = serialized(cpu);
    CHECK(serialized(host) == s_cpu);
    CHECK(serialized(dev) == s_cpu);
    if (!cross) {
      // fp32 straight from device memory, no mask, against the CPU reading fp32 in place.
      gptaq_ctx *c32 = nullptr, *d32 = nullptr;
      cfg.backend = GPTAQ_BACKEND_CPU;
      REQUIRE(gptaq_ctx_create(&c32, n, &cfg) == GPTAQ_OK);
      cfg.backend = GPTAQ_BACKEND_CUDA;
      REQUIRE(gptaq_ctx_create(&d32, n, &cfg) == GPTAQ_OK);
      CHECK(gptaq_add_batch(c32, p.xq.data(), nullptr, tokens, GPTAQ_DTYPE_F32) == GPTAQ_OK);
      CHECK(gptaq_add_batch(d32, dq32, nullptr, tokens, GPTAQ_DTYPE_F32) == GPTAQ_OK);
      CHECK(serialized(d32) == serialized(c32));
      gptaq_ctx_free(c32);
      gptaq_ctx_free(d32);
    }
    // The same statistics solve to >= 99.9% identical codes.
    const int64_t G = gptaq_num_groups(n, cfg.group_size);
    std::vector<uint8_t> c1(size_t(p.rows * n)), c2(c1.size()), c3(c1.size());
    std::vector<float> s1(size_t(p.rows * G)), z1(s1.size()), s2(s1.size()), z2(s1.size());
    REQUIRE(gptaq_solve(cpu, p.w.data(), p.rows, n, c1.data(), s1.data(), z1.data(), nullptr,
                        nullptr, nullptr) == GPTAQ_OK);
    REQUIRE(gptaq_solve(host, p.w.data(), p.rows, n, c2.data(), s2.data(), z2.data(), nullptr,
                        nullptr, nullptr) == GPTAQ_OK);
    REQUIRE(gptaq_solve(dev, p.w.data(), p.rows, n, c3.data(), s2.data(), z2.data(), nullptr,
                        nullptr, nullptr) == GPTAQ_OK);
    const double same = same_fraction(c1, c2);
    CAPTURE(same);
    CHECK(same >= 0.999);
    CHECK(c2 == c3);  // identical statistics, deterministic device: identical codes
    gptaq_ctx_free(cpu);
    gptaq_ctx_free(host);
    gptaq_ctx_free(dev);
  }
  rt.free_(dq);
  rt.free_(df);
  rt.free_(dq32);
}

TEST_CASE("cuda: two threads with two contexts (block widths 128 and 256) at once") {
  SKIP_WITHOUT_CUDA();
  // Each thread's result must be the one the same configuration gives alone: the sweep
  // kernel's launch attribute is set once per device, not around each launch.
  const Problem p = make_problem(256, 512, 800, 47);
  gptaq_config a = base_config(), b = base_config();
  a.block_size = 128;
  b.block_size = 256;
  b.method = GPTAQ_METHOD_GPTAQ;
  const Result alone_a = run(GPTAQ_BACKEND_CUDA, a, p);
  const Result alone_b = run(GPTAQ_BACKEND_CUDA, b, p);
  REQUIRE(alone_a.status == GPTAQ_OK);
  REQUIRE(alone_b.status == GPTAQ_OK);
  for (int rep = 0; rep < 3; ++rep) {
    Result ra, rb;
    // run() uses doctest's CHECKs only for solves > 1, which are not used here.
    std::thread ta([&] { ra = run(GPTAQ_BACKEND_CUDA, a, p); });
    std::thread tb([&] { rb = run(GPTAQ_BACKEND_CUDA, b, p); });
    ta.join();
    tb.join();
    INFO(ra.err);
    INFO(rb.err);
    REQUIRE(ra.status == GPTAQ_OK);
    REQUIRE(rb.status == GPTAQ_OK);
    CHECK(ra.codes == alone_a.codes);
    CHECK(ra.scales == alone_a.scales);
    CHECK(ra.loss == alone_a.loss);  // the device loss is summed in a fixed order
    CHECK(rb.codes == alone_b.codes);
    CHECK(rb.scales == alone_b.scales);
    CHECK(rb.loss == alone_b.loss);
  }
}

TEST_CASE("cuda: more than 2^31 elements per matrix (opt-in: GPTAQ_TEST_LARGE=1)") {
  const char *e = std::getenv("GPTAQ_TEST_LARGE");
  if (!e || std::strcmp(e, "1") != 0) {
    MESSAGE("skipped: set GPTAQ_TEST_LARGE=1 (needs about 40 GiB of device memory)");
    return;
  }
  SKIP_WITHOUT_CUDA();
  // 46,341 columns: 46341^2 = 2,147,488,281 > 2^31 elements in H, U and the statistics.
  // One-hot tokens (token t is e_(t mod n)) make H exactly diagonal, so U is diagonal,
  // no error propagates, and GPTQ's codes and params must equal round-to-nearest's.
  const int64_t n = 46341, rows = 64, batch = 1024;
  gptaq_config cfg = base_config();
  cfg.backend = GPTAQ_BACKEND_CUDA;
  gptaq_ctx *ctx = nullptr;
  REQUIRE(gptaq_ctx_create(&ctx, n, &cfg) == GPTAQ_OK);
  std::vector<uint16_t> x(size_t(batch * n));
  const uint16_t one = 0x3c00;  // 1.0 in fp16
  for (int64_t t0 = 0; t0 < n; t0 += batch) {
    const int64_t tt = std::min(batch, n - t0);
    std::fill(x.begin(), x.end(), uint16_t{0});
    for (int64_t t = 0; t < tt; ++t) x[size_t(t * n + t0 + t)] = one;
    REQUIRE(gptaq_add_batch(ctx, x.data(), nullptr, tt, GPTAQ_DTYPE_F16) == GPTAQ_OK);
  }
  CHECK(gptaq_ctx_num_tokens(ctx) == n);
  Rng rng{53};
  std::vector<float> w(size_t(rows * n));
  for (auto &v : w) v = float(rng.normal() * 0.02);
  const int64_t G = gptaq_num_groups(n, cfg.group_size);
  std::vector<uint8_t> c1(w.size()), c2(w.size());
  std::vector<float> s1(size_t(rows * G)), z1(s1.size()), s2(s1.size()), z2(s1.size());
  gptaq_solve_info info;
  std::memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  const int32_t st = gptaq_solve(ctx, w.data(), rows, n, c1.data(), s1.data(), z1.data(),
                                 nullptr, nullptr, &info);
  INFO(gptaq_ctx_errmsg(ctx));
  REQUIRE(st == GPTAQ_OK);
  CHECK(std::isfinite(info.loss));
  gptaq_ctx_free(ctx);
  cfg.method = GPTAQ_METHOD_RTN;
  REQUIRE(gptaq_ctx_create(&ctx, n, &cfg) == GPTAQ_OK);
  REQUIRE(gptaq_solve(ctx, w.data(), rows, n, c2.data(), s2.data(), z2.data(), nullptr, nullptr,
                      nullptr) == GPTAQ_OK);
  gptaq_ctx_free(ctx);
  CHECK(c1 == c2);
  CHECK(s1 == s2);
  CHECK(z1 == z2);
}
