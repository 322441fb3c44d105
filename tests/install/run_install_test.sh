#!/usr/bin/env bash
# Install test: `cmake --install` into a temporary prefix, then build and run a small C
# consumer against it twice (pkg-config + cc, and CMake find_package -> gptaq::gptaq),
# then move the prefix elsewhere and build against it again (relocatable pkg-config file
# and CMake package).
#
# usage: run_install_test.sh BUILD_DIR CONSUMER_SRC_DIR WORK_DIR CMAKE C_COMPILER PKG_CONFIG VERSION
#                            HAVE_CUDA MODULE_SUBDIR
#   PKG_CONFIG may be empty (that half is then skipped and the test says so).
#   HAVE_CUDA (ON/OFF): whether the CUDA module was built, to be installed in
#   <libdir>/MODULE_SUBDIR/libgptaq-cuda.so.
set -euo pipefail

build=$1 src=$2 work=$3 cmake=$4 cc=$5 pkgconfig=$6 version=$7 have_cuda=${8:-OFF} subdir=${9:-}

step() { printf '== %s\n' "$*"; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix

step "cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --prefix "$prefix" > "$work/install.log" 2>&1 ||
  { cat "$work/install.log"; die "cmake --install failed"; }

# Everything the install wrote must be under the prefix.
if [ -f "$build/install_manifest.txt" ]; then
  outside=$(grep -v "^$prefix/" "$build/install_manifest.txt" || true)
  [ -z "$outside" ] || die "installed outside the prefix: $outside"
fi

# The expected layout.
pcfile=$(ls "$prefix"/lib*/pkgconfig/gptaq.pc 2>/dev/null | head -n1 || true)
[ -n "$pcfile" ] || die "no lib*/pkgconfig/gptaq.pc under $prefix"
libdir=$(dirname "$(dirname "$pcfile")")
libdir_rel=${libdir#"$prefix"/}
[ -f "$prefix/include/gptaq/gptaq.h" ] || die "header not installed"
[ -f "$libdir/cmake/gptaq/gptaqConfig.cmake" ] || die "gptaqConfig.cmake not installed"
[ -f "$libdir/cmake/gptaq/gptaqConfigVersion.cmake" ] || die "gptaqConfigVersion.cmake not installed"
[ -L "$libdir/libgptaq.so" ] || die "libgptaq.so (the dev symlink) not installed"
soname_file=$(readlink -f "$libdir/libgptaq.so")
[ "$(basename "$soname_file")" = "libgptaq.so.$version" ] ||
  die "libgptaq.so resolves to $(basename "$soname_file"), expected libgptaq.so.$version"

# The library links no CUDA library: the CUDA backend is a module it loads at run time.
needed=$(readelf -d "$soname_file" | grep NEEDED || true)
case $needed in *cuda*|*cublas*|*cusolver*) die "libgptaq links CUDA: $needed" ;; esac
if command -v ldd > /dev/null; then
  ldd "$soname_file" | grep -E 'cudart|cublas|cusolver' && die "ldd libgptaq.so shows CUDA libraries"
fi
echo "libgptaq NEEDED: $(echo "$needed" | sed -E 's/.*\[(.*)\]/\1/' | tr '\n' ' ')"
module=$libdir/$subdir/libgptaq-cuda.so
case $have_cuda in
  ON|1|TRUE)
    [ -f "$module" ] || die "the CUDA module is not installed at $module"
    nm -D --defined-only "$module" | awk '{print $3}' | grep -qx gptaq_backend_module_v1 ||
      die "$module does not export gptaq_backend_module_v1"
    extra=$(nm -D --defined-only "$module" | awk '{print $3}' | grep -v -e '^gptaq_backend_module_v1$' -e '^_init$' -e '^_fini$' -e '^$' || true)
    [ -z "$extra" ] || die "the CUDA module exports more than its entry point: $(echo $extra | head -c 300)"
    echo "CUDA module: $module" ;;
  *) [ ! -e "$module" ] || die "a CUDA module is installed although none was built" ;;
