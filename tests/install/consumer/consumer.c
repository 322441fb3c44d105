/* A downstream program built against an installed libgptaq (see ../run_install_test.sh):
 * the streaming use, in plain C99 on the public header only. Two calibration batches
 * (the second in fp16) go into one context, then two weights that read the same input
 * are solved against it; every code must lie in [0, 2^bits - 1]. Prints "consumer: OK".
 *
 * With arguments `W.npy X.npy CODES.npy` (the shared consumer data of tests/install,
 * make_data.py) it also quantizes W against X with GPTQ, 4 bits, group 128, symmetric on
 * the CPU, reading the files with the library's npy reader, and requires its codes to
 * equal CODES.npy (the installed CLI's) exactly. */
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

/* A whole 2-D f32 or u8 .npy file into a new buffer; returns 0 on success. */
static int read_npy(const char *path, int32_t want_dtype, void **data, int64_t *rows,
                    int64_t *cols) {
  gptaq_npy_reader *r = NULL;
  int32_t dtype = -1;
  int64_t got = 0;
  size_t elem = want_dtype == GPTAQ_DTYPE_F32 ? 4 : 1;
  if (check(gptaq_npy_open(&r, path), path, NULL)) return 1;
  if (check(gptaq_npy_info(r, &dtype, rows, cols), "gptaq_npy_info", NULL)) return 1;
  if (dtype != want_dtype) {
    fprintf(stderr, "consumer: %s has dtype %d, expected %d\n", path, (int)dtype, (int)want_dtype);
    gptaq_npy_close(r);
    return 1;
  }
  *data = malloc(elem * (size_t)(*rows * *cols) + 1);
  if (!*data) return 1;
  if (check(gptaq_npy_read_rows(r, *data, *rows, &got), "gptaq_npy_read_rows", NULL) ||
      got != *rows) {
    fprintf(stderr, "consumer: read %lld of %lld rows of %s\n", (long long)got,
            (long long)*rows, path);
    gptaq_npy_close(r);
    return 1;
  }
  gptaq_npy_close(r);
  return 0;
}

/* Quantize the shared data and compare with the CLI's codes. */
static int against_cli(const char *w_path, const char *x_path, const char *codes_path) {
  float *w = NULL, *x = NULL, *scales = NULL, *zeros = NULL;
  uint8_t *want = NULL, *codes = NULL;
  int64_t rows, cols, tokens, xcols, crows, ccols, groups, i, differ = 0;
  gptaq_config cfg;
  gptaq_ctx *ctx = NULL;
  int rc = 1;
  if (read_npy(w_path, GPTAQ_DTYPE_F32, (void **)&w, &rows, &cols) ||
      read_npy(x_path, GPTAQ_DTYPE_F32, (void **)&x, &tokens, &xcols) ||
      read_npy(codes_path, GPTAQ_DTYPE_U8, (void **)&want, &crows, &ccols))
    goto done;
  if (xcols != cols || crows != rows || ccols != cols) {
    fprintf(stderr, "consumer: shapes W %lldx%lld, X %lldx%lld, codes %lldx%lld disagree\n",
            (long long)rows, (long long)cols, (long long)tokens, (long long)xcols,
            (long long)crows, (long long)ccols);
    goto done;
  }
  if (check(gptaq_config_init(&cfg, sizeof cfg), "gptaq_config_init", NULL)) goto done;
  cfg.method = GPTAQ_METHOD_GPTQ;
  cfg.bits = 4;
  cfg.group_size = 128;
  cfg.sym = 1;
  cfg.backend = GPTAQ_BACKEND_CPU;
  if (check(gptaq_ctx_create(&ctx, cols, &cfg), "gptaq_ctx_create", NULL)) goto done;
  if (check(gptaq_add_batch(ctx, x, NULL, tokens, GPTAQ_DTYPE_F32), "gptaq_add_batch", ctx))
    goto done;
  groups = gptaq_num_groups(cols, 128);
  codes = (uint8_t *)malloc((size_t)(rows * cols));
  scales = (float *)malloc(sizeof(float) * (size_t)(rows * groups));
  zeros = (float *)malloc(sizeof(float) * (size_t)(rows * groups));
  if (!codes || !scales || !zeros) goto done;
  if (check(gptaq_solve(ctx, w, rows, cols, codes, scales, zeros, NULL, NULL, NULL),
            "gptaq_solve", ctx))
    goto done;
  for (i = 0; i < rows * cols; ++i) differ += codes[i] != want[i];
  if (differ) {
    fprintf(stderr, "consumer: %lld of %lld codes differ from %s\n", (long long)differ,
            (long long)(rows * cols), codes_path);
    goto done;
  }
  printf("consumer: %lld codes equal the CLI's (%s)\n", (long long)(rows * cols), codes_path);
  rc = 0;
done:
  gptaq_ctx_free(ctx);
  free(w);
  free(x);
  free(want);
  free(codes);
  free(scales);
  free(zeros);
  return rc;
}

int main(int argc, char **argv) {
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
  if (argc == 4 && against_cli(argv[1], argv[2], argv[3])) return 1;
  if (argc != 1 && argc != 4) {
    fprintf(stderr, "usage: consumer [W.npy X.npy CODES.npy]\n");
    return 2;
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
