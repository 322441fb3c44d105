// GPTQ packing. Every column of qweight and every row of qzeros is a little-endian
// stream of b-bit codes, least significant bit first: code i occupies bits
// [i*b, i*b + b) of the stream, the stream's word w being the w-th 32-bit element.
// For b = 2/4/8 this is AutoGPTQ's "word i/(32/b), shift (i mod (32/b))*b"; for b = 3
// it is its 10 | 1 | 10 | 1 | 10 pattern with codes 10 and 21 straddling words.
#include "formats/gptq.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

#include "config.h"
#include "error.h"
#include "half.h"

namespace gptaq {
namespace gptq {
namespace {

bool supported_bits(int32_t b) { return b == 2 || b == 3 || b == 4 || b == 8; }

void check_format(int32_t format) {
  if (format != GPTAQ_GPTQ_V1 && format != GPTAQ_GPTQ_V2)
    fail(GPTAQ_ERR_INVALID_ARGUMENT,
         "format %d is not GPTAQ_GPTQ_V1 (0, \"gptq\") or GPTAQ_GPTQ_V2 (1, \"gptq_v2\")", format);
}

void check_scales_dtype(int32_t d) {
  if (d != GPTAQ_DTYPE_F16 && d != GPTAQ_DTYPE_BF16 && d != GPTAQ_DTYPE_F32)
    fail(GPTAQ_ERR_INVALID_ARGUMENT, "scales dtype %d is not f32 (0), f16 (1) or bf16 (2)", d);
}

// OR the b-bit value v into the stream at bit position pos (words spaced by stride).
inline void put_bits(uint32_t *words, int64_t stride, uint64_t pos, uint32_t v, int b) {
  const int64_t w = static_cast<int64_t>(pos >> 5);
  const unsigned off = static_cast<unsigned>(pos & 31u);
  words[w * stride] |= v << off;
  if (off + static_cast<unsigned>(b) > 32u) words[(w + 1) * stride] |= v >> (32u - off);
}

inline uint32_t get_bits(const uint32_t *words, int64_t stride, uint64_t pos, int b) {
  const int64_t w = static_cast<int64_t>(pos >> 5);
  const unsigned off = static_cast<unsigned>(pos & 31u);
  uint32_t v = words[w * stride] >> off;
  if (off + static_cast<unsigned>(b) > 32u) v |= words[(w + 1) * stride] << (32u - off);
  return v & ((1u << b) - 1u);
}

// The shortest decimal that reads back as the float (0.01f -> 0.01, not 0.0099999998).
double shortest(float x) {
  char buf[32];
  for (int prec = 1; prec <= 9; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, static_cast<double>(x));
    const double d = std::strtod(buf, nullptr);
    if (static_cast<float>(d) == x) return d;
  }
  return static_cast<double>(x);
}

float load_scale(int32_t dtype, const void *p, int64_t i) {
  switch (dtype) {
    case GPTAQ_DTYPE_F16: return f16_to_f32(static_cast<const uint16_t *>(p)[i]);
    case GPTAQ_DTYPE_BF16: return bf16_to_f32(static_cast<const uint16_t *>(p)[i]);
    default: return static_cast<const float *>(p)[i];
  }
}

}  // namespace

Shapes shapes(int64_t rows, int64_t columns, int32_t group_size, int32_t bits) {
  if (!supported_bits(bits))
    fail(GPTAQ_ERR_INVALID_ARGUMENT, "GPTQ checkpoints hold 2, 3, 4 or 8 bits, not %d", bits);
  if (group_size != -1 && group_size < 1)
    fail(GPTAQ_ERR_INVALID_ARGUMENT, "group_size %d is not -1 or >= 1", group_size);
  if (rows <= 0 || columns <= 0)
    fail(GPTAQ_ERR_SHAPE, "rows = %lld and columns = %lld must be > 0", static_cast<long long>(rows),
         static_cast<long long>(columns));
  const int64_t lim = std::numeric_limits<int64_t>::max() / 64;
  if (rows > lim || columns > lim || rows > lim / columns)
    fail(GPTAQ_ERR_SHAPE, "%lld x %lld overflows", static_cast<long long>(rows),
         static_cast<long long>(columns));
  if ((columns * bits) % 32 != 0)
    fail(GPTAQ_ERR_SHAPE,
         "columns (in_features) = %lld: GPTQ packs %d-bit codes along the input into int32 "
         "words, so columns * %d must be a multiple of 32 (columns a multiple of %d)",
         static_cast<long long>(columns), bits, bits, bits == 3 ? 32 : 32 / bits);
  if ((rows * bits) % 32 != 0)
    fail(GPTAQ_ERR_SHAPE,
         "rows (out_features) = %lld: GPTQ packs %d-bit zeros along the output into int32 "
         "words, so rows * %d must be a multiple of 32 (rows a multiple of %d)",
         static_cast<long long>(rows), bits, bits, bits == 3 ? 32 : 32 / bits);
  Shapes s;
  s.qweight_rows = columns * bits / 32;
  s.qzeros_cols = rows * bits / 32;
  s.n_groups = group_size == -1 ? 1 : (columns + group_size - 1) / group_size;
  return s;
}

void pack(const PackArgs &a) {
  check_format(a.format);
  const Shapes s = shapes(a.rows, a.columns, a.group_size, a.bits);
  if (!a.codes || !a.scales || !a.zeros)
    fail(GPTAQ_ERR_INVALID_ARGUMENT, "codes, scales and zeros are required");
  if (a.scales_out) check_scales_dtype(a.scales_dtype);
  const int64_t N = a.rows, K = a.columns, G = s.n_groups;
  const int b = a.bits;
  const uint32_t maxq = (1u << b) - 1u;

  // Validate everything before writing anything.
  for (int64_t i = 0; i < N * K; ++i)
    if (a.codes[i] > maxq)
      fail(GPTAQ_ERR_INVALID_ARGUMENT, "codes[%lld][%lld] = %u exceeds %u (%d bits)",
           static_cast<long long>(i / K), static_cast<long long>(i % K), a.codes[i], maxq, b);
  int64_t clamped = 0;
  for (int64_t i = 0; i < N * G; ++i) {
    const float z = a.zeros[i];
    if (!(z >= 0.0f && z <= static_cast<float>(maxq)) || z != std::nearbyint(z))
      fail(GPTAQ_ERR_INVALID_ARGUMENT, "zeros[%lld][%lld] = %g is not an integer in [0, %u]",
           static_cast<long long>(i / G), static_cast<long long>(i % G), static_cast<double>(z), maxq);
    if (!std::isfinite(a.scales[i]))
      fail(GPTAQ_ERR_INVALID_ARGUMENT, "scales[%lld][%lld] is not finite",
           static_cast<long long>(i / G), static_cast<long long>(i % G));
    if (a.format == GPTAQ_GPTQ_V1 && z == 0.0f) ++clamped;
  }
  if (a.g_idx)
    for (int64_t k = 0; k < K; ++k)
      if (a.g_idx[k] < 0 || a.g_idx[k] >= G)
        fail(GPTAQ_ERR_INVALID_ARGUMENT, "g_idx[%lld] = %d is outside [0, %lld)",
             static_cast<long long>(k), a.g_idx[k], static_cast<long long>(G));
  if (clamped && !a.zeros_clamped)
    fail(GPTAQ_ERR_UNSUPPORTED,
         "%lld (row, group) zeros are 0, which the v1 \"gptq\" format cannot store (it stores "
         "zero - 1); use GPTAQ_GPTQ_V2 or a symmetric grid, or pass zeros_clamped to accept "
         "storing them as 1", static_cast<long long>(clamped));
  std::vector<uint16_t> half;
  if (a.scales_out && a.scales_dtype != GPTAQ_DTYPE_F32) {
    half.resize(static_cast<size_t>(N * G));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t g = 0; g < G; ++g) {
        const float sc = a.scales[n * G + g];
        const uint16_t h = a.scales_dtype == GPTAQ_DTYPE_F16 ? f32_to_f16(sc) : f32_to_bf16(sc);
        const float back = a.scales_dtype == GPTAQ_DTYPE_F16 ? f16_to_f32(h) : bf16_to_f32(h);
        if (!std::isfinite(back))
          fail(GPTAQ_ERR_UNSUPPORTED, "scales[%lld][%lld] = %g overflows %s",
               static_cast<long long>(n), static_cast<long long>(g), static_cast<double>(sc),
               a.scales_dtype == GPTAQ_DTYPE_F16 ? "fp16" : "bf16");
        half[static_cast<size_t>(g * N + n)] = h;
      }
  }

