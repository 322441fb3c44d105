// Checkpoint helpers shared by `quantize`, `unpack` and `imatrix`: safetensors reading,
// and writing one layer's GPTQ tensors plus quantize_config.json. Public API only.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "cli.h"

namespace cli {

inline bool ends_with(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

inline std::string dir_of(const std::string &path) {
  const size_t p = path.find_last_of('/');
  return p == std::string::npos ? std::string(".") : (p == 0 ? std::string("/") : path.substr(0, p));
}

struct TensorInfo {
  int64_t index = -1;
  std::string name, dtype;
  std::vector<int64_t> shape;
  int64_t nbytes = 0;
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  std::string shape_str() const {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }
};

// A safetensors file opened for reading (validated by the library).
class SafeTensors {
 public:
  explicit SafeTensors(const std::string &path) : path_(path) {
    check(gptaq_safetensors_open(&r_, path.c_str()), nullptr, ("reading " + path).c_str());
  }
  ~SafeTensors() { gptaq_safetensors_close(r_); }
  SafeTensors(const SafeTensors &) = delete;
  SafeTensors &operator=(const SafeTensors &) = delete;

  bool has(const std::string &name) const { return gptaq_safetensors_find(r_, name.c_str()) >= 0; }
  int64_t count() const { return gptaq_safetensors_count(r_); }

  TensorInfo info(int64_t i) const {
    TensorInfo t;
    const char *name = nullptr, *dtype = nullptr;
    int32_t ndim = 0;
    int64_t shape[GPTAQ_SAFETENSORS_MAX_DIMS];
    check(gptaq_safetensors_tensor_info(r_, i, &name, &dtype, &ndim, shape, &t.nbytes), nullptr,
          ("reading " + path_).c_str());
    t.index = i;
    t.name = name;
    t.dtype = dtype;
    t.shape.assign(shape, shape + ndim);
    return t;
  }

  TensorInfo info(const std::string &name) const {
    const int64_t i = gptaq_safetensors_find(r_, name.c_str());
    if (i < 0) die("%s has no tensor named \"%s\"", path_.c_str(), name.c_str());
    return info(i);
  }

  std::vector<float> f32(const TensorInfo &t) const {
    std::vector<float> v(static_cast<size_t>(t.numel()));
    check(gptaq_safetensors_read_f32(r_, t.index, v.data(), static_cast<int64_t>(v.size())),
          nullptr, ("reading " + t.name + " from " + path_).c_str());
    return v;
  }

  std::vector<unsigned char> raw(const TensorInfo &t) const {
    std::vector<unsigned char> v(static_cast<size_t>(t.nbytes));
    check(gptaq_safetensors_read(r_, t.index, v.data(), t.nbytes), nullptr,
          ("reading " + t.name + " from " + path_).c_str());
    return v;
  }

  const std::string &path() const { return path_; }

 private:
  std::string path_;
  gptaq_safetensors *r_ = nullptr;
};

// A 2-D weight (rows x cols) as float32 from a safetensors tensor of F32, F16 or BF16.
inline std::vector<float> read_weight(const SafeTensors &st, const std::string &name,
                                      int64_t &rows, int64_t &cols) {
  const TensorInfo t = st.info(name);
  if (t.shape.size() != 2)
    die("%s: tensor %s has shape %s; a linear weight is 2-D (out_features x in_features)",
        st.path().c_str(), name.c_str(), t.shape_str().c_str());
  if (t.dtype != "F32" && t.dtype != "F16" && t.dtype != "BF16")
    die("%s: tensor %s has dtype %s; the weight must be F32, F16 or BF16", st.path().c_str(),
        name.c_str(), t.dtype.c_str());
  rows = t.shape[0];
  cols = t.shape[1];
  return st.f32(t);
}

// GPTQ checkpoint tensors of one layer at `prefix`, added to a safetensors writer.
// Returns the number of zeros the v1 format had to clamp (see gptaq_gptq_pack).
inline int64_t add_gptq_layer(gptaq_safetensors_writer *w, const std::string &prefix,
                              int32_t format, int32_t bits, int32_t group_size, int64_t rows,
                              int64_t cols, const uint8_t *codes, const float *scales,
                              const float *zeros, const int32_t *g_idx) {
  int64_t qwr = 0, qzc = 0, G = 0;
  check(gptaq_gptq_shapes(rows, cols, group_size, bits, &qwr, &qzc, &G), nullptr,
        ("packing " + prefix).c_str());
  std::vector<int32_t> qweight(static_cast<size_t>(qwr * rows)), qzeros(static_cast<size_t>(G * qzc)),
      gi(static_cast<size_t>(cols));
  std::vector<uint16_t> sc(static_cast<size_t>(G * rows));
  int64_t clamped = 0;
  check(gptaq_gptq_pack(format, bits, rows, cols, group_size, codes, scales, zeros, g_idx,
                        qweight.data(), qzeros.data(), GPTAQ_DTYPE_F16, sc.data(), gi.data(),
                        &clamped),
        nullptr, ("packing " + prefix).c_str());
  const int64_t s_qw[2] = {qwr, rows}, s_qz[2] = {G, qzc}, s_sc[2] = {G, rows}, s_gi[1] = {cols};
  const std::string what = "adding " + prefix + " tensors";
  check(gptaq_safetensors_writer_add(w, (prefix + ".qweight").c_str(), "I32", 2, s_qw, qweight.data()),
        nullptr, what.c_str());
  check(gptaq_safetensors_writer_add(w, (prefix + ".qzeros").c_str(), "I32", 2, s_qz, qzeros.data()),
        nullptr, what.c_str());
  check(gptaq_safetensors_writer_add(w, (prefix + ".scales").c_str(), "F16", 2, s_sc, sc.data()),
        nullptr, what.c_str());
  check(gptaq_safetensors_writer_add(w, (prefix + ".g_idx").c_str(), "I32", 1, s_gi, gi.data()),
        nullptr, what.c_str());
  return clamped;
}

inline void warn_clamped(int64_t clamped, const std::string &prefix) {
  if (clamped > 0)
    std::fprintf(stderr,
                 "gptaq: warning: %s: %lld (row, group) zeros are 0, which the \"gptq\" (v1) "
                 "format cannot hold; they were stored as 1 (one scale step off). Use --format "
                 "gptq_v2 or --sym to keep them exact.\n",
                 prefix.c_str(), static_cast<long long>(clamped));
}

}  // namespace cli
