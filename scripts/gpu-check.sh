#!/usr/bin/env bash
# The one-command device check of the CUDA backend (docs/PERFORMANCE.md, "The device
# check"). Two steps:
#
#   scripts/gpu-check.sh prepare
#       Here, on a Debian machine with the packages of scripts/dev.sh: assembles in
#       out/gpu-carry/ (gitignored, about 40 MiB) what the build needs and a bare device
#       machine lacks: OpenBLAS (with its LAPACK) and its runtime libraries, the OpenBLAS
#       headers, and the nlohmann-json, doctest and CLI11 headers with their CMake
#       package files.
#
#   scripts/gpu-check.sh run [--backend cuda|cpu] [--small] [--out DIR] [--jobs N]
#       On the device machine (nvcc, CMake, ninja, python3; no package installs, no
#       network), with out/gpu-carry carried along: builds only the library, the tests
#       and the CLI (for sm_90 with --backend cuda), runs every CUDA test with
#       GPTAQ_REQUIRE_CUDA=1 (a skipped check is a failure) and the opt-in large one,
#       then `gptaq bench` for GPTQ and GPTAQ at 4096x4096, 4096x11008 and 4096x53248
#       (the CPU's codes at the first two shapes for the agreement), and writes one JSON
#       summary, DIR/gpu-check.json (DIR defaults to $OUT, else out/gpu-check). Each
#       step has a time limit so the whole run stays within 8 minutes.
#       GPU_CHECK_BUILD_TIMEOUT (seconds, default 300) bounds the build on slow machines.
#       --backend cpu: the same pipeline without CUDA (the CUDA tests run and skip), to
#       prove the CPU-side part anywhere; --small: small shapes and few tokens.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARRY=$ROOT/out/gpu-carry
PY=${PYTHON:-python3}
[ -x /usr/bin/python3 ] && [ -z "${PYTHON:-}" ] && PY=/usr/bin/python3

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'gpu-check: %s\n' "$*" >&2; exit 2; }

