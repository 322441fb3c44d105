// The phase schedules of the in-place float <-> double conversions (src/inplace_convert.h)
// that let a float64 factorization live in U's and P's own memory. A phase may run its
// elements in any order, so each schedule is run here with every phase backwards (the
// order that clobbers an unread source first if two elements of one phase overlap) and
// forwards, and the result must be exact either way.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../src/inplace_convert.h"

namespace {

// The buffer as raw storage, read and written through memcpy like the backends' loops do
// through their typed pointers.
struct Buf {
  std::vector<unsigned char> bytes;
  explicit Buf(int64_t floats) : bytes(static_cast<size_t>(floats) * 4) {}
  float f(int64_t i) const {
    float v;
    std::memcpy(&v, &bytes[static_cast<size_t>(i) * 4], 4);
    return v;
  }
  void set_f(int64_t i, float v) { std::memcpy(&bytes[static_cast<size_t>(i) * 4], &v, 4); }
  double d(int64_t i) const {
    double v;
    std::memcpy(&v, &bytes[static_cast<size_t>(i) * 8], 8);
    return v;
  }
  void set_d(int64_t i, double v) { std::memcpy(&bytes[static_cast<size_t>(i) * 8], &v, 8); }
};

float value(int64_t i) { return static_cast<float>(i % 977) * 0.375f - 17.0f + 1.0f / (1 + i % 13); }

}  // namespace

TEST_CASE("in-place widening and narrowing: exact in any order within a phase") {
  for (int64_t count : {1, 2, 3, 4, 5, 7, 64, 1000, 4097, 65539}) {
    for (bool backwards : {false, true}) {
      CAPTURE(count);
      CAPTURE(backwards);
      Buf buf(2 * count);
      for (int64_t i = 0; i < count; ++i) buf.set_f(count + i, value(i));

      int64_t next = 0, phases = 0;
      gptaq::widen_in_place_phases(count, [&](int64_t b, int64_t e) {
        REQUIRE(b == next);  // contiguous, in order, each element once
        REQUIRE(e > b);
        next = e;
        ++phases;
        if (backwards)
          for (int64_t i = e - 1; i >= b; --i) buf.set_d(i, static_cast<double>(buf.f(count + i)));
        else
          for (int64_t i = b; i < e; ++i) buf.set_d(i, static_cast<double>(buf.f(count + i)));
      });
      CHECK(next == count);
      CHECK(phases <= 2 + static_cast<int64_t>(std::log2(static_cast<double>(count))));
      int64_t wrong = 0;
      for (int64_t i = 0; i < count; ++i) wrong += buf.d(i) != static_cast<double>(value(i));
      CHECK(wrong == 0);

      // Back: the factorization leaves doubles; narrow them into the first count floats.
      for (int64_t i = 0; i < count; ++i) buf.set_d(i, static_cast<double>(value(i)) * 2.0);
      next = 0;
      phases = 0;
      gptaq::narrow_in_place_phases(count, [&](int64_t b, int64_t e) {
        REQUIRE(b == next);
        REQUIRE(e > b);
        next = e;
        ++phases;
        if (backwards)
          for (int64_t i = e - 1; i >= b; --i) buf.set_f(i, static_cast<float>(buf.d(i)));
        else
          for (int64_t i = b; i < e; ++i) buf.set_f(i, static_cast<float>(buf.d(i)));
      });
      CHECK(next == count);
      CHECK(phases <= 2 + static_cast<int64_t>(std::log2(static_cast<double>(count))));
      wrong = 0;
      for (int64_t i = 0; i < count; ++i) wrong += buf.f(i) != value(i) * 2.0f;
      CHECK(wrong == 0);
    }
  }
}
