#!/usr/bin/env bash
# The Rust consumer test (issue 14): from outside the source tree, a new crate whose only
# dependency is `gptaq = { path = <repo>/bindings/rust/gptaq }` is built against the
# installed prefix through pkg-config alone (no GPTAQ_LIB_DIR, no LD_LIBRARY_PATH), run
# with `cargo run`, and run again directly; its codes must equal the installed CLI's.
#
# usage: run.sh SOURCE_DIR PREFIX DATA_DIR WORK_DIR CARGO
set -euo pipefail
src=$1 prefix=$2 data=$3 work=$4 cargo=$5
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

pc=$(ls "$prefix"/lib*/pkgconfig/gptaq.pc 2>/dev/null | head -n1 || true)
[ -n "$pc" ] || die "no lib*/pkgconfig/gptaq.pc under $prefix (run the install.prefix fixture)"
pcdir=$(dirname "$pc")
libdir=$(cd "$(dirname "$pcdir")" && pwd -P)

crate=$work/rust-consumer
rm -rf "$crate"
mkdir -p "$crate/src"
cp "$src/tests/install/rust/src/main.rs" "$crate/src/main.rs"
cat > "$crate/Cargo.toml" <<TOML
[package]
name = "rust-consumer"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
gptaq = { path = "$src/bindings/rust/gptaq" }

[workspace]
TOML
[ ! -e "$crate/build.rs" ] || die "the consumer must not need a build script"

# Only the prefix can answer pkg-config; nothing points at the build tree.
export PKG_CONFIG_PATH=$pcdir PKG_CONFIG_LIBDIR=$pcdir
unset GPTAQ_LIB_DIR GPTAQ_INCLUDE_DIR GPTAQ_LINK_MODE LD_LIBRARY_PATH
export CARGO_TARGET_DIR=$work/rust-consumer-target CARGO_NET_OFFLINE=true CARGO_TERM_COLOR=never
cd "$crate"
echo "== cargo run (PKG_CONFIG_PATH=$pcdir, no LD_LIBRARY_PATH)"
"$cargo" run --offline --release -- "$data" 2>&1 | tee "$work/rust-consumer.log" | grep -v '^ *Compiling' || true
grep -q "rust consumer: OK" "$work/rust-consumer.log" || die "cargo run of the consumer failed"

bin=$CARGO_TARGET_DIR/release/rust-consumer
echo "== the binary alone, with an empty environment"
out=$(env -i PATH=/usr/bin:/bin "$bin" "$data" 2>&1) || die "the consumer binary does not run on its own: $out"
echo "$out"
case $out in *"rust consumer: OK"*) ;; *) die "the consumer binary did not print OK" ;; esac
if command -v readelf > /dev/null; then
  needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*libgptaq[^]]*\)\].*/\1/p')
  echo "libgptaq dependency: $needed"
  case $needed in "$libdir"/*) ;; *) die "the binary's libgptaq dependency ($needed) is not in $libdir" ;; esac
fi
echo "rust install consumer: OK"
