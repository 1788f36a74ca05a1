/**
 * Divide and conquer for the symmetric tridiagonal eigenproblem (Cuppen 1981; deflation as in LAPACK
 * dlaed2; eigenvectors by the Gu–Eisenstat / Löwner recomputation of z, which keeps them orthogonal
 * without extended precision). The merge step's eigenvector update is one GEMM per merge, so the
 * O(n³) part of the work runs in the backend's GEMM.
 */
import { NoConvergenceError } from '@llmpress/tensor';
import { gemm, type Ctx, type FA } from './util.js';
import { tql2 } from '../eigh.js';

const SMALL = 32;
const EPS = 2 ** -52;

/**
 * Eigen-decomposition of the tridiagonal (d, e) (e[i] couples i, i+1). Returns eigenvalues ascending
 * and Z (n × n row-major, column j = eigenvector j) in the context dtype.
 */
export function stedc(ctx: Ctx, d: Float64Array, e: Float64Array, n: number): { w: Float64Array; Z: FA } {
  const Z = ctx.work(n * n);
  const w = new Float64Array(n);
  // scale to avoid over/underflow in the secular equation
  let scale = 0;
  for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(d[i]!), Math.abs(e[i]!));
  if (scale === 0) { for (let i = 0; i < n; i++) Z[i * n + i] = 1; return { w, Z }; }
  const ds = Float64Array.from(d, (x) => x / scale), es = Float64Array.from(e, (x) => x / scale);
  solve(ctx, ds, es, 0, n, w, Z, n);
  for (let i = 0; i < n; i++) w[i] = w[i]! * scale;
  return { w, Z };
}

/** Solves the sub-problem [lo, lo+s): writes eigenvalues to w[lo..] and the s × s eigenvector block into Z at (lo, lo). */
function solve(ctx: Ctx, d: Float64Array, e: Float64Array, lo: number, s: number, w: Float64Array, Z: FA, ldz: number): void {
  if (s <= SMALL) {
    const dd = d.slice(lo, lo + s), ee = new Float64Array(s);
    for (let i = 0; i < s - 1; i++) ee[i] = e[lo + i]!;
    const Zt = new Float64Array(s * s);
    for (let i = 0; i < s; i++) Zt[i * s + i] = 1;
    tql2(ctx.fn, dd, ee, s, Zt);
    const idx = Array.from(dd, (_, i) => i).sort((a, b) => dd[a]! - dd[b]!);
    for (let c = 0; c < s; c++) {
      w[lo + c] = dd[idx[c]!]!;
      const src = idx[c]! * s;
      for (let r = 0; r < s; r++) Z[(lo + r) * ldz + lo + c] = Zt[src + r]!;
    }
    return;
  }
  const n1 = s >> 1, n2 = s - n1, mid = lo + n1;
  const rho0 = e[mid - 1]!;
  const arho = Math.abs(rho0);
  d[mid - 1] = d[mid - 1]! - arho;
  d[mid] = d[mid]! - arho;
  solve(ctx, d, e, lo, n1, w, Z, ldz);
  solve(ctx, d, e, mid, n2, w, Z, ldz);
  merge(ctx, lo, n1, n2, arho, rho0 < 0 ? -1 : 1, w, Z, ldz);
}

/**
 * Merges: eigen-decomposition of diag(w1, w2) + ρ z zᵀ, z = [last row of Z1; sign·first row of Z2],
 * then Z ← blockdiag(Z1, Z2) · U.
 */
