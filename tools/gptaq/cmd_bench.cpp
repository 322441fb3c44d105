// gptaq bench: statistics and solve time on synthetic structured data, with achieved
// GFLOP/s, the fraction of the FLOP floor (ALGORITHMS.md §6) at the sgemm rate measured
// in the same run, and peak memory. --json prints one JSON object as the last line.
#include <dlfcn.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "linalg.h"
#include "options.h"

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

double peak_rss_mib() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

// Best-of-3 sgemm rate for an n x n x k product, GFLOP/s.
double measure_sgemm(int n, int k) {
  std::vector<float> a(static_cast<size_t>(n) * k, 0.5f), b(static_cast<size_t>(k) * n, 0.25f),
      c(static_cast<size_t>(n) * n);
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = clock_type::now();
    cli::matmul_xwt(a.data(), b.data(), c.data(), n, k, n);
    best = std::min(best, seconds_since(t0));
  }
  return 2.0 * n * static_cast<double>(n) * k / best / 1e9;
}

// cuSOLVER's workspace for the CUDA backend's factorization of `n` columns (the float64
// Cholesky, cusolverDnXpotrf, and the fp32 triangular inverse, cusolverDnXtrtri; the
// upper triangle of an n x n matrix), asked from cuSOLVER itself through dlopen, so the
// tool needs no CUDA headers. JSON object, or null when cuSOLVER does not answer here.
std::string cusolver_workspace_json(int64_t n) {
  void *rt = nullptr, *sv = nullptr;
  for (const char *name : {"libcudart.so.13", "libcudart.so.12", "libcudart.so"})
    if ((rt = dlopen(name, RTLD_NOW | RTLD_LOCAL))) break;
  for (const char *name : {"libcusolver.so.12", "libcusolver.so.11", "libcusolver.so"})
    if ((sv = dlopen(name, RTLD_NOW | RTLD_LOCAL))) break;
  std::string out = "null";
  using Malloc = int (*)(void **, size_t);
  using Free = int (*)(void *);
  using Create = int (*)(void **);
  using Destroy = int (*)(void *);
  using Potrf = int (*)(void *, void *, int, int64_t, int, const void *, int64_t, int, size_t *,
                        size_t *);
  using Trtri = int (*)(void *, int, int, int64_t, int, void *, int64_t, size_t *, size_t *);
  if (rt && sv) {
    auto cmalloc = reinterpret_cast<Malloc>(dlsym(rt, "cudaMalloc"));
    auto cfree = reinterpret_cast<Free>(dlsym(rt, "cudaFree"));
    auto create = reinterpret_cast<Create>(dlsym(sv, "cusolverDnCreate"));
    auto destroy = reinterpret_cast<Destroy>(dlsym(sv, "cusolverDnDestroy"));
    auto pcreate = reinterpret_cast<Create>(dlsym(sv, "cusolverDnCreateParams"));
    auto pdestroy = reinterpret_cast<Destroy>(dlsym(sv, "cusolverDnDestroyParams"));
    auto potrf = reinterpret_cast<Potrf>(dlsym(sv, "cusolverDnXpotrf_bufferSize"));
    auto trtri = reinterpret_cast<Trtri>(dlsym(sv, "cusolverDnXtrtri_bufferSize"));
    void *h = nullptr, *params = nullptr, *a = nullptr;
    if (cmalloc && cfree && create && destroy && pcreate && pdestroy && potrf && trtri &&
        cmalloc(&a, 256) == 0) {
      if (create(&h) == 0) {
        size_t pd = 0, ph = 0, td = 0, th = 0;
        // CUBLAS_FILL_MODE_UPPER = 1, CUBLAS_DIAG_NON_UNIT = 0, CUDA_R_32F = 0,
        // CUDA_R_64F = 1 (the matrix address is only looked at, never read).
        if (pcreate(&params) == 0 && potrf(h, params, 1, n, 1, a, n, 1, &pd, &ph) == 0 &&
            trtri(h, 1, 0, n, 0, a, n, &td, &th) == 0) {
          char buf[320];
          std::snprintf(buf, sizeof buf,
                        "{\"columns\":%lld,\"potrf_f64_device_bytes\":%zu,"
                        "\"potrf_f64_host_bytes\":%zu,\"trtri_f32_device_bytes\":%zu,"
                        "\"trtri_f32_host_bytes\":%zu}",
                        static_cast<long long>(n), pd, ph, td, th);
          out = buf;
        }
        if (params) pdestroy(params);
        destroy(h);
      }
      cfree(a);
    }
  }
  if (sv) dlclose(sv);
  if (rt) dlclose(rt);
  return out;
}

