// libFuzzer harness: the .npy reader (gptaq_npy_open / info / read_rows) on arbitrary
// bytes. Promises checked: no crash, leak or UB; a status in range; a message on
// failure; a successful open reports a supported dtype and a shape that fits the file.
#include <vector>

#include "fuzz_util.h"
#include "gptaq/gptaq.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz::MemFile f(data, size);
  gptaq_npy_reader *r = nullptr;
  const int32_t s = gptaq_npy_open(&r, f.path());
  if (s != GPTAQ_OK) {
    FUZZ_ASSERT(r == nullptr);
    FUZZ_ASSERT(s < 0 && s >= GPTAQ_ERR_INTERNAL && s != GPTAQ_ERR_INTERNAL);
    FUZZ_ASSERT(gptaq_last_errmsg()[0] != '\0');
    return 0;
  }
  int32_t dtype = -1;
  int64_t rows = -1, cols = -1;
  FUZZ_ASSERT(gptaq_npy_info(r, &dtype, &rows, &cols) == GPTAQ_OK);
  FUZZ_ASSERT(dtype == GPTAQ_DTYPE_F32 || dtype == GPTAQ_DTYPE_F16 || dtype == GPTAQ_DTYPE_U8 ||
              dtype == GPTAQ_DTYPE_I32);
  FUZZ_ASSERT(rows >= 0 && cols >= 0);
  const int64_t elem = dtype == GPTAQ_DTYPE_U8 ? 1 : dtype == GPTAQ_DTYPE_F16 ? 2 : 4;
  // The data must be in the file: the header was validated against its size.
  FUZZ_ASSERT(cols == 0 || rows <= int64_t(size) / elem / cols);
  if (rows == 0) {
    // (0, huge) is a valid empty array: nothing to read, and no row-sized buffer.
    uint8_t dummy[8];
    int64_t got = -1;
    FUZZ_ASSERT(gptaq_npy_read_rows(r, dummy, 1, &got) == GPTAQ_OK && got == 0);
    gptaq_npy_close(r);
    return 0;
  }
  // Read everything in row chunks of bounded size (a row fits in the file: see above).
  const int64_t row_bytes = cols * elem;
  const int64_t chunk = row_bytes > 0 ? std::max<int64_t>(1, 65536 / row_bytes) : 1024;
  std::vector<uint8_t> buf(size_t(std::max<int64_t>(1, chunk * row_bytes)));
  int64_t total = 0;
  for (int guard = 0; guard < 1 << 20; ++guard) {
    int64_t got = -1;
    FUZZ_ASSERT(gptaq_npy_read_rows(r, buf.data(), chunk, &got) == GPTAQ_OK);
    FUZZ_ASSERT(got >= 0 && got <= chunk);
    if (got == 0) break;
    total += got;
  }
  FUZZ_ASSERT(total == rows || row_bytes == 0);
  gptaq_npy_close(r);
  return 0;
}
