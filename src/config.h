// Configuration: defaults, reading a caller's (possibly older, smaller) struct, and
// validation with messages that name the bad field.
#pragma once

#include <cstddef>

#include "gptaq/gptaq.h"

namespace gptaq {

// The library's own full-size configuration.
using Config = gptaq_config;

Config default_config();

// Copy the first cfg->struct_size bytes of a caller's struct over the defaults.
// NULL gives the defaults. Throws INVALID_ARGUMENT for a bad struct_size.
Config read_config(const gptaq_config *cfg);

// Throws INVALID_ARGUMENT naming the first bad field.
void validate_config(const Config &c);

// The hyper bits n in effect for the binary quantizer (hyper_bits or bits + 2).
int effective_hyper_bits(const Config &c);

// Whether two configurations share a factorization (damping, act-order, method, alpha).
bool same_factorization(const Config &a, const Config &b);

}  // namespace gptaq
