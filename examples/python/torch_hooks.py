#!/usr/bin/env python3
"""GPTAQ on a PyTorch model through forward hooks on its nn.Linear layers.

For each nn.Linear in execution order: a forward hook on that layer in the model being
quantized captures its input x_q, a hook on the same layer in an untouched copy captures
x_fp; both go to a gptaq.Quantizer batch by batch (CPU tensors are passed to gptaq
without a copy). After the calibration batches the layer's weight is solved and replaced
by its dequantized version, so later layers calibrate against the quantized model.

Exits with status 77 (the "skipped" code the test runner understands) when torch is not
installed.

    python3 examples/python/torch_hooks.py [--bits 4]
"""
from __future__ import annotations

import argparse
import copy
import sys

try:
    import torch
    from torch import nn
except ImportError:
    print("torch is not installed: skipping the PyTorch hook example")
    sys.exit(77)

import numpy as np

import gptaq


def as_numpy(t: "torch.Tensor") -> np.ndarray:
    """A float32/float16/bfloat16 CPU view of an activation for gptaq (no copy when it
    already is a contiguous CPU float32/float16 tensor). bfloat16 goes as uint16 bits."""
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()  # gptaq's CPU backend reads host memory
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16)
    if t.dtype not in (torch.float32, torch.float16):
        t = t.float()
    return t.numpy()


@torch.no_grad()
def quantize_model(model: nn.Module, batches, bits: int, method: str = "gptaq") -> nn.Module:
    fp_model = copy.deepcopy(model).eval()
    model.eval()
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    fp_linears = dict(fp_model.named_modules())
    for name, layer in linears:
        captured = {}
        h1 = layer.register_forward_hook(lambda m, inp, out: captured.__setitem__("q", inp[0]))
        h2 = fp_linears[name].register_forward_hook(
            lambda m, inp, out: captured.__setitem__("fp", inp[0]))
        try:
            with gptaq.Quantizer(layer.in_features, method=method, bits=bits, group_size=128,
                                 act_order=True) as q:
                for x in batches:
                    model(x)
                    fp_model(x)
                    xq = as_numpy(captured["q"])
                    xfp = as_numpy(captured["fp"]) if method == "gptaq" else None
                    q.add_batch(xq, xfp, dtype="bfloat16" if xq.dtype == np.uint16 else None)
                w = layer.weight.detach().float().cpu().contiguous().numpy()
                r = q.solve(w)
            layer.weight.copy_(torch.from_numpy(r.dequant).to(layer.weight.dtype))
            print(f"  {name}: {tuple(layer.weight.shape)} loss {r.loss:.4f}, "
                  f"{len(batches)} batches")
        finally:
            h1.remove()
            h2.remove()
    return model


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    d = 256
    model = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d), nn.GELU(),
                          nn.Linear(d, d))
    mix = torch.randn(d, d) / d ** 0.5
    scale = torch.randn(d).exp()

    def data(n: int) -> "torch.Tensor":
        return (torch.randn(n, 64, d) @ mix) * scale
    batches = [data(4) for _ in range(8)]
    test = data(8)
    ref = model(test).detach()

    results = {}
    for method in ("rtn", "gptaq"):
        m = copy.deepcopy(model)
        print(f"{method}, {args.bits} bits:")
        quantize_model(m, batches if method != "rtn" else batches[:1], args.bits, method)
        with torch.no_grad():
            results[method] = float(((m(test) - ref) ** 2).mean() / (ref ** 2).mean())
        print(f"  relative output MSE {results[method]:.5f}")
    if not results["gptaq"] < results["rtn"]:
        print("error: GPTAQ did not beat round-to-nearest", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
