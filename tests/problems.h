// Deterministic, structured random calibration problems for the numerical tests.
//
// Everything comes from a small self-contained PRNG (splitmix64) and plain IEEE arithmetic
// (+, *, /, sqrt are correctly rounded), so a problem is bit-identical on every platform.
// No std::*_distribution (their output is implementation-defined) and no transcendental
// functions.
#ifndef GPTAQ_TESTS_PROBLEMS_H
#define GPTAQ_TESTS_PROBLEMS_H

#include <cmath>
#include <cstdint>
#include <vector>

namespace problems {

class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1), 53 random bits.
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
  // Approximately standard normal: Irwin-Hall sum of 4 uniforms, unit variance.
  double normal() {
    double s = 0.0;
    for (int i = 0; i < 4; ++i) s += uniform();
    return (s - 2.0) * std::sqrt(3.0);
  }
  // Heavy tailed: a normal divided by sqrt of a uniform in (0.01, 1] (tail ~ |x|^-3).
  double heavy() { return normal() / std::sqrt(0.01 + 0.99 * uniform()); }
  int64_t below(int64_t n) { return int64_t(next() % uint64_t(n)); }

 private:
  uint64_t s_;
};

struct Spec {
  int64_t rows = 32;
  int64_t cols = 160;
  int64_t tokens = 384;
  int64_t rank = 12;            // rank of the correlated part of the inputs
  double noise = 0.3;           // isotropic noise added to the low-rank part
  int n_outliers = 3;           // input channels scaled by 10..100
  int n_dead = 2;               // input channels identically zero in x_q
  bool dead_fp_nonzero = true;  // whether x_fp keeps a small signal on the dead channels
  double fp_delta = 0.05;       // size of x_fp - x_q relative to the signal
  double heavy_frac = 0.03;     // fraction of weights drawn heavy tailed (x4)
  uint64_t seed = 1;
};

struct Problem {
  Spec spec;
  std::vector<float> weight;  // rows x cols
  std::vector<float> x_q;     // tokens x cols
  std::vector<float> x_fp;    // tokens x cols
  std::vector<int64_t> dead;  // dead channel indices
  std::vector<int64_t> outliers;
};

inline Problem make_problem(const Spec &s) {
  Problem p;
  p.spec = s;
  Rng rng(s.seed * 0x2545F4914F6CDD1Dull + 12345);
  const int64_t n = s.cols, t = s.tokens, m = s.rows, k = s.rank;

  // Channel scales: most 0.5..1.5, a few outliers 10..100.
  std::vector<double> chan(static_cast<size_t>(n));
  for (auto &c : chan) c = 0.5 + rng.uniform();
  for (int i = 0; i < s.n_outliers; ++i) {
    const int64_t c = rng.below(n);
    chan[size_t(c)] = 10.0 + 90.0 * rng.uniform();
    p.outliers.push_back(c);
  }
  // Dead channels (distinct from the outliers so both features are exercised).
  while (int(p.dead.size()) < s.n_dead) {
    const int64_t c = rng.below(n);
    bool taken = false;
    for (int64_t o : p.outliers) taken |= (o == c);
    for (int64_t d : p.dead) taken |= (d == c);
    if (!taken) p.dead.push_back(c);
  }

  // x = (Z A + noise) * chan: correlated inputs of rank k plus noise.
  std::vector<double> A(static_cast<size_t>(k * n)), Afp(static_cast<size_t>(k * n));
  for (auto &a : A) a = rng.normal() / std::sqrt(double(k));
  for (auto &a : Afp) a = rng.normal() / std::sqrt(double(k));
  p.x_q.assign(size_t(t * n), 0.0f);
  p.x_fp.assign(size_t(t * n), 0.0f);
  std::vector<double> z(static_cast<size_t>(k));
  for (int64_t tok = 0; tok < t; ++tok) {
    for (auto &v : z) v = rng.normal();
    for (int64_t c = 0; c < n; ++c) {
      double sig = 0.0, sfp = 0.0;
      for (int64_t r = 0; r < k; ++r) {
        sig += z[size_t(r)] * A[size_t(r * n + c)];
        sfp += z[size_t(r)] * Afp[size_t(r * n + c)];
      }
      const double xq = (sig + s.noise * rng.normal()) * chan[size_t(c)];
      // x_fp - x_q: structured (its own low-rank map of the same latent) plus a little noise,
      // the way quantization error of earlier layers correlates with the signal.
      const double dx = s.fp_delta * (sfp + 0.3 * rng.normal()) * chan[size_t(c)];
      p.x_q[size_t(tok * n + c)] = float(xq);
      p.x_fp[size_t(tok * n + c)] = float(xq + dx);
    }
  }
  for (int64_t d : p.dead)
    for (int64_t tok = 0; tok < t; ++tok) {
      p.x_q[size_t(tok * n + d)] = 0.0f;
      if (!s.dead_fp_nonzero) p.x_fp[size_t(tok * n + d)] = 0.0f;
    }

  // Weights: normal, per-row scale, with a few heavy-tailed entries.
  p.weight.assign(size_t(m * n), 0.0f);
  for (int64_t r = 0; r < m; ++r) {
    const double rs = 0.02 * (0.5 + rng.uniform());
    for (int64_t c = 0; c < n; ++c) {
      const double v = (rng.uniform() < s.heavy_frac) ? 4.0 * rng.heavy() : rng.normal();
      p.weight[size_t(r * n + c)] = float(rs * v);
    }
  }
  return p;
}

// A second weight for the same inputs (e.g. k_proj next to q_proj).
inline std::vector<float> other_weight(const Spec &s, uint64_t seed) {
  Rng rng(seed * 0x9E3779B97F4A7C15ull + 777);
  std::vector<float> w(static_cast<size_t>(s.rows * s.cols));
  for (auto &v : w) v = float(0.03 * ((rng.uniform() < s.heavy_frac) ? 4.0 * rng.heavy()
                                                                       : rng.normal()));
  return w;
}

}  // namespace problems

#endif  // GPTAQ_TESTS_PROBLEMS_H