  if (a.qweight) {
    // Column n of qweight is row n of codes as one bit stream: read the codes in order,
    // emit a word whenever 32 bits are full.
    uint32_t *qw = reinterpret_cast<uint32_t *>(a.qweight);
    for (int64_t n = 0; n < N; ++n) {
      const uint8_t *c = a.codes + n * K;
      uint64_t acc = 0;
      int nbits = 0;
      int64_t w = 0;
      for (int64_t k = 0; k < K; ++k) {
        acc |= static_cast<uint64_t>(c[k]) << nbits;
        nbits += b;
        if (nbits >= 32) {
          qw[w++ * N + n] = static_cast<uint32_t>(acc);
          acc >>= 32;
          nbits -= 32;
        }
      }
    }
  }
  if (a.qzeros) {
    uint32_t *qz = reinterpret_cast<uint32_t *>(a.qzeros);
    std::fill(qz, qz + G * s.qzeros_cols, 0u);
    for (int64_t g = 0; g < G; ++g)
      for (int64_t n = 0; n < N; ++n) {
        uint32_t z = static_cast<uint32_t>(a.zeros[n * G + g]);
        if (a.format == GPTAQ_GPTQ_V1) z = z == 0 ? 0 : z - 1;
        put_bits(qz + g * s.qzeros_cols, 1, static_cast<uint64_t>(n) * static_cast<uint64_t>(b), z, b);
      }
  }
  if (a.scales_out) {
    if (a.scales_dtype == GPTAQ_DTYPE_F32) {
      float *o = static_cast<float *>(a.scales_out);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t g = 0; g < G; ++g) o[g * N + n] = a.scales[n * G + g];
    } else {
      std::memcpy(a.scales_out, half.data(), half.size() * sizeof(uint16_t));
    }
  }
  if (a.g_idx_out)
    for (int64_t k = 0; k < K; ++k)
      a.g_idx_out[k] = a.g_idx ? a.g_idx[k]
                               : (a.group_size == -1 ? 0 : static_cast<int32_t>(k / a.group_size));
  if (a.zeros_clamped) *a.zeros_clamped = clamped;
}

