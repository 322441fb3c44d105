"""Errors: right exception type, the library's message, and no state change."""
from __future__ import annotations

import numpy as np
import pytest

import gptaq

COLS = 32


@pytest.fixture
def q():
    with gptaq.Quantizer(COLS, group_size=8) as quant:
        yield quant


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    return (rng.standard_normal((64, COLS)).astype(np.float32),
            rng.standard_normal((4, COLS)).astype(np.float32))


def test_wrong_dtype(q, data):
    x, w = data
    for bad in (x.astype(np.float64), x.astype(np.int32), x.astype(np.uint16)):
        with pytest.raises(TypeError) as ei:
            q.add_batch(bad)
        assert isinstance(ei.value, gptaq.DTypeError) and isinstance(ei.value, gptaq.GptaqError)
        assert "x_q" in str(ei.value)
    with pytest.raises(gptaq.DTypeError, match="uint16"):
        q.add_batch(x.astype(np.uint16))
    with pytest.raises(gptaq.DTypeError, match="float64"):
        q.solve(w.astype(np.float64))
    with pytest.raises(gptaq.DTypeError, match="non-native byte order"):
        q.add_batch(x.astype(">f4"))
    with pytest.raises(gptaq.DTypeError):
        q.add_batch([[1.0] * COLS])  # a list becomes float64: refused, not converted
    assert q.num_tokens == 0


def test_wrong_shape(q, data):
    x, w = data
    with pytest.raises(gptaq.ShapeError, match="columns = 32"):
        q.add_batch(x[:, :31].copy())
    with pytest.raises(ValueError):
        q.add_batch(np.float32(1.0))
    q.add_batch(x)
    with pytest.raises(gptaq.ShapeError) as ei:
        q.solve(np.ones((4, 31), np.float32))
    # the library's own message
    assert str(ei.value) == "weight has 31 columns but the context was created for 32"
    with pytest.raises(gptaq.ShapeError, match="rows"):
        q.solve(np.ones((0, COLS), np.float32))
    with pytest.raises(gptaq.ShapeError, match=r"\(rows, columns\)"):
        q.solve(np.ones((COLS,), np.float32))
    with pytest.raises(gptaq.ShapeError, match="mask"):
        q.add_batch(x, mask=np.ones(63, bool))
    assert q.num_tokens == 64


def test_non_contiguous(q, data):
    x, w = data
    big = np.zeros((64, 2 * COLS), np.float32)
    with pytest.raises(gptaq.InvalidArgumentError, match="C-contiguous"):
        q.add_batch(big[:, ::2])
    with pytest.raises(ValueError, match="C-contiguous"):
        q.add_batch(np.asfortranarray(x))
    q.add_batch(x)
    with pytest.raises(gptaq.InvalidArgumentError, match="C-contiguous"):
        q.solve(np.asfortranarray(w))


def test_nan_and_inf(q, data):
    x, w = data
    q.add_batch(x)
    bad = x.copy()
    bad[3, 5] = np.nan
    with pytest.raises(gptaq.NonFiniteError) as ei:
        q.add_batch(bad)
    assert ei.value.status == gptaq.Status.NON_FINITE
    assert "NaN or Inf" in str(ei.value) and "rejected" in str(ei.value)
    assert q.num_tokens == 64  # the batch was rejected whole
    wb = w.copy()
    wb[1, 2] = np.inf
    with pytest.raises(gptaq.NonFiniteError, match=r"weight\[1\]\[2\] is Inf"):
        q.solve(wb)
    q.solve(w)  # still usable


def test_closed_context(data):
    x, w = data
    q = gptaq.Quantizer(COLS)
    q.add_batch(x)
    q.close()
    assert q.closed
    q.close()  # idempotent
    for call in (lambda: q.add_batch(x), lambda: q.solve(w), lambda: q.num_tokens,
                 lambda: q.config, q.reset, lambda: q.set_config(bits=3)):
        with pytest.raises(gptaq.ClosedError, match="closed"):
            call()
    assert "closed" in repr(q)
    with gptaq.Quantizer(COLS) as q2:
        pass
    assert q2.closed


def test_no_data_and_method_mismatch(data):
    x, w = data
    with gptaq.Quantizer(COLS) as q:
        with pytest.raises(gptaq.NoDataError) as ei:
            q.solve(w)
        assert str(ei.value) and ei.value.status == gptaq.Status.NO_DATA
        with pytest.raises(gptaq.InvalidArgumentError, match="x_fp is only used by method 'gptaq'"):
            q.add_batch(x, x)
    with gptaq.Quantizer(COLS, method="gptaq") as q:
        with pytest.raises(gptaq.InvalidArgumentError, match="needs x_fp"):
            q.add_batch(x)
        with pytest.raises(gptaq.ShapeError):
            q.add_batch(x, x[:10])
        with pytest.raises(gptaq.DTypeError, match="same dtype"):
            q.add_batch(x, x.astype(np.float16))
    with gptaq.Quantizer(COLS, method="rtn") as q:
        assert q.solve(w).loss == 0.0  # RTN needs no calibration


