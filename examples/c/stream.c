/* The streaming use case in C: three layers that read the same input (q, k, v
 * projections) are quantized with GPTAQ against one context. Calibration batches are
 * streamed in fp16 as a framework would hand them over; the factorization is computed once
 * and reused for the three solves.
 *
 *   cc stream.c $(pkg-config --cflags --libs gptaq) -lm -o stream && ./stream
 */
#include <gptaq/gptaq.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { HIDDEN = 256, TOKENS_PER_BATCH = 128, BATCHES = 8 };

static unsigned long long rng_state = 42;
static float randn(void) { /* Box-Muller over a 64-bit LCG, good enough for an example */
  double u[2];
  for (int i = 0; i < 2; ++i) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    u[i] = ((rng_state >> 11) + 0.5) / 9007199254740992.0;
  }
  return (float)(sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]));
}

static int fail(const char *what, int32_t st, const gptaq_ctx *ctx) {
  fprintf(stderr, "%s failed: %s (%s)\n", what, ctx ? gptaq_ctx_errmsg(ctx) : gptaq_last_errmsg(),
          gptaq_status_string(st));
  return 1;
}

int main(void) {
  if (gptaq_version_number() != GPTAQ_VERSION_NUMBER) {
    fprintf(stderr, "header %d does not match library %d\n", GPTAQ_VERSION_NUMBER,
            gptaq_version_number());
    return 1;
  }
  gptaq_config cfg;
  gptaq_config_init(&cfg, sizeof cfg);
  cfg.method = GPTAQ_METHOD_GPTAQ;
  cfg.bits = 4;
  cfg.group_size = 64;
  cfg.sym = 0;
  cfg.act_order = 1;

  gptaq_ctx *ctx = NULL;
  int32_t st = gptaq_ctx_create(&ctx, HIDDEN, &cfg);
  if (st != GPTAQ_OK) return fail("gptaq_ctx_create", st, NULL);

  /* Stream calibration batches: x_q is what the layer sees with earlier layers quantized,
   * x_fp the full-precision model's input at the same tokens. */
  static float xq[TOKENS_PER_BATCH * HIDDEN], xfp[TOKENS_PER_BATCH * HIDDEN];
  static uint16_t hq[TOKENS_PER_BATCH * HIDDEN], hfp[TOKENS_PER_BATCH * HIDDEN];
  for (int b = 0; b < BATCHES; ++b) {
    for (int i = 0; i < TOKENS_PER_BATCH * HIDDEN; ++i) {
      xfp[i] = randn() * ((i % HIDDEN) == 7 ? 20.0f : 1.0f); /* an outlier channel */
      xq[i] = xfp[i] + 0.05f * randn();
    }
    gptaq_f32_to_half(GPTAQ_DTYPE_F16, xq, hq, TOKENS_PER_BATCH * HIDDEN);
    gptaq_f32_to_half(GPTAQ_DTYPE_F16, xfp, hfp, TOKENS_PER_BATCH * HIDDEN);
    st = gptaq_add_batch(ctx, hq, hfp, TOKENS_PER_BATCH, GPTAQ_DTYPE_F16);
    if (st != GPTAQ_OK) return fail("gptaq_add_batch", st, ctx);
  }

  const int64_t rows = HIDDEN, groups = gptaq_num_groups(HIDDEN, cfg.group_size);
  float *w = malloc(sizeof(float) * rows * HIDDEN);
  uint8_t *codes = malloc((size_t)(rows * HIDDEN));
  float *scales = malloc(sizeof(float) * rows * groups), *zeros = malloc(sizeof(float) * rows * groups);
  int32_t *g_idx = malloc(sizeof(int32_t) * HIDDEN);
  const char *names[3] = {"q_proj", "k_proj", "v_proj"};
  for (int layer = 0; layer < 3; ++layer) {
    for (int64_t i = 0; i < rows * HIDDEN; ++i) w[i] = 0.05f * randn();
    gptaq_solve_info info = {0};
    info.struct_size = sizeof info;
    st = gptaq_solve(ctx, w, rows, HIDDEN, codes, scales, zeros, g_idx, NULL, &info);
    if (st != GPTAQ_OK) return fail("gptaq_solve", st, ctx);
    printf("%s: %lld x %d -> 4-bit codes, %lld groups/row, loss %.4g, factorization %s\n",
           names[layer], (long long)rows, HIDDEN, (long long)groups, info.loss,
           info.factor_reused ? "reused" : "computed");
  }
  free(w); free(codes); free(scales); free(zeros); free(g_idx);
  gptaq_ctx_free(ctx);
  return 0;
}
