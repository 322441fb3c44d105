// Internal error type: C++ code throws gptaq::Error; src/c_api.cpp alone catches it and
// turns it into a status plus a message.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "gptaq/gptaq.h"

namespace gptaq {

class Error : public std::runtime_error {
 public:
  Error(gptaq_status status, const std::string &msg) : std::runtime_error(msg), status_(status) {}
  gptaq_status status() const { return status_; }

 private:
  gptaq_status status_;
};

// [[noreturn]] first: clang (unlike gcc) refuses a C++11 attribute after a GNU one.
[[noreturn]]
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
inline void fail(gptaq_status status, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  throw Error(status, buf);
}

}  // namespace gptaq
