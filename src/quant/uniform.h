// The uniform grid quantizer with the GPTQ checkpoint conventions (ALGORITHMS.md §4).
// Header-only and free of host-only calls so a CUDA backend can use the same code in
// device functions (GPTAQ_HD expands to __host__ __device__ under nvcc).
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define GPTAQ_HD __host__ __device__
#else
#define GPTAQ_HD
#endif

namespace gptaq {

// What the uniform quantizer needs to know; plain data, copyable to a device.
struct UniformSpec {
  int32_t bits;
  float maxq;            // 2^bits - 1
  int32_t sym;
  int32_t mse;
  float mse_norm;        // 2.4
  int32_t mse_grid;      // 100
  float mse_max_shrink;  // 0.8
};

// Round half to even, as torch.round (default FP rounding mode).
GPTAQ_HD inline float round_even(float x) { return rintf(x); }

GPTAQ_HD inline float uq_code(float x, float scale, float zero, float maxq) {
  float q = round_even(x / scale) + zero;
  // fminf(fmaxf(q, 0), maxq) without the libm calls (q is never NaN here: x is finite
  // and scale > 0; the comparison order still maps a NaN to 0 as fmaxf would).
  q = q > 0.0f ? q : 0.0f;
  return q < maxq ? q : maxq;
}

GPTAQ_HD inline float uq_dequant(float code, float scale, float zero) {
  return scale * (code - zero);
}

GPTAQ_HD inline void uq_params_from_range(const UniformSpec &s, float xmin, float xmax,
                                          float *scale, float *zero) {
  // xmin <= 0 <= xmax already.
  if (s.sym) {
    xmax = fmaxf(fabsf(xmin), xmax);
    if (xmin < 0.0f) xmin = -xmax;
  }
  if (xmin == 0.0f && xmax == 0.0f) {
    xmin = -1.0f;
    xmax = 1.0f;
  }
  *scale = (xmax - xmin) / s.maxq;
  *zero = s.sym ? (s.maxq + 1.0f) / 2.0f : round_even(-xmin / *scale);
}

// Scale and zero for the n values x[0], x[stride], ... (one row of one group), with the
// optional MSE clip search. The values may come in two pieces (a, na) and (b, nb) so a
// group that straddles a lazy block reads current in-block values and lagging outside
// ones without a copy; nb may be 0.
GPTAQ_HD inline void uq_find_params(const UniformSpec &s, const float *a, int64_t na,
                                    const float *b, int64_t nb, float *scale_out,
                                    float *zero_out) {
  float xmin = 0.0f, xmax = 0.0f;
  // Inputs are finite (checked at the API), so plain comparisons (which vectorize and
  // need no libm call) give the same result as fminf/fmaxf.
  for (int64_t i = 0; i < na; ++i) {
    xmin = a[i] < xmin ? a[i] : xmin;
    xmax = a[i] > xmax ? a[i] : xmax;
  }
  for (int64_t i = 0; i < nb; ++i) {
    xmin = b[i] < xmin ? b[i] : xmin;
    xmax = b[i] > xmax ? b[i] : xmax;
  }
  float scale, zero;
  uq_params_from_range(s, xmin, xmax, &scale, &zero);
  if (s.mse) {
    // The reference applies sym/zero-range fixes to xmin/xmax before shrinking.
    float lo = xmin, hi = xmax;
    if (s.sym) {
      hi = fmaxf(fabsf(lo), hi);
      if (lo < 0.0f) lo = -hi;
    }
    if (lo == 0.0f && hi == 0.0f) {
      lo = -1.0f;
      hi = 1.0f;
    }
    float best = INFINITY;
    // In double, as the reference (int(maxshrink * grid) in Python) does.
    const int steps = static_cast<int>(static_cast<double>(s.mse_max_shrink) * s.mse_grid);
    for (int i = 0; i < steps; ++i) {
      float p = static_cast<float>(1.0 - static_cast<double>(i) / s.mse_grid);
      float lo1 = p * lo, hi1 = p * hi;
      float scale1 = (hi1 - lo1) / s.maxq;
      float zero1 = s.sym ? zero : round_even(-lo1 / scale1);
      float err = 0.0f;
      for (int64_t k = 0; k < na + nb; ++k) {
        float x = k < na ? a[k] : b[k - na];
        float q = uq_dequant(uq_code(x, scale1, zero1, s.maxq), scale1, zero1);
        err += powf(fabsf(q - x), s.mse_norm);
      }
      if (err < best) {
        best = err;
        scale = scale1;
        zero = zero1;
      }
    }
  }
  *scale_out = scale;
  *zero_out = zero;
}

}  // namespace gptaq
