"""No leaks over many create/add/solve/free cycles; threads; buffers not copied."""
from __future__ import annotations

import gc
import threading

import numpy as np

import gptaq
from conftest import make_problem, rss_bytes


def cycle(cols, x, w, close_explicitly):
    q = gptaq.Quantizer(cols, method="gptq", group_size=32, act_order=True, log=False)
    q.add_batch(x)
    r = q.solve(w)
    if close_explicitly:
        q.close()
    else:
        del q  # the finalizer frees the context
    return r


def test_no_leak_over_many_cycles():
    # 2000 create/add/solve/free cycles. Each context holds 2 x cols^2 fp32 of
    # statistics (+ factor buffers): 128 columns is >= 128 KiB per cycle, so a leaked
    # context over 2000 cycles would be >= 250 MiB; results (not kept) would be ~40 MiB.
    cols = 128
    w, x, _ = make_problem(32, cols, 200, seed=1)
    for i in range(30):  # warm up allocator pools and caches
        cycle(cols, x, w, i % 2 == 0)
    gc.collect()
    before = rss_bytes()
    for i in range(2000):
        r = cycle(cols, x, w, i % 2 == 0)
        assert r.codes.shape == (32, cols)
    gc.collect()
    growth = rss_bytes() - before
    assert growth < 16 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB over 2000 cycles"


def test_no_leak_on_error_paths():
    cols = 256
    x = np.ones((10, cols), np.float32)
    x[0, 0] = np.nan
    w = np.ones((4, cols + 1), np.float32)
    gc.collect()
    before = rss_bytes()
    for _ in range(300):
        with gptaq.Quantizer(cols) as q:
            try:
                q.add_batch(x)
            except gptaq.NonFiniteError:
                pass
            try:
                q.solve(w)
            except gptaq.ShapeError:
                pass
        try:
            gptaq.Quantizer(cols, bits=1)
        except gptaq.InvalidArgumentError:
            pass
    gc.collect()
    growth = rss_bytes() - before
    assert growth < 24 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB over 300 error cycles"


def test_inputs_are_not_copied_or_modified():
    cols = 32
    w, x, _ = make_problem(8, cols, 50, seed=3)
    x_ro = x.copy()
    x_ro.flags.writeable = False  # read-only buffers are accepted (no copy needed)
    w_before = w.copy()
    with gptaq.Quantizer(cols) as q:
        q.add_batch(x_ro)
        r = q.solve(w)
    assert np.array_equal(w, w_before)
    assert r.codes.flags.c_contiguous and r.codes.dtype == np.uint8
    assert r.g_idx.dtype == np.int32 and r.scales.dtype == np.float32


def test_contiguous_inputs_are_passed_in_place():
    """What reaches the C call is a view of the caller's memory, never a copy."""
    x = np.ones((2, 8, 32), np.float32)
    view, dt, tokens = gptaq._batch(x, "x_q", 32, None)
    assert np.shares_memory(view, x) and dt == gptaq.DType.F32 and tokens == 16
    h = np.ones((16, 32), np.float16)
    assert np.shares_memory(gptaq._batch(h, "x_q", 32, None)[0], h)
    b = np.ones((16, 32), np.uint16)
    assert np.shares_memory(gptaq._batch(b, "x_q", 32, gptaq.DType.BF16)[0], b)
    w = np.ones((4, 32), np.float32)
    assert gptaq._weight(w, None) is w


def test_separate_quantizers_in_threads_match_serial():
    cols = 64
    probs = [make_problem(16, cols, 200, seed=s) for s in range(4)]
    serial = []
    for w, x, _ in probs:
        with gptaq.Quantizer(cols, group_size=16) as q:
            q.add_batch(x)
            serial.append(q.solve(w))
    out = [None] * len(probs)
    errors = []

    def work(i):
        try:
            w, x, _ = probs[i]
            with gptaq.Quantizer(cols, group_size=16) as q:
                for t0 in range(0, 200, 200):
                    q.add_batch(x[t0:t0 + 200])
                out[i] = q.solve(w)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(probs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for a, b in zip(serial, out):
        assert np.array_equal(a.codes, b.codes) and np.array_equal(a.dequant, b.dequant)


def test_result_save_roundtrip(tmp_path):
    cols = 32
    w, x, _ = make_problem(8, cols, 50, seed=3)
    with gptaq.Quantizer(cols, group_size=8) as q:
        q.add_batch(x)
        r = q.solve(w)
    r.save(tmp_path / "layer.npz")
    z = np.load(tmp_path / "layer.npz")
    for k in ("codes", "scales", "zeros", "g_idx", "dequant"):
        assert np.array_equal(z[k], getattr(r, k))
    assert float(z["loss"]) == r.loss
