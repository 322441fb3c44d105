// Picks a backend. The only place that knows which backends exist: the CPU backend is
// built in; the CUDA backend is a module (libgptaq-cuda.so, src/backend_module.h) loaded
// with dlopen the first time a CUDA context, gptaq_backend_available(CUDA) or
// gptaq_build_info() asks, so a process that only uses the CPU never maps a CUDA library.
//
// Where the module is looked for, in order:
//   1. $GPTAQ_CUDA_MODULE, the path of a module file; when set (non-empty) it is the
//      only place tried, so a test or a user can point at another build or hide it.
//   2. <directory of the loaded libgptaq>/GPTAQ_MODULE_SUBDIR/libgptaq-cuda.so, the
//      installed layout (${libdir}/gptaq-<major.minor>/, private to this library version).
//   3. <directory of the loaded libgptaq>/libgptaq-cuda.so: the build tree, and bundles
//      that keep the module beside the library.
// The first file that exists is loaded (a file that exists but does not load is an error,
// not a reason to try the next one). The outcome, success or the reason of failure, is
// kept for the life of the process. A module with a device stays loaded for the life of
// the process; one without (a CPU-only machine) is unloaded right after asking.
#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "backend.h"
#include "backend_module.h"
#include "error.h"

#ifndef GPTAQ_MODULE_SUBDIR
#error "GPTAQ_MODULE_SUBDIR must be defined by the build"
#endif

namespace gptaq {
namespace {

constexpr const char *kCudaModuleFile = "libgptaq-cuda.so";

struct LoadedModule {
  const gptaq_backend_module *table = nullptr;  // null: not loaded (or unloaded), see error
  std::string path;                             // the file loaded (or refused)
  std::string description;                      // the module's own description
  std::string error;                            // why it is not available
  int32_t devices = 0;                          // device_count() at load time
  std::string no_device;                        // device_count()'s reason when 0
};

std::string library_dir() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void *>(&gptaq_version_number), &info) == 0 || !info.dli_fname)
    return std::string();
  std::string file = info.dli_fname;
  const size_t slash = file.rfind('/');
  std::string dir = slash == std::string::npos ? std::string(".") : file.substr(0, slash);
  // Canonical, so messages name e.g. /opt/p/lib, not /opt/p/bin/../lib (an RPATH origin).
  if (char *real = ::realpath(dir.c_str(), nullptr)) {
    dir = real;
    std::free(real);
  }
  return dir;
}

bool file_exists(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::vector<std::string> cuda_candidates(bool *from_env) {
  const char *env = std::getenv("GPTAQ_CUDA_MODULE");
  *from_env = env && *env;
  if (*from_env) return {env};
  std::vector<std::string> out;
  const std::string dir = library_dir();
  if (!dir.empty()) {
    out.push_back(dir + "/" GPTAQ_MODULE_SUBDIR "/" + kCudaModuleFile);
    out.push_back(dir + "/" + kCudaModuleFile);
  }
  return out;
}

LoadedModule load_cuda_module() {
  LoadedModule m;
  bool from_env = false;
  const std::vector<std::string> paths = cuda_candidates(&from_env);
  for (const std::string &p : paths) {
    if (!file_exists(p)) continue;
    m.path = p;
    void *h = dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char *e = dlerror();
      m.error = "the CUDA module " + p + " does not load: " + (e ? e : "dlopen failed");
      return m;
    }
    auto entry = reinterpret_cast<gptaq_backend_module_entry_fn>(
        dlsym(h, GPTAQ_BACKEND_MODULE_ENTRY));
    const gptaq_backend_module *t = entry ? entry(GPTAQ_BACKEND_MODULE_ABI) : nullptr;
    if (!entry || !t || t->abi != GPTAQ_BACKEND_MODULE_ABI || !t->interface_id ||
        std::string(t->interface_id) != GPTAQ_BACKEND_INTERFACE_ID || !t->device_count ||
        !t->create) {
      std::string got = !entry ? "no entry point " GPTAQ_BACKEND_MODULE_ENTRY
                        : !t   ? "it refuses module ABI " + std::to_string(GPTAQ_BACKEND_MODULE_ABI)
                               : "module ABI " + std::to_string(t->abi) + ", interface " +
                                   (t->interface_id ? t->interface_id : "(none)");
      m.error = "the CUDA module " + p + " is not one this libgptaq can use (" + got +
                "; libgptaq " GPTAQ_BACKEND_INTERFACE_ID " needs module ABI " +
                std::to_string(GPTAQ_BACKEND_MODULE_ABI) +
                " built from the same sources): install the libgptaq-cuda that matches";
      dlclose(h);
      return m;
    }
    char why[512] = {0};
    m.description = t->description ? t->description : "";
    m.devices = t->device_count(why, sizeof why);
    if (m.devices > 0) {
      m.table = t;
      return m;
    }
    // No device: unload the module again, so that the CUDA libraries it pulled in (about
    // 190 MB resident) do not stay in a process that will only ever use the CPU. The
    // answer is kept: the device count of a process does not change.
    m.devices = 0;
    m.no_device = why[0] ? why : "no CUDA device";
    m.error = m.no_device + " (module " + p + ", " + m.description + ")";
    dlclose(h);
    return m;
  }
  std::string tried;
  for (const std::string &p : paths) tried += (tried.empty() ? "" : ", ") + p;
  if (paths.empty()) tried = "(the directory of libgptaq is unknown)";
  const std::string looked = "(looked for " + tried +
                             (from_env ? ", from GPTAQ_CUDA_MODULE)"
                                       : "; GPTAQ_CUDA_MODULE may name another)");
#ifdef GPTAQ_HAVE_CUDA
  m.error = "the CUDA module was not found " + looked;
#else
  m.error = "this build of libgptaq has no CUDA support (configure with -DGPTAQ_CUDA=ON "
            "where nvcc exists) and no CUDA module was found " + looked;
#endif
  return m;
}

