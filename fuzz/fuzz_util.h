// Shared pieces of the fuzz harnesses: a byte consumer and an in-memory file (memfd) so
// that path-based parsers can be fed fuzzer bytes without touching the disk.
#ifndef GPTAQ_FUZZ_UTIL_H
#define GPTAQ_FUZZ_UTIL_H

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace fuzz {

// Reads integers from the front of the input; returns zeros when it runs out.
class Bytes {
 public:
  Bytes(const uint8_t *data, size_t size) : p_(data), n_(size) {}
  uint8_t u8() { return n_ ? (--n_, *p_++) : 0; }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t(u8()) << (8 * i);
    return v;
  }
  // Uniform-ish in [lo, hi].
  int64_t range(int64_t lo, int64_t hi) {
    const uint64_t span = uint64_t(hi - lo) + 1;
    return lo + int64_t(u32() % span);
  }
  bool flag() { return u8() & 1; }
  float f32() {
    uint32_t b = u32();
    float v;
    std::memcpy(&v, &b, 4);
    return v;
  }
  size_t left() const { return n_; }
  const uint8_t *rest() const { return p_; }
  void skip(size_t k) {
    if (k > n_) k = n_;
    p_ += k;
    n_ -= k;
  }

 private:
  const uint8_t *p_;
  size_t n_;
};

// An anonymous in-memory file holding the given bytes, reachable by path.
class MemFile {
 public:
  MemFile(const uint8_t *data, size_t size) {
    fd_ = memfd_create("gptaq-fuzz", 0);
    if (fd_ < 0) std::abort();  // harness environment problem, not a finding
    size_t off = 0;
    while (off < size) {
      ssize_t w = write(fd_, data + off, size - off);
      if (w <= 0) std::abort();
      off += size_t(w);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { close(fd_); }
  MemFile(const MemFile &) = delete;
  MemFile &operator=(const MemFile &) = delete;
  const char *path() const { return path_.c_str(); }

 private:
  int fd_ = -1;
  std::string path_;
};

// A finding: the library broke one of its promises on this input.
#define FUZZ_ASSERT(cond)                                                          \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "%s:%d: fuzz assertion failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                         \
      std::abort();                                                                \
    }                                                                              \
  } while (0)

}  // namespace fuzz

#endif
