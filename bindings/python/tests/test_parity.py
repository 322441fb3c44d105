"""Results through the binding are bit-identical to the raw C API on the same inputs."""
from __future__ import annotations

import numpy as np
import pytest

import gptaq
from conftest import make_problem

UNIFORM_CASES = [
    dict(method=1),
    dict(method=1, bits=3, group_size=16, act_order=1),
    dict(method=1, bits=2, group_size=-1, sym=0, mse=1),
    dict(method=1, bits=4, group_size=32, act_order=1, static_groups=1, block_size=16),
    dict(method=2, bits=4, group_size=32, act_order=1),
    dict(method=2, bits=3, group_size=64, alpha=0.5, block_size=32, sym=0),
    dict(method=0, bits=8, group_size=16),
    dict(method=1, bits=4, group_size=24, damp_percent=0.1, mse=1, mse_norm=2.0,
         mse_grid=50, mse_max_shrink=0.6),
]


def _q_kwargs(cfg):
    return {k: v for k, v in cfg.items()}


def _assert_same(r, ref, names):
    for n in names:
        got = getattr(r, n)
        want = ref[n]
        if n == "alpha":
            got = got.reshape(want.shape)
        assert got.dtype == want.dtype, n
        assert got.shape == want.shape, n
        assert np.array_equal(got.view(np.uint8), want.view(np.uint8)), f"{n} differs"
    assert r.loss == ref["loss"]
    assert r.n_groups == int(ref["n_groups"])


