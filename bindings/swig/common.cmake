# Shared by the SWIG-based bindings (bindings/python, bindings/java, ...): finds SWIG
# once and defines the raw-C-API reference program their tests compare against.
# Sets GPTAQ_SWIG_FOUND, GPTAQ_SWIG_DIR (this folder) and GPTAQ_SWIG_INCLUDE_FLAGS.
# Included by each binding (directory scopes are siblings, so no include_guard).

set(GPTAQ_SWIG_DIR ${CMAKE_CURRENT_LIST_DIR})
find_package(SWIG 4.0 QUIET)
set(GPTAQ_SWIG_FOUND ${SWIG_FOUND})
set(GPTAQ_SWIG_INCLUDE_FLAGS -I${PROJECT_SOURCE_DIR}/include -I${GPTAQ_SWIG_DIR})
# stdint.i must see int64_t as the C compiler does (long on LP64 Linux/macOS), or the
# wrappers pass long long * where the header wants int64_t *.
set(GPTAQ_SWIG_WORDSIZE_FLAGS)
if(CMAKE_SIZEOF_VOID_P EQUAL 8 AND NOT WIN32)
  set(GPTAQ_SWIG_WORDSIZE_FLAGS -DSWIGWORDSIZE64)
endif()

# gptaq_capi_ref: the same quantization through the raw C API (see tests/capi_ref.c).
if(GPTAQ_BUILD_TESTS AND NOT TARGET gptaq_capi_ref)
  add_executable(gptaq_capi_ref ${GPTAQ_SWIG_DIR}/tests/capi_ref.c)
  target_link_libraries(gptaq_capi_ref PRIVATE gptaq::gptaq)
  target_compile_options(gptaq_capi_ref PRIVATE -Wall -Wextra)
endif()
