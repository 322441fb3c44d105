# gptaq bench: the --json summary's backend and cuSOLVER workspace fields and the
# --codes-out file that scripts/gpu-check.sh compares across backends.
import json
import os
import subprocess

import numpy as np

GPTAQ = os.environ.get("GPTAQ_TOOL", "gptaq")


def bench(*args):
    p = subprocess.run([GPTAQ, "bench", *map(str, args)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_bench_json_and_codes_out(tmp_path):
    out = tmp_path / "codes.u8"
    common = ["--rows", 24, "--cols", 96, "--tokens", 128, "--batch", 64, "--json"]
    s = bench("--backend", "cpu", *common, "--codes-out", out)
    assert s["backend"] == "cpu"
    assert s["cusolver_workspace"] is None  # only asked for on the CUDA backend
    codes = np.fromfile(out, dtype=np.uint8)
    assert codes.size == 24 * 96
    assert codes.max() < 16 and codes.min() >= 0
    assert len(np.unique(codes)) > 4  # real codes, not a zero-filled buffer
    # Deterministic data: a second run writes the same codes.
    again = tmp_path / "again.u8"
    bench("--backend", "cpu", *common, "--codes-out", again)
    assert np.array_equal(codes, np.fromfile(again, dtype=np.uint8))


def test_bench_codes_out_unwritable_is_an_error(tmp_path):
    p = subprocess.run([GPTAQ, "bench", "--backend", "cpu", "--rows", "8", "--cols", "32",
                        "--tokens", "32", "--batch", "32", "--codes-out",
                        str(tmp_path / "missing-dir" / "codes.u8")],
                       capture_output=True, text=True)
    assert p.returncode != 0
    assert "cannot write" in p.stderr
