// Checkpoint formats: GPTQ packing (golden words, round trips, the solver's dequant),
// quantize_config.json, safetensors (round trip and malformed files), llama.cpp imatrix
// (parsed back with an independent minimal GGUF reader).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <unistd.h>

#include "gptaq/gptaq.h"
#include "problems.h"

namespace {

std::string tmp_path(const std::string &name) {
  return "/tmp/gptaq_test_formats_" + std::to_string(static_cast<long>(::getpid())) + "_" + name;
}

std::vector<unsigned char> slurp(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<unsigned char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void spit(const std::string &path, const std::string &bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

uint16_t to_f16(float x) {
  uint16_t h;
  gptaq_f32_to_half(GPTAQ_DTYPE_F16, &x, &h, 1);
  return h;
}
float from_f16(uint16_t h) {
  float x;
  gptaq_half_to_f32(GPTAQ_DTYPE_F16, &h, &x, 1);
  return x;
}

// Pack codes given per output row (rows x columns) with one group and the given zeros.
struct Packed {
  int32_t status = GPTAQ_OK;
  std::vector<uint32_t> qweight, qzeros;
  std::vector<uint16_t> scales;
  int64_t clamped = -1;
};

Packed pack(int32_t format, int bits, int64_t rows, int64_t cols, int32_t group_size,
            const std::vector<uint8_t> &codes, const std::vector<float> &zeros,
            const int32_t *g_idx = nullptr) {
  Packed p;
  int64_t qwr = 0, qzc = 0, G = 0;
  REQUIRE(gptaq_gptq_shapes(rows, cols, group_size, bits, &qwr, &qzc, &G) == GPTAQ_OK);
  std::vector<float> scales(static_cast<size_t>(rows * G), 0.5f);
  p.qweight.assign(static_cast<size_t>(qwr * rows), 0xdeadbeefu);
  p.qzeros.assign(static_cast<size_t>(G * qzc), 0xdeadbeefu);
  p.scales.assign(static_cast<size_t>(G * rows), 0);
  p.status = gptaq_gptq_pack(format, bits, rows, cols, group_size, codes.data(), scales.data(),
                             zeros.data(), g_idx, reinterpret_cast<int32_t *>(p.qweight.data()),
                             reinterpret_cast<int32_t *>(p.qzeros.data()), GPTAQ_DTYPE_F16,
                             p.scales.data(), nullptr, &p.clamped);
  return p;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// GPTQ golden vectors (words derived by hand from the layout: code k of a column at bit
// k*b of the column's stream, least significant bit first; the 3-bit ones also checked
// against AutoGPTQ's pack loop 10 | 1 | 10 | 1 | 10).
// ---------------------------------------------------------------------------------------

TEST_CASE("gptq golden: 4-bit qweight and qzeros, v1 and v2") {
  const int64_t N = 8, K = 8;
  std::vector<uint8_t> codes(N * K);
  for (int64_t k = 0; k < K; ++k) {
    codes[0 * K + k] = uint8_t(k);       // 0 1 2 ... 7  -> 0x76543210
    codes[1 * K + k] = uint8_t(15 - k);  // 15 14 ... 8  -> 0x89abcdef
  }
  for (int64_t n = 2; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) codes[n * K + k] = uint8_t(n + 8);  // 0xaaaaaaaa ...
  std::vector<float> sym(N, 8.0f), asym(N);
  for (int64_t n = 0; n < N; ++n) asym[n] = float(n);

  Packed v1 = pack(GPTAQ_GPTQ_V1, 4, N, K, -1, codes, sym);
  REQUIRE(v1.status == GPTAQ_OK);
  REQUIRE(v1.qweight.size() == 8);
  CHECK(v1.qweight[0] == 0x76543210u);
  CHECK(v1.qweight[1] == 0x89abcdefu);
  CHECK(v1.qweight[2] == 0xaaaaaaaau);
  CHECK(v1.qweight[7] == 0xffffffffu);
  REQUIRE(v1.qzeros.size() == 1);
  CHECK(v1.qzeros[0] == 0x77777777u);  // symmetric 4-bit v1: zero 8 stored as 7
  CHECK(v1.clamped == 0);

  Packed v2 = pack(GPTAQ_GPTQ_V2, 4, N, K, -1, codes, sym);
  REQUIRE(v2.status == GPTAQ_OK);
  CHECK(v2.qzeros[0] == 0x88888888u);
  CHECK(v2.qweight == v1.qweight);

  Packed a2 = pack(GPTAQ_GPTQ_V2, 4, N, K, -1, codes, asym);
  CHECK(a2.qzeros[0] == 0x76543210u);
  CHECK(a2.clamped == 0);
  Packed a1 = pack(GPTAQ_GPTQ_V1, 4, N, K, -1, codes, asym);
  REQUIRE(a1.status == GPTAQ_OK);
  CHECK(a1.qzeros[0] == 0x65432100u);  // zero 0 cannot be stored: kept at 0 and counted
  CHECK(a1.clamped == 1);
}

TEST_CASE("gptq golden: 2-bit and 8-bit") {
  {
    const int64_t N = 16, K = 16;
    std::vector<uint8_t> codes(N * K, 3);
    for (int64_t k = 0; k < K; ++k) codes[k] = uint8_t(k % 4);  // bytes 0b11100100
    std::vector<float> sym(N, 2.0f);
    Packed v1 = pack(GPTAQ_GPTQ_V1, 2, N, K, -1, codes, sym);
    REQUIRE(v1.status == GPTAQ_OK);
    REQUIRE(v1.qweight.size() == 16);
    CHECK(v1.qweight[0] == 0xe4e4e4e4u);
    CHECK(v1.qweight[1] == 0xffffffffu);
    REQUIRE(v1.qzeros.size() == 1);
    CHECK(v1.qzeros[0] == 0x55555555u);
    Packed v2 = pack(GPTAQ_GPTQ_V2, 2, N, K, -1, codes, sym);
    CHECK(v2.qzeros[0] == 0xaaaaaaaau);
  }
  {
    const int64_t N = 4, K = 8;
    std::vector<uint8_t> codes(N * K, 0);
    for (int64_t k = 0; k < K; ++k) codes[k] = uint8_t(k + 1);
    for (int64_t k = 0; k < K; ++k) codes[3 * K + k] = uint8_t(255 - k);
    std::vector<float> sym(N, 128.0f);
    Packed v1 = pack(GPTAQ_GPTQ_V1, 8, N, K, -1, codes, sym);
    REQUIRE(v1.status == GPTAQ_OK);
    REQUIRE(v1.qweight.size() == 2 * 4);  // [K/4, N]
    CHECK(v1.qweight[0 * 4 + 0] == 0x04030201u);
    CHECK(v1.qweight[1 * 4 + 0] == 0x08070605u);
    CHECK(v1.qweight[0 * 4 + 3] == 0xfcfdfeffu);
    CHECK(v1.qweight[1 * 4 + 1] == 0u);
    REQUIRE(v1.qzeros.size() == 1);
    CHECK(v1.qzeros[0] == 0x7f7f7f7fu);
    Packed v2 = pack(GPTAQ_GPTQ_V2, 8, N, K, -1, codes, sym);
    CHECK(v2.qzeros[0] == 0x80808080u);
  }
}

TEST_CASE("gptq golden: 3-bit straddling codes in qweight and qzeros") {
  const int64_t N = 32, K = 32;
  std::vector<uint8_t> codes(N * K, 0);
  for (int64_t k = 0; k < K; ++k) codes[0 * K + k] = uint8_t(k % 8);
  codes[1 * K + 10] = 7;  // code 10: bits 30-31 of word 0, bit 0 of word 1
  codes[2 * K + 21] = 7;  // code 21: bit 31 of word 1, bits 0-1 of word 2
  for (int64_t k = 0; k < K; ++k) codes[3 * K + k] = 3;
  std::vector<float> sym(N, 4.0f), ramp(N);
  for (int64_t n = 0; n < N; ++n) ramp[n] = float(n % 8);

  Packed v1 = pack(GPTAQ_GPTQ_V1, 3, N, K, -1, codes, sym);
  REQUIRE(v1.status == GPTAQ_OK);
  REQUIRE(v1.qweight.size() == 3 * 32);
  auto qw = [&](int w, int n) { return v1.qweight[size_t(w * N + n)]; };
  CHECK(qw(0, 0) == 0x88fac688u);
  CHECK(qw(1, 0) == 0xc688fac6u);
  CHECK(qw(2, 0) == 0xfac688fau);
  CHECK(qw(0, 1) == 0xc0000000u);
  CHECK(qw(1, 1) == 0x00000001u);
  CHECK(qw(2, 1) == 0x00000000u);
  CHECK(qw(0, 2) == 0x00000000u);
  CHECK(qw(1, 2) == 0x80000000u);
  CHECK(qw(2, 2) == 0x00000003u);
  CHECK(qw(0, 3) == 0xdb6db6dbu);
  CHECK(qw(1, 3) == 0xb6db6db6u);
  CHECK(qw(2, 3) == 0x6db6db6du);
  // Symmetric 3-bit v1: every zero 4 stored as 3, the well-known 0xdb6db6db pattern.
  REQUIRE(v1.qzeros.size() == 3);
  CHECK(v1.qzeros[0] == 0xdb6db6dbu);
  CHECK(v1.qzeros[1] == 0xb6db6db6u);
  CHECK(v1.qzeros[2] == 0x6db6db6du);

  Packed v2 = pack(GPTAQ_GPTQ_V2, 3, N, K, -1, codes, ramp);
  REQUIRE(v2.status == GPTAQ_OK);
  CHECK(v2.qzeros[0] == 0x88fac688u);
  CHECK(v2.qzeros[1] == 0xc688fac6u);
  CHECK(v2.qzeros[2] == 0xfac688fau);

  // Unpacking the golden words gives the codes back, straddlers included.
  std::vector<uint8_t> back(N * K);
  std::vector<float> zb(N);
  REQUIRE(gptaq_gptq_unpack(GPTAQ_GPTQ_V2, 3, N, K, 1,
                            reinterpret_cast<const int32_t *>(v2.qweight.data()),
                            reinterpret_cast<const int32_t *>(v2.qzeros.data()), GPTAQ_DTYPE_F16,
                            v2.scales.data(), nullptr, back.data(), nullptr, zb.data(),
                            nullptr) == GPTAQ_OK);
  CHECK(back == codes);
  CHECK(zb == ramp);
}

TEST_CASE("gptq: v1 zero of 0 is refused unless the caller takes the clamp count") {
  const int64_t N = 8, K = 8;
  std::vector<uint8_t> codes(N * K, 1);
  std::vector<float> scales(N, 1.0f), zeros(N, 3.0f);
  zeros[5] = 0.0f;
  std::vector<int32_t> qw(N), qz(1, 12345);
  std::vector<uint16_t> sc(N);
  CHECK(gptaq_gptq_pack(GPTAQ_GPTQ_V1, 4, N, K, -1, codes.data(), scales.data(), zeros.data(),
                        nullptr, qw.data(), qz.data(), GPTAQ_DTYPE_F16, sc.data(), nullptr,
                        nullptr) == GPTAQ_ERR_UNSUPPORTED);
  CHECK(std::string(gptaq_last_errmsg()).find("v1") != std::string::npos);
  CHECK(qz[0] == 12345);  // nothing written
  int64_t clamped = -1;
  REQUIRE(gptaq_gptq_pack(GPTAQ_GPTQ_V1, 4, N, K, -1, codes.data(), scales.data(), zeros.data(),
                          nullptr, qw.data(), qz.data(), GPTAQ_DTYPE_F16, sc.data(), nullptr,
                          &clamped) == GPTAQ_OK);
  CHECK(clamped == 1);
  CHECK(uint32_t(qz[0]) == 0x22022222u);
  // v2 stores it faithfully and reports no clamp.
  REQUIRE(gptaq_gptq_pack(GPTAQ_GPTQ_V2, 4, N, K, -1, codes.data(), scales.data(), zeros.data(),
                          nullptr, qw.data(), qz.data(), GPTAQ_DTYPE_F16, sc.data(), nullptr,
                          &clamped) == GPTAQ_OK);
  CHECK(clamped == 0);
  CHECK(uint32_t(qz[0]) == 0x33033333u);
  // What a v1 loader reads back: the clamped zero as 1.
  std::vector<float> zb(N);
  REQUIRE(gptaq_gptq_pack(GPTAQ_GPTQ_V1, 4, N, K, -1, codes.data(), scales.data(), zeros.data(),
                          nullptr, qw.data(), qz.data(), GPTAQ_DTYPE_F16, sc.data(), nullptr,
                          &clamped) == GPTAQ_OK);
  REQUIRE(gptaq_gptq_unpack(GPTAQ_GPTQ_V1, 4, N, K, 1, qw.data(), qz.data(), GPTAQ_DTYPE_F16,
                            sc.data(), nullptr, nullptr, nullptr, zb.data(), nullptr) == GPTAQ_OK);
  CHECK(zb[5] == 1.0f);
  CHECK(zb[4] == 3.0f);
}

TEST_CASE("gptq: pack then unpack is the identity (all bits, v1/v2, act-order g_idx, dtypes)") {
  problems::Rng rng(42);
  for (int bits : {2, 3, 4, 8}) {
    for (int32_t format : {GPTAQ_GPTQ_V1, GPTAQ_GPTQ_V2}) {
      for (int32_t gs : {-1, 32, 48}) {
        const int64_t N = 64, K = 96;
        CAPTURE(bits);
        CAPTURE(format);
        CAPTURE(gs);
        const int64_t G = gptaq_num_groups(K, gs);
        const int maxq = (1 << bits) - 1;
        std::vector<uint8_t> codes(N * K);
        for (auto &c : codes) c = uint8_t(rng.below(maxq + 1));
        std::vector<float> scales(N * G), zeros(N * G);
        for (auto &s : scales) s = from_f16(to_f16(float(0.001 + rng.uniform())));
        // v1 cannot hold 0: draw from [1, maxq] there.
        for (auto &z : zeros) z = float(format == GPTAQ_GPTQ_V1 ? 1 + rng.below(maxq) : rng.below(maxq + 1));
        // act-order style g_idx: a random permutation of the columns into groups
        std::vector<int32_t> g_idx(K);
        std::vector<int64_t> perm(K);
        for (int64_t k = 0; k < K; ++k) perm[k] = k;
        for (int64_t k = K - 1; k > 0; --k) std::swap(perm[k], perm[rng.below(k + 1)]);
        for (int64_t p = 0; p < K; ++p) g_idx[perm[p]] = gs == -1 ? 0 : int32_t(p / gs);

        int64_t qwr, qzc, g2;
        REQUIRE(gptaq_gptq_shapes(N, K, gs, bits, &qwr, &qzc, &g2) == GPTAQ_OK);
        CHECK(qwr == K * bits / 32);
        CHECK(qzc == N * bits / 32);
        CHECK(g2 == G);
        std::vector<int32_t> qw(qwr * N), qz(G * qzc), gi(K);
        for (int32_t sdt : {GPTAQ_DTYPE_F16, GPTAQ_DTYPE_BF16, GPTAQ_DTYPE_F32}) {
          std::vector<uint32_t> sc(G * N);  // big enough for f32
          int64_t clamped = -1;
          REQUIRE(gptaq_gptq_pack(format, bits, N, K, gs, codes.data(), scales.data(), zeros.data(),
                                  g_idx.data(), qw.data(), qz.data(), sdt, sc.data(), gi.data(),
                                  &clamped) == GPTAQ_OK);
          CHECK(clamped == 0);
          CHECK(gi == g_idx);
          std::vector<uint8_t> cb(N * K);
          std::vector<float> sb(N * G), zb(N * G), dq(N * K);
          REQUIRE(gptaq_gptq_unpack(format, bits, N, K, G, qw.data(), qz.data(), sdt, sc.data(),
                                    gi.data(), cb.data(), sb.data(), zb.data(), dq.data()) == GPTAQ_OK);
          CHECK(cb == codes);
          CHECK(zb == zeros);
          if (sdt != GPTAQ_DTYPE_BF16) {
            CHECK(sb == scales);
          } else {
            for (size_t i = 0; i < sb.size(); ++i) CHECK(std::fabs(sb[i] - scales[i]) <= scales[i] / 128);
          }
          bool dq_ok = true;
          for (int64_t n = 0; n < N; ++n)
            for (int64_t k = 0; k < K; ++k) {
              const int64_t g = g_idx[k];
              const float want = sb[n * G + g] * (float(codes[n * K + k]) - zeros[n * G + g]);
              dq_ok &= dq[n * K + k] == want;
            }
          CHECK(dq_ok);
        }
        // Default g_idx (NULL): column k -> k / group_size.
        REQUIRE(gptaq_gptq_pack(format, bits, N, K, gs, codes.data(), scales.data(), zeros.data(),
                                nullptr, qw.data(), qz.data(), GPTAQ_DTYPE_F16, nullptr, gi.data(),
                                nullptr) == GPTAQ_OK);
        for (int64_t k = 0; k < K; ++k) CHECK(gi[k] == (gs == -1 ? 0 : int32_t(k / gs)));
      }
    }
  }
}

TEST_CASE("gptq: dequantizing the packed tensors reproduces the solver's weight") {
  problems::Spec spec;
  spec.rows = 64;
  spec.cols = 128;
  spec.tokens = 256;
  const problems::Problem p = problems::make_problem(spec);
  struct Case {
    int bits, group_size, sym, act_order, static_groups, method;
    int32_t format;
  };
  const Case cases[] = {
      {4, 32, 1, 0, 0, GPTAQ_METHOD_GPTQ, GPTAQ_GPTQ_V1},
      {3, 64, 0, 1, 0, GPTAQ_METHOD_GPTQ, GPTAQ_GPTQ_V2},
      {2, 32, 0, 1, 1, GPTAQ_METHOD_GPTAQ, GPTAQ_GPTQ_V2},
      {8, -1, 1, 1, 0, GPTAQ_METHOD_GPTQ, GPTAQ_GPTQ_V1},
      {4, 128, 0, 0, 0, GPTAQ_METHOD_GPTAQ, GPTAQ_GPTQ_V1},
  };
  for (const Case &c : cases) {
    CAPTURE(c.bits);
    CAPTURE(c.group_size);
    CAPTURE(c.act_order);
    gptaq_config cfg;
    gptaq_config_init(&cfg, sizeof cfg);
    cfg.backend = GPTAQ_BACKEND_CPU;
    cfg.method = c.method;
    cfg.bits = c.bits;
    cfg.group_size = c.group_size;
    cfg.sym = c.sym;
    cfg.act_order = c.act_order;
    cfg.static_groups = c.static_groups;
    gptaq_ctx *ctx = nullptr;
    REQUIRE(gptaq_ctx_create(&ctx, spec.cols, &cfg) == GPTAQ_OK);
    REQUIRE(gptaq_add_batch(ctx, p.x_q.data(), c.method == GPTAQ_METHOD_GPTAQ ? p.x_fp.data() : nullptr,
                            spec.tokens, GPTAQ_DTYPE_F32) == GPTAQ_OK);
    const int64_t N = spec.rows, K = spec.cols, G = gptaq_num_groups(K, c.group_size);
    std::vector<uint8_t> codes(N * K);
    std::vector<float> scales(N * G), zeros(N * G), dq(N * K);
    std::vector<int32_t> g_idx(K);
    REQUIRE(gptaq_solve(ctx, p.weight.data(), N, K, codes.data(), scales.data(), zeros.data(),
                        g_idx.data(), dq.data(), nullptr) == GPTAQ_OK);
    gptaq_ctx_free(ctx);

    int64_t qwr, qzc;
    REQUIRE(gptaq_gptq_shapes(N, K, c.group_size, c.bits, &qwr, &qzc, nullptr) == GPTAQ_OK);
    std::vector<int32_t> qw(qwr * N), qz(G * qzc), gi(K);
    std::vector<uint16_t> sc(G * N);
    int64_t clamped = -1;
    REQUIRE(gptaq_gptq_pack(c.format, c.bits, N, K, c.group_size, codes.data(), scales.data(),
                            zeros.data(), g_idx.data(), qw.data(), qz.data(), GPTAQ_DTYPE_F16,
                            sc.data(), gi.data(), &clamped) == GPTAQ_OK);
    std::vector<float> dq2(N * K), zb(N * G);
    std::vector<uint8_t> cb(N * K);
    REQUIRE(gptaq_gptq_unpack(c.format, c.bits, N, K, G, qw.data(), qz.data(), GPTAQ_DTYPE_F16,
                              sc.data(), gi.data(), cb.data(), nullptr, zb.data(), dq2.data()) == GPTAQ_OK);
    CHECK(cb == codes);
    // Exactly scale_fp16 * (code - zero) wherever the zero survived the format; within the
    // fp16 rounding of the scale (2^-11 relative) of the solver's own dequant.
    int64_t exact = 0, close = 0, checked = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) {
        const int64_t g = g_idx[k];
        const float z = zeros[n * G + g];
        if (c.format == GPTAQ_GPTQ_V1 && z == 0.0f) continue;  // clamped: counted below
        ++checked;
        const float s16 = from_f16(sc[g * N + n]);
        exact += dq2[n * K + k] == s16 * (float(codes[n * K + k]) - z);
        close += std::fabs(dq2[n * K + k] - dq[n * K + k]) <= std::fabs(dq[n * K + k]) * 0x1p-11f + 1e-12f;
      }
    CHECK(exact == checked);
    CHECK(close == checked);
    if (c.sym) CHECK(clamped == 0);
    int64_t zero_count = 0;
    for (float z : zeros) zero_count += (z == 0.0f);
    CHECK(clamped == (c.format == GPTAQ_GPTQ_V1 ? zero_count : 0));
  }
}

TEST_CASE("gptq: argument and shape errors") {
  std::vector<uint8_t> codes(64 * 64, 0);
  std::vector<float> s(64, 1.0f), z(64, 1.0f);
  std::vector<int32_t> qw(64 * 64), qz(64);
  int64_t a, b, c;
  CHECK(gptaq_gptq_shapes(64, 64, 128, 5, &a, &b, &c) == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(std::string(gptaq_last_errmsg()).size() > 0);
  CHECK(gptaq_gptq_shapes(64, 40, 128, 3, &a, &b, &c) == GPTAQ_ERR_SHAPE);  // 40*3 % 32 != 0
  CHECK(std::string(gptaq_last_errmsg()).find("multiple of 32") != std::string::npos);
  CHECK(gptaq_gptq_shapes(20, 64, 128, 4, &a, &b, &c) == GPTAQ_ERR_SHAPE);  // 20*4 % 32 != 0
  CHECK(gptaq_gptq_shapes(64, 40, 128, 4, &a, &b, &c) == GPTAQ_OK);         // 40*4 = 160
  CHECK(gptaq_gptq_shapes(64, 64, 0, 4, &a, &b, &c) == GPTAQ_ERR_INVALID_ARGUMENT);
  codes[3] = 16;
  CHECK(gptaq_gptq_pack(GPTAQ_GPTQ_V2, 4, 64, 64, -1, codes.data(), s.data(), z.data(), nullptr,
                        qw.data(), qz.data(), GPTAQ_DTYPE_F16, nullptr, nullptr, nullptr) ==
        GPTAQ_ERR_INVALID_ARGUMENT);
  codes[3] = 0;
  z[2] = 1.5f;
  CHECK(gptaq_gptq_pack(GPTAQ_GPTQ_V2, 4, 64, 64, -1, codes.data(), s.data(), z.data(), nullptr,
                        qw.data(), qz.data(), GPTAQ_DTYPE_F16, nullptr, nullptr, nullptr) ==
        GPTAQ_ERR_INVALID_ARGUMENT);
  z[2] = 1.0f;
  s[0] = 1e6f;  // overflows fp16
  CHECK(gptaq_gptq_pack(GPTAQ_GPTQ_V2, 4, 64, 64, -1, codes.data(), s.data(), z.data(), nullptr,
                        qw.data(), qz.data(), GPTAQ_DTYPE_F16, qz.data(), nullptr, nullptr) ==
        GPTAQ_ERR_UNSUPPORTED);
  s[0] = 1.0f;
  CHECK(gptaq_gptq_pack(7, 4, 64, 64, -1, codes.data(), s.data(), z.data(), nullptr, qw.data(),
                        qz.data(), GPTAQ_DTYPE_F16, nullptr, nullptr, nullptr) ==
        GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(gptaq_gptq_pack(GPTAQ_GPTQ_V2, 4, 64, 64, -1, nullptr, s.data(), z.data(), nullptr,
                        qw.data(), qz.data(), GPTAQ_DTYPE_F16, nullptr, nullptr, nullptr) ==
        GPTAQ_ERR_INVALID_ARGUMENT);
  // Untrusted g_idx in a checkpoint: out of range is a format error.
  std::vector<int32_t> g(64, 0);
  g[10] = 2;
  std::vector<uint16_t> sc(2 * 64, to_f16(1.0f));
  std::vector<int32_t> qz2(2 * 8);
  std::vector<float> dq(64 * 64);
  CHECK(gptaq_gptq_unpack(GPTAQ_GPTQ_V1, 4, 64, 64, 2, qw.data(), qz2.data(), GPTAQ_DTYPE_F16,
                          sc.data(), g.data(), nullptr, nullptr, nullptr, dq.data()) ==
        GPTAQ_ERR_FORMAT);
  CHECK(gptaq_gptq_unpack(GPTAQ_GPTQ_V1, 4, 64, 64, 2, qw.data(), qz2.data(), GPTAQ_DTYPE_F16,
                          sc.data(), nullptr, nullptr, nullptr, nullptr, dq.data()) ==
        GPTAQ_ERR_INVALID_ARGUMENT);
}

TEST_CASE("gptq: quantize_config.json") {
  gptaq_config cfg;
  gptaq_config_init(&cfg, sizeof cfg);
  cfg.method = GPTAQ_METHOD_GPTAQ;
  cfg.bits = 3;
  cfg.group_size = 64;
  cfg.sym = 0;
  cfg.act_order = 1;
  cfg.alpha = 0.3f;
  int64_t len = 0;
  REQUIRE(gptaq_gptq_quantize_config(&cfg, GPTAQ_GPTQ_V2, nullptr, 0, &len) == GPTAQ_OK);
  REQUIRE(len > 0);
  std::vector<char> small(static_cast<size_t>(len));
  CHECK(gptaq_gptq_quantize_config(&cfg, GPTAQ_GPTQ_V2, small.data(), len, &len) ==
        GPTAQ_ERR_INVALID_ARGUMENT);
  std::vector<char> buf(static_cast<size_t>(len + 1));
  REQUIRE(gptaq_gptq_quantize_config(&cfg, GPTAQ_GPTQ_V2, buf.data(), len + 1, nullptr) == GPTAQ_OK);
  CHECK(std::strlen(buf.data()) == size_t(len));
  auto j = nlohmann::json::parse(buf.data());
  CHECK(j["bits"] == 3);
  CHECK(j["group_size"] == 64);
  CHECK(j["desc_act"] == true);
  CHECK(j["sym"] == false);
  CHECK(j["static_groups"] == false);
  CHECK(j["damp_percent"] == 0.01);
  CHECK(j["true_sequential"] == true);
  CHECK(j["quant_method"] == "gptq");
  CHECK(j["checkpoint_format"] == "gptq_v2");
  CHECK(j["meta"]["method"] == "gptaq");
  CHECK(j["meta"]["gptaq"] == nlohmann::json({{"alpha", 0.3}}));  // GPTQModel's meta.gptaq
  CHECK(j["meta"].count("alpha") == 0);
  CHECK(j["meta"]["mse"].is_number());
  CHECK(j["meta"]["mse"] == 0.0);
  CHECK(j["meta"]["act_group_aware"] == false);
  CHECK(j["meta"]["failsafe"].is_null());
  CHECK(j["meta"]["damp_percent"] == 0.01);
  CHECK(j["meta"]["quantizer"][0] == std::string("libgptaq:") + gptaq_version_string());

  cfg.method = GPTAQ_METHOD_GPTQ;
  const std::string path = tmp_path("quantize_config.json");
  REQUIRE(gptaq_gptq_write_quantize_config(path.c_str(), &cfg, GPTAQ_GPTQ_V1) == GPTAQ_OK);
  auto bytes = slurp(path);
  auto j1 = nlohmann::json::parse(std::string(bytes.begin(), bytes.end()));
  CHECK(j1["checkpoint_format"] == "gptq");
  CHECK(j1["meta"]["method"] == "gptq");
  CHECK(j1["meta"]["gptaq"].is_null());
  std::remove(path.c_str());

  // Read back: a file this library wrote, a config.json embedding it, foreign and bad ones.
  cfg.method = GPTAQ_METHOD_GPTAQ;
  cfg.static_groups = 1;
  cfg.damp_percent = 0.05f;
  REQUIRE(gptaq_gptq_write_quantize_config(path.c_str(), &cfg, GPTAQ_GPTQ_V2) == GPTAQ_OK);
  gptaq_config rd;
  gptaq_config_init(&rd, sizeof rd);
  int32_t fmt = -1;
  REQUIRE(gptaq_gptq_read_quantize_config(path.c_str(), &rd, &fmt) == GPTAQ_OK);
  CHECK(fmt == GPTAQ_GPTQ_V2);
  CHECK(rd.bits == 3);
  CHECK(rd.group_size == 64);
  CHECK(rd.sym == 0);
  CHECK(rd.act_order == 1);
  CHECK(rd.static_groups == 1);
  CHECK(rd.damp_percent == 0.05f);
  CHECK(rd.method == GPTAQ_METHOD_GPTAQ);
  CHECK(rd.alpha == 0.3f);
  spit(path, R"({"architectures":["LlamaForCausalLM"],"quantization_config":{"bits":4,"group_size":128,)"
             R"("desc_act":false,"sym":true,"quant_method":"gptq"}})");
  gptaq_config_init(&rd, sizeof rd);
  REQUIRE(gptaq_gptq_read_quantize_config(path.c_str(), &rd, &fmt) == GPTAQ_OK);
  CHECK(fmt == GPTAQ_GPTQ_V1);
  CHECK(rd.bits == 4);
  CHECK(rd.group_size == 128);
  CHECK(rd.sym == 1);
  for (const char *bad : {"{\"bits\": 5}", "{\"bits\": 4, \"quant_method\": \"awq\"}", "[1]", "{",
                          "{\"bits\": 4, \"checkpoint_format\": \"marlin\"}", "{\"group_size\": 4}",
                          "{\"bits\": 4, \"sym\": \"yes\"}", "{\"bits\": 5.5e83}",
                          "{\"bits\": -1e300}", "{\"bits\": 4.5}",
                          "{\"bits\": 4, \"group_size\": 1e40}"}) {
    CAPTURE(bad);
    spit(path, bad);
    CHECK(gptaq_gptq_read_quantize_config(path.c_str(), &rd, &fmt) == GPTAQ_ERR_FORMAT);
    CHECK(std::string(gptaq_last_errmsg()).size() > 0);
  }
  CHECK(gptaq_gptq_read_quantize_config("/nonexistent/q.json", &rd, &fmt) == GPTAQ_ERR_IO);
  std::remove(path.c_str());
  cfg.method = GPTAQ_METHOD_GPTQ;

  cfg.quantizer = GPTAQ_QUANTIZER_BINARY;
  CHECK(gptaq_gptq_quantize_config(&cfg, GPTAQ_GPTQ_V1, nullptr, 0, &len) == GPTAQ_ERR_INVALID_ARGUMENT);
  cfg.quantizer = GPTAQ_QUANTIZER_UNIFORM;
  cfg.act_order = 1;
  cfg.act_group_aware = 1;  // invalid together: refused before any text
  CHECK(gptaq_gptq_quantize_config(&cfg, GPTAQ_GPTQ_V1, nullptr, 0, &len) == GPTAQ_ERR_INVALID_ARGUMENT);
  cfg.quantizer = GPTAQ_QUANTIZER_UNIFORM;
  cfg.bits = 5;
  CHECK(gptaq_gptq_quantize_config(&cfg, GPTAQ_GPTQ_V1, nullptr, 0, &len) == GPTAQ_ERR_INVALID_ARGUMENT);
}

TEST_CASE("gptq: quantize_config.json records GAR, the failsafe, GPTAQ and mse as GPTQModel") {
  gptaq_config cfg;
  gptaq_config_init(&cfg, sizeof cfg);
  cfg.method = GPTAQ_METHOD_GPTAQ;
  cfg.alpha = 0.5f;
  cfg.act_group_aware = 1;
  cfg.failsafe_tokens = 64;
  cfg.mse = 1;
  cfg.mse_norm = 2.4f;
  const std::string path = tmp_path("quantize_config_gar.json");
  REQUIRE(gptaq_gptq_write_quantize_config(path.c_str(), &cfg, GPTAQ_GPTQ_V1) == GPTAQ_OK);
  auto bytes = slurp(path);
  auto j = nlohmann::json::parse(std::string(bytes.begin(), bytes.end()));
  // What transformers, vLLM and AutoGPTQ read stays at the top level.
  for (const char *k : {"bits", "group_size", "desc_act", "sym", "static_groups", "damp_percent",
                        "true_sequential", "lm_head", "quant_method", "checkpoint_format"})
    CHECK_MESSAGE(j.count(k) == 1, k);
  CHECK(j["desc_act"] == false);  // GAR's groups are contiguous: no act-order at inference
  CHECK(j["meta"]["act_group_aware"] == true);
  CHECK(j["meta"]["failsafe"]["strategy"] == "rtn");
  CHECK(j["meta"]["failsafe"]["threshold"] == 64);
  CHECK(j["meta"]["gptaq"]["alpha"] == 0.5);
  CHECK(j["meta"]["mse"] == 2.4);

  gptaq_config rd;
  gptaq_config_init(&rd, sizeof rd);
  REQUIRE(gptaq_gptq_read_quantize_config(path.c_str(), &rd, nullptr) == GPTAQ_OK);
  CHECK(rd.act_group_aware == 1);
  CHECK(rd.act_order == 0);
  CHECK(rd.failsafe_tokens == 64);
  CHECK(rd.method == GPTAQ_METHOD_GPTAQ);
  CHECK(rd.alpha == 0.5f);
  CHECK(rd.mse == 1);
  CHECK(rd.mse_norm == 2.4f);

  // An older caller's struct (without the appended fields) is not written past its size.
  struct Old {
    gptaq_config c;
  } old;
  std::memset(&old, 0x7f, sizeof old);
  gptaq_config_init(&old.c, offsetof(gptaq_config, act_group_aware));
  REQUIRE(gptaq_gptq_read_quantize_config(path.c_str(), &old.c, nullptr) == GPTAQ_OK);
  CHECK(old.c.act_group_aware == 0x7f7f7f7f);
  CHECK(old.c.failsafe_tokens == 0x7f7f7f7f);
  CHECK(old.c.method == GPTAQ_METHOD_GPTAQ);

  // A GPTQModel file: GAR and a relative failsafe threshold, no libgptaq method.
  spit(path, R"({"bits":4,"group_size":128,"desc_act":false,"sym":true,"quant_method":"gptq",)"
             R"("checkpoint_format":"gptq","meta":{"quantizer":["gptqmodel:5.7.0"],)"
             R"("act_group_aware":true,"failsafe":{"strategy":"rtn","threshold":"0.5%",)"
             R"("smooth":{"type":"mad","k":2.75}},"gptaq":null,"mse":0.0}})");
  gptaq_config_init(&rd, sizeof rd);
  rd.failsafe_tokens = 7;
  rd.method = GPTAQ_METHOD_GPTAQ;
  REQUIRE(gptaq_gptq_read_quantize_config(path.c_str(), &rd, nullptr) == GPTAQ_OK);
  CHECK(rd.act_group_aware == 1);
  CHECK(rd.failsafe_tokens == 7);  // a percentage has no token count: unchanged
  CHECK(rd.method == GPTAQ_METHOD_GPTQ);  // gptaq null: not a GPTAQ run
  CHECK(rd.mse == 0);
  // Absolute thresholds (numbers or numeric strings), failsafe null, older GPTQModel's
  // boolean gptaq with gptaq_alpha.
  spit(path, R"({"bits":4,"quant_method":"gptq","meta":{"failsafe":{"strategy":"rtn","threshold":10.5},)"
             R"("gptaq":true,"gptaq_alpha":0.125}})");
  REQUIRE(gptaq_gptq_read_quantize_config(path.c_str(), &rd, nullptr) == GPTAQ_OK);
  CHECK(rd.failsafe_tokens == 11);
  CHECK(rd.method == GPTAQ_METHOD_GPTAQ);
  CHECK(rd.alpha == 0.125f);
  spit(path, R"({"bits":4,"quant_method":"gptq","meta":{"failsafe":{"threshold":"300"}}})");
  REQUIRE(gptaq_gptq_read_quantize_config(path.c_str(), &rd, nullptr) == GPTAQ_OK);
  CHECK(rd.failsafe_tokens == 300);
  spit(path, R"({"bits":4,"quant_method":"gptq","meta":{"failsafe":null}})");
  REQUIRE(gptaq_gptq_read_quantize_config(path.c_str(), &rd, nullptr) == GPTAQ_OK);
  CHECK(rd.failsafe_tokens == 0);
  // An act-order file without act_group_aware is not GAR.
  rd.act_group_aware = 1;
  spit(path, R"({"bits":4,"group_size":128,"desc_act":true,"quant_method":"gptq"})");
  REQUIRE(gptaq_gptq_read_quantize_config(path.c_str(), &rd, nullptr) == GPTAQ_OK);
  CHECK(rd.act_group_aware == 0);
  CHECK(rd.act_order == 1);

  for (const char *bad :
       {R"({"bits":4,"desc_act":true,"meta":{"act_group_aware":true}})",
        R"({"bits":4,"group_size":-1,"meta":{"act_group_aware":true}})",
        R"({"bits":4,"meta":{"act_group_aware":1}})",
        R"({"bits":4,"meta":{"failsafe":"rtn"}})",
        R"({"bits":4,"meta":{"failsafe":{"threshold":-3}}})",
        R"({"bits":4,"meta":{"failsafe":{"threshold":1e12}}})",
        R"({"bits":4,"meta":{"failsafe":{"threshold":"many"}}})",
        R"({"bits":4,"meta":{"failsafe":{"threshold":[1]}}})",
        R"({"bits":4,"meta":{"failsafe":{"strategy":3,"threshold":1}}})",
        R"({"bits":4,"meta":{"gptaq":"yes"}})",
        R"({"bits":4,"meta":{"gptaq":{"alpha":"big"}}})",
        R"({"bits":4,"meta":{"mse":-1}})",
        R"({"bits":4,"meta":{"mse":"on"}})"}) {
    CAPTURE(bad);
    spit(path, bad);
    gptaq_config_init(&rd, sizeof rd);
    CHECK(gptaq_gptq_read_quantize_config(path.c_str(), &rd, nullptr) == GPTAQ_ERR_FORMAT);
    CHECK(std::string(gptaq_last_errmsg()).size() > 0);
  }
  std::remove(path.c_str());
}

// ---------------------------------------------------------------------------------------
// safetensors
// ---------------------------------------------------------------------------------------

TEST_CASE("safetensors: write then read back every tensor and the metadata") {
  const std::string path = tmp_path("rt.safetensors");
  std::vector<float> w(6 * 5);
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(i) * 0.25f - 3.0f;
  std::vector<uint16_t> wb(w.size()), wh(w.size());
  gptaq_f32_to_half(GPTAQ_DTYPE_BF16, w.data(), wb.data(), int64_t(w.size()));
  gptaq_f32_to_half(GPTAQ_DTYPE_F16, w.data(), wh.data(), int64_t(w.size()));
  std::vector<int32_t> ints = {1, -2, 3, -4, 0x7fffffff};
  std::vector<uint8_t> bytes = {1, 2, 3};
  double scalar = 2.5;
  const int64_t s2[2] = {6, 5}, s1[1] = {5}, s3[1] = {3}, s0[1] = {0};

  gptaq_safetensors_writer *wr = nullptr;
  REQUIRE(gptaq_safetensors_writer_create(&wr) == GPTAQ_OK);
  REQUIRE(gptaq_safetensors_writer_add(wr, "model.w", "F32", 2, s2, w.data()) == GPTAQ_OK);
  REQUIRE(gptaq_safetensors_writer_add(wr, "model.w_bf16", "BF16", 2, s2, wb.data()) == GPTAQ_OK);
  REQUIRE(gptaq_safetensors_writer_add(wr, "model.w_f16", "F16", 2, s2, wh.data()) == GPTAQ_OK);
  REQUIRE(gptaq_safetensors_writer_add(wr, "ints", "I32", 1, s1, ints.data()) == GPTAQ_OK);
  REQUIRE(gptaq_safetensors_writer_add(wr, "bytes", "U8", 1, s3, bytes.data()) == GPTAQ_OK);
  REQUIRE(gptaq_safetensors_writer_add(wr, "scalar", "F64", 0, nullptr, &scalar) == GPTAQ_OK);
  REQUIRE(gptaq_safetensors_writer_add(wr, "empty", "F32", 1, s0, nullptr) == GPTAQ_OK);
  CHECK(gptaq_safetensors_writer_add(wr, "ints", "I32", 1, s1, ints.data()) == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(gptaq_safetensors_writer_add(wr, "__metadata__", "I32", 1, s1, ints.data()) == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(gptaq_safetensors_writer_add(wr, "x", "Q4", 1, s1, ints.data()) == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(gptaq_safetensors_writer_add(wr, "x", "F32", 1, s1, nullptr) == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(gptaq_safetensors_writer_add(wr, "bad\xff\xfename", "U8", 1, s3, bytes.data()) == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(gptaq_safetensors_writer_set_metadata(wr, "k", "\xc3") == GPTAQ_ERR_INVALID_ARGUMENT);
  REQUIRE(gptaq_safetensors_writer_add(wr, "caf\xc3\xa9.w", "U8", 1, s3, bytes.data()) == GPTAQ_OK);
  REQUIRE(gptaq_safetensors_writer_set_metadata(wr, "format", "pt") == GPTAQ_OK);
  REQUIRE(gptaq_safetensors_writer_set_metadata(wr, "note", "hello \"world\"") == GPTAQ_OK);
  REQUIRE(gptaq_safetensors_writer_save(wr, path.c_str()) == GPTAQ_OK);
  gptaq_safetensors_writer_free(wr);

  auto raw = slurp(path);
  REQUIRE(raw.size() > 8);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | raw[size_t(i)];
  CHECK((8 + hlen) % 8 == 0);
  CHECK(raw[8] == '{');

  gptaq_safetensors *r = nullptr;
  REQUIRE(gptaq_safetensors_open(&r, path.c_str()) == GPTAQ_OK);
  CHECK(gptaq_safetensors_count(r) == 8);
  CHECK(gptaq_safetensors_find(r, "caf\xc3\xa9.w") >= 0);
  CHECK(gptaq_safetensors_find(r, "nope") == -1);
  const int64_t iw = gptaq_safetensors_find(r, "model.w");
  REQUIRE(iw >= 0);
  const char *name = nullptr, *dtype = nullptr;
  int32_t ndim = -1;
  int64_t shape[GPTAQ_SAFETENSORS_MAX_DIMS] = {0};
  int64_t nbytes = 0;
  REQUIRE(gptaq_safetensors_tensor_info(r, iw, &name, &dtype, &ndim, shape, &nbytes) == GPTAQ_OK);
  CHECK(std::string(name) == "model.w");
  CHECK(std::string(dtype) == "F32");
  CHECK(ndim == 2);
  CHECK(shape[0] == 6);
  CHECK(shape[1] == 5);
  CHECK(nbytes == 120);
  std::vector<float> back(w.size());
  REQUIRE(gptaq_safetensors_read(r, iw, back.data(), int64_t(back.size() * 4)) == GPTAQ_OK);
  CHECK(back == w);
  CHECK(gptaq_safetensors_read(r, iw, back.data(), 119) == GPTAQ_ERR_INVALID_ARGUMENT);
  for (const char *n : {"model.w_bf16", "model.w_f16"}) {
    std::vector<float> f(w.size(), -1.0f);
    REQUIRE(gptaq_safetensors_read_f32(r, gptaq_safetensors_find(r, n), f.data(), int64_t(f.size())) == GPTAQ_OK);
    CHECK(f == w);  // these values are exact in both 16-bit types
  }
  std::vector<float> f1(1);
  REQUIRE(gptaq_safetensors_read_f32(r, gptaq_safetensors_find(r, "scalar"), f1.data(), 1) == GPTAQ_OK);
  CHECK(f1[0] == 2.5f);
  REQUIRE(gptaq_safetensors_tensor_info(r, gptaq_safetensors_find(r, "scalar"), nullptr, nullptr, &ndim, nullptr, &nbytes) == GPTAQ_OK);
  CHECK(ndim == 0);
  CHECK(nbytes == 8);
  CHECK(gptaq_safetensors_read_f32(r, gptaq_safetensors_find(r, "ints"), f1.data(), 5) == GPTAQ_ERR_UNSUPPORTED);
  std::vector<int32_t> ib(5);
  REQUIRE(gptaq_safetensors_read(r, gptaq_safetensors_find(r, "ints"), ib.data(), 20) == GPTAQ_OK);
  CHECK(ib == ints);
  std::vector<uint8_t> bb(3);
  REQUIRE(gptaq_safetensors_read(r, gptaq_safetensors_find(r, "bytes"), bb.data(), 3) == GPTAQ_OK);
  CHECK(bb == bytes);
  REQUIRE(gptaq_safetensors_tensor_info(r, gptaq_safetensors_find(r, "empty"), nullptr, nullptr, &ndim, shape, &nbytes) == GPTAQ_OK);
  CHECK(nbytes == 0);
  CHECK(gptaq_safetensors_tensor_info(r, 8, nullptr, nullptr, nullptr, nullptr, nullptr) == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(gptaq_safetensors_metadata_count(r) == 2);
  CHECK(std::string(gptaq_safetensors_metadata(r, "format")) == "pt");
  CHECK(std::string(gptaq_safetensors_metadata(r, "note")) == "hello \"world\"");
  CHECK(gptaq_safetensors_metadata(r, "absent") == nullptr);
  const char *k = nullptr, *v = nullptr;
  REQUIRE(gptaq_safetensors_metadata_at(r, 0, &k, &v) == GPTAQ_OK);
  CHECK(std::string(k) == "format");
  gptaq_safetensors_close(r);
  gptaq_safetensors_close(nullptr);
  std::remove(path.c_str());
}

namespace {

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return s;
}

// A file with the given JSON header (padded to 8) and `data_bytes` zero bytes of data.
std::string st_file(const std::string &header, size_t data_bytes) {
  std::string h = header;
  h.append((8 - h.size() % 8) % 8, ' ');
  return le64(h.size()) + h + std::string(data_bytes, '\0');
}

int32_t open_bytes(const std::string &bytes, std::string *msg) {
  const std::string path = tmp_path("bad.safetensors");
  spit(path, bytes);
  gptaq_safetensors *r = reinterpret_cast<gptaq_safetensors *>(0x1);
  const int32_t st = gptaq_safetensors_open(&r, path.c_str());
  *msg = gptaq_last_errmsg();
  if (st == GPTAQ_OK) gptaq_safetensors_close(r);
  else CHECK(r == nullptr);
  std::remove(path.c_str());
  return st;
}

}  // namespace

TEST_CASE("safetensors: malformed files are refused with GPTAQ_ERR_FORMAT and a message") {
  std::string msg;
  const std::string good = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                           R"("b":{"dtype":"I32","shape":[1,1],"data_offsets":[8,12]}})";
  REQUIRE(open_bytes(st_file(good, 12), &msg) == GPTAQ_OK);

  struct Bad {
    const char *what;
    std::string bytes;
    const char *needle;  // a word the message must contain
  };
  const std::string full = st_file(good, 12);
  const Bad bad[] = {
      {"empty file", std::string(), "too short"},
      {"truncated length", std::string("\x10\0\0", 3), "too short"},
      {"truncated header", full.substr(0, 20), "past the end"},
      {"truncated data", full.substr(0, full.size() - 3), "past the end"},
      {"huge header length", le64(0xffffffffffffff00ull) + "{}", "limit"},
      {"header length past the end", le64(1000) + "{}      ", "past the end"},
      {"not json", st_file("{not json", 0), "JSON"},
      {"not an object", le64(8) + "[1,2,3] ", "start"},
      {"offsets past the end", st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4), "past the end"},
      {"overlapping tensors",
       st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
       "overlaps"},
      {"gap between tensors",
       st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12),
       "unused"},
      {"trailing bytes", st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8), "cover"},
      {"wrong dtype size", st_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,6]}})", 6), "need"},
      {"unknown dtype", st_file(R"({"a":{"dtype":"Q4_0","shape":[3],"data_offsets":[0,6]}})", 6), "unknown dtype"},
      {"negative dimension", st_file(R"({"a":{"dtype":"U8","shape":[-3],"data_offsets":[0,3]}})", 3), "shape"},
      {"float offsets", st_file(R"({"a":{"dtype":"U8","shape":[3],"data_offsets":[0.0,3]}})", 3), "data_offsets"},
      {"reversed offsets", st_file(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[3,0]}})", 3), "before"},
      {"missing field", st_file(R"({"a":{"dtype":"U8","shape":[3]}})", 3), "lacks"},
      {"rank too high", st_file(R"({"a":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}})", 1), "shape"},
      {"element count overflow",
       st_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}})", 4), "overflow"},
      {"metadata not strings", st_file(R"({"__metadata__":{"format":1}})", 0), "not a string"},
      {"entry not an object", st_file(R"({"a":3})", 0), "not an object"},
  };
  for (const Bad &b : bad) {
    CAPTURE(b.what);
    CHECK(open_bytes(b.bytes, &msg) == GPTAQ_ERR_FORMAT);
    CAPTURE(msg);
    CHECK(msg.find(b.needle) != std::string::npos);
  }
  gptaq_safetensors *r = nullptr;
  CHECK(gptaq_safetensors_open(&r, "/nonexistent/dir/x.safetensors") == GPTAQ_ERR_IO);
  CHECK(r == nullptr);
  CHECK(gptaq_safetensors_open(nullptr, "x") == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(gptaq_safetensors_count(nullptr) == -1);
}

// ---------------------------------------------------------------------------------------
// imatrix: written from a context, parsed back by a minimal GGUF reader written here.
// ---------------------------------------------------------------------------------------

namespace {

struct Gguf {
  uint32_t version = 0;
  std::map<std::string, std::string> strings;
  std::map<std::string, uint32_t> u32s;
  std::map<std::string, std::vector<std::string>> string_arrays;
  struct T {
    std::vector<uint64_t> ne;
    uint32_t type = 0;
    uint64_t offset = 0;
  };
  std::map<std::string, T> tensors;
  std::vector<std::string> order;
  uint64_t data_start = 0;
  std::vector<unsigned char> bytes;

  std::vector<float> f32(const std::string &name) const {
    const T &t = tensors.at(name);
    uint64_t n = 1;
    for (uint64_t e : t.ne) n *= e;
    std::vector<float> v(n);
    std::memcpy(v.data(), bytes.data() + data_start + t.offset, n * 4);
    return v;
  }
};

struct Cursor {
  const std::vector<unsigned char> &b;
  size_t p = 0;
  uint64_t u(int n) {
    REQUIRE(p + size_t(n) <= b.size());
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | b[p + size_t(i)];
    p += size_t(n);
    return v;
  }
  std::string s() {
    const uint64_t n = u(8);
    REQUIRE(p + n <= b.size());
    std::string r(reinterpret_cast<const char *>(b.data() + p), size_t(n));
    p += size_t(n);
    return r;
  }
};

Gguf read_gguf(const std::string &path) {
  Gguf g;
  g.bytes = slurp(path);
  Cursor c{g.bytes};
  REQUIRE(g.bytes.size() >= 24);
  REQUIRE(std::memcmp(g.bytes.data(), "GGUF", 4) == 0);
  c.p = 4;
  g.version = uint32_t(c.u(4));
  const uint64_t n_tensors = c.u(8), n_kv = c.u(8);
  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string key = c.s();
    const uint32_t type = uint32_t(c.u(4));
    if (type == 8) {
      g.strings[key] = c.s();
    } else if (type == 4) {
      g.u32s[key] = uint32_t(c.u(4));
    } else if (type == 9) {
      const uint32_t et = uint32_t(c.u(4));
      const uint64_t n = c.u(8);
      REQUIRE(et == 8);
      auto &arr = g.string_arrays[key];
      for (uint64_t k = 0; k < n; ++k) arr.push_back(c.s());
    } else {
      FAIL("unexpected kv type " << type);
    }
  }
  for (uint64_t i = 0; i < n_tensors; ++i) {
    const std::string name = c.s();
    Gguf::T t;
    const uint32_t nd = uint32_t(c.u(4));
    for (uint32_t d = 0; d < nd; ++d) t.ne.push_back(c.u(8));
    t.type = uint32_t(c.u(4));
    t.offset = c.u(8);
    g.tensors[name] = t;
    g.order.push_back(name);
  }
  g.data_start = (c.p + 31) / 32 * 32;
  for (const auto &kv : g.tensors) {
    uint64_t n = 1;
    for (uint64_t e : kv.second.ne) n *= e;
    CHECK(kv.second.offset % 32 == 0);
    REQUIRE(g.data_start + kv.second.offset + 4 * n <= g.bytes.size());
  }
  return g;
}

}  // namespace

TEST_CASE("imatrix: GGUF in_sum2 is the diagonal of the streamed statistics, counts the tokens") {
  const int64_t n = 48, T = 300;
  problems::Rng rng(7);
  std::vector<float> x(T * n);
  for (auto &v : x) v = float(rng.normal() * (1.0 + rng.uniform()));
  std::vector<uint8_t> mask(T, 1);
  for (int64_t t = 0; t < T; t += 7) mask[t] = 0;  // padding left out

  gptaq_config cfg;
  gptaq_config_init(&cfg, sizeof cfg);
  cfg.backend = GPTAQ_BACKEND_CPU;
  gptaq_ctx *ctx = nullptr;
  REQUIRE(gptaq_ctx_create(&ctx, n, &cfg) == GPTAQ_OK);
  REQUIRE(gptaq_add_batch_masked(ctx, x.data(), nullptr, 200, GPTAQ_DTYPE_F32, mask.data()) == GPTAQ_OK);
  REQUIRE(gptaq_add_batch_masked(ctx, x.data() + 200 * n, nullptr, T - 200, GPTAQ_DTYPE_F32,
                                 mask.data() + 200) == GPTAQ_OK);
  // Reference: sum over counted tokens of x_j^2 (H = 2/N * that, so this is diag(H) * N / 2).
  std::vector<double> want(n, 0.0);
  int64_t counted = 0;
  for (int64_t t = 0; t < T; ++t) {
    if (!mask[t]) continue;
    ++counted;
    for (int64_t j = 0; j < n; ++j) want[j] += double(x[t * n + j]) * double(x[t * n + j]);
  }
  std::vector<float> diag(n);
  int64_t tokens = -1;
  REQUIRE(gptaq_ctx_imatrix(ctx, diag.data(), &tokens) == GPTAQ_OK);
  CHECK(tokens == counted);
  for (int64_t j = 0; j < n; ++j) CHECK(diag[j] == doctest::Approx(want[j]).epsilon(1e-5));

  gptaq_imatrix *im = nullptr;
  REQUIRE(gptaq_imatrix_create(&im) == GPTAQ_OK);
  REQUIRE(gptaq_imatrix_add_ctx(im, "blk.0.attn_q.weight", ctx) == GPTAQ_OK);
  REQUIRE(gptaq_imatrix_add_ctx(im, "blk.0.attn_k.weight", ctx) == GPTAQ_OK);
  // A stacked expert weight with 2 matrices, added twice (sums accumulate).
  std::vector<float> e2(2 * 8), c2 = {3.0f, 0.0f};
  for (size_t i = 0; i < e2.size(); ++i) e2[i] = float(i);
  REQUIRE(gptaq_imatrix_add(im, "blk.1.ffn_down_exps.weight", 8, 2, e2.data(), c2.data()) == GPTAQ_OK);
  REQUIRE(gptaq_imatrix_add(im, "blk.1.ffn_down_exps.weight", 8, 2, e2.data(), c2.data()) == GPTAQ_OK);
  CHECK(gptaq_imatrix_add(im, "blk.1.ffn_down_exps.weight", 4, 2, e2.data(), c2.data()) == GPTAQ_ERR_SHAPE);
  REQUIRE(gptaq_imatrix_add_dataset(im, "calib.npy") == GPTAQ_OK);
  REQUIRE(gptaq_imatrix_set_chunk_size(im, 100) == GPTAQ_OK);
  const std::string path = tmp_path("imatrix.gguf");
  REQUIRE(gptaq_imatrix_save(im, path.c_str(), GPTAQ_IMATRIX_GGUF) == GPTAQ_OK);

  Gguf g = read_gguf(path);
  CHECK(g.version == 3);
  CHECK(g.strings["general.type"] == "imatrix");
  CHECK(g.string_arrays["imatrix.datasets"] == std::vector<std::string>{"calib.npy"});
  CHECK(g.u32s["imatrix.chunk_size"] == 100);
  CHECK(g.u32s["imatrix.chunk_count"] == uint32_t(counted / 100));  // whole chunks
  REQUIRE(g.tensors.size() == 6);
  // As llama.cpp writes them: entries sorted by weight name, in_sum2 then counts.
  std::vector<std::string> bases;
  for (size_t i = 0; i < g.order.size(); i += 2) {
    const std::string &a = g.order[i], &b = g.order[i + 1];
    REQUIRE(a.size() > 8);
    CHECK(a.substr(a.size() - 8) == ".in_sum2");
    bases.push_back(a.substr(0, a.size() - 8));
    CHECK(b == bases.back() + ".counts");
  }
  CHECK(std::is_sorted(bases.begin(), bases.end()));
  for (const char *w : {"blk.0.attn_q.weight", "blk.0.attn_k.weight"}) {
    const std::string s2 = std::string(w) + ".in_sum2", cn = std::string(w) + ".counts";
    REQUIRE(g.tensors.count(s2) == 1);
    REQUIRE(g.tensors.count(cn) == 1);
    CHECK(g.tensors[s2].type == 0);
    // 1-D, as llama-imatrix writes them (gguf drops trailing dimensions of 1).
    CHECK(g.tensors[s2].ne == std::vector<uint64_t>{uint64_t(n)});
    CHECK(g.tensors[cn].ne == std::vector<uint64_t>{1});
    const auto sums = g.f32(s2);
    for (int64_t j = 0; j < n; ++j) CHECK(sums[j] == doctest::Approx(want[j]).epsilon(1e-5));
    CHECK(g.f32(cn)[0] == float(counted));
  }
  CHECK(g.tensors["blk.1.ffn_down_exps.weight.in_sum2"].ne == std::vector<uint64_t>{8, 2});
  CHECK(g.tensors["blk.1.ffn_down_exps.weight.counts"].ne == std::vector<uint64_t>{2});
  const auto ex = g.f32("blk.1.ffn_down_exps.weight.in_sum2");
  for (size_t i = 0; i < ex.size(); ++i) CHECK(ex[i] == 2.0f * float(i));
  CHECK(g.f32("blk.1.ffn_down_exps.weight.counts") == std::vector<float>{6.0f, 0.0f});

  // The legacy .dat: values are means times ncall = ceil(count / chunk_size).
  const std::string dat = tmp_path("imatrix.dat");
  REQUIRE(gptaq_imatrix_save(im, dat.c_str(), GPTAQ_IMATRIX_DAT) == GPTAQ_OK);
  auto b = slurp(dat);
  Cursor c{b};
  const int32_t n_entries = int32_t(c.u(4));
  CHECK(n_entries == 3);
  std::map<std::string, std::pair<int32_t, std::vector<float>>> entries;
  for (int32_t e = 0; e < n_entries; ++e) {
    const uint32_t len = uint32_t(c.u(4));
    std::string name(reinterpret_cast<const char *>(b.data() + c.p), len);
    c.p += len;
    const int32_t ncall = int32_t(c.u(4)), nval = int32_t(c.u(4));
    std::vector<float> vals(static_cast<size_t>(nval));
    std::memcpy(vals.data(), b.data() + c.p, size_t(nval) * 4);
    c.p += size_t(nval) * 4;
    entries[name] = {ncall, vals};
  }
  CHECK(int32_t(c.u(4)) == int32_t(counted / 100));  // the trailer: whole chunks
  const uint32_t dlen = uint32_t(c.u(4));
  CHECK(std::string(reinterpret_cast<const char *>(b.data() + c.p), dlen) == "calib.npy");
  CHECK(c.p + dlen == b.size());
  const auto &q = entries["blk.0.attn_q.weight"];
  const int32_t ncall = int32_t((counted + 99) / 100);
  CHECK(q.first == ncall);
  for (int64_t j = 0; j < n; ++j)
    CHECK(q.second[size_t(j)] == doctest::Approx(want[j] / double(counted) * ncall).epsilon(1e-5));
  const auto &x2 = entries["blk.1.ffn_down_exps.weight"];
  CHECK(x2.first == 1);                   // ceil(6 / 100)
  CHECK(x2.second[1] == doctest::Approx(2.0 / 6.0));
  CHECK(x2.second[8] == 1.0f);            // a matrix without tokens stores 1 * ncall

  // Errors
  CHECK(gptaq_imatrix_save(im, path.c_str(), 5) == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(gptaq_imatrix_set_chunk_size(im, 0) == GPTAQ_ERR_INVALID_ARGUMENT);
  const std::string longname(60, 'a');
  REQUIRE(gptaq_imatrix_add(im, longname.c_str(), 8, 1, e2.data(), c2.data()) == GPTAQ_OK);
  CHECK(gptaq_imatrix_save(im, path.c_str(), GPTAQ_IMATRIX_GGUF) == GPTAQ_ERR_INVALID_ARGUMENT);
  CHECK(std::string(gptaq_last_errmsg()).find("GGUF tensor names") != std::string::npos);
  e2[0] = -1.0f;
  CHECK(gptaq_imatrix_add(im, "x", 8, 1, e2.data(), c2.data()) == GPTAQ_ERR_INVALID_ARGUMENT);
  gptaq_imatrix *empty = nullptr;
  REQUIRE(gptaq_imatrix_create(&empty) == GPTAQ_OK);
  CHECK(gptaq_imatrix_save(empty, path.c_str(), GPTAQ_IMATRIX_GGUF) == GPTAQ_ERR_INVALID_ARGUMENT);
  gptaq_imatrix_free(empty);
  gptaq_imatrix_free(im);
  gptaq_imatrix_free(nullptr);
  CHECK(gptaq_ctx_imatrix(nullptr, diag.data(), &tokens) == GPTAQ_ERR_INVALID_ARGUMENT);
  gptaq_ctx_free(ctx);
  std::remove(path.c_str());
  std::remove(dat.c_str());
}

TEST_CASE("imatrix: chunk_count counts whole chunks, as llama-imatrix (1100 tokens / 512 -> 2)") {
  gptaq_imatrix *im = nullptr;
  const std::vector<float> sums{1.0f, 2.0f, 3.0f};
  for (const auto &tc : {std::pair<float, uint32_t>{1100.0f, 2}, {511.0f, 0}, {512.0f, 1},
                         {1536.0f, 3}}) {
    CAPTURE(tc.first);
    REQUIRE(gptaq_imatrix_create(&im) == GPTAQ_OK);
    REQUIRE(gptaq_imatrix_add(im, "blk.0.attn_q.weight", 3, 1, sums.data(), &tc.first) ==
            GPTAQ_OK);
    const std::string path = tmp_path("chunks.gguf"), dat = tmp_path("chunks.dat");
    REQUIRE(gptaq_imatrix_save(im, path.c_str(), GPTAQ_IMATRIX_GGUF) == GPTAQ_OK);
    Gguf g = read_gguf(path);
    CHECK(g.u32s["imatrix.chunk_size"] == 512);
    CHECK(g.u32s["imatrix.chunk_count"] == tc.second);
    REQUIRE(gptaq_imatrix_save(im, dat.c_str(), GPTAQ_IMATRIX_DAT) == GPTAQ_OK);
    const auto b = slurp(dat);
    // One entry of 3 values and no dataset: the trailer's chunk count is 8 bytes from the end.
    REQUIRE(b.size() >= 8);
    int32_t trailer = 0;
    std::memcpy(&trailer, b.data() + b.size() - 8, 4);
    CHECK(trailer == int32_t(tc.second));
    gptaq_imatrix_free(im);
  }
}
