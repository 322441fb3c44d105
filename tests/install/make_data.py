#!/usr/bin/env python3
"""Shared data of the consumer tests (tests/install): one layer's weight and calibration
inputs, and the installed CLI's codes on them, which every consumer (C, Python, Java, Go,
Rust) must reproduce through its own binding.

usage: make_data.py PREFIX DATA_DIR

Writes DATA_DIR/W.npy (96 x 256 float32), DATA_DIR/X.npy (1024 x 256 float32, correlated
columns and an outlier channel), DATA_DIR/X_fp.npy (X with a small perturbation, for
GPTAQ consumers), and DATA_DIR/cli/{codes,scales,zeros,g_idx}.npy from
`PREFIX/bin/gptaq quantize` with the library's defaults spelled out (GPTQ, 4 bits, group
size 128, symmetric, no act-order): method gptq, bits 4, group_size 128, sym; and
DATA_DIR/cli-defaults/ from the CLI given no quantization option (its defaults, which
must be the library's and every binding's).
"""
import os
import subprocess
import sys

import numpy as np

prefix, data = sys.argv[1], sys.argv[2]
os.makedirs(data, exist_ok=True)
rng = np.random.default_rng(20261202)
rows, cols, tokens = 96, 256, 1024
mix = rng.standard_normal((cols, cols)).astype(np.float32) / np.sqrt(cols)
x = rng.standard_normal((tokens, cols)).astype(np.float32) @ (np.eye(cols, dtype=np.float32) + mix)
x[:, 7] *= 20.0  # outlier channel
x = x.astype(np.float32)
x_fp = (x + 0.05 * rng.standard_normal(x.shape)).astype(np.float32)
w = (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)
np.save(os.path.join(data, "W.npy"), w)
np.save(os.path.join(data, "X.npy"), x)
np.save(os.path.join(data, "X_fp.npy"), x_fp)
cli = os.path.join(prefix, "bin", "gptaq")
subprocess.run([cli, "quantize", "--weight", os.path.join(data, "W.npy"),
                "--calib", os.path.join(data, "X.npy"), "--method", "gptq", "--bits", "4",
                "--group-size", "128", "--sym", "--backend", "cpu",
                "--out", os.path.join(data, "cli")], check=True)
# The same with no quantization option at all: the CLI's own defaults, which must be the
# library's (consumers compare their binding's defaults against cli-defaults/).
subprocess.run([cli, "quantize", "--weight", os.path.join(data, "W.npy"),
                "--calib", os.path.join(data, "X.npy"), "--backend", "cpu",
                "--out", os.path.join(data, "cli-defaults")], check=True)
codes = np.load(os.path.join(data, "cli", "codes.npy"))
assert codes.shape == (rows, cols) and codes.dtype == np.uint8, (codes.shape, codes.dtype)
print("consumer data: OK")
