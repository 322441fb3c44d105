#!/bin/bash
# The Python consumer test (issue 14): from outside the source tree, against the
# installed prefix of the install.prefix fixture.
#   run.sh MODE PYTHON SRC_DIR PREFIX DATA WORK PY_INSTALL_DIR
# MODE wheel:   copy bindings/python + bindings/swig to WORK, build a wheel there with
#               `pip wheel --no-build-isolation --no-deps` (libgptaq found by pkg-config
#               through PKG_CONFIG_PATH=PREFIX/lib/pkgconfig), install the wheel into a
#               scratch --target and run the consumer from a temporary directory.
# MODE pip:     `pip install --no-build-isolation --no-deps --target` of a copy of
#               bindings/python, libgptaq found through GPTAQ_PREFIX=PREFIX.
# MODE cmake:   the module `cmake --install` put at PREFIX/PY_INSTALL_DIR.
# MODE defaults: as cmake, with the binding's defaults against the CLI's defaults.
set -euo pipefail
mode=$1 py=$2 src=$3 prefix=$4 data=$5 work=$6 pydir=$7
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"
mkdir -p "$work/run"
unset PYTHONPATH
# OpenBLAS thread count as when make_data.py ran the CLI (results may depend on it).
export PYTHONDONTWRITEBYTECODE=1 PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
copy_sources() {  # pip builds in the source folder: build a copy, never the tree
  mkdir -p "$work/src"
  cp -r "$src/bindings/python" "$work/src/python"
  cp -r "$src/bindings/swig" "$work/src/swig"
  rm -rf "$work/src/python/tests" "$work/src/python/build" "$work/src/python"/*.egg-info
}
case "$mode" in
  pip)
    copy_sources
    GPTAQ_PREFIX="$prefix" "$py" -m pip install --no-build-isolation --no-deps \
      --target "$work/site" "$work/src/python"
    site="$work/site"
    ;;
  wheel)
    copy_sources
    libdir=$(dirname "$(find "$prefix" -name gptaq.pc -path '*pkgconfig*' | head -1)")
    PKG_CONFIG_PATH="$libdir" "$py" -m pip wheel --no-build-isolation --no-deps \
      -w "$work/wheels" "$work/src/python"
    whl=$(ls "$work"/wheels/gptaq-*.whl)
    "$py" - "$whl" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = ["gptaq/__init__.py", "gptaq/_formats.py", "gptaq/lowlevel.py", "gptaq/py.typed"]
missing = [n for n in need if n not in names]
assert not missing, missing
assert any(n.startswith("gptaq/_lowlevel") and n.endswith(".so") for n in names), names
print("wheel contents: OK", len(names), "files")
PY
    "$py" -m pip install --no-deps --target "$work/site" "$whl"
    site="$work/site"
    ;;
  cmake|defaults)
    site="$prefix/$pydir"
    # Where cmake --install put it is where the interpreter looks for that prefix:
    "$py" - "$pydir" <<'PY'
import os, sys, sysconfig
rel = sys.argv[1]
scheme = sysconfig.get_default_scheme() if hasattr(sysconfig, "get_default_scheme") else sysconfig._get_default_scheme()
paths = sysconfig.get_paths(scheme)
assert os.path.join(paths["data"], rel) == paths["platlib"], (rel, paths)
assert paths["platlib"] in sys.path or not os.path.isdir(paths["platlib"]), sys.path
print("install dir:", rel, "= the interpreter's", scheme, "platlib relative to", paths["data"])
PY
    ;;
  *) echo "unknown mode $mode" >&2; exit 1 ;;
esac
cd "$work/run"
extra=()
[ "$mode" = defaults ] && extra=(--defaults)
PYTHONPATH="$site" "$py" "$here/consumer.py" "$data" "$site" "${extra[@]}"
