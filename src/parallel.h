// A minimal fork-join over contiguous index ranges with plain threads. Threads sleep (join)
// rather than spin between regions, so they do not compete with OpenBLAS's own threads,
// and the library imposes no OpenMP runtime on its host.
#pragma once

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace gptaq {

// Threads to use for `count` independent items of which each thread should get at least
// `min_per_thread`; `requested` 0 means all hardware threads.
inline int parallel_threads(int64_t count, int requested, int64_t min_per_thread = 16) {
  int t = requested > 0 ? requested : static_cast<int>(std::thread::hardware_concurrency());
  if (t < 1) t = 1;
  return static_cast<int>(std::min<int64_t>(t, std::max<int64_t>(1, count / min_per_thread)));
}

// Run body(k, i0, i1) for the t contiguous chunks k of [0, count); the caller runs chunk
// 0. Bodies must not throw. A thread that cannot be started has its chunk run inline.
template <class F>
void parallel_for(int64_t count, int t, F &&body) {
  if (t < 1) t = 1;
  std::vector<std::thread> pool;
  std::vector<int> inline_chunks;
  for (int k = 1; k < t; ++k) {
    const int64_t i0 = count * k / t, i1 = count * (k + 1) / t;
    try {
      pool.emplace_back([&body, k, i0, i1] { body(k, i0, i1); });
    } catch (...) {
      inline_chunks.push_back(k);
    }
  }
  body(0, int64_t{0}, count / t);
  for (int k : inline_chunks) body(k, count * k / t, count * (k + 1) / t);
  for (auto &th : pool) th.join();
}

}  // namespace gptaq