def test_binary_quantizer_errors(data):
    x, w = data
    with pytest.raises(gptaq.InvalidArgumentError, match="binary quantizer"):
        gptaq.Quantizer(COLS, method="gptqt", bits=5)
    ll = gptaq.lowlevel
    # The raw API refuses the uniform solve on a binary context with its message.
    with gptaq.Quantizer(COLS, method="gptqt", bits=2) as q:
        q.add_batch(x)
        r = q.solve(w)
        assert isinstance(r, gptaq.BinaryResult)
        assert set(np.unique(r.codes)) <= {0, 1, 2, 3}
        ctx = q._acquire().ctx
        try:
            G = ll.gptaq_num_groups(COLS, 128)
            st = ll.gptaq_solve(ctx, w, 4, COLS, np.empty((4, COLS), np.uint8),
                                np.empty((4, G), np.float32), np.empty((4, G), np.float32),
                                None, None, None)
            assert st == gptaq.Status.INVALID_ARGUMENT
            with pytest.raises(gptaq.InvalidArgumentError, match=r"solve\(\)"):
                gptaq._errors.check(st, ctx)
        finally:
            q._lock.release()


def test_lowlevel_buffer_typemaps_check_format():
    ll = gptaq.lowlevel
    st, ctx = ll.gptaq_ctx_create(8, None)
    assert st == 0
    try:
        with pytest.raises(TypeError, match="weight"):
            ll.gptaq_solve(ctx, np.zeros((2, 8)), 2, 8, np.empty((2, 8), np.uint8),
                           np.empty(2, np.float32), np.empty(2, np.float32), None, None, None)
        with pytest.raises(TypeError, match="writable"):
            ro = np.empty((2, 8), np.uint8)
            ro.flags.writeable = False
            ll.gptaq_solve(ctx, np.zeros((2, 8), np.float32), 2, 8, ro,
                           np.empty(2, np.float32), np.empty(2, np.float32), None, None, None)
        with pytest.raises(TypeError, match="contiguous"):
            ll.gptaq_add_batch(ctx, np.zeros((8, 8), np.float32)[:, ::2], None, 4, 0)
        # a NULL context is reported through the thread-local message
        st = ll.gptaq_add_batch(None, np.zeros(8, np.float32), None, 1, 0)
        assert st == gptaq.Status.INVALID_ARGUMENT
        assert ll.gptaq_swig_errmsg(None, st) == "ctx is NULL"
    finally:
        ll.gptaq_ctx_free(ctx)


def test_busy_from_another_thread(data):
    """Concurrent use of one Quantizer raises BusyError instead of corrupting state."""
    import threading
    x, w = data
    q = gptaq.Quantizer(COLS)
    q.add_batch(x)
    q._lock.acquire()  # simulate another thread inside a native call
    try:
        errs = []

        def other():
            try:
                q.solve(w)
            except gptaq.BusyError as e:
                errs.append(e)
        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert len(errs) == 1 and errs[0].status == gptaq.Status.BUSY
        with pytest.raises(gptaq.BusyError):
            q.close()
    finally:
        q._lock.release()
    q.close()


def test_messages_speak_python(data):
    x, w = data
    with gptaq.Quantizer(COLS) as q:
        with pytest.raises(gptaq.NoDataError) as ei:
            q.solve(w)
        assert "add_batch()" in str(ei.value) and "gptaq_" not in str(ei.value)
        with pytest.raises(gptaq.DTypeError, match="x_q is None"):
            q.add_batch(None)
        with pytest.raises(gptaq.DTypeError, match="weight is None"):
            q.solve(None)
    with pytest.raises(gptaq.InvalidArgumentError, match="gptqt") as ei:
        gptaq.Quantizer(COLS, method="gptx")
    assert "rtn, gptq, gptaq, gptqt" in str(ei.value)
    with pytest.raises(gptaq.DTypeError, match="backend is None"):
        gptaq.backend_available(None)
    assert gptaq._errors.pythonize("x is NULL: pass NULL to gptaq_add_batch") == \
        "x is None: pass None to add_batch()"


def test_overstated_sizes_cannot_reach_the_library(data):
    """The lengths the C API takes are derived from the arrays, never from the caller:
    a batch's tokens, a weight's rows and every output are sized here."""
    x, w = data
    with gptaq.Quantizer(COLS) as q:
        with pytest.raises(gptaq.ShapeError):
            q.add_batch(x.reshape(-1)[:COLS * 3 + 1])
        with pytest.raises(gptaq.ShapeError):
            q.add_batch(x[:, :COLS - 1])
        assert q.num_tokens == 0
        q.close()
        q.close()  # double close is harmless
