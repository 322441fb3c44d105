// Progress on stderr for the long commands, the library's log messages, Ctrl-C, and
// outputs that appear only when a command succeeds.
//
//  - A bar redrawn in place when stderr is a terminal (phase, percent, rate, time left);
//    otherwise plain lines at each phase's start and end and at most every 2 s between.
//  - --quiet: no progress and no warnings; --log-json FILE ("-" = stderr): one JSON
//    object per line, {"event":"progress","phase":...,"done":...,"total":...,
//    "elapsed":...} per report and {"event":"log","level":...,"message":...} per
//    library message, instead of the human-readable progress.
//  - SIGINT sets a flag; the progress callback then returns non-zero, the library call
//    returns GPTAQ_ERR_CANCELLED and the command stops with exit status 130. A second
//    Ctrl-C kills at once.
//  - OutputFiles: every output is written under a temporary name in its final directory
//    (created like mkdir -p) and renamed when all are written; on failure or Ctrl-C the
//    temporary files and the directories the command created are removed.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdarg>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "cli.h"

namespace cli {

inline volatile std::sig_atomic_t &interrupt_flag() {
  static volatile std::sig_atomic_t flag = 0;
  return flag;
}

inline void on_sigint(int) {
  interrupt_flag() = 1;
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process at once
}

inline void install_sigint() { std::signal(SIGINT, on_sigint); }
inline bool interrupted() { return interrupt_flag() != 0; }
inline void stop_if_interrupted() {
  if (interrupted()) throw Interrupted();
}

// check() for library calls the progress callback can cancel.
inline void check_cancellable(int32_t status, const gptaq_ctx *ctx, const char *what) {
  if (status == GPTAQ_ERR_CANCELLED && interrupted()) throw Interrupted();
  check(status, ctx, what);
}

// mkdir -p. Appends the directories it created to *created (may be null).
inline void make_dirs(const std::string &path, std::vector<std::string> *created = nullptr) {
  if (path.empty()) return;
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty() || cur == "." || cur == "..") continue;
    if (mkdir(cur.c_str(), 0777) == 0) {
      if (created) created->push_back(cur);
    } else if (errno != EEXIST) {
      die("cannot create %s: %s", cur.c_str(), std::strerror(errno));
    } else {
      struct stat st;
      if (stat(cur.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        die("cannot create %s: a file of that name exists", cur.c_str());
    }
  }
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
inline std::string format(const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

inline std::string parent_dir(const std::string &path) {
  const size_t s = path.rfind('/');
  if (s == std::string::npos) return ".";
  return s == 0 ? "/" : path.substr(0, s);
}

// Outputs of one command: temp(final) gives the name to write to; commit() renames them
// all; the destructor removes whatever was not committed.
class OutputFiles {
 public:
  OutputFiles() = default;
  OutputFiles(const OutputFiles &) = delete;
  OutputFiles &operator=(const OutputFiles &) = delete;
  ~OutputFiles() {
    for (const auto &f : files_) std::remove(f.second.c_str());
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) rmdir(it->c_str());
  }
  std::string temp(const std::string &final_path) {
    make_dirs(parent_dir(final_path), &dirs_);
    const std::string dir = parent_dir(final_path);
    const std::string base = final_path.substr(final_path.rfind('/') == std::string::npos
                                                   ? 0
                                                   : final_path.rfind('/') + 1);
    // Same folder (rename stays atomic), same extension (writers may look at it).
    const std::string t = dir + "/.tmp-" + std::to_string(getpid()) + "-" + base;
    files_.emplace_back(final_path, t);
    return t;
  }
  // mkdir -p now (removed again unless commit() is reached).
  void dir(const std::string &path) { make_dirs(path, &dirs_); }
  void commit() {
    stop_if_interrupted();
    for (const auto &f : files_)
      if (std::rename(f.second.c_str(), f.first.c_str()) != 0)
        die("cannot rename %s to %s: %s", f.second.c_str(), f.first.c_str(), std::strerror(errno));
    files_.clear();
    dirs_.clear();
  }

 private:
  std::vector<std::pair<std::string, std::string>> files_;  // final, temporary
  std::vector<std::string> dirs_;                           // created, in order
};

struct ProgressOptions {
  bool quiet = false;
  std::string log_json;
  void add_to(CLI::App &app) {
    app.add_flag("-q,--quiet", quiet, "no progress output and no warnings");
    app.add_option("--log-json", log_json,
                   "machine-readable progress: one JSON object per line to FILE (- = stderr)");
  }
};

inline std::string json_escape(const char *s) {
  std::string o;
  for (; *s; ++s) {
    const unsigned char c = static_cast<unsigned char>(*s);
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
    } else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else {
      o += static_cast<char>(c);
    }
  }
  return o;
}

class Reporter {
 public:
  explicit Reporter(const ProgressOptions &o) : quiet_(o.quiet) {
    if (!o.log_json.empty()) {
      json_ = o.log_json == "-" ? stderr : std::fopen(o.log_json.c_str(), "w");
      if (!json_) die("cannot open --log-json %s: %s", o.log_json.c_str(), std::strerror(errno));
    }
    tty_ = !json_ && isatty(STDERR_FILENO);
    // Test hook: slow every report down (milliseconds), to interrupt a command mid-call.
    if (const char *d = std::getenv("GPTAQ_CLI_PROGRESS_DELAY_MS")) delay_ms_ = std::atoi(d);
    t0_ = std::chrono::steady_clock::now();
  }
  ~Reporter() {
    end_line();
    if (json_ && json_ != stderr) std::fclose(json_);
  }
  Reporter(const Reporter &) = delete;
  Reporter &operator=(const Reporter &) = delete;

