// Quantize every linear layer of a (tiny, random) Llama-shaped Hugging Face checkpoint and
// write a GPTQ checkpoint directory that GPTQ loaders (transformers/optimum, vLLM,
// GPTQModel) accept: config.json with quantization_config, quantize_config.json and
// model.safetensors holding P.qweight / P.qzeros / P.scales / P.g_idx for every linear
// layer P, the other tensors in fp16, the Hugging Face tensor names throughout.
//
// The flow is the one a real quantizer runs, on the public C API only:
//   1. write the full-precision model (bf16 safetensors + config.json) to DIR/fp,
//   2. read it back with the safetensors reader,
//   3. calibrate layer by layer ("true sequential"): each linear's inputs come from the
//      model whose earlier linears are already quantized (x_q), and, for GPTAQ, also from
//      the untouched model at the same positions (x_fp); q/k/v share one context, as do
//      gate/up,
//   4. pack every result (gptaq_gptq_pack) into DIR/gptq,
//   5. load DIR/gptq back as a loader would (names, shapes, gptaq_gptq_unpack) and compare
//      the dequantized model's logits with the full-precision ones, next to plain RTN.
//
//   quantize_checkpoint [--out DIR] [--bits 4] [--group-size 64] [--method gptaq|gptq]
//                       [--format gptq|gptq_v2] [--no-act-order] [--asym]
#include <gptaq/gptaq.h>
#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// ---- model shape (Llama: GQA attention with RoPE, SwiGLU MLP, RMSNorm) ----
constexpr int kHidden = 128, kInter = 256, kLayers = 2, kHeads = 4, kKvHeads = 2, kVocab = 512;
constexpr int kHeadDim = kHidden / kHeads, kKvDim = kKvHeads * kHeadDim;
constexpr int kSeqs = 8, kSeqLen = 64;  // calibration: 8 sequences of 64 tokens
constexpr float kEps = 1e-5f, kTheta = 10000.0f;

using Tensor = std::vector<float>;
using Model = std::map<std::string, Tensor>;

void check(int32_t st, const char *what, const gptaq_ctx *ctx = nullptr) {
  if (st == GPTAQ_OK) return;
  throw std::runtime_error(std::string(what) + ": " +
                           (ctx ? gptaq_ctx_errmsg(ctx) : gptaq_last_errmsg()) + " (" +
                           gptaq_status_string(st) + ")");
}

uint64_t g_rng = 0x1234567;
double uniform() {
  g_rng = g_rng * 6364136223846793005ULL + 1442695040888963407ULL;
  return ((g_rng >> 11) + 0.5) / 9007199254740992.0;
}
float randn() { return float(std::sqrt(-2.0 * std::log(uniform())) * std::cos(6.283185307179586 * uniform())); }

std::string L(int l, const char *rest) { return "model.layers." + std::to_string(l) + "." + rest; }

struct Linear {
  std::string name;
  int rows, cols;
};
std::vector<Linear> linears() {
  std::vector<Linear> v;
  for (int l = 0; l < kLayers; ++l) {
    v.push_back({L(l, "self_attn.q_proj"), kHidden, kHidden});
    v.push_back({L(l, "self_attn.k_proj"), kKvDim, kHidden});
    v.push_back({L(l, "self_attn.v_proj"), kKvDim, kHidden});
    v.push_back({L(l, "self_attn.o_proj"), kHidden, kHidden});
    v.push_back({L(l, "mlp.gate_proj"), kInter, kHidden});
    v.push_back({L(l, "mlp.up_proj"), kInter, kHidden});
    v.push_back({L(l, "mlp.down_proj"), kHidden, kInter});
  }
  return v;
}

