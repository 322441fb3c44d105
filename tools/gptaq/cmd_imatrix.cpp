// gptaq imatrix: stream calibration inputs (.npy, tokens x columns) through contexts and
// write llama.cpp's importance matrix (GGUF, or the legacy .dat) for the named weights.
// Weights that read the same input file share one pass over it.
#include <map>
#include <memory>
#include <vector>

#include "options.h"
#include "progress.h"

namespace {

struct NpyIn {
  gptaq_npy_reader *r = nullptr;
  int32_t dtype = 0;
  int64_t rows = 0, cols = 0;
  explicit NpyIn(const std::string &path) {
    cli::check(gptaq_npy_open(&r, path.c_str()), nullptr, ("reading " + path).c_str());
    gptaq_npy_info(r, &dtype, &rows, &cols);
  }
  ~NpyIn() { gptaq_npy_close(r); }
  NpyIn(const NpyIn &) = delete;
  NpyIn &operator=(const NpyIn &) = delete;
};

int run(int argc, char **argv) {
  CLI::App app{"Write a llama.cpp importance matrix from streamed calibration inputs", "imatrix"};
  app.option_defaults()->always_capture_default();  // --help shows every default
  std::vector<std::string> inputs, datasets;
  std::string out_path, format = "gguf", backend = "auto";
  int32_t chunk_size = 512;
  int64_t batch_tokens = 1024;
  int threads = 0;
  app.add_option("--input", inputs,
                 "NAME=FILE.npy: the weight NAME (a GGUF name such as blk.0.attn_q.weight) reads "
                 "the inputs in FILE (float32/float16, tokens x in_features); repeat for more "
                 "weights, weights naming the same file share one pass")
      ->required();
  app.add_option("--out", out_path, "output file, e.g. imatrix.gguf")->required();
  app.add_option("--format", format, "gguf (current llama.cpp) | dat (legacy)")
      ->check(CLI::IsMember({"gguf", "dat"}));
  app.add_option("--chunk-size", chunk_size, "tokens per chunk recorded in the file (default 512)")
      ->check(CLI::PositiveNumber);
  app.add_option("--dataset", datasets, "dataset name(s) recorded in imatrix.datasets");
  app.add_option("--batch-tokens", batch_tokens, "tokens streamed per batch (default 1024)")
      ->check(CLI::PositiveNumber);
  app.add_option("--backend", backend, "auto | cpu | cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--threads", threads, "CPU threads (0 = all)");
  cli::ProgressOptions po;
  po.add_to(app);
  if (int rc = cli::parse(app, argc, argv); rc >= 0) return rc;

  return cli::run_guarded([&] {
    std::map<std::string, std::vector<std::string>> by_file;  // file -> weight names
    for (const std::string &in : inputs) {
      const size_t eq = in.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == in.size())
        cli::die("--input %s: expected NAME=FILE.npy", in.c_str());
      by_file[in.substr(eq + 1)].push_back(in.substr(0, eq));
    }
    gptaq_imatrix *im = nullptr;
    cli::check(gptaq_imatrix_create(&im), nullptr, "creating the imatrix");
    std::unique_ptr<gptaq_imatrix, void (*)(gptaq_imatrix *)> img(im, gptaq_imatrix_free);
    cli::check(gptaq_imatrix_set_chunk_size(im, chunk_size), nullptr, "--chunk-size");
    for (const auto &d : datasets) cli::check(gptaq_imatrix_add_dataset(im, d.c_str()), nullptr, "--dataset");

    gptaq_config cfg;
    gptaq_config_init(&cfg, sizeof cfg);
    cfg.method = GPTAQ_METHOD_RTN;  // statistics only
    cfg.backend = backend == "cpu" ? GPTAQ_BACKEND_CPU : backend == "cuda" ? GPTAQ_BACKEND_CUDA
                                                                           : GPTAQ_BACKEND_AUTO;
    cfg.num_threads = threads;
    cli::install_sigint();
    cli::Reporter reporter(po);
    cli::OutputFiles outputs;
    outputs.dir(cli::parent_dir(out_path));
    for (const auto &kv : by_file) {
      const std::string &path = kv.first;
      NpyIn x(path);
      if (x.dtype != GPTAQ_DTYPE_F32 && x.dtype != GPTAQ_DTYPE_F16)
        cli::die("%s: inputs must be float32 or float16", path.c_str());
      gptaq_ctx *ctx = nullptr;
      cli::check(gptaq_ctx_create(&ctx, x.cols, &cfg), nullptr, "creating the context");
      std::unique_ptr<gptaq_ctx, void (*)(gptaq_ctx *)> guard(ctx, gptaq_ctx_free);
      reporter.attach(ctx);
      int64_t streamed = 0;
      const size_t es = x.dtype == GPTAQ_DTYPE_F32 ? 4 : 2;
      std::vector<unsigned char> buf(static_cast<size_t>(batch_tokens * x.cols) * es);
      for (;;) {
        cli::stop_if_interrupted();
        int64_t n = 0;
        cli::check(gptaq_npy_read_rows(x.r, buf.data(), batch_tokens, &n), nullptr,
                   ("reading " + path).c_str());
        if (n == 0) break;
        reporter.stream(streamed, x.rows);
        cli::check_cancellable(gptaq_add_batch(ctx, buf.data(), nullptr, n, x.dtype), ctx,
                               ("adding a batch from " + path).c_str());
        streamed += n;
      }
      for (const std::string &name : kv.second) {
        cli::check(gptaq_imatrix_add_ctx(im, name.c_str(), ctx), nullptr, ("adding " + name).c_str());
        std::printf("%s: %lld inputs, %lld tokens from %s\n", name.c_str(),
                    static_cast<long long>(x.cols), static_cast<long long>(gptaq_ctx_num_tokens(ctx)),
                    path.c_str());
      }
    }
    cli::check(gptaq_imatrix_save(im, outputs.temp(out_path).c_str(),
                                  format == "dat" ? GPTAQ_IMATRIX_DAT : GPTAQ_IMATRIX_GGUF),
               nullptr, ("writing " + out_path).c_str());
    outputs.commit();
    std::printf("wrote %s (%s, %zu weights)\n", out_path.c_str(), format.c_str(), inputs.size());
    return 0;
  });
}

}  // namespace

GPTAQ_CLI_COMMAND(imatrix, "imatrix", "write a llama.cpp importance matrix (GGUF or .dat)", run);
