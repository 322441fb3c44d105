// The exception boundary shared by every extern "C" entry point: C++ inside may throw
// gptaq::Error (or anything else); these macros turn it into a status plus a message on
// the context, or in the thread-local slot for calls without one. Nothing is printed.
#pragma once

#include <new>
#include <string>

#include "context.h"
#include "error.h"

namespace gptaq {

// Thread-local message for calls without a context.
void set_thread_error(const std::string &msg);
void clear_thread_error();

// Marks a context busy for the duration of a call; detects concurrent use.
class BusyGuard {
 public:
  explicit BusyGuard(gptaq_ctx *ctx) : ctx_(ctx) {
    int expected = 0;
    if (!ctx_->busy.compare_exchange_strong(expected, 1))
      fail(GPTAQ_ERR_BUSY, "the context is being used by another thread at the same time");
  }
  ~BusyGuard() { ctx_->busy.store(0); }
  BusyGuard(const BusyGuard &) = delete;
  BusyGuard &operator=(const BusyGuard &) = delete;

 private:
  gptaq_ctx *ctx_;
};

template <class F>
int32_t guarded_ctx(gptaq_ctx *ctx, F &&body) {
  if (!ctx) {
    set_thread_error("ctx is NULL");
    return GPTAQ_ERR_INVALID_ARGUMENT;
  }
  try {
    BusyGuard guard(ctx);
    try {
      body();
      ctx->err.clear();
      return GPTAQ_OK;
    } catch (const Error &e) {
      ctx->err = e.what();
      return e.status();
    } catch (const std::bad_alloc &) {
      ctx->err = "out of memory";
      return GPTAQ_ERR_OUT_OF_MEMORY;
    } catch (const std::exception &e) {
      ctx->err = std::string("internal error: ") + e.what();
      return GPTAQ_ERR_INTERNAL;
    } catch (...) {
      ctx->err = "internal error: unknown exception";
      return GPTAQ_ERR_INTERNAL;
    }
  } catch (const Error &e) {  // BusyGuard: leave the other call's message alone
    set_thread_error(e.what());
    return e.status();
  }
}

template <class F>
int32_t guarded(F &&body) {
  try {
    body();
    clear_thread_error();
    return GPTAQ_OK;
  } catch (const Error &e) {
    set_thread_error(e.what());
    return e.status();
  } catch (const std::bad_alloc &) {
    set_thread_error("out of memory");
    return GPTAQ_ERR_OUT_OF_MEMORY;
  } catch (const std::exception &e) {
    set_thread_error(std::string("internal error: ") + e.what());
    return GPTAQ_ERR_INTERNAL;
  } catch (...) {
    set_thread_error("internal error: unknown exception");
    return GPTAQ_ERR_INTERNAL;
  }
}

#define GPTAQ_REQUIRE(cond, ...)                          \
  do {                                                    \
    if (!(cond)) ::gptaq::fail(GPTAQ_ERR_INVALID_ARGUMENT, __VA_ARGS__); \
  } while (0)

}  // namespace gptaq
