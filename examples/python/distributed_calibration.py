#!/usr/bin/env python3
"""Distributed (data-parallel) calibration with gptaq: two worker processes each stream
half of the calibration tokens into their own Quantizer and send the serialized
statistics (plain bytes: any transport works, here a multiprocessing pipe); the main
process merges them and solves. The statistics are sums, so the merged result is the
one a single worker gets from all the data.

With torch.distributed the same is an all-reduce of q.stats_buffers() (xx, dx, xsum,
tokens: numpy views, so torch.from_numpy(...) shares their memory) followed by
q.stats_commit(); this script uses plain processes so it runs without torch.

The inputs are on a 1/8 grid, so every fp32 product and sum is exact and the merged
statistics are bit-identical to one worker's whatever the order of the additions; with
real activations they differ by fp32 rounding only. The script asserts identical codes.

usage: distributed_calibration.py [--method gptq|gptaq] [--workers N]
"""
import argparse
import multiprocessing as mp
import sys

import numpy as np

import gptaq

COLS, ROWS, TOKENS = 256, 128, 2048


def data():
    rng = np.random.default_rng(7)
    x_fp = (rng.integers(-16, 17, size=(TOKENS, COLS)) / 8).astype(np.float32)
    x_q = x_fp + (rng.integers(-1, 2, size=(TOKENS, COLS)) / 8).astype(np.float32)
    w = rng.standard_normal((ROWS, COLS)).astype(np.float32)
    return w, x_q, x_fp


def config(method):
    return dict(method=method, bits=4, group_size=64, act_order=True, backend="cpu")


def worker(rank, world, method, conn):
    """One rank: calibrate on its shard, send the serialized statistics."""
    _, x_q, x_fp = data()
    shard = slice(rank * TOKENS // world, (rank + 1) * TOKENS // world)
    with gptaq.Quantizer(COLS, **config(method)) as q:
        for t0 in range(shard.start, shard.stop, 128):
            t1 = min(t0 + 128, shard.stop)
            q.add_batch(x_q[t0:t1], x_fp[t0:t1] if method == "gptaq" else None)
        conn.send_bytes(q.serialize())
    conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--method", default="gptaq", choices=["gptq", "gptaq"])
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    w, x_q, x_fp = data()

    ctx = mp.get_context("spawn")
    pipes, procs = [], []
    for rank in range(a.workers):
        recv, send = ctx.Pipe(duplex=False)
        p = ctx.Process(target=worker, args=(rank, a.workers, a.method, send))
        p.start()
        send.close()
        pipes.append(recv)
        procs.append(p)
    with gptaq.Quantizer(COLS, **config(a.method)) as merged:
        for recv in pipes:
            merged.deserialize(recv.recv_bytes(), mode="accumulate")
        for p in procs:
            p.join()
            assert p.exitcode == 0, f"worker exited with {p.exitcode}"
        assert merged.num_tokens == TOKENS
        got = merged.solve(w)

    with gptaq.Quantizer(COLS, **config(a.method)) as single:
        single.add_batch(x_q, x_fp if a.method == "gptaq" else None)
        want = single.solve(w)

    assert np.array_equal(got.codes, want.codes), "merged codes differ from one worker's"
    assert np.array_equal(got.scales, want.scales) and np.array_equal(got.g_idx, want.g_idx)
    print(f"distributed calibration ({a.method}, {a.workers} workers, {TOKENS} tokens): "
          f"codes identical to a single worker, loss {got.loss:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
