# Debian packages with CPack's DEB generator, one package per install component:
#   runtime  libgptaq<major.minor>       the library (CPU backend); SONAME in the name
#   cuda     libgptaq<major.minor>-cuda  the CUDA backend module (libgptaq-cuda.so)
#   dev      libgptaq-dev                header, libgptaq.so link, CMake package, .pc
#   tools    gptaq-tools                 the gptaq command-line tool
#   python   python3-gptaq               the Python package
#   java     libgptaq-java               the jar (and its JNI library)
#   go       golang-github-gptaq-gptaq-dev  the Go module's source
# A component with no install rule in this configuration (a binding whose toolchain is
# missing, the CUDA module without nvcc) gives no package.
#
# Build them with `scripts/dev.sh package` (configures a dedicated build directory with
# -DCMAKE_INSTALL_PREFIX=/usr, runs cpack and lintian). Dependencies come from
# dpkg-shlibdeps (CPACK_DEBIAN_PACKAGE_SHLIBDEPS) plus the ones between these packages,
# and, for the CUDA module, the CUDA libraries by name when they are not Debian packages
# (a toolkit in /usr/local has no shlibs information).

set(_gptaq_known_components runtime cuda dev tools python java go)
get_cmake_property(_gptaq_all_components COMPONENTS)
set(CPACK_COMPONENTS_ALL "")
foreach(c ${_gptaq_known_components})
  if(c IN_LIST _gptaq_all_components)
    list(APPEND CPACK_COMPONENTS_ALL ${c})
  endif()
endforeach()
foreach(c ${_gptaq_all_components})
  if(NOT c IN_LIST _gptaq_known_components)
    message(WARNING "gptaq: install rules in component '${c}' go into no Debian package; "
                    "give them one of: ${_gptaq_known_components}")
  endif()
endforeach()

set(GPTAQ_SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
set(GPTAQ_DEB_RUNTIME libgptaq${GPTAQ_SOVERSION})
set(GPTAQ_DEB_VERSION ${PROJECT_VERSION}-1)
set(GPTAQ_DEB_EXACT "${GPTAQ_DEB_RUNTIME} (= ${GPTAQ_DEB_VERSION})")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME gptaq)
set(CPACK_PACKAGE_VENDOR "The libgptaq authors")
set(CPACK_PACKAGE_CONTACT "libgptaq maintainers <maintainers@users.noreply.h-seed-b2db329b.example>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
# Empty: every package's description below starts with its own summary line, and CPack
# would otherwise prepend this one to each (and re-indent the text).
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "")
set(CPACK_PACKAGE_HOMEPAGE_URL "https://github.com/gptaq/gptaq")
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# dpkg-shlibdeps must find libgptaq for the packages that link it (tools, bindings): the
# build tree's copy. It has no shlibs information there and is skipped (CPack passes
# --ignore-missing-info); those packages depend on the runtime package explicitly.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${PROJECT_BINARY_DIR})
# Debian policy: directories 0755, files 0644 (executables 0755; CPack's default for
# shared libraries is 0755, which lintian flags).
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

# Descriptions: the summary line, then plain lines with empty lines between paragraphs;
# CPack indents them and writes the " ." separators.
set(_gptaq_long_description
"libgptaq quantizes the weights of large transformer layers after training
with Hessian-based methods: GPTQ, GPTAQ (asymmetric calibration) and GPTQT
(binary coding), plus round-to-nearest. Calibration activations stream in
batch by batch; layers that read the same input share one factorization.")

# runtime: the library, CPU backend.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME ${GPTAQ_DEB_RUNTIME})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
# The shlibs file (only the runtime package has a library with a SONAME) and the ldconfig
# trigger Debian wants for a public shared library. CPack also calls ldconfig from its
# generated postinst/postrm (lintian: maintscript-calls-ldconfig, a warning it has no
# switch for); the trigger is what lintian requires.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
file(WRITE ${PROJECT_BINARY_DIR}/debian-triggers/triggers "activate-noawait ldconfig\n")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA ${PROJECT_BINARY_DIR}/debian-triggers/triggers)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "post-training weight quantization library (GPTQ, GPTAQ, GPTQT)
${_gptaq_long_description}

This package holds the shared library with its CPU backend (OpenBLAS). The
CUDA backend is a separate module, in ${GPTAQ_DEB_RUNTIME}-cuda.")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SUGGESTS "${GPTAQ_DEB_RUNTIME}-cuda")

# cuda: the backend module. The CUDA libraries' packages by name: NVIDIA's repository
# names them cuda-cudart-<M>-<m>, libcublas-<M>-<m>, libcusolver-<M>-<m>.
set(CPACK_DEBIAN_CUDA_PACKAGE_NAME ${GPTAQ_DEB_RUNTIME}-cuda)
set(CPACK_DEBIAN_CUDA_PACKAGE_SECTION libs)
if(CUDAToolkit_VERSION_MAJOR)
  set(_cu "${CUDAToolkit_VERSION_MAJOR}-${CUDAToolkit_VERSION_MINOR}")
  set(CPACK_DEBIAN_CUDA_PACKAGE_DEPENDS
      "${GPTAQ_DEB_EXACT}, cuda-cudart-${_cu}, libcublas-${_cu}, libcusolver-${_cu}")
else()
  set(CPACK_DEBIAN_CUDA_PACKAGE_DEPENDS "${GPTAQ_DEB_EXACT}")
