// extern "C" entry points of the checkpoint-format section of gptaq.h: GPTQ packing,
// quantize_config.json, safetensors files and llama.cpp imatrix files. Bodies run inside
// the guarded()/guarded_ctx() boundary of c_api_impl.h.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "c_api_impl.h"
#include "config.h"
#include "formats/gptq.h"
#include "formats/imatrix.h"
#include "formats/safetensors.h"

using namespace gptaq;

extern "C" {

/* ---- GPTQ ---- */

int32_t gptaq_gptq_shapes(int64_t rows, int64_t columns, int32_t group_size, int32_t bits,
                          int64_t *qweight_rows, int64_t *qzeros_cols, int64_t *n_groups) {
  return guarded([&] {
    const gptq::Shapes s = gptq::shapes(rows, columns, group_size, bits);
    if (qweight_rows) *qweight_rows = s.qweight_rows;
    if (qzeros_cols) *qzeros_cols = s.qzeros_cols;
    if (n_groups) *n_groups = s.n_groups;
  });
}

int32_t gptaq_gptq_pack(int32_t format, int32_t bits, int64_t rows, int64_t columns,
                        int32_t group_size, const uint8_t *codes, const float *scales,
                        const float *zeros, const int32_t *g_idx, int32_t *qweight,
                        int32_t *qzeros, int32_t scales_dtype, void *scales_out,
                        int32_t *g_idx_out, int64_t *zeros_clamped) {
  return guarded([&] {
    gptq::PackArgs a;
    a.format = format;
    a.bits = bits;
    a.rows = rows;
    a.columns = columns;
    a.group_size = group_size;
    a.codes = codes;
    a.scales = scales;
    a.zeros = zeros;
    a.g_idx = g_idx;
    a.qweight = qweight;
    a.qzeros = qzeros;
    a.scales_dtype = scales_dtype;
    a.scales_out = scales_out;
    a.g_idx_out = g_idx_out;
    a.zeros_clamped = zeros_clamped;
    gptq::pack(a);
  });
}

int32_t gptaq_gptq_unpack(int32_t format, int32_t bits, int64_t rows, int64_t columns,
                          int64_t n_groups, const int32_t *qweight, const int32_t *qzeros,
                          int32_t scales_dtype, const void *scales, const int32_t *g_idx,
                          uint8_t *codes, float *scales_out, float *zeros, float *dequant) {
  return guarded([&] {
    gptq::UnpackArgs a;
    a.format = format;
    a.bits = bits;
    a.rows = rows;
    a.columns = columns;
    a.n_groups = n_groups;
    a.qweight = qweight;
    a.qzeros = qzeros;
    a.scales_dtype = scales_dtype;
    a.scales = scales;
    a.g_idx = g_idx;
    a.codes = codes;
    a.scales_out = scales_out;
    a.zeros = zeros;
    a.dequant = dequant;
    gptq::unpack(a);
  });
}

int32_t gptaq_gptq_quantize_config(const gptaq_config *cfg, int32_t format, char *buf,
                                   int64_t capacity, int64_t *length) {
  return guarded([&] {
    Config c = read_config(cfg);
    validate_config(c);
    const std::string text = gptq::quantize_config(c, format);
    const int64_t n = static_cast<int64_t>(text.size());
    if (length) *length = n;
    if (!buf) return;
    if (capacity <= n)
      fail(GPTAQ_ERR_INVALID_ARGUMENT,
           "buffer of %lld bytes is too small: the text needs %lld plus the NUL",
           static_cast<long long>(capacity), static_cast<long long>(n));
    std::memcpy(buf, text.c_str(), text.size() + 1);
  });
}

int32_t gptaq_gptq_write_quantize_config(const char *path, const gptaq_config *cfg,
                                         int32_t format) {
  return guarded([&] {
    GPTAQ_REQUIRE(path, "path is NULL");
    Config c = read_config(cfg);
    validate_config(c);
    const std::string text = gptq::quantize_config(c, format);
    std::FILE *f = std::fopen(path, "wb");
    if (!f) fail(GPTAQ_ERR_IO, "%s: cannot create: %s", path, std::strerror(errno));
    bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) fail(GPTAQ_ERR_IO, "%s: write failed", path);
  });
}

int32_t gptaq_gptq_read_quantize_config(const char *path, gptaq_config *cfg, int32_t *format) {
  return guarded([&] {
    GPTAQ_REQUIRE(path, "path is NULL");
    GPTAQ_REQUIRE(cfg, "cfg is NULL");
    Config c = read_config(cfg);
    std::FILE *f = std::fopen(path, "rb");
    if (!f) fail(GPTAQ_ERR_IO, "%s: cannot open: %s", path, std::strerror(errno));
    std::string text;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
      text.append(buf, n);
      if (text.size() > (size_t{64} << 20)) {
        std::fclose(f);
        fail(GPTAQ_ERR_FORMAT, "%s: larger than 64 MB, not a config file", path);
      }
    }
    const bool err = std::ferror(f) != 0;
    std::fclose(f);
    if (err) fail(GPTAQ_ERR_IO, "%s: read failed", path);
    const int32_t fmt = gptq::parse_quantize_config(text, path, c);
    validate_config(c);
    const size_t size = static_cast<size_t>(cfg->struct_size);
    const int32_t keep = cfg->struct_size;
    std::memcpy(cfg, &c, size < sizeof c ? size : sizeof c);
    cfg->struct_size = keep;
    if (format) *format = fmt;
  });
}

