// The LUT-GEMM layout of a GPTQT binary-coded weight (ALGORITHMS.md §5, gptaq.h
// "LUT-GEMM layout"): bit planes packed as uint32 [ceil(K/32)][k][N], alpha fp16
// [G][k][N], bias fp16 [G][N]. extern "C" entry points inside the guarded() boundary.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "c_api_impl.h"
#include "half.h"

using namespace gptaq;

namespace {

struct LutShape {
  int64_t words, groups, gs;
};

LutShape lut_shape(int32_t bits, int64_t rows, int64_t columns, int32_t group_size) {
  GPTAQ_REQUIRE(bits >= 1 && bits <= 8, "bits = %d is outside 1..8", bits);
  GPTAQ_REQUIRE(group_size == -1 || group_size >= 1,
                "group_size = %d must be -1 (per row) or >= 1", group_size);
  if (rows <= 0 || columns <= 0)
    fail(GPTAQ_ERR_SHAPE, "rows = %lld and columns = %lld must be > 0",
         static_cast<long long>(rows), static_cast<long long>(columns));
  const int64_t lim = std::numeric_limits<int64_t>::max() / 64;
  if (rows > lim / columns)
    fail(GPTAQ_ERR_SHAPE, "%lld x %lld elements overflow", static_cast<long long>(rows),
         static_cast<long long>(columns));
  LutShape s;
  s.words = (columns + 31) / 32;
  s.gs = group_size > 0 ? group_size : columns;
  s.groups = (columns + s.gs - 1) / s.gs;
  return s;
}

uint16_t to_f16_checked(float v, const char *what, int64_t r, int64_t g, int i) {
  if (!std::isfinite(v))
    fail(GPTAQ_ERR_INVALID_ARGUMENT, "%s[%lld][%lld][%d] is not finite", what,
         static_cast<long long>(r), static_cast<long long>(g), i);
  const uint16_t h = f32_to_f16(v);
  if ((h & 0x7c00u) == 0x7c00u)
    fail(GPTAQ_ERR_UNSUPPORTED, "%s[%lld][%lld][%d] = %g is beyond the fp16 range", what,
         static_cast<long long>(r), static_cast<long long>(g), i, static_cast<double>(v));
  return h;
}

}  // namespace

extern "C" {

int32_t gptaq_lutgemm_pack(int32_t bits, int64_t rows, int64_t columns, int32_t group_size,
                           const uint8_t *codes, const float *alpha, const float *bias,
                           const int32_t *g_idx, uint32_t *qbits, uint16_t *alpha_f16,
                           uint16_t *bias_f16) {
  return guarded([&] {
    GPTAQ_REQUIRE(codes && alpha && bias, "codes, alpha or bias is NULL");
    const LutShape sh = lut_shape(bits, rows, columns, group_size);
    const int64_t K = columns, N = rows, G = sh.groups;
    // Validate everything before writing anything.
    const int maxc = (1 << bits) - 1;
    for (int64_t i = 0; i < N * K; ++i)
      if (codes[i] > maxc)
        fail(GPTAQ_ERR_INVALID_ARGUMENT, "codes[%lld][%lld] = %d is not a %d-bit level index",
             static_cast<long long>(i / K), static_cast<long long>(i % K), codes[i], bits);
    if (g_idx)
      for (int64_t c = 0; c < K; ++c)
        if (g_idx[c] != c / sh.gs)
          fail(GPTAQ_ERR_UNSUPPORTED,
               "g_idx[%lld] = %d but LUT-GEMM groups are contiguous (expected %lld): "
               "act-order with dynamic groups cannot be stored; use static_groups",
               static_cast<long long>(c), g_idx[c], static_cast<long long>(c / sh.gs));
    std::vector<uint16_t> ah(static_cast<size_t>(G * bits * N)), bh(static_cast<size_t>(G * N));
    for (int64_t r = 0; r < N; ++r)
      for (int64_t g = 0; g < G; ++g) {
        for (int i = 0; i < bits; ++i)
          ah[static_cast<size_t>((g * bits + i) * N + r)] =
              to_f16_checked(alpha[(r * G + g) * bits + i], "alpha", r, g, i);
        bh[static_cast<size_t>(g * N + r)] = to_f16_checked(bias[r * G + g], "bias", r, g, 0);
      }
    if (alpha_f16) std::memcpy(alpha_f16, ah.data(), sizeof(uint16_t) * ah.size());
    if (bias_f16) std::memcpy(bias_f16, bh.data(), sizeof(uint16_t) * bh.size());
    if (qbits) {
      std::memset(qbits, 0, sizeof(uint32_t) * static_cast<size_t>(sh.words * bits * N));
      for (int64_t r = 0; r < N; ++r) {
        const uint8_t *cr = codes + r * K;
        for (int64_t c = 0; c < K; ++c) {
          const int64_t w = c / 32;
          const uint32_t bit = 1u << (c % 32);
          for (int i = 0; i < bits; ++i)
            if ((cr[c] >> (bits - 1 - i)) & 1) qbits[(w * bits + i) * N + r] |= bit;
        }
      }
    }
  });
}

int32_t gptaq_lutgemm_unpack(int32_t bits, int64_t rows, int64_t columns, int32_t group_size,
                             const uint32_t *qbits, const uint16_t *alpha_f16,
                             const uint16_t *bias_f16, uint8_t *codes, float *alpha,
                             float *bias, float *dequant) {
  return guarded([&] {
    GPTAQ_REQUIRE(qbits && alpha_f16 && bias_f16, "qbits, alpha_f16 or bias_f16 is NULL");
    const LutShape sh = lut_shape(bits, rows, columns, group_size);
    const int64_t K = columns, N = rows, G = sh.groups;
    if (alpha)
      for (int64_t r = 0; r < N; ++r)
        for (int64_t g = 0; g < G; ++g)
          for (int i = 0; i < bits; ++i)
            alpha[(r * G + g) * bits + i] = f16_to_f32(alpha_f16[(g * bits + i) * N + r]);
    if (bias)
      for (int64_t r = 0; r < N; ++r)
        for (int64_t g = 0; g < G; ++g) bias[r * G + g] = f16_to_f32(bias_f16[g * N + r]);
    if (!codes && !dequant) return;
    for (int64_t r = 0; r < N; ++r)
      for (int64_t c = 0; c < K; ++c) {
        const int64_t w = c / 32, g = c / sh.gs;
        const uint32_t bit = 1u << (c % 32);
        int code = 0;
        float v = f16_to_f32(bias_f16[g * N + r]);
        for (int i = 0; i < bits; ++i) {
          const bool set = (qbits[(w * bits + i) * N + r] & bit) != 0;
          code = (code << 1) | (set ? 1 : 0);
          const float a = f16_to_f32(alpha_f16[(g * bits + i) * N + r]);
          v += set ? a : -a;
        }
        if (codes) codes[r * K + c] = static_cast<uint8_t>(code);
        if (dequant) dequant[r * K + c] = v;
      }
  });
}

}  // extern "C"
