"""Every configuration field is reachable, validated by the library, and round-trips."""
from __future__ import annotations

import numpy as np
import pytest

import gptaq

# A valid non-default value for every field (CPU build: backend cpu).
NON_DEFAULT = {
    "method": gptaq.Method.GPTAQ,
    "bits": 3,
    "group_size": 32,
    "sym": False,
    "act_order": True,
    "static_groups": True,
    "mse": True,
    "block_size": 64,
    "backend": gptaq.Backend.CPU,
    "device": 0,
    "num_threads": 1,  # = the pinned count (see conftest)
    "damp_percent": 0.05,
    "damp_retries": 2,
    "alpha": 0.5,
    "mse_norm": 2.0,
    "mse_grid": 50,
    "mse_max_shrink": 0.5,
    "quantizer": gptaq.QuantizerKind.BINARY,
    "hyper_bits": 6,
    "explore_bits": 2,
    "explore_split": 7,
    "objective": gptaq.Objective.HESSIAN,
    "act_group_aware": False,  # True excludes act_order: see test_options.py
    "failsafe_tokens": 7,
}


def swig_fields():
    cls = gptaq.lowlevel.gptaq_config
    return [n for n, v in vars(cls).items()
            if isinstance(v, property) and n not in ("thisown", "struct_size")]


def test_config_fields_cover_the_c_struct():
    assert set(swig_fields()) == set(gptaq.CONFIG_FIELDS)
    assert set(NON_DEFAULT) == set(gptaq.CONFIG_FIELDS)


def test_every_field_round_trips():
    with gptaq.Quantizer(64, **NON_DEFAULT) as q:
        got = q.config
    for k, v in NON_DEFAULT.items():
        if isinstance(v, float):
            assert got[k] == pytest.approx(v, rel=1e-6), k
        else:
            assert got[k] == v, k


def test_defaults_come_from_the_library():
    ll = gptaq.lowlevel
    ref = ll.gptaq_config()
    with gptaq.Quantizer(16) as q:
        got = q.config
    for k in gptaq.CONFIG_FIELDS:
        assert got[k] == getattr(ref, k), k


def test_strings_and_enums_accepted():
    with gptaq.Quantizer(16, method="GPTAQ", backend="cpu", objective="weight",
                         quantizer=gptaq.QuantizerKind.UNIFORM) as q:
        c = q.config
    assert c["method"] == gptaq.Method.GPTAQ and c["objective"] == gptaq.Objective.WEIGHT
    with gptaq.Quantizer(16, method="gptqt", bits=2) as q:
        c = q.config
    assert c["method"] == gptaq.Method.GPTQ and c["quantizer"] == gptaq.QuantizerKind.BINARY


@pytest.mark.parametrize("field,value,fragment", [
    ("bits", 9, "config.bits 9"),
    ("group_size", 0, "config.group_size 0"),
    ("block_size", 5000, "config.block_size 5000"),
    ("damp_percent", -1.0, "config.damp_percent"),
    ("damp_retries", 9, "config.damp_retries 9"),
    ("alpha", float("nan"), "config.alpha"),
    ("mse_max_shrink", 1.5, "config.mse_max_shrink"),
    ("num_threads", -2, "config.num_threads -2"),
])
def test_invalid_field_raises_library_message(field, value, fragment):
    with pytest.raises(gptaq.InvalidArgumentError) as ei:
        gptaq.Quantizer(16, **{field: value})
    assert fragment in str(ei.value)
    assert ei.value.status == gptaq.Status.INVALID_ARGUMENT
    assert str(ei.value) == gptaq.lowlevel.gptaq_last_errmsg()


def test_bad_types_and_names():
    with pytest.raises(gptaq.InvalidArgumentError, match="method='nope'"):
        gptaq.Quantizer(16, method="nope")
    with pytest.raises(TypeError, match="bits must be an int"):
        gptaq.Quantizer(16, bits=4.0)
    with pytest.raises(TypeError):
        gptaq.Quantizer(16, bitz=4)
    with pytest.raises(gptaq.ShapeError, match="columns = 0"):
        gptaq.Quantizer(0)
    with pytest.raises(gptaq.InvalidArgumentError, match="gptqt"):
        gptaq.Quantizer(16, method="gptqt", quantizer="uniform")


def test_set_config_keeps_statistics_and_changes_results():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((100, 32)).astype(np.float32)
    w = rng.standard_normal((8, 32)).astype(np.float32)
    with gptaq.Quantizer(32, group_size=8) as q:
        q.add_batch(x)
        r4 = q.solve(w)
        q.set_config(bits=2)
        assert q.config["bits"] == 2 and q.num_tokens == 100
        r2 = q.solve(w)
        assert r2.codes.max() <= 3 < r4.codes.max()
        assert r2.factor_reused  # same damping/act-order: factorization reused
        with pytest.raises(gptaq.InvalidArgumentError, match="GPTAQ"):
            q.set_config(method="gptaq")
        assert q.config["method"] == gptaq.Method.GPTQ  # unchanged after the error
        q.reset()
        assert q.num_tokens == 0
        with pytest.raises(gptaq.NoDataError):
            q.solve(w)
