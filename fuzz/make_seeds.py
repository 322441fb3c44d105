#!/usr/bin/python3
"""Regenerate the seed corpora in fuzz/corpus/ (small, valid or nearly valid inputs).

Run with Debian's python3 (numpy needed): /usr/bin/python3 fuzz/make_seeds.py
The statistics files are written with zlib.crc32, an independent implementation of the
format's checksum; the replay tests then load them with the library.
"""
import io
import json
import os
import random
import struct
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(1234)


def out(kind, name, data):
    d = os.path.join(HERE, "corpus", kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- npy ----
def npy(arr, version=None):
    b = io.BytesIO()
    if version is None:
        np.save(b, arr)
    else:
        np.lib.format.write_array(b, arr, version=version)
    return b.getvalue()


out("npy", "f32_2d", npy(np.arange(12, dtype="<f4").reshape(3, 4)))
out("npy", "f16_1d", npy(np.linspace(-1, 1, 7).astype("<f2")))
out("npy", "u8_2d", npy(np.arange(6, dtype="u1").reshape(2, 3)))
out("npy", "i32_2d", npy(np.arange(-4, 4, dtype="<i4").reshape(4, 2)))
out("npy", "f32_v2", npy(np.ones((2, 2), dtype="<f4"), version=(2, 0)))
out("npy", "empty", npy(np.zeros((0, 5), dtype="<f4")))
out("npy", "fortran", npy(np.asfortranarray(np.ones((2, 3), dtype="<f4"))))
out("npy", "f64_unsupported", npy(np.ones(3, dtype="<f8")))
out("npy", "rank3", npy(np.ones((2, 1, 2), dtype="<f4")))
out("npy", "truncated", npy(np.ones((4, 4), dtype="<f4"))[:-5])


# ---- safetensors ----
def safetensors(tensors, metadata=None, pad=0):
    header, blob, off = {}, b"", 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        blob += data
        off += len(data)
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8 + pad)
    return struct.pack("<Q", len(h)) + h + blob


f32 = np.arange(6, dtype="<f4").tobytes()
out("safetensors", "one_f32", safetensors([("w", "F32", [2, 3], f32)], {"format": "pt"}))
out("safetensors", "mixed", safetensors([
    ("a", "F16", [4], np.ones(4, dtype="<f2").tobytes()),
    ("b", "BF16", [2], b"\x80\x3f\x00\x40"),
    ("c", "I32", [1, 2], np.array([1, -1], dtype="<i4").tobytes()),
    ("d", "U8", [3], b"\x01\x02\x03"),
    ("e", "F64", [], np.array(2.5, dtype="<f8").tobytes()),
    ("f", "BOOL", [0], b""),
], {"k": "v", "format": "pt"}))
out("safetensors", "empty", safetensors([]))
out("safetensors", "bad_offsets",
    safetensors([("w", "F32", [2, 3], f32)])[:-4])
out("safetensors", "overlap", struct.pack("<Q", 96) + json.dumps(
    {"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
     "b": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]}}).encode().ljust(96) + b"abc")


# ---- statistics files ----
def statsfile(n, method, tokens, seed, corrupt=None):
    r = random.Random(seed)
    cross = 1 if method == 2 else 0
    xx = np.zeros((n, n), dtype="<f4")
    x = np.array([[r.uniform(-1, 1) for _ in range(n)] for _ in range(max(1, int(tokens)))],
                 dtype="<f4")
    if tokens:
        xx = (x.T @ x).astype("<f4")
        xx = np.tril(xx) + np.tril(xx, -1).T  # exactly symmetric
    payload = xx.tobytes()
    if cross:
        d = (np.array([[r.uniform(-0.1, 0.1) for _ in range(n)] for _ in range(len(x))],
                      dtype="<f4"))
        payload += (d.T @ x).astype("<f4").tobytes() if tokens else np.zeros((n, n), "<f4").tobytes()
    payload += (x.sum(axis=0).astype("<f8") if tokens else np.zeros(n, "<f8")).tobytes()
    head = b"GPTAQSTS" + struct.pack("<IIqiid", 1, 64, n, method, cross, float(tokens))
    head += struct.pack("<QI", len(payload), zlib.crc32(payload)) + b"\0" * 8
    head += struct.pack("<I", zlib.crc32(head))
    assert len(head) == 64
    data = bytearray(head + payload)
    if corrupt is not None:
        data[corrupt] ^= 0x55
    return bytes(data)


out("statsfile", "gptq_n4", statsfile(4, 1, 10, 1))
out("statsfile", "gptaq_n6", statsfile(6, 2, 7, 2))
out("statsfile", "rtn_n3", statsfile(3, 0, 5, 3))
out("statsfile", "empty_n5", statsfile(5, 1, 0, 4))
out("statsfile", "gptq_n16", statsfile(16, 1, 40, 5))
out("statsfile", "corrupt_payload", statsfile(4, 1, 10, 6, corrupt=70))
out("statsfile", "corrupt_header", statsfile(4, 2, 10, 7, corrupt=20))
out("statsfile", "truncated", statsfile(8, 1, 10, 8)[:-9])

# ---- quantize_config.json ----
for i, cfg in enumerate([
    {"bits": 4, "group_size": 128, "desc_act": False, "sym": True, "quant_method": "gptq",
     "checkpoint_format": "gptq", "damp_percent": 0.01, "static_groups": False},
    {"bits": 3, "group_size": -1, "desc_act": True, "sym": False, "quant_method": "gptq",
     "checkpoint_format": "gptq_v2", "meta": {"method": "gptaq", "alpha": 0.25}},
    {"quantization_config": {"bits": 8, "group_size": 32, "quant_method": "gptq"}},
    {"bits": 2, "group_size": 64, "quant_method": "awq"},
    {"bits": "4", "group_size": 128, "quant_method": "gptq"},
]):
    out("quantize_config", "cfg%d.json" % i, json.dumps(cfg).encode())
out("quantize_config", "not_json", b"{bits: 4,")

# ---- C API: arbitrary bytes drive the harness's choices ----
for i in range(12):
    out("capi", "seed%02d" % i, bytes(rng.randrange(256) for _ in range(64 + 96 * i)))
