"""End-to-end tests of the `gptaq` tool: files in, files out, checked against the
independent float64 NumPy implementation in reference.py on structured problems."""
import itertools
import os
import subprocess

import numpy as np
import pytest

import reference

GPTAQ = os.environ.get("GPTAQ_TOOL", "gptaq")


def problem(seed=0, rows=24, cols=96, tokens=384):
    """Correlated inputs (low rank + noise), outlier channels, a dead channel, heavy-tailed
    weights, and x_fp = x_q + a structured perturbation for GPTAQ."""
    r = np.random.default_rng(seed)
    basis = r.standard_normal((12, cols))
    x = r.standard_normal((tokens, 12)) @ basis + 0.2 * r.standard_normal((tokens, cols))
    x *= np.exp(0.5 * r.standard_normal((tokens, 1)))
    x[:, [5, 40]] *= 15.0
    x[:, 17] = 0.0
    w = r.standard_normal((rows, cols)) * 0.1
    w[r.random(w.shape) < 0.02] *= 8.0
    xfp = x + 0.1 * (r.standard_normal((tokens, 4)) @ r.standard_normal((4, cols)))
    xfp[:, 17] = 0.0
    return w.astype(np.float32), x.astype(np.float32), xfp.astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    w, x, xfp = problem()
    np.save(d / "W.npy", w)
    np.save(d / "X.npy", x)
    np.save(d / "XFP.npy", xfp)
    np.save(d / "X16.npy", x.astype(np.float16))
    return d, w, x, xfp


def run(*args, check=True):
    p = subprocess.run([GPTAQ, *map(str, args)], capture_output=True, text=True)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def load(out):
    return {k: np.load(out / f"{k}.npy") for k in ("codes", "scales", "zeros", "g_idx", "dequant")}


CONFIGS = list(itertools.product(["gptq", "gptaq"], [2, 3, 4, 8], [-1, 32, 128],
                                 [False, True], [False, True], [False, True], [False, True]))


@pytest.mark.parametrize("method,bits,group,sym,act,static,mse", CONFIGS)
def test_matches_float64_reference(files, tmp_path, method, bits, group, sym, act, static, mse):
    d, w, x, xfp = files
    if static and group < 0:
        pytest.skip("static groups need a group size")
    args = ["quantize", "--weight", d / "W.npy", "--calib", d / "X.npy", "--method", method,
            "--bits", bits, "--group-size", group, "--block-size", 32, "--out", tmp_path]
    if method == "gptaq":
        args += ["--calib-fp", d / "XFP.npy"]
    args += ["--sym" if sym else "--asym"]
    args += [f for f, on in (("--act-order", act), ("--static-groups", static),
                             ("--mse", mse)) if on]
    out = run(*args)
    got = load(tmp_path)
    codes, scales, zeros, gidx, deq, loss = reference.quantize(
        w, x, xfp if method == "gptaq" else None, bits=bits, group=group, sym=sym,
        act_order=act, static_groups=static, mse=mse, block=32)
    match = np.mean(got["codes"] == codes)
    assert match >= 0.99, f"only {match:.4f} of codes match"
    assert np.array_equal(got["g_idx"], gidx)
    g = np.broadcast_to(got["g_idx"], w.shape)
    rebuilt = np.take_along_axis(got["scales"], g, 1) * (got["codes"] - np.take_along_axis(got["zeros"], g, 1))
    np.testing.assert_allclose(got["dequant"], rebuilt, rtol=1e-6, atol=1e-7)
    got_loss = float(out.stdout.split("loss ")[1].split(",")[0])
    assert abs(got_loss - loss) <= 5e-3 * abs(loss) + 1e-6


@pytest.mark.parametrize("bits", [2, 4])
def test_rtn_matches_reference(files, tmp_path, bits):
    d, w, x, _ = files
    run("quantize", "--weight", d / "W.npy", "--method", "rtn", "--bits", bits,
        "--group-size", 32, "--asym", "--out", tmp_path)
    got = load(tmp_path)
    codes, scales, zeros, gidx, deq, _ = reference.quantize(w, None, bits=bits, group=32, rtn=True)
    assert np.array_equal(got["codes"], codes)
    np.testing.assert_allclose(got["scales"], scales, rtol=1e-6)


