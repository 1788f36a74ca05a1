/**
 * SVD: (QR when tall) → Householder bidiagonalisation → implicit-shift bidiagonal QR (LINPACK dsvdc /
 * Golub–Kahan–Reinsch with Wilkinson shift), rotations applied to rows of Uᵀ and Vᵀ (contiguous).
 */
import { ArgumentError, NoConvergenceError, type Backend, type Tensor } from '@llmpress/tensor';
import { alloc, checkMatrix, checkPositiveInt, copyOf, gemm, gemv, house, withCtx, rot, tensorOf, transposeOf, type Ctx, type FA } from './internal/util.js';
import { applyQLeft, formQt } from './internal/householder.js';
import { RotationBatch, rotKernels } from './internal/rot-kernel.js';
import { extractR, geqrf } from './qr.js';

export interface SvdOptions {
  /** 'thin' (default): u m×k, vt k×n (k = min(m, n)); 'full': u m×m, vt n×n; 'none': s only. */
  vectors?: 'thin' | 'full' | 'none';
  backend?: Backend;
}
export interface SvdResult {
  u?: Tensor;
  s: Tensor;
  vt?: Tensor;
}

const MAX_ITER = 75;

/** √(a² + b²): the plain formula inside a safe range (Math.hypot is several times slower), hypot outside. */
function pyth(a: number, b: number): number {
  const t = a * a + b * b;
  return t > 1e-290 && t < 1e290 ? Math.sqrt(t) : Math.hypot(a, b);
}

/**
 * Golub–Kahan bidiagonalisation of a square n×n row-major B (in place): B = Q_L · bidiag(d, e) · Q_Rᵀ.
 * Left reflector j starts at row j (rows of VL), right reflector j at column j+1 (rows of VR).
 */