Model random_model() {
  Model m;
  auto fill = [&](const std::string &n, size_t count, float scale) {
    Tensor t(count);
    for (auto &x : t) x = scale * randn();
    m[n] = std::move(t);
  };
  // Embeddings with the anisotropy of real models: a low-rank part plus a few outlier
  // channels, so that activations are correlated (what GPTQ's Hessian exploits).
  {
    const int rank = 16;
    Tensor a(size_t(rank) * kHidden), e(size_t(kVocab) * kHidden);
    for (auto &x : a) x = randn();
    std::vector<float> chan(kHidden);
    for (int c = 0; c < kHidden; ++c) chan[size_t(c)] = (c % 37 == 5) ? 8.0f : 0.5f + float(uniform());
    for (int v = 0; v < kVocab; ++v) {
      float z[rank];
      for (auto &x : z) x = randn();
      for (int c = 0; c < kHidden; ++c) {
        float s = 0.3f * randn();
        for (int k = 0; k < rank; ++k) s += z[k] * a[size_t(k) * kHidden + c] / 4.0f;
        e[size_t(v) * kHidden + c] = s * chan[size_t(c)];
      }
    }
    m["model.embed_tokens.weight"] = std::move(e);
  }
  fill("lm_head.weight", size_t(kVocab) * kHidden, 0.05f);
  m["model.norm.weight"] = Tensor(kHidden, 1.0f);
  for (int l = 0; l < kLayers; ++l) {
    m[L(l, "input_layernorm.weight")] = Tensor(kHidden, 1.0f);
    m[L(l, "post_attention_layernorm.weight")] = Tensor(kHidden, 1.0f);
  }
  for (const Linear &lin : linears())
    fill(lin.name + ".weight", size_t(lin.rows) * lin.cols, 1.0f / std::sqrt(float(lin.cols)));
  return m;
}

// ---- the forward pass pieces (row-major, tokens x features) ----
Tensor matmul_t(const Tensor &x, const Tensor &w, int rows, int cols) {  // x W^T
  const size_t T = x.size() / size_t(cols);
  Tensor y(T * size_t(rows), 0.0f);
  for (size_t t = 0; t < T; ++t)
    for (int r = 0; r < rows; ++r) {
      double s = 0.0;
      for (int c = 0; c < cols; ++c) s += double(x[t * cols + c]) * w[size_t(r) * cols + c];
      y[t * rows + r] = float(s);
    }
  return y;
}

Tensor rmsnorm(const Tensor &h, const Tensor &w) {
  Tensor y(h.size());
  for (size_t t = 0; t < h.size() / kHidden; ++t) {
    double ss = 0.0;
    for (int c = 0; c < kHidden; ++c) ss += double(h[t * kHidden + c]) * h[t * kHidden + c];
    const float inv = float(1.0 / std::sqrt(ss / kHidden + kEps));
    for (int c = 0; c < kHidden; ++c) y[t * kHidden + c] = h[t * kHidden + c] * inv * w[size_t(c)];
  }
  return y;
}

void rope(Tensor &x, int n_heads) {  // Hugging Face rotate_half convention, per sequence
  const size_t T = x.size() / size_t(n_heads * kHeadDim);
  for (size_t t = 0; t < T; ++t) {
    const int pos = int(t % kSeqLen);
    for (int h = 0; h < n_heads; ++h) {
      float *v = &x[(t * n_heads + h) * kHeadDim];
      for (int i = 0; i < kHeadDim / 2; ++i) {
        const double f = pos * std::pow(double(kTheta), -2.0 * i / kHeadDim);
        const float c = float(std::cos(f)), s = float(std::sin(f));
        const float a = v[i], b = v[i + kHeadDim / 2];
        v[i] = a * c - b * s;
        v[i + kHeadDim / 2] = b * c + a * s;
      }
    }
  }
}

