/* A downstream program built against an installed libgptaq (see ../run_install_test.sh):
 * the streaming use, in plain C99 on the public header only. Two calibration batches
 * (the second in fp16) go into one context, then two weights that read the same input
 * are solved against it; every code must lie in [0, 2^bits - 1]. Prints "consumer: OK". */
#include <gptaq/gptaq.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COLS 64
#define ROWS 32
#define TOKENS 96
#define BITS 4
#define GROUP 32

static float lcg(unsigned *s) {
  *s = *s * 1664525u + 1013904223u;
  return (float)(*s >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

static int check(int32_t st, const char *what, const gptaq_ctx *ctx) {
  if (st == GPTAQ_OK) return 0;
  fprintf(stderr, "consumer: %s failed: %s: %s\n", what, gptaq_status_string(st),
          ctx ? gptaq_ctx_errmsg(ctx) : gptaq_last_errmsg());
  return 1;
}

int main(void) {
  static float x1[TOKENS * COLS], x2f[TOKENS * COLS], w[ROWS * COLS];
  static uint16_t x2[TOKENS * COLS];
  static uint8_t codes[ROWS * COLS];
  float *scales, *zeros;
  gptaq_config cfg;
  gptaq_ctx *ctx = NULL;
  gptaq_solve_info info;
  unsigned seed = 12345u;
  int64_t groups, i;
  int layer, bad = 0;

  if (gptaq_version_number() != GPTAQ_VERSION_NUMBER) {
    fprintf(stderr, "consumer: header %d, library %d\n", GPTAQ_VERSION_NUMBER,
            (int)gptaq_version_number());
    return 1;
  }
  if (check(gptaq_config_init(&cfg, sizeof cfg), "gptaq_config_init", NULL)) return 1;
  cfg.method = GPTAQ_METHOD_GPTQ;
  cfg.bits = BITS;
  cfg.group_size = GROUP;
  cfg.act_order = 1;
  cfg.backend = GPTAQ_BACKEND_CPU;
  if (check(gptaq_ctx_create(&ctx, COLS, &cfg), "gptaq_ctx_create", NULL)) return 1;

  for (i = 0; i < TOKENS * COLS; ++i) x1[i] = lcg(&seed) * (1.0f + (float)(i % COLS) / COLS);
  for (i = 0; i < TOKENS * COLS; ++i) x2f[i] = lcg(&seed);
  if (check(gptaq_f32_to_half(GPTAQ_DTYPE_F16, x2f, x2, TOKENS * COLS), "gptaq_f32_to_half", NULL))
    return 1;
  if (check(gptaq_add_batch(ctx, x1, NULL, TOKENS, GPTAQ_DTYPE_F32), "gptaq_add_batch", ctx))
    return 1;
  if (check(gptaq_add_batch(ctx, x2, NULL, TOKENS, GPTAQ_DTYPE_F16), "gptaq_add_batch f16", ctx))
    return 1;
  if (gptaq_ctx_num_tokens(ctx) != 2 * TOKENS) {
    fprintf(stderr, "consumer: %lld tokens counted, expected %d\n",
            (long long)gptaq_ctx_num_tokens(ctx), 2 * TOKENS);
    return 1;
  }

  groups = gptaq_num_groups(COLS, GROUP);
  scales = (float *)malloc(sizeof(float) * (size_t)(ROWS * groups));
  zeros = (float *)malloc(sizeof(float) * (size_t)(ROWS * groups));
  if (!scales || !zeros) return 1;
  for (layer = 0; layer < 2; ++layer) {
    for (i = 0; i < ROWS * COLS; ++i) w[i] = 0.1f * lcg(&seed);
    memset(codes, 0xff, sizeof codes);
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    if (check(gptaq_solve(ctx, w, ROWS, COLS, codes, scales, zeros, NULL, NULL, &info),
              "gptaq_solve", ctx))
      return 1;
    for (i = 0; i < ROWS * COLS; ++i)
      if (codes[i] > (1 << BITS) - 1) ++bad;
    for (i = 0; i < ROWS * groups; ++i)
      if (!(scales[i] > 0.0f) || zeros[i] < 0.0f || zeros[i] > (1 << BITS) - 1) ++bad;
    if (info.n_groups != groups || info.factor_reused != layer) ++bad;
  }
  free(scales);
  free(zeros);
  gptaq_ctx_free(ctx);
  if (bad) {
    fprintf(stderr, "consumer: %d values out of range\n", bad);
    return 1;
  }
  printf("consumer: OK (libgptaq %s)\n", gptaq_version_string());
  return 0;
}
