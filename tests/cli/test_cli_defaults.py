"""One set of defaults everywhere: `gptaq quantize` without options quantizes exactly as
the library's defaults (gptaq_config_init) through the C API; --help shows every default;
--sym / --asym, --act-group-aware and --failsafe-tokens reach the library."""
import ctypes
import os
import re
import subprocess

import numpy as np
import pytest

from test_cli import problem

GPTAQ = os.environ.get("GPTAQ_TOOL", "gptaq")


def library_path():
    """The libgptaq the tool runs with (GPTAQ_LIB from ctest, else the tool's own)."""
    if os.environ.get("GPTAQ_LIB"):
        return os.environ["GPTAQ_LIB"]
    out = subprocess.run(["ldd", subprocess.run(["which", GPTAQ], capture_output=True,
                                                text=True).stdout.strip() or GPTAQ],
                         capture_output=True, text=True).stdout
    m = re.search(r"libgptaq\.so\S*\s+=>\s+(\S+)", out)
    assert m, f"cannot find libgptaq for {GPTAQ}: {out}"
    return m.group(1)


def run(*args, check=True):
    p = subprocess.run([GPTAQ, *map(str, args)], capture_output=True, text=True)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def load_library():
    """The library through ctypes; skips where it is built with AddressSanitizer (the
    hardening stage): an instrumented library cannot be loaded into an uninstrumented
    Python, and the plain build runs these tests."""
    path = library_path()
    needed = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    if "libasan" in needed:
        pytest.skip("libgptaq is built with AddressSanitizer; the plain build checks this")
    return ctypes.CDLL(path)


def solve_with_library_defaults(w, x):
    """gptaq_config_init's defaults, untouched, through the C API (all tokens in one batch,
    as the tool streams them for fewer than --batch-tokens tokens)."""
    lib = load_library()
    buf = ctypes.create_string_buffer(4096)
    assert lib.gptaq_config_init(buf, ctypes.c_size_t(4096)) == 0
    # struct_size now says how much of the buffer is the library's config.
    assert 0 < int.from_bytes(buf.raw[:4], "little") < 4096
    rows, cols = w.shape
    ctx = ctypes.c_void_p()
    lib.gptaq_ctx_errmsg.restype = ctypes.c_char_p
    lib.gptaq_num_groups.restype = ctypes.c_int64
    assert lib.gptaq_ctx_create(ctypes.byref(ctx), ctypes.c_int64(cols), buf) == 0
    try:
        x = np.ascontiguousarray(x, np.float32)
        assert lib.gptaq_add_batch(ctx, x.ctypes.data_as(ctypes.c_void_p), None,
                                   ctypes.c_int64(x.shape[0]), 0) == 0, lib.gptaq_ctx_errmsg(ctx)
        G = lib.gptaq_num_groups(ctypes.c_int64(cols), ctypes.c_int32(128))
        codes = np.zeros((rows, cols), np.uint8)
        scales = np.zeros((rows, G), np.float32)
        zeros = np.zeros((rows, G), np.float32)
        g_idx = np.zeros(cols, np.int32)
        w = np.ascontiguousarray(w, np.float32)
        ptr = lambda a: a.ctypes.data_as(ctypes.c_void_p)
        st = lib.gptaq_solve(ctx, ptr(w), ctypes.c_int64(rows), ctypes.c_int64(cols), ptr(codes),
                             ptr(scales), ptr(zeros), ptr(g_idx), None, None)
        assert st == 0, lib.gptaq_ctx_errmsg(ctx)
    finally:
        lib.gptaq_ctx_free(ctx)
    return codes, scales, zeros, g_idx


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("defaults")
    w, x, _ = problem(seed=3, rows=24, cols=256, tokens=384)
    np.save(d / "W.npy", w)
    np.save(d / "X.npy", x)
    return d, w, x


def test_cli_defaults_are_the_library_defaults(data, tmp_path):
    d, w, x = data
    run("quantize", "--weight", d / "W.npy", "--calib", d / "X.npy", "--out", tmp_path)
    codes, scales, zeros, g_idx = solve_with_library_defaults(w, x)
    np.testing.assert_array_equal(np.load(tmp_path / "codes.npy"), codes)
    np.testing.assert_array_equal(np.load(tmp_path / "scales.npy"), scales)
    np.testing.assert_array_equal(np.load(tmp_path / "zeros.npy"), zeros)
    np.testing.assert_array_equal(np.load(tmp_path / "g_idx.npy"), g_idx)
    # The library's default grid is symmetric (zero = 2^(bits-1) = 8 at 4 bits).
    assert np.all(zeros == 8) and scales.shape == (24, 2)


