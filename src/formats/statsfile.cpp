// The statistics file format: header encoding/validation and CRC-32. Every byte of a
// header or payload handed to decode_header / verify is untrusted.
#include "formats/statsfile.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "error.h"

namespace gptaq {
namespace statsfile {
namespace {

const char kMagic[8] = {'G', 'P', 'T', 'A', 'Q', 'S', 'T', 'S'};

struct Crc32Tables {
  uint32_t t[8][256];
  Crc32Tables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? (0xEDB88320u ^ (c >> 1)) : (c >> 1);
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xffu];
  }
};

const Crc32Tables &tables() {
  static const Crc32Tables tab;
  return tab;
}

void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get_u32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}
uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

}  // namespace

bool host_is_little_endian() {
  const uint16_t one = 1;
  uint8_t b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

uint32_t crc32(const void *data, size_t size, uint32_t crc) {
  const Crc32Tables &T = tables();
  const uint8_t *p = static_cast<const uint8_t *>(data);
  crc = ~crc;
  // Slicing-by-8: eight bytes per step (about 1 byte per cycle).
  while (size >= 8) {
    const uint32_t lo = crc ^ get_u32(p);
    const uint32_t hi = get_u32(p + 4);
    crc = T.t[7][lo & 0xff] ^ T.t[6][(lo >> 8) & 0xff] ^ T.t[5][(lo >> 16) & 0xff] ^
          T.t[4][lo >> 24] ^ T.t[3][hi & 0xff] ^ T.t[2][(hi >> 8) & 0xff] ^
          T.t[1][(hi >> 16) & 0xff] ^ T.t[0][hi >> 24];
    p += 8;
    size -= 8;
  }
  while (size--) crc = T.t[0][(crc ^ *p++) & 0xffu] ^ (crc >> 8);
  return ~crc;
}

uint64_t payload_bytes(int64_t n, bool has_cross) {
  if (n <= 0) return 0;
  const uint64_t un = static_cast<uint64_t>(n);
  // Keep the total well inside int64 and size_t: n^2 * 8 + 8 n + header.
  const uint64_t limit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / 16;
  if (un > limit / un) return 0;
  const uint64_t mats = un * un * 4 * (has_cross ? 2 : 1);
  const uint64_t total = mats + 8 * un;
  if (total > static_cast<uint64_t>(std::numeric_limits<size_t>::max()) - kHeaderBytes) return 0;
  return total;
}

void encode_header(const Header &h, uint8_t *out) {
  std::memset(out, 0, kHeaderBytes);
  std::memcpy(out, kMagic, 8);
  put_u32(out + 8, kVersion);
  put_u32(out + 12, static_cast<uint32_t>(kHeaderBytes));
  put_u64(out + 16, static_cast<uint64_t>(h.columns));
  put_u32(out + 24, static_cast<uint32_t>(h.method));
  put_u32(out + 28, static_cast<uint32_t>(h.has_cross));
  uint64_t tb;
  std::memcpy(&tb, &h.tokens, 8);
  put_u64(out + 32, tb);
  put_u64(out + 40, h.payload_bytes);
  put_u32(out + 48, h.payload_crc);
  put_u32(out + 60, crc32(out, 60));
}

Header decode_header(const uint8_t *p, size_t size, const char *what) {
  if (size < kHeaderBytes)
    fail(GPTAQ_ERR_FORMAT, "%s: truncated: %zu bytes, a statistics file has at least %zu", what,
         size, kHeaderBytes);
  if (std::memcmp(p, kMagic, 8) != 0)
    fail(GPTAQ_ERR_FORMAT, "%s: not a gptaq statistics file (bad magic)", what);
  const uint32_t version = get_u32(p + 8);
  if (version == 0 || version > kVersion)
    fail(GPTAQ_ERR_FORMAT,
         "%s: statistics format version %u is not supported (this library reads up to %u)",
         what, version, kVersion);
  if (get_u32(p + 12) != kHeaderBytes)
    fail(GPTAQ_ERR_FORMAT, "%s: header size %u, expected %zu", what, get_u32(p + 12),
         kHeaderBytes);
  if (get_u32(p + 60) != crc32(p, 60))
    fail(GPTAQ_ERR_FORMAT, "%s: header checksum mismatch (corrupt file)", what);
  Header h;
  h.columns = static_cast<int64_t>(get_u64(p + 16));
  h.method = static_cast<int32_t>(get_u32(p + 24));
  h.has_cross = static_cast<int32_t>(get_u32(p + 28));
  const uint64_t tb = get_u64(p + 32);
  std::memcpy(&h.tokens, &tb, 8);
  h.payload_bytes = get_u64(p + 40);
  h.payload_crc = get_u32(p + 48);
  if (h.columns <= 0)
    fail(GPTAQ_ERR_FORMAT, "%s: columns = %lld must be > 0", what,
         static_cast<long long>(h.columns));
  if (h.has_cross != 0 && h.has_cross != 1)
    fail(GPTAQ_ERR_FORMAT, "%s: has_cross = %d must be 0 or 1", what, h.has_cross);
  if (h.method < GPTAQ_METHOD_RTN || h.method > GPTAQ_METHOD_GPTAQ)
    fail(GPTAQ_ERR_FORMAT, "%s: unknown method %d", what, h.method);
  if ((h.method == GPTAQ_METHOD_GPTAQ) != (h.has_cross == 1))
    fail(GPTAQ_ERR_FORMAT, "%s: method %d and has_cross %d disagree", what, h.method,
         h.has_cross);
  if (!std::isfinite(h.tokens) || h.tokens < 0.0)
    fail(GPTAQ_ERR_FORMAT, "%s: token count %g must be finite and >= 0", what, h.tokens);
  const uint64_t want = payload_bytes(h.columns, h.has_cross == 1);
  if (want == 0)
    fail(GPTAQ_ERR_FORMAT, "%s: columns = %lld is too large", what,
         static_cast<long long>(h.columns));
  if (h.payload_bytes != want)
    fail(GPTAQ_ERR_FORMAT, "%s: payload size %llu does not match %lld columns (%llu)", what,
         static_cast<unsigned long long>(h.payload_bytes), static_cast<long long>(h.columns),
         static_cast<unsigned long long>(want));
  return h;
}

Header verify(const uint8_t *p, size_t size, const char *what) {
  Header h = decode_header(p, size, what);
  const uint64_t total = kHeaderBytes + h.payload_bytes;
  if (size < total)
    fail(GPTAQ_ERR_FORMAT, "%s: truncated: %zu bytes, the header promises %llu", what, size,
         static_cast<unsigned long long>(total));
  if (size > total)
    fail(GPTAQ_ERR_FORMAT, "%s: %zu bytes, %llu more than the header describes", what, size,
         static_cast<unsigned long long>(size - total));
  const uint8_t *payload = p + kHeaderBytes;
  if (crc32(payload, static_cast<size_t>(h.payload_bytes)) != h.payload_crc)
    fail(GPTAQ_ERR_FORMAT, "%s: payload checksum mismatch (corrupt file)", what);
  const size_t n = static_cast<size_t>(h.columns);
  const size_t mat_elems = n * n * (h.has_cross ? 2 : 1);
  for (size_t i = 0; i < mat_elems; ++i) {
    float v;
    std::memcpy(&v, payload + 4 * i, 4);
    if (!std::isfinite(v))
      fail(GPTAQ_ERR_NON_FINITE, "%s: %s[%zu][%zu] is not finite", what,
           i < n * n ? "xx" : "dx", (i % (n * n)) / n, i % n);
  }
  for (size_t j = 0; j < n; ++j) {
    float v;
    std::memcpy(&v, payload + 4 * (j * n + j), 4);
    if (v < 0.0f)
      fail(GPTAQ_ERR_FORMAT, "%s: xx[%zu][%zu] = %g is negative: not a sum of squares", what,
           j, j, static_cast<double>(v));
  }
  const uint8_t *xs = payload + 4 * mat_elems;
  for (size_t j = 0; j < n; ++j) {
    double v;
    std::memcpy(&v, xs + 8 * j, 8);
    if (!std::isfinite(v)) fail(GPTAQ_ERR_NON_FINITE, "%s: xsum[%zu] is not finite", what, j);
  }
  return h;
}

}  // namespace statsfile
}  // namespace gptaq