void unpack(const UnpackArgs &a) {
  check_format(a.format);
  if (a.n_groups < 1)
    fail(GPTAQ_ERR_INVALID_ARGUMENT, "n_groups = %lld must be >= 1", static_cast<long long>(a.n_groups));
  const Shapes s = shapes(a.rows, a.columns, -1, a.bits);
  const int64_t N = a.rows, K = a.columns, G = a.n_groups;
  if (G > K)
    fail(GPTAQ_ERR_SHAPE, "n_groups = %lld exceeds columns = %lld", static_cast<long long>(G),
         static_cast<long long>(K));
  const int b = a.bits;
  const bool need_zeros = a.zeros || a.dequant;
  const bool need_scales = a.scales_out || a.dequant;
  const bool need_codes = a.codes || a.dequant;
  if (need_codes && !a.qweight) fail(GPTAQ_ERR_INVALID_ARGUMENT, "qweight is NULL");
  if (need_zeros && !a.qzeros) fail(GPTAQ_ERR_INVALID_ARGUMENT, "qzeros is NULL");
  if (need_scales) {
    if (!a.scales) fail(GPTAQ_ERR_INVALID_ARGUMENT, "scales is NULL");
    check_scales_dtype(a.scales_dtype);
  }
  if (a.dequant && G > 1 && !a.g_idx)
    fail(GPTAQ_ERR_INVALID_ARGUMENT, "g_idx is required to dequantize with %lld groups",
         static_cast<long long>(G));
  if (a.g_idx)
    for (int64_t k = 0; k < K; ++k)
      if (a.g_idx[k] < 0 || a.g_idx[k] >= G)
        fail(GPTAQ_ERR_FORMAT, "g_idx[%lld] = %d is outside [0, %lld)", static_cast<long long>(k),
             a.g_idx[k], static_cast<long long>(G));

  std::vector<float> zf, sf;
  if (need_zeros) {
    zf.resize(static_cast<size_t>(N * G));
    const uint32_t *qz = reinterpret_cast<const uint32_t *>(a.qzeros);
    for (int64_t g = 0; g < G; ++g)
      for (int64_t n = 0; n < N; ++n) {
        uint32_t z = get_bits(qz + g * s.qzeros_cols, 1,
                              static_cast<uint64_t>(n) * static_cast<uint64_t>(b), b);
        if (a.format == GPTAQ_GPTQ_V1) z += 1;
        zf[static_cast<size_t>(n * G + g)] = static_cast<float>(z);
      }
    if (a.zeros) std::copy(zf.begin(), zf.end(), a.zeros);
  }
  if (need_scales) {
    sf.resize(static_cast<size_t>(N * G));
    for (int64_t g = 0; g < G; ++g)
      for (int64_t n = 0; n < N; ++n)
        sf[static_cast<size_t>(n * G + g)] = load_scale(a.scales_dtype, a.scales, g * N + n);
    if (a.scales_out) std::copy(sf.begin(), sf.end(), a.scales_out);
  }
  if (need_codes) {
    const uint32_t *qw = reinterpret_cast<const uint32_t *>(a.qweight);
    std::vector<uint8_t> tmp;
    uint8_t *codes = a.codes;
    if (!codes) {
      tmp.resize(static_cast<size_t>(N * K));
      codes = tmp.data();
    }
    const uint64_t mask = (uint64_t{1} << b) - 1u;
    for (int64_t n = 0; n < N; ++n) {
      uint8_t *c = codes + n * K;
      uint64_t acc = 0;
      int nbits = 0;
      int64_t w = 0;
      for (int64_t k = 0; k < K; ++k) {
        if (nbits < b) {
          acc |= static_cast<uint64_t>(qw[w++ * N + n]) << nbits;
          nbits += 32;
        }
        c[k] = static_cast<uint8_t>(acc & mask);
        acc >>= b;
        nbits -= b;
      }
    }
    if (a.dequant)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k) {
          const int64_t g = a.g_idx ? a.g_idx[k] : 0;
          const float sc = sf[static_cast<size_t>(n * G + g)];
          const float z = zf[static_cast<size_t>(n * G + g)];
          a.dequant[n * K + k] = sc * (static_cast<float>(codes[n * K + k]) - z);
        }
  }
}