def test_sym_and_asym(data, tmp_path):
    d, *_ = data
    base = ["quantize", "--weight", d / "W.npy", "--calib", d / "X.npy"]
    run(*base, "--out", tmp_path / "none")
    run(*base, "--sym", "--out", tmp_path / "sym")
    run(*base, "--asym", "--out", tmp_path / "asym")
    for k in ("codes", "zeros"):
        np.testing.assert_array_equal(np.load(tmp_path / "none" / f"{k}.npy"),
                                      np.load(tmp_path / "sym" / f"{k}.npy"))
    assert not np.all(np.load(tmp_path / "asym" / "zeros.npy") == 8)
    p = run(*base, "--sym", "--asym", "--out", tmp_path / "both", check=False)
    assert p.returncode == 2 and "excludes" in p.stderr


def test_help_shows_every_default():
    out = run("quantize", "--help").stdout
    lines = out.splitlines()
    options = ["--method", "--bits", "--group-size", "--sym", "--asym", "--act-order",
               "--act-group-aware", "--static-groups", "--mse", "--damp", "--block-size",
               "--alpha", "--failsafe-tokens", "--backend", "--device", "--threads",
               "--hyper-bits", "--explore-bits", "--explore-split", "--objective",
               "--quantizer", "--batch-tokens"]
    for opt in options:
        # The option's entry: its line and the continuation lines up to the next option.
        i = next(i for i, l in enumerate(lines) if re.match(rf"\s*{re.escape(opt)}\b", l))
        entry = lines[i]
        for l in lines[i + 1:]:
            if re.match(r"\s*-", l):
                break
            entry += " " + l
        # CLI11 prints a captured default as TYPE=VALUE; flags and the rest say "default".
        assert "default" in entry.lower() or re.match(rf"\s*{re.escape(opt)} \S*=\S+", entry), \
            f"{opt} shows no default: {entry!r}"
    # The values are the library's.
    assert re.search(r"--bits INT=4\b", out) and re.search(r"--group-size INT=128\b", out)
    assert re.search(r"--sym\b.*default: on", out) and re.search(r"--asym\b.*default: off", out)
    assert re.search(r"--method \S*=gptq\b", out) and re.search(r"--failsafe-tokens \S*=0\b", out)


def test_group_aware_reordering_and_failsafe(data, tmp_path):
    d, w, x = data
    base = ["quantize", "--weight", d / "W.npy", "--calib", d / "X.npy", "--group-size", 64]
    run(*base, "--act-group-aware", "--out", tmp_path / "gar")
    np.testing.assert_array_equal(np.load(tmp_path / "gar" / "g_idx.npy"), np.arange(256) // 64)
    run(*base, "--out", tmp_path / "plain")
    assert not np.array_equal(np.load(tmp_path / "gar" / "codes.npy"),
                              np.load(tmp_path / "plain" / "codes.npy"))
    p = run(*base, "--act-group-aware", "--act-order", "--out", tmp_path / "bad", check=False)
    assert p.returncode != 0 and "exclude each other" in p.stderr
    # 384 tokens: below 385 it is round-to-nearest, at 384 the solve.
    p = run(*base, "--failsafe-tokens", 385, "--out", tmp_path / "fs")
    assert "round-to-nearest" in p.stderr
    run(*base, "--method", "rtn", "--out", tmp_path / "rtn")
    for k in ("codes", "scales", "zeros", "g_idx"):
        np.testing.assert_array_equal(np.load(tmp_path / "fs" / f"{k}.npy"),
                                      np.load(tmp_path / "rtn" / f"{k}.npy"))
    p = run(*base, "--failsafe-tokens", 384, "--out", tmp_path / "at")
    assert "round-to-nearest" not in p.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "at" / "codes.npy"),
                                  np.load(tmp_path / "plain" / "codes.npy"))
    p = run(*base, "--failsafe-tokens", -1, "--out", tmp_path / "neg", check=False)
    assert p.returncode == 2
