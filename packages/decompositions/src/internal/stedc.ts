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
  if (scale === 0) {
    for (let i = 0; i < n; i++) Z[i * n + i] = 1;
    return { w, Z };
  }
  const ds = Float64Array.from(d, (x) => x / scale),
    es = Float64Array.from(e, (x) => x / scale);
  solve(ctx, ds, es, 0, n, w, Z, n);
  for (let i = 0; i < n; i++) w[i] = w[i]! * scale;
  return { w, Z };
}

/** Solves the sub-problem [lo, lo+s): writes eigenvalues to w[lo..] and the s × s eigenvector block into Z at (lo, lo). */
function solve(ctx: Ctx, d: Float64Array, e: Float64Array, lo: number, s: number, w: Float64Array, Z: FA, ldz: number): void {
  if (s <= SMALL) {
    const dd = d.slice(lo, lo + s),
      ee = new Float64Array(s);
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
  const n1 = s >> 1,
    n2 = s - n1,
    mid = lo + n1;
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
  const s = n1 + n2,
    zo = lo * ldz + lo; // the s × s block of Z (block diagonal on entry) at zo, stride ldz
  const z = new Float64Array(s),
    dd = new Float64Array(s);
  for (let c = 0; c < n1; c++) z[c] = Z[zo + (n1 - 1) * ldz + c]!;
  for (let c = 0; c < n2; c++) z[n1 + c] = sign * Z[zo + n1 * ldz + n1 + c]!;
  for (let i = 0; i < s; i++) dd[i] = w[lo + i]!;
  // normalise: ‖z‖² = 2 → z/√2, ρ·2
  for (let i = 0; i < s; i++) z[i] = z[i]! / Math.SQRT2;
  rho *= 2;
  // sort the poles ascending; perm[j] = block column of the j-th sorted pole
  const order = Array.from(dd, (_, i) => i).sort((a, b) => dd[a]! - dd[b]!);
  const D = Float64Array.from(order, (i) => dd[i]!),
    Zv = Float64Array.from(order, (i) => z[i]!);
  const perm = Int32Array.from(order);
  // ---- deflation (dlaed2)
  let dmax = 0,
    zmax = 0;
  for (let i = 0; i < s; i++) {
    dmax = Math.max(dmax, Math.abs(D[i]!));
    zmax = Math.max(zmax, Math.abs(Zv[i]!));
  }
  const tol = 8 * EPS * Math.max(dmax, zmax);
  const deflated = new Uint8Array(s);
  const rotate = (ci: number, cj: number, c: number, sn: number) => {
    // Givens on block columns perm[ci], perm[cj] (in place in Z): (x, y) ← (c x + s y, c y − s x)
    const a = zo + perm[ci]!,
      b = zo + perm[cj]!;
    for (let r = 0; r < s; r++) {
      const o = r * ldz,
        x = Z[a + o]!,
        y = Z[b + o]!;
      Z[a + o] = c * x + sn * y;
      Z[b + o] = c * y - sn * x;
    }
  };
  if (rho * zmax <= tol) {
    for (let i = 0; i < s; i++) deflated[i] = 1;
  } else {
    let pj = -1;
    for (let i = 0; i < s; i++) {
      if (rho * Math.abs(Zv[i]!) <= tol) {
        deflated[i] = 1;
        continue;
      }
      if (pj < 0) {
        pj = i;
        continue;
      }
      // can z[pj] be rotated into z[i] (close poles)?
      const sz = Zv[pj]!,
        cz = Zv[i]!;
      const tau = Math.hypot(cz, sz);
      const c = cz / tau,
        sn = -sz / tau;
      const t = D[i]! - D[pj]!;
      if (Math.abs(t * c * sn) <= tol) {
        Zv[i] = tau;
        Zv[pj] = 0;
        rotate(pj, i, c, sn);
        const dp = D[pj]! * c * c + D[i]! * sn * sn;
        D[i] = D[pj]! * sn * sn + D[i]! * c * c;
        D[pj] = dp;
        deflated[pj] = 1;
        pj = i;
      } else pj = i;
    }
  }
  const keep: number[] = [],
    defl: number[] = [];
  for (let i = 0; i < s; i++) (deflated[i] ? defl : keep).push(i);
  // ---- secular equation for the k non-deflated poles (re-sorted: rotations may have nudged D)
  const ko = keep.slice().sort((a, b) => D[a]! - D[b]!);
  const k = ko.length;
  const dK = Float64Array.from(ko, (i) => D[i]!),
    zK = Float64Array.from(ko, (i) => Zv[i]!);
  const lam = new Float64Array(k),
    origin = new Int32Array(k),
    tauv = new Float64Array(k);
  let zz = 0;
  for (let i = 0; i < k; i++) zz += zK[i]! * zK[i]!;
  for (let j = 0; j < k; j++) {
    const r = secular(ctx.fn, dK, zK, rho, j, k, zz);
    origin[j] = r.origin;
    tauv[j] = r.tau;
    lam[j] = dK[r.origin]! + r.tau;
  }
  // ---- Gu–Eisenstat: recompute ẑ from the computed roots; λ_j − d_i = (d_origin(j) − d_i) + τ_j
  const orgD = new Float64Array(k);
  for (let j = 0; j < k; j++) orgD[j] = dK[origin[j]!]!;
  const zh = zhat(dK, zK, orgD, tauv, rho, k);
  // ---- eigenvectors of the rank-one problem, row-wise: U[i][j] = ẑ_i / (d_i − λ_j), columns normalised
  const U = ctx.work(k * k);
  rankOneVectors(U, dK, zh, orgD, tauv, k);
  // ---- gather Q[:, kept] and the deflated columns, one GEMM, write the block back sorted by eigenvalue
  const nd = defl.length;
  const Qk = ctx.work(s * k),
    Dq = nd > 0 ? ctx.work(s * nd) : null;
  const colK = Int32Array.from(ko, (i) => perm[i]!),
    colD = Int32Array.from(defl, (i) => perm[i]!);
  const nzTop = new Uint8Array(k),
    nzBot = new Uint8Array(k);
  gather(Z, zo, ldz, Qk, colK, k, 0, n1, nzTop);
  gather(Z, zo, ldz, Qk, colK, k, n1, s, nzBot);
  if (Dq) gather(Z, zo, ldz, Dq, colD, nd, 0, s, null);
  const Zk = ctx.work(s * k);
  blockGemm(ctx, Qk, U, Zk, s, n1, k, nzTop, nzBot);
  // merge the two ascending lists (λ, deflated D) into the final order
  const dOrd = defl
    .slice()
    .map((i, j) => ({ v: D[i]!, j }))
    .sort((a, b) => a.v - b.v);
  const src = new Int32Array(s),
    isK = new Uint8Array(s);
  let a = 0,
    b = 0;
  for (let c = 0; c < s; c++) {
    if (b >= nd || (a < k && lam[a]! <= dOrd[b]!.v)) {
      w[lo + c] = lam[a]!;
      src[c] = a++;
      isK[c] = 1;
    } else {
      w[lo + c] = dOrd[b]!.v;
      src[c] = dOrd[b++]!.j;
    }
  }
  writeBack(Z, zo, ldz, s, Zk, k, Dq, nd, src, isK);
  ctx.free(U);
  ctx.free(Qk);
  ctx.free(Zk);
  if (Dq) ctx.free(Dq);
}

/** Gu–Eisenstat ẑ from the computed roots; λ_j − d_i = (d_origin(j) − d_i) + τ_j. */
function zhat(dK: Float64Array, zK: Float64Array, orgD: Float64Array, tauv: Float64Array, rho: number, k: number): Float64Array {
  const zh = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const di = dK[i]!;
    let p = (orgD[k - 1]! - di + tauv[k - 1]!) / rho;
    for (let j = 0; j < i; j++) p *= (orgD[j]! - di + tauv[j]!) / (dK[j]! - di);
    for (let j = i; j < k - 1; j++) p *= (orgD[j]! - di + tauv[j]!) / (dK[j + 1]! - di);
    zh[i] = Math.sign(zK[i]!) * Math.sqrt(Math.abs(p));
  }
  return zh;
}

