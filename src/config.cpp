#include "config.h"

#include <cmath>
#include <cstring>

#include "error.h"

namespace gptaq {

Config default_config() {
  Config c;
  std::memset(&c, 0, sizeof c);
  c.struct_size = static_cast<int32_t>(sizeof c);
  c.method = GPTAQ_METHOD_GPTQ;
  c.bits = 4;
  c.group_size = 128;
  c.sym = 1;
  c.act_order = 0;
  c.static_groups = 0;
  c.mse = 0;
  c.block_size = 128;
  c.backend = GPTAQ_BACKEND_AUTO;
  c.device = 0;
  c.num_threads = 0;
  c.damp_percent = 0.01f;
  c.damp_retries = 4;
  c.alpha = 0.25f;
  c.mse_norm = 2.4f;
  c.mse_grid = 100;
  c.mse_max_shrink = 0.8f;
  c.quantizer = GPTAQ_QUANTIZER_UNIFORM;
  c.hyper_bits = 0;
  c.explore_bits = 1;
  c.explore_split = 20;
  c.objective = GPTAQ_OBJECTIVE_OUTPUT;
  c.act_group_aware = 0;
  c.failsafe_tokens = 0;
  return c;
}

Config read_config(const gptaq_config *cfg) {
  Config c = default_config();
  if (!cfg) return c;
  int32_t size = cfg->struct_size;
  if (size < static_cast<int32_t>(sizeof(int32_t)))
    fail(GPTAQ_ERR_INVALID_ARGUMENT,
         "config.struct_size is %d; set it with gptaq_config_init(&cfg, sizeof cfg)", size);
  if (size > static_cast<int32_t>(sizeof(Config)))
    fail(GPTAQ_ERR_INVALID_ARGUMENT,
         "config.struct_size is %d but this library (%s) knows %d bytes: the header is newer "
         "than the library",
         size, gptaq_version_string(), static_cast<int>(sizeof(Config)));
  std::memcpy(&c, cfg, static_cast<size_t>(size));
  c.struct_size = static_cast<int32_t>(sizeof c);
  return c;
}

int effective_hyper_bits(const Config &c) { return c.hyper_bits > 0 ? c.hyper_bits : c.bits + 2; }

void validate_config(const Config &c) {
  const gptaq_status E = GPTAQ_ERR_INVALID_ARGUMENT;
  if (c.method < GPTAQ_METHOD_RTN || c.method > GPTAQ_METHOD_GPTAQ)
    fail(E, "config.method %d is not a gptaq_method (0 rtn, 1 gptq, 2 gptaq)", c.method);
  if (c.quantizer != GPTAQ_QUANTIZER_UNIFORM && c.quantizer != GPTAQ_QUANTIZER_BINARY)
    fail(E, "config.quantizer %d is not a gptaq_quantizer_kind (0 uniform, 1 binary)",
         c.quantizer);
  if (c.quantizer == GPTAQ_QUANTIZER_UNIFORM) {
    if (c.bits < 2 || c.bits > 8)
      fail(E, "config.bits %d is outside 2..8 for the uniform quantizer", c.bits);
  } else {
    if (c.bits < 2 || c.bits > 4)
      fail(E, "config.bits %d is outside 2..4 for the binary quantizer", c.bits);
    int n = effective_hyper_bits(c);
    if (c.hyper_bits < 0) fail(E, "config.hyper_bits %d is negative (0 = bits + 2)", c.hyper_bits);
    if (n > 8) fail(E, "config.hyper_bits %d is above 8", n);
    if (n <= c.bits)
      fail(E, "config.hyper_bits %d must exceed bits %d (k < n)", n, c.bits);
    if (c.explore_bits < 0 || c.explore_bits >= n)
      fail(E, "config.explore_bits %d is outside 0..%d", c.explore_bits, n - 1);
    if (c.explore_split < 1 || c.explore_split > 1000)
      fail(E, "config.explore_split %d is outside 1..1000", c.explore_split);
  }
  // An unknown enum value is rejected even where the field is not used (uniform
  // quantizer), so a later set_config to the binary quantizer cannot inherit garbage.
  if (c.objective < GPTAQ_OBJECTIVE_OUTPUT || c.objective > GPTAQ_OBJECTIVE_WEIGHT)
    fail(E, "config.objective %d is not a gptaq_objective (0 output, 1 hessian, 2 weight)",
         c.objective);
  if (c.group_size != -1 && c.group_size < 1)
    fail(E, "config.group_size %d must be -1 (per row) or >= 1", c.group_size);
  if (c.block_size < 1 || c.block_size > 4096)
    fail(E, "config.block_size %d is outside 1..4096", c.block_size);
  if (c.backend < GPTAQ_BACKEND_AUTO || c.backend > GPTAQ_BACKEND_CUDA)
    fail(E, "config.backend %d is not a gptaq_backend (0 auto, 1 cpu, 2 cuda)", c.backend);
  if (c.device < 0) fail(E, "config.device %d is negative", c.device);
  if (c.num_threads < 0 || c.num_threads > 4096)
    fail(E, "config.num_threads %d is outside 0..4096", c.num_threads);
  if (!(std::isfinite(c.damp_percent) && c.damp_percent > 0.0f))
    fail(E, "config.damp_percent %g must be finite and > 0", static_cast<double>(c.damp_percent));
  if (c.damp_retries < 0 || c.damp_retries > 8)
    fail(E, "config.damp_retries %d is outside 0..8", c.damp_retries);
  if (!std::isfinite(c.alpha))
    fail(E, "config.alpha %g must be finite", static_cast<double>(c.alpha));
  if (!(std::isfinite(c.mse_norm) && c.mse_norm > 0.0f))
    fail(E, "config.mse_norm %g must be finite and > 0", static_cast<double>(c.mse_norm));
  if (c.mse_grid < 1 || c.mse_grid > 10000)
    fail(E, "config.mse_grid %d is outside 1..10000", c.mse_grid);
  if (!(c.mse_max_shrink > 0.0f && c.mse_max_shrink < 1.0f))
    fail(E, "config.mse_max_shrink %g must be in (0, 1)", static_cast<double>(c.mse_max_shrink));
  for (int32_t flag : {c.sym, c.act_order, c.static_groups, c.mse, c.act_group_aware})
    if (flag != 0 && flag != 1)
      fail(E,
           "config boolean fields (sym, act_order, static_groups, mse, act_group_aware) must "
           "be 0 or 1, got %d",
           flag);
  if (c.act_group_aware && c.group_size < 1)
    fail(E, "config.act_group_aware needs group_size >= 1 (got %d): it reorders columns "
            "inside each quantization group", c.group_size);
  if (c.act_group_aware && c.act_order)
    fail(E, "config.act_group_aware and config.act_order exclude each other: choose one "
            "column order");
  if (c.failsafe_tokens < 0)
    fail(E, "config.failsafe_tokens %d is negative (0 turns the failsafe off)",
         c.failsafe_tokens);
}

bool same_factorization(const Config &a, const Config &b) {
  return a.damp_percent == b.damp_percent && a.damp_retries == b.damp_retries &&
         a.act_order == b.act_order && a.act_group_aware == b.act_group_aware &&
         (!a.act_group_aware || a.group_size == b.group_size) &&  // GAR's order uses groups
         a.method == b.method && a.alpha == b.alpha;
}

}  // namespace gptaq