// tokens x cols activations: low-rank structure + noise + outlier channels, generated
// with BLAS so that data generation does not dominate the benchmark.
std::vector<float> make_inputs(cli::Rng &rng, int64_t tokens, int64_t cols) {
  const int rank = 64;
  std::vector<float> z(static_cast<size_t>(tokens) * rank), basis(static_cast<size_t>(rank) * cols);
  for (auto &v : z) v = static_cast<float>(rng.normal());
  for (auto &v : basis) v = static_cast<float>(rng.normal() / 8.0);
  std::vector<float> x(static_cast<size_t>(tokens) * cols);
  // x = z basis  (tokens x cols) == z (tokens x rank) * (basis^T)^T
  std::vector<float> bt(static_cast<size_t>(cols) * rank);
  for (int64_t j = 0; j < cols; ++j)
    for (int r = 0; r < rank; ++r) bt[j * rank + r] = basis[r * cols + j];
  cli::matmul_xwt(z.data(), bt.data(), x.data(), static_cast<int>(tokens), rank,
                  static_cast<int>(cols));
  std::vector<float> chan(static_cast<size_t>(cols), 1.0f);
  for (int k = 0; k < 8; ++k) chan[rng.next() % static_cast<uint64_t>(cols)] = 20.0f;
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t j = 0; j < cols; ++j) {
      float &v = x[t * cols + j];
      v = chan[j] * (v + 0.1f * static_cast<float>(static_cast<int64_t>(rng.next() % 2001) - 1000) / 1000.0f);
    }
  return x;
}

