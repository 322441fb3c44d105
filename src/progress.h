// Progress reports and log messages of a context's long calls (gptaq_ctx_set_progress,
// gptaq_ctx_set_log). Both run the caller's callback on the calling thread; nothing
// here prints. A cancelled report throws Error(GPTAQ_ERR_CANCELLED), so every caller
// must leave the context as it found it when an exception passes (the solver commits a
// new factorization only at its end; gptaq_add_batch* restores the statistics).
#pragma once

#include <chrono>
#include <cstdint>

#include "context.h"

namespace gptaq {

// Send one message to the context's log callback (dropped when none is set). printf
// format; messages longer than 1 KiB are cut.
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void log_msg(const gptaq_ctx &ctx, gptaq_log_level level, const char *fmt, ...);

// One phase of a call: reports (0, total) at start(), throttled reports from step() (at
// most kMaxReports per phase, plus the last), and (total, total) at finish(). Each
// report that the callback answers with non-zero throws Error(GPTAQ_ERR_CANCELLED).
// Without a callback every method is a branch on a null pointer.
class Progress {
 public:
  static constexpr int64_t kMaxReports = 256;

  Progress(const gptaq_ctx &ctx, gptaq_phase phase, int64_t total);
  void start();
  void step(int64_t done);
  void finish();
  // Seconds since construction (for DEBUG log lines).
  double seconds() const;

 private:
  void report(int64_t done);
  const gptaq_ctx &ctx_;
  gptaq_phase phase_;
  int64_t total_;
  int64_t next_ = 0;  // the next done value worth a report
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace gptaq
