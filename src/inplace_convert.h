// float <-> double conversion inside one buffer, so that a float64 factorization of an
// n x n matrix needs no memory beyond 2 n^2 floats (the fp32 matrix and the n^2 floats
// after it). Each conversion runs as a sequence of phases: the ranges of one phase may be
// converted concurrently (in any order, by any number of threads or GPU threads), and the
// phases must run one after the other. The schedules are shared by the backends; each
// backend supplies the element loop.
#pragma once

#include <algorithm>
#include <cstdint>

namespace gptaq {

// Widen: count floats stored at floats [count, 2 count) of the buffer become count
// doubles filling the whole buffer (double i = float count + i). run(begin, end) converts
// the elements [begin, end). Double i overwrites the floats 2i and 2i + 1, sources
// 2i - count and 2i + 1 - count: a phase [a, e) with 2e <= count + a writes only sources
// that earlier phases read, and none that it reads itself.
template <class Run>
void widen_in_place_phases(int64_t count, Run &&run) {
  int64_t a = 0;
  while (a < count) {
    const int64_t e = std::max(a + 1, (count + a) / 2);  // a single last element is safe:
    run(a, e);                                             // it is read before it is written
    a = e;
  }
}

// Narrow: count doubles filling the buffer become count floats at floats [0, count)
// (float i = double i). Float i overwrites half of double i / 2: a phase [a, e) with
// e <= 2a writes only doubles that earlier phases read, and none that it reads itself.
template <class Run>
void narrow_in_place_phases(int64_t count, Run &&run) {
  if (count <= 0) return;
  run(int64_t{0}, int64_t{1});  // element 0 reads double 0 before writing over its half
  for (int64_t a = 1; a < count;) {
    const int64_t e = std::min(count, 2 * a);
    run(a, e);
    a = e;
  }
}

}  // namespace gptaq