Tensor attention(const Tensor &x, const Model &m, int l) {  // returns o_proj's input
  Tensor q = matmul_t(x, m.at(L(l, "self_attn.q_proj.weight")), kHidden, kHidden);
  Tensor k = matmul_t(x, m.at(L(l, "self_attn.k_proj.weight")), kKvDim, kHidden);
  Tensor v = matmul_t(x, m.at(L(l, "self_attn.v_proj.weight")), kKvDim, kHidden);
  rope(q, kHeads);
  rope(k, kKvHeads);
  const size_t T = x.size() / kHidden;
  Tensor out(T * kHidden, 0.0f);
  std::vector<double> p(kSeqLen);
  for (size_t t = 0; t < T; ++t) {
    const size_t s0 = t - t % kSeqLen;  // causal, within the sequence
    for (int h = 0; h < kHeads; ++h) {
      const int kv = h / (kHeads / kKvHeads);
      double mx = -1e300;
      for (size_t u = s0; u <= t; ++u) {
        double d = 0.0;
        for (int i = 0; i < kHeadDim; ++i)
          d += double(q[t * kHidden + h * kHeadDim + i]) * k[u * kKvDim + kv * kHeadDim + i];
        p[u - s0] = d / std::sqrt(double(kHeadDim));
        if (p[u - s0] > mx) mx = p[u - s0];
      }
      double z = 0.0;
      for (size_t u = s0; u <= t; ++u) z += (p[u - s0] = std::exp(p[u - s0] - mx));
      for (int i = 0; i < kHeadDim; ++i) {
        double acc = 0.0;
        for (size_t u = s0; u <= t; ++u) acc += p[u - s0] * v[u * kKvDim + kv * kHeadDim + i];
        out[t * kHidden + h * kHeadDim + i] = float(acc / z);
      }
    }
  }
  return out;
}

Tensor swiglu(const Tensor &x, const Model &m, int l) {  // returns down_proj's input
  Tensor g = matmul_t(x, m.at(L(l, "mlp.gate_proj.weight")), kInter, kHidden);
  const Tensor u = matmul_t(x, m.at(L(l, "mlp.up_proj.weight")), kInter, kHidden);
  for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  return g;
}

void add_to(Tensor &h, const Tensor &d) {
  for (size_t i = 0; i < h.size(); ++i) h[i] += d[i];
}

Tensor embed(const Model &m, const std::vector<int> &tokens) {
  Tensor h(tokens.size() * kHidden);
  const Tensor &e = m.at("model.embed_tokens.weight");
  for (size_t t = 0; t < tokens.size(); ++t)
    std::memcpy(&h[t * kHidden], &e[size_t(tokens[t]) * kHidden], sizeof(float) * kHidden);
  return h;
}

Tensor logits(const Model &m, const std::vector<int> &tokens) {
  Tensor h = embed(m, tokens);
  for (int l = 0; l < kLayers; ++l) {
    const Tensor a = attention(rmsnorm(h, m.at(L(l, "input_layernorm.weight"))), m, l);
    add_to(h, matmul_t(a, m.at(L(l, "self_attn.o_proj.weight")), kHidden, kHidden));
    const Tensor g = swiglu(rmsnorm(h, m.at(L(l, "post_attention_layernorm.weight"))), m, l);
    add_to(h, matmul_t(g, m.at(L(l, "mlp.down_proj.weight")), kHidden, kInter));
  }
  return matmul_t(rmsnorm(h, m.at("model.norm.weight")), m.at("lm_head.weight"), kVocab, kHidden);
}

double rel_err(const Tensor &a, const Tensor &b) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

// ---- files ----
void make_dir(const std::string &d) {
  if (mkdir(d.c_str(), 0777) != 0 && errno != EEXIST)
    throw std::runtime_error("cannot create " + d + ": " + std::strerror(errno));
}

void write_text(const std::string &path, const std::string &text) {
  std::FILE *f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fclose(f) != 0)
    throw std::runtime_error("cannot write " + path);
}