@pytest.mark.parametrize("cfg", UNIFORM_CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_uniform_identical_to_c_api(capi, cfg):
    rows, cols, tokens = 48, 96, 300
    w, xq, xfp = make_problem(rows, cols, tokens, seed=3, gptaq_pair=cfg["method"] == 2)
    ref = capi.run(w, xq, xfp, batch=128, **cfg)
    assert ref["status"] == 0, ref
    with gptaq.Quantizer(cols, **_q_kwargs(cfg)) as q:
        for t0 in range(0, tokens, 128):
            q.add_batch(xq[t0:t0 + 128], None if xfp is None else xfp[t0:t0 + 128])
        assert q.num_tokens == tokens == int(ref["num_tokens"])
        r = q.solve(w)
    assert isinstance(r, gptaq.QuantResult)
    assert r.codes.max() <= 2 ** cfg.get("bits", 4) - 1
    _assert_same(r, ref, ["codes", "scales", "zeros", "g_idx", "dequant"])


@pytest.mark.parametrize("dtype", ["f16", "bf16"])
@pytest.mark.parametrize("method", [1, 2])
def test_half_inputs_identical_to_c_api(capi, dtype, method):
    rows, cols, tokens = 16, 64, 200
    w, xq, xfp = make_problem(rows, cols, tokens, seed=5, gptaq_pair=method == 2)
    if dtype == "f16":
        hq = xq.astype(np.float16)
        hfp = None if xfp is None else xfp.astype(np.float16)
        kw = {}
    else:
        hq = gptaq.f32_to_half(xq, "bfloat16")
        hfp = None if xfp is None else gptaq.f32_to_half(xfp, "bfloat16")
        kw = {"dtype": "bfloat16"}
    ref = capi.run(w, hq, hfp, batch=64, dtype=dtype, method=method, group_size=32, act_order=1)
    with gptaq.Quantizer(cols, method=method, group_size=32, act_order=True) as q:
        for t0 in range(0, tokens, 64):
            q.add_batch(hq[t0:t0 + 64], None if hfp is None else hfp[t0:t0 + 64], **kw)
        r = q.solve(w)
    _assert_same(r, ref, ["codes", "scales", "zeros", "g_idx", "dequant"])


def test_mask_identical_to_c_api(capi):
    rows, cols, tokens = 16, 64, 240
    w, xq, _ = make_problem(rows, cols, tokens, seed=9)
    mask = (np.arange(tokens) % 3 != 0)
    ref = capi.run(w, xq, mask=mask, group_size=16)  # one batch, as below
    with gptaq.Quantizer(cols, group_size=16) as q:
        # leading dims: (3 sequences, 80 tokens, cols) with a (3, 80) mask
        q.add_batch(xq.reshape(3, 80, cols), mask=mask.reshape(3, 80))
        assert q.num_tokens == int(mask.sum()) == int(ref["num_tokens"])
        r = q.solve(w)
    _assert_same(r, ref, ["codes", "scales", "zeros", "g_idx", "dequant"])


BINARY_CASES = [
    dict(bits=3),
    dict(bits=2, group_size=-1, objective=1, explore_split=8),
    dict(bits=2, hyper_bits=5, explore_bits=2, objective=2, act_order=1),
    dict(bits=3, group_size=32, method=2),
]


@pytest.mark.parametrize("cfg", BINARY_CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_binary_identical_to_c_api(capi, cfg):
    rows, cols, tokens = 32, 64, 256
    method = cfg.get("method", 1)
    w, xq, xfp = make_problem(rows, cols, tokens, seed=11, gptaq_pair=method == 2)
    ref = capi.run(w, xq, xfp, quantizer=1, **cfg)
    if ref["status"] != 0:
        # The library refused this configuration: the binding must raise the same.
        with pytest.raises(gptaq.error_class(ref["status"])) as ei:
            with gptaq.Quantizer(cols, quantizer="binary", **cfg) as q:
                q.add_batch(xq, xfp)
                q.solve(w)
        assert str(ei.value) == ref["message"]
        return
    kw = dict(cfg)
    if method == 1:
        kw.pop("method", None)
        q = gptaq.Quantizer(cols, method="gptqt", **kw)
    else:
        q = gptaq.Quantizer(cols, quantizer="binary", **kw)
    with q:
        q.add_batch(xq, xfp)
        r = q.solve(w)
    assert isinstance(r, gptaq.BinaryResult)
    k = cfg["bits"]
    assert r.alpha.shape == (rows, r.n_groups, k)
    assert r.bias.shape == (rows, r.n_groups)
    _assert_same(r, ref, ["codes", "alpha", "bias", "g_idx", "dequant"])
    assert r.level_set == int(ref["level_set"]) and r.level_set >= 0
    assert r.scale_index == int(ref["scale_index"]) and r.scale_index >= 0
    # The merged binary code reproduces dequant: sum_i (+-alpha_i) + bias.
    signs = ((r.codes[..., None] >> np.arange(k - 1, -1, -1)) & 1) * 2.0 - 1.0
    g = r.g_idx
    alpha = r.alpha[:, g, :]
    bias = r.bias[:, g]
    recon = (signs * alpha).sum(-1) + bias
    np.testing.assert_allclose(recon, r.dequant, rtol=1e-5, atol=1e-5)


def test_lowlevel_module_matches_c_api(capi):
    """The raw SWIG functions take numpy buffers directly and agree too."""
    ll = gptaq.lowlevel
    rows, cols, tokens = 8, 32, 100
    w, xq, _ = make_problem(rows, cols, tokens, seed=2)
    ref = capi.run(w, xq, group_size=8)
    cfg = ll.gptaq_config()
    cfg.group_size = 8
    st, ctx = ll.gptaq_ctx_create(cols, cfg)
    assert st == 0
    try:
        assert ll.gptaq_add_batch(ctx, xq, None, tokens, ll.GPTAQ_DTYPE_F32) == 0
        G = ll.gptaq_num_groups(cols, 8)
        codes = np.empty((rows, cols), np.uint8)
        scales = np.empty((rows, G), np.float32)
        zeros = np.empty((rows, G), np.float32)
        info = ll.gptaq_solve_info()
        assert info.struct_size == ll.gptaq_swig_solve_info_size()
        assert ll.gptaq_solve(ctx, w, rows, cols, codes, scales, zeros, None, None, info) == 0
    finally:
        ll.gptaq_ctx_free(ctx)
    assert np.array_equal(codes, ref["codes"])
    assert np.array_equal(scales, ref["scales"]) and np.array_equal(zeros, ref["zeros"])
    assert info.loss == ref["loss"]
