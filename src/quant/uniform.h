// The uniform grid quantizer with the GPTQ checkpoint conventions (ALGORITHMS.md §4).
// Header-only and free of host-only calls so a CUDA backend can use the same code in
// device functions (GPTAQ_HD expands to __host__ __device__ under nvcc).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

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

// The float64 number with these bits, and back (memcpy: no aliasing assumption; nvcc
// lowers it to a register move).
GPTAQ_HD inline double f64_from_bits(uint64_t b) {
  double d;
  memcpy(&d, &b, sizeof d);
  return d;
}
GPTAQ_HD inline uint64_t f64_bits(double d) {
  uint64_t b;
  memcpy(&b, &d, sizeof b);
  return b;
}

// x^y for finite x >= 0 and finite y > 0: the MSE clip search's |q - x|^norm. libm's
// powf differs between glibc and CUDA (and between library versions) in the last bit for
// some arguments, and a last-bit difference on a near-tie picks another shrink and so
// another scale for a whole group. This is one fixed sequence of IEEE-754 float64
// operations (+, -, *, /, rint, exact scaling by powers of two; no FMA: the library is
// compiled with -ffp-contract=off, the kernels with --fmad=false), so every host and
// device evaluates it to the same bits: exp(y ln x) with ln x = e ln 2 + 2 atanh(s),
// s = (m - 1)/(m + 1), m in [sqrt(1/2), sqrt(2)), and exp(z) = 2^k exp(r), |r| <= ln2/2,
// both by their series to below 2^-60 relative. The float64 result is within a few 2^-50
// of x^y, so its rounding to float is the correctly rounded x^y except when x^y lies
// within that distance of a rounding boundary (glibc's powf is one ulp off in a few
// arguments in 10^4; tests/test_pow.cpp checks both, and that the MSE search picks the
// same params as with powf).
GPTAQ_HD inline float pow_det(float x, float y) {
  if (!(x > 0.0f)) return 0.0f;  // x == 0 (y > 0)
  if (!(x < INFINITY)) return INFINITY;
  // x as float64 is normal (float subnormals included): x = m 2^e, m in [1, 2).
  const uint64_t bits = f64_bits(static_cast<double>(x));
  int e = static_cast<int>((bits >> 52) & 0x7ff) - 1023;
  double m = f64_from_bits((bits & 0x000fffffffffffffull) | (uint64_t{1023} << 52));
  if (m > 1.4142135623730951) {
    m = m * 0.5;
    e += 1;
  }
  const double s = (m - 1.0) / (m + 1.0), s2 = s * s;  // |s| <= 0.1716, s2 <= 0.0295
  // atanh(s)/s = sum s2^k/(2k+1), k = 0..11 (the next term is below 2^-64).
  double t = 1.0 / 23.0;
  t = t * s2 + 1.0 / 21.0;
  t = t * s2 + 1.0 / 19.0;
  t = t * s2 + 1.0 / 17.0;
  t = t * s2 + 1.0 / 15.0;
  t = t * s2 + 1.0 / 13.0;
  t = t * s2 + 1.0 / 11.0;
  t = t * s2 + 1.0 / 9.0;
  t = t * s2 + 1.0 / 7.0;
  t = t * s2 + 1.0 / 5.0;
  t = t * s2 + 1.0 / 3.0;
  t = t * s2 + 1.0;
  // ln 2 split so that e * kLn2Hi is exact (kLn2Hi has 32 significant bits).
  const double kLn2Hi = 6.93147180369123816490e-01, kLn2Lo = 1.90821492927058770002e-10;
  const double ed = static_cast<double>(e);
  const double lnx = ed * kLn2Hi + (ed * kLn2Lo + 2.0 * s * t);
  const double z = static_cast<double>(y) * lnx;
  if (z > 89.0) return INFINITY;    // above ln(FLT_MAX) = 88.72
  if (z < -104.0) return 0.0f;      // below ln(the smallest subnormal / 2) = -103.97
  const double k = rint(z * 1.4426950408889634);  // z / ln 2 to the nearest integer
  const double r = (z - k * kLn2Hi) - k * kLn2Lo;  // |r| <= 0.347
  // exp(r) = sum r^i / i!, i = 0..15 (the next term is below 2^-63).
  double p = 1.0 / 1307674368000.0;
  p = p * r + 1.0 / 87178291200.0;
  p = p * r + 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  // 2^k is a normal float64 (|k| <= 151).
  const double two_k = f64_from_bits(static_cast<uint64_t>(static_cast<int64_t>(k) + 1023) << 52);
  return static_cast<float>(p * two_k);
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
        err += pow_det(fabsf(q - x), s.mse_norm);
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
