// Command-line options shared by `quantize` and `bench`: method, quantizer and the
// config fields, mapped onto a gptaq_config.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <string>

#include "cli.h"

namespace cli {

struct QuantOptions {
  std::string method = "gptq";
  std::string quantizer;  // "" = from method
  int bits = 4;
  int group_size = 128;
  bool sym = false;
  bool act_order = false;
  bool static_groups = false;
  bool mse = false;
  float damp = 0.01f;
  int block_size = 128;
  float alpha = 0.25f;
  std::string backend = "auto";
  int device = 0;
  int threads = 0;
  int hyper_bits = 0;
  int explore_bits = 1;
  int explore_split = 20;
  std::string objective = "output";

  void add_to(CLI::App &app) {
    app.add_option("--method", method, "rtn | gptq | gptaq | gptqt (= gptq with --quantizer binary)")
        ->check(CLI::IsMember({"rtn", "gptq", "gptaq", "gptqt"}));
    app.add_option("--quantizer", quantizer, "uniform | binary (GPTQT binary coding)")
        ->check(CLI::IsMember({"uniform", "binary"}));
    app.add_option("--bits", bits, "bits per weight (2..8 uniform, 2..4 binary)");
    app.add_option("--group-size", group_size, "columns per group, -1 = one group per row");
    app.add_flag("--sym", sym, "symmetric grid");
    app.add_flag("--act-order", act_order, "quantize columns by decreasing Hessian diagonal");
    app.add_flag("--static-groups", static_groups, "group params from the original weight");
    app.add_flag("--mse", mse, "MSE clip search for scales");
    app.add_option("--damp", damp, "relative damping (default 0.01)");
    app.add_option("--block-size", block_size, "lazy block width (default 128)");
    app.add_option("--alpha", alpha, "GPTAQ asymmetry weight (default 0.25)");
    app.add_option("--backend", backend, "auto | cpu | cuda")
        ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
    app.add_option("--device", device, "CUDA device ordinal");
    app.add_option("--threads", threads, "CPU threads (0 = all)");
    app.add_option("--hyper-bits", hyper_bits, "GPTQT: first-step bits n (default bits + 2)");
    app.add_option("--explore-bits", explore_bits, "GPTQT: scale search span e (default 1)");
    app.add_option("--explore-split", explore_split, "GPTQT: scale candidates S (default 20)");
    app.add_option("--objective", objective, "GPTQT search objective: output | hessian | weight")
        ->check(CLI::IsMember({"output", "hessian", "weight"}));
  }

  bool binary() const { return quantizer == "binary" || (quantizer.empty() && method == "gptqt"); }

  gptaq_config config() const {
    gptaq_config c;
    gptaq_config_init(&c, sizeof c);
    static const std::map<std::string, int> methods = {
        {"rtn", GPTAQ_METHOD_RTN}, {"gptq", GPTAQ_METHOD_GPTQ}, {"gptqt", GPTAQ_METHOD_GPTQ},
        {"gptaq", GPTAQ_METHOD_GPTAQ}};
    static const std::map<std::string, int> backends = {
        {"auto", GPTAQ_BACKEND_AUTO}, {"cpu", GPTAQ_BACKEND_CPU}, {"cuda", GPTAQ_BACKEND_CUDA}};
    static const std::map<std::string, int> objectives = {{"output", GPTAQ_OBJECTIVE_OUTPUT},
                                                          {"hessian", GPTAQ_OBJECTIVE_HESSIAN},
                                                          {"weight", GPTAQ_OBJECTIVE_WEIGHT}};
    c.method = methods.at(method);
    c.quantizer = binary() ? GPTAQ_QUANTIZER_BINARY : GPTAQ_QUANTIZER_UNIFORM;
    c.bits = bits;
    c.group_size = group_size;
    c.sym = sym ? 1 : 0;
    c.act_order = act_order ? 1 : 0;
    c.static_groups = static_groups ? 1 : 0;
    c.mse = mse ? 1 : 0;
    c.damp_percent = damp;
    c.block_size = block_size;
    c.alpha = alpha;
    c.backend = backends.at(backend);
    c.device = device;
    c.num_threads = threads;
    c.hyper_bits = hyper_bits;
    c.explore_bits = explore_bits;
    c.explore_split = explore_split;
    c.objective = objectives.at(objective);
    return c;
  }
};

// Parse argv for a subcommand; returns -1 to continue, or the exit code (help / error).
inline int parse(CLI::App &app, int argc, char **argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp &e) {
    return app.exit(e);
  } catch (const CLI::ParseError &e) {
    std::fprintf(stderr, "gptaq: error: %s\n", e.what());
    return 2;
  }
  return -1;
}

}  // namespace cli