/** U[i][j] = ẑ_i / (d_i − λ_j) (k × k row-major), columns normalised to unit length. */
function rankOneVectors(U: FA, dK: Float64Array, zh: Float64Array, orgD: Float64Array, tauv: Float64Array, k: number): void {
  const nrm = new Float64Array(k),
    row = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const di = dK[i]!,
      zi = zh[i]!;
    for (let j = 0; j < k; j++) {
      const v = zi / (di - orgD[j]! - tauv[j]!);
      row[j] = v;
      nrm[j] = nrm[j]! + v * v;
    }
    U.set(row, i * k);
  }
  for (let j = 0; j < k; j++) nrm[j] = 1 / Math.sqrt(nrm[j]!);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) row[j] = U[i * k + j]! * nrm[j]!;
    U.set(row, i * k);
  }
}

/** Block column c of Z ← column src[c] of Zk (isK[c]) or of Dq. */
function writeBack(Z: FA, zo: number, ldz: number, s: number, Zk: FA, k: number, Dq: FA | null, nd: number, src: Int32Array, isK: Uint8Array): void {
  for (let r = 0; r < s; r++) {
    const ro = zo + r * ldz,
      ko2 = r * k,
      do2 = r * nd;
    for (let c = 0; c < s; c++) Z[ro + c] = isK[c] ? Zk[ko2 + src[c]!]! : Dq![do2 + src[c]!]!;
  }
}

