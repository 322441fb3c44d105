"""A float64 NumPy implementation of docs/ALGORITHMS.md §1-4, written independently of
the library (and of the C++ reference in tests/), to check the `gptaq` tool end to end.
Unblocked where it can be: the column loop runs one column at a time; the lazy-block
structure only enters through GPTAQ's two P terms (§3), which depend on the block."""
import numpy as np


def find_params(x, bits, sym, mse, norm=2.4, grid=100, maxshrink=0.8):
    """x: rows x k -> (scale, zero) per row, GPTQ conventions."""
    maxq = 2 ** bits - 1
    xmin = np.minimum(x.min(axis=1), 0.0)
    xmax = np.maximum(x.max(axis=1), 0.0)
    if sym:
        xmax = np.maximum(np.abs(xmin), xmax)
        xmin = np.where(xmin < 0, -xmax, xmin)
    both0 = (xmin == 0) & (xmax == 0)
    xmin = np.where(both0, -1.0, xmin)
    xmax = np.where(both0, 1.0, xmax)
    scale = (xmax - xmin) / maxq
    zero = np.full_like(scale, (maxq + 1) / 2) if sym else np.round(-xmin / scale)
    if mse:
        best = np.full(x.shape[0], np.inf)
        for i in range(int(maxshrink * grid)):
            p = 1 - i / grid
            lo, hi = p * xmin, p * xmax
            s1 = (hi - lo) / maxq
            z1 = zero if sym else np.round(-lo / s1)
            q = dequant(x, s1[:, None], z1[:, None], maxq)
            err = (np.abs(q - x) ** norm).sum(axis=1)
            better = err < best
            best = np.where(better, err, best)
            scale = np.where(better, s1, scale)
            zero = np.where(better, z1, zero)
    return scale, zero


def codes_of(x, scale, zero, maxq):
    return np.clip(np.round(x / scale) + zero, 0, maxq)


def dequant(x, scale, zero, maxq):
    return scale * (codes_of(x, scale, zero, maxq) - zero)


def quantize(W, Xq, Xfp=None, bits=4, group=128, sym=False, act_order=False,
             static_groups=False, mse=False, damp=0.01, block=128, alpha=0.25, rtn=False):
    W = W.astype(np.float64).copy()
    rows, cols = W.shape
    maxq = 2 ** bits - 1
    G = 1 if group < 0 else -(-cols // group)
    scales = np.zeros((rows, G))
    zeros = np.zeros((rows, G))
    codes = np.zeros((rows, cols), dtype=np.int64)
    gidx = np.zeros(cols, dtype=np.int64)
    if rtn:
        for k in range(G):
            c0, c1 = (0, cols) if group < 0 else (k * group, min(cols, (k + 1) * group))
            s, z = find_params(W[:, c0:c1], bits, sym, mse)
            scales[:, k], zeros[:, k] = s, z
            codes[:, c0:c1] = codes_of(W[:, c0:c1], s[:, None], z[:, None], maxq)
            gidx[c0:c1] = k
        deq = np.take_along_axis(scales, np.broadcast_to(gidx, W.shape), 1) * (
            codes - np.take_along_axis(zeros, np.broadcast_to(gidx, W.shape), 1))
        return codes, scales, zeros, gidx, deq, 0.0
    Xq = Xq.astype(np.float64)
    N = Xq.shape[0]
    H = 2.0 / N * Xq.T @ Xq
    D = 2.0 / N * (Xfp.astype(np.float64) - Xq).T @ Xq if Xfp is not None else None
    dead = np.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    if D is not None:
        D[:, dead] = 0
    if static_groups and group > 0:
        for k in range(G):
            s, z = find_params(W[:, k * group:(k + 1) * group], bits, sym, mse)
            scales[:, k], zeros[:, k] = s, z
    if group < 0:
        s, z = find_params(W, bits, sym, mse)
        scales[:, 0], zeros[:, 0] = s, z
    perm = np.arange(cols)
    if act_order:
        perm = np.argsort(-np.diag(H), kind="stable")
        W, H = W[:, perm], H[perm][:, perm]
        if D is not None:
            D = D[perm][:, perm]
    H = H + damp * np.mean(np.diag(H)) * np.eye(cols)
    Hinv = np.linalg.inv(H)
    U = np.linalg.cholesky(Hinv).T  # upper, Hinv = U^T U
    P = alpha * np.triu(D @ U.T, 1) @ U if D is not None else None
    loss = 0.0
    Q = np.zeros_like(W)
    E = np.zeros((rows, block))
    for j in range(cols):
        b0 = (j // block) * block
        b1 = min(cols, b0 + block)
        if group > 0 and not static_groups and j % group == 0:
            s, z = find_params(W[:, j:j + group], bits, sym, mse)
            scales[:, j // group], zeros[:, j // group] = s, z
        if group < 0:
            k = 0
        elif static_groups:
            k = perm[j] // group
        else:
            k = j // group
        w = W[:, j].copy()
        c = codes_of(w, scales[:, k], zeros[:, k], maxq)
        q = scales[:, k] * (c - zeros[:, k])
        codes[:, perm[j]] = c
        gidx[perm[j]] = k
        Q[:, j] = q
        d = U[j, j]
        loss += ((w - q) ** 2).sum() / d ** 2 / 2
        e = (w - q) / d
        # Error feedback inside the block now (GPTAQ's P with the pre-quantization w);
        # beyond the block at the block's end (P with the quantized block), as §3 says.
        # Group params read these lagging values beyond the block (§3).
        W[:, j + 1:b1] -= np.outer(e, U[j, j + 1:b1])
        if P is not None:
            W[:, j + 1:b1] += np.outer(w, P[j, j + 1:b1])
        E[:, j - b0] = e
        if j + 1 == b1 and b1 < cols:
            W[:, b1:] -= E[:, :b1 - b0] @ U[b0:b1, b1:]
            if P is not None:
                W[:, b1:] += Q[:, b0:b1] @ P[b0:b1, b1:]
    deq = np.zeros_like(Q)
    deq[:, perm] = Q
    return codes, scales, zeros, gidx, deq, loss
