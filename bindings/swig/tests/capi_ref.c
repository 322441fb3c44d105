/*
 * gptaq_capi_ref - runs one quantization through the raw C API, for the binding tests
 * (pytest, JUnit) to compare against: same inputs, same batching, same configuration
 * must give bit-identical outputs through a binding.
 *
 *   gptaq_capi_ref OUTDIR WEIGHT.npy XQ.npy [--xfp XFP.npy] [--mask MASK.npy]
 *                  [--batch TOKENS] [--dtype f32|f16|bf16] [FIELD=VALUE ...]
 *
 * XQ/XFP are tokens x columns .npy files (<f4, or <f2 holding 16-bit patterns that
 * --dtype says how to read: f16 or bf16); they are fed to gptaq_add_batch_masked in
 * chunks of --batch tokens (default: all at once). MASK is a |u1 file of `tokens`
 * bytes. FIELD=VALUE sets any gptaq_config field by its C name. WEIGHT is rows x
 * columns <f4. Writes OUTDIR/codes.npy (|u1), g_idx.npy (<i4), dequant.npy (<f4),
 * scales.npy + zeros.npy (uniform) or alpha.npy (rows x n_groups*k) + bias.npy
 * (binary), and info.txt (one "key value" per line). On a library error prints
 * "status <code>" and the message to stderr and exits with 2; usage errors exit 1.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptaq/gptaq.h"

typedef struct {
  const char *name;
  size_t offset;
  int is_float;
} field;

#define F(n, fl) {#n, offsetof(gptaq_config, n), fl}
static const field kFields[] = {
    F(method, 0),       F(bits, 0),         F(group_size, 0),     F(sym, 0),
    F(act_order, 0),    F(static_groups, 0), F(mse, 0),           F(block_size, 0),
    F(backend, 0),      F(device, 0),       F(num_threads, 0),    F(damp_percent, 1),
    F(damp_retries, 0), F(alpha, 1),        F(mse_norm, 1),       F(mse_grid, 0),
    F(mse_max_shrink, 1), F(quantizer, 0),  F(hyper_bits, 0),     F(explore_bits, 0),
    F(explore_split, 0), F(objective, 0)};
#undef F

static int fail_status(int32_t st, const char *msg) {
  fprintf(stderr, "status %d\n%s\n", st, msg);
  return 2;
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "out of memory (%zu bytes)\n", n);
    exit(1);
  }
  return p;
}

/* Read a whole 2-D npy file; element size from its dtype. */
static int32_t read_all(const char *path, void **data, int32_t *dtype, int64_t *rows,
                        int64_t *cols) {
  gptaq_npy_reader *r = NULL;
  int64_t got = 0;
  size_t es;
  int32_t st = gptaq_npy_open(&r, path);
  if (st) return st;
  gptaq_npy_info(r, dtype, rows, cols);
  es = (*dtype == GPTAQ_DTYPE_F32 || *dtype == GPTAQ_DTYPE_I32) ? 4
       : (*dtype == GPTAQ_DTYPE_U8) ? 1 : 2;
  *data = xmalloc((size_t)(*rows * *cols) * es);
  st = gptaq_npy_read_rows(r, *data, *rows, &got);
  gptaq_npy_close(r);
  return st;
}