/** out[r][j] = Z[zo + r·ldz + cols[j]] for rows r0..r1-1 (ldo = cols.length); flags non-zero columns. */
function gather(Z: FA, zo: number, ldz: number, out: FA, cols: Int32Array, ldo: number, r0: number, r1: number, nz: Uint8Array | null): void {
  for (let r = r0; r < r1; r++) {
    const ro = zo + r * ldz,
      oo = r * ldo;
    for (let j = 0; j < ldo; j++) {
      const v = Z[ro + cols[j]!]!;
      out[oo + j] = v;
      if (nz !== null && v !== 0) nz[j] = 1;
    }
  }
}

/**
 * Zk = Qk U (Qk s × k, U k × k) using the block structure of Qk (LAPACK dlaed3): a column that came
 * from the upper sub-problem is zero in rows n1.., one from the lower is zero in rows ..n1-1; only
 * the columns mixed by deflation rotations are dense. The kept columns are grouped upper | mixed |
 * lower (from the data, so no bookkeeping can go stale) and Zk is formed as two GEMMs over the rows
 * of each half — about half the flops of one dense GEMM when few columns are mixed.
 */
function blockGemm(ctx: Ctx, Qk: FA, U: FA, Zk: FA, s: number, n1: number, k: number, nzTop: Uint8Array, nzBot: Uint8Array): void {
  const n2 = s - n1;
  const up: number[] = [],
    mix: number[] = [],
    low: number[] = [];
  for (let j = 0; j < k; j++) (nzTop[j] && nzBot[j] ? mix : nzBot[j] ? low : up).push(j);
  if (mix.length * 4 > k * 3) {
    gemm(ctx, false, false, s, k, k, 1, Qk, 0, k, U, 0, k, 0, Zk, 0, k);
    return;
  }
  const half = (cols: number[], r0: number, rows: number) => {
    const kc = cols.length;
    if (kc === 0) return; // Zk rows stay zero (work arrays are zeroed)
    const Qa = ctx.work(rows * kc),
      Ua = ctx.work(kc * k);
    for (let r = 0; r < rows; r++) {
      const src = (r0 + r) * k,
        dst = r * kc;
      for (let c = 0; c < kc; c++) Qa[dst + c] = Qk[src + cols[c]!]!;
    }
    for (let c = 0; c < kc; c++) Ua.set(U.subarray(cols[c]! * k, cols[c]! * k + k), c * k);
    gemm(ctx, false, false, rows, k, kc, 1, Qa, 0, kc, Ua, 0, k, 0, Zk, r0 * k, k);
    ctx.free(Qa);
    ctx.free(Ua);
  };
  half([...up, ...mix], 0, n1);
  half([...mix, ...low], n1, n2);
}

/**
 * Root j (0-based) of f(λ) = 1 + ρ Σ zᵢ²/(dᵢ − λ), in (d_j, d_{j+1}) or (d_{k-1}, d_{k-1} + ρ‖z‖²).
 * Returned as origin pole index and offset τ (λ = d_origin + τ) so that differences λ − dᵢ are accurate.
 * Safeguarded Newton on the shifted function with bisection fallback.
 */
