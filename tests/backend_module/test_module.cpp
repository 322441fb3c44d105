// The backend module mechanism (src/backend_registry.cpp, src/backend_module.h), one
// scenario per process: ctest runs each test case alone with GPTAQ_CUDA_MODULE set for it
// (tests/backend_module/CMakeLists.txt), since the registry looks for the module once.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gptaq/gptaq.h"

namespace {

std::string maps() {
  std::ifstream f("/proc/self/maps");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool mapped(const std::string &what) { return maps().find(what) != std::string::npos; }

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

std::string env(const char *name) {
  const char *v = std::getenv(name);
  return v ? v : "";
}

gptaq_config config(int32_t backend) {
  gptaq_config c;
  gptaq_config_init(&c, sizeof c);
  c.backend = backend;
  return c;
}

// A CPU context that has done some work (one batch).
void use_cpu_context() {
  gptaq_config cfg = config(GPTAQ_BACKEND_CPU);
  gptaq_ctx *ctx = nullptr;
  REQUIRE(gptaq_ctx_create(&ctx, 64, &cfg) == GPTAQ_OK);
  std::vector<float> x(32 * 64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7919) % 101) / 101.0f - 0.5f;
  CHECK(gptaq_add_batch(ctx, x.data(), nullptr, 32, GPTAQ_DTYPE_F32) == GPTAQ_OK);
  CHECK(gptaq_ctx_backend(ctx) == GPTAQ_BACKEND_CPU);
  gptaq_ctx_free(ctx);
}

// Asking for CUDA fails with BACKEND_UNAVAILABLE and a message holding every fragment;
// AUTO runs on the CPU.
void expect_cuda_unavailable(const std::vector<std::string> &fragments) {
  CHECK(gptaq_backend_available(GPTAQ_BACKEND_CUDA) == 0);
  gptaq_config cfg = config(GPTAQ_BACKEND_CUDA);
  gptaq_ctx *ctx = reinterpret_cast<gptaq_ctx *>(0x1);
  CHECK(gptaq_ctx_create(&ctx, 64, &cfg) == GPTAQ_ERR_BACKEND_UNAVAILABLE);
  CHECK(ctx == nullptr);
  const std::string msg = gptaq_last_errmsg();
  CAPTURE(msg);
  for (const std::string &f : fragments) CHECK(msg.find(f) != std::string::npos);
  cfg = config(GPTAQ_BACKEND_AUTO);
  REQUIRE(gptaq_ctx_create(&ctx, 64, &cfg) == GPTAQ_OK);
  CHECK(gptaq_ctx_backend(ctx) == GPTAQ_BACKEND_CPU);
  gptaq_ctx_free(ctx);
}

}  // namespace

TEST_CASE("module: a CPU context maps no CUDA library; asking for CUDA loads the module") {
  // No GPTAQ_CUDA_MODULE: the real module, beside libgptaq in the build tree.
  REQUIRE(env("GPTAQ_CUDA_MODULE").empty());
  const long rss_start = rss_kib();
  use_cpu_context();
  const long rss_cpu = rss_kib();
  CHECK_FALSE(mapped("libgptaq-cuda"));
  CHECK_FALSE(mapped("libcudart"));
  CHECK_FALSE(mapped("libcublas"));
  const int32_t available = gptaq_backend_available(GPTAQ_BACKEND_CUDA);
  const long rss_probe = rss_kib();
  MESSAGE("VmRSS: " << rss_start << " KiB at start, " << rss_cpu << " KiB after a CPU context, "
                    << rss_probe << " KiB after gptaq_backend_available(CUDA) = " << available);
  const std::string info = gptaq_build_info();
  CAPTURE(info);
  if (env("GPTAQ_TEST_MODULE_BUILT") == "1") {
    CHECK(info.find("backends: cpu,cuda") != std::string::npos);
    if (!available) {
      // The module answered "no device" and was unloaded again, with the CUDA libraries.
      CHECK(info.find("no CUDA device") != std::string::npos);
      CHECK(info.find("libgptaq-cuda.so") != std::string::npos);
      CHECK_FALSE(mapped("libgptaq-cuda.so"));
      CHECK_FALSE(mapped("libcublas"));
      expect_cuda_unavailable({"no CUDA device", "libgptaq-cuda.so"});
    } else {
      CHECK(mapped("libgptaq-cuda.so"));
      CHECK(mapped("libcudart"));
      CHECK(info.find("found: cpu,cuda (") != std::string::npos);
    }
  } else {
    CHECK(available == 0);
    CHECK_FALSE(mapped("libcudart"));
    expect_cuda_unavailable({"no CUDA support", "libgptaq-cuda.so"});
  }
}

