// libFuzzer harness: the safetensors reader on arbitrary bytes. Promises checked: no
// crash, leak or UB; every tensor a successful open reports lies inside the file and is
// readable; metadata is consistent.
#include <algorithm>
#include <cstring>
#include <vector>

#include "fuzz_util.h"
#include "gptaq/gptaq.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz::MemFile f(data, size);
  gptaq_safetensors *r = nullptr;
  const int32_t s = gptaq_safetensors_open(&r, f.path());
  if (s != GPTAQ_OK) {
    FUZZ_ASSERT(r == nullptr);
    FUZZ_ASSERT(s < 0 && s > GPTAQ_ERR_INTERNAL);
    FUZZ_ASSERT(gptaq_last_errmsg()[0] != '\0');
    return 0;
  }
  const int64_t count = gptaq_safetensors_count(r);
  FUZZ_ASSERT(count >= 0);
  int64_t sum = 0;
  for (int64_t i = 0; i < count; ++i) {
    const char *name = nullptr, *dtype = nullptr;
    int32_t ndim = -1;
    int64_t shape[GPTAQ_SAFETENSORS_MAX_DIMS];
    int64_t nbytes = -1;
    FUZZ_ASSERT(gptaq_safetensors_tensor_info(r, i, &name, &dtype, &ndim, shape, &nbytes) ==
                GPTAQ_OK);
    FUZZ_ASSERT(name && dtype);
    FUZZ_ASSERT(ndim >= 0 && ndim <= GPTAQ_SAFETENSORS_MAX_DIMS);
    FUZZ_ASSERT(nbytes >= 0 && nbytes <= int64_t(size));
    sum += nbytes;
    FUZZ_ASSERT(gptaq_safetensors_find(r, name) == i);
    std::vector<uint8_t> buf(size_t(nbytes) + 1);
    FUZZ_ASSERT(gptaq_safetensors_read(r, i, buf.data(), nbytes) == GPTAQ_OK);
    if (nbytes > 0)
      FUZZ_ASSERT(gptaq_safetensors_read(r, i, buf.data(), nbytes - 1) ==
                  GPTAQ_ERR_INVALID_ARGUMENT);
    int64_t elems = 1;
    for (int32_t d = 0; d < ndim; ++d) elems *= shape[d];
    if (elems <= (int64_t(1) << 20)) {
      std::vector<float> fl(size_t(std::max<int64_t>(elems, 1)));
      const int32_t rs = gptaq_safetensors_read_f32(r, i, fl.data(), elems);
      FUZZ_ASSERT(rs == GPTAQ_OK || rs == GPTAQ_ERR_UNSUPPORTED);
    }
  }
  FUZZ_ASSERT(sum <= int64_t(size));
  FUZZ_ASSERT(gptaq_safetensors_tensor_info(r, count, nullptr, nullptr, nullptr, nullptr,
                                            nullptr) == GPTAQ_ERR_INVALID_ARGUMENT);
  const int64_t mc = gptaq_safetensors_metadata_count(r);
  FUZZ_ASSERT(mc >= 0);
  for (int64_t i = 0; i < mc; ++i) {
    const char *k = nullptr, *v = nullptr;
    FUZZ_ASSERT(gptaq_safetensors_metadata_at(r, i, &k, &v) == GPTAQ_OK);
    FUZZ_ASSERT(k && v);
    const char *v2 = gptaq_safetensors_metadata(r, k);
    FUZZ_ASSERT(v2 && std::strcmp(v, v2) == 0);
  }
  gptaq_safetensors_close(r);
  return 0;
}
