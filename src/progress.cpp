#include "progress.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

#include "error.h"

namespace gptaq {

void log_msg(const gptaq_ctx &ctx, gptaq_log_level level, const char *fmt, ...) {
  if (!ctx.log) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  ctx.log(ctx.log_user, static_cast<int32_t>(level), buf);
}

namespace {
const char *phase_name(gptaq_phase p) {
  switch (p) {
    case GPTAQ_PHASE_STATISTICS: return "statistics";
    case GPTAQ_PHASE_FACTORIZATION: return "factorization";
    case GPTAQ_PHASE_SWEEP: return "sweep";
    case GPTAQ_PHASE_PACKING: return "packing";
  }
  return "?";
}
}  // namespace

Progress::Progress(const gptaq_ctx &ctx, gptaq_phase phase, int64_t total)
    : ctx_(ctx), phase_(phase), total_(total), t0_(std::chrono::steady_clock::now()) {}

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}

void Progress::report(int64_t done) {
  const int64_t stride = std::max<int64_t>(1, (total_ + kMaxReports - 1) / kMaxReports);
  next_ = done + stride;
  if (ctx_.progress(ctx_.progress_user, static_cast<int32_t>(phase_), done, total_) != 0)
    fail(GPTAQ_ERR_CANCELLED, "cancelled by the progress callback during the %s phase (%lld of %lld)",
         phase_name(phase_), static_cast<long long>(done), static_cast<long long>(total_));
}

void Progress::start() {
  if (ctx_.progress) report(0);
}

void Progress::step(int64_t done) {
  if (ctx_.progress && done >= next_ && done < total_) report(done);
}

void Progress::finish() {
  if (ctx_.progress) report(total_);
}

}  // namespace gptaq