export function gebrd(ctx: Ctx, B0: FA, n: number, wantVectors: boolean) {
  const d = new Float64Array(n),
    e = new Float64Array(n);
  const tauL = new Float64Array(n),
    tauR = new Float64Array(Math.max(0, n - 2));
  // Blocked (LAPACK dlabrd-style): within a panel of NB steps the matrix is kept as
  // Â = A0 − Σ u_j y_jᵀ − Σ x_j v_jᵀ (A0 = panel-start matrix, untouched), so each step costs two
  // GEMV passes over the trailing matrix; the panel is then applied with two GEMMs.
  const NBB = 32;
  const A = ctx.work(n * n);
  A.set(B0);
  const VL = ctx.work(n * n); // row g = left reflector u_g (1 at g)
  const VR = ctx.work(n * n); // row g = right reflector v_g (1 at g+1); rows ≥ n-2 stay 0
  const Yt = ctx.work(NBB * n),
    Xt = ctx.work(NBB * n);
  const col = ctx.work(n),
    rowv = ctx.work(n);
  const sv = (len: number) => alloc(ctx.dtype, len);
  const yg = sv(NBB),
    vg = sv(NBB),
    ug = sv(NBB + 1),
    xg = sv(NBB),
    t1 = sv(NBB),
    t2 = sv(NBB),
    t3 = sv(NBB + 1),
    t4 = sv(NBB);
  for (let k0 = 0; k0 < n; k0 += NBB) {
    const nb = Math.min(NBB, n - k0);
    Yt.fill(0);
    Xt.fill(0);
    for (let i = 0; i < nb; i++) {
      const g = k0 + i,
        len = n - g,
        blk = k0 * n;
      // 1. column g of Â, rows g..n-1
      for (let r = 0; r < len; r++) col[r] = A[(g + r) * n + g]!;
      if (i > 0) {
        for (let j = 0; j < i; j++) {
          yg[j] = Yt[j * n + g]!;
          vg[j] = VR[(k0 + j) * n + g]!;
        }
        gemv(ctx, true, i, len, -1, VL, blk + g, n, yg, 0, 1, col, 0);
        gemv(ctx, true, i, len, -1, Xt, g, n, vg, 0, 1, col, 0);
      }
      const tq = house(col, 0, len);
      d[g] = col[0]!;
      col[0] = 1;
      tauL[g] = tq;
      const uo = g * n;
      VL.set(col.subarray(0, len), uo + g);
      const nc = n - g - 1;
      if (nc <= 0) continue;
      // 3. y_i = τq Âᵀ u over columns g+1..  (= A0ᵀu − Y(Uᵀu) − V(Xᵀu))
      const yo = i * n + g + 1;
      if (tq !== 0) {
        gemv(ctx, true, len, nc, 1, A, g * n + g + 1, n, VL, uo + g, 0, Yt, yo);
        if (i > 0) {
          gemv(ctx, false, i, len, 1, VL, blk + g, n, VL, uo + g, 0, t1, 0);
          gemv(ctx, false, i, len, 1, Xt, g, n, VL, uo + g, 0, t2, 0);
          gemv(ctx, true, i, nc, -1, Yt, g + 1, n, t1, 0, 1, Yt, yo);
          gemv(ctx, true, i, nc, -1, VR, blk + g + 1, n, t2, 0, 1, Yt, yo);
        }
        for (let c = 0; c < nc; c++) Yt[yo + c] = Yt[yo + c]! * tq;
      }
      // row g of Â after the left reflector: A0[g, g+1:] − Σ_{j≤i} u_j[g] y_j − Σ_{j<i} x_j[g] v_j
      rowv.set(A.subarray(g * n + g + 1, g * n + g + 1 + nc), 0);
      for (let j = 0; j <= i; j++) ug[j] = VL[(k0 + j) * n + g]!;
      gemv(ctx, true, i + 1, nc, -1, Yt, g + 1, n, ug, 0, 1, rowv, 0);
      if (i > 0) {
        for (let j = 0; j < i; j++) xg[j] = Xt[j * n + g]!;
        gemv(ctx, true, i, nc, -1, VR, blk + g + 1, n, xg, 0, 1, rowv, 0);
      }
      if (nc === 1) {
        e[g] = rowv[0]!;
        continue;
      }
      // 4. right reflector v_g from the row
      const tp = house(rowv, 0, nc);
      e[g] = rowv[0]!;
      rowv[0] = 1;
      tauR[g] = tp;
      const vo = g * n + g + 1;
      VR.set(rowv.subarray(0, nc), vo);
      if (tp === 0) continue;
      // 5. x_i = τp Â v over rows g+1..  (= A0 v − U(Yᵀv) − X(Vᵀv))
      const xo = i * n + g + 1;
      gemv(ctx, false, nc, nc, 1, A, (g + 1) * n + g + 1, n, VR, vo, 0, Xt, xo);
      gemv(ctx, false, i + 1, nc, 1, Yt, g + 1, n, VR, vo, 0, t3, 0);
      gemv(ctx, true, i + 1, nc, -1, VL, blk + g + 1, n, t3, 0, 1, Xt, xo);
      if (i > 0) {
        gemv(ctx, false, i, nc, 1, VR, blk + g + 1, n, VR, vo, 0, t4, 0);
        gemv(ctx, true, i, nc, -1, Xt, g + 1, n, t4, 0, 1, Xt, xo);
      }
      for (let c = 0; c < nc; c++) Xt[xo + c] = Xt[xo + c]! * tp;
    }
    // apply the panel: A0[k1:, k1:] −= U[:, k1:]ᵀ Y[:, k1:] + X[:, k1:]ᵀ V[:, k1:]
    const k1 = k0 + nb;
    if (k1 < n) {
      const N2 = n - k1;
      gemm(ctx, true, false, N2, N2, nb, -1, VL, k0 * n + k1, n, Yt, k1, n, 1, A, k1 * n + k1, n);
      gemm(ctx, true, false, N2, N2, nb, -1, Xt, k1, n, VR, k0 * n + k1, n, 1, A, k1 * n + k1, n);
    }
  }
  e[n - 1] = 0;
  ctx.free(A);
  ctx.free(Yt);
  ctx.free(Xt);
  ctx.free(col);
  ctx.free(rowv);
  if (!wantVectors) {
    ctx.free(VL);
    ctx.free(VR);
  }
  return { d, e, VL: wantVectors ? VL : null, tauL, VR: wantVectors ? VR : null, tauR };
}

