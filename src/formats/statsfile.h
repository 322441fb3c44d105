// The statistics file format (gptaq.h, "THE STATISTICS FILE"): header encoding and
// validation, CRC-32. Pure byte handling: no context, no backend, no file I/O.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gptaq {
namespace statsfile {

constexpr size_t kHeaderBytes = 64;
constexpr uint32_t kVersion = 1;

struct Header {
  int64_t columns = 0;
  int32_t method = 0;
  int32_t has_cross = 0;
  double tokens = 0.0;
  uint64_t payload_bytes = 0;
  uint32_t payload_crc = 0;
};

// CRC-32 (IEEE 802.3 polynomial, reflected, as zlib's crc32); chain with crc = previous.
uint32_t crc32(const void *data, size_t size, uint32_t crc = 0);

// Payload size for n columns, or 0 when it overflows 64 bits / the address range.
uint64_t payload_bytes(int64_t n, bool has_cross);

// Encode h (payload_crc and payload_bytes included) into out[kHeaderBytes].
void encode_header(const Header &h, uint8_t *out);

// Decode and validate a header from `size` >= kHeaderBytes bytes (magic, version, header
// size, header CRC, columns > 0, has_cross in {0, 1}, method known, tokens finite >= 0,
// payload size consistent with columns). `what` names the source in messages. Throws
// gptaq::Error (FORMAT) on any problem. `size` < kHeaderBytes is FORMAT (truncated).
Header decode_header(const uint8_t *data, size_t size, const char *what);

// Verify a whole serialized buffer (header then payload, exactly header + payload bytes):
// the header as above, the total size, the payload CRC and that every value is finite
// (NON_FINITE otherwise) with xx's diagonal >= 0. Returns the header.
Header verify(const uint8_t *data, size_t size, const char *what);

// Little-endian host check (the payload is stored in host order on little-endian hosts).
bool host_is_little_endian();

}  // namespace statsfile
}  // namespace gptaq