std::string config_json(const char *dtype, const std::string &quantization_config) {
  char buf[2048];
  std::snprintf(buf, sizeof buf,
                "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"model_type\": \"llama\",\n"
                "  \"hidden_size\": %d,\n  \"intermediate_size\": %d,\n  \"num_hidden_layers\": %d,\n"
                "  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n  \"head_dim\": %d,\n"
                "  \"vocab_size\": %d,\n  \"max_position_embeddings\": %d,\n  \"rms_norm_eps\": 1e-05,\n"
                "  \"rope_theta\": 10000.0,\n  \"hidden_act\": \"silu\",\n  \"attention_bias\": false,\n"
                "  \"mlp_bias\": false,\n  \"tie_word_embeddings\": false,\n  \"bos_token_id\": 1,\n"
                "  \"eos_token_id\": 2,\n  \"torch_dtype\": \"%s\"",
                kHidden, kInter, kLayers, kHeads, kKvHeads, kHeadDim, kVocab, 4 * kSeqLen, dtype);
  std::string s = buf;
  if (!quantization_config.empty()) {
    // Indent the library's quantize_config.json text as the value of quantization_config.
    std::string q;
    for (char c : quantization_config) {
      if (c == '\n') q += "\n  ";
      else q += c;
    }
    while (!q.empty() && (q.back() == ' ' || q.back() == '\n')) q.pop_back();
    s += ",\n  \"quantization_config\": " + q;
  }
  return s + "\n}\n";
}

void save_fp_model(const Model &m, const std::string &dir) {
  gptaq_safetensors_writer *w = nullptr;
  check(gptaq_safetensors_writer_create(&w), "writer");
  for (const auto &kv : m) {
    const Tensor &t = kv.second;
    std::vector<uint16_t> bf(t.size());
    check(gptaq_f32_to_half(GPTAQ_DTYPE_BF16, t.data(), bf.data(), int64_t(t.size())), "bf16");
    int64_t shape[2] = {int64_t(t.size()), 0};
    int32_t ndim = 1;
    if (kv.first.find("norm") == std::string::npos) {  // 2-D: rows x hidden or x inter
      const int64_t cols = kv.first.find("down_proj") != std::string::npos ? kInter : kHidden;
      shape[0] = int64_t(t.size()) / cols;
      shape[1] = cols;
      ndim = 2;
    }
    check(gptaq_safetensors_writer_add(w, kv.first.c_str(), "BF16", ndim, shape, bf.data()), "add");
  }
  check(gptaq_safetensors_writer_set_metadata(w, "format", "pt"), "metadata");
  check(gptaq_safetensors_writer_save(w, (dir + "/model.safetensors").c_str()), "save fp model");
  gptaq_safetensors_writer_free(w);
  write_text(dir + "/config.json", config_json("bfloat16", ""));
}

Model load_model(const std::string &path) {  // any float dtype -> float32
  gptaq_safetensors *r = nullptr;
  check(gptaq_safetensors_open(&r, path.c_str()), "open");
  Model m;
  for (int64_t i = 0; i < gptaq_safetensors_count(r); ++i) {
    const char *name = nullptr, *dtype = nullptr;
    int32_t ndim = 0;
    int64_t shape[GPTAQ_SAFETENSORS_MAX_DIMS];
    check(gptaq_safetensors_tensor_info(r, i, &name, &dtype, &ndim, shape, nullptr), "info");
    int64_t n = 1;
    for (int32_t d = 0; d < ndim; ++d) n *= shape[d];
    Tensor t(static_cast<size_t>(n));
    check(gptaq_safetensors_read_f32(r, i, t.data(), n), name);
    m[name] = std::move(t);
  }
  gptaq_safetensors_close(r);
  return m;
}

struct Options {
  std::string out = "checkpoint_example";
  int bits = 4, group_size = 64, act_order = 1, sym = 1;
  int method = GPTAQ_METHOD_GPTAQ;
  int32_t format = GPTAQ_GPTQ_V1;
};