esac

# No installed text file may point back into the build or source tree.
if grep -rIl -e "$build" "$prefix" --include='*.pc' --include='*.cmake' 2>/dev/null; then
  die "installed package files mention the build directory $build"
fi

# The exported ABI: every gptaq_ function of the header, and none of the library's own
# internals (plain C symbols other than gptaq_*, or C++ symbols of namespace gptaq).
# Weak libstdc++ template instantiations (std::vector<float>::..., typeinfo for std::...)
# are counted, not failed: they get default visibility from libstdc++'s namespace.
if command -v nm > /dev/null; then
  syms=$(nm -D --defined-only "$soname_file" | awk '{print $3}')
  internal=$(printf '%s\n' "$syms" | grep -v -e '^gptaq_' -e '^_Z' -e '^_init$' -e '^_fini$' -e '^$' || true)
  internal="$internal $(printf '%s\n' "$syms" | grep -e '^_Z.*5gptaq' || true)"
  [ -z "${internal// /}" ] || die "libgptaq exports internal symbols: $(echo $internal | head -c 600)"
  for f in $(grep -oE '^GPTAQ_API [^(]*\(' "$prefix/include/gptaq/gptaq.h" |
             sed -E 's/.*[ *]([a-z_0-9]+)\($/\1/'); do
    printf '%s\n' "$syms" | grep -qx "$f" || die "declared but not exported: $f"
  done
  nstd=$(printf '%s\n' "$syms" | grep -c -e '^_Z' || true)
  echo "exported: $(printf '%s\n' "$syms" | grep -c '^gptaq_') gptaq_ functions, $nstd weak libstdc++ instantiations"
fi

# The installed tool finds the installed library by itself (RPATH $ORIGIN/../lib...).
if [ -x "$prefix/bin/gptaq" ]; then
  out=$(env -u LD_LIBRARY_PATH -u GPTAQ_CUDA_MODULE "$prefix/bin/gptaq" --version 2>&1) ||
    die "the installed gptaq tool does not run without LD_LIBRARY_PATH: $out"
  case $out in *"libgptaq $version"*) ;; *) die "installed tool reports: $out" ;; esac
  echo "installed tool: $(echo "$out" | tail -n1)"
  # ... and the installed library finds the installed module (beside itself, dladdr).
  case $have_cuda in
    ON|1|TRUE) case $out in *"$module"*) ;; *) die "the installed library did not look at $module: $out" ;; esac ;;
  esac
fi

run_consumer() {  # binary, label, lib dir
  local out
  out=$(LD_LIBRARY_PATH="$3${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$1") ||
    die "$2 consumer failed: $out"
  echo "$2: $out"
  case $out in *"consumer: OK"*) ;; *) die "$2 consumer did not print OK" ;; esac
}

