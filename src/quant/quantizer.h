// The quantizer seen by the solver and the backends: which kind, and the two functions
// the sweep needs (group params from values; round one value). Orthogonal to the
// solver: GPTQ/GPTAQ decide how error propagates, this decides how a value is rounded.
// Header-only so a CUDA backend uses the same code in device functions.
#pragma once

#include <cstdint>

#include "quant/binary.h"
#include "quant/uniform.h"

namespace gptaq {

enum QuantKind : int32_t { QUANT_UNIFORM = 0, QUANT_BINARY = 1 };

// Plain data, copyable to a device. Two float params per (row, group):
//   uniform: (scale, zero);  binary: (s, z), see quant/binary.h.
struct QuantSpec {
  int32_t kind;
  UniformSpec uniform;
  BinarySpec binary;
};

GPTAQ_HD inline void q_find_params(const QuantSpec &s, const float *a, int64_t na,
                                   const float *b, int64_t nb, float *p0, float *p1) {
  if (s.kind == QUANT_BINARY)
    bq_find_params(s.binary, a, na, b, nb, p0, p1);
  else
    uq_find_params(s.uniform, a, na, b, nb, p0, p1);
}

// Quantize x with params (p0, p1): returns the dequantized value, *code the stored code.
GPTAQ_HD inline float q_quantize(const QuantSpec &s, float x, float p0, float p1,
                                 uint8_t *code) {
  if (s.kind == QUANT_BINARY) return bq_quantize(s.binary, x, p0, p1, code);
  float c = uq_code(x, p0, p1, s.uniform.maxq);
  *code = static_cast<uint8_t>(c);
  return uq_dequant(c, p0, p1);
}

}  // namespace gptaq