std::string quantize_config(const gptaq_config &cfg, int32_t format) {
  check_format(format);
  if (cfg.quantizer != GPTAQ_QUANTIZER_UNIFORM)
    fail(GPTAQ_ERR_INVALID_ARGUMENT,
         "the GPTQ checkpoint format holds the uniform quantizer only, not GPTQT binary coding");
  if (!supported_bits(cfg.bits))
    fail(GPTAQ_ERR_INVALID_ARGUMENT, "GPTQ checkpoints hold 2, 3, 4 or 8 bits, not %d", cfg.bits);
  using ojson = nlohmann::ordered_json;
  const char *method = cfg.method == GPTAQ_METHOD_RTN    ? "rtn"
                       : cfg.method == GPTAQ_METHOD_GPTAQ ? "gptaq"
                                                          : "gptq";
  // meta follows GPTQModel's conventions (what its loader reads back): the producer,
  // damping, static groups, group-aware reordering, the failsafe ({strategy, threshold}
  // or null), GPTAQ as {alpha} or null, and mse as a number (the clip search's norm, 0 =
  // off). "method" and "block_size" are this library's own.
  ojson meta = ojson::object();
  meta["quantizer"] = ojson::array({std::string("libgptaq:") + gptaq_version_string()});
  meta["method"] = method;
  meta["damp_percent"] = shortest(cfg.damp_percent);
  meta["static_groups"] = cfg.static_groups != 0;
  meta["true_sequential"] = true;
  meta["act_group_aware"] = cfg.act_group_aware != 0;
  if (cfg.failsafe_tokens > 0)
    meta["failsafe"] = {{"strategy", "rtn"}, {"threshold", cfg.failsafe_tokens}, {"smooth", nullptr}};
  else
    meta["failsafe"] = nullptr;
  if (cfg.method == GPTAQ_METHOD_GPTAQ)
    meta["gptaq"] = {{"alpha", shortest(cfg.alpha)}};
  else
    meta["gptaq"] = nullptr;
  meta["mse"] = cfg.mse ? shortest(cfg.mse_norm) : 0.0;
  meta["block_size"] = cfg.block_size;
  ojson j = ojson::object();
  j["bits"] = cfg.bits;
  j["group_size"] = cfg.group_size;
  j["desc_act"] = cfg.act_order != 0;
  j["sym"] = cfg.sym != 0;
  j["static_groups"] = cfg.static_groups != 0;
  j["damp_percent"] = shortest(cfg.damp_percent);
  j["true_sequential"] = true;
  j["lm_head"] = false;
  j["quant_method"] = "gptq";
  j["checkpoint_format"] = format == GPTAQ_GPTQ_V1 ? "gptq" : "gptq_v2";
  j["pack_dtype"] = "int32";
  j["meta"] = meta;
  return j.dump(2) + "\n";
}

