/*
 * Data-parallel calibration with MPI: every rank streams its shard of the calibration
 * tokens into its own contexts, the statistics (plain sums) are summed across ranks with
 * MPI_Allreduce directly in the contexts' buffers, and the layers are solved round-robin
 * across ranks (layer l on rank l % size); rank 0 gathers every layer's codes, scales and
 * zeros. Public C API only.
 *
 *   mpirun -n 4 ./gptaq_mpi [--layers 6] [--columns 256] [--rows 128] [--tokens 2048]
 *                           [--batch 128] [--bits 4] [--group 128] [--method gptq|gptaq]
 *                           [--data dyadic|real] [--check]
 *
 * The "model" is synthetic: layer l's calibration inputs and weight are generated from
 * (l, token index) by a counter-based generator, so a rank produces exactly its shard
 * without communication, as a real data loader would.
 *
 * --check: rank 0 also calibrates every layer in a single process on ALL the tokens (the
 * same batches, in order) and requires identical codes, scales and zeros. That holds
 * exactly with --data dyadic (the default): inputs are multiples of 1/8 of modest size,
 * so every fp32 sum is exact and the summation order (per rank, then across ranks) cannot
 * matter. With --data real the statistics agree to fp32 rounding and the program reports
 * how many codes agree instead of requiring all.
 */
#include <limits.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptaq/gptaq.h"

typedef struct {
  int layers, bits, group, check, dyadic, method;
  int64_t columns, rows, tokens, batch;
} options;

static int rank_, size_;

#define DIE(...)                                \
  do {                                          \
    fprintf(stderr, "[rank %d] ", rank_);       \
    fprintf(stderr, __VA_ARGS__);               \
    fprintf(stderr, "\n");                      \
    MPI_Abort(MPI_COMM_WORLD, 1);               \
  } while (0)

#define CHECK_CTX(call, ctx)                                                              \
  do {                                                                                    \
    int32_t s_ = (call);                                                                  \
    if (s_ != GPTAQ_OK)                                                                   \
      DIE("%s failed: %s: %s", #call, gptaq_status_string(s_),                            \
          (ctx) ? gptaq_ctx_errmsg(ctx) : gptaq_last_errmsg());                           \
  } while (0)

