#!/usr/bin/env python3
"""Write a GPTQ checkpoint from Python and load it back.

Quantizes one layer (GPTAQ, 4 bits, group size 128, act-order), packs it into the GPTQ
layout, writes P.qweight, P.qzeros, P.scales (fp16), P.g_idx into a safetensors file
with quantize_config.json beside it (what transformers, vLLM and GPTQModel load), then
reads both back, unpacks, and checks that the decoded weights equal the solver's
dequantized weights within the fp16 rounding of the scales.

usage: checkpoint.py --out DIR
"""
import argparse
import json
import os
import sys

import numpy as np

import gptaq

PREFIX = "model.layers.0.mlp.up_proj"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)

    rng = np.random.default_rng(3)
    rows, cols, tokens = 192, 512, 2048
    mix = rng.standard_normal((cols, cols)).astype(np.float32) / np.sqrt(cols)
    x_fp = (rng.standard_normal((tokens, cols)).astype(np.float32) @ mix).astype(np.float32)
    x_q = (x_fp + 0.02 * rng.standard_normal(x_fp.shape)).astype(np.float32)
    w = (rng.standard_normal((rows, cols)) * 0.02).astype(np.float32)

    cfg = dict(method="gptaq", bits=4, group_size=128, act_order=True, sym=True)
    with gptaq.Quantizer(cols, **cfg) as q:
        for t0 in range(0, tokens, 512):
            q.add_batch(x_q[t0:t0 + 512], x_fp[t0:t0 + 512])
        r = q.solve(w)
        packed = gptaq.gptq_pack(r, bits=4, group_size=128, format="gptq")
        st_path = os.path.join(a.out, "model.safetensors")
        gptaq.save_safetensors(st_path, packed.tensors(PREFIX), {"format": "pt"})
        gptaq.write_quantize_config(os.path.join(a.out, "quantize_config.json"), q)

    # ---- load it back, as a loader would ----
    qc, fmt = gptaq.read_quantize_config(os.path.join(a.out, "quantize_config.json"))
    assert qc["bits"] == 4 and qc["group_size"] == 128 and qc["act_order"]
    assert json.load(open(os.path.join(a.out, "quantize_config.json")))["desc_act"] is True
    with gptaq.SafetensorsReader(st_path) as f:
        assert f.metadata.get("format") == "pt"
        t = {k: f[k] for k in f.names}
    assert t[PREFIX + ".scales"].dtype == np.float16
    u = gptaq.gptq_unpack(t[PREFIX + ".qweight"], t[PREFIX + ".qzeros"],
                          t[PREFIX + ".scales"], t[PREFIX + ".g_idx"], bits=qc["bits"],
                          format=fmt)
    assert np.array_equal(u.codes, r.codes), "codes differ after the round trip"
    assert np.array_equal(u.zeros, r.zeros)
    # decoded = s16 * (code - zero); the solver's = s * (code - zero): they differ by the
    # fp16 rounding of the scale, times |code - zero|, per weight.
    g = r.g_idx
    step = np.abs(u.scales - r.scales)[:, g] * np.abs(r.codes.astype(np.float32) - r.zeros[:, g])
    err = np.abs(u.dequant - r.dequant)
    assert np.all(err <= step * (1 + 1e-6) + 1e-7), float((err - step).max())
    rel = float(np.abs(u.scales - r.scales).max() / np.abs(r.scales).max())
    print(f"checkpoint: {len(t)} tensors + quantize_config.json in {a.out}; decoded weights "
          f"equal the solver's within fp16 scale rounding (max |diff| {err.max():.2e}, "
          f"scale rounding {rel:.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