int32_t parse_quantize_config(const std::string &text, const char *what, gptaq_config &cfg) {
  using json = nlohmann::json;
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object())
    fail(GPTAQ_ERR_FORMAT, "%s: not a JSON object", what);
  const json *q = &doc;
  auto qc = doc.find("quantization_config");
  if (qc != doc.end()) {
    if (!qc->is_object()) fail(GPTAQ_ERR_FORMAT, "%s: quantization_config is not an object", what);
    q = &*qc;
  }
  auto str = [&](const json &o, const char *key, const char *def) -> std::string {
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return def;
    if (!it->is_string()) fail(GPTAQ_ERR_FORMAT, "%s: \"%s\" is not a string", what, key);
    return it->get<std::string>();
  };
  auto num = [&](const json &o, const char *key, double def) -> double {
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return def;
    if (!it->is_number()) fail(GPTAQ_ERR_FORMAT, "%s: \"%s\" is not a number", what, key);
    return it->get<double>();
  };
  auto flag = [&](const json &o, const char *key, bool def) -> bool {
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return def;
    if (!it->is_boolean()) fail(GPTAQ_ERR_FORMAT, "%s: \"%s\" is not a boolean", what, key);
    return it->get<bool>();
  };
  const std::string method = str(*q, "quant_method", "gptq");
  if (method != "gptq")
    fail(GPTAQ_ERR_FORMAT, "%s: quant_method is \"%s\", not \"gptq\"", what, method.c_str());
  const std::string fmt = str(*q, "checkpoint_format", "gptq");
  int32_t format;
  if (fmt == "gptq") format = GPTAQ_GPTQ_V1;
  else if (fmt == "gptq_v2") format = GPTAQ_GPTQ_V2;
  else fail(GPTAQ_ERR_FORMAT, "%s: checkpoint_format \"%s\" is not \"gptq\" or \"gptq_v2\"", what,
            fmt.c_str());
  if (q->find("bits") == q->end()) fail(GPTAQ_ERR_FORMAT, "%s: has no \"bits\"", what);
  const double bits = num(*q, "bits", 4), gs = num(*q, "group_size", 128);
  // Range first: converting a double outside int's range is undefined behaviour.
  if (!(bits >= 2 && bits <= 8) || bits != std::floor(bits) ||
      !supported_bits(static_cast<int32_t>(bits)))
    fail(GPTAQ_ERR_FORMAT, "%s: bits %g is not 2, 3, 4 or 8", what, bits);
  if (gs != std::floor(gs) || !(gs == -1 || (gs >= 1 && gs <= 2147483647.0)))
    fail(GPTAQ_ERR_FORMAT, "%s: group_size %g is not -1 or a positive integer", what, gs);
  cfg.quantizer = GPTAQ_QUANTIZER_UNIFORM;
  cfg.bits = static_cast<int32_t>(bits);
  cfg.group_size = static_cast<int32_t>(gs);
  cfg.sym = flag(*q, "sym", cfg.sym != 0) ? 1 : 0;
  cfg.act_order = flag(*q, "desc_act", cfg.act_order != 0) ? 1 : 0;
  cfg.static_groups = flag(*q, "static_groups", cfg.static_groups != 0) ? 1 : 0;
  const json *meta = q;
  auto m = q->find("meta");
  if (m != q->end() && m->is_object()) meta = &*m;
  const double damp = num(*q, "damp_percent", num(*meta, "damp_percent", cfg.damp_percent));
  if (!(damp > 0.0) || !std::isfinite(damp))
    fail(GPTAQ_ERR_FORMAT, "%s: damp_percent %g is not a positive number", what, damp);
  cfg.damp_percent = static_cast<float>(damp);
  // GPTQModel's meta (also accepted at the top level): act_group_aware, failsafe, gptaq
  // and mse; then this library's own "method".
  auto find = [&](const char *key) -> const json * {
    auto it = meta->find(key);
    if (meta != q && it != meta->end()) return &*it;
    it = q->find(key);
    return it == q->end() ? nullptr : &*it;
  };
  const json *gar = find("act_group_aware");
  if (gar && !gar->is_null()) {
    if (!gar->is_boolean())
      fail(GPTAQ_ERR_FORMAT, "%s: \"act_group_aware\" is not a boolean", what);
    cfg.act_group_aware = gar->get<bool>() ? 1 : 0;
  } else if (cfg.act_order) {
    cfg.act_group_aware = 0;  // an act-order file without the key: not GAR
  }
  if (cfg.act_group_aware && cfg.act_order)
    fail(GPTAQ_ERR_FORMAT, "%s: desc_act and act_group_aware are both true (they exclude each other)",
         what);
  if (cfg.act_group_aware && cfg.group_size < 1)
    fail(GPTAQ_ERR_FORMAT, "%s: act_group_aware with group_size %d (GAR needs groups)", what,
         cfg.group_size);
  if (const json *fs = find("failsafe")) {
    if (fs->is_null()) {
      cfg.failsafe_tokens = 0;
    } else if (!fs->is_object()) {
      fail(GPTAQ_ERR_FORMAT, "%s: \"failsafe\" is not an object or null", what);
    } else {
      str(*fs, "strategy", "rtn");  // type check; every strategy falls back to RTN here
      auto th = fs->find("threshold");
      double tokens = -1.0;  // < 0: relative or absent, no absolute count to take
      if (th != fs->end() && th->is_number()) {
        tokens = th->get<double>();
      } else if (th != fs->end() && th->is_string()) {
        const std::string t = th->get<std::string>();
        if (t.empty() || t.back() != '%') {
          char *end = nullptr;
          tokens = std::strtod(t.c_str(), &end);
          if (end == t.c_str() || *end != '\0')
            fail(GPTAQ_ERR_FORMAT, "%s: failsafe threshold \"%s\" is not a number or a percentage",
                 what, t.c_str());
        }
      } else if (th != fs->end() && !th->is_null()) {
        fail(GPTAQ_ERR_FORMAT, "%s: failsafe threshold is not a number or a string", what);
      }
      // "fewer than t tokens" for a whole token count is "fewer than ceil(t)".
      if (tokens >= 0.0) {
        if (!(tokens <= 2147483647.0))
          fail(GPTAQ_ERR_FORMAT, "%s: failsafe threshold %g is not a token count", what, tokens);
        cfg.failsafe_tokens = static_cast<int32_t>(std::ceil(tokens));
      } else if (th != fs->end() && th->is_number()) {
        fail(GPTAQ_ERR_FORMAT, "%s: failsafe threshold %g is negative", what, tokens);
      }
    }
  }
  if (const json *gq = find("gptaq")) {
    if (gq->is_object()) {
      cfg.method = GPTAQ_METHOD_GPTAQ;
      cfg.alpha = static_cast<float>(num(*gq, "alpha", cfg.alpha));
    } else if (gq->is_boolean() && gq->get<bool>()) {  // older GPTQModel: gptaq + gptaq_alpha
      cfg.method = GPTAQ_METHOD_GPTAQ;
      cfg.alpha = static_cast<float>(num(*meta, "gptaq_alpha", cfg.alpha));
    } else if (gq->is_null() || gq->is_boolean()) {
      if (cfg.method == GPTAQ_METHOD_GPTAQ) cfg.method = GPTAQ_METHOD_GPTQ;
    } else {
      fail(GPTAQ_ERR_FORMAT, "%s: \"gptaq\" is not an object, a boolean or null", what);
    }
    if (!std::isfinite(cfg.alpha))
      fail(GPTAQ_ERR_FORMAT, "%s: the GPTAQ alpha is not a finite number", what);
  }
  if (const json *ms = find("mse")) {
    if (ms->is_boolean()) {
      cfg.mse = ms->get<bool>() ? 1 : 0;
    } else if (ms->is_number()) {
      const double v = ms->get<double>();
      if (!(v >= 0.0 && v <= 1e6))
        fail(GPTAQ_ERR_FORMAT, "%s: mse %g is not 0 (off) or a positive norm", what, v);
      cfg.mse = v > 0.0 ? 1 : 0;
      if (v > 0.0) cfg.mse_norm = static_cast<float>(v);
    } else if (!ms->is_null()) {
      fail(GPTAQ_ERR_FORMAT, "%s: \"mse\" is not a number", what);
    }
  }
  // Written by this library: the method (RTN, GPTQ or GPTAQ) comes back exactly; files
  // of its earlier versions kept GPTAQ's alpha in meta.alpha.
  if (m != q->end() && m->is_object()) {
    const std::string meth = str(*meta, "method", "");
    if (meth == "gptaq") {
      cfg.method = GPTAQ_METHOD_GPTAQ;
      if (!find("gptaq")) cfg.alpha = static_cast<float>(num(*meta, "alpha", cfg.alpha));
    } else if (meth == "gptq") {
      cfg.method = GPTAQ_METHOD_GPTQ;
    } else if (meth == "rtn") {
      cfg.method = GPTAQ_METHOD_RTN;
    }
  }
  return format;
}

}  // namespace gptq
}  // namespace gptaq
