// The statistics exchange entry points (gptaq.h, "statistics exchange"): in-place access
// for all-reduce, merge, and save/load in the statistics file format
// (src/formats/statsfile.*). Works over the backend interface, so the same code serves
// host (CPU) and device (CUDA) statistics.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#ifndef _WIN32
#include <unistd.h>
#endif

#include "c_api_impl.h"
#include "context.h"
#include "formats/statsfile.h"
#include "solver/solve.h"

using namespace gptaq;

namespace {

namespace sf = gptaq::statsfile;

// Staging granularity for backends whose memory is not host memory.
constexpr size_t kChunkBytes = size_t{4} << 20;

bool on_host(const Backend &be) { return be.kind() == GPTAQ_BACKEND_CPU; }

size_t mat_elems(const gptaq_ctx &ctx) {
  return static_cast<size_t>(ctx.n) * static_cast<size_t>(ctx.n);
}

void require_little_endian() {
  if (!sf::host_is_little_endian())
    fail(GPTAQ_ERR_UNSUPPORTED, "statistics files are little-endian; this host is not");
}

// Call f(host_pointer, bytes) over a backend buffer, chunk by chunk (direct on the CPU).
template <class F>
void for_each_chunk(Backend &be, const void *buf, size_t bytes, F &&f) {
  if (bytes == 0) return;
  if (on_host(be)) {
    f(buf, bytes);
    return;
  }
  std::vector<unsigned char> stage(std::min(bytes, kChunkBytes));
  const unsigned char *p = static_cast<const unsigned char *>(buf);
  for (size_t off = 0; off < bytes; off += stage.size()) {
    const size_t len = std::min(stage.size(), bytes - off);
    be.download(stage.data(), p + off, len);
    f(stage.data(), len);
  }
}

// dst (backend memory, `count` elements of T) += src (host memory, possibly unaligned).
template <class T>
void add_from_host(Backend &be, T *dst, const void *src, size_t count) {
  const unsigned char *s = static_cast<const unsigned char *>(src);
  if (on_host(be)) {
    for (size_t i = 0; i < count; ++i) {
      T v;
      std::memcpy(&v, s + i * sizeof(T), sizeof(T));
      dst[i] += v;
    }
    return;
  }
  const size_t per = std::max<size_t>(1, kChunkBytes / sizeof(T));
  std::vector<T> stage(std::min(count, per));
  for (size_t off = 0; off < count; off += stage.size()) {
    const size_t len = std::min(stage.size(), count - off);
    be.download(stage.data(), dst + off, len * sizeof(T));
    for (size_t i = 0; i < len; ++i) {
      T v;
      std::memcpy(&v, s + (off + i) * sizeof(T), sizeof(T));
      stage[i] += v;
    }
    be.upload(dst + off, stage.data(), len * sizeof(T));
  }
}

// Throw NON_FINITE if dst (backend memory) + src (host memory) would not be finite
// anywhere, before anything is changed: fp32 sums of finite inputs can overflow.
template <class T>
void check_sum_finite(Backend &be, const T *dst, const void *src, size_t count,
                      const char *name, size_t n) {
  const unsigned char *s = static_cast<const unsigned char *>(src);
  size_t base = 0;
  for_each_chunk(be, dst, count * sizeof(T), [&](const void *p, size_t len) {
    const T *d = static_cast<const T *>(p);
    for (size_t i = 0; i < len / sizeof(T); ++i) {
      T v;
      std::memcpy(&v, s + (base + i) * sizeof(T), sizeof(T));
      if (!std::isfinite(d[i] + v)) {
        if (count == n)
          fail(GPTAQ_ERR_NON_FINITE, "the sum of %s[%zu] would not be finite", name, base + i);
        fail(GPTAQ_ERR_NON_FINITE, "the sum of %s[%zu][%zu] would not be finite (fp32 overflow)",
             name, (base + i) / n, (base + i) % n);
      }
    }
    base += len / sizeof(T);
  });
}

// A host copy of a backend buffer (no copy on the CPU: returns the buffer itself).
const void *host_view(Backend &be, const void *buf, size_t bytes, std::vector<unsigned char> &keep) {
  if (on_host(be)) return buf;
  keep.resize(bytes);
  be.download(keep.data(), buf, bytes);
  return keep.data();
}

// Stream the serialized payload (xx, dx, xsum) of ctx to sink(const void *, size_t).
template <class Sink>
uint32_t stream_payload(gptaq_ctx &ctx, Sink &&sink) {
  Backend &be = *ctx.be;
  be.stats_finish(ctx.stats, ctx.n);
  uint32_t crc = 0;
  auto emit = [&](const void *p, size_t len) {
    crc = sf::crc32(p, len, crc);
    sink(p, len);
  };
  for_each_chunk(be, ctx.stats.xx, mat_elems(ctx) * sizeof(float), emit);
  if (ctx.wants_cross()) for_each_chunk(be, ctx.stats.dx, mat_elems(ctx) * sizeof(float), emit);
  for_each_chunk(be, ctx.stats.xsum, static_cast<size_t>(ctx.n) * sizeof(double), emit);
  return crc;
}

sf::Header header_of(const gptaq_ctx &ctx) {
  sf::Header h;
  h.columns = ctx.n;
  h.method = ctx.cfg.method;
  h.has_cross = ctx.wants_cross() ? 1 : 0;
  h.tokens = ctx.stats.tokens;
  h.payload_bytes = sf::payload_bytes(ctx.n, ctx.wants_cross());
  return h;
}

// The checks of a decoded header against the context it is meant for.
void check_matches(const gptaq_ctx &ctx, const sf::Header &h, const char *what) {
  if (h.columns != ctx.n)
    fail(GPTAQ_ERR_SHAPE, "%s holds statistics for %lld columns but the context has %lld", what,
         static_cast<long long>(h.columns), static_cast<long long>(ctx.n));
  if ((h.has_cross == 1) != ctx.wants_cross())
    fail(GPTAQ_ERR_INVALID_ARGUMENT,
         "%s was written by a %s context but this context is %s: the statistics differ "
         "(GPTAQ keeps the x_fp cross term, RTN/GPTQ do not)",
         what, h.has_cross ? "GPTAQ" : "RTN/GPTQ", ctx.wants_cross() ? "GPTAQ" : "RTN/GPTQ");
}

void check_mode(int32_t mode) {
  if (mode != GPTAQ_STATS_REPLACE && mode != GPTAQ_STATS_ACCUMULATE)
    fail(GPTAQ_ERR_INVALID_ARGUMENT,
         "mode %d is not GPTAQ_STATS_REPLACE (0) or GPTAQ_STATS_ACCUMULATE (1)", mode);
}

// Apply a fully verified serialized buffer to ctx.
void apply(gptaq_ctx &ctx, const uint8_t *data, const sf::Header &h, int32_t mode) {
  Backend &be = *ctx.be;
  const size_t nn = mat_elems(ctx), n = static_cast<size_t>(ctx.n);
  const uint8_t *xx = data + sf::kHeaderBytes;
  const uint8_t *dx = xx + nn * sizeof(float);
  const uint8_t *xs = dx + (h.has_cross ? nn * sizeof(float) : 0);
  if (mode == GPTAQ_STATS_REPLACE) {
    be.upload(ctx.stats.xx, xx, nn * sizeof(float));
    if (h.has_cross) be.upload(ctx.stats.dx, dx, nn * sizeof(float));
    be.upload(ctx.stats.xsum, xs, n * sizeof(double));
    ctx.stats.tokens = h.tokens;
    ctx.stats.upper_stale = false;
  } else {
    check_sum_finite(be, ctx.stats.xx, xx, nn, "xx", n);
    if (h.has_cross) check_sum_finite(be, ctx.stats.dx, dx, nn, "dx", n);
    check_sum_finite(be, ctx.stats.xsum, xs, n, "xsum", n);
    add_from_host(be, ctx.stats.xx, xx, nn);
    if (h.has_cross) add_from_host(be, ctx.stats.dx, dx, nn);
    add_from_host(be, ctx.stats.xsum, xs, n);
    ctx.stats.tokens += h.tokens;
  }
  invalidate_factor(ctx);
}

void deserialize_into(gptaq_ctx &ctx, const uint8_t *data, size_t size, int32_t mode,
                      const char *what) {
  require_little_endian();
  check_mode(mode);
  const sf::Header h0 = sf::decode_header(data, size, what);
  check_matches(ctx, h0, what);
  const sf::Header h = sf::verify(data, size, what);
  apply(ctx, data, h, mode);
}

struct File {
  std::FILE *f = nullptr;
  ~File() {
    if (f) std::fclose(f);
  }
};

// Open `path`, read and decode its header, and check the file size it implies.
sf::Header read_file_header(File &file, const char *path, uint64_t &file_size) {
  file.f = std::fopen(path, "rb");
  if (!file.f) fail(GPTAQ_ERR_IO, "%s: cannot open: %s", path, std::strerror(errno));
  if (std::fseek(file.f, 0, SEEK_END) != 0) fail(GPTAQ_ERR_IO, "%s: cannot seek", path);
  const long end = std::ftell(file.f);
  if (end < 0) fail(GPTAQ_ERR_IO, "%s: cannot tell its size", path);
  file_size = static_cast<uint64_t>(end);
  std::rewind(file.f);
  uint8_t head[sf::kHeaderBytes];
  const size_t got = std::fread(head, 1, sizeof head, file.f);
  if (got < sizeof head && std::ferror(file.f)) fail(GPTAQ_ERR_IO, "%s: read failed", path);
  sf::Header h = sf::decode_header(head, got, path);
  const uint64_t total = sf::kHeaderBytes + h.payload_bytes;
  if (file_size != total)
    fail(GPTAQ_ERR_FORMAT, "%s: %s: %llu bytes, the header describes %llu", path,
         file_size < total ? "truncated" : "trailing data",
         static_cast<unsigned long long>(file_size), static_cast<unsigned long long>(total));
  return h;
}

}  // namespace