/* ---- safetensors reading ---- */

int32_t gptaq_safetensors_open(gptaq_safetensors **out, const char *path) {
  if (out) *out = nullptr;
  return guarded([&] {
    GPTAQ_REQUIRE(out, "out is NULL");
    GPTAQ_REQUIRE(path, "path is NULL");
    *out = new gptaq_safetensors(path);
  });
}

void gptaq_safetensors_close(gptaq_safetensors *r) { delete r; }

int64_t gptaq_safetensors_count(const gptaq_safetensors *r) {
  return r ? static_cast<int64_t>(r->tensors.size()) : -1;
}

int64_t gptaq_safetensors_find(const gptaq_safetensors *r, const char *name) {
  if (!r || !name) return -1;
  auto it = r->index.find(name);
  return it == r->index.end() ? -1 : static_cast<int64_t>(it->second);
}

int32_t gptaq_safetensors_tensor_info(const gptaq_safetensors *r, int64_t index,
                                      const char **name, const char **dtype, int32_t *ndim,
                                      int64_t *shape, int64_t *nbytes) {
  return guarded([&] {
    GPTAQ_REQUIRE(r, "reader is NULL");
    const st::Tensor &t = r->at(index);
    if (name) *name = t.name.c_str();
    if (dtype) *dtype = t.dtype.c_str();
    if (ndim) *ndim = static_cast<int32_t>(t.shape.size());
    if (shape)
      for (size_t k = 0; k < t.shape.size(); ++k) shape[k] = t.shape[k];
    if (nbytes) *nbytes = static_cast<int64_t>(t.end - t.begin);
  });
}

int32_t gptaq_safetensors_read(gptaq_safetensors *r, int64_t index, void *dst,
                               int64_t dst_bytes) {
  return guarded([&] {
    GPTAQ_REQUIRE(r, "reader is NULL");
    const st::Tensor &t = r->at(index);
    const uint64_t n = t.end - t.begin;
    GPTAQ_REQUIRE(dst || n == 0, "dst is NULL");
    GPTAQ_REQUIRE(dst_bytes >= 0 && static_cast<uint64_t>(dst_bytes) >= n,
                  "dst holds %lld bytes but tensor \"%s\" has %llu",
                  static_cast<long long>(dst_bytes), t.name.c_str(),
                  static_cast<unsigned long long>(n));
    r->read(index, dst, 0, n);
  });
}

int32_t gptaq_safetensors_read_f32(gptaq_safetensors *r, int64_t index, float *dst,
                                   int64_t count) {
  return guarded([&] {
    GPTAQ_REQUIRE(r, "reader is NULL");
    const st::Tensor &t = r->at(index);
    GPTAQ_REQUIRE(dst || t.numel == 0, "dst is NULL");
    GPTAQ_REQUIRE(count >= t.numel, "dst holds %lld floats but tensor \"%s\" has %lld elements",
                  static_cast<long long>(count), t.name.c_str(), static_cast<long long>(t.numel));
    r->read_f32(index, dst);
  });
}

int64_t gptaq_safetensors_metadata_count(const gptaq_safetensors *r) {
  return r ? static_cast<int64_t>(r->metadata.size()) : -1;
}

int32_t gptaq_safetensors_metadata_at(const gptaq_safetensors *r, int64_t i, const char **key,
                                      const char **value) {
  return guarded([&] {
    GPTAQ_REQUIRE(r, "reader is NULL");
    GPTAQ_REQUIRE(i >= 0 && static_cast<uint64_t>(i) < r->metadata.size(),
                  "metadata index %lld is outside 0..%lld", static_cast<long long>(i),
                  static_cast<long long>(r->metadata.size()) - 1);
    if (key) *key = r->metadata[static_cast<size_t>(i)].first.c_str();
    if (value) *value = r->metadata[static_cast<size_t>(i)].second.c_str();
  });
}

const char *gptaq_safetensors_metadata(const gptaq_safetensors *r, const char *key) {
  if (!r || !key) return nullptr;
  for (const auto &kv : r->metadata)
    if (kv.first == key) return kv.second.c_str();
  return nullptr;
}

/* ---- safetensors writing ---- */

int32_t gptaq_safetensors_writer_create(gptaq_safetensors_writer **out) {
  if (out) *out = nullptr;
  return guarded([&] {
    GPTAQ_REQUIRE(out, "out is NULL");
    *out = new gptaq_safetensors_writer;
  });
}

void gptaq_safetensors_writer_free(gptaq_safetensors_writer *w) { delete w; }

