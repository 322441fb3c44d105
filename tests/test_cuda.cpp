// The CUDA backend: selection and its errors (run everywhere), and, where a device
// answers, cross-backend consistency with the CPU on structured problems across
// configurations, batches in every dtype from host and device memory, masks, NaN
// rejection, caller streams and allocation failure. Without a device those cases say so
// (MESSAGE) and return early.
//
// Device memory for the device-pointer cases comes from the CUDA runtime opened with
// dlopen, so this file needs no CUDA headers and builds in CPU-only trees too.
#include <doctest/doctest.h>
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "gptaq/gptaq.h"

namespace {

bool has_cuda_device() { return gptaq_backend_available(GPTAQ_BACKEND_CUDA) == 1; }
bool cuda_compiled() {
  return std::string(gptaq_build_info()).find("backends: cpu,cuda") != std::string::npos;
}

#define SKIP_WITHOUT_CUDA()                                                                \
  do {                                                                                     \
    if (!has_cuda_device()) {                                                              \
      MESSAGE("skipped: no CUDA device answers (gptaq_backend_available(CUDA) == 0)");     \
      return;                                                                              \
    }                                                                                      \
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
  }
  ~CudaRt() {
    if (lib) dlclose(lib);
  }
  bool ok() const {
    return malloc_ && free_ && memcpy_ && stream_create && stream_destroy && stream_sync;
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
  double loss = 0.0;
  int64_t tokens = 0;
  int32_t backend = -1;
};

// Feed the problem in batches of `batch` tokens (dtype f32/f16/bf16, from host memory)
// and solve.
Result run(int32_t backend, gptaq_config cfg, const Problem &p, int32_t dtype = GPTAQ_DTYPE_F32,
           int64_t batch = 200) {
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
    gptaq_solve_info info;
    std::memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    r.status = gptaq_solve(ctx, p.w.data(), p.rows, p.cols, r.codes.data(), r.scales.data(),
                           r.zeros.data(), r.g_idx.data(), nullptr, &info);
    r.loss = info.loss;
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

}  // namespace

TEST_CASE("cuda: selecting the backend without a device fails clearly, AUTO falls back") {
  gptaq_config cfg = base_config();
  if (!has_cuda_device()) {
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
    int32_t method, bits, group, sym, act_order, static_groups, mse, block;
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
  };
  const Problem p = make_problem(96, 384, 700, 3);
  for (const Case &c : cases) {
    CAPTURE(c.name);
    gptaq_config cfg = base_config();
    cfg.method = c.method;
    cfg.bits = c.bits;
    cfg.group_size = c.group;
    cfg.sym = c.sym;
    cfg.act_order = c.act_order;
    cfg.static_groups = c.static_groups;
    cfg.mse = c.mse;
    cfg.block_size = c.block;
    const Result cpu = run(GPTAQ_BACKEND_CPU, cfg, p);
    const Result gpu = run(GPTAQ_BACKEND_CUDA, cfg, p);
    INFO(gpu.err);
    check_consistent(cpu, gpu, c.method != GPTAQ_METHOD_RTN);
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
  if (!rt.ok()) {
    MESSAGE("skipped: the CUDA runtime library could not be opened");
    return;
  }
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
  if (!rt.ok()) {
    MESSAGE("skipped: the CUDA runtime library could not be opened");
    return;
  }
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