  // Report the statistics phase of a batch as part of a stream of `total` tokens of
  // which `before` were added by earlier batches.
  void stream(int64_t before, int64_t total) {
    base_ = before;
    outer_ = total;
  }
  void attach(gptaq_ctx *ctx) {
    check(gptaq_ctx_set_progress(ctx, &Reporter::on_progress, this), ctx, "progress callback");
    check(gptaq_ctx_set_log(ctx, &Reporter::on_log, this), ctx, "log callback");
  }

  static int32_t on_progress(void *user, int32_t phase, int64_t done, int64_t total) {
    auto *r = static_cast<Reporter *>(user);
    if (phase == GPTAQ_PHASE_STATISTICS && r->outer_ > 0) {
      done += r->base_;
      total = r->outer_;
    }
    r->show(phase, done, total);
    if (r->delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(r->delay_ms_));
    return interrupted() ? 1 : 0;
  }
  static void on_log(void *user, int32_t level, const char *msg) {
    auto *r = static_cast<Reporter *>(user);
    static const char *names[] = {"debug", "info", "warn"};
    const char *name = level >= 0 && level <= 2 ? names[level] : "info";
    if (r->json_) {
      std::fprintf(r->json_, "{\"event\":\"log\",\"level\":\"%s\",\"message\":\"%s\"}\n", name,
                   json_escape(msg).c_str());
      std::fflush(r->json_);
    } else if (!r->quiet_ && level >= GPTAQ_LOG_WARN) {
      r->end_line();
      std::fprintf(stderr, "gptaq: warning: %s\n", msg);
    }
  }

 private:
  static const char *phase_name(int32_t p) {
    static const char *names[] = {"statistics", "factorization", "sweep", "packing"};
    return p >= 0 && p <= 3 ? names[p] : "working";
  }
  static const char *unit(int32_t p) {
    return p == GPTAQ_PHASE_STATISTICS ? "tokens" : p == GPTAQ_PHASE_PACKING ? "rows" : "columns";
  }
  double now() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }
  void end_line() {
    if (open_line_) std::fputc('\n', stderr);
    open_line_ = false;
  }
  void show(int32_t phase, int64_t done, int64_t total) {
    const double t = now();
    if (json_) {
      std::fprintf(json_,
                   "{\"event\":\"progress\",\"phase\":\"%s\",\"done\":%lld,\"total\":%lld,"
                   "\"elapsed\":%.3f}\n",
                   phase_name(phase), static_cast<long long>(done), static_cast<long long>(total), t);
      std::fflush(json_);
      return;
    }
    if (quiet_) return;
    if (phase != phase_ || done < last_done_) {  // a new phase (or a new call of it)
      end_line();
      phase_ = phase;
      phase_t0_ = t;
      phase_done0_ = done;
      last_print_ = -1e9;
    }
    last_done_ = done;
    const bool edge = done == phase_done0_ || done >= total;
    if (!edge && t - last_print_ < (tty_ ? 0.1 : 2.0)) return;
    last_print_ = t;
    const double pct = total > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0;
    const double dt = t - phase_t0_;
    const double rate = dt > 0 ? static_cast<double>(done - phase_done0_) / dt : 0.0;
    char eta[32] = "";
    if (rate > 0 && done < total)
      std::snprintf(eta, sizeof eta, ", %.0f s left", static_cast<double>(total - done) / rate);
    char rate_s[48] = "";
    if (rate > 0) std::snprintf(rate_s, sizeof rate_s, ", %.3g %s/s", rate, unit(phase));
    if (tty_) {
      const int width = 24, fill = static_cast<int>(pct / 100.0 * width + 0.5);
      std::fprintf(stderr, "\r\033[K%-13s [%.*s%*s] %5.1f%% %lld/%lld%s%s", phase_name(phase),
                   fill, "########################", width - fill, "", pct,
                   static_cast<long long>(done), static_cast<long long>(total), rate_s, eta);
      open_line_ = true;
      if (done >= total) end_line();
    } else {
      std::fprintf(stderr, "gptaq: %s %.0f%% (%lld/%lld %s)%s%s\n", phase_name(phase), pct,
                   static_cast<long long>(done), static_cast<long long>(total), unit(phase),
                   rate_s, eta);
    }
    std::fflush(stderr);
  }

  bool quiet_ = false, tty_ = false, open_line_ = false;
  std::FILE *json_ = nullptr;
  int delay_ms_ = 0;
  int64_t base_ = 0, outer_ = 0;
  int32_t phase_ = -1;
  int64_t last_done_ = 0, phase_done0_ = 0;
  double phase_t0_ = 0, last_print_ = -1e9;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace cli
