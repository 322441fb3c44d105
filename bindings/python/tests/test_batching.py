"""Batching invariance: any split of the same tokens into batches gives the same result."""
from __future__ import annotations

import numpy as np
import pytest

import gptaq
from conftest import make_problem


def dyadic_problem(rows, cols, tokens, seed):
    """Inputs on a 1/4 grid: every product and partial sum is exact in fp32, so the
    statistics (and hence the results) cannot depend on the batching at all."""
    rng = np.random.default_rng(seed)
    x_fp = (rng.integers(-8, 9, size=(tokens, cols)) / 4).astype(np.float32)
    x_q = x_fp + (rng.integers(-1, 2, size=(tokens, cols)) / 4).astype(np.float32)
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    return w, x_q, x_fp


def solve_with_splits(cols, w, x_q, x_fp, splits, **cfg):
    with gptaq.Quantizer(cols, **cfg) as q:
        t0 = 0
        for n in splits:
            q.add_batch(x_q[t0:t0 + n], None if x_fp is None else x_fp[t0:t0 + n])
            t0 += n
        assert t0 == len(x_q) and q.num_tokens == len(x_q)
        return q.solve(w)


SPLITS = [[240], [1] * 240, [7] * 34 + [2], [100, 0, 140], [64, 64, 64, 48]]


@pytest.mark.parametrize("method", ["gptq", "gptaq"])
def test_exact_inputs_bit_identical_for_any_batching(method):
    rows, cols, tokens = 24, 48, 240
    w, xq, xfp = dyadic_problem(rows, cols, tokens, seed=4)
    if method == "gptq":
        xfp = None
    results = [solve_with_splits(cols, w, xq, xfp, s, method=method, group_size=16,
                                 act_order=True) for s in SPLITS]
    base = results[0]
    for r in results[1:]:
        assert np.array_equal(r.codes, base.codes)
        assert np.array_equal(r.scales, base.scales)
        assert np.array_equal(r.zeros, base.zeros)
        assert np.array_equal(r.g_idx, base.g_idx)
        assert np.array_equal(r.dequant, base.dequant)
        assert r.loss == base.loss


def test_leading_dims_same_as_flat():
    rows, cols = 8, 32
    w, xq, _ = dyadic_problem(rows, cols, 96, seed=6)
    a = solve_with_splits(cols, w, xq, None, [96], group_size=8)
    with gptaq.Quantizer(cols, group_size=8) as q:
        q.add_batch(xq.reshape(4, 24, cols))  # (batch, seq, hidden)
        b = q.solve(w)
    assert np.array_equal(a.codes, b.codes) and np.array_equal(a.dequant, b.dequant)


def test_half_inputs_match_their_float32_values():
    """f16 / bf16 batches are read as the fp32 values they encode."""
    rows, cols = 8, 32
    w, xq, _ = dyadic_problem(rows, cols, 64, seed=8)  # exactly representable in both
    a = solve_with_splits(cols, w, xq, None, [64], group_size=8)
    for hx, kw in ((xq.astype(np.float16), {}),
                   (gptaq.f32_to_half(xq, "bfloat16"), {"dtype": "bfloat16"})):
        with gptaq.Quantizer(cols, group_size=8) as q:
            q.add_batch(hx, **kw)
            b = q.solve(w)
        assert np.array_equal(a.codes, b.codes) and np.array_equal(a.dequant, b.dequant)


def test_random_inputs_close_for_any_batching():
    """With general inputs only fp32 rounding of the sums differs."""
    rows, cols, tokens = 32, 64, 240
    w, xq, xfp = make_problem(rows, cols, tokens, seed=12, gptaq_pair=True)
    results = [solve_with_splits(cols, w, xq, xfp, s, method="gptaq", group_size=32)
               for s in SPLITS]
    base = results[0]
    for r in results[1:]:
        assert np.mean(r.codes == base.codes) > 0.98
        assert np.abs(r.dequant - base.dequant).max() <= 2 * base.scales.max() + 1e-6
        assert r.loss == pytest.approx(base.loss, rel=1e-2)