let deltaBuf = new Float64Array(64);
function secular(fn: string, d: Float64Array, z: Float64Array, rho: number, j: number, k: number, zz: number): { origin: number; tau: number } {
  const last = j === k - 1;
  let origin: number, lo: number, hi: number;
  if (last) {
    origin = j;
    lo = 0;
    hi = rho * zz;
  } else {
    const gap = d[j + 1]! - d[j]!;
    // f at the midpoint decides which pole is nearer to the root
    const mid = gap / 2;
    let f = 1 / rho;
    for (let i = 0; i < k; i++) f += (z[i]! * z[i]!) / (d[i]! - d[j]! - mid);
    if (f >= 0) {
      origin = j;
      lo = 0;
      hi = mid;
    } else {
      origin = j + 1;
      lo = -mid;
      hi = 0;
    }
  }
  const d0 = d[origin]!;
  if (deltaBuf.length < k) deltaBuf = new Float64Array(Math.max(k, 2 * deltaBuf.length));
  const delta = deltaBuf;
  for (let i = 0; i < k; i++) delta[i] = d[i]! - d0;
  // open interval (lo, hi) in τ, excluding the poles at its ends
  let tau = (lo + hi) / 2;
  for (let it = 0; it < 200; it++) {
    // f split at the root's interval: ψ over poles ≤ j, φ over poles > j (values and derivatives)
    let psi = 0,
      dpsi = 0,
      phi = 0,
      dphi = 0,
      absf = 1 / rho;
    for (let i = 0; i <= j; i++) {
      const t = z[i]! / (delta[i]! - tau),
        q = z[i]! * t;
      psi += q;
      absf += Math.abs(q);
      dpsi += t * t;
    }
    for (let i = j + 1; i < k; i++) {
      const t = z[i]! / (delta[i]! - tau),
        q = z[i]! * t;
      phi += q;
      absf += Math.abs(q);
      dphi += t * t;
    }
    const f = 1 / rho + psi + phi;
    if (!Number.isFinite(f)) {
      // landed on a pole (only by rounding): nudge inward
      tau = (lo + hi) / 2;
      if (hi - lo <= EPS * Math.max(Math.abs(lo), Math.abs(hi))) break;
      continue;
    }
    if (Math.abs(f) <= 4 * k * EPS * absf) return { origin, tau };
    if (f > 0) hi = tau;
    else lo = tau;
    // rational ("fixed weight") model: ψ ≈ a + b/(δ_j − x), φ ≈ c + d/(δ_{j+1} − x), matched in value
    // and slope at τ; its root is the next iterate (quadratic convergence, as LAPACK dlaed4)
    const Dj = delta[j]! - tau;
    let next: number;
    if (last) {
      const b = dpsi * Dj * Dj,
        C = 1 / rho + psi - dpsi * Dj + phi;
      next = tau + (Dj + b / C);
    } else {
      const Dj1 = delta[j + 1]! - tau;
      const b = dpsi * Dj * Dj,
        d = dphi * Dj1 * Dj1;
      const C = 1 / rho + (psi - dpsi * Dj) + (phi - dphi * Dj1);
      const B2 = C * (Dj + Dj1) + b + d,
        C2 = f * Dj * Dj1;
      const disc = Math.sqrt(Math.max(0, B2 * B2 - 4 * C * C2));
      const eta = B2 >= 0 ? (2 * C2) / (B2 + disc) : (B2 - disc) / (2 * C);
      next = tau + eta;
    }
    if (!(next > lo && next < hi)) next = tau - f / (dpsi + dphi); // Newton
    if (!(next > lo && next < hi)) next = (lo + hi) / 2;
    if (hi - lo <= 2 * EPS * Math.max(Math.abs(lo), Math.abs(hi), Number.MIN_VALUE)) return { origin, tau: next };
    tau = next;
  }
  if (hi - lo <= 1e3 * EPS * Math.max(Math.abs(lo), Math.abs(hi))) return { origin, tau };
  throw new NoConvergenceError(fn, 200, hi - lo);
}
