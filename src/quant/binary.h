// GPTQT's binary-coding quantizer (ALGORITHMS.md §5): linear to n hyper bits, then snap
// to the nearest level of a k-bit binary code. The per-layer choice of level set and
// scale candidate is made before the sweep (src/quant/gptqt_search.*); here are the
// per-value operations, header-only and plain data so a CUDA backend copies BinarySpec
// to the device and calls the same functions.
//
// Levels live on the real-valued u-grid 0 .. 2^n - 1: level(idx) = c + sum_i a_i b_i with
// c = (2^n - 1) / 2 and b_i = +1 when bit i of idx (most significant first) is set, else
// -1. The bit-plane weights are distinct powers of two in {2^(n-2), ..., 1, 1/2}, so a_1
// exceeds the sum of the others and the levels ascend with idx: the level index is the
// code, and sorting is never needed. Levels are multiples of 1/2, exact in float.
#pragma once

#include <cmath>
#include <cstdint>

#include "quant/uniform.h"

namespace gptaq {

constexpr int kBinaryMaxK = 4;
constexpr int kBinaryMaxN = 8;

struct BinarySpec {
  int32_t k;            // code bits (2..4)
  int32_t n;            // hyper bits (k < n <= 8)
  float umax;           // 2^n - 1
  float ratio;          // s = range * ratio: the chosen re-explore scale candidate
  int32_t n_levels;     // 2^k
  float alphas[kBinaryMaxK];         // bit-plane weights a_1 > ... > a_k of the chosen set
  float levels[1 << kBinaryMaxK];    // level of each code on the u-grid, ascending
  uint8_t snap[1 << kBinaryMaxN];    // u = 0 .. umax -> code of the nearest level (ties: lower)
};

// The row/group statistics step 1 needs: range = xmax - xmin with xmin = min(0, min x),
// xmax = max(0, max x); an all-zero row gets xmin = -1, range = 2 (as the uniform grid).
GPTAQ_HD inline void bq_range(const float *a, int64_t na, const float *b, int64_t nb,
                              float *xmin_out, float *range_out) {
  float xmin = 0.0f, xmax = 0.0f;
  for (int64_t i = 0; i < na; ++i) {
    xmin = fminf(xmin, a[i]);
    xmax = fmaxf(xmax, a[i]);
  }
  for (int64_t i = 0; i < nb; ++i) {
    xmin = fminf(xmin, b[i]);
    xmax = fmaxf(xmax, b[i]);
  }
  float range = xmax - xmin;
  if (range == 0.0f) {
    xmin = -1.0f;
    range = 2.0f;
  }
  *xmin_out = xmin;
  *range_out = range;
}

// Step 1's offset z = round(xmin / s0) * s0 with s0 = range / (2^n - 1) (kept for every
// scale candidate), and the re-explored scale s = range * ratio.
GPTAQ_HD inline void bq_params_from_range(float umax, float ratio, float xmin, float range,
                                          float *s_out, float *z_out) {
  const float s0 = range / umax;
  // A denormal range can underflow s0 to 0: keep z finite (the row quantizes to ~0).
  *z_out = s0 > 0.0f ? rintf(xmin / s0) * s0 : 0.0f;
  *s_out = range * ratio;
}

// Params for one row/group: p0 = s (the re-explored scale), p1 = z (float offset).
GPTAQ_HD inline void bq_find_params(const BinarySpec &s, const float *a, int64_t na,
                                    const float *b, int64_t nb, float *p0, float *p1) {
  float xmin, range;
  bq_range(a, na, b, nb, &xmin, &range);
  bq_params_from_range(s.umax, s.ratio, xmin, range, p0, p1);
}

// Step 2's first half: u = clamp(round((x - z) / s), 0, 2^n - 1) as an index.
GPTAQ_HD inline int bq_u(float umax, float x, float scale, float z) {
  // fmaxf/fminf drop a NaN (0/0 from an underflowed scale), giving u = 0.
  return static_cast<int>(fminf(fmaxf(rintf((x - z) / scale), 0.0f), umax));
}

// Quantize twice: u on the n-bit grid, then the nearest level. Returns s * level + z.
GPTAQ_HD inline float bq_quantize(const BinarySpec &s, float x, float scale, float z,
                                  uint8_t *code) {
  const uint8_t c = s.snap[bq_u(s.umax, x, scale, z)];
  *code = c;
  return scale * s.levels[c] + z;
}

}  // namespace gptaq