Options parse(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--out") o.out = next();
    else if (a == "--bits") o.bits = std::atoi(next().c_str());
    else if (a == "--group-size") o.group_size = std::atoi(next().c_str());
    else if (a == "--method") o.method = next() == "gptq" ? GPTAQ_METHOD_GPTQ : GPTAQ_METHOD_GPTAQ;
    else if (a == "--format") o.format = next() == "gptq_v2" ? GPTAQ_GPTQ_V2 : GPTAQ_GPTQ_V1;
    else if (a == "--no-act-order") o.act_order = 0;
    else if (a == "--asym") o.sym = 0;
    else throw std::runtime_error("unknown option " + a + " (see the comment at the top)");
  }
  return o;
}

// One linear solved: its packed tensors go to the writer, the dequantized weight replaces
// the current one in `cur` (what later layers' inputs are computed with).
struct Quantizer {
  gptaq_config cfg;
  int32_t format;
  gptaq_safetensors_writer *w;
  std::map<std::string, Tensor> solver_dequant;
  int64_t clamped = 0;

  void solve(gptaq_ctx *ctx, const Linear &lin, Model &cur, const Model &fp) {
    const int64_t N = lin.rows, K = lin.cols, G = gptaq_num_groups(K, cfg.group_size);
    std::vector<uint8_t> codes(static_cast<size_t>(N * K));
    std::vector<float> scales(static_cast<size_t>(N * G)), zeros(static_cast<size_t>(N * G)), dq(static_cast<size_t>(N * K));
    std::vector<int32_t> g_idx(static_cast<size_t>(K));
    const Tensor &w0 = fp.at(lin.name + ".weight");
    check(gptaq_solve(ctx, w0.data(), N, K, codes.data(), scales.data(), zeros.data(), g_idx.data(),
                      dq.data(), nullptr),
          lin.name.c_str(), ctx);
    int64_t qwr, qzc;
    check(gptaq_gptq_shapes(N, K, cfg.group_size, cfg.bits, &qwr, &qzc, nullptr), "shapes");
    std::vector<int32_t> qweight(static_cast<size_t>(qwr * N)), qzeros(static_cast<size_t>(G * qzc)), gi(static_cast<size_t>(K));
    std::vector<uint16_t> sc(static_cast<size_t>(G * N));
    int64_t c = 0;
    check(gptaq_gptq_pack(format, cfg.bits, N, K, cfg.group_size, codes.data(), scales.data(),
                          zeros.data(), g_idx.data(), qweight.data(), qzeros.data(), GPTAQ_DTYPE_F16,
                          sc.data(), gi.data(), &c),
          "pack");
    clamped += c;
    const int64_t sq[2] = {qwr, N}, sz[2] = {G, qzc}, ss[2] = {G, N}, sg[1] = {K};
    check(gptaq_safetensors_writer_add(w, (lin.name + ".qweight").c_str(), "I32", 2, sq, qweight.data()), "add");
    check(gptaq_safetensors_writer_add(w, (lin.name + ".qzeros").c_str(), "I32", 2, sz, qzeros.data()), "add");
    check(gptaq_safetensors_writer_add(w, (lin.name + ".scales").c_str(), "F16", 2, ss, sc.data()), "add");
    check(gptaq_safetensors_writer_add(w, (lin.name + ".g_idx").c_str(), "I32", 1, sg, gi.data()), "add");
    cur[lin.name + ".weight"] = dq;
    solver_dequant[lin.name] = dq;
  }
};

gptaq_ctx *new_ctx(int64_t cols, const gptaq_config &cfg) {
  gptaq_ctx *ctx = nullptr;
  check(gptaq_ctx_create(&ctx, cols, &cfg), "context");
  return ctx;
}

void add(gptaq_ctx *ctx, const Tensor &xq, const Tensor &xf) {
  const int64_t cols = gptaq_ctx_columns(ctx);
  const bool asym = xf.size() > 0;
  check(gptaq_add_batch(ctx, xq.data(), asym ? xf.data() : nullptr, int64_t(xq.size()) / cols,
                        GPTAQ_DTYPE_F32),
        "add_batch", ctx);
}