/* splitmix64 of a counter: value (layer, stream, index) without state. */
static uint64_t mix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static float value(const options *o, int layer, int stream, uint64_t index) {
  uint64_t r = mix(((uint64_t)layer << 56) ^ ((uint64_t)stream << 52) ^ index);
  if (o->dyadic) return (float)((int)(r % 33) - 16) / 8.0f; /* k/8, |k| <= 16 */
  return (float)((double)(r >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

/* Calibration inputs of layer l, tokens [t0, t0 + count): x_q (stream 0) and x_fp. */
static void make_batch(const options *o, int layer, int64_t t0, int64_t count, float *xq,
                       float *xfp) {
  const int64_t n = o->columns;
  for (int64_t t = 0; t < count; ++t)
    for (int64_t j = 0; j < n; ++j) {
      const uint64_t idx = (uint64_t)((t0 + t) * n + j);
      /* A shared low-dimensional component makes the Hessian non-trivial. */
      float shared = value(o, layer, 2, (uint64_t)(t0 + t) * 4 + (uint64_t)(j % 4));
      xq[t * n + j] = value(o, layer, 0, idx) + shared;
      if (xfp) xfp[t * n + j] = xq[t * n + j] + value(o, layer, 1, idx) / 8.0f;
    }
}

static void make_weight(const options *o, int layer, float *w) {
  for (int64_t i = 0; i < o->rows * o->columns; ++i)
    w[i] = value(o, layer, 3, (uint64_t)i) / 16.0f;
}

static gptaq_config make_config(const options *o) {
  gptaq_config cfg;
  gptaq_config_init(&cfg, sizeof cfg);
  cfg.method = o->method;
  cfg.bits = o->bits;
  cfg.group_size = o->group;
  cfg.backend = GPTAQ_BACKEND_CPU;
  cfg.num_threads = 1; /* one rank per core: do not oversubscribe */
  return cfg;
}

/* Stream tokens [begin, end) of layer l into ctx in batches. */
static void stream_tokens(const options *o, gptaq_ctx *ctx, int layer, int64_t begin,
                          int64_t end) {
  const int gptaq = o->method == GPTAQ_METHOD_GPTAQ;
  float *xq = malloc(sizeof(float) * (size_t)(o->batch * o->columns));
  float *xfp = gptaq ? malloc(sizeof(float) * (size_t)(o->batch * o->columns)) : NULL;
  if (!xq || (gptaq && !xfp)) DIE("out of memory");
  for (int64_t t0 = begin; t0 < end; t0 += o->batch) {
    const int64_t count = end - t0 < o->batch ? end - t0 : o->batch;
    make_batch(o, layer, t0, count, xq, xfp);
    CHECK_CTX(gptaq_add_batch(ctx, xq, xfp, count, GPTAQ_DTYPE_F32), ctx);
  }
  free(xq);
  free(xfp);
}

/* In-place sum all-reduce of `count` elements, in chunks that fit MPI's int counts. */
static void allreduce(void *buf, int64_t count, MPI_Datatype type, size_t elem) {
  const int64_t chunk = INT_MAX / 2;
  for (int64_t off = 0; off < count; off += chunk) {
    const int64_t c = count - off < chunk ? count - off : chunk;
    if (MPI_Allreduce(MPI_IN_PLACE, (char *)buf + off * (int64_t)elem, (int)c, type, MPI_SUM,
                      MPI_COMM_WORLD) != MPI_SUCCESS)
      DIE("MPI_Allreduce failed");
  }
}

typedef struct {
  uint8_t *codes;
  float *scales, *zeros;
} layer_result;

static void alloc_result(const options *o, int64_t groups, layer_result *r) {
  r->codes = malloc((size_t)(o->rows * o->columns));
  r->scales = malloc(sizeof(float) * (size_t)(o->rows * groups));
  r->zeros = malloc(sizeof(float) * (size_t)(o->rows * groups));
  if (!r->codes || !r->scales || !r->zeros) DIE("out of memory");
}

static void solve_layer(const options *o, gptaq_ctx *ctx, int layer, layer_result *r,
                        double *loss) {
  float *w = malloc(sizeof(float) * (size_t)(o->rows * o->columns));
  if (!w) DIE("out of memory");
  make_weight(o, layer, w);
  gptaq_solve_info info;
  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  CHECK_CTX(gptaq_solve(ctx, w, o->rows, o->columns, r->codes, r->scales, r->zeros, NULL, NULL,
                        &info),
            ctx);
  if (loss) *loss = info.loss;
  free(w);
}

static void usage(void) {
  fprintf(stderr,
          "usage: gptaq_mpi [--layers L] [--columns N] [--rows M] [--tokens T] [--batch B]\n"
          "                 [--bits b] [--group g] [--method gptq|gptaq] [--data dyadic|real]\n"
          "                 [--check]\n");
}

static int parse(int argc, char **argv, options *o) {
  o->layers = 6;
  o->columns = 96;
  o->rows = 64;
  o->tokens = 1000;
  o->batch = 64;
  o->bits = 4;
  o->group = 32;
  o->method = GPTAQ_METHOD_GPTAQ;
  o->dyadic = 1;
  o->check = 0;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--check")) { o->check = 1; continue; }
    if (!v) return 0;
    if (!strcmp(a, "--layers")) o->layers = atoi(v);
    else if (!strcmp(a, "--columns")) o->columns = atoll(v);
    else if (!strcmp(a, "--rows")) o->rows = atoll(v);
    else if (!strcmp(a, "--tokens")) o->tokens = atoll(v);
    else if (!strcmp(a, "--batch")) o->batch = atoll(v);
    else if (!strcmp(a, "--bits")) o->bits = atoi(v);
    else if (!strcmp(a, "--group")) o->group = atoi(v);
    else if (!strcmp(a, "--method")) {
      if (!strcmp(v, "gptq")) o->method = GPTAQ_METHOD_GPTQ;
      else if (!strcmp(v, "gptaq")) o->method = GPTAQ_METHOD_GPTAQ;
      else return 0;
    } else if (!strcmp(a, "--data")) {
      if (!strcmp(v, "dyadic")) o->dyadic = 1;
      else if (!strcmp(v, "real")) o->dyadic = 0;
      else return 0;
    } else return 0;
    ++i;
  }
  return o->layers > 0 && o->columns > 0 && o->rows > 0 && o->tokens > 0 && o->batch > 0;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  options o;
  if (!parse(argc, argv, &o)) {
    if (rank_ == 0) usage();
    MPI_Finalize();
    return 2;
  }
  if (o.dyadic && o.tokens >= 4096)
    if (rank_ == 0) fprintf(stderr, "note: over 4096 dyadic tokens fp32 sums may round\n");
  const gptaq_config cfg = make_config(&o);
  const int64_t n = o.columns, groups = gptaq_num_groups(n, o.group);
  /* This rank's shard of the tokens: a contiguous, near-equal slice. */
  const int64_t begin = o.tokens * rank_ / size_, end = o.tokens * (rank_ + 1) / size_;

  layer_result *results = calloc((size_t)o.layers, sizeof *results);
  if (!results) DIE("out of memory");
  double t_start = MPI_Wtime();
  for (int l = 0; l < o.layers; ++l) {
    gptaq_ctx *ctx = NULL;
    CHECK_CTX(gptaq_ctx_create(&ctx, n, &cfg), (gptaq_ctx *)NULL);
    stream_tokens(&o, ctx, l, begin, end);

    /* The statistics are sums: all-reduce them in place, then commit. (Only the rank
     * that solves layer l needs them: MPI_Reduce to l % size would do as well.) */
    gptaq_stats_buffers b;
    memset(&b, 0, sizeof b);
    b.struct_size = sizeof b;
    CHECK_CTX(gptaq_stats_buffers_get(ctx, &b), ctx);
    if (b.backend != GPTAQ_BACKEND_CPU) DIE("this example reduces host buffers");
    allreduce(b.xx, n * n, MPI_FLOAT, sizeof(float));
    if (b.dx) allreduce(b.dx, n * n, MPI_FLOAT, sizeof(float));
    allreduce(b.xsum, n, MPI_DOUBLE, sizeof(double));
    allreduce(b.tokens, 1, MPI_DOUBLE, sizeof(double));
    CHECK_CTX(gptaq_stats_commit(ctx), ctx);
    if (gptaq_ctx_num_tokens(ctx) != o.tokens)
      DIE("layer %d: %lld tokens after the reduction, expected %lld", l,
          (long long)gptaq_ctx_num_tokens(ctx), (long long)o.tokens);

    /* Round-robin: layer l is solved by rank l % size and sent to rank 0. */
    const int owner = l % size_;
    if (rank_ == owner || rank_ == 0) alloc_result(&o, groups, &results[l]);
    if (rank_ == owner) {
      double loss = 0.0;
      solve_layer(&o, ctx, l, &results[l], &loss);
      printf("[rank %d] layer %d solved: %lld x %lld, %lld tokens, loss %.6g\n", rank_, l,
             (long long)o.rows, (long long)n, (long long)gptaq_ctx_num_tokens(ctx), loss);
      fflush(stdout);
    }
    if (owner != 0) {
      const int cn = (int)(o.rows * n), gn = (int)(o.rows * groups);
      if (rank_ == owner) {
        MPI_Send(results[l].codes, cn, MPI_UNSIGNED_CHAR, 0, 3 * l, MPI_COMM_WORLD);
        MPI_Send(results[l].scales, gn, MPI_FLOAT, 0, 3 * l + 1, MPI_COMM_WORLD);
        MPI_Send(results[l].zeros, gn, MPI_FLOAT, 0, 3 * l + 2, MPI_COMM_WORLD);
      } else if (rank_ == 0) {
        MPI_Recv(results[l].codes, cn, MPI_UNSIGNED_CHAR, owner, 3 * l, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
        MPI_Recv(results[l].scales, gn, MPI_FLOAT, owner, 3 * l + 1, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
        MPI_Recv(results[l].zeros, gn, MPI_FLOAT, owner, 3 * l + 2, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
      }
    }
    gptaq_ctx_free(ctx);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  const double elapsed = MPI_Wtime() - t_start;

  int failed = 0;
  if (rank_ == 0) {
    printf("%d ranks: %d layers of %lld x %lld, %lld tokens, %s, %d bits: %.3f s\n", size_,
           o.layers, (long long)o.rows, (long long)n, (long long)o.tokens,
           o.method == GPTAQ_METHOD_GPTAQ ? "GPTAQ" : "GPTQ", o.bits, elapsed);
    if (o.check) {
      /* The single-process run: one context per layer, all tokens, same batches. */
      int64_t agree = 0, total = 0;
      for (int l = 0; l < o.layers; ++l) {
        gptaq_ctx *ctx = NULL;
        CHECK_CTX(gptaq_ctx_create(&ctx, n, &cfg), (gptaq_ctx *)NULL);
        stream_tokens(&o, ctx, l, 0, o.tokens);
        layer_result ref;
        alloc_result(&o, groups, &ref);
        solve_layer(&o, ctx, l, &ref, NULL);
        int64_t same = 0;
        for (int64_t i = 0; i < o.rows * n; ++i) same += ref.codes[i] == results[l].codes[i];
        const int params_same =
            !memcmp(ref.scales, results[l].scales, sizeof(float) * (size_t)(o.rows * groups)) &&
            !memcmp(ref.zeros, results[l].zeros, sizeof(float) * (size_t)(o.rows * groups));
        agree += same;
        total += o.rows * n;
        if (o.dyadic && (same != o.rows * n || !params_same)) {
          printf("layer %d: MISMATCH with the single-process run: %lld of %lld codes differ%s\n",
                 l, (long long)(o.rows * n - same), (long long)(o.rows * n),
                 params_same ? "" : ", scales/zeros differ");
          failed = 1;
        }
        free(ref.codes);
        free(ref.scales);
        free(ref.zeros);
        gptaq_ctx_free(ctx);
      }
      printf("check against a single-process run on all %lld tokens: %lld of %lld codes "
             "identical (%.4f%%)%s\n",
             (long long)o.tokens, (long long)agree, (long long)total, 100.0 * agree / total,
             o.dyadic ? (failed ? ": FAILED" : ": identical, as required") : "");
    }
  }
  for (int l = 0; l < o.layers; ++l) {
    free(results[l].codes);
    free(results[l].scales);
    free(results[l].zeros);
  }
  free(results);
  MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Finalize();
  return failed ? 1 : 0;
}
