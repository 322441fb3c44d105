// safetensors: an 8-byte little-endian header length, a JSON header, then raw data.
// The reader validates everything in the header against the file before use, in the
// spirit of the reference implementation (huggingface/safetensors): known dtypes,
// sizes that match shapes, offsets inside the data, no overlaps, no gaps, no trailing
// bytes.
#include "formats/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "error.h"
#include "half.h"

using gptaq::fail;
using json = nlohmann::json;

namespace gptaq {
namespace st {

size_t dtype_size(const std::string &d) {
  static const std::map<std::string, size_t> sizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
      {"I16", 2}, {"I8", 1},  {"U64", 8}, {"U32", 4},  {"U16", 2}, {"U8", 1},
      {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  auto it = sizes.find(d);
  return it == sizes.end() ? 0 : it->second;
}

namespace {

// A JSON number that is a non-negative integer, as uint64.
bool as_u64(const json &v, uint64_t &out) {
  if (v.is_number_unsigned()) {
    out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer()) {
    int64_t x = v.get<int64_t>();
    if (x < 0) return false;
    out = static_cast<uint64_t>(x);
    return true;
  }
  return false;
}

}  // namespace

// The JSON header holds names and metadata as strings, which must be valid UTF-8.
bool valid_utf8(const std::string &s) {
  try {
    (void)json(s).dump();
    return true;
  } catch (const json::exception &) {
    return false;
  }
}

namespace {

int fseek64(std::FILE *f, uint64_t off) {
  return fseeko(f, static_cast<off_t>(off), SEEK_SET);
}

}  // namespace
}  // namespace st
}  // namespace gptaq

using namespace gptaq::st;

gptaq_safetensors::gptaq_safetensors(const std::string &p) : path(p) {
  const char *pc = path.c_str();
  f = std::fopen(pc, "rb");
  if (!f) fail(GPTAQ_ERR_IO, "%s: cannot open: %s", pc, std::strerror(errno));
  if (fseeko(f, 0, SEEK_END) != 0) fail(GPTAQ_ERR_IO, "%s: cannot seek", pc);
  const off_t end = ftello(f);
  if (end < 0) fail(GPTAQ_ERR_IO, "%s: cannot tell the file size", pc);
  file_size = static_cast<uint64_t>(end);
  if (file_size < 8)
    fail(GPTAQ_ERR_FORMAT, "%s: %llu bytes is too short for a safetensors file (needs an "
         "8-byte header length)", pc, static_cast<unsigned long long>(file_size));
  unsigned char lenb[8];
  if (fseek64(f, 0) != 0 || std::fread(lenb, 1, 8, f) != 8)
    fail(GPTAQ_ERR_IO, "%s: cannot read the header length", pc);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | lenb[i];
  if (hlen > kMaxHeader)
    fail(GPTAQ_ERR_FORMAT, "%s: header length %llu exceeds the limit of %llu bytes", pc,
         static_cast<unsigned long long>(hlen), static_cast<unsigned long long>(kMaxHeader));
  if (hlen > file_size - 8)
    fail(GPTAQ_ERR_FORMAT, "%s: header length %llu runs past the end of the %llu-byte file",
         pc, static_cast<unsigned long long>(hlen), static_cast<unsigned long long>(file_size));
  if (hlen < 2) fail(GPTAQ_ERR_FORMAT, "%s: header of %llu bytes cannot hold a JSON object", pc,
                     static_cast<unsigned long long>(hlen));
  std::string h(static_cast<size_t>(hlen), '\0');
  if (std::fread(&h[0], 1, h.size(), f) != h.size())
    fail(GPTAQ_ERR_IO, "%s: cannot read the %llu-byte header", pc,
         static_cast<unsigned long long>(hlen));
  if (h[0] != '{') fail(GPTAQ_ERR_FORMAT, "%s: the header does not start with '{'", pc);
  json doc = json::parse(h.begin(), h.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object())
    fail(GPTAQ_ERR_FORMAT, "%s: the header is not a valid JSON object", pc);
  data_start = 8 + hlen;
  const uint64_t data_size = file_size - data_start;

  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string &name = it.key();
    const json &v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail(GPTAQ_ERR_FORMAT, "%s: __metadata__ is not an object", pc);
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          fail(GPTAQ_ERR_FORMAT, "%s: __metadata__[\"%s\"] is not a string", pc, m.key().c_str());
        metadata.emplace_back(m.key(), m.value().get<std::string>());
      }
      continue;
    }
    const char *nc = name.c_str();
    if (!v.is_object()) fail(GPTAQ_ERR_FORMAT, "%s: entry \"%s\" is not an object", pc, nc);
    auto dt = v.find("dtype"), sh = v.find("shape"), off = v.find("data_offsets");
    if (dt == v.end() || sh == v.end() || off == v.end())
      fail(GPTAQ_ERR_FORMAT, "%s: tensor \"%s\" lacks dtype, shape or data_offsets", pc, nc);
    if (!dt->is_string()) fail(GPTAQ_ERR_FORMAT, "%s: tensor \"%s\": dtype is not a string", pc, nc);
    Tensor t;
    t.name = name;
    t.dtype = dt->get<std::string>();
    const size_t es = dtype_size(t.dtype);
    if (es == 0)
      fail(GPTAQ_ERR_FORMAT, "%s: tensor \"%s\" has the unknown dtype \"%s\"", pc, nc,
           t.dtype.c_str());
    if (!sh->is_array() || sh->size() > static_cast<size_t>(kMaxDims))
      fail(GPTAQ_ERR_FORMAT, "%s: tensor \"%s\": shape is not an array of at most %d sizes", pc,
           nc, kMaxDims);
    uint64_t numel = 1;
    bool overflow = false;
    for (const json &d : *sh) {
      uint64_t x;
      if (!as_u64(d, x))
        fail(GPTAQ_ERR_FORMAT, "%s: tensor \"%s\": a shape entry is not a non-negative integer",
             pc, nc);
      if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail(GPTAQ_ERR_FORMAT, "%s: tensor \"%s\": dimension %llu is too large", pc, nc,
             static_cast<unsigned long long>(x));
      t.shape.push_back(static_cast<int64_t>(x));
      if (x != 0 && numel > (std::numeric_limits<uint64_t>::max() / 16) / x) overflow = true;
      numel *= x;
    }
    if (std::find(t.shape.begin(), t.shape.end(), 0) != t.shape.end()) {
      numel = 0;
      overflow = false;
    }
    if (overflow || numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / es)
      fail(GPTAQ_ERR_FORMAT, "%s: tensor \"%s\": its element count overflows", pc, nc);
    if (!off->is_array() || off->size() != 2 || !as_u64((*off)[0], t.begin) ||
        !as_u64((*off)[1], t.end))
      fail(GPTAQ_ERR_FORMAT, "%s: tensor \"%s\": data_offsets is not two non-negative integers",
           pc, nc);
    if (t.end < t.begin)
      fail(GPTAQ_ERR_FORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu] end before they begin",
           pc, nc, static_cast<unsigned long long>(t.begin), static_cast<unsigned long long>(t.end));
    if (t.end > data_size)
      fail(GPTAQ_ERR_FORMAT,
           "%s: tensor \"%s\": data_offsets [%llu, %llu] run past the end of the %llu data bytes",
           pc, nc, static_cast<unsigned long long>(t.begin), static_cast<unsigned long long>(t.end),
           static_cast<unsigned long long>(data_size));
    if (t.end - t.begin != numel * es)
      fail(GPTAQ_ERR_FORMAT,
           "%s: tensor \"%s\": data_offsets span %llu bytes but %llu elements of %s need %llu",
           pc, nc, static_cast<unsigned long long>(t.end - t.begin),
           static_cast<unsigned long long>(numel), t.dtype.c_str(),
           static_cast<unsigned long long>(numel * es));
    t.numel = static_cast<int64_t>(numel);
    tensors.push_back(std::move(t));
  }
  std::sort(metadata.begin(), metadata.end());
  // Data order; zero-size tensors first at their offset. Contiguous cover of the data.
  std::stable_sort(tensors.begin(), tensors.end(), [](const Tensor &a, const Tensor &b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t pos = 0;
  for (const Tensor &t : tensors) {
    if (t.begin < pos)
      fail(GPTAQ_ERR_FORMAT, "%s: tensor \"%s\" (bytes %llu..%llu) overlaps the tensor before it",
           pc, t.name.c_str(), static_cast<unsigned long long>(t.begin),
           static_cast<unsigned long long>(t.end));
    if (t.begin > pos)
      fail(GPTAQ_ERR_FORMAT, "%s: %llu unused bytes before tensor \"%s\" (the data must be contiguous)",
           pc, static_cast<unsigned long long>(t.begin - pos), t.name.c_str());
    pos = t.end;
  }
  if (pos != data_size)
    fail(GPTAQ_ERR_FORMAT, "%s: the tensors cover %llu of the %llu data bytes", pc,
         static_cast<unsigned long long>(pos), static_cast<unsigned long long>(data_size));
  for (size_t i = 0; i < tensors.size(); ++i) index[tensors[i].name] = i;
}

gptaq_safetensors::~gptaq_safetensors() {
  if (f) std::fclose(f);
}

const Tensor &gptaq_safetensors::at(int64_t i) const {
  if (i < 0 || static_cast<uint64_t>(i) >= tensors.size())
    fail(GPTAQ_ERR_INVALID_ARGUMENT, "tensor index %lld is outside 0..%lld",
         static_cast<long long>(i), static_cast<long long>(tensors.size()) - 1);
  return tensors[static_cast<size_t>(i)];
}

void gptaq_safetensors::read(int64_t i, void *dst, uint64_t offset, uint64_t bytes) {
  const Tensor &t = at(i);
  if (bytes == 0) return;
  if (fseek64(f, data_start + t.begin + offset) != 0 ||
      std::fread(dst, 1, static_cast<size_t>(bytes), f) != bytes)
    fail(GPTAQ_ERR_IO, "%s: reading tensor \"%s\" failed (was the file changed?)", path.c_str(),
         t.name.c_str());
}

void gptaq_safetensors::read_f32(int64_t i, float *dst) {
  const Tensor &t = at(i);
  const std::string &d = t.dtype;
  if (d == "F32") {
    read(i, dst, 0, t.end - t.begin);
    return;
  }
  if (d != "F16" && d != "BF16" && d != "F64")
    fail(GPTAQ_ERR_UNSUPPORTED, "tensor \"%s\" has dtype %s; only F32, F16, BF16 and F64 convert "
         "to float32", t.name.c_str(), d.c_str());
  const size_t es = dtype_size(d);
  const int64_t chunk = int64_t{1} << 20;
  std::vector<unsigned char> buf(static_cast<size_t>(std::min<int64_t>(chunk, t.numel)) * es);
  for (int64_t s = 0; s < t.numel; s += chunk) {
    const int64_t n = std::min(chunk, t.numel - s);
    read(i, buf.data(), static_cast<uint64_t>(s) * es, static_cast<uint64_t>(n) * es);
    for (int64_t k = 0; k < n; ++k) {
      const unsigned char *p = buf.data() + k * es;
      if (es == 2) {
        uint16_t h = static_cast<uint16_t>(p[0] | (p[1] << 8));
        dst[s + k] = d == "F16" ? gptaq::f16_to_f32(h) : gptaq::bf16_to_f32(h);
      } else {
        double x;
        std::memcpy(&x, p, 8);
        dst[s + k] = static_cast<float>(x);
      }
    }
  }
}

void gptaq_safetensors_writer::add(const std::string &name, const std::string &dtype,
                                   std::vector<int64_t> shape, const void *data) {
  if (name.empty()) fail(GPTAQ_ERR_INVALID_ARGUMENT, "the tensor name is empty");
  if (name == "__metadata__")
    fail(GPTAQ_ERR_INVALID_ARGUMENT, "\"__metadata__\" is reserved and cannot name a tensor");
  if (!valid_utf8(name))
    fail(GPTAQ_ERR_INVALID_ARGUMENT, "tensor name \"%s\" is not valid UTF-8", name.c_str());
  if (names.count(name))
    fail(GPTAQ_ERR_INVALID_ARGUMENT, "a tensor named \"%s\" was already added", name.c_str());
  const size_t es = dtype_size(dtype);
  if (es == 0)
    fail(GPTAQ_ERR_INVALID_ARGUMENT, "unknown safetensors dtype \"%s\" for tensor \"%s\"",
         dtype.c_str(), name.c_str());
  if (shape.size() > static_cast<size_t>(kMaxDims))
    fail(GPTAQ_ERR_INVALID_ARGUMENT, "tensor \"%s\" has %zu dimensions (at most %d)", name.c_str(),
         shape.size(), kMaxDims);
  int64_t numel = 1;
  for (size_t k = 0; k < shape.size(); ++k) {
    if (shape[k] < 0)
      fail(GPTAQ_ERR_INVALID_ARGUMENT, "tensor \"%s\": dimension %zu is negative", name.c_str(), k);
    if (shape[k] != 0 && numel > std::numeric_limits<int64_t>::max() / 16 / shape[k])
      fail(GPTAQ_ERR_SHAPE, "tensor \"%s\": its size overflows", name.c_str());
    numel *= shape[k];
  }
  const size_t bytes = static_cast<size_t>(numel) * es;
  if (bytes && !data) fail(GPTAQ_ERR_INVALID_ARGUMENT, "tensor \"%s\": data is NULL", name.c_str());
  Item it;
  it.name = name;
  it.dtype = dtype;
  it.shape = std::move(shape);
  it.bytes.resize(bytes);
  if (bytes) std::memcpy(it.bytes.data(), data, bytes);
  names[name] = items.size();
  items.push_back(std::move(it));
}

std::string gptaq_safetensors_writer::header() const {
  json h = json::object();
  uint64_t pos = 0;
  for (const Item &it : items) {
    json t = json::object();
    t["dtype"] = it.dtype;
    t["shape"] = it.shape;
    t["data_offsets"] = {pos, pos + it.bytes.size()};
    pos += it.bytes.size();
    h[it.name] = std::move(t);
  }
  if (!metadata.empty()) h["__metadata__"] = metadata;
  std::string text = h.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + text;
}

void gptaq_safetensors_writer::save(const std::string &path) const {
  const std::string head = header();
  const std::string tmp = path + ".partial";
  std::FILE *out = std::fopen(tmp.c_str(), "wb");
  if (!out) fail(GPTAQ_ERR_IO, "%s: cannot create: %s", tmp.c_str(), std::strerror(errno));
  bool ok = std::fwrite(head.data(), 1, head.size(), out) == head.size();
  for (const Item &it : items)
    if (ok && !it.bytes.empty())
      ok = std::fwrite(it.bytes.data(), 1, it.bytes.size(), out) == it.bytes.size();
  ok = (std::fclose(out) == 0) && ok;
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