def test_fp16_calibration_equals_rounded_fp32(files, tmp_path):
    d, w, x, _ = files
    np.save(tmp_path / "X16as32.npy", x.astype(np.float16).astype(np.float32))
    run("quantize", "--weight", d / "W.npy", "--calib", d / "X16.npy", "--bits", 3,
        "--out", tmp_path / "a")
    run("quantize", "--weight", d / "W.npy", "--calib", tmp_path / "X16as32.npy", "--bits", 3,
        "--out", tmp_path / "b")
    assert np.array_equal(np.load(tmp_path / "a/codes.npy"), np.load(tmp_path / "b/codes.npy"))


def test_batch_size_does_not_change_results(files, tmp_path):
    d, *_ = files
    for bt in (7, 1000):
        run("quantize", "--weight", d / "W.npy", "--calib", d / "X.npy", "--calib-fp",
            d / "XFP.npy", "--method", "gptaq", "--bits", 3, "--batch-tokens", bt,
            "--out", tmp_path / str(bt))
    a, b = np.load(tmp_path / "7/codes.npy"), np.load(tmp_path / "1000/codes.npy")
    assert np.mean(a == b) >= 0.999


@pytest.mark.parametrize("args,needle", [
    (["--method", "gptaq"], "calib-fp"),
    (["--bits", "9"], "bits"),
    (["--group-size", "0"], "group_size"),
    (["--calib", "/nonexistent.npy"], "nonexistent"),
    (["--weight", "/nonexistent.npy"], "nonexistent"),
    (["--method", "bogus"], "method"),
])
def test_errors_are_one_line(files, tmp_path, args, needle):
    d, *_ = files
    base = {"--weight": str(d / "W.npy"), "--calib": str(d / "X.npy"), "--out": str(tmp_path)}
    for k, v in zip(args[::2], args[1::2]):
        base[k] = v
    p = run("quantize", *itertools.chain(*base.items()), check=False)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gptaq: error:"), p.stderr
    assert needle in lines[0]


def test_width_mismatch_and_garbage_file(files, tmp_path):
    d, w, x, _ = files
    np.save(tmp_path / "Xbad.npy", x[:, :50])
    p = run("quantize", "--weight", d / "W.npy", "--calib", tmp_path / "Xbad.npy",
            "--out", tmp_path, check=False)
    assert p.returncode != 0 and p.stderr.startswith("gptaq: error:") and "columns" in p.stderr
    (tmp_path / "junk.npy").write_bytes(b"not a numpy file at all")
    p = run("quantize", "--weight", tmp_path / "junk.npy", "--calib", d / "X.npy",
            "--out", tmp_path, check=False)
    assert p.returncode != 0 and "junk.npy" in p.stderr


def test_nan_in_calibration_is_reported(files, tmp_path):
    d, w, x, _ = files
    bad = x.copy()
    bad[3, 3] = np.nan
    np.save(tmp_path / "Xnan.npy", bad)
    p = run("quantize", "--weight", d / "W.npy", "--calib", tmp_path / "Xnan.npy",
            "--out", tmp_path, check=False)
    assert p.returncode != 0 and "NaN" in p.stderr


def test_demo_prints_the_table():
    p = run("demo", "--calib-tokens", 256, "--eval-tokens", 64)
    for word in ("RTN", "GPTQ", "GPTAQ", "output rel. error"):
        assert word in p.stdout
    # A GAR row beside act-order for GPTQ and GPTAQ at each uniform bit width, and GPTQ in
    # the natural order to compare both with.
    rows = [l.split()[:4] for l in p.stdout.splitlines()]
    for bits in ("4", "3", "2"):
        for method in ("GPTQ", "GPTAQ"):
            for order in ("act-order", "GAR"):
                assert [method, "uniform", order, bits] in rows, (method, bits, order)
        assert ["GPTQ", "uniform", "natural", bits] in rows
    assert "with GAR (trivial g_idx)" in p.stdout