int32_t gptaq_safetensors_writer_add(gptaq_safetensors_writer *w, const char *name,
                                     const char *dtype, int32_t ndim, const int64_t *shape,
                                     const void *data) {
  return guarded([&] {
    GPTAQ_REQUIRE(w, "writer is NULL");
    GPTAQ_REQUIRE(name, "name is NULL");
    GPTAQ_REQUIRE(dtype, "dtype is NULL");
    GPTAQ_REQUIRE(ndim >= 0 && ndim <= GPTAQ_SAFETENSORS_MAX_DIMS, "ndim %d is outside 0..%d",
                  ndim, GPTAQ_SAFETENSORS_MAX_DIMS);
    GPTAQ_REQUIRE(shape || ndim == 0, "shape is NULL");
    std::vector<int64_t> sh(shape, shape + ndim);
    w->add(name, dtype, std::move(sh), data);
  });
}

int32_t gptaq_safetensors_writer_set_metadata(gptaq_safetensors_writer *w, const char *key,
                                              const char *value) {
  return guarded([&] {
    GPTAQ_REQUIRE(w && key && value, "writer, key or value is NULL");
    GPTAQ_REQUIRE(st::valid_utf8(key) && st::valid_utf8(value),
                  "metadata key and value must be valid UTF-8");
    GPTAQ_REQUIRE(std::strcmp(key, "") != 0, "the metadata key is empty");
    w->metadata[key] = value;
  });
}

int32_t gptaq_safetensors_writer_save(gptaq_safetensors_writer *w, const char *path) {
  return guarded([&] {
    GPTAQ_REQUIRE(w, "writer is NULL");
    GPTAQ_REQUIRE(path, "path is NULL");
    w->save(path);
  });
}

/* ---- imatrix ---- */

int32_t gptaq_ctx_imatrix(gptaq_ctx *ctx, float *in_sum2, int64_t *tokens) {
  return guarded_ctx(ctx, [&] {
    if (in_sum2) ctx->be->get_diag(ctx->stats.xx, ctx->n, ctx->n, in_sum2);
    if (tokens) *tokens = static_cast<int64_t>(ctx->stats.tokens);
  });
}

int32_t gptaq_imatrix_create(gptaq_imatrix **out) {
  if (out) *out = nullptr;
  return guarded([&] {
    GPTAQ_REQUIRE(out, "out is NULL");
    *out = new gptaq_imatrix;
  });
}

void gptaq_imatrix_free(gptaq_imatrix *im) { delete im; }

int32_t gptaq_imatrix_add(gptaq_imatrix *im, const char *name, int64_t n_per_row,
                          int32_t n_mat, const float *in_sum2, const float *counts) {
  return guarded([&] {
    GPTAQ_REQUIRE(im, "imatrix is NULL");
    GPTAQ_REQUIRE(name, "name is NULL");
    im->add(name, n_per_row, n_mat, in_sum2, counts);
  });
}

int32_t gptaq_imatrix_add_ctx(gptaq_imatrix *im, const char *name, gptaq_ctx *ctx) {
  if (!im || !name || !ctx)
    return guarded([&] { fail(GPTAQ_ERR_INVALID_ARGUMENT, "imatrix, name or ctx is NULL"); });
  std::vector<float> diag;
  int64_t tokens = 0;
  int32_t st = guarded([&] { diag.resize(static_cast<size_t>(gptaq_ctx_columns(ctx))); });
  if (st != GPTAQ_OK) return st;
  st = gptaq_ctx_imatrix(ctx, diag.data(), &tokens);
  if (st != GPTAQ_OK) {
    set_thread_error(gptaq_ctx_errmsg(ctx));
    return st;
  }
  return guarded([&] {
    const float count = static_cast<float>(tokens);
    im->add(name, static_cast<int64_t>(diag.size()), 1, diag.data(), &count);
  });
}

int32_t gptaq_imatrix_add_dataset(gptaq_imatrix *im, const char *dataset) {
  return guarded([&] {
    GPTAQ_REQUIRE(im && dataset, "imatrix or dataset is NULL");
    im->datasets.emplace_back(dataset);
  });
}

int32_t gptaq_imatrix_set_chunk_size(gptaq_imatrix *im, int32_t chunk_size) {
  return guarded([&] {
    GPTAQ_REQUIRE(im, "imatrix is NULL");
    GPTAQ_REQUIRE(chunk_size >= 1, "chunk_size %d must be >= 1", chunk_size);
    im->chunk_size = chunk_size;
  });
}

int32_t gptaq_imatrix_save(const gptaq_imatrix *im, const char *path, int32_t format) {
  return guarded([&] {
    GPTAQ_REQUIRE(im && path, "imatrix or path is NULL");
    if (format == GPTAQ_IMATRIX_GGUF)
      im->save_gguf(path);
    else if (format == GPTAQ_IMATRIX_DAT)
      im->save_dat(path);
    else
      fail(GPTAQ_ERR_INVALID_ARGUMENT, "imatrix format %d is not GGUF (0) or DAT (1)", format);
  });
}

}  // extern "C"
