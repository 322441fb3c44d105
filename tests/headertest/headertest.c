/* Header test: include/gptaq/gptaq.h must be self-contained (it is the first include),
 * idempotent (included twice) and clean as C89, C99, C11 and C++11/17 with
 * -Wall -Wextra -pedantic -Werror. The program calls a few functions so that the test is
 * a real compile + link + run against libgptaq, not only a syntax check.
 * Written in the common subset of C89 and C++ (no // comments, no casts, declarations
 * first), and compiled as C++ by headertest.cpp. */
#include "gptaq/gptaq.h"
#include "gptaq/gptaq.h"

#include <stdio.h>
#include <string.h>

#ifndef GPTAQ_HEADERTEST_STD
#define GPTAQ_HEADERTEST_STD "unknown"
#endif

/* C++11 and later: nullptr, so -Wzero-as-null-pointer-constant stays on for the header. */
#ifdef __cplusplus
#define HT_NULL nullptr
#else
#define HT_NULL NULL
#endif

#define HT_COLS 8
#define HT_ROWS 4
#define HT_TOKENS 16

static int fail_with(const char *what, int32_t status, const char *msg) {
  fprintf(stderr, "headertest %s: %s failed: %s (%s)\n", GPTAQ_HEADERTEST_STD, what,
          gptaq_status_string(status), msg);
  return 1;
}

int main(void) {
  gptaq_config cfg;
  gptaq_ctx *ctx = HT_NULL;
  float x[HT_TOKENS * HT_COLS];
  float w[HT_ROWS * HT_COLS];
  uint8_t codes[HT_ROWS * HT_COLS];
  float scales[HT_ROWS];
  float zeros[HT_ROWS];
  gptaq_solve_info info;
  int32_t st;
  int i;
  const gptaq_status ok = GPTAQ_OK;
  const gptaq_method method = GPTAQ_METHOD_GPTQ;

  if (gptaq_version_number() != GPTAQ_VERSION_NUMBER) {
    fprintf(stderr, "headertest: header %d but library %d\n", GPTAQ_VERSION_NUMBER,
            gptaq_version_number());
    return 1;
  }
  if (strlen(gptaq_version_string()) == 0 || strlen(gptaq_build_info()) == 0) return 1;
  if (gptaq_num_groups(HT_COLS, -1) != 1) return 1;
  if (gptaq_backend_available(GPTAQ_BACKEND_CPU) != 1) return 1;

  st = gptaq_config_init(&cfg, sizeof cfg);
  if (st != ok) return fail_with("gptaq_config_init", st, gptaq_last_errmsg());
  cfg.method = method;
  cfg.bits = 4;
  cfg.group_size = -1;
  cfg.backend = GPTAQ_BACKEND_CPU;
  st = gptaq_ctx_create(&ctx, HT_COLS, &cfg);
  if (st != ok) return fail_with("gptaq_ctx_create", st, gptaq_last_errmsg());

  for (i = 0; i < HT_TOKENS * HT_COLS; ++i) x[i] = ((i * 37) % 17) / 8.0f - 1.0f;
  for (i = 0; i < HT_ROWS * HT_COLS; ++i) w[i] = ((i * 13) % 11) / 5.0f - 1.0f;
  st = gptaq_add_batch(ctx, x, HT_NULL, HT_TOKENS, GPTAQ_DTYPE_F32);
  if (st != ok) return fail_with("gptaq_add_batch", st, gptaq_ctx_errmsg(ctx));

  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  st = gptaq_solve(ctx, w, HT_ROWS, HT_COLS, codes, scales, zeros, HT_NULL, HT_NULL, &info);
  if (st != ok) return fail_with("gptaq_solve", st, gptaq_ctx_errmsg(ctx));
  for (i = 0; i < HT_ROWS * HT_COLS; ++i)
    if (codes[i] > 15) return fail_with("codes range", GPTAQ_ERR_INTERNAL, "code above 15");
  if (info.n_groups != 1) return fail_with("info", GPTAQ_ERR_INTERNAL, "n_groups != 1");

  gptaq_ctx_free(ctx);
  gptaq_ctx_free(HT_NULL);
  printf("headertest %s: OK (%s)\n", GPTAQ_HEADERTEST_STD, gptaq_version_string());
  return 0;
}
