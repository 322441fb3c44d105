// libFuzzer harness: the quantize_config.json reader (gptaq_gptq_read_quantize_config)
// on arbitrary bytes. Promises checked: no crash, leak or UB; an accepted file yields a
// configuration the library accepts.
#include "fuzz_util.h"
#include "gptaq/gptaq.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz::MemFile f(data, size);
  gptaq_config cfg;
  gptaq_config_init(&cfg, sizeof cfg);
  int32_t format = -1;
  const int32_t s = gptaq_gptq_read_quantize_config(f.path(), &cfg, &format);
  if (s != GPTAQ_OK) {
    FUZZ_ASSERT(s < 0 && s > GPTAQ_ERR_INTERNAL);
    FUZZ_ASSERT(gptaq_last_errmsg()[0] != '\0');
    return 0;
  }
  cfg.backend = GPTAQ_BACKEND_CPU;
  gptaq_ctx *ctx = nullptr;
  const int32_t c = gptaq_ctx_create(&ctx, 8, &cfg);
  FUZZ_ASSERT(c == GPTAQ_OK);
  gptaq_ctx_free(ctx);
  return 0;
}
