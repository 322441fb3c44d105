#!/usr/bin/env python3
"""A user's script, run from a scratch directory against an installed gptaq package
(pip-installed from the wheel, or the module `cmake --install` put under the prefix):
quantizes the shared consumer data and asserts the codes equal the installed CLI's.

usage: consumer.py DATA_DIR EXPECT_UNDER [--defaults]

EXPECT_UNDER: the directory the imported gptaq package must come from (not the build
tree). --defaults: quantize with the binding's defaults (backend cpu only) and compare
with DATA_DIR/cli-defaults (the CLI's own defaults), instead of the spelled-out settings
against DATA_DIR/cli.
"""
import os
import sys

import numpy as np

import gptaq

data, expect_under = sys.argv[1], os.path.realpath(sys.argv[2])
defaults = "--defaults" in sys.argv[3:]
where = os.path.realpath(gptaq.__file__)
assert where.startswith(expect_under + os.sep), f"gptaq imported from {where}, not {expect_under}"

w = np.load(os.path.join(data, "W.npy"))
if defaults:
    kw = dict(backend="cpu")
    ref = os.path.join(data, "cli-defaults")
else:
    kw = dict(method="gptq", bits=4, group_size=128, sym=True, backend="cpu")
    ref = os.path.join(data, "cli")
# Stream the calibration file in the CLI's batches (its --batch-tokens default, 1024):
# the same batching gives bit-identical statistics, hence scales too.
with gptaq.Quantizer(w.shape[1], **kw) as q, gptaq.NpyReader(os.path.join(data, "X.npy")) as x:
    for batch in x.batches(1024):
        q.add_batch(batch)
    r = q.solve(w)
want = np.load(os.path.join(ref, "codes.npy"))
same = float(np.mean(r.codes == want))
assert r.codes.shape == want.shape, (r.codes.shape, want.shape)
assert same == 1.0, f"{100 * same:.1f}% of the codes equal the CLI's ({ref})"
for name in ("scales", "zeros", "g_idx"):
    assert np.array_equal(getattr(r, name), np.load(os.path.join(ref, name + ".npy"))), name
print(f"python consumer ({'defaults' if defaults else 'explicit'}): OK, gptaq {gptaq.version()} "
      f"from {os.path.dirname(where)}")
