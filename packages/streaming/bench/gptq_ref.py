"""numpy/scipy anchor for `pnpm bench scale --methods gptq`: GPTQ (symmetric 4-bit, groups of 128,
block 128, percdamp 0.01, upper Cholesky factor of H^-1 via LAPACK potrf + trsm) on every linear of
one Llama block, with a Gram from T random calibration tokens. Prints the seconds (Gram + GPTQ).
Usage: python3 gptq_ref.py d h kv blocks T   (single thread: the caller sets OPENBLAS_NUM_THREADS=1)"""
import sys, time
import numpy as np
from scipy.linalg import cho_factor, solve_triangular

def gptq(W, G, bits=4, group=128, B=128):
    m, n = W.shape
    H = 2.0 * G
    dead = np.diag(H) == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    H[np.diag_indices(n)] += 0.01 * np.mean(np.diag(H))
    L, _ = cho_factor(H[::-1, ::-1], lower=True, overwrite_a=True, check_finite=False)
    Linv = solve_triangular(L, np.eye(n), lower=True, overwrite_b=True, check_finite=False)
    U = np.ascontiguousarray(Linv[::-1, ::-1])
    del L, Linv, H
    qmax = 2 ** (bits - 1) - 1
    codes = np.zeros((m, n), dtype=np.int8)
    s = None
    for i1 in range(0, n, B):
        i2 = min(i1 + B, n)
        W1 = W[:, i1:i2].copy(); E1 = np.zeros((m, i2 - i1)); U1 = U[i1:i2, i1:i2]
        for i in range(i2 - i1):
            j = i1 + i
            if j % group == 0:
                amax = np.abs(W1[:, i:i + group]).max(axis=1) if i + group <= i2 - i1 else np.abs(np.concatenate([W1[:, i:], W[:, i2:j + group]], axis=1)).max(axis=1)
                s = np.where(amax > 0, amax / qmax, 1.0)
            w = W1[:, i]
            q = np.clip(np.floor(w / s + 0.5), -qmax - 1, qmax)
            codes[:, j] = q
            e = (w - s * q) / U1[i, i]
            W1[:, i:] -= np.outer(e, U1[i, i:])
            E1[:, i] = e
        W[:, i2:] -= E1 @ U[i1:i2, i2:]
    return codes

d, h, kv, blocks, T = (int(x) for x in sys.argv[1:6])
rng = np.random.default_rng(0)
shapes = [(d, d, 'q'), (kv, d, 'q'), (kv, d, 'q'), (d, d, 'o'), (h, d, 'g'), (h, d, 'g'), (d, h, 'down')]
t0 = time.perf_counter()
for _ in range(blocks):
    grams = {}
    for (m, n, key) in shapes:
        if key not in grams:
            X = rng.standard_normal((T, n))
            grams[key] = X.T @ X
        W = rng.standard_normal((m, n)).astype(np.float32).astype(np.float64)
        gptq(W, grams[key].copy())
print(time.perf_counter() - t0)