/**
 * Precomputed singular values (from a values-only run), used by `bdsqr` only as shift guesses:
 * `nearest(x)` is the closest one not yet taken, `take(x)` marks the closest untaken one as converged.
 */
export class ShiftGuesses {
  private v: Float64Array;
  private used: Uint8Array;
  constructor(values: Float64Array) {
    this.v = Float64Array.from(values).sort();
    this.used = new Uint8Array(values.length);
  }
  private find(x: number): number {
    const v = this.v;
    let lo = 0,
      hi = v.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (v[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    let l = lo - 1,
      r = lo;
    while (l >= 0 && this.used[l]) l--;
    while (r < v.length && this.used[r]) r++;
    if (l < 0) return r < v.length ? r : -1;
    if (r >= v.length) return l;
    return x - v[l]! <= v[r]! - x ? l : r;
  }
  nearest(x: number): number {
    const i = this.find(x);
    return i < 0 ? x : this.v[i]!;
  }
  take(x: number): void {
    const i = this.find(x);
    if (i >= 0) this.used[i] = 1;
  }
}

/**
 * Singular values of the upper bidiagonal (s, e) (e[k] couples k, k+1; e[n-1] = 0) by implicit-shift
 * QR (LINPACK dsvdc structure). Ut / Vt rows (n × ldu / n × ldv) receive the left / right rotations.
 * With `guesses` (the singular values from a values-only run) the first sweep after each deflation
 * is shifted by the guess nearest the Wilkinson estimate — an exact shift deflates in one sweep in
 * exact arithmetic — and later sweeps use the Wilkinson shift; the convergence tests are the same,
 * so a poor guess costs sweeps, not accuracy. On return s ≥ 0 (unsorted).
 */
export function bdsqr(
  fn: string,
  s: Float64Array,
  e: Float64Array,
  n: number,
  Ut: FA | null,
  ldu: number,
  Vt: FA | null,
  ldv: number,
  guesses: ShiftGuesses | null = null,
): void {
  const eps = 2 ** -52,
    tiny = 2 ** -966;
  let p = n,
    iter = 0,
    total = 0;
  // rotations go to a batched WASM SIMD kernel when available (JS rot otherwise)
  const K = (Ut || Vt) && n >= 16 ? rotKernels() : null;
  // 32n rotations per batch (about 30 sweeps): each column chunk is loaded from L3 once per batch;
  // at 1024² f64 the kernel time measured ≈ 0.5 s with 32n against ≈ 0.62 s with 8n
  const RB = K ? new RotationBatch(K, Ut, n, ldu, Vt, n, ldv, Math.max(256, 32 * n)) : null;
  const rotU = RB
    ? (a: number, b: number, c: number, sn: number) => RB.u(a, b, c, sn)
    : Ut
      ? (a: number, b: number, c: number, sn: number) => rot(Ut, a * ldu, b * ldu, ldu, c, sn)
      : null;
  const rotV = RB
    ? (a: number, b: number, c: number, sn: number) => RB.v(a, b, c, sn)
    : Vt
      ? (a: number, b: number, c: number, sn: number) => rot(Vt, a * ldv, b * ldv, ldv, c, sn)
      : null;
  try {
    while (p > 0) {
      let k: number, kase: number;
      for (k = p - 2; k >= -1; k--) {
        if (k === -1) break;
        if (Math.abs(e[k]!) <= tiny + eps * (Math.abs(s[k]!) + Math.abs(s[k + 1]!))) {
          e[k] = 0;
          break;
        }
      }
      if (k === p - 2) kase = 4;
      else {
        let ks: number;
        for (ks = p - 1; ks >= k; ks--) {
          if (ks === k) break;
          const t = (ks !== p ? Math.abs(e[ks]!) : 0) + (ks !== k + 1 ? Math.abs(e[ks - 1]!) : 0);
          if (Math.abs(s[ks]!) <= tiny + eps * t) {
            s[ks] = 0;
            break;
          }
        }
        if (ks === k) kase = 3;
        else if (ks === p - 1) kase = 1;
        else {
          kase = 2;
          k = ks;
        }
      }
      k++;
      switch (kase) {
        case 1: {
          // deflate negligible s[p-1]
          let f = e[p - 2]!;
          e[p - 2] = 0;
          for (let j = p - 2; j >= k; j--) {
            const t = pyth(s[j]!, f);
            const cs = s[j]! / t,
              sn = f / t;
            s[j] = t;
            if (j !== k) {
              f = -sn * e[j - 1]!;
              e[j - 1] = cs * e[j - 1]!;
            }
            rotV?.(j, p - 1, cs, sn);
          }
          break;
        }
        case 2: {
          // split at negligible s[k-1]
          let f = e[k - 1]!;
          e[k - 1] = 0;
          for (let j = k; j < p; j++) {
            const t = pyth(s[j]!, f);
            const cs = s[j]! / t,
              sn = f / t;
            s[j] = t;
            f = -sn * e[j]!;
            e[j] = cs * e[j]!;
            rotU?.(j, k - 1, cs, sn);
          }
          break;
        }
        case 3: {
          // one implicit QR step
          if (++iter > MAX_ITER) {
            let res = 0;
            for (let i = 0; i < p - 1; i++) res = Math.max(res, Math.abs(e[i]!));
            throw new NoConvergenceError(fn, total, res);
          }
          total++;
          const scale = Math.max(Math.abs(s[p - 1]!), Math.abs(s[p - 2]!), Math.abs(e[p - 2]!), Math.abs(s[k]!), Math.abs(e[k]!));
          const sp = s[p - 1]! / scale,
            spm1 = s[p - 2]! / scale,
            epm1 = e[p - 2]! / scale;
          const sk = s[k]! / scale,
            ek = e[k]! / scale;
          const b = ((spm1 + sp) * (spm1 - sp) + epm1 * epm1) / 2;
          const c = sp * epm1 * (sp * epm1);
          let shift = 0;
          if (b !== 0 || c !== 0) {
            shift = Math.sqrt(b * b + c);
            if (b < 0) shift = -shift;
            shift = c / (b + shift);
          }
          let f = (sk + sp) * (sk - sp) + shift;
          if (guesses && iter === 1) {
            const sg = guesses.nearest(scale * Math.sqrt(Math.max(0, sp * sp - shift))) / scale;
            if (Number.isFinite(sg)) f = (sk + sg) * (sk - sg);
          }
          let g = sk * ek;
          for (let j = k; j < p - 1; j++) {
            let t = pyth(f, g),
              r = 1 / t;
            let cs = f * r,
              sn = g * r;
            if (j !== k) e[j - 1] = t;
            f = cs * s[j]! + sn * e[j]!;
            e[j] = cs * e[j]! - sn * s[j]!;
            g = sn * s[j + 1]!;
            s[j + 1] = cs * s[j + 1]!;
            rotV?.(j, j + 1, cs, sn);
            t = pyth(f, g);
            r = 1 / t;
            cs = f * r;
            sn = g * r;
            s[j] = t;
            f = cs * e[j]! + sn * s[j + 1]!;
            s[j + 1] = -sn * e[j]! + cs * s[j + 1]!;
            g = sn * e[j + 1]!;
            e[j + 1] = cs * e[j + 1]!;
            rotU?.(j, j + 1, cs, sn);
          }
          e[p - 2] = f;
          if (!Number.isFinite(f)) throw new NoConvergenceError(fn, total, NaN);
          break;
        }
        case 4: {
          // convergence of s[k]
          if (s[k]! <= 0) {
            s[k] = s[k]! < 0 ? -s[k]! : 0;
            if (RB) RB.v(k, k, -1, 0);
            else if (Vt) {
              const o = k * ldv;
              for (let i = 0; i < ldv; i++) Vt[o + i] = -Vt[o + i]!;
            }
          }
          iter = 0;
          guesses?.take(s[k]!);
          p--;
          break;
        }
      }
    }
  } finally {
    RB?.finish();
  }
}

/** Descending order permutation of s. */
function descPerm(s: Float64Array): number[] {
  const idx = Array.from(s, (_, i) => i);
  idx.sort((x, y) => s[y]! - s[x]!);
  return idx;
}

function permuteRows(X: FA, perm: number[], ld: number): FA {
  const out = new (X.constructor as any)(X.length) as FA;
  for (let i = 0; i < perm.length; i++) out.set(X.subarray(perm[i]! * ld, perm[i]! * ld + ld), i * ld);
  return out;
}

export interface RawSvd {
  s: Float64Array;
  u: FA | null;
  ucols: number;
  vt: FA | null;
}

/** SVD of a tall (m ≥ n) row-major matrix. Returns u (m × ucols), s (n), vt (n × n). */
export function svdTall(ctx: Ctx, A: FA, m: number, n: number, mode: 'thin' | 'full' | 'none'): RawSvd {
  const want = mode !== 'none';
  let R: FA;
  let qf: ReturnType<typeof geqrf> | null = null;
  if (m > n) {
    qf = geqrf(ctx, transposeOf(A, m, n), m, n);
    R = extractR(ctx.dtype, qf, m, n, n);
  } else R = A;
  const { d, e, VL, tauL, VR, tauR } = gebrd(ctx, R, n, want);
  if (!want) {
    bdsqr(ctx.fn, d, e, n, null, 0, null, 0);
    return { s: Float64Array.from(descPerm(d), (i) => d[i]!), u: null, ucols: 0, vt: null };
  }
  // square n×n Q's: blocks of 48 reflectors measured ≈10% faster than NB = 96 at n = 1024 (fewer
  // flops on the zero triangles of the block reflectors)
  let Ut = formQt(ctx, VL!, tauL, n, n, n, 0, 48);
  let Vt = formQt(ctx, VR!, tauR, Math.max(0, n - 2), n, n, 1, 48);
  // singular values first (O(n²)), as shift guesses for the O(n³) vector-accumulating sweeps: at
  // 1024² f64 about 0.75·n² rotations per side instead of 0.85·n²
  let guesses: ShiftGuesses | null = null;
  try {
    const d2 = d.slice(),
      e2 = e.slice();
    bdsqr(ctx.fn, d2, e2, n, null, 0, null, 0);
    guesses = new ShiftGuesses(d2);
  } catch (err) {
    if (!(err instanceof NoConvergenceError)) throw err;
  }
  bdsqr(ctx.fn, d, e, n, Ut, n, Vt, n, guesses);
  const perm = descPerm(d);
  const s = Float64Array.from(perm, (i) => d[i]!);
  Vt = permuteRows(Vt, perm, n);
  if (!qf) {
    // U = (permuted Ut)ᵀ in one pass: U[i, j] = Ut[perm[j], i]
    const U = alloc(ctx.dtype, n * n);
    for (let j0 = 0; j0 < n; j0 += 32) {
      const j1 = Math.min(n, j0 + 32);
      for (let i0 = 0; i0 < n; i0 += 32) {
        const i1 = Math.min(n, i0 + 32);
        for (let j = j0; j < j1; j++) {
          const o = perm[j]! * n;
          for (let i = i0; i < i1; i++) U[i * n + j] = Ut[o + i]!;
        }
      }
    }
    return { s, u: U, ucols: n, vt: Vt };
  }
  Ut = permuteRows(Ut, perm, n);
  // U = Q · [U_R 0; 0 I] with the QR reflectors applied directly (LAPACK dormqr): about 4mn² − 2n³
  // flops for the thin U, against 4mn² − 4n³/3 to form Q plus 2mn² to multiply
  const cols = mode === 'thin' ? n : m;
  const X = ctx.work(m * cols);
  for (let i = 0; i < n; i++) {
    const o = i * cols;
    for (let j = 0; j < n; j++) X[o + j] = Ut[j * n + i]!;
  }
  for (let j = n; j < cols; j++) X[j * cols + j] = 1;
  applyQLeft(ctx, qf.V, qf.tau, n, m, 0, X, cols);
  const U = alloc(ctx.dtype, m * cols);
  U.set(X);
  ctx.free(X);
  return { s, u: U, ucols: cols, vt: Vt };
}

/** Any-shape raw SVD (wide matrices go through the transpose). u: m × ucols, vt: vrows × n. */
export function svdRaw(
  ctx: Ctx,
  A: FA,
  m: number,
  n: number,
  mode: 'thin' | 'full' | 'none',
): { s: Float64Array; u: FA | null; ucols: number; vt: FA | null; vrows: number } {
  if (m >= n) {
    const r = svdTall(ctx, A, m, n, mode);
    return { s: r.s, u: r.u, ucols: r.ucols, vt: r.vt, vrows: n };
  }
  // Aᵀ = U' S V'ᵀ  ⇒  A = V' S U'ᵀ
  const r = svdTall(ctx, transposeOf(A, m, n), n, m, mode);
  if (mode === 'none') return { s: r.s, u: null, ucols: 0, vt: null, vrows: 0 };
  const u = transposeOf(r.vt!, m, m); // m × m
  const vt = transposeOf(r.u!, n, r.ucols); // ucols × n
  return { s: r.s, u, ucols: m, vt, vrows: r.ucols };
}

function checkVectors(fn: string, v: unknown): 'thin' | 'full' | 'none' {
  const x = v ?? 'thin';
  if (x !== 'thin' && x !== 'full' && x !== 'none') throw new ArgumentError(fn, 'options.vectors', x, "must be 'thin', 'full' or 'none'");
  return x;
}

function sTensor(ctx: Ctx, s: Float64Array, k = s.length): Tensor {
  const out = alloc(ctx.dtype, k);
  for (let i = 0; i < k; i++) out[i] = s[i]!;
  return tensorOf(ctx.dtype, out, [k]);
}

/** Singular value decomposition `A = U diag(s) Vᵀ`; s non-negative and non-increasing. */
export function svd(a: Tensor, options: SvdOptions & { vectors: 'none' }): { s: Tensor };
export function svd(a: Tensor, options?: SvdOptions & { vectors?: 'thin' | 'full' }): Required<SvdResult>;
export function svd(a: Tensor, options?: SvdOptions): SvdResult;
export function svd(a: Tensor, options: SvdOptions = {}): SvdResult {
  const fn = 'svd';
  const [m, n] = checkMatrix(fn, 'a', a);
  const mode = checkVectors(fn, options.vectors);
  return withCtx(fn, a.dtype as 'f32' | 'f64', options.backend, (ctx) => {
    const r = svdRaw(ctx, copyOf(a), m, n, mode);
    const s = sTensor(ctx, r.s);
    if (mode === 'none') return { s };
    return { u: tensorOf(ctx.dtype, r.u!, [m, r.ucols]), s, vt: tensorOf(ctx.dtype, r.vt!, [r.vrows, n]) };
  });
}

/** Singular values only (non-increasing). */
export function svdvals(a: Tensor, options: { backend?: Backend } = {}): Tensor {
  const fn = 'svdvals';
  const [m, n] = checkMatrix(fn, 'a', a);
  return withCtx(fn, a.dtype as 'f32' | 'f64', options.backend, (ctx) => {
    return sTensor(ctx, svdRaw(ctx, copyOf(a), m, n, 'none').s);
  });
}

/** Best rank-k approximation factors (exact SVD, then the top k): u m×k, s k, vt k×n. */
export function truncatedSvd(a: Tensor, k: number, options: { backend?: Backend } = {}): Required<SvdResult> {
  const fn = 'truncatedSvd';
  const [m, n] = checkMatrix(fn, 'a', a);
  checkPositiveInt(fn, 'k', k, Math.min(m, n));
  return withCtx(fn, a.dtype as 'f32' | 'f64', options.backend, (ctx) => {
    const r = svdRaw(ctx, copyOf(a), m, n, 'thin');
    const u = alloc(ctx.dtype, m * k);
    for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) u[i * k + j] = r.u![i * r.ucols + j]!;
    const vt = r.vt!.slice(0, k * n) as FA;
    return { u: tensorOf(ctx.dtype, u, [m, k]), s: sTensor(ctx, r.s, k), vt: tensorOf(ctx.dtype, vt, [k, n]) };
  });
}
