#!/usr/bin/env bash
# Side-by-side timing of libgptaq (gptaq bench) and the PyTorch reference structure
# (scripts/bench/torch_reference.py) on the same shapes, in one run.
#   scripts/bench/compare.sh [BUILD_DIR] [SHAPES...]   SHAPES as ROWSxCOLS (default below)
# Needs Debian's python3-torch for the reference (not a dependency of the library):
#   apt-get install python3-torch
# Env: TOKENS (8192), BITS (4), GROUP (128), METHODS ("gptq gptaq"), THREADS (nproc),
#      BACKEND (cpu), NO_TORCH=1 to skip the reference.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${1:-$ROOT/build}"
[ $# -gt 0 ] && shift
SHAPES=("$@")
[ ${#SHAPES[@]} -gt 0 ] || SHAPES=(4096x4096 11008x4096 4096x11008 14336x4096)
TOKENS="${TOKENS:-8192}" BITS="${BITS:-4}" GROUP="${GROUP:-128}"
METHODS="${METHODS:-gptq gptaq}" THREADS="${THREADS:-$(nproc)}" BACKEND="${BACKEND:-cpu}"
GPTAQ="$BUILD_DIR/gptaq"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
"$GPTAQ" version | sed 's/^/  /'
for shape in "${SHAPES[@]}"; do
  rows="${shape%x*}" cols="${shape#*x}"
  for m in $METHODS; do
    echo "--- $m ${rows}x${cols}, $TOKENS tokens, $BITS bits, group $GROUP, act-order"
    "$GPTAQ" bench --method "$m" --rows "$rows" --cols "$cols" --tokens "$TOKENS" --bits "$BITS" \
      --group-size "$GROUP" --act-order --backend "$BACKEND" --threads "$THREADS" --json | tee -a "$out" | tail -n +3
    if [ -z "${NO_TORCH:-}" ]; then
      /usr/bin/python3 "$ROOT/scripts/bench/torch_reference.py" --method "$m" --rows "$rows" \
        --cols "$cols" --tokens "$TOKENS" --bits "$BITS" --group-size "$GROUP" --act-order \
        --threads "$THREADS" | tee -a "$out" | sed -n 1p
    fi
  done
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
lib = {(r["method"], r["rows"], r["cols"]): r for r in rows if "impl" not in r}
ref = {(r["method"], r["rows"], r["cols"]): r for r in rows if r.get("impl") == "torch-reference"}
print("\n| method | shape | stats s (lib / ref, x) | solve s (lib / ref, x) | solve / floor | stats % sgemm | peak RSS MiB |")
print("|---|---|---|---|---|---|---|")
for k, r in lib.items():
    t = ref.get(k)
    st = f"{r['stats_seconds']:.3f}" + (f" / {t['stats_seconds']:.3f}, {t['stats_seconds']/r['stats_seconds']:.1f}x" if t else "")
    so = f"{r['solve_seconds']:.3f}" + (f" / {t['solve_seconds']:.3f}, {t['solve_seconds']/r['solve_seconds']:.1f}x" if t else "")
    print(f"| {k[0]} | {k[1]}x{k[2]} | {st} | {so} | {r['solve_floor_ratio']:.2f} | {100*r['stats_sgemm_fraction']:.0f}% | {r['peak_rss_mib']:.0f} |")
PY