TEST_CASE("module: a missing module is BACKEND_UNAVAILABLE naming the path; AUTO uses the CPU") {
  const std::string path = env("GPTAQ_CUDA_MODULE");
  REQUIRE(!path.empty());
  expect_cuda_unavailable({path, "GPTAQ_CUDA_MODULE"});
  CHECK(std::string(gptaq_build_info()).find(path) != std::string::npos);
  CHECK_FALSE(mapped("libcudart"));
  use_cpu_context();
}

TEST_CASE("module: a module of another interface is refused") {
  const std::string path = env("GPTAQ_CUDA_MODULE");
  REQUIRE(!path.empty());
  expect_cuda_unavailable({path, "is not one this libgptaq can use", "0.0.0/stale-interface"});
}

TEST_CASE("module: a library without the entry point is refused") {
  const std::string path = env("GPTAQ_CUDA_MODULE");
  REQUIRE(!path.empty());
  expect_cuda_unavailable({path, "no entry point gptaq_backend_module_v1"});
}

TEST_CASE("module: a gptaq::Error thrown inside the module reaches the caller as its status") {
  const std::string path = env("GPTAQ_CUDA_MODULE");
  REQUIRE(path.find("fake") != std::string::npos);
  CHECK(gptaq_backend_available(GPTAQ_BACKEND_CUDA) == 1);
  CHECK(std::string(gptaq_build_info()).find("fake test module") != std::string::npos);
  CHECK(mapped(path));

  gptaq_config cfg = config(GPTAQ_BACKEND_CUDA);
  gptaq_ctx *ctx = nullptr;
  REQUIRE(gptaq_ctx_create(&ctx, 16, &cfg) == GPTAQ_OK);
  CHECK(gptaq_ctx_backend(ctx) == GPTAQ_BACKEND_CUDA);
  std::vector<float> x(4 * 16, 0.25f);
  // GPTAQ_ERR_DEVICE, not INTERNAL: the core's catch (const gptaq::Error &) matched the
  // module's exception.
  CHECK(gptaq_add_batch(ctx, x.data(), nullptr, 4, GPTAQ_DTYPE_F32) == GPTAQ_ERR_DEVICE);
  CHECK(std::string(gptaq_ctx_errmsg(ctx)) ==
        "fake backend: stats_add of 4 x 16 refused inside the module");
  gptaq_ctx_free(ctx);  // the module's destructor and release()

  cfg.device = 3;  // the module's own refusal, passed through as a status and message
  ctx = reinterpret_cast<gptaq_ctx *>(0x1);
  CHECK(gptaq_ctx_create(&ctx, 16, &cfg) == GPTAQ_ERR_BACKEND_UNAVAILABLE);
  CHECK(ctx == nullptr);
  CHECK(std::string(gptaq_last_errmsg()).find("no CUDA device 3 (1 fake device present)") !=
        std::string::npos);

  cfg = config(GPTAQ_BACKEND_AUTO);  // AUTO takes a device when one answers
  REQUIRE(gptaq_ctx_create(&ctx, 16, &cfg) == GPTAQ_OK);
  CHECK(gptaq_ctx_backend(ctx) == GPTAQ_BACKEND_CUDA);
  gptaq_ctx_free(ctx);
}