endif()
set(CPACK_DEBIAN_CUDA_DESCRIPTION "post-training weight quantization library - CUDA backend
${_gptaq_long_description}

This package holds the CUDA backend (cuBLAS, cuSOLVER and fused kernels), a
module that libgptaq loads when a CUDA context asks for it. It needs the
NVIDIA driver at run time; without a device libgptaq reports the CUDA
backend unavailable and AUTO contexts run on the CPU.")

# dev
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libgptaq-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "${GPTAQ_DEB_EXACT}")
set(CPACK_DEBIAN_DEV_DESCRIPTION "post-training weight quantization library - development files
${_gptaq_long_description}

This package holds the C header, the pkg-config file and the CMake package
(find_package(gptaq) gives gptaq::gptaq).")

# tools
set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME gptaq-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION science)
set(CPACK_DEBIAN_TOOLS_PACKAGE_DEPENDS "${GPTAQ_DEB_EXACT}")
set(CPACK_DEBIAN_TOOLS_DESCRIPTION "post-training weight quantization - command-line tool
${_gptaq_long_description}

This package holds the gptaq command: quantize .npy weights and safetensors
checkpoints, write GPTQ-packed output, accumulate importance matrices.")

# python
set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME python3-gptaq)
set(CPACK_DEBIAN_PYTHON_PACKAGE_SECTION python)
set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS "${GPTAQ_DEB_EXACT}, python3, python3-numpy")
set(CPACK_DEBIAN_PYTHON_DESCRIPTION "post-training weight quantization - Python 3 bindings
${_gptaq_long_description}

This package holds the Python 3 module gptaq (numpy arrays in and out).")

# java
set(CPACK_DEBIAN_JAVA_PACKAGE_NAME libgptaq-java)
set(CPACK_DEBIAN_JAVA_PACKAGE_SECTION java)
set(CPACK_DEBIAN_JAVA_PACKAGE_DEPENDS "${GPTAQ_DEB_EXACT}, default-jre-headless | java-runtime-headless")
set(CPACK_DEBIAN_JAVA_DESCRIPTION "post-training weight quantization - Java bindings
${_gptaq_long_description}

This package holds the jar org.gptaq:gptaq and its JNI library.")

# go: source only.
set(CPACK_DEBIAN_GO_PACKAGE_NAME golang-github-gptaq-gptaq-dev)
set(CPACK_DEBIAN_GO_PACKAGE_SECTION golang)
set(CPACK_DEBIAN_GO_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_GO_PACKAGE_DEPENDS "libgptaq-dev (= ${GPTAQ_DEB_VERSION}), pkg-config")
set(CPACK_DEBIAN_GO_DESCRIPTION "post-training weight quantization - Go bindings (source)
${_gptaq_long_description}

This package holds the source of the Go module
github.com/gptaq/gptaq/bindings/go, which finds libgptaq with pkg-config.")

# Every package carries /usr/share/doc/<package>/{copyright,changelog.Debian.gz}, as
# Debian policy asks (12.5, 12.7); only in package builds (GPTAQ_DEB_DOCS, set by
# `scripts/dev.sh package`), so that a plain `cmake --install` does not get them.
option(GPTAQ_DEB_DOCS "Install the Debian copyright and changelog files of each package" OFF)
set(_gptaq_docgen ${PROJECT_BINARY_DIR}/debian-doc)
file(MAKE_DIRECTORY ${_gptaq_docgen})
string(TIMESTAMP _gptaq_year "%Y" UTC)
file(WRITE ${_gptaq_docgen}/copyright
"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: libgptaq
Source: ${CPACK_PACKAGE_HOMEPAGE_URL}

Files: *
Copyright: ${_gptaq_year} The libgptaq authors
License: other
 The libgptaq source tree does not yet state a license; until it does, all
 rights are reserved by the authors and this package may be used only where
 they have agreed to it.
")
# A fixed date: the changelog (and so the package) does not change between builds.
file(WRITE ${_gptaq_docgen}/changelog.Debian
"gptaq (${GPTAQ_DEB_VERSION}) unstable; urgency=medium

  * Package built from the libgptaq source tree with CPack.

 -- ${CPACK_PACKAGE_CONTACT}  Wed, 02 Dec 2026 00:00:00 +0000
")
find_program(GPTAQ_GZIP gzip)
if(GPTAQ_DEB_DOCS)
  if(NOT GPTAQ_GZIP)
    message(FATAL_ERROR "GPTAQ_DEB_DOCS needs gzip")
  endif()
  add_custom_command(OUTPUT ${_gptaq_docgen}/changelog.Debian.gz
    COMMAND ${GPTAQ_GZIP} -9nc ${_gptaq_docgen}/changelog.Debian > ${_gptaq_docgen}/changelog.Debian.gz
    DEPENDS ${_gptaq_docgen}/changelog.Debian VERBATIM)
  add_custom_target(gptaq_debian_doc ALL DEPENDS ${_gptaq_docgen}/changelog.Debian.gz)
  foreach(c ${CPACK_COMPONENTS_ALL})
    string(TOUPPER ${c} _C)
    install(FILES ${_gptaq_docgen}/copyright ${_gptaq_docgen}/changelog.Debian.gz
      DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${CPACK_DEBIAN_${_C}_PACKAGE_NAME}
      COMPONENT ${c})
  endforeach()
endif()

include(CPack)
