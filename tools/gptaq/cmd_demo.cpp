// gptaq demo: a deterministic multi-layer network quantized layer by layer with real
// asymmetric calibration. x_q comes from the already-quantized prefix, x_fp from the
// full-precision model; GPTQ calibrates on x_q alone, GPTAQ on the pair. Prints the final
// output's relative error on held-out tokens and the time per method.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "linalg.h"
#include "options.h"
#include "progress.h"
#include "svg_chart.h"

namespace {

struct Layer {
  int in, out;
  std::vector<float> w;  // out x in
};

struct Variant {
  const char *name;
  int32_t method;
  int32_t quantizer;
  int32_t bits;
  int order = 0;  // 0: the run's column order (--no-act-order), kGar, kNatural
};
constexpr int kGar = 1;      // group-aware reordering
constexpr int kNatural = 2;  // no reordering

float gelu(float v) {
  return 0.5f * v * (1.0f + std::tanh(0.7978845608f * (v + 0.044715f * v * v * v)));
}

// One layer forward: y = act(x W^T) (no activation after the last layer).
std::vector<float> forward_layer(const std::vector<float> &x, const float *w, int t, int in,
                                 int out, bool act) {
  std::vector<float> y(static_cast<size_t>(t) * out);
  cli::matmul_xwt(x.data(), w, y.data(), t, in, out);
  if (act)
    for (auto &v : y) v = gelu(v);
  return y;
}

std::vector<Layer> make_network(cli::Rng &rng, const std::vector<int> &widths) {
  std::vector<Layer> net;
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    Layer L{widths[l], widths[l + 1], {}};
    L.w.resize(static_cast<size_t>(L.in) * L.out);
    const double sd = 1.6 / std::sqrt(static_cast<double>(L.in));
    for (auto &v : L.w) {
      double z = rng.normal() * sd;
      if (rng.uniform() < 0.005) z *= 6.0;  // a few large weights, as real layers have
      v = static_cast<float>(z);
    }
    net.push_back(std::move(L));
  }
  return net;
}

// Quantize `w` against ctx; returns the dequantized weight.
std::vector<float> solve_layer(gptaq_ctx *ctx, const gptaq_config &cfg, const Layer &L) {
  const int64_t G = gptaq_num_groups(L.in, cfg.group_size);
  std::vector<uint8_t> codes(static_cast<size_t>(L.out) * L.in);
  std::vector<float> dq(static_cast<size_t>(L.out) * L.in);
  if (cfg.quantizer == GPTAQ_QUANTIZER_BINARY) {
    std::vector<float> alpha(static_cast<size_t>(L.out * G * cfg.bits)), bias(static_cast<size_t>(L.out * G));
    cli::check(gptaq_solve_binary(ctx, L.w.data(), L.out, L.in, codes.data(), alpha.data(),
                                  bias.data(), nullptr, dq.data(), nullptr),
               ctx, "solving");
  } else {
    std::vector<float> scales(static_cast<size_t>(L.out * G)), zeros(static_cast<size_t>(L.out * G));
    cli::check(gptaq_solve(ctx, L.w.data(), L.out, L.in, codes.data(), scales.data(),
                           zeros.data(), nullptr, dq.data(), nullptr),
               ctx, "solving");
  }
  return dq;
}

double rel_err(const std::vector<float> &a, const std::vector<float> &ref) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = static_cast<double>(a[i]) - ref[i];
    num += d * d;
    den += static_cast<double>(ref[i]) * ref[i];
  }
  return std::sqrt(num / den);
}

std::string variant_label(const Variant &v) {
  return std::string(v.name) + (v.quantizer == GPTAQ_QUANTIZER_BINARY ? " (binary)" : "") +
         (v.order == kGar ? " GAR" : v.order == kNatural ? " natural" : "");
}

