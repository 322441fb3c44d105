#!/usr/bin/env bash
# libgptaq developer entry point.
#   scripts/dev.sh demo     install what is missing, build only the CLI (and the library
#                           with its CUDA module), run `gptaq demo`
#   scripts/dev.sh test     install what is missing, build everything, run every test (ctest),
#                           then the hardening stage (ASan/UBSan tests, fuzzing, valgrind)
#   scripts/dev.sh build    install what is missing and build
#   scripts/dev.sh package  Debian packages (CPack DEB) in PKG_BUILD_DIR/packages, checked
#                           with lintian; install with `apt install ./<package>.deb`
# Environment: BUILD_DIR (default build), PKG_BUILD_DIR (default build-package), JOBS
# (default nproc), GPTAQ_CUDA (AUTO|ON|OFF), GPTAQ_HARDENING (default 1; 0 skips the
# hardening stage of `test`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
JOBS="${JOBS:-$(nproc)}"
GPTAQ_CUDA="${GPTAQ_CUDA:-AUTO}"

# Everything the build and the tests need, from Debian's repositories only.
APT_PACKAGES=(
  build-essential cmake pkg-config
  libopenblas-dev liblapacke-dev
  doctest-dev nlohmann-json3-dev libcli11-dev
  swig python3-dev python3-numpy python3-pytest
  python3-pip python3-setuptools python3-wheel
  default-jdk-headless junit5
  golang-go
  bindgen
  openmpi-bin libopenmpi-dev
  clang libclang-rt-14-dev valgrind
  lintian file
)

log() { printf '== %s\n' "$*"; }

install_deps() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # A preinstalled JDK (not from apt) satisfies default-jdk-headless.
  if command -v javac >/dev/null 2>&1; then
    local keep=()
    for p in "${missing[@]}"; do [ "$p" = default-jdk-headless ] || keep+=("$p"); done
    missing=("${keep[@]+"${keep[@]}"}")
  fi
  if [ ${#missing[@]} -eq 0 ]; then
    log "all packages present"
    return
  fi
  log "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q -o DPkg::Lock::Timeout=600 \
    --no-install-recommends "${missing[@]}"
}

configure() {
  log "configuring in $BUILD_DIR (GPTAQ_CUDA=$GPTAQ_CUDA)"
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DGPTAQ_CUDA="$GPTAQ_CUDA" \
    -DPython3_EXECUTABLE=/usr/bin/python3 "$@"
}

configure_and_build() {
  configure "$@"
  log "building with $JOBS jobs"
  cmake --build "$BUILD_DIR" -j "$JOBS"
}

# Debian packages: a dedicated build directory configured for /usr (multiarch libdir,
# no install RPATH, the packages' copyright and changelog files), cpack, then lintian.
package() {
  local dir="${PKG_BUILD_DIR:-$ROOT/build-package}"
  log "configuring packages in $dir (GPTAQ_CUDA=$GPTAQ_CUDA)"
  cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DGPTAQ_CUDA="$GPTAQ_CUDA" \
    -DPython3_EXECUTABLE=/usr/bin/python3 -DCMAKE_INSTALL_PREFIX=/usr \
    -DCMAKE_SKIP_INSTALL_RPATH=ON -DGPTAQ_DEB_DOCS=ON -DGPTAQ_BUILD_TESTS=OFF "$@"
  log "building with $JOBS jobs"
  cmake --build "$dir" -j "$JOBS"
  rm -rf "$dir/packages"
  (cd "$dir" && cpack -G DEB)
  local debs=("$dir"/packages/*.deb)
  for d in "${debs[@]}"; do
    log "$(basename "$d"): $(dpkg-deb -f "$d" Depends)"
  done
  log "lintian"
  # Errors fail; warnings are printed. Two tags are suppressed, for these reasons:
  #  initial-upload-closes-no-bugs: these packages are not uploaded to Debian's archive,
  #    so there is no ITP bug for the changelog to close;
  #  maintscript-calls-ldconfig: CPack always writes a postinst/postrm calling ldconfig for
  #    a library in /usr/lib (no switch turns it off); the package also declares the
  #    ldconfig trigger that lintian asks for, so the call is only redundant.
  lintian --fail-on error --tag-display-limit 0 \
    --suppress-tags initial-upload-closes-no-bugs,maintscript-calls-ldconfig "${debs[@]}"
  log "packages in $dir/packages; install with: apt install ./<package>.deb"
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  demo)
    # Only what the demo runs: the CLI and the library (with the CUDA module when nvcc
    # exists); the tests, bindings and examples wait for `build` or `test`.
    install_deps
    configure
    log "building the gptaq tool with $JOBS jobs"
    cmake --build "$BUILD_DIR" -j "$JOBS" --target gptaq_tool
    "$BUILD_DIR/gptaq" demo "$@"
    ;;
  test)
    install_deps
    configure_and_build
    log "running every test"
    (cd "$BUILD_DIR" && ctest --output-on-failure -j "$JOBS" "$@")
    # Sanitizer build + tests, bounded fuzzing, valgrind of the CLI (~7 min on 2 cores);
    # GPTAQ_HARDENING=0 skips it.
    if [ "${GPTAQ_HARDENING:-1}" != 0 ]; then
      log "hardening stage (scripts/hardening.sh)"
      BUILD_DIR="$BUILD_DIR" JOBS="$JOBS" "$ROOT/scripts/hardening.sh" all
    fi
    ;;
  build)
    install_deps
    configure_and_build "$@"
    ;;
  package)
    install_deps
    package "$@"
    ;;
  deps)
    install_deps
    ;;
  *)
    echo "usage: scripts/dev.sh demo|test|build|package|deps" >&2
    exit 2
    ;;
esac
