#!/usr/bin/env bash
# libgptaq hardening stage (run by `scripts/dev.sh test` after the main tests):
#   asan      gcc build with AddressSanitizer + UndefinedBehaviorSanitizer (bindings and
#             CUDA off) of the core, the doctest suite, the CLI and the fuzz-corpus
#             replays, and those tests under it (core.*, cli.*, fuzz.replay.*)
#   fuzz      clang build of the libFuzzer harnesses (fuzz/), each fuzzed for
#             FUZZ_SECONDS from its checked-in seed corpus, under ASan + UBSan
#   valgrind  memcheck of the `gptaq` CLI (from the main build, BUILD_DIR) quantizing a
#             small problem: zero errors and no definite/indirect leaks required
# Usage: scripts/hardening.sh [asan|fuzz|valgrind|all]   (default all)
# Environment: BUILD_DIR (main build, default build), ASAN_DIR (default $BUILD_DIR-asan),
# FUZZ_DIR (default $BUILD_DIR-fuzz), FUZZ_SECONDS (20), JOBS (nproc).
# Budget on a 2-core machine: about 6-8 minutes for `all` from scratch.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
ASAN_DIR="${ASAN_DIR:-${BUILD_DIR}-asan}"
FUZZ_DIR="${FUZZ_DIR:-${BUILD_DIR}-fuzz}"
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
JOBS="${JOBS:-$(nproc)}"

log() { printf '== [hardening] %s\n' "$*"; }
now() { date +%s; }

# The sanitizer runtime settings every instrumented run uses. allocator_may_return_null:
# the library turns a failed allocation into GPTAQ_ERR_OUT_OF_MEMORY, and the tests check
# that with impossible sizes; without it ASan aborts on them.
export ASAN_OPTIONS="allocator_may_return_null=1:detect_leaks=1:strict_string_checks=1:check_initialization_order=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"

stage_asan() {
  local t0; t0=$(now)
  log "ASan+UBSan build in $ASAN_DIR"
  cmake -S "$ROOT" -B "$ASAN_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DGPTAQ_SANITIZE=address,undefined -DGPTAQ_CUDA=OFF -DGPTAQ_BUILD_BINDINGS=OFF \
    -DPython3_EXECUTABLE=/usr/bin/python3 >/dev/null
  # The core, its C/C++ tests, the CLI (cli.pytest drives it) and the fuzz-corpus
  # replays; not the examples or the install test (a pkg-config consumer built without
  # the sanitizer runtime), nor the header tests (compile-only).
  local targets=(gptaq gptaq_tests gptaq_tool gptaq_module_tests)
  for f in "$ROOT"/fuzz/fuzz_*.cpp; do
    f="$(basename "$f" .cpp)"
    targets+=("fuzz_replay_${f#fuzz_}")
  done
  cmake --build "$ASAN_DIR" -j "$JOBS" --target "${targets[@]}"
  log "C/C++ tests under ASan+UBSan"
  (cd "$ASAN_DIR" && ctest --output-on-failure -j "$JOBS" -R '^(core|cli|fuzz[.]replay)[.]' \
    -E '^core[.](install|headertest[.])')
  log "asan stage: $(( $(now) - t0 )) s"
}

stage_fuzz() {
  local t0; t0=$(now)
  if ! command -v clang++ >/dev/null 2>&1; then
    log "clang++ not found: fuzz stage cannot run (apt install clang libclang-rt-14-dev)"
    return 1
  fi
  log "libFuzzer build (clang, ASan+UBSan) in $FUZZ_DIR"
  CC=clang CXX=clang++ cmake -S "$ROOT" -B "$FUZZ_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DGPTAQ_FUZZ=ON -DGPTAQ_FUZZ_SECONDS="$FUZZ_SECONDS" -DGPTAQ_SANITIZE=address,undefined \
    -DGPTAQ_CUDA=OFF -DGPTAQ_BUILD_BINDINGS=OFF -DGPTAQ_BUILD_TESTS=OFF \
    -DGPTAQ_BUILD_TOOLS=OFF >/dev/null
  cmake --build "$FUZZ_DIR" -j "$JOBS" --target gptaq_fuzzers
  log "fuzzing each harness for $FUZZ_SECONDS s"
  (cd "$FUZZ_DIR" && ctest --output-on-failure -j "$JOBS" -L '^fuzz$')
  log "fuzz stage: $(( $(now) - t0 )) s"
}

stage_valgrind() {
  local t0; t0=$(now)
  local cli="$BUILD_DIR/gptaq"
  if ! command -v valgrind >/dev/null 2>&1; then
    log "valgrind not found (apt install valgrind)"
    return 1
  fi
  if [ ! -x "$cli" ]; then
    log "building the CLI in $BUILD_DIR"
    cmake --build "$BUILD_DIR" -j "$JOBS" --target gptaq_tool
  fi
  local work; work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  # A small problem: 24 x 64 weight, 96 calibration tokens (x_q and x_fp).
  /usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np
d = sys.argv[1]
r = np.random.default_rng(7)
x = r.standard_normal((96, 64)).astype(np.float32)
np.save(d + "/w.npy", (0.1 * r.standard_normal((24, 64))).astype(np.float32))
np.save(d + "/x.npy", x)
np.save(d + "/xfp.npy", (x + 0.05 * r.standard_normal(x.shape)).astype(np.float32))
np.save(d + "/x16.npy", x.astype(np.float16))
PY
  local vg=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full
            --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
            --track-origins=yes --quiet --suppressions="$ROOT/scripts/valgrind.supp")
  local runs=(
    "quantize --weight $work/w.npy --calib $work/x.npy --calib-fp $work/xfp.npy --method gptaq --bits 4 --group-size 32 --act-order --batch-tokens 40 --out $work/o1"
    "quantize --weight $work/w.npy --calib $work/x16.npy --method gptq --bits 3 --group-size -1 --batch-tokens 50 --out $work/o2"
    "quantize --weight $work/w.npy --calib $work/x.npy --method gptqt --bits 3 --explore-split 4 --out $work/o3"
  )
  local i=0
  for args in "${runs[@]}"; do
    i=$((i + 1))
    log "valgrind memcheck: gptaq $args"
    # shellcheck disable=SC2086
    if ! OMP_NUM_THREADS=1 "${vg[@]}" --log-file="$work/vg$i.log" "$cli" $args; then
      cat "$work/vg$i.log"
      log "valgrind found errors or leaks (or the CLI failed)"
      return 1
    fi
    if [ -s "$work/vg$i.log" ]; then
      cat "$work/vg$i.log"
      log "valgrind reported something"
      return 1
    fi
  done
  log "valgrind: 0 errors, 0 leaks in $i runs ($(( $(now) - t0 )) s)"
}

what="${1:-all}"
case "$what" in
  asan) stage_asan ;;
  fuzz) stage_fuzz ;;
  valgrind) stage_valgrind ;;
  all)
    T0=$(now)
    stage_asan
    stage_fuzz
    stage_valgrind
    log "all hardening stages passed in $(( $(now) - T0 )) s"
    ;;
  *)
    echo "usage: scripts/hardening.sh [asan|fuzz|valgrind|all]" >&2
    exit 2
    ;;
esac
