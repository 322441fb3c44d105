// Every extern "C" entry point of the core API. The exception boundary is in
// c_api_impl.h; nothing here prints or aborts.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "c_api_impl.h"
#include "config.h"
#include "context.h"
#include "half.h"
#include "progress.h"
#include "solver/solve.h"

using namespace gptaq;

namespace gptaq {
namespace {
thread_local std::string t_error;

// Largest column count whose n x n fp32 matrix still has a size_t byte count, and then
// some headroom: refuse before allocating anything.
constexpr int64_t kMaxColumns = int64_t{1} << 28;

bool mul_overflows(int64_t a, int64_t b, int64_t limit) { return a != 0 && b > limit / a; }

void check_shape_product(int64_t a, int64_t b, const char *what) {
  if (mul_overflows(a, b, std::numeric_limits<int64_t>::max() / 8))
    fail(GPTAQ_ERR_SHAPE, "%s: %lld x %lld elements overflow the address range", what,
         static_cast<long long>(a), static_cast<long long>(b));
}

void check_dtype(int32_t dtype) {
  if (dtype != GPTAQ_DTYPE_F32 && dtype != GPTAQ_DTYPE_F16 && dtype != GPTAQ_DTYPE_BF16)
    fail(GPTAQ_ERR_INVALID_ARGUMENT,
         "dtype %d is not a batch dtype (0 = f32, 1 = f16, 2 = bf16)", dtype);
}

void check_weight(const gptaq_ctx &ctx, const float *weight, int64_t rows, int64_t columns) {
  GPTAQ_REQUIRE(weight, "weight is NULL");
  if (columns != ctx.n)
    fail(GPTAQ_ERR_SHAPE, "weight has %lld columns but the context was created for %lld",
         static_cast<long long>(columns), static_cast<long long>(ctx.n));
  if (rows <= 0) fail(GPTAQ_ERR_SHAPE, "rows = %lld must be > 0", static_cast<long long>(rows));
  check_shape_product(rows, columns, "weight");
  const int64_t total = rows * columns;
  for (int64_t i = 0; i < total; ++i)
    if (!std::isfinite(weight[i]))
      fail(GPTAQ_ERR_NON_FINITE, "weight[%lld][%lld] is %s", static_cast<long long>(i / columns),
           static_cast<long long>(i % columns), std::isnan(weight[i]) ? "NaN" : "Inf");
}

// Tokens per stats_add call of a batch: a function of the batch and the width only (never
// of whether a progress callback is set), so a callback cannot change the statistics'
// rounding. At least 1024 tokens (and about 2^31 multiply-adds) keep the BLAS update at
// speed; at most 64 chunks per batch bound the rate of progress reports.
int64_t stats_chunk_tokens(int64_t tokens, int64_t n) {
  const int64_t by_work = (int64_t{1} << 31) / std::max<int64_t>(1, n * n);
  int64_t chunk = std::max<int64_t>({1024, by_work, (tokens + 63) / 64});
  chunk = (chunk + 255) / 256 * 256;
  return std::min(chunk, tokens);
}

// A copy of the statistics taken before a batch changes them, so that a cancelled (or
// failed) batch of several chunks can be undone exactly. The buffers live on the context
// while a progress callback is set.
struct StatsBackup {
  double tokens = 0.0;
  bool upper_stale = false;
  bool taken = false;

