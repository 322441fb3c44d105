// NumPy .npy reading (streamed by rows) and writing. Headers are untrusted input:
// every field is validated against the file size before anything is read.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

#include "c_api_impl.h"

using namespace gptaq;

struct gptaq_npy_reader {
  std::FILE *f = nullptr;
  int32_t dtype = 0;
  int64_t rows = 0, cols = 0, next = 0;
  size_t elem = 0;
  ~gptaq_npy_reader() {
    if (f) std::fclose(f);
  }
};

namespace {

size_t dtype_size(int32_t dt) {
  switch (dt) {
    case GPTAQ_DTYPE_F32: case GPTAQ_DTYPE_I32: return 4;
    case GPTAQ_DTYPE_F16: case GPTAQ_DTYPE_BF16: return 2;
    case GPTAQ_DTYPE_U8: return 1;
    default: return 0;
  }
}

const char *dtype_descr(int32_t dt) {
  switch (dt) {
    case GPTAQ_DTYPE_F32: return "<f4";
    case GPTAQ_DTYPE_F16: return "<f2";
    case GPTAQ_DTYPE_U8: return "|u1";
    case GPTAQ_DTYPE_I32: return "<i4";
    default: return nullptr;
  }
}

// Value of 'key': in a Python dict literal, as raw text up to the next top-level ','/'}'.
std::string dict_value(const std::string &h, const char *key, const char *path) {
  std::string k = std::string("'") + key + "'";
  size_t p = h.find(k);
  if (p == std::string::npos) fail(GPTAQ_ERR_FORMAT, "%s: npy header has no %s", path, key);
  p = h.find(':', p + k.size());
  if (p == std::string::npos) fail(GPTAQ_ERR_FORMAT, "%s: npy header is malformed", path);
  ++p;
  while (p < h.size() && h[p] == ' ') ++p;
  size_t e = p;
  int depth = 0;
  while (e < h.size()) {
    char c = h[e];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
    ++e;
  }
  if (e >= h.size()) fail(GPTAQ_ERR_FORMAT, "%s: npy header is malformed near %s", path, key);
  return h.substr(p, e - p);
}

}  // namespace