// --report DIR: the table as Markdown and the error by method and bits as an SVG chart,
// both renamed into place only when both are written.
void write_report(const std::string &dir, const std::vector<Variant> &variants,
                  const std::vector<double> &errs, const std::vector<double> &times,
                  int calib_tokens, int eval_tokens, int group_size, bool act_order) {
  cli::OutputFiles outputs;
  std::vector<cli::ChartBar> bars;
  std::string md = cli::format(
      "# gptaq demo\n\nOutput relative error of a 6-layer GELU network quantized layer by "
      "layer (%d calibration tokens, %d held-out tokens, asymmetric grid, group %d, "
      "act-order %s). Lower is better.\n\n![error by method and bits](demo.svg)\n\n"
      "| method | quantizer | bits | output rel. error | time (s) |\n"
      "|---|---|---:|---:|---:|\n",
      calib_tokens, eval_tokens, group_size, act_order ? "on" : "off");
  for (size_t i = 0; i < variants.size(); ++i) {
    const Variant &v = variants[i];
    md += cli::format("| %s | %s | %d | %.5f | %.3f |\n", variant_label(v).c_str(),
                      v.quantizer == GPTAQ_QUANTIZER_BINARY ? "binary" : "uniform", v.bits,
                      errs[i], times[i]);
    bars.push_back({variant_label(v), v.bits, errs[i]});
  }
  const std::string svg = cli::svg_bar_chart(
      bars, "gptaq demo: output error by method and bits",
      "relative error of the network output on held-out tokens");
  const std::pair<std::string, const std::string *> files[] = {{"demo.md", &md},
                                                                {"demo.svg", &svg}};
  for (const auto &f : files) {
    const std::string path = dir + "/" + f.first, tmp = outputs.temp(path);
    std::FILE *fp = std::fopen(tmp.c_str(), "wb");
    if (!fp) cli::die("cannot write %s: %s", path.c_str(), std::strerror(errno));
    const bool ok = std::fwrite(f.second->data(), 1, f.second->size(), fp) == f.second->size();
    if (std::fclose(fp) != 0 || !ok) cli::die("cannot write %s", path.c_str());
  }
  outputs.commit();
  std::printf("\nwrote %s/demo.md and %s/demo.svg\n", dir.c_str(), dir.c_str());
}