prepare() {
  local ma=x86_64-linux-gnu
  local blas
  blas=$(readlink -f /usr/lib/$ma/libopenblas.so.0 2>/dev/null || true)
  [ -f "$blas" ] || die "no /usr/lib/$ma/libopenblas.so.0 (apt-get install libopenblas-dev)"
  for d in /usr/include/nlohmann /usr/include/doctest /usr/include/CLI /usr/lib/cmake/doctest \
           /usr/share/cmake/nlohmann_json /usr/share/cmake/CLI11; do
    [ -e "$d" ] || die "missing $d (the packages of scripts/dev.sh)"
  done
  rm -rf "$CARRY"
  mkdir -p "$CARRY/lib/cmake" "$CARRY/share/cmake" "$CARRY/include/openblas"
  # OpenBLAS under its soname (it holds LAPACK too: FindLAPACK with BLA_VENDOR=OpenBLAS
  # takes it), and what it needs at run time beyond glibc.
  cp "$blas" "$CARRY/lib/libopenblas.so.0"
  local dep
  for dep in $(ldd "$blas" | awk '/=>/ {print $3}'); do
    case $(basename "$dep") in
      libgfortran.so.*|libquadmath.so.*) cp "$(readlink -f "$dep")" "$CARRY/lib/$(basename "$dep")" ;;
    esac
  done
  cp /usr/include/$ma/openblas-pthread/*.h "$CARRY/include/openblas/" 2>/dev/null || true
  cp /usr/include/lapack*.h "$CARRY/include/openblas/" 2>/dev/null || true
  cp -r /usr/include/nlohmann /usr/include/doctest /usr/include/CLI "$CARRY/include/"
  cp -r /usr/lib/cmake/doctest "$CARRY/lib/cmake/"
  cp -r /usr/share/cmake/nlohmann_json /usr/share/cmake/CLI11 "$CARRY/share/cmake/"
  # doctest's package file names /usr; make it relative to where it lies.
  sed -i 's|^set(_IMPORT_PREFIX "/usr")|get_filename_component(_IMPORT_PREFIX "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)|' \
    "$CARRY/lib/cmake/doctest/doctestTargets.cmake"
  grep -rl '"/usr' "$CARRY/lib/cmake" "$CARRY/share/cmake" && die "a package file still names /usr"
  printf '%s\n' "prepared by scripts/gpu-check.sh prepare on $(date -u +%FT%TZ) from $(basename "$blas")" \
    > "$CARRY/README"
  log "carry folder: $CARRY ($(du -sh "$CARRY" | cut -f1))"
}

run() {
  local backend=cuda small=0 out=${OUT:-$ROOT/out/gpu-check} jobs
  jobs=$(nproc 2>/dev/null || echo 4)
  while [ $# -gt 0 ]; do
    case $1 in
      --backend) backend=$2; shift 2 ;;
      --small) small=1; shift ;;
      --out) out=$2; shift 2 ;;
      --jobs) jobs=$2; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  [ "$backend" = cuda ] || [ "$backend" = cpu ] || die "--backend is cuda or cpu"
  [ -f "$CARRY/lib/libopenblas.so.0" ] || die "no $CARRY: run 'scripts/gpu-check.sh prepare' first (and carry out/gpu-carry)"
  # The carried Debian 12 libraries need glibc >= 2.34 (Ubuntu 22.04 and later).
  local glibc
  glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
  if [ -n "$glibc" ] && [ "$(printf '%s\n2.34\n' "$glibc" | sort -V | head -1)" != 2.34 ]; then
    die "glibc $glibc here; the carried OpenBLAS needs >= 2.34"
  fi
  mkdir -p "$out"
  local build=$ROOT/out/gpu-build-$backend
  local t_start=$SECONDS
  export LD_LIBRARY_PATH=$CARRY/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$jobs}

  # ---- build: the library, the tests and the CLI only ----
  local cuda_flags=(-DGPTAQ_CUDA=OFF)
  if [ "$backend" = cuda ]; then
    local nvcc=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
    cuda_flags=(-DGPTAQ_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_ARCHITECTURES=90-real)
  fi
  local gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  log "configure ($backend)"
  timeout 120 cmake -S "$ROOT" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    "${cuda_flags[@]}" -DGPTAQ_BUILD_BINDINGS=OFF \
    -DCMAKE_PREFIX_PATH="$CARRY" -DBLA_VENDOR=OpenBLAS \
    -DBLAS_LIBRARIES="$CARRY/lib/libopenblas.so.0" -DLAPACK_LIBRARIES="$CARRY/lib/libopenblas.so.0" \
    -DPython3_EXECUTABLE="$(command -v "$PY")" > "$out/configure.log" 2>&1 \
    || { tail -30 "$out/configure.log" >&2; die "configure failed (see $out/configure.log)"; }
  log "build (-j$jobs)"
  timeout "${GPU_CHECK_BUILD_TIMEOUT:-300}" cmake --build "$build" -j "$jobs" --target gptaq gptaq_tests gptaq_tool \
    > "$out/build.log" 2>&1 || { tail -30 "$out/build.log" >&2; die "build failed (see $out/build.log)"; }
  local t_build=$((SECONDS - t_start))

  # ---- the CUDA tests: every skip is a failure on a device ----
  log "CUDA tests"
  local tests_rc=0 t0=$SECONDS
  if [ "$backend" = cuda ]; then
    GPTAQ_REQUIRE_CUDA=1 GPTAQ_TEST_LARGE=1 timeout 240 "$build/tests/gptaq_tests" \
      -tc='cuda:*,pow_det:*' > "$out/cuda-tests.log" 2>&1 || tests_rc=$?
  else
    timeout 240 "$build/tests/gptaq_tests" -tc='cuda:*,pow_det:*' \
      > "$out/cuda-tests.log" 2>&1 || tests_rc=$?
  fi
  local t_tests=$((SECONDS - t0))

  # ---- benches ----
  local rows=4096 tokens=8192 batch=2048
  local shapes=("4096 4096" "4096 11008" "4096 53248") cpu_shapes=2
  if [ $small = 1 ]; then
    rows=96 tokens=512 batch=256
    shapes=("96 256" "96 384" "96 640")
  fi
  local method shape r c tag smi=0
  command -v nvidia-smi >/dev/null && [ "$backend" = cuda ] && smi=1
  : > "$out/bench.jsonl"
  for method in gptq gptaq; do
    local k=0
    for shape in "${shapes[@]}"; do
      read -r r c <<< "$shape"
      tag=$method-${r}x$c
      log "bench $tag ($backend)"
      local mem=""
      if [ $smi = 1 ]; then
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 20 \
          > "$out/mem-$tag.txt" 2>/dev/null &
        mem=$!
      fi
      local rc=0
      timeout 150 "$build/gptaq" bench --backend "$backend" --method "$method" --rows "$r" \
        --cols "$c" --tokens "$tokens" --batch "$batch" --repeat 2 --json \
        --codes-out "$out/codes-$tag-$backend.u8" > "$out/bench-$tag.log" 2>&1 || rc=$?
      [ -n "$mem" ] && { kill "$mem" 2>/dev/null || true; wait "$mem" 2>/dev/null || true; }
      # The CPU's codes for the agreement (the first shapes: the CPU takes seconds there).
      if [ "$backend" = cuda ] && [ $k -lt $cpu_shapes ] && [ $rc = 0 ]; then
        timeout 120 "$build/gptaq" bench --backend cpu --method "$method" --rows "$r" --cols "$c" \
          --tokens "$tokens" --batch "$batch" --json --codes-out "$out/codes-$tag-cpu.u8" \
          > "$out/bench-$tag-cpu.log" 2>&1 || true
      fi
      "$PY" - "$out" "$tag" "$backend" "$rc" >> "$out/bench.jsonl" <<'EOF'
import json, os, sys
out, tag, backend, rc = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def last_json(path):
    try:
        lines = [l for l in open(path) if l.startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except OSError:
        return None
rec = {"shape": tag, "backend": backend, "exit_code": rc}
b = last_json(os.path.join(out, "bench-%s.log" % tag))
if b:
    rec.update(b)
mem = os.path.join(out, "mem-%s.txt" % tag)
if os.path.exists(mem):
    vals = [int(v) for v in open(mem).read().split() if v.strip().isdigit()]
    if vals:
        rec["device_mem_peak_mib"] = max(vals)
        rec["device_mem_base_mib"] = vals[0]
mine = os.path.join(out, "codes-%s-%s.u8" % (tag, backend))
cpu = os.path.join(out, "codes-%s-cpu.u8" % tag)
if backend != "cpu" and os.path.exists(mine) and os.path.exists(cpu):
    a, c = open(mine, "rb").read(), open(cpu, "rb").read()
    if len(a) == len(c) and a:
        rec["codes_same_as_cpu"] = sum(x == y for x, y in zip(a, c)) / len(a)
    cb = last_json(os.path.join(out, "bench-%s-cpu.log" % tag))
    if cb:
        rec["cpu_solve_seconds"] = cb.get("solve_seconds")
        rec["cpu_stats_seconds"] = cb.get("stats_seconds")
print(json.dumps(rec))
EOF
      rm -f "$out/codes-$tag-$backend.u8" "$out/codes-$tag-cpu.u8"
      k=$((k + 1))
    done
  done

  # ---- the summary ----
  local device="cpu"
  [ $smi = 1 ] && device=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
  "$PY" - "$out" "$backend" "$small" "$tests_rc" "$t_build" "$t_tests" "$((SECONDS - t_start))" "$device" <<'EOF'
import json, os, re, sys, time
out, backend, small, tests_rc, t_build, t_tests, t_total, device = sys.argv[1:9]
bench = [json.loads(l) for l in open(os.path.join(out, "bench.jsonl")) if l.strip()]
log = open(os.path.join(out, "cuda-tests.log"), errors="replace").read()
m = re.search(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed", log)
tests = {"exit_code": int(tests_rc), "seconds": int(t_tests)}
if m:
    tests.update(cases=int(m.group(1)), passed=int(m.group(2)), failed=int(m.group(3)))
tests["skipped_messages"] = log.count("skipped:")
def find(method, shape):
    for b in bench:
        if b.get("shape") == "%s-%s" % (method, shape):
            return b
    return {}
targets = {}
if backend == "cuda" and small == "0":
    g, a = find("gptq", "4096x4096"), find("gptaq", "4096x4096")
    targets = {
        "gptq_4096_solve_le_15ms": g.get("solve_seconds", 1e9) <= 0.015,
        "gptaq_4096_solve_le_25ms": a.get("solve_seconds", 1e9) <= 0.025,
        "cols_53248_complete": all(find(m, "4096x53248").get("exit_code") == 0 for m in ("gptq", "gptaq")),
        "codes_same_as_cpu_ge_99_9": all(b.get("codes_same_as_cpu", 1.0) >= 0.999 for b in bench),
    }
summary = {
    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "backend": backend, "small": small == "1", "device": device,
    "build_seconds": int(t_build), "total_seconds": int(t_total),
    "cuda_tests": tests, "bench": bench, "targets": targets,
}
path = os.path.join(out, "gpu-check.json")
json.dump(summary, open(path, "w"), indent=1)
print(json.dumps(summary, indent=1))
EOF
  log "summary: $out/gpu-check.json ($((SECONDS - t_start)) s)"
  [ "$tests_rc" = 0 ] || die "the CUDA tests failed (see $out/cuda-tests.log)"
}

case ${1:-} in
  prepare) shift; prepare "$@" ;;
  run) shift; run "$@" ;;
  *) die "usage: scripts/gpu-check.sh prepare | run [--backend cuda|cpu] [--small] [--out DIR] [--jobs N]" ;;
esac
