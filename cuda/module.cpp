// The CUDA backend's module entry point (src/backend_module.h): libgptaq dlopens
// libgptaq-cuda.so and calls gptaq_backend_module_v1, which hands back the table below.
// Everything else in this module is hidden (cuda/module.map).
#include <cuda_runtime.h>

#include <cstdio>
#include <memory>
#include <string>

#include "backend_module.h"
#include "error.h"

namespace gptaq {
// cuda_backend.cpp
std::unique_ptr<Backend> make_cuda_backend(int device, std::string *why);
}  // namespace gptaq

namespace {

void put(char *why, size_t why_size, const std::string &msg) {
  if (why && why_size) std::snprintf(why, why_size, "%s", msg.c_str());
}

int32_t device_count(char *why, size_t why_size) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    put(why, why_size, std::string("no CUDA device (cudaGetDeviceCount: ") + cudaGetErrorString(e) + ")");
    return 0;
  }
  if (count <= 0) put(why, why_size, "no CUDA device (the driver reports 0 devices)");
  return count > 0 ? count : 0;
}

int32_t create(int32_t device, gptaq::Backend **out, char *why, size_t why_size) {
  if (!out) {
    put(why, why_size, "out is NULL");
    return GPTAQ_ERR_INVALID_ARGUMENT;
  }
  *out = nullptr;
  try {
    std::string reason;
    std::unique_ptr<gptaq::Backend> be = gptaq::make_cuda_backend(device, &reason);
    if (!be) {
      put(why, why_size, reason);
      return GPTAQ_ERR_BACKEND_UNAVAILABLE;
    }
    *out = be.release();
    return GPTAQ_OK;
  } catch (const gptaq::Error &e) {
    put(why, why_size, e.what());
    return e.status();
  } catch (const std::bad_alloc &) {
    put(why, why_size, "out of memory creating the CUDA backend");
    return GPTAQ_ERR_OUT_OF_MEMORY;
  } catch (const std::exception &e) {
    put(why, why_size, std::string("internal error: ") + e.what());
    return GPTAQ_ERR_INTERNAL;
  } catch (...) {
    put(why, why_size, "internal error: unknown exception creating the CUDA backend");
    return GPTAQ_ERR_INTERNAL;
  }
}

std::string describe() {
  int rt = 0;
  if (cudaRuntimeGetVersion(&rt) != cudaSuccess) (void)cudaGetLastError();
  return "CUDA runtime " + std::to_string(rt / 1000) + "." + std::to_string(rt % 1000 / 10);
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const gptaq_backend_module *
gptaq_backend_module_v1(int32_t core_abi) {
  if (core_abi != GPTAQ_BACKEND_MODULE_ABI) return nullptr;
  static const std::string description = describe();
  static const gptaq_backend_module table = {
      GPTAQ_BACKEND_MODULE_ABI, GPTAQ_BACKEND_INTERFACE_ID, "cuda", description.c_str(),
      device_count, create};
  return &table;
}
