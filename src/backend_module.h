// The contract between libgptaq and a backend built as its own shared module (cuda/ is
// one: libgptaq-cuda.so), loaded with dlopen by src/backend_registry.cpp the first time
// something asks for that backend.
//
// A module exports exactly one symbol, the entry point GPTAQ_BACKEND_MODULE_ENTRY
// (extern "C", the ABI number is part of its name), which returns a static table. The
// core refuses a module whose table has another abi or interface_id, so a stale module
// (built from another version of backend.h) is an error message, never a crash.
//
// Errors: the table's functions return a gptaq_status and write a message into `why`;
// they never throw. The Backend object a module creates is used through its virtual
// functions, which throw gptaq::Error as every backend's do: the module compiles error.h
// (fail()) in itself, and the core's exception boundary (c_api_impl.h) catches the
// module's gptaq::Error by type. That crosses the dlopen boundary because libstdc++
// compares the type_info of a named (non-local) class by its mangled name, and both
// libraries use the one libstdc++; tests/backend_module checks it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend.h"

// Bump when this table changes; the entry point's name carries it.
#define GPTAQ_BACKEND_MODULE_ABI 1
#define GPTAQ_BACKEND_MODULE_ENTRY "gptaq_backend_module_v1"

// GPTAQ_BACKEND_INTERFACE_ID (a string) is set by CMake for the core and every module:
// the library version and a hash of backend.h and the headers its types come from, so a
// module is loaded only by the core it was built with.
#ifndef GPTAQ_BACKEND_INTERFACE_ID
#error "GPTAQ_BACKEND_INTERFACE_ID must be defined by the build"
#endif

extern "C" {

struct gptaq_backend_module {
  int32_t abi;               // GPTAQ_BACKEND_MODULE_ABI
  const char *interface_id;  // GPTAQ_BACKEND_INTERFACE_ID the module was built with
  const char *name;          // "cuda"
  const char *description;   // one line for gptaq_build_info, e.g. the runtime version
  // Number of usable devices (>= 0). When 0, why (why_size bytes, NUL-terminated) says
  // why, e.g. "no CUDA device (cudaGetDeviceCount: ...)". Never throws.
  int32_t (*device_count)(char *why, size_t why_size);
  // A new backend on the given device into *out (owned by the caller, deleted through
  // Backend's virtual destructor). Returns GPTAQ_OK, or a status with why filled
  // (GPTAQ_ERR_BACKEND_UNAVAILABLE when the device does not exist or answer). Never throws.
  int32_t (*create)(int32_t device, gptaq::Backend **out, char *why, size_t why_size);
};

// The entry point's type. core_abi is the core's GPTAQ_BACKEND_MODULE_ABI; a module may
// return null when it cannot serve that ABI.
typedef const gptaq_backend_module *(*gptaq_backend_module_entry_fn)(int32_t core_abi);

}  // extern "C"
