#!/usr/bin/python3
"""The reference structure of GPTQ / GPTAQ in PyTorch, for side-by-side timing only.

This follows the authors' code (gptq.py / gptaq.py and quant.py of the GPTQ and GPTAQ
repositories) op for op: running-average H updates per batch, cholesky -> cholesky_inverse
-> cholesky(upper), dense P = alpha * triu(dXXT @ U^T, 1) @ U, and the lazy-block sweep
with per-group find_params on torch tensors. It is not a dependency of libgptaq.

usage: torch_reference.py --method gptq|gptaq --rows R --cols C --tokens T --bits B
                          --group-size G [--act-order] [--batch 2048] [--threads N]
Prints one JSON object with stats_seconds and solve_seconds as the last line.
"""
import argparse
import json
import math
import time

import torch


class Quantizer:
    def __init__(self, bits, sym):
        self.maxq = torch.tensor(2 ** bits - 1)
        self.sym = sym

    def find_params(self, x):
        tmp = torch.zeros(x.shape[0])
        xmin = torch.minimum(x.min(1)[0], tmp)
        xmax = torch.maximum(x.max(1)[0], tmp)
        if self.sym:
            xmax = torch.maximum(torch.abs(xmin), xmax)
            tmp = xmin < 0
            if torch.any(tmp):
                xmin[tmp] = -xmax[tmp]
        tmp = (xmin == 0) & (xmax == 0)
        xmin[tmp] = -1
        xmax[tmp] = +1
        self.scale = (xmax - xmin) / self.maxq
        if self.sym:
            self.zero = torch.full_like(self.scale, (self.maxq + 1) / 2)
        else:
            self.zero = torch.round(-xmin / self.scale)
        self.scale = self.scale.unsqueeze(1)
        self.zero = self.zero.unsqueeze(1)

    def quantize(self, x):
        q = torch.clamp(torch.round(x / self.scale) + self.zero, 0, self.maxq)
        return self.scale * (q - self.zero)


class Reference:
    def __init__(self, cols, asym):
        self.H = torch.zeros((cols, cols))
        self.dXXT = torch.zeros((cols, cols)) if asym else None
        self.nsamples = 0

    def add_batch(self, inp, fp_inp=None):
        tmp = 1
        self.H *= self.nsamples / (self.nsamples + tmp)
        if self.dXXT is not None:
            self.dXXT *= self.nsamples / (self.nsamples + tmp)
        self.nsamples += tmp
        inp = math.sqrt(2 / self.nsamples) * inp.float().t()
        self.H += inp.matmul(inp.t())
        if self.dXXT is not None:
            dx = math.sqrt(2 / self.nsamples) * fp_inp.float().t() - inp
            self.dXXT += dx.matmul(inp.t())

    def fasterquant(self, W, quantizer, blocksize=128, percdamp=0.01, groupsize=-1,
                    actorder=False, alpha=0.25):
        W = W.clone().float()
        H = self.H.clone()
        dXXT = self.dXXT.clone() if self.dXXT is not None else None
        if groupsize == -1:
            quantizer.find_params(W)
        dead = torch.diag(H) == 0
        H[dead, dead] = 1
        W[:, dead] = 0
        if dXXT is not None:
            dXXT[:, dead] = 0
        if actorder:
            perm = torch.argsort(torch.diag(H), descending=True)
            W = W[:, perm]
            H = H[perm][:, perm]
            if dXXT is not None:
                dXXT = dXXT[perm][:, perm]
            invperm = torch.argsort(perm)
        Losses = torch.zeros_like(W)
        Q = torch.zeros_like(W)
        damp = percdamp * torch.mean(torch.diag(H))
        diag = torch.arange(W.shape[1])
        H[diag, diag] += damp
        H = torch.linalg.cholesky(H)
        H = torch.cholesky_inverse(H)
        H = torch.linalg.cholesky(H, upper=True)
        Hinv = H
        P = None
        if dXXT is not None:
            P = alpha * ((dXXT @ Hinv.T).triu(diagonal=1)) @ Hinv
        columns = W.shape[1]
        for i1 in range(0, columns, blocksize):
            i2 = min(i1 + blocksize, columns)
            count = i2 - i1
            W1 = W[:, i1:i2].clone()
            Q1 = torch.zeros_like(W1)
            Err1 = torch.zeros_like(W1)
            Losses1 = torch.zeros_like(W1)
            Hinv1 = Hinv[i1:i2, i1:i2]
            P1 = P[i1:i2, i1:i2] if P is not None else None
            for i in range(count):
                w = W1[:, i]
                d = Hinv1[i, i]
                if groupsize != -1 and (i1 + i) % groupsize == 0:
                    quantizer.find_params(W[:, (i1 + i):(i1 + i + groupsize)])
                q = quantizer.quantize(w.unsqueeze(1)).flatten()
                Q1[:, i] = q
                Losses1[:, i] = (w - q) ** 2 / d ** 2
                err1 = (w - q) / d
                upd = err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
                if P1 is not None:
                    upd -= w.unsqueeze(1).matmul(P1[i, i:].unsqueeze(0))
                W1[:, i:] -= upd
                Err1[:, i] = err1
            Q[:, i1:i2] = Q1
            Losses[:, i1:i2] = Losses1 / 2
            W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
            if P is not None:
                W[:, i2:] += Q1.matmul(P[i1:i2, i2:])
        if actorder:
            Q = Q[:, invperm]
        return Q, torch.sum(Losses).item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", default="gptq", choices=["gptq", "gptaq"])
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--cols", type=int, default=4096)
    ap.add_argument("--tokens", type=int, default=8192)
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--group-size", type=int, default=128)
    ap.add_argument("--act-order", action="store_true")
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    asym = a.method == "gptaq"
    b = min(a.batch, a.tokens)
    z = torch.randn(b, 64)
    x = z @ (torch.randn(64, a.cols) / 8) + 0.1 * torch.randn(b, a.cols)
    xfp = x + 0.05 * torch.randn_like(x) if asym else None
    W = 0.02 * torch.randn(a.rows, a.cols)
    ref = Reference(a.cols, asym)
    t0 = time.perf_counter()
    done = 0
    while done < a.tokens:
        n = min(b, a.tokens - done)
        ref.add_batch(x[:n], xfp[:n] if asym else None)
        done += n
    stats = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref.fasterquant(W, Quantizer(a.bits, sym=False), groupsize=a.group_size,
                    actorder=a.act_order)
    solve = time.perf_counter() - t0
    print(f"torch {torch.__version__} reference structure, {torch.get_num_threads()} threads: "
          f"statistics {stats:.3f} s, solve {solve:.3f} s")
    print(json.dumps({"impl": "torch-reference", "method": a.method, "rows": a.rows,
                      "cols": a.cols, "tokens": a.tokens, "stats_seconds": stats,
                      "solve_seconds": solve}))


if __name__ == "__main__":
    main()
