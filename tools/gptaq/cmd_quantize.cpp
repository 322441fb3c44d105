// gptaq quantize: a weight and streamed calibration inputs from .npy files -> codes,
// scales/zeros (or GPTQT alpha/bias), g_idx and the dequantized weight as .npy files.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "checkpoint.h"
#include "options.h"
#include "progress.h"

namespace {

struct Npy {
  gptaq_npy_reader *r = nullptr;
  int32_t dtype = 0;
  int64_t rows = 0, cols = 0;
  explicit Npy(const std::string &path) {
    cli::check(gptaq_npy_open(&r, path.c_str()), nullptr, ("reading " + path).c_str());
    gptaq_npy_info(r, &dtype, &rows, &cols);
  }
  ~Npy() { gptaq_npy_close(r); }
  Npy(const Npy &) = delete;
  Npy &operator=(const Npy &) = delete;
};

size_t elem_size(int32_t dt) { return dt == GPTAQ_DTYPE_F32 ? 4 : 2; }

void write_npy(const std::string &path, int32_t dtype, std::vector<int64_t> shape,
               const void *data) {
  cli::check(gptaq_npy_write_nd(path.c_str(), dtype, static_cast<int32_t>(shape.size()),
                                shape.data(), data),
             nullptr, ("writing " + path).c_str());
}

int run(int argc, char **argv) {
  CLI::App app{"Quantize one weight from .npy files with streamed calibration inputs", "quantize"};
  std::string weight_path, calib_path, calib_fp_path, out_dir;
  int64_t batch_tokens = 1024;
  cli::QuantOptions q;
  std::string tensor_name, ckpt_format, layer_name, save_path;
  app.add_option("--weight", weight_path,
                 "weight: float32 rows x cols .npy, or a .safetensors file (with --tensor)")
      ->required();
  app.add_option("--tensor", tensor_name,
                 "the weight's tensor name in a .safetensors --weight (F32, F16 or BF16), e.g. "
                 "model.layers.0.self_attn.q_proj.weight");
  app.add_option("--format", ckpt_format, "checkpoint format for --save: gptq (v1) | gptq_v2 [default: gptq]")
      ->check(CLI::IsMember({"gptq", "gptq_v2"}));
  app.add_option("--name", layer_name,
                 "layer path P of the saved tensors P.qweight, P.qzeros, P.scales, P.g_idx "
                 "(default: --tensor without .weight)");
  app.add_option("--save", save_path,
                 "write the packed GPTQ tensors to this .safetensors file and "
                 "quantize_config.json beside it");
  app.add_option("--calib", calib_path, "calibration inputs x_q, float32/float16 tokens x cols .npy");
  app.add_option("--calib-fp", calib_fp_path,
                 "GPTAQ: full-precision model's inputs, same shape and dtype as --calib");
  app.add_option("--out", out_dir, "output directory for .npy results (created if missing)");
  app.add_option("--batch-tokens", batch_tokens, "tokens streamed per batch (default 1024)")
      ->check(CLI::PositiveNumber);
  q.add_to(app);
  cli::ProgressOptions po;
  po.add_to(app);
  if (int rc = cli::parse(app, argc, argv); rc >= 0) return rc;

  return cli::run_guarded([&] {
    const gptaq_config cfg = q.config();
    if (out_dir.empty() && save_path.empty()) cli::die("give --out DIR and/or --save FILE");
    if (!save_path.empty() && q.binary())
      cli::die("--save writes the GPTQ format, which holds the uniform quantizer only");
    const bool from_st = cli::ends_with(weight_path, ".safetensors");
    if (from_st && tensor_name.empty())
      cli::die("--weight %s is a safetensors file: name the tensor with --tensor", weight_path.c_str());
    if (!from_st && !tensor_name.empty()) cli::die("--tensor needs a .safetensors --weight");
    if (layer_name.empty()) {
      layer_name = tensor_name;
      if (cli::ends_with(layer_name, ".weight")) layer_name.resize(layer_name.size() - 7);
    }
    if (!save_path.empty() && layer_name.empty()) cli::die("--save needs --name (the layer path)");
    if (save_path.empty() && (!ckpt_format.empty() || (!layer_name.empty() && !from_st)))
      cli::die("--format and --name describe the --save checkpoint: give --save FILE.safetensors");
    int64_t rows = 0, cols = 0;
    std::vector<float> weight;
    std::string bias_dtype;
    std::vector<unsigned char> bias_raw;
    std::vector<int64_t> bias_shape;
    if (from_st) {
      cli::SafeTensors st(weight_path);
      weight = cli::read_weight(st, tensor_name, rows, cols);
      // Carry the layer's bias into the saved checkpoint unchanged.
      std::string bname = tensor_name;
      if (cli::ends_with(bname, ".weight")) bname = bname.substr(0, bname.size() - 7) + ".bias";
      if (bname != tensor_name && st.has(bname)) {
        const cli::TensorInfo bt = st.info(bname);
        bias_dtype = bt.dtype;
        bias_shape = bt.shape;
        bias_raw = st.raw(bt);
      }
    } else {
      Npy w(weight_path);
      if (w.dtype != GPTAQ_DTYPE_F32)
        cli::die("%s: the weight must be float32 (<f4)", weight_path.c_str());
      rows = w.rows;
      cols = w.cols;
      weight.resize(static_cast<size_t>(rows * cols));
      int64_t got = 0;
      cli::check(gptaq_npy_read_rows(w.r, weight.data(), rows, &got), nullptr,
                 ("reading " + weight_path).c_str());
    }
    const int32_t gptq_format = ckpt_format == "gptq_v2" ? GPTAQ_GPTQ_V2 : GPTAQ_GPTQ_V1;
    if (!save_path.empty())  // fail before the solve when the shape cannot be packed
      cli::check(gptaq_gptq_shapes(rows, cols, cfg.group_size, cfg.bits, nullptr, nullptr, nullptr),
                 nullptr, ("--save " + save_path).c_str());

    gptaq_ctx *ctx = nullptr;
    cli::check(gptaq_ctx_create(&ctx, cols, &cfg), nullptr, "creating the context");
    std::unique_ptr<gptaq_ctx, void (*)(gptaq_ctx *)> guard(ctx, gptaq_ctx_free);
    cli::install_sigint();
    cli::Reporter reporter(po);
    reporter.attach(ctx);
    // Every output goes to a temporary name first (the folders are made now, so that a
    // bad path fails before the solve) and is renamed only when all are written.
    cli::OutputFiles outputs;
    if (!out_dir.empty()) outputs.dir(out_dir);
    if (!save_path.empty()) outputs.dir(cli::dir_of(save_path));

    const bool needs_fp = cfg.method == GPTAQ_METHOD_GPTAQ;
    if (needs_fp && calib_fp_path.empty())
      cli::die("--method gptaq needs --calib-fp (the full-precision model's inputs)");
    if (!needs_fp && !calib_fp_path.empty())
      cli::die("--calib-fp is only used by --method gptaq");
    if (cfg.method != GPTAQ_METHOD_RTN && calib_path.empty())
      cli::die("--method %s needs --calib", q.method.c_str());
    if (!calib_path.empty()) {
      Npy x(calib_path);
      if (x.dtype != GPTAQ_DTYPE_F32 && x.dtype != GPTAQ_DTYPE_F16)
        cli::die("%s: calibration inputs must be float32 or float16", calib_path.c_str());
      if (x.cols != cols)
        cli::die("%s has %lld columns but the weight %s has %lld", calib_path.c_str(),
                 static_cast<long long>(x.cols), weight_path.c_str(), static_cast<long long>(cols));
      std::unique_ptr<Npy> xf;
      if (needs_fp) {
        xf.reset(new Npy(calib_fp_path));
        if (xf->rows != x.rows || xf->cols != x.cols || xf->dtype != x.dtype)
          cli::die("%s must have the shape and dtype of %s", calib_fp_path.c_str(),
                   calib_path.c_str());
      }
      const size_t es = elem_size(x.dtype);
      std::vector<unsigned char> bq(static_cast<size_t>(batch_tokens * cols) * es), bf;
      if (xf) bf.resize(bq.size());
      int64_t streamed = 0;
      for (;;) {
        cli::stop_if_interrupted();
        int64_t n = 0, nf = 0;
        cli::check(gptaq_npy_read_rows(x.r, bq.data(), batch_tokens, &n), nullptr,
                   ("reading " + calib_path).c_str());
        if (n == 0) break;
        if (xf) {
          cli::check(gptaq_npy_read_rows(xf->r, bf.data(), batch_tokens, &nf), nullptr,
                     ("reading " + calib_fp_path).c_str());
        }
        reporter.stream(streamed, x.rows);
        cli::check_cancellable(gptaq_add_batch(ctx, bq.data(), xf ? bf.data() : nullptr, n, x.dtype),
                               ctx, ("adding a batch from " + calib_path).c_str());
        streamed += n;
      }
    }

    const bool npy_out = !out_dir.empty();
    const int64_t G = gptaq_num_groups(cols, cfg.group_size);
    std::vector<uint8_t> codes(static_cast<size_t>(rows * cols));
    std::vector<int32_t> g_idx(static_cast<size_t>(cols));
    std::vector<float> dequant(static_cast<size_t>(rows * cols));
    gptaq_solve_info info;
    std::memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    const std::string d = out_dir + "/";
    std::string saved;  // printed once the outputs are in place
    if (q.binary()) {
      std::vector<float> alpha(static_cast<size_t>(rows * G * cfg.bits)), bias(static_cast<size_t>(rows * G));
      cli::check_cancellable(gptaq_solve_binary(ctx, weight.data(), rows, cols, codes.data(), alpha.data(),
                                    bias.data(), g_idx.data(), dequant.data(), &info),
                 ctx, "solving");
      if (npy_out) {
        write_npy(outputs.temp(d + "alpha.npy"), GPTAQ_DTYPE_F32, {rows, G, cfg.bits}, alpha.data());
        write_npy(outputs.temp(d + "bias.npy"), GPTAQ_DTYPE_F32, {rows, G}, bias.data());
      }
    } else {
      std::vector<float> scales(static_cast<size_t>(rows * G)), zeros(static_cast<size_t>(rows * G));
      cli::check_cancellable(gptaq_solve(ctx, weight.data(), rows, cols, codes.data(), scales.data(),
                             zeros.data(), g_idx.data(), dequant.data(), &info),
                 ctx, "solving");
      if (npy_out) {
        write_npy(outputs.temp(d + "scales.npy"), GPTAQ_DTYPE_F32, {rows, G}, scales.data());
        write_npy(outputs.temp(d + "zeros.npy"), GPTAQ_DTYPE_F32, {rows, G}, zeros.data());
      }
      if (!save_path.empty()) {
        gptaq_safetensors_writer *sw = nullptr;
        cli::check(gptaq_safetensors_writer_create(&sw), nullptr, "creating the writer");
        std::unique_ptr<gptaq_safetensors_writer, void (*)(gptaq_safetensors_writer *)> swg(
            sw, gptaq_safetensors_writer_free);
        const int64_t clamped =
            cli::add_gptq_layer(sw, layer_name, gptq_format, cfg.bits, cfg.group_size, rows, cols,
                                codes.data(), scales.data(), zeros.data(), g_idx.data());
        if (!bias_raw.empty())
          cli::check(gptaq_safetensors_writer_add(sw, (layer_name + ".bias").c_str(), bias_dtype.c_str(),
                                                  static_cast<int32_t>(bias_shape.size()),
                                                  bias_shape.data(), bias_raw.data()),
                     nullptr, "adding the bias");
        cli::check(gptaq_safetensors_writer_set_metadata(sw, "format", "pt"), nullptr, "metadata");
        cli::check(gptaq_safetensors_writer_save(sw, outputs.temp(save_path).c_str()), nullptr,
                   ("writing " + save_path).c_str());
        const std::string qc = cli::dir_of(save_path) + "/quantize_config.json";
        cli::check(gptaq_gptq_write_quantize_config(outputs.temp(qc).c_str(), &cfg, gptq_format),
                   nullptr, ("writing " + qc).c_str());
        cli::warn_clamped(clamped, layer_name);
        saved = cli::format("saved %s.{qweight,qzeros,scales,g_idx%s} (%s) to %s and %s\n",
                    layer_name.c_str(), bias_raw.empty() ? "" : ",bias",
                    gptq_format == GPTAQ_GPTQ_V1 ? "gptq" : "gptq_v2", save_path.c_str(), qc.c_str());
      }
    }
    if (npy_out) {
      write_npy(outputs.temp(d + "codes.npy"), GPTAQ_DTYPE_U8, {rows, cols}, codes.data());
      write_npy(outputs.temp(d + "g_idx.npy"), GPTAQ_DTYPE_I32, {cols}, g_idx.data());
      write_npy(outputs.temp(d + "dequant.npy"), GPTAQ_DTYPE_F32, {rows, cols}, dequant.data());
    }
    outputs.commit();
    if (!saved.empty()) std::printf("%s", saved.c_str());
    if (info.failsafe_used)
      std::fprintf(stderr,
                   "gptaq: warning: %lld calibration tokens < --failsafe-tokens %d: quantized "
                   "by round-to-nearest instead of %s\n",
                   static_cast<long long>(gptaq_ctx_num_tokens(ctx)), cfg.failsafe_tokens,
                   q.method.c_str());
    std::printf("quantized %lld x %lld with %s, %d bits, group %d: loss %.6g, damping %g, "
                "%lld calibration tokens, %.3f s\n",
                static_cast<long long>(rows), static_cast<long long>(cols), q.method.c_str(),
                cfg.bits, cfg.group_size, info.loss, static_cast<double>(info.damp_used),
                static_cast<long long>(gptaq_ctx_num_tokens(ctx)), info.seconds);
    return 0;
  });
}

}  // namespace

GPTAQ_CLI_COMMAND(quantize, "quantize",
                  "quantize a weight (.npy or safetensors); save .npy or a GPTQ checkpoint", run);
