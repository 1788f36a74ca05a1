#!/usr/bin/env python3
"""Same-run LAPACK reference for decompositions.bench.ts: reads a JSON list of cases on stdin,
prints a JSON list of {op, shape, dtype, ms} (best of `reps`). The parent sets single-threaded BLAS."""
import json, sys, time
import numpy as np
import scipy.linalg as sl

def rsvd(a, k, p=10, q=2, seed=0):
    rng = np.random.default_rng(seed)
    m, n = a.shape
    l = min(k + p, min(m, n))
    Y = a @ rng.standard_normal((n, l)).astype(a.dtype)
    Q, _ = np.linalg.qr(Y)
    for _ in range(q):
        Z, _ = np.linalg.qr(a.T @ Q)
        Q, _ = np.linalg.qr(a @ Z)
    B = Q.T @ a
    ub, s, vt = np.linalg.svd(B, full_matrices=False)
    return (Q @ ub)[:, :k], s[:k], vt[:k]

def run(case):
    op, shape, dtype, reps = case["op"], case["shape"], case["dtype"], case.get("reps", 1)
    rng = np.random.default_rng(1)
    dt = np.float32 if dtype == "f32" else np.float64
    a = rng.standard_normal(shape).astype(dt)
    if op in ("eigh", "cholesky"):
        n = shape[0]
        a = (a @ a.T / n + np.eye(n)).astype(dt) if op == "cholesky" else ((a + a.T) / 2).astype(dt)
    f = {
        "svd": lambda: np.linalg.svd(a, full_matrices=False),
        "eigh": lambda: np.linalg.eigh(a),
        "cholesky": lambda: np.linalg.cholesky(a),
        "qr": lambda: np.linalg.qr(a),
        "randomizedSvd": lambda: rsvd(a, case.get("k", 256)),
    }[op]
    f()  # warm-up (first-call overheads), like the TypeScript side
    best, best_cpu = float("inf"), float("inf")
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        f()
        best = min(best, time.perf_counter() - t); best_cpu = min(best_cpu, time.process_time() - c)
    return {"op": op, "shape": shape, "dtype": dtype, "ms": best * 1e3, "cpu_ms": best_cpu * 1e3}

cases = json.load(sys.stdin)
print(json.dumps({"numpy": np.__version__, "results": [run(c) for c in cases]}))
