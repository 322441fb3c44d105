// Shared pieces of the gptaq tool's subcommands.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "gptaq/gptaq.h"

namespace cli {

struct Command {
  const char *name;
  const char *help;
  int (*run)(int argc, char **argv);  // argv[0] is the command name
};

std::vector<Command> &registry();
bool register_command(const Command &c);

// Thrown by subcommands; main prints "gptaq: error: <what>" and exits 1.
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Thrown when Ctrl-C stopped the command (progress.h); run_guarded exits with 130.
struct Interrupted : Failure {
  Interrupted() : Failure("interrupted (Ctrl-C): stopped, no output files were written") {}
};

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
[[noreturn]] inline void die(const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  throw Failure(buf);
}

// Throw a Failure naming what failed with the library's message.
inline void check(int32_t status, const gptaq_ctx *ctx, const char *what) {
  if (status == GPTAQ_OK) return;
  const char *msg = ctx ? gptaq_ctx_errmsg(ctx) : gptaq_last_errmsg();
  die("%s: %s (%s)", what, msg, gptaq_status_string(status));
}

// Runs a subcommand body, printing "gptaq: error: ..." on failure.
template <class F>
int run_guarded(F &&body) {
  try {
    return body();
  } catch (const Interrupted &e) {
    std::fprintf(stderr, "gptaq: %s\n", e.what());
    return 130;
  } catch (const Failure &e) {
    std::fprintf(stderr, "gptaq: error: %s\n", e.what());
    return 1;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "gptaq: error: %s\n", e.what());
    return 1;
  }
}

}  // namespace cli

#define GPTAQ_CLI_COMMAND(ident, name, help, fn) \
  static const bool ident##_registered = ::cli::register_command({name, help, fn})