extern "C" {

int32_t gptaq_stats_buffers_get(gptaq_ctx *ctx, gptaq_stats_buffers *out) {
  return guarded_ctx(ctx, [&] {
    GPTAQ_REQUIRE(out, "out is NULL");
    GPTAQ_REQUIRE(out->struct_size >= static_cast<int32_t>(sizeof(int32_t)),
                  "out->struct_size is %d; set it to sizeof(gptaq_stats_buffers)",
                  out->struct_size);
    ctx->be->stats_finish(ctx->stats, ctx->n);  // callers see a symmetric xx
    gptaq_stats_buffers full;
    std::memset(&full, 0, sizeof full);
    full.struct_size = static_cast<int32_t>(sizeof full);
    full.backend = static_cast<int32_t>(ctx->be->kind());
    full.has_cross = ctx->wants_cross() ? 1 : 0;
    full.xx = ctx->stats.xx;
    full.dx = ctx->stats.dx;
    full.xsum = ctx->stats.xsum;
    full.tokens = &ctx->stats.tokens;
    size_t size = static_cast<size_t>(out->struct_size);
    if (size > sizeof full) size = sizeof full;
    full.struct_size = static_cast<int32_t>(size);
    std::memcpy(out, &full, size);
    invalidate_factor(*ctx);
  });
}

int32_t gptaq_stats_commit(gptaq_ctx *ctx) {
  return guarded_ctx(ctx, [&] {
    invalidate_factor(*ctx);
    const double t = ctx->stats.tokens;
    if (!std::isfinite(t) || t < 0.0)
      fail(GPTAQ_ERR_INVALID_ARGUMENT, "the token count %g must be finite and >= 0", t);
    Backend &be = *ctx->be;
    const int64_t n = ctx->n;
    const size_t nn = mat_elems(*ctx);
    // The row-major lower triangle of xx is authoritative: mirror it into the upper one
    // with the backend's own mechanism, then check the result where it can be read.
    ctx->stats.upper_stale = true;
    be.stats_finish(ctx->stats, n);
    std::vector<unsigned char> keep;
    const float *xx =
        static_cast<const float *>(host_view(be, ctx->stats.xx, nn * sizeof(float), keep));
    for (size_t i = 0; i < nn; ++i)
      if (!std::isfinite(xx[i]))
        fail(GPTAQ_ERR_NON_FINITE, "xx[%zu][%zu] is not finite after the in-place update",
             i / static_cast<size_t>(n), i % static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j)
      if (xx[j * n + j] < 0.0f)
        fail(GPTAQ_ERR_FORMAT, "xx[%lld][%lld] = %g is negative: not a sum of squares",
             static_cast<long long>(j), static_cast<long long>(j),
             static_cast<double>(xx[j * n + j]));
    if (ctx->stats.dx) {
      size_t base = 0;
      for_each_chunk(be, ctx->stats.dx, nn * sizeof(float), [&](const void *p, size_t len) {
        const float *f = static_cast<const float *>(p);
        for (size_t i = 0; i < len / sizeof(float); ++i)
          if (!std::isfinite(f[i]))
            fail(GPTAQ_ERR_NON_FINITE, "dx[%zu][%zu] is not finite after the in-place update",
                 (base + i) / static_cast<size_t>(n), (base + i) % static_cast<size_t>(n));
        base += len / sizeof(float);
      });
    }
    size_t base = 0;
    for_each_chunk(be, ctx->stats.xsum, static_cast<size_t>(n) * sizeof(double),
                   [&](const void *p, size_t len) {
                     const double *d = static_cast<const double *>(p);
                     for (size_t i = 0; i < len / sizeof(double); ++i)
                       if (!std::isfinite(d[i]))
                         fail(GPTAQ_ERR_NON_FINITE,
                              "xsum[%zu] is not finite after the in-place update", base + i);
                     base += len / sizeof(double);
                   });
  });
}

int32_t gptaq_stats_merge(gptaq_ctx *dst, const gptaq_ctx *src) {
  return guarded_ctx(dst, [&] {
    GPTAQ_REQUIRE(src, "src is NULL");
    GPTAQ_REQUIRE(src != dst, "src and dst are the same context");
    gptaq_ctx *s = const_cast<gptaq_ctx *>(src);  // only its busy flag is written
    BusyGuard src_guard(s);
    if (s->n != dst->n)
      fail(GPTAQ_ERR_SHAPE, "cannot merge statistics of %lld columns into a context of %lld",
           static_cast<long long>(s->n), static_cast<long long>(dst->n));
    if (s->wants_cross() != dst->wants_cross())
      fail(GPTAQ_ERR_INVALID_ARGUMENT,
           "cannot merge a %s context into a %s context: the statistics differ",
           s->wants_cross() ? "GPTAQ" : "RTN/GPTQ", dst->wants_cross() ? "GPTAQ" : "RTN/GPTQ");
    const size_t nn = mat_elems(*dst), n = static_cast<size_t>(dst->n);
    s->be->stats_finish(s->stats, s->n);  // src is held (busy) for the merge
    // Stage every source buffer to host memory first, so that an allocation or device
    // failure cannot leave dst half merged.
    std::vector<unsigned char> kxx, kdx, kxs;
    const void *hxx = host_view(*s->be, s->stats.xx, nn * sizeof(float), kxx);
    const void *hdx = s->stats.dx ? host_view(*s->be, s->stats.dx, nn * sizeof(float), kdx) : nullptr;
    const void *hxs = host_view(*s->be, s->stats.xsum, n * sizeof(double), kxs);
    Backend &be = *dst->be;
    check_sum_finite(be, dst->stats.xx, hxx, nn, "xx", n);
    if (hdx) check_sum_finite(be, dst->stats.dx, hdx, nn, "dx", n);
    check_sum_finite(be, dst->stats.xsum, hxs, n, "xsum", n);
    add_from_host(be, dst->stats.xx, hxx, nn);
    if (hdx) add_from_host(be, dst->stats.dx, hdx, nn);
    add_from_host(be, dst->stats.xsum, hxs, n);
    dst->stats.tokens += s->stats.tokens;
    invalidate_factor(*dst);
  });
}

int32_t gptaq_stats_serialized_size(const gptaq_ctx *ctx, int64_t *bytes) {
  if (bytes) *bytes = 0;
  return guarded([&] {
    GPTAQ_REQUIRE(ctx, "ctx is NULL");
    GPTAQ_REQUIRE(bytes, "bytes is NULL");
    *bytes = static_cast<int64_t>(sf::kHeaderBytes + sf::payload_bytes(ctx->n, ctx->wants_cross()));
  });
}

int32_t gptaq_stats_serialize(gptaq_ctx *ctx, void *dst, int64_t capacity, int64_t *written) {
  if (written) *written = 0;
  return guarded_ctx(ctx, [&] {
    require_little_endian();
    GPTAQ_REQUIRE(dst, "dst is NULL");
    sf::Header h = header_of(*ctx);
    const uint64_t total = sf::kHeaderBytes + h.payload_bytes;
    if (capacity < 0 || static_cast<uint64_t>(capacity) < total)
      fail(GPTAQ_ERR_SHAPE, "capacity %lld is smaller than the %llu bytes needed",
           static_cast<long long>(capacity), static_cast<unsigned long long>(total));
    uint8_t *out = static_cast<uint8_t *>(dst);
    size_t off = sf::kHeaderBytes;
    h.payload_crc = stream_payload(*ctx, [&](const void *p, size_t len) {
      std::memcpy(out + off, p, len);
      off += len;
    });
    sf::encode_header(h, out);
    if (written) *written = static_cast<int64_t>(total);
  });
}

int32_t gptaq_stats_deserialize(gptaq_ctx *ctx, const void *src, int64_t size, int32_t mode) {
  return guarded_ctx(ctx, [&] {
    GPTAQ_REQUIRE(src || size == 0, "src is NULL");
    GPTAQ_REQUIRE(size >= 0, "size = %lld must be >= 0", static_cast<long long>(size));
    deserialize_into(*ctx, static_cast<const uint8_t *>(src), static_cast<size_t>(size), mode,
                     "statistics buffer");
  });
}

int32_t gptaq_stats_save(gptaq_ctx *ctx, const char *path) {
  return guarded_ctx(ctx, [&] {
    require_little_endian();
    GPTAQ_REQUIRE(path, "path is NULL");
    std::string tmp = std::string(path) + ".tmp";
#ifndef _WIN32
    tmp += "-" + std::to_string(static_cast<long long>(getpid()));
#endif
    std::FILE *f = std::fopen(tmp.c_str(), "wb");
    if (!f) fail(GPTAQ_ERR_IO, "%s: cannot create: %s", tmp.c_str(), std::strerror(errno));
    bool ok = true;
    try {
      sf::Header h = header_of(*ctx);
      uint8_t head[sf::kHeaderBytes];
      std::memset(head, 0, sizeof head);
      ok = std::fwrite(head, 1, sizeof head, f) == sizeof head;
      h.payload_crc = stream_payload(*ctx, [&](const void *p, size_t len) {
        if (ok) ok = std::fwrite(p, 1, len, f) == len;
      });
      sf::encode_header(h, head);
      ok = ok && std::fseek(f, 0, SEEK_SET) == 0 &&
           std::fwrite(head, 1, sizeof head, f) == sizeof head && std::fflush(f) == 0;
    } catch (...) {
      std::fclose(f);
      std::remove(tmp.c_str());
      throw;
    }
    const int saved_errno = errno;
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) {
      std::remove(tmp.c_str());
      fail(GPTAQ_ERR_IO, "%s: write failed: %s", tmp.c_str(), std::strerror(saved_errno));
    }
    if (std::rename(tmp.c_str(), path) != 0) {
      const int e = errno;
      std::remove(tmp.c_str());
      fail(GPTAQ_ERR_IO, "cannot rename %s to %s: %s", tmp.c_str(), path, std::strerror(e));
    }
  });
}

