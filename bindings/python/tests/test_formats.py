"""Checkpoint formats: GPTQ pack/unpack + quantize_config, safetensors, imatrix,
LUT-GEMM, npy; every size checked before the library sees a pointer."""
from __future__ import annotations

import json

import numpy as np
import pytest

import gptaq
from conftest import make_problem


def solved(cols=64, rows=32, **cfg):
    w, x, _ = make_problem(rows, cols, 300, seed=5)
    with gptaq.Quantizer(cols, **cfg) as q:
        q.add_batch(x)
        return w, q.solve(w)


@pytest.mark.parametrize("fmt,sym,act", [("gptq", True, False), ("gptq_v2", False, True),
                                         ("gptq", True, True)])
def test_gptq_pack_unpack_roundtrip(fmt, sym, act):
    w, r = solved(bits=4, group_size=16, sym=sym, act_order=act)
    p = gptaq.gptq_pack(r, bits=4, group_size=16, format=fmt)
    qr, qc, G = gptaq.gptq_shapes(32, 64, 16, 4)
    assert p.qweight.shape == (qr, 32) and p.qzeros.shape == (G, qc)
    assert p.scales.dtype == np.float16 and p.scales.shape == (G, 32)
    assert np.array_equal(p.g_idx, r.g_idx) and p.zeros_clamped == 0
    u = gptaq.gptq_unpack(p.qweight, p.qzeros, p.scales, p.g_idx, bits=4, format=fmt)
    assert np.array_equal(u.codes, r.codes) and np.array_equal(u.zeros, r.zeros)
    assert np.array_equal(u.scales, r.scales.astype(np.float16).astype(np.float32))
    # decoded weights = the solver's dequant within the fp16 rounding of the scales
    step = np.abs(r.scales - u.scales).max()
    assert np.abs(u.dequant - r.dequant).max() <= step * 2**4 + 1e-7
    t = p.tensors("model.layers.0.mlp.up_proj")
    assert set(t) == {f"model.layers.0.mlp.up_proj.{k}" for k in
                      ("qweight", "qzeros", "scales", "g_idx")}


def test_gptq_v1_zero_clamp_is_refused_unless_allowed():
    w, r = solved(bits=2, group_size=16, sym=False)
    z = r.zeros.copy()
    z[0, 0] = 0
    with pytest.raises(gptaq.UnsupportedError, match="gptq_v2"):
        gptaq.gptq_pack(r.codes, r.scales, z, r.g_idx, bits=2, group_size=16)
    p = gptaq.gptq_pack(r.codes, r.scales, z, r.g_idx, bits=2, group_size=16,
                        allow_zero_clamp=True)
    assert p.zeros_clamped >= 1


def test_gptq_bad_inputs():
    w, r = solved(bits=4, group_size=16)
    with pytest.raises(gptaq.ShapeError):
        gptaq.gptq_pack(r.codes, r.scales[:, :2], r.zeros, bits=4, group_size=16)
    with pytest.raises(gptaq.ShapeError):
        gptaq.gptq_pack(r.codes, r.scales, r.zeros, r.g_idx[:10], bits=4, group_size=16)
    with pytest.raises(gptaq.DTypeError):
        gptaq.gptq_pack(r.codes.astype(np.int32), r.scales, r.zeros, bits=4, group_size=16)
    with pytest.raises(gptaq.InvalidArgumentError):
        gptaq.gptq_pack(r, bits=5, group_size=16)
    with pytest.raises(gptaq.InvalidArgumentError, match="gptq, gptq_v2"):
        gptaq.gptq_pack(r, bits=4, group_size=16, format="awq")
    p = gptaq.gptq_pack(r, bits=4, group_size=16)
    with pytest.raises(gptaq.ShapeError):  # qzeros too small for the scales' groups
        gptaq.gptq_unpack(p.qweight, p.qzeros[:1], p.scales, p.g_idx, bits=4)
    bad = p.g_idx.copy()
    bad[3] = 99
    with pytest.raises(gptaq.FormatError):
        gptaq.gptq_unpack(p.qweight, p.qzeros, p.scales, bad, bits=4)
    with pytest.raises(gptaq.InvalidArgumentError, match="g_idx"):
        gptaq.gptq_unpack(p.qweight, p.qzeros, p.scales, None, bits=4)
    with pytest.raises(gptaq.DTypeError, match="bfloat16"):
        gptaq.gptq_unpack(p.qweight, p.qzeros, p.scales.view(np.uint16), p.g_idx, bits=4)


def test_quantize_config_roundtrip(tmp_path):
    text = gptaq.quantize_config({"bits": 3, "group_size": 64, "act_order": True,
                                  "method": "gptaq", "alpha": 0.5}, "gptq_v2")
    d = json.loads(text)
    assert d["bits"] == 3 and d["desc_act"] is True and d["checkpoint_format"] == "gptq_v2"
    path = tmp_path / "quantize_config.json"
    gptaq.write_quantize_config(path, {"bits": 8, "sym": False})
    cfg, fmt = gptaq.read_quantize_config(path)
    assert cfg["bits"] == 8 and cfg["sym"] is False and fmt == gptaq.GptqFormat.V1
    with gptaq.Quantizer(16, bits=2, group_size=8) as q:
        assert json.loads(gptaq.quantize_config(q))["bits"] == 2
    with pytest.raises(gptaq.InvalidArgumentError):
        gptaq.quantize_config({"method": "gptqt"})  # binary: not a GPTQ checkpoint
    with pytest.raises(TypeError, match="unknown gptaq config field"):
        gptaq.quantize_config({"bitz": 4})
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(gptaq.FormatError):
        gptaq.read_quantize_config(tmp_path / "bad.json")
    with pytest.raises(gptaq.FileIOError):
        gptaq.read_quantize_config(tmp_path / "missing.json")