function merge(ctx: Ctx, lo: number, n1: number, n2: number, rho: number, sign: number, w: Float64Array, Z: FA, ldz: number): void {
  const s = n1 + n2;
  // the s × s block of eigenvectors so far (block diagonal), copied as columns we can permute/rotate
  const Q = ctx.work(s * s);
  for (let r = 0; r < n1; r++) for (let c = 0; c < n1; c++) Q[r * s + c] = Z[(lo + r) * ldz + lo + c]!;
  for (let r = 0; r < n2; r++) for (let c = 0; c < n2; c++) Q[(n1 + r) * s + n1 + c] = Z[(lo + n1 + r) * ldz + lo + n1 + c]!;
  const z = new Float64Array(s), dd = new Float64Array(s);
  for (let c = 0; c < n1; c++) z[c] = Z[(lo + n1 - 1) * ldz + lo + c]!;
  for (let c = 0; c < n2; c++) z[n1 + c] = sign * Z[(lo + n1) * ldz + lo + n1 + c]!;
  for (let i = 0; i < s; i++) dd[i] = w[lo + i]!;
  // normalise: ‖z‖² = 2 → z/√2, ρ·2
  for (let i = 0; i < s; i++) z[i] = z[i]! / Math.SQRT2;
  rho *= 2;
  // sort the poles ascending (columns of Q follow)
  const order = Array.from(dd, (_, i) => i).sort((a, b) => dd[a]! - dd[b]!);
  const D = Float64Array.from(order, (i) => dd[i]!), Zv = Float64Array.from(order, (i) => z[i]!);
  const perm = Int32Array.from(order); // column perm[j] of Q is the j-th sorted pole's vector
  // ---- deflation (dlaed2)
  let dmax = 0, zmax = 0;
  for (let i = 0; i < s; i++) { dmax = Math.max(dmax, Math.abs(D[i]!)); zmax = Math.max(zmax, Math.abs(Zv[i]!)); }
  const tol = 8 * EPS * Math.max(dmax, zmax);
  const deflated = new Uint8Array(s);
  const rotate = (ci: number, cj: number, c: number, sn: number) => {
    // columns ci, cj of Q: (qi, qj) ← (c qi − s qj?, ...) — Givens on columns
    const a = perm[ci]!, b = perm[cj]!;
    for (let r = 0; r < s; r++) {
      const x = Q[r * s + a]!, y = Q[r * s + b]!;
      Q[r * s + a] = c * x + sn * y;
      Q[r * s + b] = c * y - sn * x;
    }
  };
  if (rho * zmax <= tol) {
    for (let i = 0; i < s; i++) deflated[i] = 1;
  } else {
    let pj = -1;
    for (let i = 0; i < s; i++) {
      if (rho * Math.abs(Zv[i]!) <= tol) { deflated[i] = 1; continue; }
      if (pj < 0) { pj = i; continue; }
      // can z[pj] be rotated into z[i] (close poles)?
      const sz = Zv[pj]!, cz = Zv[i]!;
      const tau = Math.hypot(cz, sz);
      const c = cz / tau, sn = -sz / tau;
      const t = D[i]! - D[pj]!;
      if (Math.abs(t * c * sn) <= tol) {
        Zv[i] = tau; Zv[pj] = 0;
        // G = [c s; -s c] acting on (pj, i): q_pj' = c q_pj + s q_i ... choose so that z_pj → 0
        rotate(pj, i, c, sn);
        const dp = D[pj]! * c * c + D[i]! * sn * sn;
        D[i] = D[pj]! * sn * sn + D[i]! * c * c;
        D[pj] = dp;
        deflated[pj] = 1;
        pj = i;
      } else pj = i;
    }
  }
  const keep: number[] = [];
  for (let i = 0; i < s; i++) if (!deflated[i]) keep.push(i);
  const k = keep.length;
  // ---- secular equation for the k non-deflated poles
  const dk = Float64Array.from(keep, (i) => D[i]!), zk = Float64Array.from(keep, (i) => Zv[i]!);
  // D may be slightly unsorted after deflation rotations; keep order consistent
  const ko = Array.from(dk, (_, i) => i).sort((a, b) => dk[a]! - dk[b]!);
  const dK = Float64Array.from(ko, (i) => dk[i]!), zK = Float64Array.from(ko, (i) => zk[i]!), keepS = ko.map((i) => keep[i]!);
  const lam = new Float64Array(k);
  const origin = new Int32Array(k), tauv = new Float64Array(k);
  let zz = 0;
  for (let i = 0; i < k; i++) zz += zK[i]! * zK[i]!;
  for (let j = 0; j < k; j++) {
    const r = secular(ctx.fn, dK, zK, rho, j, k, zz);
    origin[j] = r.origin; tauv[j] = r.tau; lam[j] = dK[r.origin]! + r.tau;
  }
  // ---- Gu–Eisenstat: recompute ẑ from the computed roots
  const diffLam = (j: number, i: number) => (dK[origin[j]!]! - dK[i]!) + tauv[j]!; // λ_j − d_i
  const zh = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    let p = diffLam(k - 1, i) / rho;
    for (let j = 0; j < i; j++) p *= diffLam(j, i) / (dK[j]! - dK[i]!);
    for (let j = i; j < k - 1; j++) p *= diffLam(j, i) / (dK[j + 1]! - dK[i]!);
    zh[i] = Math.sign(zK[i]!) * Math.sqrt(Math.abs(p));
  }
  // ---- eigenvectors of the rank-one problem: u_j(i) = ẑ_i / (d_i − λ_j), normalised
  const U = ctx.work(k * k);
  const col = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    let nn = 0;
    for (let i = 0; i < k; i++) { const v = zh[i]! / -diffLam(j, i); col[i] = v; nn += v * v; }
    nn = 1 / Math.sqrt(nn);
    for (let i = 0; i < k; i++) U[i * k + j] = col[i]! * nn;
  }
  // ---- Z block ← Q[:, keep] · U (one GEMM) and the deflated columns as they are; sort by eigenvalue
  const Qk = ctx.work(s * k);
  for (let r = 0; r < s; r++) for (let j = 0; j < k; j++) Qk[r * k + j] = Q[r * s + perm[keepS[j]!]!]!;
  const Zk = ctx.work(s * k);
  gemm(ctx, false, false, s, k, k, 1, Qk, 0, k, U, 0, k, 0, Zk, 0, k);
  const vals: { v: number; src: number; defl: boolean }[] = [];
  for (let j = 0; j < k; j++) vals.push({ v: lam[j]!, src: j, defl: false });
  for (let i = 0; i < s; i++) if (deflated[i]) vals.push({ v: D[i]!, src: i, defl: true });
  vals.sort((a, b) => a.v - b.v);
  for (let c = 0; c < s; c++) {
    const x = vals[c]!;
    w[lo + c] = x.v;
    if (x.defl) { const qc = perm[x.src]!; for (let r = 0; r < s; r++) Z[(lo + r) * ldz + lo + c] = Q[r * s + qc]!; }
    else for (let r = 0; r < s; r++) Z[(lo + r) * ldz + lo + c] = Zk[r * k + x.src]!;
  }
  ctx.free(Q); ctx.free(U); ctx.free(Qk); ctx.free(Zk);
}

