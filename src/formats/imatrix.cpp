// llama.cpp imatrix files.
//
// GGUF v3 (little-endian): "GGUF", u32 version 3, u64 tensor count, u64 kv count; each
// kv is (string key, u32 type, value); each tensor info is (string name, u32 n_dims,
// u64 ne[n_dims], u32 ggml type, u64 offset into the data); then padding to the
// alignment (32), then the tensor data, each tensor padded to the alignment. Strings are
// u64 length + bytes. An imatrix has general.type = "imatrix", imatrix.datasets (array
// of strings), imatrix.chunk_count and imatrix.chunk_size (u32), and per weight
// "<name>.in_sum2" F32 [n_per_row, n_mat] and "<name>.counts" F32 [n_mat], with trailing
// dimensions of 1 left out as gguf writes them (ggml_n_dims): 1-D [n_per_row] and [1]
// for an ordinary weight. imatrix.chunk_count is the number of whole chunks,
// floor(tokens / chunk_size), as llama-imatrix counts the chunks it processed.
#include "formats/imatrix.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "error.h"

using gptaq::fail;

namespace {

constexpr uint32_t kGgufTypeU32 = 4;
constexpr uint32_t kGgufTypeString = 8;
constexpr uint32_t kGgufTypeArray = 9;
constexpr uint32_t kGgmlTypeF32 = 0;
constexpr uint64_t kAlign = 32;
constexpr size_t kGgmlMaxName = 64;  // ggml's GGML_MAX_NAME, including the NUL

struct Out {
  std::string buf;
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) buf.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) buf.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
  void f32(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    u32(x);
  }
  void str(const std::string &s) {
    u64(s.size());
    buf += s;
  }
  void pad(uint64_t align) { buf.append((align - buf.size() % align) % align, '\0'); }
};

void write_file(const std::string &path, const std::string &data) {
  const std::string tmp = path + ".partial";
  std::FILE *f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail(GPTAQ_ERR_IO, "%s: cannot create: %s", tmp.c_str(), std::strerror(errno));
  bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    fail(GPTAQ_ERR_IO, "%s: write failed", tmp.c_str());
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    fail(GPTAQ_ERR_IO, "%s: cannot rename into place: %s", path.c_str(), std::strerror(e));
  }
}

}  // namespace

void gptaq_imatrix::add(const std::string &name, int64_t n_per_row, int32_t n_mat,
                        const float *in_sum2, const float *counts) {
  if (name.empty()) fail(GPTAQ_ERR_INVALID_ARGUMENT, "the imatrix entry name is empty");
  if (n_per_row < 1 || n_mat < 1)
    fail(GPTAQ_ERR_INVALID_ARGUMENT, "imatrix entry \"%s\": n_per_row = %lld and n_mat = %d must be >= 1",
         name.c_str(), static_cast<long long>(n_per_row), n_mat);
  if (n_per_row > (int64_t{1} << 40) / n_mat)
    fail(GPTAQ_ERR_SHAPE, "imatrix entry \"%s\" is too large", name.c_str());
  if (!in_sum2 || !counts)
    fail(GPTAQ_ERR_INVALID_ARGUMENT, "imatrix entry \"%s\": in_sum2 or counts is NULL", name.c_str());
  const int64_t nval = n_per_row * n_mat;
  for (int64_t i = 0; i < nval; ++i)
    if (!std::isfinite(in_sum2[i]) || in_sum2[i] < 0.0f)
      fail(GPTAQ_ERR_INVALID_ARGUMENT, "imatrix entry \"%s\": in_sum2[%lld] = %g is not a finite "
           "value >= 0", name.c_str(), static_cast<long long>(i), static_cast<double>(in_sum2[i]));
  for (int32_t m = 0; m < n_mat; ++m)
    if (!std::isfinite(counts[m]) || counts[m] < 0.0f)
      fail(GPTAQ_ERR_INVALID_ARGUMENT, "imatrix entry \"%s\": counts[%d] = %g is not a finite "
           "value >= 0", name.c_str(), m, static_cast<double>(counts[m]));
  auto it = entries.find(name);
  if (it != entries.end() && (it->second.n_per_row != n_per_row || it->second.n_mat != n_mat))
    fail(GPTAQ_ERR_SHAPE, "imatrix entry \"%s\" was added as %lld x %d, now %lld x %d",
         name.c_str(), static_cast<long long>(it->second.n_per_row), it->second.n_mat,
         static_cast<long long>(n_per_row), n_mat);
  Entry &e = entries[name];
  if (e.sums.empty()) {
    e.n_per_row = n_per_row;
    e.n_mat = n_mat;
    e.sums.assign(static_cast<size_t>(nval), 0.0);
    e.counts.assign(static_cast<size_t>(n_mat), 0.0);
  }
  for (int64_t i = 0; i < nval; ++i) e.sums[static_cast<size_t>(i)] += in_sum2[i];
  for (int32_t m = 0; m < n_mat; ++m) e.counts[static_cast<size_t>(m)] += counts[m];
}

