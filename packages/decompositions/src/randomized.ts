/** Randomized SVD (Halko, Martinsson, Tropp 2011, Alg. 4.4 with QR re-orthonormalised power iterations). */
import { ArgumentError, Rng, type Backend, type Tensor } from '@llmpress/tensor';
import { alloc, checkMatrix, checkPositiveInt, gemm, withCtx, tensorOf, type Ctx, type FA } from './internal/util.js';
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

/**
 * Orthonormal basis of the columns of Y, given and returned transposed: Yt (l × rows, row j = column
 * j of Y) → Qt (l × rows) by Householder QR (geqrf works on the transposed layout, so no copies).
 */
function orthT(ctx: Ctx, Yt: FA, rows: number, l: number): FA {
  const f = geqrf(ctx, Yt, rows, l);
  const Qt = formQt(ctx, f.V, f.tau, f.k, rows, l, 0);
  ctx.free(f.At);
  ctx.free(f.V);
  return Qt;
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
    // the sample bases are kept transposed (l × m, l × n): Yᵀ = Ωᵀ Aᵀ, Zᵀ = Qᵀ A, Yᵀ = Q_zᵀ Aᵀ, so the
    // QR factorisations (on the transposed layout) need no transposes
    const Yt = ctx.work(l * m);
    gemm(ctx, true, true, l, m, n, 1, Om, 0, l, A, 0, n, 0, Yt, 0, m);
    ctx.free(Om);
    let Qt = orthT(ctx, Yt, m, l);
    const Zt = ctx.work(l * n);
    for (let it = 0; it < q; it++) {
      gemm(ctx, false, false, l, n, m, 1, Qt, 0, m, A, 0, n, 0, Zt, 0, n); // Zᵀ = Qᵀ A
      const Qzt = orthT(ctx, Zt, n, l);
      gemm(ctx, false, true, l, m, n, 1, Qzt, 0, n, A, 0, n, 0, Yt, 0, m); // Yᵀ = Q_zᵀ Aᵀ
      ctx.free(Qzt);
      ctx.free(Qt);
      Qt = orthT(ctx, Yt, m, l);
    }
    // B = Qᵀ A (l × n), SVD of the small B
    const B = ctx.work(l * n);
    gemm(ctx, false, false, l, n, m, 1, Qt, 0, m, A, 0, n, 0, B, 0, n);
    const r = svdRaw(ctx, B, l, n, 'thin'); // u: l × l, vt: l × n
    const U = alloc(ctx.dtype, m * k);
    gemm(ctx, true, false, m, k, l, 1, Qt, 0, m, r.u!, 0, r.ucols, 0, U, 0, k);
    const s = alloc(ctx.dtype, k);
    for (let i = 0; i < k; i++) s[i] = r.s[i]!;
    return { u: tensorOf(ctx.dtype, U, [m, k]), s: tensorOf(ctx.dtype, s, [k]), vt: tensorOf(ctx.dtype, r.vt!.slice(0, k * n) as FA, [k, n]) };
  });
}