  void take(gptaq_ctx &ctx) {
    Backend &be = *ctx.be;
    const size_t mat = sizeof(float) * static_cast<size_t>(ctx.n) * static_cast<size_t>(ctx.n);
    if (!ctx.backup_xx) ctx.backup_xx = DevBuf(&be, mat);
    if (ctx.stats.dx && !ctx.backup_dx) ctx.backup_dx = DevBuf(&be, mat);
    if (!ctx.backup_xsum) ctx.backup_xsum = DevBuf(&be, sizeof(double) * static_cast<size_t>(ctx.n));
    be.copy(ctx.backup_xx.get(), ctx.stats.xx, mat);
    if (ctx.stats.dx) be.copy(ctx.backup_dx.get(), ctx.stats.dx, mat);
    be.copy(ctx.backup_xsum.get(), ctx.stats.xsum, ctx.backup_xsum.bytes());
    tokens = ctx.stats.tokens;
    upper_stale = ctx.stats.upper_stale;
    taken = true;
  }
  void restore(gptaq_ctx &ctx) const {
    Backend &be = *ctx.be;
    be.copy(ctx.stats.xx, ctx.backup_xx.get(), ctx.backup_xx.bytes());
    if (ctx.stats.dx) be.copy(ctx.stats.dx, ctx.backup_dx.get(), ctx.backup_dx.bytes());
    be.copy(ctx.stats.xsum, ctx.backup_xsum.get(), ctx.backup_xsum.bytes());
    ctx.stats.tokens = tokens;
    ctx.stats.upper_stale = upper_stale;
  }
};

void release_backup(gptaq_ctx &ctx) {
  ctx.backup_xx.reset();
  ctx.backup_dx.reset();
  ctx.backup_xsum.reset();
}

void fill_info(gptaq_solve_info *info, const SolveOutputs &o, const gptaq_ctx &ctx,
               int64_t n_groups, double seconds) {
  if (!info) return;
  gptaq_solve_info full;
  std::memset(&full, 0, sizeof full);
  full.struct_size = static_cast<int32_t>(sizeof full);
  full.n_groups = static_cast<int32_t>(n_groups);
  full.loss = o.loss;
  const bool rtn = ctx.cfg.method == GPTAQ_METHOD_RTN || o.failsafe_used;
  full.damp_used = rtn ? 0.0f : ctx.factor.damp_used;
  full.damp_retries = rtn ? 0 : ctx.factor.retries;
  full.factor_reused = o.factor_reused ? 1 : 0;
  full.level_set = o.level_set;
  full.scale_index = o.scale_index;
  full.seconds = seconds;
  full.tokens = ctx.stats.tokens;
  full.failsafe_used = o.failsafe_used ? 1 : 0;
  size_t size = static_cast<size_t>(info->struct_size);
  if (size > sizeof full) size = sizeof full;
  std::memcpy(info, &full, size);
}

void check_info(const gptaq_solve_info *info) {
  if (info && info->struct_size < static_cast<int32_t>(sizeof(int32_t)))
    fail(GPTAQ_ERR_INVALID_ARGUMENT,
         "info->struct_size is %d; set it to sizeof(gptaq_solve_info)", info->struct_size);
}

}  // namespace

void set_thread_error(const std::string &msg) { t_error = msg; }
void clear_thread_error() { t_error.clear(); }

}  // namespace gptaq

