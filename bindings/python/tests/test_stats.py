"""Statistics exchange: merge, save/load, serialize/deserialize, buffers + commit."""
from __future__ import annotations

import numpy as np
import pytest

import gptaq
from test_batching import dyadic_problem

COLS = 48


def halves(method):
    w, xq, xfp = dyadic_problem(16, COLS, 240, seed=9)
    if method == "gptq":
        xfp = None
    return w, xq, xfp


def calibrate(method, xq, xfp):
    q = gptaq.Quantizer(COLS, method=method, group_size=16)
    q.add_batch(xq, xfp)
    return q


@pytest.mark.parametrize("method", ["gptq", "gptaq"])
def test_merge_serialize_save_give_the_single_worker_result(method, tmp_path):
    w, xq, xfp = halves(method)
    one = calibrate(method, xq, xfp)
    want = one.solve(w)
    a = calibrate(method, xq[:100], None if xfp is None else xfp[:100])
    b = calibrate(method, xq[100:], None if xfp is None else xfp[100:])
    # merge
    with gptaq.Quantizer(COLS, method=method, group_size=16) as m:
        m.merge(a)
        m.merge(b)
        assert m.num_tokens == 240
        assert np.array_equal(m.solve(w).codes, want.codes)
    # serialize -> bytes -> deserialize (replace, then accumulate)
    blob_a, blob_b = a.serialize(), b.serialize()
    assert isinstance(blob_a, bytes) and len(blob_a) == a.serialized_size
    with gptaq.Quantizer(COLS, method=method, group_size=16) as m:
        m.deserialize(blob_a)
        m.deserialize(bytearray(blob_b), mode="accumulate")
        assert np.array_equal(m.solve(w).codes, want.codes)
    # into a caller's buffer
    buf = np.zeros(a.serialized_size + 10, np.uint8)
    assert a.serialize(buf) == a.serialized_size
    assert bytes(buf[:len(blob_a)]) == blob_a
    # files
    pa, pb = tmp_path / "a.stats", tmp_path / "b.stats"
    a.save_stats(pa)
    b.save_stats(str(pb))
    info = gptaq.stats_file_info(pa)
    assert info.columns == COLS and info.tokens == 100.0
    assert info.has_cross == (method == "gptaq") and info.method == gptaq.Method[method.upper()]
    with gptaq.Quantizer(COLS, method=method, group_size=16) as m:
        m.load_stats(pa)
        m.load_stats(pb, gptaq.StatsMode.ACCUMULATE)
        assert np.array_equal(m.solve(w).codes, want.codes)
    # buffers: an in-place "all-reduce" by hand
    with gptaq.Quantizer(COLS, method=method, group_size=16) as m:
        m.merge(a)
        bm, bb = m.stats_buffers(), b.stats_buffers()
        assert bm.xx.shape == (COLS, COLS) and bm.xx.dtype == np.float32
        assert (bm.dx is None) == (method == "gptq")
        for x, y in zip(bm.arrays(), bb.arrays()):
            x += y
        m.stats_commit()
        assert m.num_tokens == 240
        assert np.array_equal(m.solve(w).codes, want.codes)
    for q in (one, a, b):
        q.close()


def test_buffers_outlive_close():
    w, xq, _ = halves("gptq")
    q = calibrate("gptq", xq, None)
    b = q.stats_buffers()
    q.close()
    assert b.tokens[0] == 240.0 and np.isfinite(b.xx).all()  # memory still owned


def test_bad_statistics_change_nothing(tmp_path):
    w, xq, _ = halves("gptq")
    q = calibrate("gptq", xq, None)
    before = q.serialize()
    other = gptaq.Quantizer(COLS + 1)
    other.add_batch(np.ones((3, COLS + 1), np.float32))
    with pytest.raises(gptaq.ShapeError):
        q.merge(other)
    with pytest.raises(gptaq.ShapeError):
        q.deserialize(other.serialize())
    bad = bytearray(before)
    bad[100] ^= 0xFF
    with pytest.raises(gptaq.FormatError) as e:
        q.deserialize(bytes(bad))
    assert e.value.status == gptaq.Status.FORMAT and e.value.message
    with pytest.raises(gptaq.FormatError):
        q.deserialize(before[:-8])
    with pytest.raises(gptaq.DTypeError, match="None"):
        q.deserialize(None)
    with pytest.raises(gptaq.InvalidArgumentError, match="mode"):
        q.deserialize(before, mode="sum")
    with pytest.raises(gptaq.InvalidArgumentError):
        q.merge(q)
    with pytest.raises(gptaq.InvalidArgumentError):  # GPTQ vs GPTAQ statistics
        with gptaq.Quantizer(COLS, method="gptaq") as g:
            q.merge(g)
    with pytest.raises(gptaq.FileIOError):
        q.load_stats(tmp_path / "missing.stats")
    (tmp_path / "junk").write_bytes(b"not statistics")
    with pytest.raises(gptaq.FormatError):
        q.load_stats(tmp_path / "junk")
    with pytest.raises(gptaq.FormatError):
        gptaq.stats_file_info(tmp_path / "junk")
    with pytest.raises(gptaq.ShapeError):
        q.serialize(bytearray(10))
    with pytest.raises(TypeError):
        q.serialize(b"read-only bytes")
    b = q.stats_buffers()
    b.xx[0, 0] = np.nan
    with pytest.raises(gptaq.NonFiniteError):
        q.stats_commit()
    b.xx[0, 0] = np.frombuffer(before[64:68], np.float32)[0]
    q.stats_commit()
    assert q.serialize() == before
    q.close()
    other.close()
    with pytest.raises(gptaq.ClosedError):
        q.serialize()


def test_imatrix_of_a_quantizer():
    x = np.arange(2 * COLS, dtype=np.float32).reshape(2, COLS)
    with gptaq.Quantizer(COLS) as q:
        q.add_batch(x)
        s2, tokens = q.imatrix()
    assert tokens == 2 and np.allclose(s2, (x * x).sum(0))