int run(int argc, char **argv) {
  CLI::App app{"Quantize a deterministic multi-layer network with RTN, GPTQ and GPTAQ", "demo"};
  app.option_defaults()->always_capture_default();  // --help shows every default
  int calib_tokens = 2048, eval_tokens = 512, group_size = 128, batch = 256;
  std::string backend = "auto", report_dir;
  bool act_order = true;
  app.add_option("--calib-tokens", calib_tokens, "calibration tokens (default 2048)")
      ->check(CLI::Range(16, 1 << 20));
  app.add_option("--eval-tokens", eval_tokens, "held-out tokens (default 512)")
      ->check(CLI::Range(16, 1 << 20));
  app.add_option("--group-size", group_size, "group size (default 128)");
  app.add_option("--backend", backend, "auto | cpu | cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_flag("!--no-act-order", act_order, "quantize columns in natural order");
  app.add_option("--report", report_dir,
                 "also write the comparison to DIR/demo.md (a Markdown table) and DIR/demo.svg "
                 "(a chart of the error by method and bits); DIR is created if missing");
  if (int rc = cli::parse(app, argc, argv); rc >= 0) return rc;

  return cli::run_guarded([&] {
    const std::vector<int> widths = {512, 1024, 512, 1024, 512, 1024, 512};
    cli::Rng rng(20250123);
    const std::vector<Layer> net = make_network(rng, widths);
    // Calibration and held-out tokens are two slices of one draw (same distribution).
    const std::vector<float> all =
        cli::structured_inputs(rng, calib_tokens + eval_tokens, widths[0], 48, 8, 20.0);
    const std::vector<float> xc(all.begin(), all.begin() + static_cast<size_t>(calib_tokens) * widths[0]);
    const std::vector<float> xe(all.begin() + static_cast<size_t>(calib_tokens) * widths[0], all.end());

    // Full-precision reference outputs on the held-out tokens.
    std::vector<float> y_fp = xe;
    for (size_t l = 0; l < net.size(); ++l)
      y_fp = forward_layer(y_fp, net[l].w.data(), eval_tokens, net[l].in, net[l].out,
                           l + 1 < net.size());

    const std::vector<Variant> variants = {
        {"RTN", GPTAQ_METHOD_RTN, GPTAQ_QUANTIZER_UNIFORM, 4},
        {"GPTQ", GPTAQ_METHOD_GPTQ, GPTAQ_QUANTIZER_UNIFORM, 4},
        {"GPTAQ", GPTAQ_METHOD_GPTAQ, GPTAQ_QUANTIZER_UNIFORM, 4},
        {"GPTQ", GPTAQ_METHOD_GPTQ, GPTAQ_QUANTIZER_UNIFORM, 4, kGar},
        {"GPTAQ", GPTAQ_METHOD_GPTAQ, GPTAQ_QUANTIZER_UNIFORM, 4, kGar},
        {"GPTQ", GPTAQ_METHOD_GPTQ, GPTAQ_QUANTIZER_UNIFORM, 4, kNatural},
        {"RTN", GPTAQ_METHOD_RTN, GPTAQ_QUANTIZER_UNIFORM, 3},
        {"GPTQ", GPTAQ_METHOD_GPTQ, GPTAQ_QUANTIZER_UNIFORM, 3},
        {"GPTAQ", GPTAQ_METHOD_GPTAQ, GPTAQ_QUANTIZER_UNIFORM, 3},
        {"GPTQ", GPTAQ_METHOD_GPTQ, GPTAQ_QUANTIZER_UNIFORM, 3, kGar},
        {"GPTAQ", GPTAQ_METHOD_GPTAQ, GPTAQ_QUANTIZER_UNIFORM, 3, kGar},
        {"GPTQ", GPTAQ_METHOD_GPTQ, GPTAQ_QUANTIZER_UNIFORM, 3, kNatural},
        {"GPTQT", GPTAQ_METHOD_GPTQ, GPTAQ_QUANTIZER_BINARY, 3},
        {"GPTAQ", GPTAQ_METHOD_GPTAQ, GPTAQ_QUANTIZER_BINARY, 3},
        {"RTN", GPTAQ_METHOD_RTN, GPTAQ_QUANTIZER_UNIFORM, 2},
        {"GPTQ", GPTAQ_METHOD_GPTQ, GPTAQ_QUANTIZER_UNIFORM, 2},
        {"GPTAQ", GPTAQ_METHOD_GPTAQ, GPTAQ_QUANTIZER_UNIFORM, 2},
        {"GPTQ", GPTAQ_METHOD_GPTQ, GPTAQ_QUANTIZER_UNIFORM, 2, kGar},
        {"GPTAQ", GPTAQ_METHOD_GPTAQ, GPTAQ_QUANTIZER_UNIFORM, 2, kGar},
        {"GPTQ", GPTAQ_METHOD_GPTQ, GPTAQ_QUANTIZER_UNIFORM, 2, kNatural},
        {"GPTQT", GPTAQ_METHOD_GPTQ, GPTAQ_QUANTIZER_BINARY, 2},
        {"GPTAQ", GPTAQ_METHOD_GPTAQ, GPTAQ_QUANTIZER_BINARY, 2},
    };

    std::printf("gptaq demo: %zu linear layers (widths", net.size());
    for (int w : widths) std::printf(" %d", w);
    std::printf(") with GELU, heavy-tailed inputs with outlier channels\n");
    std::printf("%d calibration tokens, %d held-out tokens; asymmetric grid, group %d, act-order %s; "
                "backend %s\n\n",
                calib_tokens, eval_tokens, group_size, act_order ? "on" : "off", backend.c_str());
    std::printf("order: the column order of the solve (act-order, natural, or GAR = group-aware\n"
                "reordering: act-order inside each group and over groups, g_idx stays trivial)\n");
    std::printf("binary = GPTQT's binary coding (n = bits + 2, e = 1, S = 20, output objective) with\n"
                "the same code bits and groups as the uniform rows; per group it stores bits alphas\n"
                "and 1 bias (uniform: 1 scale and 1 zero)\n\n");
    std::printf("%-8s %-9s %-9s %5s  %-22s %9s\n", "method", "quantizer", "order", "bits",
                "output rel. error", "time (s)");
    std::printf("%-8s %-9s %-9s %5s  %-22s %9s\n", "--------", "---------", "---------", "----",
                "----------------------", "--------");

    std::vector<double> errs, times;
    for (const Variant &v : variants) {
      cli::QuantOptions q;
      q.backend = backend;
      gptaq_config cfg = q.config();
      cfg.method = v.method;
      cfg.quantizer = v.quantizer;
      cfg.bits = v.bits;
      cfg.group_size = group_size;
      cfg.sym = 0;
      cfg.act_order = act_order && v.order == 0 ? 1 : 0;
      cfg.act_group_aware = v.order == kGar && group_size > 0 ? 1 : 0;
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<float> x_q = xc, x_fp = xc, e_q = xe;
      for (size_t l = 0; l < net.size(); ++l) {
        const Layer &L = net[l];
        const bool last = l + 1 == net.size();
        gptaq_ctx *ctx = nullptr;
        cli::check(gptaq_ctx_create(&ctx, L.in, &cfg), nullptr, "creating a context");
        std::unique_ptr<gptaq_ctx, void (*)(gptaq_ctx *)> guard(ctx, gptaq_ctx_free);
        if (v.method != GPTAQ_METHOD_RTN) {
          for (int t0b = 0; t0b < calib_tokens; t0b += batch) {
            const int n = std::min(batch, calib_tokens - t0b);
            const size_t off = static_cast<size_t>(t0b) * L.in;
            cli::check(gptaq_add_batch(ctx, x_q.data() + off,
                                       v.method == GPTAQ_METHOD_GPTAQ ? x_fp.data() + off : nullptr,
                                       n, GPTAQ_DTYPE_F32),
                       ctx, "adding a batch");
          }
        }
        const std::vector<float> dq = solve_layer(ctx, cfg, L);
        if (!last) {
          x_q = forward_layer(x_q, dq.data(), calib_tokens, L.in, L.out, true);
          x_fp = forward_layer(x_fp, L.w.data(), calib_tokens, L.in, L.out, true);
        }
        e_q = forward_layer(e_q, dq.data(), eval_tokens, L.in, L.out, !last);
      }
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double err = rel_err(e_q, y_fp);
      errs.push_back(err);
      times.push_back(secs);
      const char *order = v.method == GPTAQ_METHOD_RTN ? "-"
                          : cfg.act_group_aware        ? "GAR"
                          : cfg.act_order              ? "act-order"
                                                       : "natural";
      std::printf("%-8s %-9s %-9s %5d  %-22.5f %9.3f\n", v.name,
                  v.quantizer == GPTAQ_QUANTIZER_BINARY ? "binary" : "uniform", order, v.bits,
                  err, secs);
    }

    std::printf("\n");
    for (int bits : {4, 3, 2}) {
      double gq = -1, ga = -1, gq_gar = -1, gq_nat = -1;
      for (size_t i = 0; i < variants.size(); ++i) {
        if (variants[i].bits != bits || variants[i].quantizer != GPTAQ_QUANTIZER_UNIFORM) continue;
        if (variants[i].order != 0) {
          if (variants[i].method == GPTAQ_METHOD_GPTQ)
            (variants[i].order == kGar ? gq_gar : gq_nat) = errs[i];
          continue;
        }
        if (variants[i].method == GPTAQ_METHOD_GPTQ) gq = errs[i];
        if (variants[i].method == GPTAQ_METHOD_GPTAQ) ga = errs[i];
      }
      if (gq > 0 && ga > 0)
        std::printf("%d bits: GPTAQ error is %.1f%% %s than GPTQ's\n", bits,
                    100.0 * std::fabs(ga - gq) / gq, ga < gq ? "lower" : "higher");
      if (gq > 0 && gq_gar > 0 && gq_nat > 0 && group_size > 0)
        std::printf("%d bits: GPTQ with GAR (trivial g_idx): error %.1f%% %s than in the natural "
                    "order, %.1f%% %s than with %s\n",
                    bits, 100.0 * std::fabs(gq_gar - gq_nat) / gq_nat,
                    gq_gar < gq_nat ? "lower" : "higher", 100.0 * std::fabs(gq_gar - gq) / gq,
                    gq_gar < gq ? "lower" : "higher", act_order ? "act-order" : "the run's order");
      // GPTQT = the GPTQ solver with GPTQT's binary coding, same code bits and groups.
      for (size_t i = 0; i < variants.size(); ++i)
        if (variants[i].bits == bits && variants[i].quantizer == GPTAQ_QUANTIZER_BINARY &&
            gq > 0)
          std::printf("%d bits: %s error is %.1f%% %s than GPTQ's uniform grid\n", bits,
                      variants[i].method == GPTAQ_METHOD_GPTAQ ? "GPTAQ+binary" : "GPTQT",
                      100.0 * std::fabs(errs[i] - gq) / gq,
                      errs[i] < gq ? "lower" : "higher");
    }
    if (!report_dir.empty()) write_report(report_dir, variants, errs, times, calib_tokens,
                                          eval_tokens, group_size, act_order);
    return 0;
  });
}

}  // namespace

GPTAQ_CLI_COMMAND(demo, "demo", "quantize a built-in multi-layer network with every method", run);
