#!/bin/sh
# Regenerate the raw Rust bindings of libgptaq from the public C header.
#
#   bindings/rust/gptaq-sys/regen.sh            rewrite src/bindings.rs in place
#   bindings/rust/gptaq-sys/regen.sh --check    regenerate into a temporary file and fail
#                                               (with a diff) if the committed file differs
#
# Run it (or `cmake --build <build> --target gptaq-sys-bindings`) after every change to
# include/gptaq/gptaq.h and commit the result. Needs Debian's `bindgen` (0.60, libclang);
# set BINDGEN=/path/to/bindgen to use another one.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
header="$here/../../../include/gptaq/gptaq.h"
committed="$here/src/bindings.rs"
BINDGEN=${BINDGEN:-bindgen}

generate() {
  "$BINDGEN" "$header" \
    --allowlist-function 'gptaq_.*' \
    --allowlist-type 'gptaq_.*' \
    --allowlist-var 'GPTAQ_.*' \
    --newtype-enum '.*' \
    --size_t-is-usize \
    -o "$1"
}

if [ "${1:-}" = "--check" ]; then
  tmp=$(mktemp "${TMPDIR:-/tmp}/gptaq-sys-bindings.XXXXXX")
  trap 'rm -f "$tmp"' EXIT
  generate "$tmp"
  if ! diff -u "$committed" "$tmp"; then
    echo "" >&2
    echo "bindings/rust/gptaq-sys/src/bindings.rs is out of date with include/gptaq/gptaq.h." >&2
    echo "Regenerate it with: bindings/rust/gptaq-sys/regen.sh" >&2
    echo "  (or: cmake --build <build-dir> --target gptaq-sys-bindings) and commit the result." >&2
    exit 1
  fi
  echo "bindings.rs is up to date with gptaq.h"
else
  generate "$committed"
  echo "wrote $committed"
fi
