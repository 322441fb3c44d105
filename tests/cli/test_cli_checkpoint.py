"""End-to-end tests of the checkpoint side of the `gptaq` tool: `quantize` reading the
weight from safetensors (F32/F16/BF16) and saving a GPTQ checkpoint, `unpack`, and
`imatrix`. Files are written and read here with an independent NumPy implementation of
the formats (safetensors, the GPTQ bit layout as AutoGPTQ's loaders unpack it, GGUF)."""
import json
import os
import struct
import subprocess

import numpy as np
import pytest

GPTAQ = os.environ.get("GPTAQ_TOOL", "gptaq")
NP_DT = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "I32": np.int32, "U8": np.uint8}


def run(*args, check=True):
    p = subprocess.run([GPTAQ, *map(str, args)], capture_output=True, text=True)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def write_st(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name, (dtype, arr) in tensors.items():
        b = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_st(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    data = b[8 + n:]
    meta = h.pop("__metadata__", None)
    out = {}
    for k, v in h.items():
        s, e = v["data_offsets"]
        out[k] = (v["dtype"], np.frombuffer(data[s:e], dtype=NP_DT[v["dtype"]]).reshape(v["shape"]))
    return out, meta


def to_bf16(x):
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def from_bf16(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def unpack_stream(words, bits, count):
    """words [..., W] int32 holding a little-endian bit stream along the last axis."""
    w = words.astype(np.int64) & 0xFFFFFFFF
    out = np.zeros(words.shape[:-1] + (count,), dtype=np.int64)
    for i in range(count):
        pos = i * bits
        v = w[..., pos // 32] >> (pos % 32)
        if pos % 32 + bits > 32:
            v |= w[..., pos // 32 + 1] << (32 - pos % 32)
        out[..., i] = v & ((1 << bits) - 1)
    return out


def gptq_dequant(t, prefix, bits, v1):
    """Dequantize a GPTQ layer the way AutoGPTQ's loaders do: (q - (z [+1])) * s[g_idx]."""
    qw, qz, sc, gi = (t[prefix + s][1] for s in (".qweight", ".qzeros", ".scales", ".g_idx"))
    n = qw.shape[1]
    k = qw.shape[0] * 32 // bits
    if bits in (2, 4, 8):  # the shift formula of AutoGPTQ's qlinear
        wf = np.arange(0, 32, bits, dtype=np.uint32)
        q = ((qw.view(np.uint32)[:, None, :] >> wf[None, :, None]) & ((1 << bits) - 1)).reshape(k, n)
        z = ((qz.view(np.uint32)[:, :, None] >> wf[None, None, :]) & ((1 << bits) - 1)).reshape(qz.shape[0], n)
    else:
        q = unpack_stream(qw.T, bits, k).T
        z = unpack_stream(qz, bits, n)
    z = z.astype(np.int64) + (1 if v1 else 0)
    return ((q.astype(np.float32) - z[gi].astype(np.float32)) * sc.astype(np.float32)[gi]).T


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    r = np.random.default_rng(3)
    rows, cols, tokens = 64, 128, 512
    basis = r.standard_normal((10, cols))
    x = (r.standard_normal((tokens, 10)) @ basis + 0.3 * r.standard_normal((tokens, cols))).astype(np.float32)
    x[:, 7] *= 12.0
    w = (0.05 * r.standard_normal((rows, cols))).astype(np.float32)
    w[:3] = np.abs(w[:3])  # rows >= 0: asymmetric grids give zeros of 0 there
    bias = r.standard_normal(rows).astype(np.float32)
    p = "model.layers.0.mlp.up_proj"
    write_st(d / "in_bf16.safetensors", {p + ".weight": ("BF16", to_bf16(w)), p + ".bias": ("F32", bias),
                                         "model.norm.weight": ("F32", np.ones(cols, np.float32))},
             {"format": "pt"})
    write_st(d / "in_f16.safetensors", {p + ".weight": ("F16", w.astype(np.float16))})
    write_st(d / "in_f32.safetensors", {p + ".weight": ("F32", w)})
    np.save(d / "X.npy", x)
    return d, p, w, x, bias


@pytest.mark.parametrize("fmt", ["gptq", "gptq_v2"])
@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("sym", [True, False])
@pytest.mark.parametrize("order", ["--act-order", "--act-group-aware"])
def test_quantize_save_matches_independent_dequant(model, tmp_path, fmt, bits, sym, order):
    d, p, w, x, bias = model
    gar = order == "--act-group-aware"
    args = ["quantize", "--weight", d / "in_bf16.safetensors", "--tensor", p + ".weight",
            "--calib", d / "X.npy", "--bits", bits, "--group-size", 32, order,
            "--format", fmt, "--save", tmp_path / "q" / "model.safetensors", "--out", tmp_path / "npy"]
    args.append("--sym" if sym else "--asym")
    res = run(*args)
    t, meta = read_st(tmp_path / "q" / "model.safetensors")
    assert meta == {"format": "pt"}
    assert sorted(t) == sorted(p + s for s in (".qweight", ".qzeros", ".scales", ".g_idx", ".bias"))
    assert t[p + ".qweight"][0] == "I32" and t[p + ".qweight"][1].shape == (128 * bits // 32, 64)
    assert t[p + ".qzeros"][0] == "I32" and t[p + ".qzeros"][1].shape == (4, 64 * bits // 32)
    assert t[p + ".scales"][0] == "F16" and t[p + ".scales"][1].shape == (4, 64)
    assert t[p + ".g_idx"][1].shape == (128,)
    np.testing.assert_array_equal(t[p + ".bias"][1], bias)
    cfg = json.load(open(tmp_path / "q" / "quantize_config.json"))
    assert cfg["bits"] == bits and cfg["group_size"] == 32 and cfg["desc_act"] is not gar
    assert cfg["sym"] is sym and cfg["quant_method"] == "gptq" and cfg["checkpoint_format"] == fmt
    assert cfg["meta"]["method"] == "gptq" and cfg["meta"]["act_group_aware"] is gar
    assert cfg["meta"]["gptaq"] is None and cfg["meta"]["failsafe"] is None
    assert cfg["meta"]["mse"] == 0.0

    # The solver's own results, saved as .npy next to it.
    codes = np.load(tmp_path / "npy" / "codes.npy")
    zeros = np.load(tmp_path / "npy" / "zeros.npy")
    scales = np.load(tmp_path / "npy" / "scales.npy")
    g_idx = np.load(tmp_path / "npy" / "g_idx.npy")
    np.testing.assert_array_equal(t[p + ".g_idx"][1], g_idx)
    if gar:  # contiguous groups: the trivial g_idx that kernels without reordering assume
        np.testing.assert_array_equal(g_idx, np.arange(128) // 32)
    else:
        assert not np.array_equal(g_idx, np.arange(128) // 32)
    # Dequantize the files independently; equal to fp16(scale) * (code - zero) wherever the
    # zero was representable.
    v1 = fmt == "gptq"
    deq = gptq_dequant(t, p, bits, v1)
    s16 = scales.astype(np.float16).astype(np.float32)[:, g_idx]
    want = s16 * (codes.astype(np.float32) - zeros[:, g_idx])
    ok = np.ones_like(want, dtype=bool) if not v1 else (zeros[:, g_idx] != 0)
    np.testing.assert_array_equal(deq[ok], want[ok])
    n_zero = int((zeros == 0).sum())
    if v1 and n_zero:
        assert "warning" in res.stderr and f"{n_zero} (row, group) zeros" in res.stderr
        assert not sym
    else:
        assert "warning" not in res.stderr
    if not sym and bits <= 3:
        assert n_zero > 0  # the all-positive rows exercise the v1 clamp

    # gptaq unpack reads it back (format from quantize_config.json beside the file).
    out = run("unpack", tmp_path / "q" / "model.safetensors", p, "--out", tmp_path / "un").stdout
    assert f"{bits} bits" in out and f"format {fmt}" in out
    np.testing.assert_array_equal(np.load(tmp_path / "un" / "codes.npy"), codes)
    np.testing.assert_array_equal(np.load(tmp_path / "un" / "dequant.npy"), deq)


@pytest.mark.parametrize("src", ["in_f16.safetensors", "in_f32.safetensors", "in_bf16.safetensors"])
def test_weight_from_safetensors_equals_npy(model, tmp_path, src):
    d, p, w, x, _ = model
    stored = {"in_f16.safetensors": w.astype(np.float16).astype(np.float32),
              "in_f32.safetensors": w, "in_bf16.safetensors": from_bf16(to_bf16(w))}[src]
    np.save(tmp_path / "W.npy", stored)
    run("quantize", "--weight", d / src, "--tensor", p + ".weight", "--calib", d / "X.npy",
        "--out", tmp_path / "a")
    run("quantize", "--weight", tmp_path / "W.npy", "--calib", d / "X.npy", "--out", tmp_path / "b")
    for k in ("codes", "scales", "zeros", "dequant"):
        np.testing.assert_array_equal(np.load(tmp_path / "a" / f"{k}.npy"), np.load(tmp_path / "b" / f"{k}.npy"))


def test_quantize_checkpoint_errors(model, tmp_path):
    d, p, w, x, _ = model
    cases = [
        (["--weight", d / "in_f32.safetensors", "--calib", d / "X.npy", "--out", tmp_path], "--tensor"),
        (["--weight", d / "in_f32.safetensors", "--tensor", "nope.weight", "--calib", d / "X.npy",
          "--out", tmp_path], "no tensor named"),
        (["--weight", d / "in_bf16.safetensors", "--tensor", "model.norm.weight", "--calib", d / "X.npy",
          "--out", tmp_path], "2-D"),
        (["--weight", d / "in_f32.safetensors", "--tensor", p + ".weight", "--calib", d / "X.npy",
          "--bits", 5, "--save", tmp_path / "m.safetensors"], "2, 3, 4 or 8"),
        (["--weight", d / "in_f32.safetensors", "--tensor", p + ".weight", "--calib", d / "X.npy",
          "--method", "gptqt", "--bits", 3, "--save", tmp_path / "m.safetensors"], "uniform"),
        (["--weight", d / "in_f32.safetensors", "--tensor", p + ".weight", "--calib", d / "X.npy"], "--out"),
    ]
    for args, needle in cases:
        res = run("quantize", *args, check=False)
        assert res.returncode != 0, args
        assert needle in res.stderr, (needle, res.stderr)
    # A truncated or lying file is refused cleanly.
    b = open(d / "in_f32.safetensors", "rb").read()
    open(tmp_path / "cut.safetensors", "wb").write(b[:-10])
    res = run("quantize", "--weight", tmp_path / "cut.safetensors", "--tensor", p + ".weight",
              "--out", tmp_path, "--method", "rtn", check=False)
    assert res.returncode == 1 and "malformed data" in res.stderr


def parse_gguf(path):
    b = open(path, "rb").read()
    assert b[:4] == b"GGUF"
    pos = 4

    def u(n):
        nonlocal pos
        v = int.from_bytes(b[pos:pos + n], "little")
        pos += n
        return v

    def s():
        n = u(8)
        nonlocal pos
        r = b[pos:pos + n].decode()
        pos += n
        return r

    version, n_t, n_kv = u(4), u(8), u(8)
    kv = {}
    for _ in range(n_kv):
        key, typ = s(), u(4)
        if typ == 8:
            kv[key] = s()
        elif typ == 4:
            kv[key] = u(4)
        elif typ == 9:
            et, n = u(4), u(8)
            assert et == 8
            kv[key] = [s() for _ in range(n)]
        else:
            raise AssertionError(typ)
    infos = []
    for _ in range(n_t):
        name, nd = s(), u(4)
        ne = [u(8) for _ in range(nd)]
        infos.append((name, ne, u(4), u(8)))
    start = (pos + 31) // 32 * 32
    tensors = {}
    for name, ne, typ, off in infos:
        assert typ == 0 and off % 32 == 0
        n = int(np.prod(ne))
        tensors[name] = np.frombuffer(b[start + off:start + off + 4 * n], dtype=np.float32).reshape(ne[::-1])
    return version, kv, tensors


def test_imatrix_gguf_and_dat(model, tmp_path):
    d, p, w, x, _ = model
    np.save(tmp_path / "X16.npy", x.astype(np.float16))
    run("imatrix", "--input", f"blk.0.ffn_up.weight={d / 'X.npy'}", "--input",
        f"blk.0.ffn_gate.weight={d / 'X.npy'}", "--input", f"blk.1.attn_q.weight={tmp_path / 'X16.npy'}",
        "--out", tmp_path / "im.gguf", "--dataset", "calib.txt", "--chunk-size", 100)
    version, kv, t = parse_gguf(tmp_path / "im.gguf")
    assert version == 3 and kv["general.type"] == "imatrix"
    assert kv["imatrix.datasets"] == ["calib.txt"] and kv["imatrix.chunk_size"] == 100
    assert kv["imatrix.chunk_count"] == 5  # whole chunks: floor(512 / 100)
    want = (x.astype(np.float64) ** 2).sum(0)
    for name in ("blk.0.ffn_up.weight", "blk.0.ffn_gate.weight"):
        assert t[name + ".in_sum2"].shape == (128,)  # 1-D, as llama-imatrix writes it
        np.testing.assert_allclose(t[name + ".in_sum2"], want, rtol=1e-5)
        assert t[name + ".counts"].tolist() == [512.0]
    want16 = (x.astype(np.float16).astype(np.float64) ** 2).sum(0)
    np.testing.assert_allclose(t["blk.1.attn_q.weight.in_sum2"], want16, rtol=1e-5)

    run("imatrix", "--input", f"blk.0.ffn_up.weight={d / 'X.npy'}", "--out", tmp_path / "im.dat",
        "--format", "dat", "--chunk-size", 100)
    b = open(tmp_path / "im.dat", "rb").read()
    n_entries, name_len = struct.unpack("<ii", b[:8])
    assert n_entries == 1 and b[8:8 + name_len] == b"blk.0.ffn_up.weight"
    pos = 8 + name_len
    ncall, nval = struct.unpack("<ii", b[pos:pos + 8])
    vals = np.frombuffer(b[pos + 8:pos + 8 + 4 * nval], dtype=np.float32)
    assert ncall == 6 and nval == 128  # per entry: ceil, as llama-imatrix (no zeros)
    np.testing.assert_allclose(vals, want / 512 * 6, rtol=1e-5)
    end = pos + 8 + 4 * nval
    assert struct.unpack("<i", b[end:end + 4])[0] == 5  # the trailer: whole chunks

    res = run("imatrix", "--input", "noequals", "--out", tmp_path / "x.gguf", check=False)
    assert res.returncode == 1 and "NAME=FILE" in res.stderr
