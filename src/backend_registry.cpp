// Picks a backend. The only place that knows which backends were compiled in.
#include "backend.h"
#include "error.h"
#include <string>

namespace gptaq {

#ifdef GPTAQ_HAVE_CUDA
// Defined in cuda/. Returns null (with *why filled) when no device answers.
std::unique_ptr<Backend> make_cuda_backend(int device, std::string *why);
int cuda_device_count();
#endif

bool backend_available(gptaq_backend which) {
  switch (which) {
    case GPTAQ_BACKEND_AUTO:
    case GPTAQ_BACKEND_CPU:
      return true;
    case GPTAQ_BACKEND_CUDA:
#ifdef GPTAQ_HAVE_CUDA
      return cuda_device_count() > 0;
#else
      return false;
#endif
  }
  return false;
}

const char *backends_compiled() {
#ifdef GPTAQ_HAVE_CUDA
  return "cpu,cuda";
#else
  return "cpu";
#endif
}

std::unique_ptr<Backend> make_backend(gptaq_backend which, int device, int num_threads,
                                      std::string *note) {
  std::string unused;
  std::string &why_chosen = note ? *note : unused;
  if (which == GPTAQ_BACKEND_CPU) {
    why_chosen = "asked for the CPU";
    return make_cpu_backend(num_threads);
  }
#ifdef GPTAQ_HAVE_CUDA
  std::string why;
  if (which == GPTAQ_BACKEND_CUDA || cuda_device_count() > 0) {
    auto be = make_cuda_backend(device, &why);
    if (be) {
      why_chosen = which == GPTAQ_BACKEND_CUDA ? "asked for CUDA, device " + std::to_string(device)
                                               : "auto: CUDA device " + std::to_string(device);
      return be;
    }
    if (which == GPTAQ_BACKEND_CUDA)
      fail(GPTAQ_ERR_BACKEND_UNAVAILABLE, "CUDA backend unavailable: %s", why.c_str());
    why_chosen = "auto: fell back to the CPU, CUDA unavailable: " + why;
  } else {
    why_chosen = "auto: fell back to the CPU, no CUDA device answers";
  }
  return make_cpu_backend(num_threads);
#else
  (void)device;
  if (which == GPTAQ_BACKEND_CUDA)
    fail(GPTAQ_ERR_BACKEND_UNAVAILABLE,
         "CUDA backend unavailable: this build of libgptaq has no CUDA support "
         "(configure with -DGPTAQ_CUDA=ON where nvcc exists)");
  why_chosen = "auto: the CPU, this build has no CUDA support";
  return make_cpu_backend(num_threads);
#endif
}

}  // namespace gptaq
