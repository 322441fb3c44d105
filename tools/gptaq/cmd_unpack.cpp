// gptaq unpack FILE P: read a GPTQ layer (P.qweight, P.qzeros, P.scales, P.g_idx) from a
// safetensors checkpoint, unpack it, print a summary and the first codes, and optionally
// save codes / scales / zeros / g_idx / dequantized weight as .npy for checking.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <vector>

#include "checkpoint.h"
#include "options.h"

namespace {

bool file_exists(const std::string &p) { return access(p.c_str(), R_OK) == 0; }

int run(int argc, char **argv) {
  CLI::App app{"Unpack one GPTQ layer from a safetensors checkpoint", "unpack"};
  app.option_defaults()->always_capture_default();  // --help shows every default
  std::string file, prefix, config_path, format_opt, out_dir;
  int show_rows = 4, show_cols = 16;
  app.add_option("file", file, "the checkpoint .safetensors file")->required();
  app.add_option("layer", prefix, "the layer path P (tensors P.qweight, P.qzeros, P.scales, P.g_idx)")
      ->required();
  app.add_option("--config", config_path,
                 "quantize_config.json or config.json (default: beside FILE, if present)");
  app.add_option("--format", format_opt, "override the checkpoint format: gptq (v1) | gptq_v2")
      ->check(CLI::IsMember({"gptq", "gptq_v2"}));
  app.add_option("--out", out_dir,
                 "save codes.npy, scales.npy, zeros.npy, g_idx.npy, dequant.npy here");
  app.add_option("--show-rows", show_rows, "output rows whose first codes are printed (default 4)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--show-cols", show_cols, "codes printed per row (default 16)")
      ->check(CLI::NonNegativeNumber);
  if (int rc = cli::parse(app, argc, argv); rc >= 0) return rc;

  return cli::run_guarded([&] {
    cli::SafeTensors st(file);
    const cli::TensorInfo tq = st.info(prefix + ".qweight"), tz = st.info(prefix + ".qzeros"),
                          ts = st.info(prefix + ".scales");
    if (tq.dtype != "I32" || tz.dtype != "I32")
      cli::die("%s.qweight and .qzeros must be I32 (got %s and %s)", prefix.c_str(),
               tq.dtype.c_str(), tz.dtype.c_str());
    if (ts.dtype != "F16" && ts.dtype != "BF16" && ts.dtype != "F32")
      cli::die("%s.scales must be F16, BF16 or F32 (got %s)", prefix.c_str(), ts.dtype.c_str());
    if (tq.shape.size() != 2 || tz.shape.size() != 2 || ts.shape.size() != 2)
      cli::die("%s: qweight %s, qzeros %s and scales %s must all be 2-D", prefix.c_str(),
               tq.shape_str().c_str(), tz.shape_str().c_str(), ts.shape_str().c_str());
    // Everything follows from the shapes: qweight [K*b/32, N], qzeros [G, N*b/32], scales [G, N].
    const int64_t N = tq.shape[1], G = ts.shape[0];
    if (N <= 0 || ts.shape[1] != N || tz.shape[0] != G || (tz.shape[1] * 32) % N != 0)
      cli::die("%s: inconsistent shapes qweight %s, qzeros %s, scales %s", prefix.c_str(),
               tq.shape_str().c_str(), tz.shape_str().c_str(), ts.shape_str().c_str());
    const int64_t b64 = tz.shape[1] * 32 / N;
    if (b64 != 2 && b64 != 3 && b64 != 4 && b64 != 8)
      cli::die("%s: the shapes imply %lld bits; GPTQ holds 2, 3, 4 or 8", prefix.c_str(),
               static_cast<long long>(b64));
    const int32_t bits = static_cast<int32_t>(b64);
    if ((tq.shape[0] * 32) % bits != 0) cli::die("%s: qweight rows do not fit %d bits", prefix.c_str(), bits);
    const int64_t K = tq.shape[0] * 32 / bits;

    int32_t format = GPTAQ_GPTQ_V1;
    std::string format_from = "default (no quantize_config.json found)";
    if (config_path.empty()) {
      const std::string d = cli::dir_of(file);
      if (file_exists(d + "/quantize_config.json")) config_path = d + "/quantize_config.json";
      else if (file_exists(d + "/config.json")) config_path = d + "/config.json";
    }
    if (!config_path.empty()) {
      gptaq_config cfg;
      gptaq_config_init(&cfg, sizeof cfg);
      cli::check(gptaq_gptq_read_quantize_config(config_path.c_str(), &cfg, &format), nullptr,
                 ("reading " + config_path).c_str());
      if (cfg.bits != bits)
        cli::die("%s says %d bits but the tensors of %s hold %d", config_path.c_str(), cfg.bits,
                 prefix.c_str(), bits);
      format_from = config_path;
    }
    if (!format_opt.empty()) {
      format = format_opt == "gptq_v2" ? GPTAQ_GPTQ_V2 : GPTAQ_GPTQ_V1;
      format_from = "--format";
    }

    std::vector<int32_t> g_idx;
    if (st.has(prefix + ".g_idx")) {
      const cli::TensorInfo tg = st.info(prefix + ".g_idx");
      if (tg.dtype != "I32" || tg.numel() != K)
        cli::die("%s.g_idx must be I32 with %lld entries (got %s %s)", prefix.c_str(),
                 static_cast<long long>(K), tg.dtype.c_str(), tg.shape_str().c_str());
      const auto raw = st.raw(tg);
      g_idx.resize(static_cast<size_t>(K));
      std::memcpy(g_idx.data(), raw.data(), raw.size());
    } else if (G == 1) {
      g_idx.assign(static_cast<size_t>(K), 0);
    } else {
      cli::die("%s has no g_idx and %lld groups: cannot tell which group each column uses",
               prefix.c_str(), static_cast<long long>(G));
    }
    const auto qw = st.raw(tq), qz = st.raw(tz), sc = st.raw(ts);
    const int32_t sdt = ts.dtype == "F16" ? GPTAQ_DTYPE_F16 : ts.dtype == "BF16" ? GPTAQ_DTYPE_BF16
                                                                                : GPTAQ_DTYPE_F32;
    std::vector<uint8_t> codes(static_cast<size_t>(N * K));
    std::vector<float> scales(static_cast<size_t>(N * G)), zeros(static_cast<size_t>(N * G)),
        dequant(static_cast<size_t>(N * K));
    cli::check(gptaq_gptq_unpack(format, bits, N, K, G, reinterpret_cast<const int32_t *>(qw.data()),
                                 reinterpret_cast<const int32_t *>(qz.data()), sdt, sc.data(),
                                 g_idx.data(), codes.data(), scales.data(), zeros.data(),
                                 dequant.data()),
               nullptr, ("unpacking " + prefix).c_str());

    // Summary.
    bool plain = true;  // g_idx[k] == k / (K / G): no act-order permutation
    const int64_t gs = (K + G - 1) / G;
    for (int64_t k = 0; k < K; ++k) plain &= g_idx[static_cast<size_t>(k)] == k / gs;
    std::vector<int64_t> hist(size_t{1} << bits, 0);
    for (uint8_t c : codes) ++hist[c];
    const auto zr = std::minmax_element(zeros.begin(), zeros.end());
    const auto sr = std::minmax_element(scales.begin(), scales.end());
    double sum2 = 0.0;
    for (float v : dequant) sum2 += double(v) * v;
    std::printf("%s: %lld x %lld (out x in), %d bits, %lld groups%s, format %s (from %s)\n",
                prefix.c_str(), static_cast<long long>(N), static_cast<long long>(K), bits,
                static_cast<long long>(G), plain ? "" : ", act-order g_idx",
                format == GPTAQ_GPTQ_V1 ? "gptq" : "gptq_v2", format_from.c_str());
    std::printf("  zeros in [%g, %g], scales in [%g, %g], dequant rms %.6g\n",
                static_cast<double>(*zr.first), static_cast<double>(*zr.second),
                static_cast<double>(*sr.first), static_cast<double>(*sr.second),
                std::sqrt(sum2 / double(dequant.size())));
    std::printf("  code histogram:");
    for (size_t c = 0; c < hist.size(); ++c) std::printf(" %zu:%lld", c, static_cast<long long>(hist[c]));
    std::printf("\n");
    for (int64_t n = 0; n < std::min<int64_t>(N, show_rows); ++n) {
      std::printf("  row %lld:", static_cast<long long>(n));
      for (int64_t k = 0; k < std::min<int64_t>(K, show_cols); ++k)
        std::printf(" %u", codes[static_cast<size_t>(n * K + k)]);
      std::printf("%s\n", K > show_cols ? " ..." : "");
    }
    if (!out_dir.empty()) {
      if (mkdir(out_dir.c_str(), 0777) != 0 && errno != EEXIST)
        cli::die("cannot create %s: %s", out_dir.c_str(), std::strerror(errno));
      auto save = [&](const char *name, int32_t dt, std::vector<int64_t> shape, const void *data) {
        const std::string p = out_dir + "/" + name;
        cli::check(gptaq_npy_write_nd(p.c_str(), dt, static_cast<int32_t>(shape.size()), shape.data(), data),
                   nullptr, ("writing " + p).c_str());
      };
      save("codes.npy", GPTAQ_DTYPE_U8, {N, K}, codes.data());
      save("scales.npy", GPTAQ_DTYPE_F32, {N, G}, scales.data());
      save("zeros.npy", GPTAQ_DTYPE_F32, {N, G}, zeros.data());
      save("g_idx.npy", GPTAQ_DTYPE_I32, {K}, g_idx.data());
      save("dequant.npy", GPTAQ_DTYPE_F32, {N, K}, dequant.data());
      std::printf("  saved codes/scales/zeros/g_idx/dequant .npy to %s\n", out_dir.c_str());
    }
    return 0;
  });
}

}  // namespace

GPTAQ_CLI_COMMAND(unpack, "unpack", "unpack a GPTQ layer from a safetensors checkpoint", run);
