// libFuzzer harness: the core C API under random (small) configurations, shapes and call
// sequences: batches in every dtype with NaN/Inf, masks, wrong arguments, solves (uniform
// and binary), config changes, resets, and the statistics exchange (merge, buffers +
// commit, serialize round trips). Promises checked: no crash, leak or UB; every status a
// documented one with a message; a successful solve has finite outputs and codes in
// range; a refused batch leaves the token count unchanged.
#include <cmath>
#include <cstdlib>
#include <vector>

#include "fuzz_util.h"
#include "gptaq/gptaq.h"

namespace {

gptaq_config random_config(fuzz::Bytes &in, int64_t cols) {
  gptaq_config c;
  gptaq_config_init(&c, sizeof c);
  c.method = int32_t(in.range(-1, 3));
  c.bits = int32_t(in.range(1, 9));
  const int64_t g = in.range(0, 5);
  c.group_size = g == 0 ? -1 : g == 1 ? int32_t(in.range(-3, cols + 3)) : int32_t(1 << in.range(0, 6));
  c.sym = in.flag();
  c.act_order = in.flag();
  c.static_groups = in.flag();
  c.mse = in.range(0, 3) == 0;
  c.block_size = in.flag() ? int32_t(in.range(0, cols + 2)) : 128;
  c.backend = in.range(0, 7) == 0 ? int32_t(in.range(0, 3)) : GPTAQ_BACKEND_CPU;
  c.num_threads = 1;
  static const float damps[] = {0.01f, 1e-9f, 1.0f, 0.0f, -1.0f, NAN, 0.5f, 1e-3f};
  c.damp_percent = damps[in.range(0, 7)];
  c.damp_retries = int32_t(in.range(-1, 9));
  static const float alphas[] = {0.25f, 0.0f, 1.0f, -2.0f, INFINITY, 1e6f};
  c.alpha = alphas[in.range(0, 5)];
  c.mse_grid = int32_t(in.range(0, 12));
  c.mse_norm = in.flag() ? 2.4f : float(in.range(-1, 4));
  c.mse_max_shrink = in.flag() ? 0.8f : float(in.range(-1, 2)) / 2.0f;
  c.quantizer = in.range(0, 2) == 0 ? int32_t(in.range(0, 2)) : GPTAQ_QUANTIZER_UNIFORM;
  c.hyper_bits = int32_t(in.range(0, 9));
  c.explore_bits = int32_t(in.range(-1, 3));
  c.explore_split = int32_t(in.range(0, 12));
  c.objective = int32_t(in.range(0, 3));
  return c;
}

// GPTAQ_FUZZ_TRACE=1 prints what each input does (to reproduce a finding by hand).
bool tracing() {
  static const bool on = std::getenv("GPTAQ_FUZZ_TRACE") != nullptr;
  return on;
}
#define TRACE(...) \
  do {             \
    if (tracing()) std::fprintf(stderr, __VA_ARGS__); \
  } while (0)

void trace_config(const char *what, const gptaq_config &c) {
  TRACE("%s: method %d bits %d group %d sym %d act %d static %d mse %d block %d backend %d "
        "damp %g retries %d alpha %g mse_norm %g grid %d shrink %g quantizer %d hyper %d "
        "explore %d split %d objective %d\n",
        what, c.method, c.bits, c.group_size, c.sym, c.act_order, c.static_groups, c.mse,
        c.block_size, c.backend, double(c.damp_percent), c.damp_retries, double(c.alpha),
        double(c.mse_norm), c.mse_grid, double(c.mse_max_shrink), c.quantizer, c.hyper_bits,
        c.explore_bits, c.explore_split, c.objective);
}

bool status_ok(int32_t s) { return s <= 0 && s > GPTAQ_ERR_INTERNAL; }

// Fill n values of dtype dt from the input, with occasional NaN/Inf/huge values.
std::vector<uint8_t> random_batch(fuzz::Bytes &in, int64_t count, int32_t dt) {
  const size_t es = dt == GPTAQ_DTYPE_F32 ? 4 : 2;
  std::vector<uint8_t> b(size_t(count) * es);
  std::vector<float> v(static_cast<size_t>(count));
  const int special = int(in.range(0, 7));
  for (int64_t i = 0; i < count; ++i) v[size_t(i)] = float(int(in.u8()) - 128) / 32.0f;
  if (count > 0) {
    const size_t at = size_t(in.range(0, count - 1));
    if (special == 1) v[at] = NAN;
    if (special == 2) v[at] = -INFINITY;
    if (special == 3) v[at] = 1e30f;
    if (special == 4) v[at] = 1e-40f;  // subnormal
  }
  if (count == 0) return b;
  if (dt == GPTAQ_DTYPE_F32)
    std::memcpy(b.data(), v.data(), b.size());
  else
    gptaq_f32_to_half(dt, v.data(), reinterpret_cast<uint16_t *>(b.data()), count);
  return b;
}

void check_solution(const std::vector<uint8_t> &codes, const std::vector<float> &dq,
                    const gptaq_solve_info &info, int32_t bits) {
  for (uint8_t c : codes) FUZZ_ASSERT(c < (1u << bits));
  for (float v : dq) FUZZ_ASSERT(std::isfinite(v));
  // The loss may overflow to +Inf when a hostile config (e.g. a large negative GPTAQ
  // alpha) makes the error-propagated weights explode; it must never be NaN.
  FUZZ_ASSERT(!std::isnan(info.loss) && info.loss >= 0.0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz::Bytes in(data, size);
  const int64_t cols = in.range(0, 40) == 0 ? in.range(-2, 0) : in.range(1, 40);
  gptaq_config cfg = random_config(in, cols);
  gptaq_ctx *ctx = nullptr;
  const int32_t cs = gptaq_ctx_create(&ctx, cols, &cfg);
  TRACE("create cols %lld -> %d %s\n", (long long)cols, cs, gptaq_last_errmsg());
  trace_config("  config", cfg);
  FUZZ_ASSERT(status_ok(cs));
  if (cs != GPTAQ_OK) {
    FUZZ_ASSERT(ctx == nullptr && gptaq_last_errmsg()[0] != '\0');
    return 0;
  }
  gptaq_config_init(&cfg, sizeof cfg);
  FUZZ_ASSERT(gptaq_ctx_get_config(ctx, &cfg) == GPTAQ_OK);
  bool cross = cfg.method == GPTAQ_METHOD_GPTAQ;
  gptaq_ctx *other = nullptr;

  for (int op = 0; op < 12 && in.left() > 0; ++op) {
    switch (in.range(0, 9)) {
      case 0:
      case 1:
      case 2: {  // a batch
        const int64_t tokens = in.range(0, 24);
        const int32_t dt = in.range(0, 9) == 0 ? int32_t(in.range(0, 5)) : int32_t(in.range(0, 2));
        const int32_t use_dt = dt <= 2 ? dt : GPTAQ_DTYPE_F32;
        std::vector<uint8_t> xq = random_batch(in, tokens * cols, use_dt);
        std::vector<uint8_t> xf = random_batch(in, tokens * cols, use_dt);
        const bool give_fp = in.range(0, 9) == 0 ? !cross : cross;
        std::vector<uint8_t> mask(static_cast<size_t>(tokens));
        for (auto &m : mask) m = in.u8() & 3;
        const bool use_mask = in.flag();
        const int64_t before = gptaq_ctx_num_tokens(ctx);
        const int32_t s = gptaq_add_batch_masked(ctx, tokens ? xq.data() : nullptr,
                                                 give_fp && tokens ? xf.data() : nullptr,
                                                 tokens, dt, use_mask ? mask.data() : nullptr);
        TRACE("batch tokens %lld dtype %d fp %d mask %d -> %d %s\n", (long long)tokens, dt,
              int(give_fp), int(use_mask), s, gptaq_ctx_errmsg(ctx));
        FUZZ_ASSERT(status_ok(s));
        if (s != GPTAQ_OK) {
          FUZZ_ASSERT(gptaq_ctx_errmsg(ctx)[0] != '\0');
          FUZZ_ASSERT(gptaq_ctx_num_tokens(ctx) == before);
        } else {
          int64_t kept = tokens;
          if (use_mask) {
            kept = 0;
            for (uint8_t m : mask) kept += m != 0;
          }
          FUZZ_ASSERT(gptaq_ctx_num_tokens(ctx) == before + kept);
        }
        break;
      }
      case 3:
      case 4: {  // a solve
        const int64_t rows = in.range(0, 12) == 0 ? in.range(-1, 0) : in.range(1, 12);
        const int64_t wc = in.range(0, 15) == 0 ? cols + 1 : cols;
        const int64_t r = rows > 0 ? rows : 1;
        std::vector<float> w(size_t(r * wc));
        for (auto &v : w) v = float(int(in.u8()) - 128) / 64.0f;
        if (!w.empty() && in.range(0, 15) == 0) w[0] = NAN;
        const int64_t G = std::max<int64_t>(1, gptaq_num_groups(cols, cfg.group_size));
        std::vector<uint8_t> codes(size_t(r * wc));
        std::vector<float> dq(size_t(r * wc)), p1(size_t(r * G * 8)), p2(size_t(r * G));
        std::vector<int32_t> gi(static_cast<size_t>(wc));
        gptaq_solve_info info;
        std::memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        const bool binary = in.flag();
        const int32_t s =
            binary ? gptaq_solve_binary(ctx, w.data(), rows, wc, codes.data(), p1.data(),
                                        p2.data(), gi.data(), dq.data(), &info)
                   : gptaq_solve(ctx, w.data(), rows, wc, codes.data(), p1.data(), p2.data(),
                                 gi.data(), dq.data(), &info);
        TRACE("solve%s rows %lld cols %lld -> %d %s (loss %g damp %g retries %d)\n",
              binary ? "_binary" : "", (long long)rows, (long long)wc, s,
              gptaq_ctx_errmsg(ctx), info.loss, double(info.damp_used), info.damp_retries);
        FUZZ_ASSERT(status_ok(s));
        if (s == GPTAQ_OK)
          check_solution(codes, dq, info, cfg.bits);
        else
          FUZZ_ASSERT(gptaq_ctx_errmsg(ctx)[0] != '\0');
        break;
      }
      case 5: {  // reconfigure
        gptaq_config c = random_config(in, cols);
        const int32_t s = gptaq_ctx_set_config(ctx, &c);
        TRACE("set_config -> %d %s\n", s, gptaq_ctx_errmsg(ctx));
        trace_config("  config", c);
        FUZZ_ASSERT(status_ok(s));
        gptaq_config_init(&cfg, sizeof cfg);
        FUZZ_ASSERT(gptaq_ctx_get_config(ctx, &cfg) == GPTAQ_OK);
        FUZZ_ASSERT((cfg.method == GPTAQ_METHOD_GPTAQ) == cross);
        break;
      }
      case 6:
        if (in.range(0, 3) == 0) {
          FUZZ_ASSERT(gptaq_ctx_reset(ctx) == GPTAQ_OK);
          FUZZ_ASSERT(gptaq_ctx_num_tokens(ctx) == 0);
        }
        break;
      case 7: {  // serialize round trip
        int64_t n = 0;
        FUZZ_ASSERT(gptaq_stats_serialized_size(ctx, &n) == GPTAQ_OK);
        std::vector<uint8_t> b(static_cast<size_t>(n));
        FUZZ_ASSERT(gptaq_stats_serialize(ctx, b.data(), n, nullptr) == GPTAQ_OK);
        if (!b.empty() && in.flag()) b[size_t(in.range(0, n - 1))] ^= uint8_t(1 + in.u8() % 255);
        const int32_t s = gptaq_stats_deserialize(ctx, b.data(), n, int32_t(in.range(0, 2)));
        TRACE("serialize/deserialize -> %d %s\n", s, gptaq_ctx_errmsg(ctx));
        FUZZ_ASSERT(status_ok(s));
        break;
      }
      case 8: {  // merge from a second context
        if (!other) {
          gptaq_config c2 = cfg;
          c2.method = in.flag() ? cfg.method : int32_t(in.range(0, 2));
          const int64_t c2cols = in.range(0, 7) == 0 ? cols + 1 : cols;
          if (gptaq_ctx_create(&other, c2cols, &c2) != GPTAQ_OK) other = nullptr;
        }
        if (other) {
          const int64_t oc = gptaq_ctx_columns(other);
          gptaq_config oc_cfg;
          gptaq_config_init(&oc_cfg, sizeof oc_cfg);
          gptaq_ctx_get_config(other, &oc_cfg);
          const int64_t t = in.range(1, 8);
          std::vector<uint8_t> xb = random_batch(in, t * oc, GPTAQ_DTYPE_F32);
          gptaq_add_batch(other, xb.data(),
                          oc_cfg.method == GPTAQ_METHOD_GPTAQ ? xb.data() : nullptr, t, 0);
          const int32_t s = in.flag() ? gptaq_stats_merge(ctx, other) : gptaq_stats_merge(other, ctx);
          TRACE("merge -> %d\n", s);
          FUZZ_ASSERT(status_ok(s));
        }
        break;
      }
      case 9: {  // in-place modification through the buffers
        gptaq_stats_buffers b;
        std::memset(&b, 0, sizeof b);
        b.struct_size = sizeof b;
        FUZZ_ASSERT(gptaq_stats_buffers_get(ctx, &b) == GPTAQ_OK);
        FUZZ_ASSERT(b.xx && b.xsum && b.tokens && (b.dx != nullptr) == cross);
        const int64_t i = in.range(0, cols * cols - 1);
        const int what = int(in.range(0, 4));
        if (what == 0) b.xx[i] *= 2.0f;
        if (what == 1) b.xx[i] = in.f32();
        if (what == 2) *b.tokens = double(in.range(-1, 100));
        if (what == 3 && b.dx) b.dx[i] = in.f32();
        const int32_t s = gptaq_stats_commit(ctx);
        TRACE("buffers what %d -> commit %d %s\n", what, s, gptaq_ctx_errmsg(ctx));
        FUZZ_ASSERT(status_ok(s));
        if (s != GPTAQ_OK) FUZZ_ASSERT(gptaq_ctx_reset(ctx) == GPTAQ_OK);
        break;
      }
    }
  }
  gptaq_ctx_free(other);
  gptaq_ctx_free(ctx);
  return 0;
}