def test_safetensors_roundtrip(tmp_path):
    rng = np.random.default_rng(1)
    tensors = {"a.f32": rng.standard_normal((3, 4)).astype(np.float32),
               "b.f16": rng.standard_normal(5).astype(np.float16),
               "c.i32": np.arange(6, dtype=np.int32).reshape(2, 3),
               "d.u8": np.arange(4, dtype=np.uint8),
               "e.scalar": np.array(2.5, np.float32)}
    path = tmp_path / "t.safetensors"
    gptaq.save_safetensors(path, tensors, {"format": "pt"})
    with gptaq.SafetensorsReader(path) as r:
        assert set(r.names) == set(tensors) and len(r) == 5 and "a.f32" in r
        assert r.metadata == {"format": "pt"}
        for k, v in tensors.items():
            got = r[k]
            assert got.dtype == v.dtype and got.shape == v.shape and np.array_equal(got, v)
        assert r.info("c.i32").dtype == "I32" and r.info("c.i32").shape == (2, 3)
        assert np.array_equal(r.read_f32("b.f16"), tensors["b.f16"].astype(np.float32))
        with pytest.raises(KeyError):
            r["missing"]
        with pytest.raises(gptaq.UnsupportedError):
            r.read_f32("c.i32")
    r.close()  # double close is harmless
    with pytest.raises(gptaq.ClosedError):
        r.names
    bits = gptaq.f32_to_half(np.array([1.0, 2.0], np.float32), "bfloat16")
    with gptaq.SafetensorsWriter() as w:
        w.add("bf", bits, dtype="BF16")
        with pytest.raises(gptaq.InvalidArgumentError):
            w.add("bf", bits, dtype="BF16")  # duplicate name
        with pytest.raises(gptaq.DTypeError):
            w.add("x", np.zeros(2, np.float32), dtype="BF16")
        with pytest.raises(gptaq.InvalidArgumentError):
            w.add("y", np.zeros(2, np.float32), dtype="F33")
        w.save(tmp_path / "bf.safetensors")
    loaded = gptaq.load_safetensors(tmp_path / "bf.safetensors")
    assert np.array_equal(loaded["bf"], bits)
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 8 + b"{}")
    with pytest.raises(gptaq.FormatError):
        gptaq.SafetensorsReader(tmp_path / "junk.safetensors")


def test_imatrix_files(tmp_path):
    x = np.ones((600, 32), np.float32)
    with gptaq.Quantizer(32) as q, gptaq.IMatrix(chunk_size=512) as im:
        q.add_batch(x)
        im.add_quantizer("blk.0.attn_q.weight", q)
        im.add_quantizer("blk.0.attn_k.weight", q)
        im.add("blk.0.ffn_down.weight", np.full(16, 3.0, np.float32), [600.0])
        im.add_dataset("calib.txt")
        im.save(tmp_path / "m.gguf")
        im.save(tmp_path / "m.dat", format="dat")
        with pytest.raises(gptaq.ShapeError):
            im.add("blk.0.ffn_down.weight", np.ones(8, np.float32), [1.0])
        with pytest.raises(gptaq.ShapeError):
            im.add("z", np.ones((2, 8), np.float32), [1.0])
        with pytest.raises(gptaq.InvalidArgumentError):
            im.set_chunk_size(0)
    assert (tmp_path / "m.gguf").read_bytes()[:4] == b"GGUF"
    assert (tmp_path / "m.dat").stat().st_size > 0


def test_lutgemm_roundtrip():
    w, r = solved(cols=64, rows=16, method="gptqt", bits=3, group_size=32)
    assert isinstance(r, gptaq.BinaryResult)
    p = gptaq.lutgemm_pack(r, group_size=32)
    assert p.qbits.shape == (2, 3, 16) and p.alpha.shape == (2, 3, 16)
    u = gptaq.lutgemm_unpack(p.qbits, p.alpha, p.bias, columns=64, group_size=32)
    assert np.array_equal(u.codes, r.codes)
    assert np.allclose(u.dequant, r.dequant, rtol=2e-3, atol=2e-3)
    with pytest.raises(gptaq.ShapeError):
        gptaq.lutgemm_unpack(p.qbits, p.alpha, p.bias, columns=100, group_size=32)
    with pytest.raises(gptaq.ShapeError):
        gptaq.lutgemm_pack(r.codes, r.alpha[:, :1], r.bias, group_size=32)


def test_npy_helpers(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    gptaq.npy_save(tmp_path / "a.npy", a)
    assert np.array_equal(np.load(tmp_path / "a.npy"), a)
    assert np.array_equal(gptaq.npy_load(tmp_path / "a.npy"), a)
    with gptaq.NpyReader(tmp_path / "a.npy") as r:
        assert r.shape == (4, 3) and r.dtype == np.float32
        chunks = list(r.batches(3))
    assert [len(c) for c in chunks] == [3, 1] and np.array_equal(np.concatenate(chunks), a)
    with pytest.raises(gptaq.DTypeError):
        gptaq.npy_save(tmp_path / "b.npy", a.astype(np.float64))
    with pytest.raises(gptaq.FileIOError):
        gptaq.NpyReader(tmp_path / "missing.npy")
    with pytest.raises(gptaq.DTypeError, match="None"):
        gptaq.npy_load(None)
