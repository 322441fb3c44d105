"""Group-aware reordering (act_group_aware) and the failsafe (failsafe_tokens)."""
from __future__ import annotations

import numpy as np
import pytest

import gptaq
from conftest import make_problem

COLS = 96


def test_options_round_trip_and_validation():
    with gptaq.Quantizer(COLS, group_size=32, act_group_aware=True, failsafe_tokens=50) as q:
        c = q.config
        assert c["act_group_aware"] is True and c["failsafe_tokens"] == 50
        q.set_config(act_group_aware=False, failsafe_tokens=0)
        assert q.config["act_group_aware"] is False
    with pytest.raises(gptaq.InvalidArgumentError):
        gptaq.Quantizer(COLS, act_group_aware=True, act_order=True)
    with pytest.raises(gptaq.InvalidArgumentError):
        gptaq.Quantizer(COLS, act_group_aware=True, group_size=-1)
    with pytest.raises(gptaq.InvalidArgumentError):
        gptaq.Quantizer(COLS, failsafe_tokens=-1)
    with pytest.raises(gptaq.DTypeError):
        gptaq.Quantizer(COLS, failsafe_tokens=1.5)


def test_gar_keeps_groups_contiguous():
    w, x, _ = make_problem(16, COLS, 400, seed=2)
    with gptaq.Quantizer(COLS, group_size=32, act_group_aware=True) as q:
        q.add_batch(x)
        r = q.solve(w)
    assert np.array_equal(r.g_idx, np.arange(COLS, dtype=np.int32) // 32)
    with gptaq.Quantizer(COLS, group_size=32) as q:
        q.add_batch(x)
        plain = q.solve(w)
    assert not np.array_equal(r.codes, plain.codes)  # the order changed the solve


@pytest.mark.parametrize("method", ["gptq", "gptaq", "gptqt"])
def test_failsafe_below_threshold_is_rtn(method):
    w, x, xfp = make_problem(16, COLS, 40, seed=3, gptaq_pair=True)
    if method != "gptaq":
        xfp = None
    with gptaq.Quantizer(COLS, method=method, group_size=32, failsafe_tokens=100) as q:
        q.add_batch(x, xfp)
        r = q.solve(w)
        assert r.failsafe_used and r.tokens == 40
        q.set_config(failsafe_tokens=40)  # at the threshold: a normal solve
        normal = q.solve(w)
        assert not normal.failsafe_used
    # RTN of the same weight: method rtn, or for GPTQT the failsafe with no tokens at all
    rtn_kw = dict(method="rtn") if method != "gptqt" else dict(method="gptqt", failsafe_tokens=1)
    with gptaq.Quantizer(COLS, group_size=32, **rtn_kw) as q:
        ref = q.solve(w)
    assert np.array_equal(r.codes, ref.codes)


def test_failsafe_with_zero_tokens_is_not_no_data():
    w, _, _ = make_problem(8, COLS, 1, seed=4)
    with gptaq.Quantizer(COLS, group_size=32, failsafe_tokens=1) as q:
        r = q.solve(w)
        assert r.failsafe_used and r.tokens == 0
    with gptaq.Quantizer(COLS, group_size=32) as q:
        with pytest.raises(gptaq.NoDataError):
            q.solve(w)


def test_options_in_quantize_config(tmp_path):
    path = tmp_path / "quantize_config.json"
    gptaq.write_quantize_config(path, {"group_size": 32, "act_group_aware": True,
                                       "failsafe_tokens": 64})
    text = path.read_text()
    assert '"act_group_aware": true' in text and '"desc_act": false' in text
    cfg, _ = gptaq.read_quantize_config(path)
    assert cfg["act_group_aware"] is True and cfg["failsafe_tokens"] == 64
    assert cfg["act_order"] is False


def test_gar_checkpoint_decodes():
    w, x, _ = make_problem(32, COLS, 400, seed=6)
    with gptaq.Quantizer(COLS, group_size=32, act_group_aware=True) as q:
        q.add_batch(x)
        r = q.solve(w)
    p = gptaq.gptq_pack(r, bits=4, group_size=32)
    u = gptaq.gptq_unpack(p.qweight, p.qzeros, p.scales, p.g_idx, bits=4)
    assert np.array_equal(u.codes, r.codes)
    assert np.array_equal(p.g_idx, np.arange(COLS, dtype=np.int32) // 32)
