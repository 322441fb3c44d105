// The solver: factorization (ALGORITHMS.md §2) and the lazy-block column sweep (§3),
// written once over the backend interface.
#pragma once

#include <cstdint>

#include "context.h"

namespace gptaq {

// Outputs in host memory; optional ones may be null.
struct SolveOutputs {
  uint8_t *codes = nullptr;   // rows x cols
  float *params = nullptr;    // rows x n_groups x 2 (quantizer params, host)
  int32_t *g_idx = nullptr;   // cols
  float *dequant = nullptr;   // rows x cols
  double loss = 0.0;
  bool factor_reused = false;
  bool failsafe_used = false;  // config.failsafe_tokens made this an RTN solve
  int32_t level_set = -1;
  int32_t scale_index = -1;
  BinarySpec binary{};        // the chosen binary code (binary quantizer only)
};

void solve(gptaq_ctx &ctx, const float *weight, int64_t rows, SolveOutputs &out);

// Drop the cached factorization (after new statistics or a config change).
void invalidate_factor(gptaq_ctx &ctx);

}  // namespace gptaq
