// The context object behind the opaque gptaq_ctx handle.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "config.h"

namespace gptaq {

// A buffer in a backend's memory, freed with it.
class DevBuf {
 public:
  DevBuf() = default;
  DevBuf(Backend *be, size_t bytes) : be_(be), p_(be->alloc(bytes)), bytes_(bytes) {}
  ~DevBuf() { reset(); }
  DevBuf(const DevBuf &) = delete;
  DevBuf &operator=(const DevBuf &) = delete;
  DevBuf(DevBuf &&o) noexcept : be_(o.be_), p_(o.p_), bytes_(o.bytes_) { o.p_ = nullptr; }
  DevBuf &operator=(DevBuf &&o) noexcept {
    if (this != &o) {
      reset();
      be_ = o.be_;
      p_ = o.p_;
      bytes_ = o.bytes_;
      o.p_ = nullptr;
    }
    return *this;
  }
  void reset() {
    if (p_) be_->release(p_);
    p_ = nullptr;
    bytes_ = 0;
  }
  template <class T>
  T *as() const {
    return static_cast<T *>(p_);
  }
  void *get() const { return p_; }
  size_t bytes() const { return bytes_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  Backend *be_ = nullptr;
  void *p_ = nullptr;
  size_t bytes_ = 0;
};

// The cached factorization of one context (ALGORITHMS.md §2), valid until a batch is
// added or the configuration changes what it depends on.
struct Factor {
  bool valid = false;
  DevBuf mem;                 // u and p, one allocation
  float *u = nullptr;         // n x n, upper factor of the damped, permuted H^-1
  float *p = nullptr;         // n x n, GPTAQ's P, directly after u (null for GPTQ)
  std::vector<int64_t> perm;  // act-order permutation (identity when off)
  std::vector<int64_t> dead;  // dead columns (original indices)
  float damp_used = 0.0f;
  int32_t retries = 0;
};

}  // namespace gptaq

struct gptaq_ctx {
  gptaq::Config cfg;
  int64_t n = 0;
  std::unique_ptr<gptaq::Backend> be;
  gptaq::DevBuf xx, dx, xsum;
  gptaq::StatsBuffers stats;
  gptaq::Factor factor;
  std::string err;
  std::atomic<int> busy{0};
  // gptaq_ctx_set_progress / gptaq_ctx_set_log (called on the calling thread).
  gptaq_progress_fn progress = nullptr;
  void *progress_user = nullptr;
  gptaq_log_fn log = nullptr;
  void *log_user = nullptr;
  std::string backend_note;  // why this backend (logged when a log callback is set)
  // While a progress callback is set: the copy of the statistics that gptaq_add_batch*
  // restores on a cancellation, kept between batches (a fresh allocation per batch costs
  // page faults on every batch). Freed when the callback is cleared.
  gptaq::DevBuf backup_xx, backup_dx, backup_xsum;

  bool wants_cross() const { return cfg.method == GPTAQ_METHOD_GPTAQ; }
};
