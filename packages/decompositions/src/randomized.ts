/** Randomized SVD (Halko, Martinsson, Tropp 2011, Alg. 4.4 with QR re-orthonormalised power iterations). */
import { ArgumentError, Rng, type Backend, type Tensor } from '@llmpress/tensor';
import { alloc, checkMatrix, checkPositiveInt, copyOf, gemm, withCtx, tensorOf, transposeOf, type Ctx, type FA } from './internal/util.js';
import { formQt } from './internal/householder.js';
import { geqrf } from './qr.js';
import { svdRaw } from './svd.js';

export interface RandomizedSvdOptions {
  /** Extra sampled directions beyond k (default 10). */
  oversample?: number;
  /** Power (subspace) iterations, each re-orthonormalised by QR (default 2). */
  powerIterations?: number;
  /** Seed of the Gaussian test matrix (default 0): same seed, same result. */
  seed?: number;
  backend?: Backend;
}

/** Orthonormal basis of the columns of Y (rows × l, row-major) → Q (rows × l) by Householder QR. */
function orth(ctx: Ctx, Y: FA, rows: number, l: number): FA {
  const f = geqrf(ctx, transposeOf(Y, rows, l), rows, l);
  const Qt = formQt(ctx, f.V, f.tau, f.k, rows, l, 0);
  return transposeOf(Qt, l, rows);
}

/** Approximate top-k SVD: u m×k, s k, vt k×n. Cost O(mn(k+p)(2q+2)) in GEMMs. */
export function randomizedSvd(a: Tensor, k: number, options: RandomizedSvdOptions = {}): { u: Tensor; s: Tensor; vt: Tensor } {
  const fn = 'randomizedSvd';
  const [m, n] = checkMatrix(fn, 'a', a);
  const mn = Math.min(m, n);
  checkPositiveInt(fn, 'k', k, mn);
  const p = options.oversample ?? 10;
  if (!Number.isInteger(p) || p < 0) throw new ArgumentError(fn, 'options.oversample', p, 'must be a non-negative integer');
  const q = options.powerIterations ?? 2;
  if (!Number.isInteger(q) || q < 0 || q > 100) throw new ArgumentError(fn, 'options.powerIterations', q, 'must be an integer in [0, 100]');
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw new ArgumentError(fn, 'options.seed', seed, 'must be an integer');
  return withCtx(fn, a.dtype as 'f32' | 'f64', options.backend, (ctx) => {
    // resident in the backend's memory: the 2q + 2 GEMMs over A copy nothing in
    const A = ctx.work(m * n);
    A.set(a.contiguous().data as FA);
    const l = Math.min(k + p, mn);
    const rng = new Rng(seed);
    const Om = ctx.work(n * l);
    for (let i = 0; i < Om.length; i++) Om[i] = rng.normal();
    const Y = ctx.work(m * l);
    gemm(ctx, false, false, m, l, n, 1, A, 0, n, Om, 0, l, 0, Y, 0, l);
    let Q = orth(ctx, Y, m, l);
    const Z = ctx.work(n * l);
    for (let it = 0; it < q; it++) {
      gemm(ctx, true, false, n, l, m, 1, A, 0, n, Q, 0, l, 0, Z, 0, l);      // Z = Aᵀ Q
      const Qz = orth(ctx, Z, n, l);
      gemm(ctx, false, false, m, l, n, 1, A, 0, n, Qz, 0, l, 0, Y, 0, l);    // Y = A Qz
      Q = orth(ctx, Y, m, l);
    }
    // B = Qᵀ A (l × n), SVD of the small B
    const B = ctx.work(l * n);
    gemm(ctx, true, false, l, n, m, 1, Q, 0, l, A, 0, n, 0, B, 0, n);
    const r = svdRaw(ctx, B, l, n, 'thin'); // u: l × l, vt: l × n
    const U = alloc(ctx.dtype, m * k);
    gemm(ctx, false, false, m, k, l, 1, Q, 0, l, r.u!, 0, r.ucols, 0, U, 0, k);
    const s = alloc(ctx.dtype, k);
    for (let i = 0; i < k; i++) s[i] = r.s[i]!;
    return { u: tensorOf(ctx.dtype, U, [m, k]), s: tensorOf(ctx.dtype, s, [k]), vt: tensorOf(ctx.dtype, r.vt!.slice(0, k * n) as FA, [k, n]) };
  });
}
