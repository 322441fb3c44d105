// A stand-in backend module for tests/backend_module: built like cuda/ (hidden visibility,
// only the entry point exported, error.h compiled in) but with no CUDA, so the module
// mechanism is tested on every machine. It claims one "CUDA" device; its backend holds
// host memory and throws gptaq::Error from stats_add, which the core's exception boundary
// must catch by type across the dlopen boundary. FAKE_STALE builds a module of another
// backend interface, which the core must refuse.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "backend_module.h"
#include "error.h"

namespace {

using gptaq::Backend;

class FakeBackend : public Backend {
 public:
  gptaq_backend kind() const override { return GPTAQ_BACKEND_CUDA; }
  void *alloc(size_t bytes) override {
    void *p = std::calloc(1, bytes ? bytes : 1);
    if (!p) gptaq::fail(GPTAQ_ERR_OUT_OF_MEMORY, "fake backend: cannot allocate %zu bytes", bytes);
    return p;
  }
  void release(void *p) override { std::free(p); }
  void upload(void *dst, const void *src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void download(void *dst, const void *src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy(void *dst, const void *src, size_t bytes) override { std::memmove(dst, src, bytes); }
  void stats_finish(gptaq::StatsBuffers &, int64_t) override { refuse("stats_finish"); }
  void copy2d(void *, size_t, const void *, size_t, size_t, size_t) override { refuse("copy2d"); }
  void zero(void *p, size_t bytes) override { std::memset(p, 0, bytes); }
  // Batches are refused by stats_add below; nothing to check first.
  void check_batch(const void *, const void *, int64_t, int64_t, gptaq_dtype) override {}
  int64_t stats_add(gptaq::StatsBuffers &, int64_t n, const void *, const void *, int64_t tokens,
                    gptaq_dtype, const uint8_t *) override {
    gptaq::fail(GPTAQ_ERR_DEVICE, "fake backend: stats_add of %lld x %lld refused inside the module",
                static_cast<long long>(tokens), static_cast<long long>(n));
  }
  void gemm(bool, bool, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *,
            int64_t, float, float *, int64_t) override { refuse("gemm"); }
  bool inverse_upper_factor(float *, int64_t, float *) override { refuse("inverse_upper_factor"); }
  void asym_term(float *, const float *, int64_t, float) override { refuse("asym_term"); }
  void scale_copy(float *, const float *, int64_t, float) override { refuse("scale_copy"); }
  void add_diag(float *, int64_t, int64_t, float) override { refuse("add_diag"); }
  void get_diag(const float *, int64_t, int64_t, float *) override { refuse("get_diag"); }
  void permute_sym(float *, const float *, int64_t, const int64_t *) override { refuse("permute_sym"); }
  void permute_cols(float *, const float *, int64_t, int64_t, const int64_t *) override {
    refuse("permute_cols");
  }
  void zero_cols(float *, int64_t, int64_t, const int64_t *, int64_t) override { refuse("zero_cols"); }
  void set_diag_at(float *, int64_t, const int64_t *, int64_t, float) override { refuse("set_diag_at"); }
  void find_params(const gptaq::QuantSpec &, const float *, int64_t, int64_t, int64_t, int32_t,
                   float *, int64_t) override { refuse("find_params"); }
  void sweep_block(const gptaq::QuantSpec &, const gptaq::SweepBlock &) override { refuse("sweep_block"); }

 private:
  [[noreturn]] static void refuse(const char *what) {
    gptaq::fail(GPTAQ_ERR_UNSUPPORTED, "fake backend: %s is not implemented", what);
  }
};

int32_t device_count(char *, size_t) { return 1; }

int32_t create(int32_t device, Backend **out, char *why, size_t why_size) {
  if (device != 0) {
    std::snprintf(why, why_size, "no CUDA device %d (1 fake device present)", device);
    return GPTAQ_ERR_BACKEND_UNAVAILABLE;
  }
  *out = new FakeBackend();
  return GPTAQ_OK;
}

}  // namespace

#ifdef FAKE_STALE
#define FAKE_INTERFACE_ID "0.0.0/stale-interface"
#else
#define FAKE_INTERFACE_ID GPTAQ_BACKEND_INTERFACE_ID
#endif

extern "C" __attribute__((visibility("default"))) const gptaq_backend_module *
gptaq_backend_module_v1(int32_t core_abi) {
  if (core_abi != GPTAQ_BACKEND_MODULE_ABI) return nullptr;
  static const gptaq_backend_module table = {GPTAQ_BACKEND_MODULE_ABI, FAKE_INTERFACE_ID, "cuda",
                                             "fake test module", device_count, create};
  return &table;
}