int main(int argc, char **argv) {
  const char *outdir, *wpath, *xqpath, *xfppath = NULL, *maskpath = NULL;
  int64_t batch = -1, rows, cols, tokens, xcols, t0, G;
  int32_t dtype = GPTAQ_DTYPE_F32, fdt, st, binary, k;
  gptaq_config cfg;
  gptaq_ctx *ctx = NULL;
  gptaq_solve_info info;
  void *xq = NULL, *xfp = NULL, *maskv = NULL;
  float *w = NULL, *dq, *p1, *p2;
  uint8_t *codes;
  int32_t *g_idx;
  size_t es;
  char path[4096];
  FILE *f;
  int i;

  if (argc < 4) {
    fprintf(stderr, "usage: %s OUTDIR WEIGHT.npy XQ.npy [options] [field=value ...]\n", argv[0]);
    return 1;
  }
  outdir = argv[1];
  wpath = argv[2];
  xqpath = argv[3];
  gptaq_config_init(&cfg, sizeof cfg);
  for (i = 4; i < argc; ++i) {
    const char *a = argv[i];
    const char *eq = strchr(a, '=');
    if (!strcmp(a, "--xfp") && i + 1 < argc) {
      xfppath = argv[++i];
    } else if (!strcmp(a, "--mask") && i + 1 < argc) {
      maskpath = argv[++i];
    } else if (!strcmp(a, "--batch") && i + 1 < argc) {
      batch = atoll(argv[++i]);
    } else if (!strcmp(a, "--dtype") && i + 1 < argc) {
      const char *d = argv[++i];
      dtype = !strcmp(d, "f16") ? GPTAQ_DTYPE_F16 : !strcmp(d, "bf16") ? GPTAQ_DTYPE_BF16
                                                                        : GPTAQ_DTYPE_F32;
    } else if (eq) {
      size_t j, n = (size_t)(eq - a);
      int found = 0;
      for (j = 0; j < sizeof kFields / sizeof kFields[0]; ++j) {
        if (strlen(kFields[j].name) == n && !strncmp(kFields[j].name, a, n)) {
          char *base = (char *)&cfg + kFields[j].offset;
          if (kFields[j].is_float) {
            float v = strtof(eq + 1, NULL);
            memcpy(base, &v, sizeof v);
          } else {
            int32_t v = (int32_t)strtol(eq + 1, NULL, 10);
            memcpy(base, &v, sizeof v);
          }
          found = 1;
        }
      }
      if (!found) {
        fprintf(stderr, "unknown config field in '%s'\n", a);
        return 1;
      }
    } else {
      fprintf(stderr, "unknown argument '%s'\n", a);
      return 1;
    }
  }

  if ((st = read_all(wpath, (void **)&w, &fdt, &rows, &cols))) return fail_status(st, gptaq_last_errmsg());
  if ((st = read_all(xqpath, &xq, &fdt, &tokens, &xcols))) return fail_status(st, gptaq_last_errmsg());
  if (xfppath && (st = read_all(xfppath, &xfp, &fdt, &tokens, &xcols)))
    return fail_status(st, gptaq_last_errmsg());
  if (maskpath) {
    int64_t mr, mc;
    if ((st = read_all(maskpath, &maskv, &fdt, &mr, &mc))) return fail_status(st, gptaq_last_errmsg());
  }
  es = dtype == GPTAQ_DTYPE_F32 ? 4 : 2;
  if (batch <= 0) batch = tokens;

  if ((st = gptaq_ctx_create(&ctx, cols, &cfg))) return fail_status(st, gptaq_last_errmsg());
  for (t0 = 0; t0 < tokens; t0 += batch) {
    int64_t tt = tokens - t0 < batch ? tokens - t0 : batch;
    const char *q = (const char *)xq + (size_t)(t0 * xcols) * es;
    const char *fp = xfp ? (const char *)xfp + (size_t)(t0 * xcols) * es : NULL;
    const uint8_t *m = maskv ? (const uint8_t *)maskv + t0 : NULL;
    if ((st = gptaq_add_batch_masked(ctx, q, fp, tt, dtype, m)))
      return fail_status(st, gptaq_ctx_errmsg(ctx));
  }

  binary = cfg.quantizer == GPTAQ_QUANTIZER_BINARY;
  k = cfg.bits;
  G = gptaq_num_groups(cols, cfg.group_size);
  codes = (uint8_t *)xmalloc((size_t)(rows * cols));
  dq = (float *)xmalloc(sizeof(float) * (size_t)(rows * cols));
  g_idx = (int32_t *)xmalloc(sizeof(int32_t) * (size_t)cols);
  p1 = (float *)xmalloc(sizeof(float) * (size_t)(rows * G * (binary ? k : 1)));
  p2 = (float *)xmalloc(sizeof(float) * (size_t)(rows * G));
  memset(&info, 0, sizeof info);
  info.struct_size = (int32_t)sizeof info;
  st = binary ? gptaq_solve_binary(ctx, w, rows, cols, codes, p1, p2, g_idx, dq, &info)
              : gptaq_solve(ctx, w, rows, cols, codes, p1, p2, g_idx, dq, &info);
  if (st) return fail_status(st, gptaq_ctx_errmsg(ctx));

#define WRITE(name, dt, r, c, data)                                        \
  do {                                                                     \
    snprintf(path, sizeof path, "%s/%s", outdir, name);                    \
    if ((st = gptaq_npy_write(path, dt, r, c, data)))                      \
      return fail_status(st, gptaq_last_errmsg());                         \
  } while (0)
  WRITE("codes.npy", GPTAQ_DTYPE_U8, rows, cols, codes);
  WRITE("dequant.npy", GPTAQ_DTYPE_F32, rows, cols, dq);
  WRITE("g_idx.npy", GPTAQ_DTYPE_I32, cols, -1, g_idx);
  if (binary) {
    WRITE("alpha.npy", GPTAQ_DTYPE_F32, rows, G * k, p1);
    WRITE("bias.npy", GPTAQ_DTYPE_F32, rows, G, p2);
  } else {
    WRITE("scales.npy", GPTAQ_DTYPE_F32, rows, G, p1);
    WRITE("zeros.npy", GPTAQ_DTYPE_F32, rows, G, p2);
  }
  snprintf(path, sizeof path, "%s/info.txt", outdir);
  f = fopen(path, "w");
  if (!f) return fail_status(GPTAQ_ERR_IO, "cannot write info.txt");
  fprintf(f, "loss %.17g\nn_groups %d\ndamp_used %.9g\ndamp_retries %d\nlevel_set %d\n"
             "scale_index %d\nnum_tokens %lld\n",
          info.loss, info.n_groups, (double)info.damp_used, info.damp_retries, info.level_set,
          info.scale_index, (long long)gptaq_ctx_num_tokens(ctx));
  fclose(f);
  gptaq_ctx_free(ctx);
  free(w);
  free(xq);
  free(xfp);
  free(maskv);
  free(codes);
  free(dq);
  free(g_idx);
  free(p1);
  free(p2);
  return 0;
}