int run(const Options &o) {
  const std::string fp_dir = o.out + "/fp", q_dir = o.out + "/gptq";
  make_dir(o.out);
  make_dir(fp_dir);
  make_dir(q_dir);

  // 1-2. The full-precision checkpoint, written and read back (bf16 on disk).
  save_fp_model(random_model(), fp_dir);
  const Model fp = load_model(fp_dir + "/model.safetensors");
  std::printf("full-precision model: %zu tensors in %s/model.safetensors\n", fp.size(), fp_dir.c_str());

  // 3-4. Sequential calibration and packing.
  gptaq_config cfg;
  gptaq_config_init(&cfg, sizeof cfg);
  cfg.method = o.method;
  cfg.bits = o.bits;
  cfg.group_size = o.group_size;
  cfg.act_order = o.act_order;
  cfg.sym = o.sym;
  cfg.backend = GPTAQ_BACKEND_CPU;
  gptaq_safetensors_writer *w = nullptr;
  check(gptaq_safetensors_writer_create(&w), "writer");
  Quantizer qz{cfg, o.format, w, {}, 0};
  std::vector<int> calib(static_cast<size_t>(kSeqs) * kSeqLen);
  for (auto &t : calib) t = int(uniform() * kVocab);
  const bool gptaq = o.method == GPTAQ_METHOD_GPTAQ;
  Model cur = fp;                                  // weights quantized so far
  Tensor hq = embed(fp, calib), hf = hq;           // hidden states: quantized / fp stream
  const std::vector<Linear> lins = linears();
  auto lin = [&](int l, const char *rest) {
    for (const Linear &x : lins)
      if (x.name == L(l, rest)) return x;
    throw std::runtime_error("no linear");
  };
  for (int l = 0; l < kLayers; ++l) {
    const Tensor xq = rmsnorm(hq, fp.at(L(l, "input_layernorm.weight")));
    const Tensor xf = gptaq ? rmsnorm(hf, fp.at(L(l, "input_layernorm.weight"))) : Tensor();
    gptaq_ctx *c = new_ctx(kHidden, cfg);  // q, k, v share their input and the factorization
    add(c, xq, xf);
    for (const char *p : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"})
      qz.solve(c, lin(l, p), cur, fp);
    gptaq_ctx_free(c);
    const Tensor aq = attention(xq, cur, l), af = gptaq ? attention(xf, fp, l) : Tensor();
    c = new_ctx(kHidden, cfg);
    add(c, aq, af);
    qz.solve(c, lin(l, "self_attn.o_proj"), cur, fp);
    gptaq_ctx_free(c);
    add_to(hq, matmul_t(aq, cur.at(L(l, "self_attn.o_proj.weight")), kHidden, kHidden));
    if (gptaq) add_to(hf, matmul_t(af, fp.at(L(l, "self_attn.o_proj.weight")), kHidden, kHidden));

    const Tensor x2q = rmsnorm(hq, fp.at(L(l, "post_attention_layernorm.weight")));
    const Tensor x2f = gptaq ? rmsnorm(hf, fp.at(L(l, "post_attention_layernorm.weight"))) : Tensor();
    c = new_ctx(kHidden, cfg);  // gate and up share their input
    add(c, x2q, x2f);
    qz.solve(c, lin(l, "mlp.gate_proj"), cur, fp);
    qz.solve(c, lin(l, "mlp.up_proj"), cur, fp);
    gptaq_ctx_free(c);
    const Tensor mq = swiglu(x2q, cur, l), mf = gptaq ? swiglu(x2f, fp, l) : Tensor();
    c = new_ctx(kInter, cfg);
    add(c, mq, mf);
    qz.solve(c, lin(l, "mlp.down_proj"), cur, fp);
    gptaq_ctx_free(c);
    add_to(hq, matmul_t(mq, cur.at(L(l, "mlp.down_proj.weight")), kHidden, kInter));
    if (gptaq) add_to(hf, matmul_t(mf, fp.at(L(l, "mlp.down_proj.weight")), kHidden, kInter));
  }
  // Everything that is not a quantized linear layer goes in as fp16 (lm_head is kept, as
  // quantize_config's lm_head: false says).
  for (const auto &kv : fp) {
    bool is_linear = false;
    for (const Linear &x : lins) is_linear |= kv.first == x.name + ".weight";
    if (is_linear) continue;
    std::vector<uint16_t> h(kv.second.size());
    check(gptaq_f32_to_half(GPTAQ_DTYPE_F16, kv.second.data(), h.data(), int64_t(h.size())), "f16");
    const bool vec = kv.first.find("norm") != std::string::npos;
    const int64_t shape[2] = {vec ? int64_t(h.size()) : int64_t(h.size()) / kHidden, kHidden};
    check(gptaq_safetensors_writer_add(w, kv.first.c_str(), "F16", vec ? 1 : 2, shape, h.data()), "add");
  }
  check(gptaq_safetensors_writer_set_metadata(w, "format", "pt"), "metadata");
  check(gptaq_safetensors_writer_save(w, (q_dir + "/model.safetensors").c_str()), "save");
  gptaq_safetensors_writer_free(w);
  check(gptaq_gptq_write_quantize_config((q_dir + "/quantize_config.json").c_str(), &cfg, o.format),
        "quantize_config.json");
  int64_t len = 0;
  check(gptaq_gptq_quantize_config(&cfg, o.format, nullptr, 0, &len), "quantize_config");
  std::string qtext(static_cast<size_t>(len) + 1, '\0');
  check(gptaq_gptq_quantize_config(&cfg, o.format, &qtext[0], len + 1, nullptr), "quantize_config");
  qtext.resize(static_cast<size_t>(len));
  write_text(q_dir + "/config.json", config_json("float16", qtext));
  std::printf("quantized %zu linear layers with %s, %d bits, group %d%s -> %s (format %s)\n",
              lins.size(), gptaq ? "GPTAQ" : "GPTQ", o.bits, o.group_size,
              o.act_order ? ", act-order" : "", q_dir.c_str(),
              o.format == GPTAQ_GPTQ_V1 ? "gptq" : "gptq_v2");
  if (qz.clamped)
    std::printf("warning: %lld zeros of 0 were stored as 1 (v1 format); use gptq_v2 or --sym\n",
                static_cast<long long>(qz.clamped));

  // 5. Load the GPTQ checkpoint as a loader would and check it.
  gptaq_config lc;
  gptaq_config_init(&lc, sizeof lc);
  int32_t fmt = -1;
  check(gptaq_gptq_read_quantize_config((q_dir + "/config.json").c_str(), &lc, &fmt), "config.json");
  gptaq_safetensors *r = nullptr;
  check(gptaq_safetensors_open(&r, (q_dir + "/model.safetensors").c_str()), "open gptq");
  Model deq;
  int problems = 0;
  double worst = 0.0;
  for (const Linear &x : lins) {
    if (gptaq_safetensors_find(r, (x.name + ".weight").c_str()) >= 0) {
      std::printf("loader check: %s.weight should not exist\n", x.name.c_str());
      ++problems;
    }
    auto raw = [&](const char *suffix, std::vector<int64_t> want) {
      const int64_t i = gptaq_safetensors_find(r, (x.name + suffix).c_str());
      int32_t nd = 0;
      int64_t shape[GPTAQ_SAFETENSORS_MAX_DIMS];
      int64_t nbytes = 0;
      if (i < 0) throw std::runtime_error("missing " + x.name + suffix);
      check(gptaq_safetensors_tensor_info(r, i, nullptr, nullptr, &nd, shape, &nbytes), "info");
      if (std::vector<int64_t>(shape, shape + nd) != want) {
        std::printf("loader check: %s%s has an unexpected shape\n", x.name.c_str(), suffix);
        ++problems;
      }
      std::vector<unsigned char> b(static_cast<size_t>(nbytes));
      check(gptaq_safetensors_read(r, i, b.data(), nbytes), "read");
      return b;
    };
    const int64_t N = x.rows, K = x.cols, G = gptaq_num_groups(K, lc.group_size);
    const auto qw = raw(".qweight", {K * lc.bits / 32, N}), qzr = raw(".qzeros", {G, N * lc.bits / 32}),
               sc = raw(".scales", {G, N}), gi = raw(".g_idx", {K});
    Tensor dq(static_cast<size_t>(N * K));
    check(gptaq_gptq_unpack(fmt, lc.bits, N, K, G, reinterpret_cast<const int32_t *>(qw.data()),
                            reinterpret_cast<const int32_t *>(qzr.data()), GPTAQ_DTYPE_F16, sc.data(),
                            reinterpret_cast<const int32_t *>(gi.data()), nullptr, nullptr, nullptr,
                            dq.data()),
          "unpack");
    const Tensor &want = qz.solver_dequant.at(x.name);
    for (size_t i = 0; i < dq.size(); ++i)  // the fp16 rounding of the scales, no more
      worst = std::max(worst, std::fabs(double(dq[i]) - want[i]) / (std::fabs(double(want[i])) + 1e-30));
    deq[x.name + ".weight"] = std::move(dq);
  }
  gptaq_safetensors_close(r);
  if (worst > 1.0 / 1024) {
    std::printf("loader check: dequantized weights differ from the solver's by %.3g (relative)\n", worst);
    ++problems;
  }
  for (const auto &kv : fp)
    if (!deq.count(kv.first)) deq[kv.first] = kv.second;

  // Held-out tokens: logits of the GPTQ checkpoint and of plain RTN against full precision.
  std::vector<int> test(static_cast<size_t>(4) * kSeqLen);
  for (auto &t : test) t = int(uniform() * kVocab);
  const Tensor ref = logits(fp, test);
  Model rtn = fp;
  gptaq_config rc = cfg;
  rc.method = GPTAQ_METHOD_RTN;
  rc.act_order = 0;
  for (const Linear &x : lins) {
    gptaq_ctx *c = new_ctx(x.cols, rc);
    const int64_t G = gptaq_num_groups(x.cols, rc.group_size);
    std::vector<uint8_t> codes(static_cast<size_t>(x.rows) * x.cols);
    std::vector<float> s(static_cast<size_t>(x.rows * G)), z(static_cast<size_t>(x.rows * G));
    Tensor dq(codes.size());
    check(gptaq_solve(c, fp.at(x.name + ".weight").data(), x.rows, x.cols, codes.data(), s.data(),
                      z.data(), nullptr, dq.data(), nullptr),
          "rtn", c);
    gptaq_ctx_free(c);
    rtn[x.name + ".weight"] = dq;
  }
  const double e_q = rel_err(logits(deq, test), ref), e_rtn = rel_err(logits(rtn, test), ref);
  std::printf("held-out logits, relative error vs full precision: %s checkpoint %.4f, RTN %.4f\n",
              gptaq ? "GPTAQ" : "GPTQ", e_q, e_rtn);
  std::printf("format %s, %d bits: dequantized from the files within %.2g of the solver\n",
              fmt == GPTAQ_GPTQ_V1 ? "gptq" : "gptq_v2", lc.bits, worst);
  std::printf("loader check: %s\n", problems ? "FAILED" : "ok");
  return problems ? 1 : 0;
}

}  // namespace

int main(int argc, char **argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception &e) {
    std::fprintf(stderr, "quantize_checkpoint: error: %s\n", e.what());
    return 1;
  }
}
