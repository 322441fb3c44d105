// GPTQT's binary-coding quantizer (ALGORITHMS.md §5): linear to n hyper bits, then snap
// to the nearest level of a k-bit binary code. The per-layer choice of level set and
// scale index is made before the sweep (src/quant/gptqt_search.*); here are the
// per-value operations, header-only for both backends.
#pragma once

#include <cmath>
#include <cstdint>

#include "quant/uniform.h"

namespace gptaq {

struct BinarySpec {
  int32_t k;           // code bits
  int32_t n;           // hyper bits
  float umax;          // 2^n - 1
  float levels[16];    // the 2^k levels of the chosen set on the 0..2^n-1 grid, ascending
  int32_t codes[16];   // level index (bit i, MSB first = sign of alpha_i) per sorted level
  int32_t n_levels;    // 2^k
  float alphas[4];     // the bit-plane weights a_1 > ... > a_k of the chosen set
  float scale_mult;    // s = range / scale_div for the chosen scale candidate
  float scale_div;
};

// Params for one row/group: p0 = s (the re-explored scale), p1 = z (float offset from
// step 1, z = round(xmin / s0) * s0 with s0 = range / (2^n - 1)).
GPTAQ_HD inline void bq_find_params(const BinarySpec &s, const float *a, int64_t na,
                                    const float *b, int64_t nb, float *p0, float *p1) {
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
  if (range == 0.0f) range = 2.0f, xmin = -1.0f;
  float s0 = range / s.umax;
  *p1 = rintf(xmin / s0) * s0;
  *p0 = range / s.scale_div;
}

GPTAQ_HD inline float bq_quantize(const BinarySpec &s, float x, float scale, float z,
                                  uint8_t *code) {
  float u = fminf(fmaxf(rintf((x - z) / scale), 0.0f), s.umax);
  int best = 0;
  float bestd = fabsf(u - s.levels[0]);
  for (int i = 1; i < s.n_levels; ++i) {
    float d = fabsf(u - s.levels[i]);
    if (d < bestd) {  // ties keep the lower level (levels ascend)
      bestd = d;
      best = i;
    }
  }
  *code = static_cast<uint8_t>(s.codes[best]);
  return scale * s.levels[best] + z;
}

}  // namespace gptaq
