// GPTQT's per-layer search (ALGORITHMS.md §5): the candidate level sets (k-subsets of
// the bit-plane weights {2^(n-2), ..., 2, 1, 1/2}), the re-explore scale candidates, and
// the joint choice of (level set, scale index) once per layer, before the sweep.
//
// What the search evaluates: the quantizer alone, i.e. round-to-nearest of the weight
// the sweep starts from (dead columns zeroed), with per-row (or per-group, contiguous
// original columns) params computed exactly as bq_find_params does, for every candidate
// (A, t). No error feedback is simulated: that is what the paper's prototype does, and
// it keeps the search at O(S * rows * cols) for the output and weight objectives.
// Objectives (value reported as BinaryChoice::value):
//   OUTPUT  mean_r (sum_j dW_rj xbar_j)^2, xbar = xsum / tokens over ALL streamed tokens
//   HESSIAN trace(dW H dW^T), H = (2/N) sum x x^T (one rows x cols x cols GEMM per
//           candidate on the context's backend: C(n,k) * S of them)
//   WEIGHT  sum dW^2; also the fallback when no tokens were streamed, and what the
//           failsafe uses (use_stats false: too few tokens to trust).
// Ties keep the first candidate in (level set, scale index) order.
#pragma once

#include <cstdint>
#include <vector>

#include "context.h"
#include "quant/binary.h"

namespace gptaq {

// C(n, k): the number of candidate level sets.
int32_t binary_num_level_sets(int32_t n, int32_t k);

// The bit-plane weights of candidate level set `index` (0 .. C(n,k) - 1), descending,
// into alphas[0..k). Level sets are the k-subsets of positions 0..n-1 of the weight list
// {2^(n-2), ..., 1, 1/2} in lexicographic order (index 0 = the k largest weights).
void binary_level_set(int32_t n, int32_t k, int32_t index, float *alphas);

// s / range for scale candidate t (0 .. S - 1): evenly spaced in s from
// 1 / (2^(n+e) - 1) to 1 / (2^(n-e) - 1). S = 1 gives step 1's own scale, 1 / (2^n - 1).
double binary_scale_ratio(int32_t n, int32_t e, int32_t S, int32_t t);

// A complete BinarySpec for level set `level_set` and scale ratio `ratio`.
BinarySpec make_binary_spec(int32_t k, int32_t n, int32_t level_set, float ratio);

struct BinaryChoice {
  BinarySpec spec{};
  int32_t level_set = -1;
  int32_t scale_index = -1;
  int32_t objective = -1;  // gptaq_objective actually used (after the fallback)
  double value = 0.0;      // its value at the chosen candidate
};

// Run the search for a rows x ctx.n weight (host, row-major) with ctx's configuration and
// statistics. dead (may be null): original column indices the sweep zeroes. use_stats
// false ignores the statistics (the WEIGHT objective, as with no tokens).
BinaryChoice gptqt_search(gptaq_ctx &ctx, const float *weight, int64_t rows,
                          const std::vector<int64_t> *dead, bool use_stats = true);

}  // namespace gptaq
