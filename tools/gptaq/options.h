// Command-line options shared by `quantize` and `bench`: method, quantizer and the
// config fields, mapped onto a gptaq_config.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <string>

#include "cli.h"

namespace cli {

// The library's defaults (gptaq_config_init): the tool has no defaults of its own, so a
// command line without options quantizes exactly as a binding with a default config.
inline gptaq_config library_defaults() {
  gptaq_config c;
  gptaq_config_init(&c, sizeof c);
  return c;
}

inline const char *method_name(int32_t m) {
  return m == GPTAQ_METHOD_RTN ? "rtn" : m == GPTAQ_METHOD_GPTAQ ? "gptaq" : "gptq";
}
inline const char *backend_name(int32_t b) {
  return b == GPTAQ_BACKEND_CPU ? "cpu" : b == GPTAQ_BACKEND_CUDA ? "cuda" : "auto";
}
inline const char *objective_name(int32_t o) {
  return o == GPTAQ_OBJECTIVE_HESSIAN ? "hessian" : o == GPTAQ_OBJECTIVE_WEIGHT ? "weight" : "output";
}

struct QuantOptions {
  gptaq_config lib = library_defaults();
  std::string method = method_name(lib.method);
  std::string quantizer;  // "" = from method
  int bits = lib.bits;
  int group_size = lib.group_size;
  bool sym = lib.sym != 0;
  bool act_order = lib.act_order != 0;
  bool act_group_aware = lib.act_group_aware != 0;
  bool static_groups = lib.static_groups != 0;
  bool mse = lib.mse != 0;
  float damp = lib.damp_percent;
  int block_size = lib.block_size;
  float alpha = lib.alpha;
  std::string backend = backend_name(lib.backend);
  int device = lib.device;
  int threads = lib.num_threads;
  int failsafe_tokens = lib.failsafe_tokens;
  int hyper_bits = lib.hyper_bits;
  int explore_bits = lib.explore_bits;
  int explore_split = lib.explore_split;
  std::string objective = objective_name(lib.objective);

  // Every option shows its default in --help (the library's, see library_defaults).
  void add_to(CLI::App &app) {
    auto onoff = [](bool v) { return std::string(v ? "[default: on]" : "[default: off]"); };
    app.add_option("--method", method, "rtn | gptq | gptaq | gptqt (= gptq with --quantizer binary)")
        ->check(CLI::IsMember({"rtn", "gptq", "gptaq", "gptqt"}))
        ->capture_default_str();
    app.add_option("--quantizer", quantizer,
                   "uniform | binary (GPTQT binary coding) [default: binary for --method gptqt, "
                   "else uniform]")
        ->check(CLI::IsMember({"uniform", "binary"}));
    app.add_option("--bits", bits, "bits per weight (2..8 uniform, 2..4 binary)")
        ->capture_default_str();
    app.add_option("--group-size", group_size, "columns per group, -1 = one group per row")
        ->capture_default_str();
    // --sym / --asym: the grid, one or the other (giving both is an error).
    CLI::Option *s = app.add_flag_callback("--sym", [this] { sym = true; },
                                           "symmetric grid, zero = 2^(bits-1) " + onoff(sym));
    CLI::Option *a = app.add_flag_callback(
        "--asym", [this] { sym = false; },
        "asymmetric grid, zero from the group's range " + onoff(!sym));
    s->excludes(a);
    app.add_flag("--act-order", act_order, "quantize columns by decreasing Hessian diagonal " +
                                               onoff(act_order));
    app.add_flag("--act-group-aware", act_group_aware,
                 "group-aware reordering (GAR): act-order inside each group and over groups, "
                 "groups stay contiguous so g_idx is trivial; needs --group-size > 0, excludes "
                 "--act-order " + onoff(act_group_aware));
    app.add_flag("--static-groups", static_groups,
                 "group params from the original weight " + onoff(static_groups));
    app.add_flag("--mse", mse, "MSE clip search for scales " + onoff(mse));
    app.add_option("--damp", damp, "relative damping")->capture_default_str();
    app.add_option("--block-size", block_size, "lazy block width")->capture_default_str();
    app.add_option("--alpha", alpha, "GPTAQ asymmetry weight")->capture_default_str();
    app.add_option("--failsafe-tokens", failsafe_tokens,
                   "round-to-nearest instead of the solver when the calibration holds fewer "
                   "tokens than this (none included); 0 = off")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    app.add_option("--backend", backend, "auto | cpu | cuda")
        ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
        ->capture_default_str();
    app.add_option("--device", device, "CUDA device ordinal")->capture_default_str();
    app.add_option("--threads", threads, "CPU threads (0 = all)")->capture_default_str();
    app.add_option("--hyper-bits", hyper_bits, "GPTQT: first-step bits n (0 = bits + 2)")
        ->capture_default_str();
    app.add_option("--explore-bits", explore_bits, "GPTQT: scale search span e")
        ->capture_default_str();
    app.add_option("--explore-split", explore_split, "GPTQT: scale candidates S")
        ->capture_default_str();
    app.add_option("--objective", objective, "GPTQT search objective: output | hessian | weight")
        ->check(CLI::IsMember({"output", "hessian", "weight"}))
        ->capture_default_str();
  }

  bool binary() const { return quantizer == "binary" || (quantizer.empty() && method == "gptqt"); }

  gptaq_config config() const {
    gptaq_config c = library_defaults();
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
    c.act_group_aware = act_group_aware ? 1 : 0;
    c.failsafe_tokens = failsafe_tokens;
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
