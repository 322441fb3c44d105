// safetensors reading (validated: files are untrusted) and writing. The opaque handles
// of the C API are these structs; src/c_api_formats.cpp wraps them.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace gptaq {
namespace st {

// Bytes per element of a safetensors dtype name, 0 if the name is unknown.
size_t dtype_size(const std::string &dtype);

// Whether s is valid UTF-8 (what a JSON header string must be).
bool valid_utf8(const std::string &s);

struct Tensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // relative to the start of the data
  int64_t numel = 0;
};

// Largest header accepted (the reference implementation's limit).
constexpr uint64_t kMaxHeader = 100000000;
constexpr int kMaxDims = 8;

}  // namespace st
}  // namespace gptaq

struct gptaq_safetensors {
  std::string path;
  std::FILE *f = nullptr;
  uint64_t data_start = 0;  // 8 + header length
  uint64_t file_size = 0;
  std::vector<gptaq::st::Tensor> tensors;          // in data order
  std::map<std::string, size_t> index;             // name -> position in tensors
  std::vector<std::pair<std::string, std::string>> metadata;  // sorted by key

  // Opens and validates; throws gptaq::Error (IO / FORMAT).
  explicit gptaq_safetensors(const std::string &path);
  ~gptaq_safetensors();
  gptaq_safetensors(const gptaq_safetensors &) = delete;
  gptaq_safetensors &operator=(const gptaq_safetensors &) = delete;

  const gptaq::st::Tensor &at(int64_t i) const;
  void read(int64_t i, void *dst, uint64_t offset, uint64_t bytes);  // within tensor i
  void read_f32(int64_t i, float *dst);
};

struct gptaq_safetensors_writer {
  struct Item {
    std::string name, dtype;
    std::vector<int64_t> shape;
    std::vector<unsigned char> bytes;
  };
  std::vector<Item> items;
  std::map<std::string, size_t> names;
  std::map<std::string, std::string> metadata;

  void add(const std::string &name, const std::string &dtype, std::vector<int64_t> shape,
           const void *data);
  // The complete file image's header (length prefix + padded JSON).
  std::string header() const;
  void save(const std::string &path) const;
};
