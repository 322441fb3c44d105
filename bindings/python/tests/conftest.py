"""Shared fixtures: test data and the raw-C-API reference program (gptaq_capi_ref)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Dict, Optional

# Bit-identical comparisons need the same thread count in this process and in the
# reference program: the CPU backend's results depend on the BLAS/OpenMP thread count,
# and a context's num_threads sets OpenBLAS's process-wide count. Pin both to 1 before
# libgptaq (and OpenBLAS) load; the reference program inherits the environment.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import gptaq  # noqa: E402


def make_problem(rows: int, cols: int, tokens: int, seed: int = 0, gptaq_pair: bool = False):
    """Correlated calibration inputs (like real activations) and a weight."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((cols, cols)).astype(np.float32) / np.sqrt(cols)
    scale = np.exp(rng.standard_normal(cols) * 0.5).astype(np.float32)
    x_fp = (rng.standard_normal((tokens, cols)).astype(np.float32) @ mix) * scale
    x_fp = np.ascontiguousarray(x_fp, dtype=np.float32)
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    if not gptaq_pair:
        return w, x_fp, None
    x_q = x_fp + 0.05 * rng.standard_normal((tokens, cols)).astype(np.float32)
    return w, np.ascontiguousarray(x_q, dtype=np.float32), x_fp


def _cfg_value(v: Any) -> str:
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, float):
        return repr(v)
    return str(int(v))


class CapiRef:
    """Runs gptaq_capi_ref: the same inputs through the raw C API."""

    def __init__(self, exe: str, tmp: Path) -> None:
        self.exe = exe
        self.tmp = tmp
        self.n = 0

    def run(self, weight: np.ndarray, x_q: np.ndarray, x_fp: Optional[np.ndarray] = None, *,
            mask: Optional[np.ndarray] = None, batch: Optional[int] = None,
            dtype: str = "f32", **cfg: Any) -> Dict[str, Any]:
        self.n += 1
        d = self.tmp / f"ref{self.n}"
        d.mkdir()

        def save(name: str, a: np.ndarray) -> str:
            if a.dtype == np.uint16:  # 16-bit patterns travel as <f2 bytes
                a = a.view(np.float16)
            p = str(d / name)
            np.save(p, np.ascontiguousarray(a))
            return p

        args = [self.exe, str(d), save("w.npy", weight),
                save("xq.npy", x_q.reshape(-1, weight.shape[1]))]
        if x_fp is not None:
            args += ["--xfp", save("xfp.npy", x_fp.reshape(-1, weight.shape[1]))]
        if mask is not None:
            args += ["--mask", save("mask.npy", mask.reshape(-1).astype(np.uint8))]
        if batch is not None:
            args += ["--batch", str(batch)]
        args += ["--dtype", dtype]
        args += [f"{k}={_cfg_value(v)}" for k, v in cfg.items()]
        p = subprocess.run(args, capture_output=True, text=True)
        if p.returncode == 2:
            lines = p.stderr.splitlines()
            return {"status": int(lines[0].split()[1]), "message": "\n".join(lines[1:])}
        assert p.returncode == 0, p.stderr
        out: Dict[str, Any] = {"status": 0}
        for f in d.iterdir():
            if f.suffix == ".npy" and f.name not in ("w.npy", "xq.npy", "xfp.npy", "mask.npy"):
                out[f.stem] = np.load(f)
        for line in (d / "info.txt").read_text().splitlines():
            k, v = line.split()
            out[k] = float(v)
        return out


@pytest.fixture
def capi(tmp_path: Path) -> CapiRef:
    exe = os.environ.get("GPTAQ_CAPI_REF")
    if not exe or not os.path.exists(exe):
        pytest.fail("GPTAQ_CAPI_REF must name the gptaq_capi_ref program (ctest sets it)")
    return CapiRef(exe, tmp_path)


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


__all__ = ["make_problem", "CapiRef", "rss_bytes", "gptaq"]