extern "C" {

int32_t gptaq_npy_open(gptaq_npy_reader **out, const char *path) {
  if (out) *out = nullptr;
  return guarded([&] {
    GPTAQ_REQUIRE(out, "out is NULL");
    GPTAQ_REQUIRE(path, "path is NULL");
    std::unique_ptr<gptaq_npy_reader> r(new gptaq_npy_reader);
    r->f = std::fopen(path, "rb");
    if (!r->f) fail(GPTAQ_ERR_IO, "%s: cannot open: %s", path, std::strerror(errno));
    unsigned char magic[10];
    if (std::fread(magic, 1, 10, r->f) != 10 || std::memcmp(magic, "\x93NUMPY", 6) != 0)
      fail(GPTAQ_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
    const int major = magic[6];
    uint64_t hlen;
    size_t pre;
    if (major == 1) {
      hlen = magic[8] | (magic[9] << 8);
      pre = 10;
    } else if (major == 2 || major == 3) {
      unsigned char b[2];
      if (std::fread(b, 1, 2, r->f) != 2) fail(GPTAQ_ERR_FORMAT, "%s: truncated npy header", path);
      hlen = magic[8] | (magic[9] << 8) | (uint64_t{b[0]} << 16) | (uint64_t{b[1]} << 24);
      pre = 12;
    } else {
      fail(GPTAQ_ERR_FORMAT, "%s: unsupported npy version %d", path, major);
    }
    if (hlen > (1u << 20)) fail(GPTAQ_ERR_FORMAT, "%s: npy header of %llu bytes is too large", path,
                                static_cast<unsigned long long>(hlen));
    std::string h(static_cast<size_t>(hlen), '\0');
    if (hlen && std::fread(&h[0], 1, h.size(), r->f) != h.size())
      fail(GPTAQ_ERR_FORMAT, "%s: truncated npy header", path);
    std::string descr = dict_value(h, "descr", path);
    std::string order = dict_value(h, "fortran_order", path);
    std::string shape = dict_value(h, "shape", path);
    if (order != "False")
      fail(GPTAQ_ERR_FORMAT, "%s: Fortran-order arrays are not supported (save C order)", path);
    if (descr == "'<f4'") r->dtype = GPTAQ_DTYPE_F32;
    else if (descr == "'<f2'") r->dtype = GPTAQ_DTYPE_F16;
    else if (descr == "'|u1'") r->dtype = GPTAQ_DTYPE_U8;
    else if (descr == "'<i4'") r->dtype = GPTAQ_DTYPE_I32;
    else fail(GPTAQ_ERR_FORMAT, "%s: unsupported dtype %s (need <f4, <f2, |u1 or <i4)", path,
              descr.c_str());
    r->elem = dtype_size(r->dtype);
    // shape: "(a, b)" or "(a,)"
    if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')')
      fail(GPTAQ_ERR_FORMAT, "%s: malformed shape %s", path, shape.c_str());
    int64_t dims[3];
    int nd = 0;
    const char *s = shape.c_str() + 1;
    while (*s && *s != ')') {
      while (*s == ' ' || *s == ',') ++s;
      if (*s == ')') break;
      if (*s < '0' || *s > '9') fail(GPTAQ_ERR_FORMAT, "%s: malformed shape %s", path, shape.c_str());
      int64_t v = 0;
      while (*s >= '0' && *s <= '9') {
        if (v > (std::numeric_limits<int64_t>::max() - 9) / 10)
          fail(GPTAQ_ERR_FORMAT, "%s: shape dimension overflows", path);
        v = v * 10 + (*s++ - '0');
      }
      if (nd == 3) fail(GPTAQ_ERR_FORMAT, "%s: arrays of rank > 2 are not supported", path);
      dims[nd++] = v;
    }
    if (nd == 0 || nd > 2)
      fail(GPTAQ_ERR_FORMAT, "%s: need a 1-D or 2-D array, got rank %d", path, nd);
    r->rows = nd == 2 ? dims[0] : 1;
    r->cols = nd == 2 ? dims[1] : dims[0];
    if (r->cols > 0 && r->rows > std::numeric_limits<int64_t>::max() / 8 / r->cols)
      fail(GPTAQ_ERR_FORMAT, "%s: shape overflows", path);
    // Validate the data size against the file.
    if (std::fseek(r->f, 0, SEEK_END) != 0) fail(GPTAQ_ERR_IO, "%s: cannot seek", path);
    long end = std::ftell(r->f);
    const uint64_t need = pre + hlen + static_cast<uint64_t>(r->rows * r->cols) * r->elem;
    if (end < 0 || static_cast<uint64_t>(end) < need)
      fail(GPTAQ_ERR_FORMAT, "%s: file holds %ld bytes but its header promises %llu", path, end,
           static_cast<unsigned long long>(need));
    if (std::fseek(r->f, static_cast<long>(pre + hlen), SEEK_SET) != 0)
      fail(GPTAQ_ERR_IO, "%s: cannot seek", path);
    *out = r.release();
  });
}

int32_t gptaq_npy_info(const gptaq_npy_reader *r, int32_t *dtype, int64_t *rows, int64_t *cols) {
  return guarded([&] {
    GPTAQ_REQUIRE(r, "reader is NULL");
    if (dtype) *dtype = r->dtype;
    if (rows) *rows = r->rows;
    if (cols) *cols = r->cols;
  });
}

int32_t gptaq_npy_read_rows(gptaq_npy_reader *r, void *dst, int64_t max_rows, int64_t *rows_read) {
  if (rows_read) *rows_read = 0;
  return guarded([&] {
    GPTAQ_REQUIRE(r, "reader is NULL");
    GPTAQ_REQUIRE(dst || max_rows == 0, "dst is NULL");
    GPTAQ_REQUIRE(max_rows >= 0, "max_rows must be >= 0");
    int64_t n = r->rows - r->next;
    if (n > max_rows) n = max_rows;
    const size_t bytes = static_cast<size_t>(n * r->cols) * r->elem;
    if (bytes && std::fread(dst, 1, bytes, r->f) != bytes)
      fail(GPTAQ_ERR_IO, "npy read failed after row %lld", static_cast<long long>(r->next));
    r->next += n;
    if (rows_read) *rows_read = n;
  });
}

void gptaq_npy_close(gptaq_npy_reader *r) { delete r; }

int32_t gptaq_npy_write_nd(const char *path, int32_t dtype, int32_t ndim, const int64_t *shape,
                           const void *data) {
  return guarded([&] {
    GPTAQ_REQUIRE(path, "path is NULL");
    const char *descr = dtype_descr(dtype);
    GPTAQ_REQUIRE(descr, "dtype %d cannot be written to npy (f32, f16, u8, i32)", dtype);
    GPTAQ_REQUIRE(ndim >= 1 && ndim <= 8, "ndim %d is outside 1..8", ndim);
    GPTAQ_REQUIRE(shape, "shape is NULL");
    std::string dims = "(";
    int64_t count = 1;
    for (int32_t i = 0; i < ndim; ++i) {
      GPTAQ_REQUIRE(shape[i] >= 0, "shape[%d] = %lld is negative", i,
                    static_cast<long long>(shape[i]));
      if (shape[i] != 0 && count > std::numeric_limits<int64_t>::max() / 8 / shape[i])
        fail(GPTAQ_ERR_SHAPE, "npy shape overflows");
      count *= shape[i];
      dims += std::to_string(shape[i]);
      dims += (ndim == 1 || i + 1 < ndim) ? "," : "";
      if (i + 1 < ndim) dims += " ";
    }
    dims += ")";
    GPTAQ_REQUIRE(data || count == 0, "data is NULL");
    std::string h = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " +
                    dims + ", }";
    size_t total = 10 + h.size() + 1;
    size_t pad = (64 - total % 64) % 64;
    h.append(pad, ' ');
    h.push_back('\n');
    std::FILE *f = std::fopen(path, "wb");
    if (!f) fail(GPTAQ_ERR_IO, "%s: cannot create: %s", path, std::strerror(errno));
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                             static_cast<unsigned char>(h.size() & 0xff),
                             static_cast<unsigned char>(h.size() >> 8)};
    const size_t bytes = static_cast<size_t>(count) * dtype_size(dtype);
    bool ok = std::fwrite(pre, 1, 10, f) == 10 && std::fwrite(h.data(), 1, h.size(), f) == h.size() &&
              (bytes == 0 || std::fwrite(data, 1, bytes, f) == bytes);
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) fail(GPTAQ_ERR_IO, "%s: write failed", path);
  });
}

int32_t gptaq_npy_write(const char *path, int32_t dtype, int64_t rows, int64_t cols,
                        const void *data) {
  if (cols < 0) return gptaq_npy_write_nd(path, dtype, 1, &rows, data);
  const int64_t shape[2] = {rows, cols};
  return gptaq_npy_write_nd(path, dtype, 2, shape, data);
}

}  // extern "C"
