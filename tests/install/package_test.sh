#!/usr/bin/env bash
# The Debian packages of this build (CPack DEB), unpacked with dpkg-deb -x into a scratch
# root (never installed), and the C consumer built against that root with pkg-config and
# find_package: its codes must equal the installed CLI's on the shared data. Also checks
# the package set: names, the runtime package free of CUDA, the CUDA module in its own
# package, the unpacked CLI finding the unpacked module.
#
# usage: package_test.sh BUILD_DIR DATA CONSUMER_SRC WORK CMAKE CPACK C_COMPILER PKG_CONFIG
#                        HAVE_CUDA MODULE_SUBDIR SOVERSION
set -euo pipefail
build=$1 data=$2 src=$3 work=$4 cmake=$5 cpack=$6 cc=$7 pkgconfig=$8 have_cuda=$9
subdir=${10} soversion=${11}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work"

"$cpack" -G DEB --config "$build/CPackConfig.cmake" -B "$work/packages" > "$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; die "cpack failed"; }
shopt -s nullglob
debs=("$work"/packages/*.deb)
[ ${#debs[@]} -gt 0 ] || die "cpack made no .deb"
declare -A pkg
for d in "${debs[@]}"; do
  name=$(dpkg-deb -f "$d" Package)
  pkg[$name]=$d
  echo "$name $(dpkg-deb -f "$d" Version): Depends: $(dpkg-deb -f "$d" Depends)"
done
runtime=libgptaq$soversion
for p in "$runtime" libgptaq-dev gptaq-tools; do [ -n "${pkg[$p]:-}" ] || die "no package $p"; done
dpkg-deb -c "${pkg[$runtime]}" | grep -E 'cuda|cublas' && die "$runtime contains CUDA files"
dpkg-deb -f "${pkg[$runtime]}" Depends | grep -qE 'libopenblas|libblas' ||
  die "$runtime does not depend on OpenBLAS (dpkg-shlibdeps did not run?)"
dpkg-deb -f "${pkg[libgptaq-dev]}" Depends | grep -q "$runtime (= " || die "libgptaq-dev does not depend on $runtime"
case $have_cuda in
  ON|1|TRUE)
    [ -n "${pkg[$runtime-cuda]:-}" ] || die "no package $runtime-cuda"
    dpkg-deb -c "${pkg[$runtime-cuda]}" | grep -q "/$subdir/libgptaq-cuda.so" ||
      die "$runtime-cuda has no $subdir/libgptaq-cuda.so" ;;
  *) [ -z "${pkg[$runtime-cuda]:-}" ] || die "a CUDA package without a CUDA build" ;;
esac

root=$work/root
for d in "${debs[@]}"; do dpkg-deb -x "$d" "$root"; done
hdr=$(find "$root" -path '*/include/gptaq/gptaq.h' | head -n1)
[ -n "$hdr" ] || die "no include/gptaq/gptaq.h in the packages"
prefix=${hdr%/include/gptaq/gptaq.h}
echo "unpacked prefix: ${prefix#"$work"/}"

if [ -x "$prefix/bin/gptaq" ]; then
  libdir=$(dirname "$(find "$root" -name 'libgptaq.so.*' | head -n1)")
  out=$(env -u GPTAQ_CUDA_MODULE LD_LIBRARY_PATH="$libdir" "$prefix/bin/gptaq" --version 2>&1) ||
    die "the unpacked CLI does not run: $out"
  echo "unpacked CLI: $(echo "$out" | tail -n1)"
  case $have_cuda in
    ON|1|TRUE) case $out in *"$libdir/$subdir/libgptaq-cuda.so"*) ;;
      *) die "the unpacked library did not find the unpacked module" ;; esac ;;
  esac
fi

"$here/consumer_c.sh" "$prefix" "$data" "$src" "$work/consumer" "$cmake" "$cc" "$pkgconfig"
rm -rf "$work"
echo "package test: OK"
