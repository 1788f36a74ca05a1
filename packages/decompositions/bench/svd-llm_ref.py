#!/usr/bin/env python3
"""Same-run numpy reference for svd-llm.bench.ts: reads {dir, m, n, r, k, p, q} on stdin, loads the
same W, F, d the TypeScript side wrote, rebuilds G = D (F Fᵀ + s² I) D in f64 and times the same
pipeline: Cholesky whitening, randomized SVD of W·L (implicit operator, p oversampling, q power
iterations, QR re-orthonormalisation), factors W_u, W_v (projection form; the inverse form with a
triangular solve is timed separately). The parent sets
OPENBLAS_NUM_THREADS=1. Prints JSON {ms: {...}, sigma: [...], numpy}."""
import json, sys, time
import numpy as np
import scipy.linalg as sl

cfg = json.loads(sys.stdin.read())
m, n, r, k, p, q, s2 = cfg["m"], cfg["n"], cfg["r"], cfg["k"], cfg["p"], cfg["q"], cfg["noise"]
d = cfg["dir"]
W = np.fromfile(f"{d}/W.f64", dtype=np.float64).reshape(m, n)
F = np.fromfile(f"{d}/F.f64", dtype=np.float64).reshape(n, r)
D = np.fromfile(f"{d}/D.f64", dtype=np.float64)
Om = np.fromfile(f"{d}/Omega.f64", dtype=np.float64).reshape(n, k + p)
# built in place to keep the peak memory at ~2 n² doubles
G = F @ F.T
G[np.diag_indices(n)] += s2 * s2
G *= D[:, None]
G *= D[None, :]
ms = {}
t0 = time.perf_counter()
L = np.linalg.cholesky(G)
del G
t1 = time.perf_counter(); ms["cholesky"] = (t1 - t0) * 1e3
# A = W L; A x = W (L x); Aᵀ y = Lᵀ (Wᵀ y)
Y = W @ (L @ Om)
Q, _ = np.linalg.qr(Y)
for _ in range(q):
    Z, _ = np.linalg.qr(L.T @ (W.T @ Q))
    Q, _ = np.linalg.qr(W @ (L @ Z))
B = (L.T @ (W.T @ Q)).T  # Qᵀ A, (k+p) × n
ub, s, vt = np.linalg.svd(B, full_matrices=False)
U = (Q @ ub)[:, :k]; s = s[:k]; vt = vt[:k]
t2 = time.perf_counter(); ms["randomizedSvd"] = (t2 - t1) * 1e3
rs = np.sqrt(s)
Wu = U * rs[None, :]
# projection form: W_v = diag(σ^{-1/2}) U_kᵀ W
Wv = (U.T @ W) / rs[:, None]
t3 = time.perf_counter(); ms["factors"] = (t3 - t2) * 1e3
ms["total"] = (t3 - t0) * 1e3
# inverse form: W_v = diag(√σ) V_kᵀ L⁻¹  <=>  W_vᵀ = L⁻ᵀ (V_k diag(√σ))
t4 = time.perf_counter()
WvI = sl.solve_triangular(L, (vt.T * rs[None, :]), lower=True, trans="T").T
ms["factorsInverse"] = (time.perf_counter() - t4) * 1e3
x = np.fromfile(f"{d}/probe.f64", dtype=np.float64)
print(json.dumps({"numpy": np.__version__, "ms": ms, "sigma": s.tolist(), "probe": (Wu @ (Wv @ x)).tolist()}))