const LoadedModule &cuda_module() {
  static const LoadedModule m = load_cuda_module();  // thread-safe, once per process
  return m;
}

}  // namespace

bool backend_available(gptaq_backend which) {
  switch (which) {
    case GPTAQ_BACKEND_AUTO:
    case GPTAQ_BACKEND_CPU:
      return true;
    case GPTAQ_BACKEND_CUDA:
      return cuda_module().table != nullptr;
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

std::string backends_found() {
  const LoadedModule &m = cuda_module();
  std::string s = "cpu";
  if (m.table)
    s += ",cuda (" + std::to_string(m.devices) + " device" + (m.devices == 1 ? "" : "s") +
         ", " + m.description + ", module " + m.path + ")";
  else
    s += "; cuda: " + m.error;
  return s;
}

std::unique_ptr<Backend> make_backend(gptaq_backend which, int device, int num_threads,
                                      std::string *note) {
  std::string unused;
  std::string &why_chosen = note ? *note : unused;
  if (which == GPTAQ_BACKEND_CPU) {
    why_chosen = "asked for the CPU";
    return make_cpu_backend(num_threads);
  }
  const LoadedModule &m = cuda_module();
  if (!m.table) {
    if (which == GPTAQ_BACKEND_AUTO) {
      why_chosen = "auto: fell back to the CPU, CUDA unavailable: " + m.error;
      return make_cpu_backend(num_threads);
    }
    fail(GPTAQ_ERR_BACKEND_UNAVAILABLE, "CUDA backend unavailable: %s", m.error.c_str());
  }
  char why[512] = {0};
  Backend *raw = nullptr;
  const int32_t st = m.table->create(device, &raw, why, sizeof why);
  std::unique_ptr<Backend> be(raw);
  if (st == GPTAQ_OK && be) {
    why_chosen = which == GPTAQ_BACKEND_CUDA ? "asked for CUDA, device " + std::to_string(device)
                                             : "auto: CUDA device " + std::to_string(device);
    return be;
  }
  if (which == GPTAQ_BACKEND_AUTO && st == GPTAQ_ERR_BACKEND_UNAVAILABLE) {
    why_chosen = std::string("auto: fell back to the CPU, CUDA unavailable: ") +
                 (why[0] ? why : "no device");
    return make_cpu_backend(num_threads);
  }
  if (st == GPTAQ_ERR_BACKEND_UNAVAILABLE || st == GPTAQ_OK)
    fail(GPTAQ_ERR_BACKEND_UNAVAILABLE, "CUDA backend unavailable: %s",
         why[0] ? why : "the module created no backend");
  fail(static_cast<gptaq_status>(st), "CUDA backend: %s", why[0] ? why : "creation failed");
}

}  // namespace gptaq