int run(int argc, char **argv) {
  CLI::App app{"Benchmark statistics and solve on synthetic structured data", "bench"};
  app.option_defaults()->always_capture_default();  // --help shows every default
  int64_t rows = 4096, cols = 4096, tokens = 8192, batch = 2048;
  int repeat = 1;
  bool json = false, progress = false;
  cli::QuantOptions q;
  q.act_order = false;
  app.add_option("--rows", rows, "weight rows (out_features)")->check(CLI::PositiveNumber);
  app.add_option("--cols", cols, "weight columns (in_features)")->check(CLI::PositiveNumber);
  app.add_option("--tokens", tokens, "calibration tokens")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "tokens per add_batch call")->check(CLI::PositiveNumber);
  app.add_option("--repeat", repeat, "solves to time (best is reported)")->check(CLI::PositiveNumber);
  app.add_flag("--json", json, "print one JSON object as the last line");
  std::string codes_out;
  app.add_option("--codes-out", codes_out,
                 "write the first solve's codes (rows x cols uint8, raw) to this file");
  app.add_flag("--progress", progress,
               "also time statistics and solve with and without a no-op counting progress "
               "callback, alternately on two contexts, and print the callback's overhead");
  q.add_to(app);
  if (int rc = cli::parse(app, argc, argv); rc >= 0) return rc;

  return cli::run_guarded([&] {
    const gptaq_config cfg = q.config();
    const bool asym = cfg.method == GPTAQ_METHOD_GPTAQ;
    const char *coretype = std::getenv("OPENBLAS_CORETYPE");
    std::printf("gptaq bench: %s, %lld x %lld, %lld tokens, %d bits, group %d%s%s\n",
                q.method.c_str(), static_cast<long long>(rows), static_cast<long long>(cols),
                static_cast<long long>(tokens), cfg.bits, cfg.group_size,
                cfg.act_order ? ", act-order" : "", cfg.static_groups ? ", static groups" : "");
    std::printf("%s; OPENBLAS_CORETYPE=%s\n", gptaq_build_info(), coretype ? coretype : "(default)");

    cli::Rng rng(12345);
    const int64_t data_tokens = std::min(tokens, batch);
    std::vector<float> xq = make_inputs(rng, data_tokens, cols), xfp;
    if (asym) {
      xfp = xq;
      for (auto &v : xfp) v += 0.05f * static_cast<float>(rng.normal());
    }
    std::vector<float> w(static_cast<size_t>(rows * cols));
    for (auto &v : w) v = static_cast<float>(rng.normal() * 0.02);
    const double sgemm_gflops = measure_sgemm(static_cast<int>(std::min<int64_t>(cols, 4096)), 1024);
    const double base_rss = peak_rss_mib();

    const int64_t G = gptaq_num_groups(cols, cfg.group_size);
    std::vector<uint8_t> codes(static_cast<size_t>(rows * cols));
    std::vector<float> scales(static_cast<size_t>(rows * G * std::max(1, cfg.bits))),
        zeros(static_cast<size_t>(rows * G));
    // One context's statistics and solves.
    struct Timing {
      double stats_s = 0.0, first_s = 0.0, solve_s = 1e30;
      int32_t backend = GPTAQ_BACKEND_CPU;  // the backend the context ran on
    };
    auto measure = [&]() {
      Timing tm;
      gptaq_ctx *ctx = nullptr;
      cli::check(gptaq_ctx_create(&ctx, cols, &cfg), nullptr, "creating the context");
      std::unique_ptr<gptaq_ctx, void (*)(gptaq_ctx *)> guard(ctx, gptaq_ctx_free);
      // Statistics: stream `tokens` tokens in batches (the same synthetic batch reused).
      auto t0 = clock_type::now();
      for (int64_t done = 0; done < tokens; done += data_tokens) {
        const int64_t n = std::min(data_tokens, tokens - done);
        cli::check(gptaq_add_batch(ctx, xq.data(), asym ? xfp.data() : nullptr, n, GPTAQ_DTYPE_F32),
                   ctx, "adding a batch");
      }
      tm.stats_s = cfg.method == GPTAQ_METHOD_RTN ? 0.0 : seconds_since(t0);
      double &solve_s = tm.solve_s, &first_s = tm.first_s;
      for (int r = 0; r < repeat; ++r) {
        // The first solve factors H; later ones reuse the cached factorization.
        gptaq_solve_info info;
        std::memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        auto t1 = clock_type::now();
        int32_t st = cfg.quantizer == GPTAQ_QUANTIZER_BINARY
                         ? gptaq_solve_binary(ctx, w.data(), rows, cols, codes.data(), scales.data(),
                                              zeros.data(), nullptr, nullptr, &info)
                         : gptaq_solve(ctx, w.data(), rows, cols, codes.data(), scales.data(),
                                       zeros.data(), nullptr, nullptr, &info);
        cli::check(st, ctx, "solving");
        const double s = seconds_since(t1);
        if (r == 0) first_s = s;
        solve_s = std::min(solve_s, s);
      }
      tm.backend = gptaq_ctx_backend(ctx);
      return tm;
    };
    const Timing plain = measure();
    const double peak = peak_rss_mib();
    const int32_t used_backend = plain.backend;
    if (!codes_out.empty()) {  // the codes of the plain context's solves (all identical)
      FILE *f = std::fopen(codes_out.c_str(), "wb");
      const bool ok = f && std::fwrite(codes.data(), 1, codes.size(), f) == codes.size();
      if (f) std::fclose(f);
      if (!ok) throw std::runtime_error("cannot write " + codes_out);
    }
    const std::string cusolver_ws =
        used_backend == GPTAQ_BACKEND_CUDA ? cusolver_workspace_json(cols) : "null";
    if (used_backend == GPTAQ_BACKEND_CUDA)
      std::printf("cuSOLVER workspace at %lld columns: %s\n", static_cast<long long>(cols),
                  cusolver_ws.c_str());
    const double stats_s = plain.stats_s, first_s = plain.first_s, solve_s = plain.solve_s;

    const double n = static_cast<double>(cols), m = static_cast<double>(rows),
                 T = static_cast<double>(tokens);
    const double stats_flops = cfg.method == GPTAQ_METHOD_RTN ? 0.0 : (asym ? 3.0 : 1.0) * n * n * T;
    const double factor_flops = cfg.method == GPTAQ_METHOD_RTN ? 0.0 : (2.0 / 3.0) * n * n * n + (asym ? 2.0 * n * n * n : 0.0);
    const double sweep_flops = cfg.method == GPTAQ_METHOD_RTN ? 0.0 : (asym ? 4.0 : 2.0) * m * n * n;
    const double solve_flops = factor_flops + sweep_flops;
    const double stats_floor = stats_flops / (sgemm_gflops * 1e9);
    const double solve_floor = solve_flops / (sgemm_gflops * 1e9);
    const double mat_mib = n * n * 4.0 / (1024.0 * 1024.0);
    std::printf("sgemm rate measured here: %.1f GFLOP/s\n", sgemm_gflops);
    std::printf("statistics: %8.3f s  %7.1f GFLOP/s  floor %.3f s (%.0f%% of the sgemm rate)\n",
                stats_s, stats_s > 0 ? stats_flops / stats_s / 1e9 : 0.0, stats_floor,
                stats_s > 0 ? 100.0 * stats_floor / stats_s : 0.0);
    std::printf("solve:      %8.3f s  %7.1f GFLOP/s  floor %.3f s (%.2fx the floor)\n", first_s,
                first_s > 0 ? solve_flops / first_s / 1e9 : 0.0, solve_floor,
                solve_floor > 0 ? first_s / solve_floor : 0.0);
    if (repeat > 1)
      std::printf("solve with the factorization reused: %.3f s\n", solve_s);
    std::printf("peak RSS %.0f MiB (%.0f MiB before the context; one column^2 fp32 matrix is %.0f MiB)\n",
                peak, base_rss, mat_mib);
    if (progress) {
      // Side by side: a context without a callback (A) and one with a no-op callback that
      // only counts its calls (B) run the same work alternately, best of max(3, repeat)
      // each, so that load from elsewhere hits both alike. Each solve includes the
      // factorization (dropped before it through gptaq_stats_buffers_get).
      int64_t calls = 0;
      gptaq_ctx *c[2] = {nullptr, nullptr};
      cli::check(gptaq_ctx_create(&c[0], cols, &cfg), nullptr, "creating the context");
      std::unique_ptr<gptaq_ctx, void (*)(gptaq_ctx *)> ga(c[0], gptaq_ctx_free);
      cli::check(gptaq_ctx_create(&c[1], cols, &cfg), nullptr, "creating the context");
      std::unique_ptr<gptaq_ctx, void (*)(gptaq_ctx *)> gb(c[1], gptaq_ctx_free);
      cli::check(gptaq_ctx_set_progress(c[1], [](void *u, int32_t, int64_t, int64_t) -> int32_t {
                   ++*static_cast<int64_t *>(u);
                   return 0;
                 }, &calls), c[1], "setting the progress callback");
      double best_stats[2] = {1e30, 1e30}, best_solve[2] = {1e30, 1e30};
      const int reps = std::max(3, repeat);
      for (int r = 0; r < reps; ++r) {
        double st[2] = {0.0, 0.0};
        for (int k = 0; k < 2; ++k) cli::check(gptaq_ctx_reset(c[k]), c[k], "reset");
        for (int64_t done = 0; done < tokens; done += data_tokens) {
          const int64_t nb = std::min(data_tokens, tokens - done);
          for (int j = 0; j < 2; ++j) {
            const int k = (j + r) % 2;
            auto t1 = clock_type::now();
            cli::check(gptaq_add_batch(c[k], xq.data(), asym ? xfp.data() : nullptr, nb,
                                       GPTAQ_DTYPE_F32), c[k], "adding a batch");
            st[k] += seconds_since(t1);
          }
        }
        for (int j = 0; j < 2; ++j) {
          const int k = (j + r) % 2;
          best_stats[k] = std::min(best_stats[k], st[k]);
          gptaq_stats_buffers b;
          b.struct_size = sizeof b;
          cli::check(gptaq_stats_buffers_get(c[k], &b), c[k], "dropping the factorization");
          cli::check(gptaq_stats_commit(c[k]), c[k], "dropping the factorization");
          auto t1 = clock_type::now();
          cli::check(cfg.quantizer == GPTAQ_QUANTIZER_BINARY
                         ? gptaq_solve_binary(c[k], w.data(), rows, cols, codes.data(),
                                              scales.data(), zeros.data(), nullptr, nullptr, nullptr)
                         : gptaq_solve(c[k], w.data(), rows, cols, codes.data(), scales.data(),
                                       zeros.data(), nullptr, nullptr, nullptr),
                     c[k], "solving");
          best_solve[k] = std::min(best_solve[k], seconds_since(t1));
        }
      }
      auto pct = [](double with, double without) { return 100.0 * (with - without) / without; };
      std::printf("progress callback, side by side (best of %d; %lld no-op calls in all):\n"
                  "  statistics %.3f s without, %.3f s with (%+.2f%%)\n"
                  "  solve      %.3f s without, %.3f s with (%+.2f%%)\n",
                  reps, static_cast<long long>(calls), best_stats[0], best_stats[1],
                  pct(best_stats[1], best_stats[0]), best_solve[0], best_solve[1],
                  pct(best_solve[1], best_solve[0]));
    }
    if (json)
      std::printf("{\"method\":\"%s\",\"rows\":%lld,\"cols\":%lld,\"tokens\":%lld,\"bits\":%d,"
                  "\"group_size\":%d,\"act_order\":%d,\"stats_seconds\":%.6f,\"solve_seconds\":%.6f,"
                  "\"solve_reuse_seconds\":%.6f,\"stats_gflops\":%.2f,\"solve_gflops\":%.2f,"
                  "\"sgemm_gflops\":%.2f,\"solve_floor_ratio\":%.3f,\"stats_sgemm_fraction\":%.3f,"
                  "\"peak_rss_mib\":%.1f,\"base_rss_mib\":%.1f,\"backend\":\"%s\","
                  "\"cusolver_workspace\":%s}\n",
                  q.method.c_str(), static_cast<long long>(rows), static_cast<long long>(cols),
                  static_cast<long long>(tokens), cfg.bits, cfg.group_size, cfg.act_order, stats_s,
                  first_s, solve_s, stats_s > 0 ? stats_flops / stats_s / 1e9 : 0.0,
                  first_s > 0 ? solve_flops / first_s / 1e9 : 0.0, sgemm_gflops,
                  solve_floor > 0 ? first_s / solve_floor : 0.0,
                  stats_s > 0 ? stats_floor / stats_s : 0.0, peak, base_rss,
                  used_backend == GPTAQ_BACKEND_CUDA ? "cuda" : "cpu", cusolver_ws.c_str());
    return 0;
  });
}

}  // namespace

GPTAQ_CLI_COMMAND(bench, "bench", "benchmark statistics and solve on synthetic data", run);