extern "C" {

int32_t gptaq_version_number(void) { return GPTAQ_VERSION_NUMBER; }

const char *gptaq_version_string(void) {
#define GPTAQ_STR2(x) #x
#define GPTAQ_STR(x) GPTAQ_STR2(x)
  return GPTAQ_STR(GPTAQ_VERSION_MAJOR) "." GPTAQ_STR(GPTAQ_VERSION_MINOR) "." GPTAQ_STR(
      GPTAQ_VERSION_PATCH);
}

const char *gptaq_build_info(void) {
  static const std::string info = std::string("libgptaq ") + gptaq_version_string() +
                                  "; backends: " + backends_compiled() +
                                  "; blas: OpenBLAS; found: " + backends_found();
  return info.c_str();
}

const char *gptaq_status_string(int32_t status) {
  switch (status) {
    case GPTAQ_OK: return "ok";
    case GPTAQ_ERR_INVALID_ARGUMENT: return "invalid argument";
    case GPTAQ_ERR_SHAPE: return "shape mismatch";
    case GPTAQ_ERR_NON_FINITE: return "non-finite input";
    case GPTAQ_ERR_NO_DATA: return "no calibration data";
    case GPTAQ_ERR_NOT_POSITIVE_DEFINITE: return "Hessian not positive definite";
    case GPTAQ_ERR_OUT_OF_MEMORY: return "out of memory";
    case GPTAQ_ERR_BACKEND_UNAVAILABLE: return "backend unavailable";
    case GPTAQ_ERR_DEVICE: return "device error";
    case GPTAQ_ERR_IO: return "I/O error";
    case GPTAQ_ERR_FORMAT: return "malformed data";
    case GPTAQ_ERR_UNSUPPORTED: return "unsupported";
    case GPTAQ_ERR_BUSY: return "context busy";
    case GPTAQ_ERR_INTERNAL: return "internal error";
    case GPTAQ_ERR_CANCELLED: return "cancelled";
    default: return "unknown status";
  }
}

const char *gptaq_last_errmsg(void) { return t_error.c_str(); }

int32_t gptaq_config_init(gptaq_config *cfg, size_t struct_size) {
  return guarded([&] {
    GPTAQ_REQUIRE(cfg, "cfg is NULL");
    GPTAQ_REQUIRE(struct_size >= sizeof(int32_t) && struct_size <= (size_t{1} << 20),
                  "struct_size %zu is not a config size; pass sizeof(gptaq_config)", struct_size);
    Config def = default_config();
    size_t n = struct_size < sizeof def ? struct_size : sizeof def;
    std::memcpy(cfg, &def, n);
    if (struct_size > sizeof def)
      std::memset(reinterpret_cast<char *>(cfg) + sizeof def, 0, struct_size - sizeof def);
    cfg->struct_size = static_cast<int32_t>(n);
  });
}

int32_t gptaq_ctx_create(gptaq_ctx **out, int64_t columns, const gptaq_config *cfg) {
  if (out) *out = nullptr;
  return guarded([&] {
    GPTAQ_REQUIRE(out, "out is NULL");
    if (columns <= 0)
      fail(GPTAQ_ERR_SHAPE, "columns = %lld must be > 0", static_cast<long long>(columns));
    if (columns > kMaxColumns)
      fail(GPTAQ_ERR_SHAPE, "columns = %lld is too large: its %lld x %lld statistics overflow",
           static_cast<long long>(columns), static_cast<long long>(columns),
           static_cast<long long>(columns));
    Config c = read_config(cfg);
    validate_config(c);
    std::unique_ptr<gptaq_ctx> ctx(new gptaq_ctx);
    ctx->cfg = c;
    ctx->n = columns;
    ctx->be = make_backend(static_cast<gptaq_backend>(c.backend), c.device, c.num_threads,
                           &ctx->backend_note);
    ctx->be->set_num_threads(c.num_threads);
    const size_t mat = sizeof(float) * static_cast<size_t>(columns) * static_cast<size_t>(columns);
    ctx->xx = DevBuf(ctx->be.get(), mat);
    if (ctx->wants_cross()) ctx->dx = DevBuf(ctx->be.get(), mat);
    ctx->xsum = DevBuf(ctx->be.get(), sizeof(double) * static_cast<size_t>(columns));
    ctx->stats.xx = ctx->xx.as<float>();
    ctx->stats.dx = ctx->dx ? ctx->dx.as<float>() : nullptr;
    ctx->stats.xsum = ctx->xsum.as<double>();
    *out = ctx.release();
  });
}

void gptaq_ctx_free(gptaq_ctx *ctx) {
  if (!ctx) return;
  try {
    release_backup(*ctx);
    ctx->factor = Factor();
    ctx->xx.reset();
    ctx->dx.reset();
    ctx->xsum.reset();
    ctx->be.reset();
  } catch (...) {
  }
  delete ctx;
}

const char *gptaq_ctx_errmsg(const gptaq_ctx *ctx) {
  if (!ctx) return "ctx is NULL";
  return ctx->err.c_str();
}

int64_t gptaq_ctx_columns(const gptaq_ctx *ctx) { return ctx ? ctx->n : -1; }

int32_t gptaq_ctx_backend(const gptaq_ctx *ctx) {
  return ctx ? static_cast<int32_t>(ctx->be->kind()) : -1;
}

int32_t gptaq_ctx_get_config(const gptaq_ctx *ctx, gptaq_config *cfg) {
  return guarded([&] {
    GPTAQ_REQUIRE(ctx, "ctx is NULL");
    GPTAQ_REQUIRE(cfg, "cfg is NULL");
    int32_t size = cfg->struct_size;
    GPTAQ_REQUIRE(size >= static_cast<int32_t>(sizeof(int32_t)),
                  "cfg->struct_size is %d; set it to sizeof(gptaq_config)", size);
    size_t n = static_cast<size_t>(size) < sizeof(Config) ? static_cast<size_t>(size)
                                                          : sizeof(Config);
    std::memcpy(cfg, &ctx->cfg, n);
    cfg->struct_size = static_cast<int32_t>(n);
  });
}

int32_t gptaq_ctx_set_config(gptaq_ctx *ctx, const gptaq_config *cfg) {
  return guarded_ctx(ctx, [&] {
    GPTAQ_REQUIRE(cfg, "cfg is NULL");
    Config c = read_config(cfg);
    validate_config(c);
    const bool cross = c.method == GPTAQ_METHOD_GPTAQ;
    if (cross != ctx->wants_cross())
      fail(GPTAQ_ERR_INVALID_ARGUMENT,
           "cannot switch between GPTAQ and other methods on a context: the statistics "
           "differ (create a new context)");
    if (c.backend != ctx->cfg.backend || c.device != ctx->cfg.device)
      fail(GPTAQ_ERR_INVALID_ARGUMENT, "the backend and device of a context cannot change");
    if (!same_factorization(c, ctx->cfg)) invalidate_factor(*ctx);
    ctx->cfg = c;
  });
}

int32_t gptaq_ctx_reset(gptaq_ctx *ctx) {
  return guarded_ctx(ctx, [&] {
    const size_t mat = sizeof(float) * static_cast<size_t>(ctx->n) * static_cast<size_t>(ctx->n);
    ctx->be->zero(ctx->stats.xx, mat);
    if (ctx->stats.dx) ctx->be->zero(ctx->stats.dx, mat);
    ctx->be->zero(ctx->stats.xsum, sizeof(double) * static_cast<size_t>(ctx->n));
    ctx->stats.tokens = 0.0;
    ctx->stats.upper_stale = false;
    invalidate_factor(*ctx);
  });
}

int64_t gptaq_ctx_num_tokens(const gptaq_ctx *ctx) {
  return ctx ? static_cast<int64_t>(ctx->stats.tokens) : -1;
}

int32_t gptaq_ctx_set_stream(gptaq_ctx *ctx, void *stream) {
  return guarded_ctx(ctx, [&] {
    if (stream && ctx->be->kind() != GPTAQ_BACKEND_CUDA)
      fail(GPTAQ_ERR_UNSUPPORTED, "a stream can only be set on a CUDA context");
    ctx->be->set_stream(stream);
  });
}

int32_t gptaq_ctx_set_progress(gptaq_ctx *ctx, gptaq_progress_fn fn, void *user_data) {
  return guarded_ctx(ctx, [&] {
    ctx->progress = fn;
    ctx->progress_user = fn ? user_data : nullptr;
    if (!fn) release_backup(*ctx);
  });
}

int32_t gptaq_ctx_set_log(gptaq_ctx *ctx, gptaq_log_fn fn, void *user_data) {
  return guarded_ctx(ctx, [&] {
    ctx->log = fn;
    ctx->log_user = fn ? user_data : nullptr;
    log_msg(*ctx, GPTAQ_LOG_INFO, "context of %lld columns on the %s backend (%s)",
            static_cast<long long>(ctx->n),
            ctx->be->kind() == GPTAQ_BACKEND_CUDA ? "CUDA" : "CPU", ctx->backend_note.c_str());
  });
}

int32_t gptaq_add_batch_masked(gptaq_ctx *ctx, const void *x_q, const void *x_fp,
                               int64_t tokens, int32_t dtype, const uint8_t *mask) {
  return guarded_ctx(ctx, [&] {
    GPTAQ_REQUIRE(x_q || tokens == 0, "x_q is NULL");
    check_dtype(dtype);
    GPTAQ_REQUIRE(tokens >= 0, "tokens = %lld must be >= 0", static_cast<long long>(tokens));
    if (ctx->wants_cross())
      GPTAQ_REQUIRE(x_fp || tokens == 0,
                    "x_fp is NULL: GPTAQ needs the full-precision model's input for every "
                    "batch");
    else
      GPTAQ_REQUIRE(!x_fp,
                    "x_fp was given but the method is not GPTAQ: pass NULL, or create the "
                    "context with method = GPTAQ_METHOD_GPTAQ");
    check_shape_product(tokens, ctx->n, "batch");
    if (tokens == 0) return;
    Backend &be = *ctx->be;
    const int64_t n = ctx->n;
    const gptaq_dtype dt = static_cast<gptaq_dtype>(dtype);
    const int64_t chunk = stats_chunk_tokens(tokens, n);
    Progress prog(*ctx, GPTAQ_PHASE_STATISTICS, tokens);
    prog.start();  // a cancellation here changes nothing
    // With a callback every later report may cancel, so the statistics are copied
    // first (columns^2 floats, twice for GPTAQ). If that memory is not there the batch
    // runs without further reports: nothing could undo a cancellation.
    StatsBackup backup;
    if (ctx->progress) {
      try {
        backup.take(*ctx);
      } catch (const Error &e) {
        if (e.status() != GPTAQ_ERR_OUT_OF_MEMORY) throw;
        backup = StatsBackup();
        release_backup(*ctx);
        log_msg(*ctx, GPTAQ_LOG_WARN,
                "no memory for the copy of the statistics that cancelling a batch needs: "
                "this batch reports no progress and cannot be cancelled (%s)", e.what());
      }
    }
    // A batch added in several calls is checked whole first: it is refused whole.
    if (chunk < tokens) be.check_batch(x_q, x_fp, tokens, n, dt);
    const size_t row = (dt == GPTAQ_DTYPE_F32 ? 4 : 2) * static_cast<size_t>(n);
    int64_t counted = 0;
    try {
      for (int64_t t0 = 0; t0 < tokens; t0 += chunk) {
        const int64_t tt = std::min(chunk, tokens - t0);
        const size_t off = row * static_cast<size_t>(t0);
        counted += be.stats_add(ctx->stats, n, static_cast<const char *>(x_q) + off,
                                x_fp ? static_cast<const char *>(x_fp) + off : nullptr, tt, dt,
                                mask ? mask + t0 : nullptr);
        if (backup.taken) {
          if (t0 + tt < tokens)
            prog.step(t0 + tt);
          else
            prog.finish();
        }
      }
    } catch (...) {
      if (backup.taken) backup.restore(*ctx);
      throw;
    }
    if (counted > 0) invalidate_factor(*ctx);
    log_msg(*ctx, GPTAQ_LOG_DEBUG, "statistics: %lld of %lld tokens counted in %.3f s",
            static_cast<long long>(counted), static_cast<long long>(tokens), prog.seconds());
  });
}

int32_t gptaq_add_batch(gptaq_ctx *ctx, const void *x_q, const void *x_fp, int64_t tokens,
                        int32_t dtype) {
  return gptaq_add_batch_masked(ctx, x_q, x_fp, tokens, dtype, nullptr);
}

int64_t gptaq_num_groups(int64_t columns, int32_t group_size) {
  if (columns <= 0) return -1;
  if (group_size == -1) return 1;
  if (group_size < 1) return -1;
  // Not (columns + group_size - 1) / group_size: that overflows near INT64_MAX (UBSan).
  return columns / group_size + (columns % group_size != 0 ? 1 : 0);
}

int32_t gptaq_solve(gptaq_ctx *ctx, const float *weight, int64_t rows, int64_t columns,
                    uint8_t *codes, float *scales, float *zeros, int32_t *g_idx, float *dequant,
                    gptaq_solve_info *info) {
  return guarded_ctx(ctx, [&] {
    auto t0 = std::chrono::steady_clock::now();
    if (ctx->cfg.quantizer != GPTAQ_QUANTIZER_UNIFORM)
      fail(GPTAQ_ERR_INVALID_ARGUMENT,
           "the context is configured for the binary quantizer: use gptaq_solve_binary");
    check_weight(*ctx, weight, rows, columns);
    GPTAQ_REQUIRE(codes, "codes is NULL");
    GPTAQ_REQUIRE(scales, "scales is NULL");
    GPTAQ_REQUIRE(zeros, "zeros is NULL");
    check_info(info);
    const int64_t G = gptaq_num_groups(columns, ctx->cfg.group_size);
    check_shape_product(rows, G * 2, "params");
    std::vector<float> params(static_cast<size_t>(rows * G * 2));
    SolveOutputs o;
    o.codes = codes;
    o.params = params.data();
    o.g_idx = g_idx;
    o.dequant = dequant;
    solve(*ctx, weight, rows, o);
    for (int64_t i = 0; i < rows * G; ++i) {
      scales[i] = params[2 * i];
      zeros[i] = params[2 * i + 1];
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fill_info(info, o, *ctx, G, secs);
  });
}

int32_t gptaq_backend_available(int32_t backend) {
  if (backend < GPTAQ_BACKEND_AUTO || backend > GPTAQ_BACKEND_CUDA) return 0;
  try {
    return backend_available(static_cast<gptaq_backend>(backend)) ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

int32_t gptaq_f32_to_half(int32_t dtype, const float *src, uint16_t *dst, int64_t n) {
  return guarded([&] {
    GPTAQ_REQUIRE(src && dst, "src or dst is NULL");
    GPTAQ_REQUIRE(n >= 0, "n = %lld must be >= 0", static_cast<long long>(n));
    if (dtype == GPTAQ_DTYPE_F16)
      for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_f16(src[i]);
    else if (dtype == GPTAQ_DTYPE_BF16)
      for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
    else
      fail(GPTAQ_ERR_INVALID_ARGUMENT, "dtype %d is not f16 (1) or bf16 (2)", dtype);
  });
}

int32_t gptaq_half_to_f32(int32_t dtype, const uint16_t *src, float *dst, int64_t n) {
  return guarded([&] {
    GPTAQ_REQUIRE(src && dst, "src or dst is NULL");
    GPTAQ_REQUIRE(n >= 0, "n = %lld must be >= 0", static_cast<long long>(n));
    if (dtype == GPTAQ_DTYPE_F16)
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(src[i]);
    else if (dtype == GPTAQ_DTYPE_BF16)
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
    else
      fail(GPTAQ_ERR_INVALID_ARGUMENT, "dtype %d is not f16 (1) or bf16 (2)", dtype);
  });
}

}  // extern "C"

extern "C" int32_t gptaq_solve_binary(gptaq_ctx *ctx, const float *weight, int64_t rows,
                                      int64_t columns, uint8_t *codes, float *alpha,
                                      float *bias, int32_t *g_idx, float *dequant,
                                      gptaq_solve_info *info) {
  return guarded_ctx(ctx, [&] {
    auto t0 = std::chrono::steady_clock::now();
    if (ctx->cfg.quantizer != GPTAQ_QUANTIZER_BINARY)
      fail(GPTAQ_ERR_INVALID_ARGUMENT,
           "the context is configured for the uniform quantizer: use gptaq_solve");
    check_weight(*ctx, weight, rows, columns);
    GPTAQ_REQUIRE(codes, "codes is NULL");
    GPTAQ_REQUIRE(alpha, "alpha is NULL");
    GPTAQ_REQUIRE(bias, "bias is NULL");
    check_info(info);
    const int64_t G = gptaq_num_groups(columns, ctx->cfg.group_size);
    check_shape_product(rows, G * 2, "params");
    std::vector<float> params(static_cast<size_t>(rows * G * 2));
    SolveOutputs o;
    o.codes = codes;
    o.params = params.data();
    o.g_idx = g_idx;
    o.dequant = dequant;
    solve(*ctx, weight, rows, o);
    const int k = o.binary.k;
    const float c = (o.binary.umax) / 2.0f;
    for (int64_t i = 0; i < rows * G; ++i) {
      const float s = params[2 * i], z = params[2 * i + 1];
      for (int b = 0; b < k; ++b) alpha[i * k + b] = s * o.binary.alphas[b];
      bias[i] = s * c + z;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fill_info(info, o, *ctx, G, secs);
  });
}
