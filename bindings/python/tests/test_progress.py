"""Progress, cancellation, Ctrl-C, logging, the GIL and concurrent use of one Quantizer.

The calls into the callbacks come from the C library (gptaq_ctx_set_progress /
gptaq_ctx_set_log); these tests hold the binding to that contract."""
from __future__ import annotations

import logging
import os
import signal
import threading
import time

import numpy as np
import pytest

import gptaq
from conftest import make_problem

COLS = 384


@pytest.fixture(scope="module")
def problem():
    return make_problem(64, COLS, 1200, seed=11)


def quantizer(x, **kw):
    q = gptaq.Quantizer(COLS, group_size=32, act_order=True, block_size=16, **kw)
    q.add_batch(x)
    return q


def test_progress_reports_every_phase(problem):
    w, x, _ = problem
    seen = []
    with gptaq.Quantizer(COLS, group_size=32, block_size=16,
                         progress=lambda p, d, t: seen.append((p, d, t))) as q:
        q.add_batch(x)
        q.solve(w)
    phases = {p for p, _, _ in seen}
    assert gptaq.Phase.STATISTICS in phases and gptaq.Phase.SWEEP in phases
    assert all(isinstance(p, gptaq.Phase) and 0 <= d <= t for p, d, t in seen)
    sweep = [(d, t) for p, d, t in seen if p == gptaq.Phase.SWEEP]
    assert sweep[-1][0] == sweep[-1][1] == COLS  # reaches its total
    assert len(seen) < 2000  # a bounded rate


def test_cancel_then_solve_again_gives_the_same_answer(problem):
    w, x, _ = problem
    with quantizer(x) as q:
        want = q.solve(w)
    with quantizer(x) as q:
        before = q.serialize()
        calls = []

        def stop_in_sweep(phase, done, total):
            calls.append(phase)
            return phase == gptaq.Phase.SWEEP and done > 0

        with pytest.raises(gptaq.CancelledError) as e:
            q.solve(w, progress=stop_in_sweep)
        assert e.value.status == gptaq.Status.CANCELLED
        assert gptaq.Phase.SWEEP in calls
        assert q.serialize() == before  # statistics unchanged
        again = q.solve(w)
        assert np.array_equal(again.codes, want.codes)
        assert np.array_equal(again.dequant, want.dequant)


def test_cancel_a_batch_leaves_the_statistics(problem):
    w, x, _ = problem
    with gptaq.Quantizer(COLS) as q:
        q.add_batch(x[:100])
        before = q.serialize()
        with pytest.raises(gptaq.Cancelled):
            q.add_batch(x, progress=lambda p, d, t: True)
        assert q.serialize() == before and q.num_tokens == 100


def test_exception_in_callback_is_raised_and_cancels(problem):
    w, x, _ = problem
    with quantizer(x) as q:
        before = q.serialize()

        def boom(phase, done, total):
            raise ValueError("from the callback")

        with pytest.raises(ValueError, match="from the callback") as e:
            q.solve(w, progress=boom)
        assert isinstance(e.value.__cause__, gptaq.CancelledError)
        assert q.serialize() == before
        q.solve(w)


def test_tqdm_like_bar(problem):
    w, x, _ = problem

    class FakeTqdm:  # the parts of tqdm.tqdm the binding uses
        def __init__(self):
            self.n, self.total, self.desc, self.resets = 0, None, "", 0

        def update(self, k):
            self.n += k

        def reset(self, total=None):
            self.n, self.total = 0, total
            self.resets += 1

        def set_description(self, d):
            self.desc = d

    bar = FakeTqdm()
    with quantizer(x, progress=bar) as q:
        q.solve(w)
    assert bar.resets >= 1 and bar.total and bar.n == bar.total
    with pytest.raises(gptaq.DTypeError):
        gptaq.Quantizer(8, progress=42)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals go to the main thread")
def test_ctrl_c_cancels_and_raises_keyboard_interrupt(problem):
    w, x, _ = problem
    with quantizer(x) as q:
        want = q.solve(w)
    with quantizer(x) as q:
        before = q.serialize()
        started = threading.Event()

        def watch(phase, done, total):  # never cancels by itself
            if phase == gptaq.Phase.SWEEP and done > 0 and not started.is_set():
                started.set()
                for _ in range(500):  # the solve is under way; wait for the signal
                    time.sleep(0.01)
            return False

        def interrupt():
            started.wait(10)
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C in a terminal

        t = threading.Thread(target=interrupt)
        t.start()
        with pytest.raises(KeyboardInterrupt) as e:
            q.solve(w, progress=watch)
        t.join()
        # it came out of a cancelled call, not between two calls
        assert isinstance(e.value.__cause__, gptaq.CancelledError)
        assert q.serialize() == before
        assert np.array_equal(q.solve(w).codes, want.codes)


def test_log_messages_reach_logging(problem, caplog):
    w, x, _ = problem
    got = []
    with caplog.at_level(logging.DEBUG, logger="gptaq"):
        with quantizer(x) as q:
            q.solve(w)
    assert any(r.name == "gptaq" for r in caplog.records)
    with quantizer(x, log=lambda level, msg: got.append((level, msg))) as q:
        q.solve(w)
    assert got and all(isinstance(m, str) and m for _, m in got)
    assert all(isinstance(lv, gptaq.LogLevel) for lv, _ in got)
    with pytest.raises(gptaq.DTypeError):
        gptaq.Quantizer(8, log=3)


def test_gil_released_during_solve(problem):
    w, x, _ = problem
    count = [0]
    done = threading.Event()

    def spin():
        while not done.is_set():
            count[0] += 1

    with quantizer(x) as q:
        t0 = time.perf_counter()
        q.solve(w)
        single = time.perf_counter() - t0
        t = threading.Thread(target=spin)
        t.start()
        try:
            time.sleep(0.01)
            c0 = count[0]
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < max(0.2, single):
                q.set_config(damp_percent=0.011)  # drop the cached factor: a full solve
                q.solve(w)
                q.set_config(damp_percent=0.01)
            c1 = count[0]
        finally:
            done.set()
            t.join()
    assert c1 > c0 + 1000, "the other thread did not run during the solves"


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals go to the main thread")
def test_signal_pending_at_a_progress_report_cancels(problem):
    """A SIGINT that arrives while the library computes is seen at the next progress
    report (the trampoline checks for signals before calling into Python)."""
    w, x, _ = problem
    with quantizer(x) as q:
        want = q.solve(w)
        sent = []

        def report(phase, done, total):
            if phase == gptaq.Phase.SWEEP and not sent:
                sent.append(1)
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            return False

        with pytest.raises(KeyboardInterrupt) as e:
            q.solve(w, progress=report)
        assert isinstance(e.value.__cause__, gptaq.CancelledError)
        assert np.array_equal(q.solve(w).codes, want.codes)


def test_concurrent_use_of_one_quantizer_is_busy(problem):
    w, x, _ = problem
    with quantizer(x) as q:
        inside = threading.Event()
        release = threading.Event()
        errors = []

        def slow(phase, done, total):
            inside.set()
            release.wait(10)
            return False

        def other():
            inside.wait(10)
            try:
                q.solve(w)
            except gptaq.GptaqError as e:
                errors.append(e)
            finally:
                release.set()

        t = threading.Thread(target=other)
        t.start()
        q.solve(w, progress=slow)
        t.join()
        assert len(errors) == 1 and isinstance(errors[0], gptaq.BusyError)
        assert errors[0].status == gptaq.Status.BUSY