build_with_pkgconfig() {  # prefix, output binary, label
  local pfx=$1 bin=$2 label=$3 pcdir flags cflags
  pcdir=$(dirname "$(ls "$pfx"/lib*/pkgconfig/gptaq.pc | head -n1)")
  # PKG_CONFIG_LIBDIR replaces the default search path: only this prefix can answer.
  local ver
  ver=$(PKG_CONFIG_LIBDIR="$pcdir" PKG_CONFIG_PATH="$pcdir" "$pkgconfig" --modversion gptaq) ||
    die "pkg-config does not find gptaq in $pcdir"
  [ "$ver" = "$version" ] || die "pkg-config --modversion says $ver, expected $version"
  cflags=$(PKG_CONFIG_LIBDIR="$pcdir" PKG_CONFIG_PATH="$pcdir" "$pkgconfig" --cflags gptaq)
  flags=$(PKG_CONFIG_LIBDIR="$pcdir" PKG_CONFIG_PATH="$pcdir" "$pkgconfig" --cflags --libs gptaq)
  echo "$label: pkg-config --cflags --libs gptaq -> $flags"
  # The -I and -L directories must resolve into this prefix (relocatable: the .pc file
  # derives its prefix from ${pcfiledir}, so they read <prefix>/lib/pkgconfig/../../...).
  local incdir libflag
  incdir=${cflags#-I}
  incdir=${incdir%% *}
  [ -f "$incdir/gptaq/gptaq.h" ] || die "$label: $incdir/gptaq/gptaq.h does not exist"
  [ "$(cd "$incdir" && pwd -P)" = "$(cd "$pfx/include" && pwd -P)" ] ||
    die "$label: -I$incdir is not $pfx/include"
  libflag=$(printf '%s\n' $flags | grep '^-L' | head -n1)
  libflag=${libflag#-L}
  [ -n "$libflag" ] && [ -f "$libflag/libgptaq.so" ] || die "$label: -L$libflag has no libgptaq.so"
  [ "$(cd "$libflag" && pwd -P)" = "$(cd "$(dirname "$pcdir")" && pwd -P)" ] ||
    die "$label: -L$libflag is not the prefix's library directory"
  # shellcheck disable=SC2086
  "$cc" -std=c99 -Wall -Wextra -Werror "$src/consumer.c" $flags -o "$bin" ||
    die "$label: compiling the consumer with pkg-config flags failed"
}

if [ -n "$pkgconfig" ]; then
  step "pkg-config consumer"
  build_with_pkgconfig "$prefix" "$work/consumer_pc" "pkg-config"
  run_consumer "$work/consumer_pc" "pkg-config" "$libdir"
else
  echo "pkg-config not found: the pkg-config half is skipped"
fi

step "CMake find_package consumer"
cmake_consumer() {  # prefix, build dir, label
  "$cmake" -S "$src" -B "$2" -DCMAKE_PREFIX_PATH="$1" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF > "$2.configure.log" 2>&1 ||
    { cat "$2.configure.log"; die "$3: configuring the find_package consumer failed"; }
  grep "gptaq_DIR=" "$2.configure.log" | sed "s/^-- /$3: /"
  grep -q "gptaq_DIR=$1/" "$2.configure.log" || die "$3: find_package(gptaq) did not use $1"
  "$cmake" --build "$2" > "$2.build.log" 2>&1 ||
    { cat "$2.build.log"; die "$3: building the find_package consumer failed"; }
}
cmake_consumer "$prefix" "$work/cmake-build" "find_package"
# CMake links with a build RPATH to the imported library: no LD_LIBRARY_PATH needed, but
# give it anyway so a missing RPATH is not what this test checks.
run_consumer "$work/cmake-build/consumer" "find_package" "$libdir"

step "relocation: move the prefix and build against it again"
moved=$work/elsewhere/deeper/moved-prefix
mkdir -p "$(dirname "$moved")"
mv "$prefix" "$moved"
[ ! -e "$prefix" ] || die "the old prefix still exists"
if [ -n "$pkgconfig" ]; then
  build_with_pkgconfig "$moved" "$work/consumer_pc_moved" "pkg-config (moved)"
  run_consumer "$work/consumer_pc_moved" "pkg-config (moved)" "$moved/$libdir_rel"
fi
cmake_consumer "$moved" "$work/cmake-build-moved" "find_package (moved)"
if [ -x "$moved/bin/gptaq" ]; then
  case $have_cuda in
    ON|1|TRUE)
      out=$(env -u LD_LIBRARY_PATH -u GPTAQ_CUDA_MODULE "$moved/bin/gptaq" --version 2>&1)
      case $out in *"$moved/$libdir_rel/$subdir/libgptaq-cuda.so"*) ;;
        *) die "the moved library did not look for its module in the moved prefix: $out" ;; esac
      echo "moved prefix: the library finds its module at $moved/$libdir_rel/$subdir" ;;
  esac
fi
run_consumer "$work/cmake-build-moved/consumer" "find_package (moved)" "$moved/$libdir_rel"

rm -rf "$work"
echo "install test: OK"
