/**
 * Compact-WY block reflectors. Reflector r of a sequence is stored explicitly as row r of a
 * row-major matrix V (k × m): zeros before its start s_r, 1 at s_r, its tail after. The product
 * H_{r0} ⋯ H_{r1-1} = I − V_bᵀ T V_b with T upper triangular (LAPACK dlarft, forward, columnwise).
 * Every update is three GEMMs through the backend.
 */
import { gemm, type Ctx, type FA } from './util.js';

/** Block size for the blocked algorithms. */
export const NB = 96;

/**
 * T (nb × nb, upper) for reflectors Vb (nb rows of length len, row stride ld, offset vo) and taus.
 * Uses one GEMM for the Gram matrix Vb Vbᵀ, then O(nb³) scalar work.
 */
export function larft(ctx: Ctx, V: FA, vo: number, ld: number, nb: number, len: number, tau: ArrayLike<number>, tauOff: number): FA {
  const G = ctx.work(nb * nb);
  gemm(ctx, false, true, nb, nb, len, 1, V, vo, ld, V, vo, ld, 0, G, 0, nb);
  const T = new Float64Array(nb * nb);
  const z = new Float64Array(nb);
  for (let i = 0; i < nb; i++) {
    const ti = tau[tauOff + i]!;
    T[i * nb + i] = ti;
    if (i === 0) continue;
    // T[0:i, i] = -tau_i T[0:i,0:i] (Vᵀ v_i)[0:i]
    for (let j = 0; j < i; j++) z[j] = G[j * nb + i]!;
    for (let r = 0; r < i; r++) {
      let s = 0;
      for (let c = r; c < i; c++) s += T[r * nb + c]! * z[c]!;
      T[r * nb + i] = -ti * s;
    }
  }
  ctx.free(G);
  const out = ctx.work(nb * nb);
  out.set(T);
  return out;
}

/**
 * X ← X − (X Vbᵀ) op(T) Vb for X (rows × len, row stride ldx, offset xo), Vb (nb × len).
 * With op(T) = T this is X·(H_{r0}⋯H_{r1-1}); with Tᵀ it is X·(H_{r0}⋯H_{r1-1})ᵀ.
 */
export function applyBlockRight(
  ctx: Ctx,
  X: FA,
  xo: number,
  ldx: number,
  rows: number,
  len: number,
  V: FA,
  vo: number,
  ldv: number,
  nb: number,
  T: FA,
  transT: boolean,
): void {
  if (rows <= 0 || len <= 0 || nb <= 0) return;
  const W = ctx.work(rows * nb);
  gemm(ctx, false, true, rows, nb, len, 1, X, xo, ldx, V, vo, ldv, 0, W, 0, nb);
  const W2 = ctx.work(rows * nb);
  gemm(ctx, false, transT, rows, nb, nb, 1, W, 0, nb, T, 0, nb, 0, W2, 0, nb);
  gemm(ctx, false, false, rows, len, nb, -1, W2, 0, nb, V, vo, ldv, 1, X, xo, ldx);
  ctx.free(W);
  ctx.free(W2);
}

/**
 * Qᵀ stored row-major (ncols × m), i.e. row j = column j of Q = H_0 H_1 ⋯ H_{k-1}, where reflector
 * r starts at index r + shift and is row r of V (k × m). Blocked backward accumulation (dorgqr) in
 * blocks of `bs` reflectors.
 */
export function formQt(ctx: Ctx, V: FA, tau: ArrayLike<number>, k: number, m: number, ncols: number, shift: number, bs: number = NB): FA {
  const Qt = ctx.work(ncols * m);
  for (let j = 0; j < Math.min(ncols, m); j++) Qt[j * m + j] = 1;
  if (k <= 0) return Qt;
  const nblocks = Math.ceil(k / bs);
  for (let b = nblocks - 1; b >= 0; b--) {
    const r0 = b * bs,
      r1 = Math.min(k, r0 + bs),
      nb = r1 - r0;
    const c0 = r0 + shift;
    if (c0 >= m) continue;
    const len = m - c0;
    const T = larft(ctx, V, r0 * m + c0, m, nb, len, tau, r0);
    // rows c0..ncols-1 of Qt are the only ones with non-zeros in columns ≥ c0
    const rowStart = Math.min(c0, ncols);
    applyBlockRight(ctx, Qt, rowStart * m + c0, m, ncols - rowStart, len, V, r0 * m + c0, m, nb, T, true);
    ctx.free(T);
  }
  return Qt;
}

/**
 * X ← Q X in place for X (m × nc row-major), Q = H_0 ⋯ H_{k-1} stored as in `formQt`. Blocks are
 * applied last to first, each as three GEMMs (X[c0:] −= Vbᵀ (T (Vb X[c0:]))): about 2·m²·nc flops
 * in all, against 4/3·m³ + 2·m²·nc for forming Q and multiplying.
 */
export function applyQLeft(ctx: Ctx, V: FA, tau: ArrayLike<number>, k: number, m: number, shift: number, X: FA, nc: number): void {
  if (k <= 0 || nc <= 0) return;
  const nblocks = Math.ceil(k / NB);
  for (let b = nblocks - 1; b >= 0; b--) {
    const r0 = b * NB,
      r1 = Math.min(k, r0 + NB),
      nb = r1 - r0;
    const c0 = r0 + shift;
    if (c0 >= m) continue;
    const len = m - c0;
    const T = larft(ctx, V, r0 * m + c0, m, nb, len, tau, r0);
    const W1 = ctx.work(nb * nc),
      W2 = ctx.work(nb * nc);
    gemm(ctx, false, false, nb, nc, len, 1, V, r0 * m + c0, m, X, c0 * nc, nc, 0, W1, 0, nc);
    gemm(ctx, false, false, nb, nc, nb, 1, T, 0, nb, W1, 0, nc, 0, W2, 0, nc);
    gemm(ctx, true, false, len, nc, nb, -1, V, r0 * m + c0, m, W2, 0, nc, 1, X, c0 * nc, nc);
    ctx.free(T);
    ctx.free(W1);
    ctx.free(W2);
  }
}
