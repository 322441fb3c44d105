// GPTQ checkpoint packing (qweight / qzeros / scales / g_idx) and quantize_config.json.
// Plain functions over host buffers; arguments are validated by the caller-facing API
// in src/c_api_formats.cpp except where noted.
#pragma once

#include <cstdint>
#include <string>

#include "gptaq/gptaq.h"

namespace gptaq {
namespace gptq {

struct Shapes {
  int64_t qweight_rows = 0;  // columns * bits / 32
  int64_t qzeros_cols = 0;   // rows * bits / 32
  int64_t n_groups = 0;
};

// Throws INVALID_ARGUMENT / SHAPE.
Shapes shapes(int64_t rows, int64_t columns, int32_t group_size, int32_t bits);

struct PackArgs {
  int32_t format = GPTAQ_GPTQ_V1;
  int32_t bits = 4;
  int64_t rows = 0, columns = 0;
  int32_t group_size = 128;
  const uint8_t *codes = nullptr;
  const float *scales = nullptr, *zeros = nullptr;
  const int32_t *g_idx = nullptr;
  int32_t *qweight = nullptr, *qzeros = nullptr;
  int32_t scales_dtype = GPTAQ_DTYPE_F16;
  void *scales_out = nullptr;
  int32_t *g_idx_out = nullptr;
  int64_t *zeros_clamped = nullptr;
};
void pack(const PackArgs &a);

struct UnpackArgs {
  int32_t format = GPTAQ_GPTQ_V1;
  int32_t bits = 4;
  int64_t rows = 0, columns = 0, n_groups = 1;
  const int32_t *qweight = nullptr, *qzeros = nullptr;
  int32_t scales_dtype = GPTAQ_DTYPE_F16;
  const void *scales = nullptr;
  const int32_t *g_idx = nullptr;
  uint8_t *codes = nullptr;
  float *scales_out = nullptr, *zeros = nullptr, *dequant = nullptr;
};
void unpack(const UnpackArgs &a);

// The quantize_config.json text (pretty-printed).
std::string quantize_config(const gptaq_config &cfg, int32_t format);

// Parse quantize_config.json text (or a config.json holding "quantization_config") over
// cfg; returns the checkpoint format. `what` names the source in messages. Throws FORMAT.
int32_t parse_quantize_config(const std::string &text, const char *what, gptaq_config &cfg);

}  // namespace gptq
}  // namespace gptaq
