// Dense helpers for the tool's synthetic networks and benchmarks (not part of the
// library API): row-major sgemm through the BLAS the tool links, a deterministic PRNG.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

extern "C" void sgemm_(const char *transa, const char *transb, const int *m, const int *n,
                       const int *k, const float *alpha, const float *a, const int *lda,
                       const float *b, const int *ldb, const float *beta, float *c,
                       const int *ldc);

namespace cli {

// Y (t x out) = X (t x in) * W^T, W out x in, all row-major.
inline void matmul_xwt(const float *x, const float *w, float *y, int t, int in, int out) {
  const float one = 1.0f, zero = 0.0f;
  // Row-major Y = X W^T  <=>  col-major Y^T = W X^T: W^T col-major is in x out -> trans.
  sgemm_("T", "N", &out, &t, &in, &one, w, &in, x, &in, &zero, y, &out);
}

// splitmix64-based generator with platform-independent normal samples.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
  double normal() {
    double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t s_;
};

// Structured calibration-like activations: low-rank correlation, a heavy-tailed scale
// mixture, and a few outlier channels.
inline std::vector<float> structured_inputs(Rng &rng, int tokens, int cols, int rank,
                                            int outliers, double outlier_scale) {
  std::vector<float> basis(static_cast<size_t>(rank) * cols);
  for (auto &b : basis) b = static_cast<float>(rng.normal() / std::sqrt(static_cast<double>(rank)));
  std::vector<double> chan(static_cast<size_t>(cols), 1.0);
  for (int k = 0; k < outliers; ++k)
    chan[static_cast<size_t>(rng.next() % static_cast<uint64_t>(cols))] = outlier_scale;
  std::vector<float> x(static_cast<size_t>(tokens) * cols);
  std::vector<double> z(static_cast<size_t>(rank));
  for (int t = 0; t < tokens; ++t) {
    const double mix = std::exp(0.5 * rng.normal());  // heavy tails across tokens
    for (auto &v : z) v = rng.normal();
    float *row = &x[static_cast<size_t>(t) * cols];
    for (int j = 0; j < cols; ++j) {
      double v = 0.3 * rng.normal();
      for (int r = 0; r < rank; ++r) v += z[r] * basis[static_cast<size_t>(r) * cols + j];
      row[j] = static_cast<float>(mix * chan[j] * v);
    }
  }
  return x;
}

}  // namespace cli
