// libFuzzer harness: the statistics file / byte format (gptaq_stats_deserialize,
// gptaq_stats_load, gptaq_stats_file_info) on arbitrary bytes. Promises checked: no
// crash, leak or UB; a refused input leaves the context's statistics unchanged; an
// accepted one serializes back to exactly the input (the format is canonical).
#include <vector>

#include "fuzz_util.h"
#include "gptaq/gptaq.h"

namespace {

std::vector<uint8_t> snapshot(gptaq_ctx *ctx) {
  int64_t n = 0;
  FUZZ_ASSERT(gptaq_stats_serialized_size(ctx, &n) == GPTAQ_OK);
  std::vector<uint8_t> b(static_cast<size_t>(n));
  int64_t w = 0;
  FUZZ_ASSERT(gptaq_stats_serialize(ctx, b.data(), n, &w) == GPTAQ_OK && w == n);
  return b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // A context shaped like the header claims (bounded), so that inputs get past the
  // shape check and exercise the payload validation; otherwise a small default.
  int64_t cols = 4;
  int32_t method = GPTAQ_METHOD_GPTQ;
  if (size >= 32) {
    uint64_t c = 0;
    for (int i = 0; i < 8; ++i) c |= uint64_t(data[16 + i]) << (8 * i);
    if (c >= 1 && c <= 64) cols = int64_t(c);
    if (data[28] == 1) method = GPTAQ_METHOD_GPTAQ;
    if (data[24] == GPTAQ_METHOD_RTN && data[28] == 0) method = GPTAQ_METHOD_RTN;
  }
  gptaq_config cfg;
  gptaq_config_init(&cfg, sizeof cfg);
  cfg.method = method;
  cfg.backend = GPTAQ_BACKEND_CPU;
  cfg.num_threads = 1;
  gptaq_ctx *ctx = nullptr;
  FUZZ_ASSERT(gptaq_ctx_create(&ctx, cols, &cfg) == GPTAQ_OK);
  // Some statistics to start from, so that "unchanged" means something.
  std::vector<float> x(static_cast<size_t>(3 * cols));
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 7) - 3) / 4.0f;
  FUZZ_ASSERT(gptaq_add_batch(ctx, x.data(), method == GPTAQ_METHOD_GPTAQ ? x.data() : nullptr,
                              3, GPTAQ_DTYPE_F32) == GPTAQ_OK);
  const std::vector<uint8_t> before = snapshot(ctx);

  const int32_t mode = size > 0 ? (data[size - 1] & 1) : 0;
  const int32_t s = gptaq_stats_deserialize(ctx, data, int64_t(size), mode);
  if (s != GPTAQ_OK) {
    FUZZ_ASSERT(s < 0 && s > GPTAQ_ERR_INTERNAL);
    FUZZ_ASSERT(gptaq_ctx_errmsg(ctx)[0] != '\0');
    FUZZ_ASSERT(snapshot(ctx) == before);
  } else if (mode == GPTAQ_STATS_REPLACE) {
    FUZZ_ASSERT(snapshot(ctx) == std::vector<uint8_t>(data, data + size));
  }

  // The file path of the same bytes must agree with the in-memory one.
  fuzz::MemFile f(data, size);
  int64_t fc = 0;
  int32_t fm = 0, fx = 0;
  double ft = 0;
  const int32_t si = gptaq_stats_file_info(f.path(), &fc, &fm, &fx, &ft);
  if (s == GPTAQ_OK) FUZZ_ASSERT(si == GPTAQ_OK && fc == cols && ft >= 0.0);
  gptaq_ctx *ctx2 = nullptr;
  FUZZ_ASSERT(gptaq_ctx_create(&ctx2, cols, &cfg) == GPTAQ_OK);
  const int32_t sl = gptaq_stats_load(ctx2, f.path(), GPTAQ_STATS_REPLACE);
  if (s == GPTAQ_OK && mode == GPTAQ_STATS_REPLACE) FUZZ_ASSERT(sl == GPTAQ_OK);
  if (sl == GPTAQ_OK) FUZZ_ASSERT(snapshot(ctx2) == std::vector<uint8_t>(data, data + size));
  gptaq_ctx_free(ctx2);
  gptaq_ctx_free(ctx);
  return 0;
}
