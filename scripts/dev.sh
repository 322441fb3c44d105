#!/usr/bin/env bash
# libgptaq developer entry point.
#   scripts/dev.sh demo   install what is missing, build, run `gptaq demo`
#   scripts/dev.sh test   install what is missing, build everything, run every test (ctest),
#                         then the hardening stage (ASan/UBSan tests, fuzzing, valgrind)
#   scripts/dev.sh build  install what is missing and build
# Environment: BUILD_DIR (default build), JOBS (default nproc), GPTAQ_CUDA (AUTO|ON|OFF),
# GPTAQ_HARDENING (default 1; 0 skips the hardening stage of `test`).
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

configure_and_build() {
  log "configuring in $BUILD_DIR (GPTAQ_CUDA=$GPTAQ_CUDA)"
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DGPTAQ_CUDA="$GPTAQ_CUDA" \
    -DPython3_EXECUTABLE=/usr/bin/python3 "$@"
  log "building with $JOBS jobs"
  cmake --build "$BUILD_DIR" -j "$JOBS"
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  demo)
    install_deps
    configure_and_build
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
  deps)
    install_deps
    ;;
  *)
    echo "usage: scripts/dev.sh demo|test|build|deps" >&2
    exit 2
    ;;
esac