/**
 * Root j (0-based) of f(λ) = 1 + ρ Σ zᵢ²/(dᵢ − λ), in (d_j, d_{j+1}) or (d_{k-1}, d_{k-1} + ρ‖z‖²).
 * Returned as origin pole index and offset τ (λ = d_origin + τ) so that differences λ − dᵢ are accurate.
 * Safeguarded Newton on the shifted function with bisection fallback.
 */
function secular(fn: string, d: Float64Array, z: Float64Array, rho: number, j: number, k: number, zz: number): { origin: number; tau: number } {
  const last = j === k - 1;
  let origin: number, lo: number, hi: number;
  if (last) {
    origin = j; lo = 0; hi = rho * zz;
  } else {
    const gap = d[j + 1]! - d[j]!;
    // f at the midpoint decides which pole is nearer to the root
    const mid = gap / 2;
    let f = 1 / rho;
    for (let i = 0; i < k; i++) f += z[i]! * z[i]! / ((d[i]! - d[j]!) - mid);
    if (f >= 0) { origin = j; lo = 0; hi = mid; } else { origin = j + 1; lo = -mid; hi = 0; }
  }
  const d0 = d[origin]!;
  const delta = new Float64Array(k);
  for (let i = 0; i < k; i++) delta[i] = d[i]! - d0;
  // open interval (lo, hi) in τ, excluding the poles at its ends
  let tau = (lo + hi) / 2;
  for (let it = 0; it < 200; it++) {
    let f = 1 / rho, df = 0, absf = 1 / rho;
    for (let i = 0; i < k; i++) {
      const den = delta[i]! - tau;
      const t = z[i]! / den;
      const q = z[i]! * t;
      f += q; absf += Math.abs(q); df += t * t;
    }
    if (!Number.isFinite(f)) { // landed on a pole (only by rounding): nudge inward
      tau = (lo + hi) / 2; if (hi - lo <= EPS * Math.max(Math.abs(lo), Math.abs(hi))) break; continue;
    }
    if (Math.abs(f) <= 4 * k * EPS * absf) return { origin, tau };
    if (f > 0) hi = tau; else lo = tau;
    let next = tau - f / df;
    if (!(next > lo && next < hi)) next = (lo + hi) / 2;
    if (hi - lo <= 2 * EPS * Math.max(Math.abs(lo), Math.abs(hi), Number.MIN_VALUE)) return { origin, tau: next };
    tau = next;
  }
  if (hi - lo <= 1e3 * EPS * Math.max(Math.abs(lo), Math.abs(hi))) return { origin, tau };
  throw new NoConvergenceError(fn, 200, hi - lo);
}
