#!/bin/sh
# Regenerates the SWIG low layer (internal/lowlevel/lowlevel.go and gptaq_wrap.c) from
# gptaq_go.i and the shared ../swig/gptaq.i. The output is committed, so `go build` needs
# no SWIG; CI (ctest go.generated) runs this into a scratch folder and compares bytes.
#
#   sh generate.sh [OUTDIR]     (default: internal/lowlevel beside this script)
#
# Run from anywhere; SWIG is invoked from this folder with relative paths, so the files
# name their source the same way on every machine. Needs swig 4.1.0 (Debian 12's).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/internal/lowlevel}
case $out in /*) ;; *) out=$(pwd)/$out ;; esac
cd "$here"
mkdir -p "$out"
exec "${SWIG:-swig}" -go -cgo -intgosize 64 -DSWIGWORDSIZE64 -module lowlevel \
  -I../../include -I../swig -o "$out/gptaq_wrap.c" -outdir "$out" gptaq_go.i
