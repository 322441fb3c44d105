#!/usr/bin/env python3
"""Layer-by-layer GPTAQ quantization of a small MLP with streamed calibration batches.

The realistic loop: for each layer in order, stream calibration batches through both the
full-precision model (x_fp) and the model whose earlier layers are already quantized
(x_q), accumulate them in a gptaq.Quantizer (only columns^2 statistics are kept), solve
every weight that reads that input (here a gate/up pair shares one input, so the second
solve reuses the factorization), put the dequantized weights into the model, and save
each layer's codes/scales/zeros/g_idx as .npz. Finally compare the model output error
with round-to-nearest.

    python3 examples/python/stream_layers.py --out /tmp/gptaq_out [--bits 3]
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Dict, List

import numpy as np

import gptaq

D_MODEL, D_FF = 256, 512
N_BLOCKS, N_BATCHES, BATCH, SEQ = 2, 16, 4, 64


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x ** 3)))


def make_model(rng: np.random.Generator) -> List[Dict[str, np.ndarray]]:
    """Each block: h + down(gelu(gate(h)) * up(h)), weights (out, in) as frameworks store."""
    def lin(o: int, i: int) -> np.ndarray:
        return (rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32)
    return [{"gate": lin(D_FF, D_MODEL), "up": lin(D_FF, D_MODEL), "down": lin(D_MODEL, D_FF)}
            for _ in range(N_BLOCKS)]


def block_inputs(blk: Dict[str, np.ndarray], h: np.ndarray) -> Dict[str, np.ndarray]:
    """The input each weight of a block reads."""
    mid = gelu(h @ blk["gate"].T) * (h @ blk["up"].T)
    return {"gate": h, "up": h, "down": mid}


def block(blk: Dict[str, np.ndarray], h: np.ndarray) -> np.ndarray:
    return h + block_inputs(blk, h)["down"] @ blk["down"].T


def forward(model: List[Dict[str, np.ndarray]], h: np.ndarray, upto: int = None) -> np.ndarray:
    for blk in model[:upto]:
        h = block(blk, h)
    return h


def quantize(model, calib, method: str, bits: int, out_dir: str = None):
    qmodel = [dict(b) for b in model]
    for b in range(N_BLOCKS):
        # Two inputs per block: h (read by gate and up) and mid (read by down). The
        # first must be quantized before the second's inputs are collected.
        for names in (("gate", "up"), ("down",)):
            columns = model[b][names[0]].shape[1]
            with gptaq.Quantizer(columns, method=method, bits=bits, group_size=128,
                                 act_order=method != "rtn") as q:
                if method != "rtn":
                    for x in calib:  # stream: (batch, seq, hidden) batches
                        h_fp, h_q = forward(model, x, b), forward(qmodel, x, b)
                        x_fp = np.ascontiguousarray(block_inputs(model[b], h_fp)[names[0]])
                        x_q = np.ascontiguousarray(block_inputs(qmodel[b], h_q)[names[0]])
                        q.add_batch(x_q, x_fp if method == "gptaq" else None)
                for name in names:
                    r = q.solve(model[b][name])
                    qmodel[b][name] = r.dequant
                    if out_dir:
                        r.save(os.path.join(out_dir, f"block{b}.{name}.npz"))
                        print(f"  block {b} {name:4s} {r.codes.shape[0]}x{r.codes.shape[1]}: "
                              f"loss {r.loss:9.4f}  factor reused {r.factor_reused}  "
                              f"{r.seconds * 1e3:.1f} ms")
    return qmodel


def _mkdir(path: str) -> str:
    os.makedirs(path, exist_ok=True)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="gptaq_out", help="folder for the per-layer .npz files")
    ap.add_argument("--bits", type=int, default=3)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    print(f"gptaq {gptaq.__version__}; backends: {', '.join(gptaq.available_backends())}")

    rng = np.random.default_rng(0)
    model = make_model(rng)
    # Activations are correlated and have a few large channels, like real ones.
    mix = (rng.standard_normal((D_MODEL, D_MODEL)) / np.sqrt(D_MODEL)).astype(np.float32)
    chan = np.exp(rng.standard_normal(D_MODEL)).astype(np.float32)

    def tokens(*shape: int) -> np.ndarray:
        z = rng.standard_normal((*shape, D_MODEL)).astype(np.float32)
        return np.ascontiguousarray((z @ mix) * chan, dtype=np.float32)
    calib = [tokens(BATCH, SEQ) for _ in range(N_BATCHES)]
    test = tokens(256)
    y = forward(model, test)

    errors = {}
    for method in ("rtn", "gptq", "gptaq"):
        print(f"{method}, {args.bits} bits:")
        qmodel = quantize(model, calib, method, args.bits,
                          _mkdir(os.path.join(args.out, method)) if method == "gptaq" else None)
        errors[method] = float(np.mean((forward(qmodel, test) - y) ** 2) / np.mean(y ** 2))
        print(f"  relative output MSE {errors[method]:.5f}")
    saved = sorted(os.listdir(os.path.join(args.out, "gptaq")))
    print(f"saved {len(saved)} layers to {os.path.join(args.out, 'gptaq')}: {', '.join(saved)}")
    if not errors["gptaq"] < errors["rtn"]:
        print("error: GPTAQ did not beat round-to-nearest", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
