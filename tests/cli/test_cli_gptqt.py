"""End-to-end tests of `gptaq quantize --method gptqt` (and GPTAQ + binary coding) against
an independent float64 NumPy implementation of ALGORITHMS.md §5: the candidate level
sets, quantize-twice, the per-layer re-explore search and the GPTQ / GPTAQ sweep."""
import itertools
import os
import subprocess

import numpy as np
import pytest

GPTAQ = os.environ.get("GPTAQ_TOOL", "gptaq")


def run(*args, check=True):
    p = subprocess.run([GPTAQ, *map(str, args)], capture_output=True, text=True)
    if check:
        assert p.returncode == 0, p.stderr
    return p


# ---- the float64 reference ----------------------------------------------------------

def level_sets(n, k):
    """k-subsets of {2^(n-2), ..., 1, 1/2} in lexicographic order of positions."""
    return [np.array([2.0 ** (n - 2 - p) for p in pos]) for pos in itertools.combinations(range(n), k)]


def levels_of(a, n):
    k = len(a)
    c = (2 ** n - 1) / 2
    signs = np.array([[1.0 if (idx >> (k - 1 - i)) & 1 else -1.0 for i in range(k)]
                      for idx in range(2 ** k)])
    return c + signs @ a  # ascending with the index


def ratio(n, e, S, t):
    if S <= 1:
        return 1.0 / (2 ** n - 1)
    lo, hi = 1.0 / (2 ** (n + e) - 1), 1.0 / (2 ** (n - e) - 1)
    return lo + (hi - lo) * t / (S - 1)


def params(x, n, r):
    """x: rows x m -> (s, z) per row."""
    xmin = np.minimum(x.min(axis=1), 0.0)
    xmax = np.maximum(x.max(axis=1), 0.0)
    rng = xmax - xmin
    xmin = np.where(rng == 0, -1.0, xmin)
    rng = np.where(rng == 0, 2.0, rng)
    s0 = rng / (2 ** n - 1)
    return rng * r, np.round(xmin / s0) * s0


def quant(x, s, z, L, n):
    """Quantize twice; x rows x m, s/z per row. Returns (codes, dequantized)."""
    u = np.clip(np.round((x - z[:, None]) / s[:, None]), 0, 2 ** n - 1)
    idx = np.argmin(np.abs(u[..., None] - L), axis=-1)  # first minimum = the lower level
    return idx, s[:, None] * L[idx] + z[:, None]


def groups(cols, group):
    return [(0, cols)] if group < 0 else [(c, min(cols, c + group)) for c in range(0, cols, group)]


def search(W, k, n, e, S, group, objective, X):
    if X is None:
        objective = "weight"
    best = (np.inf, None, None)
    for a_i, a in enumerate(level_sets(n, k)):
        L = levels_of(a, n)
        for t in range(S):
            Q = np.zeros_like(W)
            for c0, c1 in groups(W.shape[1], group):
                s, z = params(W[:, c0:c1], n, ratio(n, e, S, t))
                Q[:, c0:c1] = quant(W[:, c0:c1], s, z, L, n)[1]
            dW = W - Q
            if objective == "output":
                v = np.mean((dW @ X.mean(axis=0)) ** 2)
            elif objective == "hessian":
                v = np.trace(dW @ (2.0 / X.shape[0] * X.T @ X) @ dW.T)
            else:
                v = np.sum(dW ** 2)
            if v < best[0]:
                best = (v, a_i, t)
    return best[1], best[2]


