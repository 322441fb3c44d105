#!/usr/bin/env bash
# The C consumer (consumer/) built from outside the source tree against an installed
# prefix, twice (pkg-config + cc, CMake find_package -> gptaq::gptaq), each run on the
# shared consumer data: its codes must equal the installed CLI's (DATA/cli/codes.npy).
#
# usage: consumer_c.sh PREFIX DATA CONSUMER_SRC WORK CMAKE C_COMPILER PKG_CONFIG
#   PKG_CONFIG may be empty (that half is then skipped and the test says so).
#   PREFIX may be a prefix inside an unpacked package root (ROOT/usr after dpkg-deb -x):
#   the .pc file and the CMake package derive their prefix from where they lie, so no
#   sysroot setting is needed.
set -euo pipefail
prefix=$1 data=$2 src=$3 work=$4 cmake=$5 cc=$6 pkgconfig=$7
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
for f in W.npy X.npy cli/codes.npy; do [ -f "$data/$f" ] || die "no $data/$f"; done
rm -rf "$work" && mkdir -p "$work"
pcfile=$(ls "$prefix"/lib*/pkgconfig/gptaq.pc "$prefix"/lib/*/pkgconfig/gptaq.pc 2>/dev/null | head -n1 || true)
[ -n "$pcfile" ] || die "no gptaq.pc under $prefix"
pcdir=$(dirname "$pcfile")
libdir=$(dirname "$pcdir")

# The library needs no CUDA library (the CUDA backend is a module loaded at run time).
lib=$(readlink -f "$libdir/libgptaq.so")
needed=$(readelf -d "$lib" | grep NEEDED || true)
case $needed in *cuda*|*cublas*|*cusolver*) die "$lib links CUDA: $needed" ;; esac
echo "libgptaq NEEDED: $(echo "$needed" | sed -E 's/.*\[(.*)\]/\1/' | tr '\n' ' ')"

run() {  # binary, label
  local out
  out=$(LD_LIBRARY_PATH="$libdir" "$1" "$data/W.npy" "$data/X.npy" "$data/cli/codes.npy" 2>&1) ||
    die "$2 consumer failed: $out"
  echo "$2: $out"
  case $out in *"codes equal the CLI's"*"consumer: OK"*) ;; *) die "$2 consumer did not compare" ;; esac
}

if [ -n "$pkgconfig" ]; then
  pc() { PKG_CONFIG_LIBDIR="$pcdir" PKG_CONFIG_PATH= "$pkgconfig" "$@"; }
  flags=$(pc --cflags --libs gptaq) || die "pkg-config does not find gptaq in $pcdir"
  echo "pkg-config --cflags --libs gptaq -> $flags"
  # shellcheck disable=SC2086
  "$cc" -std=c99 -Wall -Wextra -Werror "$src/consumer.c" $flags -o "$work/consumer_pc" ||
    die "compiling the consumer with pkg-config flags failed"
  run "$work/consumer_pc" "pkg-config"
else
  echo "pkg-config not found: the pkg-config half is skipped"
fi

"$cmake" -S "$src" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF > "$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; die "configuring the find_package consumer failed"; }
grep -q "gptaq_DIR=$prefix/" "$work/configure.log" || { cat "$work/configure.log"; die "find_package(gptaq) did not use $prefix"; }
"$cmake" --build "$work/cmake-build" > "$work/build.log" 2>&1 ||
  { cat "$work/build.log"; die "building the find_package consumer failed"; }
run "$work/cmake-build/consumer" "find_package"
rm -rf "$work"
echo "C consumer: OK"
