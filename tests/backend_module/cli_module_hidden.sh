#!/usr/bin/env bash
# The gptaq tool with the CUDA module hidden (GPTAQ_CUDA_MODULE names a file that does
# not exist): `--backend cuda` fails cleanly with a message naming what was looked for,
# `--backend auto` quantizes on the CPU, and `gptaq --version` says what was found.
# usage: cli_module_hidden.sh GPTAQ_TOOL PYTHON WORK_DIR
set -euo pipefail
tool=$1 python=$2 work=$3
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work"
"$python" -c "
import numpy as np, sys
rng = np.random.default_rng(1)
np.save(sys.argv[1] + '/W.npy', rng.standard_normal((8, 32)).astype(np.float32))
np.save(sys.argv[1] + '/X.npy', rng.standard_normal((64, 32)).astype(np.float32))
" "$work"
hidden=$work/hidden/libgptaq-cuda.so
export GPTAQ_CUDA_MODULE=$hidden

set +e
out=$("$tool" quantize --weight "$work/W.npy" --calib "$work/X.npy" --backend cuda \
      --out "$work/cuda" 2>&1)
rc=$?
set -e
echo "--backend cuda: exit $rc: $out"
[ $rc -ne 0 ] || die "--backend cuda succeeded with the module hidden"
[ $rc -lt 128 ] || die "--backend cuda crashed (exit $rc)"
case $out in *"$hidden"*) ;; *) die "the error does not name $hidden" ;; esac
case $out in *"backend unavailable"*|*"BACKEND_UNAVAILABLE"*|*"unavailable"*) ;;
  *) die "the error does not say the backend is unavailable" ;; esac

"$tool" quantize --weight "$work/W.npy" --calib "$work/X.npy" --backend auto \
  --out "$work/auto" > "$work/auto.log" 2>&1 || { cat "$work/auto.log"; die "--backend auto failed"; }
[ -f "$work/auto/codes.npy" ] || die "--backend auto wrote no codes"
echo "--backend auto: $(tail -n1 "$work/auto.log")"

ver=$("$tool" --version)
case $ver in *"cuda: the CUDA module was not found"*"$hidden"*|*"no CUDA support"*"$hidden"*) ;;
  *) die "gptaq --version does not report the missing module: $ver" ;; esac
echo "$ver" | tail -n1
rm -rf "$work"
echo "module hidden: OK"