def gptqt(W, X, Xfp=None, k=3, n=None, e=1, S=20, group=-1, objective="output", rtn=False,
          damp=0.01, block=128, alpha=0.25):
    """Natural column order, dynamic groups. Returns codes, alpha, bias, dequant."""
    n = n or k + 2
    W = W.astype(np.float64).copy()
    rows, cols = W.shape
    Xd = X.astype(np.float64) if X is not None else None
    if not rtn:
        H = 2.0 / Xd.shape[0] * Xd.T @ Xd
        D = 2.0 / Xd.shape[0] * (Xfp.astype(np.float64) - Xd).T @ Xd if Xfp is not None else None
        dead = np.diag(H) == 0
        H[dead, dead] = 1
        W[:, dead] = 0
        if D is not None:
            D[:, dead] = 0
        H += damp * np.mean(np.diag(H)) * np.eye(cols)
        U = np.linalg.cholesky(np.linalg.inv(H)).T
        P = alpha * np.triu(D @ U.T, 1) @ U if D is not None else None
    a_i, t = search(W, k, n, e, S, group, objective, Xd)
    a = level_sets(n, k)[a_i]
    L = levels_of(a, n)
    r = ratio(n, e, S, t)
    G = len(groups(cols, group))
    s_all, z_all = np.zeros((rows, G)), np.zeros((rows, G))
    codes = np.zeros((rows, cols), dtype=np.int64)
    if rtn or group < 0:
        for g, (c0, c1) in enumerate(groups(cols, group)):
            s_all[:, g], z_all[:, g] = params(W[:, c0:c1], n, r)
    if rtn:
        Q = np.zeros_like(W)
        for g, (c0, c1) in enumerate(groups(cols, group)):
            codes[:, c0:c1], Q[:, c0:c1] = quant(W[:, c0:c1], s_all[:, g], z_all[:, g], L, n)
    else:
        Q = np.zeros_like(W)
        E = np.zeros((rows, block))
        for j in range(cols):
            b0 = (j // block) * block
            b1 = min(cols, b0 + block)
            g = 0 if group < 0 else j // group
            if group > 0 and j % group == 0:
                s_all[:, g], z_all[:, g] = params(W[:, j:j + group], n, r)
            w = W[:, j].copy()
            c, q = quant(w[:, None], s_all[:, g], z_all[:, g], L, n)
            codes[:, j], Q[:, j] = c[:, 0], q[:, 0]
            e_ = (w - Q[:, j]) / U[j, j]
            W[:, j + 1:b1] -= np.outer(e_, U[j, j + 1:b1])
            if P is not None:
                W[:, j + 1:b1] += np.outer(w, P[j, j + 1:b1])
            E[:, j - b0] = e_
            if j + 1 == b1 and b1 < cols:
                W[:, b1:] -= E[:, :b1 - b0] @ U[b0:b1, b1:]
                if P is not None:
                    W[:, b1:] += Q[:, b0:b1] @ P[b0:b1, b1:]
    alphas = s_all[:, :, None] * a[None, None, :]
    bias = s_all * (2 ** n - 1) / 2 + z_all
    return codes, alphas, bias, Q, (a_i, t)


# ---- the tests ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("gptqt")
    r = np.random.default_rng(7)
    rows, cols, tokens = 24, 96, 320
    basis = r.standard_normal((10, cols))
    x = r.standard_normal((tokens, 10)) @ basis + 0.3 * r.standard_normal((tokens, cols))
    x += r.standard_normal(cols)  # per-channel means, as real activations have
    x[:, 30] *= 12.0
    x[:, 11] = 0.0  # a dead channel
    w = r.standard_normal((rows, cols)) * 0.05
    w[r.random(w.shape) < 0.02] *= 6.0
    xfp = x + 0.1 * (r.standard_normal((tokens, 3)) @ r.standard_normal((3, cols)))
    xfp[:, 11] = 0.0
    w, x, xfp = w.astype(np.float32), x.astype(np.float32), xfp.astype(np.float32)
    np.save(d / "W.npy", w)
    np.save(d / "X.npy", x)
    np.save(d / "XFP.npy", xfp)
    return d, w, x, xfp


def load(out):
    return (np.load(out / "codes.npy"), np.load(out / "alpha.npy"), np.load(out / "bias.npy"),
            np.load(out / "dequant.npy"), np.load(out / "g_idx.npy"))


CASES = [
    # method, quantizer, bits, group, objective, hyper, explore, split
    ("gptqt", None, 3, -1, "output", None, None, None),
    ("gptqt", None, 2, 32, "output", None, None, None),
    ("gptqt", None, 4, -1, "hessian", None, 1, 6),
    ("gptqt", None, 3, -1, "weight", 6, 2, 9),
    ("gptaq", "binary", 3, -1, "output", None, None, None),
    ("gptaq", "binary", 2, 48, "hessian", 5, None, 10),
    ("rtn", "binary", 3, -1, "output", None, None, None),  # no --calib: weight fallback
]


@pytest.mark.parametrize("method,quantizer,bits,group,objective,hyper,explore,split", CASES)
def test_gptqt_matches_float64_reference(data, tmp_path, method, quantizer, bits, group,
                                         objective, hyper, explore, split):
    d, w, x, xfp = data
    args = ["quantize", "--weight", d / "W.npy", "--out", tmp_path, "--method", method,
            "--bits", bits, "--group-size", group, "--objective", objective,
            "--batch-tokens", 100]
    if method != "rtn":
        args += ["--calib", d / "X.npy"]
    if method == "gptaq":
        args += ["--calib-fp", d / "XFP.npy"]
    if quantizer:
        args += ["--quantizer", quantizer]
    if hyper:
        args += ["--hyper-bits", hyper]
    if explore is not None:
        args += ["--explore-bits", explore]
    if split:
        args += ["--explore-split", split]
    run(*args)
    codes, alpha, bias, deq, gidx = load(tmp_path)
    rows, cols = w.shape
    G = 1 if group < 0 else -(-cols // group)
    assert codes.dtype == np.uint8 and codes.shape == (rows, cols)
    assert alpha.dtype == np.float32 and alpha.shape == (rows, G, bits)
    assert bias.dtype == np.float32 and bias.shape == (rows, G)
    assert deq.shape == (rows, cols)
    assert codes.max() < 2 ** bits

    # w = sum_i (+/-) alpha_i + bias exactly (to fp32 rounding) for every weight.
    signs = np.stack([((codes >> (bits - 1 - i)) & 1) * 2.0 - 1.0 for i in range(bits)], -1)
    a_w = alpha[np.arange(rows)[:, None], gidx[None, :]]  # rows x cols x bits
    b_w = bias[np.arange(rows)[:, None], gidx[None, :]]
    recon = (signs * a_w).sum(-1) + b_w
    scale = np.abs(a_w).sum(-1) + np.abs(b_w)
    assert np.all(np.abs(recon - deq) <= 1e-6 * scale)
    for r in range(rows):
        for g in range(G):
            assert len(np.unique(deq[r, gidx == g])) <= 2 ** bits

    ref_codes, ref_alpha, ref_bias, ref_deq, _ = gptqt(
        w, None if method == "rtn" else x, xfp if method == "gptaq" else None, k=bits,
        n=hyper, e=1 if explore is None else explore, S=split or 20, group=group,
        objective=objective, rtn=method == "rtn")
    same = np.mean(codes == ref_codes)
    assert same >= 0.99, same
    # alpha = s * a_i and bias = s * c + z of the chosen (level set, scale); with dynamic
    # groups s and z come from the updated weights, so they agree to float32 rounding.
    assert np.allclose(alpha, ref_alpha, rtol=1e-4, atol=1e-7)
    assert np.allclose(bias, ref_bias, rtol=1e-4, atol=1e-5 * np.abs(ref_bias).max())
    agree = codes == ref_codes
    assert np.abs(deq - ref_deq)[agree].max() <= 1e-4 * np.abs(ref_deq).max()


def test_gptqt_rejects_bad_configurations(data, tmp_path):
    d, _, _, _ = data
    base = ["quantize", "--weight", d / "W.npy", "--calib", d / "X.npy", "--out", tmp_path,
            "--method", "gptqt"]
    for extra, needle in [(["--bits", 5], "bits"), (["--bits", 3, "--hyper-bits", 9], "hyper_bits"),
                          (["--bits", 4, "--hyper-bits", 3], "hyper_bits"),
                          (["--bits", 3, "--explore-split", 0], "explore_split")]:
        p = run(*base, *extra, check=False)
        assert p.returncode != 0
        assert needle in p.stderr, p.stderr