int32_t gptaq_stats_load(gptaq_ctx *ctx, const char *path, int32_t mode) {
  return guarded_ctx(ctx, [&] {
    require_little_endian();
    GPTAQ_REQUIRE(path, "path is NULL");
    check_mode(mode);
    File file;
    uint64_t size = 0;
    const sf::Header h = read_file_header(file, path, size);
    check_matches(*ctx, h, path);
    // The size was checked against the real file: this allocation is what the file holds.
    std::vector<uint8_t> data;
    try {
      data.resize(static_cast<size_t>(size));
    } catch (const std::bad_alloc &) {
      fail(GPTAQ_ERR_OUT_OF_MEMORY, "%s: cannot allocate %llu bytes to read it", path,
           static_cast<unsigned long long>(size));
    }
    std::rewind(file.f);
    if (std::fread(data.data(), 1, data.size(), file.f) != data.size())
      fail(GPTAQ_ERR_IO, "%s: read failed (file changed while reading?)", path);
    deserialize_into(*ctx, data.data(), data.size(), mode, path);
  });
}

int32_t gptaq_stats_file_info(const char *path, int64_t *columns, int32_t *method,
                              int32_t *has_cross, double *tokens) {
  return guarded([&] {
    GPTAQ_REQUIRE(path, "path is NULL");
    File file;
    uint64_t size = 0;
    const sf::Header h = read_file_header(file, path, size);
    if (columns) *columns = h.columns;
    if (method) *method = h.method;
    if (has_cross) *has_cross = h.has_cross;
    if (tokens) *tokens = h.tokens;
  });
}

}  // extern "C"
