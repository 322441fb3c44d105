#!/usr/bin/env bash
# Go consumer test (issue 14): from an installed prefix only, build and run a small Go
# program outside the source tree.
#   1. copy ONLY the installed Go module (PREFIX/share/gocode/src/github.com/gptaq/gptaq/
#      bindings/go) into a scratch folder: no SWIG, no repository around it;
#   2. a main module beside it with `replace github.com/gptaq/gptaq/bindings/go => ../gptaq-go`;
#   3. PKG_CONFIG_PATH=<prefix>/lib/pkgconfig (cgo: `#cgo pkg-config: gptaq`) and
#      CGO_LDFLAGS=-Wl,-rpath,<libdir from pkg-config>, so the binary runs without
#      LD_LIBRARY_PATH;
#   4. go build offline, run with LD_LIBRARY_PATH unset: codes must equal the CLI's.
#
# usage: run.sh PREFIX DATA_DIR SRC_DIR WORK_DIR GO PKG_CONFIG MODE
#   GOCACHE, if set, is kept (Go's build cache; it speeds up a rebuild and cannot change
#   the result); otherwise a fresh one under WORK_DIR.
set -euo pipefail
prefix=$1 data=$2 src=$3 work=$4 go=$5 pkgconfig=$6 mode=$7

die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

module=$prefix/share/gocode/src/github.com/gptaq/gptaq/bindings/go
[ -f "$module/go.mod" ] || die "no Go module installed at $module"
[ -f "$module/internal/lowlevel/lowlevel.go" ] || die "the generated SWIG layer is not installed"
pcdir=$(dirname "$(ls "$prefix"/lib*/pkgconfig/gptaq.pc | head -n1)")
[ -f "$pcdir/gptaq.pc" ] || die "no gptaq.pc under $prefix"

rm -rf "$work"
mkdir -p "$work/consumer"
cp -R "$module" "$work/gptaq-go"
cp "$src/main.go" "$work/consumer/main.go"
cat > "$work/consumer/go.mod" <<MOD
module example.com/gptaq-go-consumer

go 1.19

require github.com/gptaq/gptaq/bindings/go v0.0.0

replace github.com/gptaq/gptaq/bindings/go => ../gptaq-go
MOD

export PKG_CONFIG="$pkgconfig" PKG_CONFIG_PATH="$pcdir"
libdir=$("$pkgconfig" --variable=libdir gptaq)
[ -n "$libdir" ] || die "pkg-config gptaq has no libdir"
export CGO_LDFLAGS="-Wl,-rpath,$libdir" CGO_ENABLED=1
export GOPROXY=off GOFLAGS=-mod=mod GO111MODULE=on GOWORK=off GOENV=off GOTOOLCHAIN=local
export GOCACHE="${GOCACHE:-$work/gocache}" GOPATH="$work/gopath"
unset LD_LIBRARY_PATH

cd "$work/consumer"
"$go" build -o consumer . || die "go build failed"
if command -v readelf > /dev/null; then
  readelf -d consumer | grep -q "R.*PATH.*$libdir" || die "the consumer has no RPATH/RUNPATH to $libdir"
fi
./consumer "$data" "$mode"