uint32_t gptaq_imatrix::chunk_count() const {
  double mx = 0.0;
  for (const auto &kv : entries)
    for (double c : kv.second.counts) mx = std::max(mx, c);
  const double chunks = std::floor(mx / chunk_size);
  return chunks > 4294967295.0 ? 4294967295u : static_cast<uint32_t>(chunks);
}

void gptaq_imatrix::save_gguf(const std::string &path) const {
  if (entries.empty()) fail(GPTAQ_ERR_INVALID_ARGUMENT, "the imatrix has no entries to save");
  for (const auto &kv : entries)
    if (kv.first.size() + std::strlen(".in_sum2") >= kGgmlMaxName)
      fail(GPTAQ_ERR_INVALID_ARGUMENT,
           "imatrix entry \"%s\": GGUF tensor names are limited to %zu bytes and \"%s.in_sum2\" "
           "is longer", kv.first.c_str(), kGgmlMaxName - 1, kv.first.c_str());
  Out o;
  o.buf.append("GGUF", 4);
  o.u32(3);
  o.u64(2 * entries.size());
  o.u64(4);
  o.str("general.type");
  o.u32(kGgufTypeString);
  o.str("imatrix");
  o.str("imatrix.datasets");
  o.u32(kGgufTypeArray);
  o.u32(kGgufTypeString);
  o.u64(datasets.size());
  for (const auto &d : datasets) o.str(d);
  o.str("imatrix.chunk_count");
  o.u32(kGgufTypeU32);
  o.u32(chunk_count());
  o.str("imatrix.chunk_size");
  o.u32(kGgufTypeU32);
  o.u32(static_cast<uint32_t>(chunk_size));
  auto padded = [](uint64_t n) { return (n + kAlign - 1) / kAlign * kAlign; };
  uint64_t offset = 0;
  for (const auto &kv : entries) {
    const Entry &e = kv.second;
    o.str(kv.first + ".in_sum2");
    o.u32(e.n_mat > 1 ? 2 : 1);
    o.u64(static_cast<uint64_t>(e.n_per_row));
    if (e.n_mat > 1) o.u64(static_cast<uint64_t>(e.n_mat));
    o.u32(kGgmlTypeF32);
    o.u64(offset);
    offset += padded(4 * static_cast<uint64_t>(e.n_per_row) * static_cast<uint64_t>(e.n_mat));
    o.str(kv.first + ".counts");
    o.u32(1);
    o.u64(static_cast<uint64_t>(e.n_mat));
    o.u32(kGgmlTypeF32);
    o.u64(offset);
    offset += padded(4 * static_cast<uint64_t>(e.n_mat));
  }
  o.pad(kAlign);
  for (const auto &kv : entries) {
    for (double v : kv.second.sums) o.f32(static_cast<float>(v));
    o.pad(kAlign);
    for (double c : kv.second.counts) o.f32(static_cast<float>(c));
    o.pad(kAlign);
  }
  write_file(path, o.buf);
}

void gptaq_imatrix::save_dat(const std::string &path) const {
  if (entries.empty()) fail(GPTAQ_ERR_INVALID_ARGUMENT, "the imatrix has no entries to save");
  // As llama.cpp's save_imatrix_legacy: entries with no data at all are skipped, values
  // are means scaled by the number of chunks, and a matrix without data stores 1.
  std::vector<const std::pair<const std::string, Entry> *> keep;
  for (const auto &kv : entries) {
    double mx = 0.0;
    for (double c : kv.second.counts) mx = std::max(mx, c);
    if (mx > 0.0) keep.push_back(&kv);
  }
  if (keep.empty())
    fail(GPTAQ_ERR_INVALID_ARGUMENT, "no imatrix entry has any tokens: nothing to save");
  Out o;
  o.i32(static_cast<int32_t>(keep.size()));
  for (const auto *kv : keep) {
    const Entry &e = kv->second;
    if (e.n_per_row * e.n_mat > 0x7fffffff)
      fail(GPTAQ_ERR_INVALID_ARGUMENT, "imatrix entry \"%s\" is too large for the .dat format",
           kv->first.c_str());
    o.i32(static_cast<int32_t>(kv->first.size()));
    o.buf += kv->first;
    double mx = 0.0;
    for (double c : e.counts) mx = std::max(mx, c);
    const double ncall = std::ceil(mx / chunk_size);
    o.i32(static_cast<int32_t>(std::min(ncall, 2147483647.0)));
    o.i32(static_cast<int32_t>(e.n_per_row * e.n_mat));
    for (int32_t m = 0; m < e.n_mat; ++m) {
      const double c = e.counts[static_cast<size_t>(m)];
      for (int64_t j = 0; j < e.n_per_row; ++j) {
        const double v = e.sums[static_cast<size_t>(m * e.n_per_row + j)];
        o.f32(c > 0.0 ? static_cast<float>(v / c * ncall) : static_cast<float>(ncall));
      }
    }
  }
  o.i32(static_cast<int32_t>(std::min<uint32_t>(chunk_count(), 0x7fffffffu)));
  const std::string ds = datasets.empty() ? std::string() : datasets.back();
  o.i32(static_cast<int32_t>(ds.size()));
  o.buf += ds;
  write_file(path, o.buf);
}
