// llmpress WebAssembly SIMD kernels (AssemblyScript).
// Compiled twice by scripts/asbuild.mjs: plain SIMD (5-row micro-kernel, mul+add) and relaxed SIMD
// (6-row micro-kernel, f32x4/f64x2.relaxed_madd), each with a shared-memory and a plain-memory variant.
// All pointers are byte addresses in the (imported) linear memory; the JS side owns allocation.
// No static data, no runtime: every instance (one per worker thread) is stateless.

import { RELAXED, fma } from './common';
/** Rows of the register-blocked micro-kernel: 6×(2 v128) with FMA, 5×(2 v128) without (V8 has 15 vector regs). */
const MR: i32 = RELAXED ? 6 : 5;
const KC: i32 = 256;

// ---------------------------------------------------------------- helpers

// @ts-ignore: decorator
@inline function mcOf<T>(): i32 { return sizeof<T>() == 4 ? MR * 16 : MR * 8; }
// @ts-ignore: decorator
@inline function ncOf<T>(): i32 { return sizeof<T>() == 4 ? 4096 : 2048; }
// @ts-ignore: decorator
@inline function nrOf<T>(): i32 { return sizeof<T>() == 4 ? 8 : 4; }

/** Bytes of scratch one GEMM call needs (packed A block, packed B panel, edge tile). */
export function scratchBytes(): i32 {
  const a32 = mcOf<f32>() * KC * 4 + ncOf<f32>() * KC * 4;
  const a64 = mcOf<f64>() * KC * 8 + ncOf<f64>() * KC * 8;
  return (a32 > a64 ? a32 : a64) + 1024;
}
export function microRows(): i32 { return MR; }
export function isRelaxed(): i32 { return RELAXED ? 1 : 0; }
export function heapBase(): usize { return __heap_base; }

// ---------------------------------------------------------------- packing

/** Packs rows [0, mc) × cols [0, kc) of op(A) (A at `a`) into MR-row panels, zero-padded. */
function packA<T>(transA: i32, mc: i32, kc: i32, a: usize, lda: i32, dst: usize): void {
  const S = <usize>sizeof<T>();
  const ldaB = <usize>lda * S;
  for (let i0 = 0; i0 < mc; i0 += MR) {
    const rows = min(MR, mc - i0);
    if (transA) {
      // op(A)[i, p] = a[p*lda + i]: MR contiguous values per p
      let src = a + <usize>i0 * S;
      if (rows == MR) {
        for (let p = 0; p < kc; p++) {
          if (S == 4) {
            v128.store(dst, v128.load(src));
            if (MR == 6) store<u64>(dst, load<u64>(src, 16), 16);
            else store<f32>(dst, load<f32>(src, 16), 16);
          } else {
            v128.store(dst, v128.load(src));
            v128.store(dst, v128.load(src, 16), 16);
            if (MR == 6) v128.store(dst, v128.load(src, 32), 32);
            else store<f64>(dst, load<f64>(src, 32), 32);
          }
          dst += <usize>MR * S; src += ldaB;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          for (let r = 0; r < MR; r++) store<T>(dst + <usize>r * S, r < rows ? load<T>(src + <usize>r * S) : <T>0);
          dst += <usize>MR * S; src += ldaB;
        }
      }
    } else {
      // op(A)[i, p] = a[i*lda + p]: read rows contiguously, 4×4 (f32) / 2×2 (f64) transposes in registers
      if (rows == MR) {
        packAFull<T>(kc, a + <usize>i0 * ldaB, ldaB, dst);
        dst += <usize>MR * <usize>kc * S;
        continue;
      }
      for (let r = 0; r < MR; r++) {
        let d = dst + <usize>r * S;
        if (r < rows) {
          let src = a + <usize>(i0 + r) * ldaB;
          for (let p = 0; p < kc; p++) { store<T>(d, load<T>(src)); d += <usize>MR * S; src += S; }
        } else {
          for (let p = 0; p < kc; p++) { store<T>(d, <T>0); d += <usize>MR * S; }
        }
      }
      dst += <usize>MR * <usize>kc * S;
    }
    if (transA) { /* dst already advanced */ }
  }
}

/** One full MR-row panel of non-transposed A (rows at a, a + ldaB, ...), vectorized. */
// @ts-ignore: decorator
@inline function packAFull<T>(kc: i32, a: usize, ldaB: usize, dst: usize): void {
  const S = <usize>sizeof<T>();
  const step = <usize>MR * S;
  const a0 = a, a1 = a0 + ldaB, a2 = a1 + ldaB, a3 = a2 + ldaB, a4 = a3 + ldaB, a5 = a4 + ldaB;
  let d = dst;
  let p = 0;
  if (S == 4) {
    for (; p + 4 <= kc; p += 4) {
      const o = <usize>p << 2;
      const x0 = v128.load(a0 + o), x1 = v128.load(a1 + o), x2 = v128.load(a2 + o), x3 = v128.load(a3 + o);
      const t0 = v128.shuffle<u32>(x0, x1, 0, 4, 1, 5), t1 = v128.shuffle<u32>(x2, x3, 0, 4, 1, 5);
      const t2 = v128.shuffle<u32>(x0, x1, 2, 6, 3, 7), t3 = v128.shuffle<u32>(x2, x3, 2, 6, 3, 7);
      v128.store(d, v128.shuffle<u64>(t0, t1, 0, 2));
      v128.store(d + step, v128.shuffle<u64>(t0, t1, 1, 3));
      v128.store(d + 2 * step, v128.shuffle<u64>(t2, t3, 0, 2));
      v128.store(d + 3 * step, v128.shuffle<u64>(t2, t3, 1, 3));
      const x4 = v128.load(a4 + o);
      if (MR == 6) {
        const x5 = v128.load(a5 + o);
        const u0 = v128.shuffle<u32>(x4, x5, 0, 4, 1, 5), u1 = v128.shuffle<u32>(x4, x5, 2, 6, 3, 7);
        store<i64>(d + 16, i64x2.extract_lane(u0, 0));
        store<i64>(d + step + 16, i64x2.extract_lane(u0, 1));
        store<i64>(d + 2 * step + 16, i64x2.extract_lane(u1, 0));
        store<i64>(d + 3 * step + 16, i64x2.extract_lane(u1, 1));
      } else {
        store<f32>(d + 16, f32x4.extract_lane(x4, 0));
        store<f32>(d + step + 16, f32x4.extract_lane(x4, 1));
        store<f32>(d + 2 * step + 16, f32x4.extract_lane(x4, 2));
        store<f32>(d + 3 * step + 16, f32x4.extract_lane(x4, 3));
      }
      d += 4 * step;
    }
  } else {
    for (; p + 2 <= kc; p += 2) {
      const o = <usize>p << 3;
      const x0 = v128.load(a0 + o), x1 = v128.load(a1 + o), x2 = v128.load(a2 + o), x3 = v128.load(a3 + o);
      v128.store(d, v128.shuffle<u64>(x0, x1, 0, 2));
      v128.store(d + step, v128.shuffle<u64>(x0, x1, 1, 3));
      v128.store(d + 16, v128.shuffle<u64>(x2, x3, 0, 2));
      v128.store(d + step + 16, v128.shuffle<u64>(x2, x3, 1, 3));
      const x4 = v128.load(a4 + o);
      if (MR == 6) {
        const x5 = v128.load(a5 + o);
        v128.store(d + 32, v128.shuffle<u64>(x4, x5, 0, 2));
        v128.store(d + step + 32, v128.shuffle<u64>(x4, x5, 1, 3));
      } else {
        store<f64>(d + 32, f64x2.extract_lane(x4, 0));
        store<f64>(d + step + 32, f64x2.extract_lane(x4, 1));
      }
      d += 2 * step;
    }
  }
  for (; p < kc; p++) {
    const o = <usize>p * S;
    store<T>(d, load<T>(a0 + o)); store<T>(d + S, load<T>(a1 + o)); store<T>(d + 2 * S, load<T>(a2 + o));
    store<T>(d + 3 * S, load<T>(a3 + o)); store<T>(d + 4 * S, load<T>(a4 + o));
    if (MR == 6) store<T>(d + 5 * S, load<T>(a5 + o));
    d += step;
  }
}

/** Packs rows [0, kc) × cols [0, nc) of op(B) into NR-column panels, zero-padded. */
function packB<T>(transB: i32, kc: i32, nc: i32, b: usize, ldb: i32, dst: usize): void {
  const S = <usize>sizeof<T>();
  const NR = nrOf<T>();
  const ldbB = <usize>ldb * S;
  for (let j0 = 0; j0 < nc; j0 += NR) {
    const cols = min(NR, nc - j0);
    if (!transB) {
      let src = b + <usize>j0 * S;
      if (cols == NR) {
        for (let p = 0; p < kc; p++) {
          v128.store(dst, v128.load(src));
          v128.store(dst, v128.load(src, 16), 16);
          dst += 32; src += ldbB;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          for (let j = 0; j < NR; j++) store<T>(dst + <usize>j * S, j < cols ? load<T>(src + <usize>j * S) : <T>0);
          dst += 32; src += ldbB;
        }
      }
    } else {
      // op(B)[p, j] = b[j*ldb + p]
      if (cols == NR && S == 4) {
        // 4 columns at a time: load 4 p-values of 4 columns, transpose 4×4
        for (let jj = 0; jj < 8; jj += 4) {
          let s0 = b + <usize>(j0 + jj) * ldbB;
          let d = dst + <usize>jj * 4;
          let p = 0;
          for (; p + 4 <= kc; p += 4) {
            const r0 = v128.load(s0), r1 = v128.load(s0 + ldbB), r2 = v128.load(s0 + 2 * ldbB), r3 = v128.load(s0 + 3 * ldbB);
            const t0 = v128.shuffle<u32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<u32>(r2, r3, 0, 4, 1, 5);
            const t2 = v128.shuffle<u32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<u32>(r2, r3, 2, 6, 3, 7);
            v128.store(d, v128.shuffle<u64>(t0, t1, 0, 2));
            v128.store(d + 32, v128.shuffle<u64>(t0, t1, 1, 3));
            v128.store(d + 64, v128.shuffle<u64>(t2, t3, 0, 2));
            v128.store(d + 96, v128.shuffle<u64>(t2, t3, 1, 3));
            s0 += 16; d += 128;
          }
          for (; p < kc; p++) {
            for (let j = 0; j < 4; j++) store<f32>(d + <usize>j * 4, load<f32>(s0 + <usize>j * ldbB));
            s0 += 4; d += 32;
          }
        }
        dst += <usize>kc * 32;
      } else {
        for (let j = 0; j < NR; j++) {
          let d = dst + <usize>j * S;
          if (j < cols) {
            let src = b + <usize>(j0 + j) * ldbB;
            for (let p = 0; p < kc; p++) { store<T>(d, load<T>(src)); d += 32; src += S; }
          } else {
            for (let p = 0; p < kc; p++) { store<T>(d, <T>0); d += 32; }
          }
        }
        dst += <usize>kc * 32;
      }
    }
  }
}

// ---------------------------------------------------------------- micro-kernel

// Store modes (chosen once per tile, all bit-identical to alpha·x + beta·c since 1·x = x exactly):
// 0: C = alpha·X, 1: C = X (alpha = 1, beta = 0), 2: C = X + C (alpha = 1, beta = 1), 3: C = alpha·X + beta·C.
// @ts-ignore: decorator
@inline function storeMode<T>(alpha: T, beta: T): i32 {
  if (beta == <T>0) return alpha == <T>1 ? 1 : 0;
  return alpha == <T>1 && beta == <T>1 ? 2 : 3;
}
// @ts-ignore: decorator
@inline function storeRow<T>(c: usize, x0: v128, x1: v128, va: v128, vb: v128, mode: i32): void {
  if (mode == 1) {
    v128.store(c, x0);
    v128.store(c, x1, 16);
  } else if (mode == 2) {
    v128.store(c, v128.add<T>(x0, v128.load(c)));
    v128.store(c, v128.add<T>(x1, v128.load(c, 16)), 16);
  } else if (mode == 0) {
    v128.store(c, v128.mul<T>(va, x0));
    v128.store(c, v128.mul<T>(va, x1), 16);
  } else {
    v128.store(c, v128.add<T>(v128.mul<T>(va, x0), v128.mul<T>(vb, v128.load(c))));
    v128.store(c, v128.add<T>(v128.mul<T>(va, x1), v128.mul<T>(vb, v128.load(c, 16))), 16);
  }
}

/**
 * The register-blocked micro-kernel with R rows (R = MR for full panels; 2 or 4 for the last panel
 * of a block whose row count is not a multiple of MR, so padding rows cost no FMAs). Inlined with a
 * constant R, so the unused accumulators vanish. A panels keep their MR-row layout (stride MR).
 * C[mr × nr] = alpha · Ap · Bp + beta · C over kc; full-width tiles store straight to C, column edges
 * go through `tmp`.
 */
// @ts-ignore: decorator
@inline function micro<T>(R: i32, kc: i32, ap: usize, bp: usize, c: usize, ldcB: usize, alpha: T, beta: T, mr: i32, nr: i32, tmp: usize): void {
  const S = <usize>sizeof<T>();
  let c00 = v128.splat<T>(0), c01 = v128.splat<T>(0), c10 = v128.splat<T>(0), c11 = v128.splat<T>(0);
  let c20 = v128.splat<T>(0), c21 = v128.splat<T>(0), c30 = v128.splat<T>(0), c31 = v128.splat<T>(0);
  let c40 = v128.splat<T>(0), c41 = v128.splat<T>(0), c50 = v128.splat<T>(0), c51 = v128.splat<T>(0);
  // immediate offsets on the splat loads (an i32.add per splat would cost V8 an extra lea) and a
  // pointer-compare loop: fewer instructions per k step around the 2R FMAs
  const bEnd = bp + (<usize>kc << 5);
  while (bp < bEnd) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let a = v128.load_splat<T>(ap);
    c00 = fma<T>(a, b0, c00); c01 = fma<T>(a, b1, c01);
    if (R > 1) {
      a = v128.load_splat<T>(ap, S);
      c10 = fma<T>(a, b0, c10); c11 = fma<T>(a, b1, c11);
    }
    if (R > 2) {
      a = v128.load_splat<T>(ap, 2 * S);
      c20 = fma<T>(a, b0, c20); c21 = fma<T>(a, b1, c21);
    }
    if (R > 3) {
      a = v128.load_splat<T>(ap, 3 * S);
      c30 = fma<T>(a, b0, c30); c31 = fma<T>(a, b1, c31);
    }
    if (R > 4) {
      a = v128.load_splat<T>(ap, 4 * S);
      c40 = fma<T>(a, b0, c40); c41 = fma<T>(a, b1, c41);
    }
    if (R > 5) {
      a = v128.load_splat<T>(ap, 5 * S);
      c50 = fma<T>(a, b0, c50); c51 = fma<T>(a, b1, c51);
    }
    ap += <usize>MR * S; bp += 32;
  }
  const NR = nrOf<T>();
  const va = v128.splat<T>(alpha), vb = v128.splat<T>(beta);
  if (nr == NR) {
    const mode = storeMode<T>(alpha, beta);
    storeRow<T>(c, c00, c01, va, vb, mode);
    if (R > 1 && mr > 1) storeRow<T>(c + ldcB, c10, c11, va, vb, mode);
    if (R > 2 && mr > 2) storeRow<T>(c + 2 * ldcB, c20, c21, va, vb, mode);
    if (R > 3 && mr > 3) storeRow<T>(c + 3 * ldcB, c30, c31, va, vb, mode);
    if (R > 4 && mr > 4) storeRow<T>(c + 4 * ldcB, c40, c41, va, vb, mode);
    if (R > 5 && mr > 5) storeRow<T>(c + 5 * ldcB, c50, c51, va, vb, mode);
    return;
  }
  v128.store(tmp, c00); v128.store(tmp, c01, 16);
  v128.store(tmp, c10, 32); v128.store(tmp, c11, 48);
  v128.store(tmp, c20, 64); v128.store(tmp, c21, 80);
  v128.store(tmp, c30, 96); v128.store(tmp, c31, 112);
  v128.store(tmp, c40, 128); v128.store(tmp, c41, 144);
  v128.store(tmp, c50, 160); v128.store(tmp, c51, 176);
  const bz = beta == <T>0;
  for (let i = 0; i < mr; i++) {
    const row = c + <usize>i * ldcB, t = tmp + <usize>i * 32;
    for (let j = 0; j < nr; j++) {
      const v = alpha * load<T>(t + <usize>j * S);
      const q = row + <usize>j * S;
      store<T>(q, bz ? v : v + beta * load<T>(q));
    }
  }
}

/** C[mr × nr] = alpha · Ap · Bp + beta · C over kc (mr ≤ MR rows, nr ≤ NR columns). */
function kernel<T>(kc: i32, ap: usize, bp: usize, c: usize, ldcB: usize, alpha: T, beta: T, mr: i32, nr: i32, tmp: usize): void {
  if (mr == MR) micro<T>(MR, kc, ap, bp, c, ldcB, alpha, beta, mr, nr, tmp);
  else if (mr <= 2) micro<T>(2, kc, ap, bp, c, ldcB, alpha, beta, mr, nr, tmp);
  else if (mr <= 4) micro<T>(4, kc, ap, bp, c, ldcB, alpha, beta, mr, nr, tmp);
  else micro<T>(MR, kc, ap, bp, c, ldcB, alpha, beta, mr, nr, tmp);
}

// ---------------------------------------------------------------- GEMM

function scaleC<T>(m: i32, n: i32, beta: T, c: usize, ldc: i32): void {
  const S = <usize>sizeof<T>();
  for (let i = 0; i < m; i++) {
    const row = c + <usize>i * <usize>ldc * S;
    for (let j = 0; j < n; j++) {
      const q = row + <usize>j * S;
      store<T>(q, beta == <T>0 ? <T>0 : beta * load<T>(q));
    }
  }
}

function gemm<T>(transA: i32, transB: i32, m: i32, n: i32, k: i32, alpha: T, a: usize, lda: i32, b: usize, ldb: i32, beta: T, c: usize, ldc: i32, scratch: usize): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == <T>0) { scaleC<T>(m, n, beta, c, ldc); return; }
  const S = <usize>sizeof<T>();
  const MC = mcOf<T>(), NC = ncOf<T>(), NR = nrOf<T>();
  const ap = scratch;
  const bp = scratch + <usize>MC * <usize>KC * S;
  const tmp = bp + <usize>NC * <usize>KC * S;
  const ldcB = <usize>ldc * S;
  for (let jc = 0; jc < n; jc += NC) {
    const nc = min(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      const bsrc = transB ? b + (<usize>jc * <usize>ldb + <usize>pc) * S : b + (<usize>pc * <usize>ldb + <usize>jc) * S;
      packB<T>(transB, kc, nc, bsrc, ldb, bp);
      const be: T = pc == 0 ? beta : <T>1;
      for (let ic = 0; ic < m; ic += MC) {
        const mc = min(MC, m - ic);
        const asrc = transA ? a + (<usize>pc * <usize>lda + <usize>ic) * S : a + (<usize>ic * <usize>lda + <usize>pc) * S;
        packA<T>(transA, mc, kc, asrc, lda, ap);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const bpan = bp + <usize>jr * <usize>kc * S;
          const cbase = c + <usize>ic * ldcB + <usize>(jc + jr) * S;
          for (let ir = 0; ir < mc; ir += MR) {
            kernel<T>(kc, ap + <usize>ir * <usize>kc * S, bpan, cbase + <usize>ir * ldcB, ldcB, alpha, be, min(MR, mc - ir), nr, tmp);
          }
        }
      }
    }
  }
}

export function sgemm(transA: i32, transB: i32, m: i32, n: i32, k: i32, alpha: f32, a: usize, lda: i32, b: usize, ldb: i32, beta: f32, c: usize, ldc: i32, scratch: usize): void {
  gemm<f32>(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, scratch);
}
export function dgemm(transA: i32, transB: i32, m: i32, n: i32, k: i32, alpha: f64, a: usize, lda: i32, b: usize, ldb: i32, beta: f64, c: usize, ldc: i32, scratch: usize): void {
  gemm<f64>(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, scratch);
}

// ---------------------------------------------------------------- GEMV

// @ts-ignore: decorator
@inline function hsum<T>(v: v128): T {
  if (sizeof<T>() == 4) {
    return <T>(v128.extract_lane<f32>(v, 0) + v128.extract_lane<f32>(v, 1) + v128.extract_lane<f32>(v, 2) + v128.extract_lane<f32>(v, 3));
  } else {
    return <T>(v128.extract_lane<f64>(v, 0) + v128.extract_lane<f64>(v, 1));
  }
}

/** y[i] = alpha · Σ_j A[i, j] x[j] + beta · y[i], A row-major m × n. Rows are split [r0, r1) for threads. */
function gemvN<T>(r0: i32, r1: i32, n: i32, alpha: T, a: usize, lda: i32, x: usize, beta: T, y: usize): void {
  const S = <usize>sizeof<T>();
  const L = <i32>(16 / S);
  const ldaB = <usize>lda * S;
  const nv = n & ~(L - 1);
  let i = r0;
  for (; i + 4 <= r1; i += 4) {
    const a0 = a + <usize>i * ldaB, a1 = a0 + ldaB, a2 = a1 + ldaB, a3 = a2 + ldaB;
    let s0 = v128.splat<T>(0), s1 = v128.splat<T>(0), s2 = v128.splat<T>(0), s3 = v128.splat<T>(0);
    for (let j = 0; j < nv; j += L) {
      const o = <usize>j * S;
      const xv = v128.load(x + o);
      s0 = fma<T>(v128.load(a0 + o), xv, s0);
      s1 = fma<T>(v128.load(a1 + o), xv, s1);
      s2 = fma<T>(v128.load(a2 + o), xv, s2);
      s3 = fma<T>(v128.load(a3 + o), xv, s3);
    }
    let t0 = hsum<T>(s0), t1 = hsum<T>(s1), t2 = hsum<T>(s2), t3 = hsum<T>(s3);
    for (let j = nv; j < n; j++) {
      const o = <usize>j * S, xv = load<T>(x + o);
      t0 += load<T>(a0 + o) * xv; t1 += load<T>(a1 + o) * xv; t2 += load<T>(a2 + o) * xv; t3 += load<T>(a3 + o) * xv;
    }
    const yp = y + <usize>i * S;
    if (beta == <T>0) {
      store<T>(yp, alpha * t0); store<T>(yp + S, alpha * t1); store<T>(yp + 2 * S, alpha * t2); store<T>(yp + 3 * S, alpha * t3);
    } else {
      store<T>(yp, alpha * t0 + beta * load<T>(yp)); store<T>(yp + S, alpha * t1 + beta * load<T>(yp + S));
      store<T>(yp + 2 * S, alpha * t2 + beta * load<T>(yp + 2 * S)); store<T>(yp + 3 * S, alpha * t3 + beta * load<T>(yp + 3 * S));
    }
  }
  for (; i < r1; i++) {
    const a0 = a + <usize>i * ldaB;
    let s0 = v128.splat<T>(0);
    for (let j = 0; j < nv; j += L) { const o = <usize>j * S; s0 = fma<T>(v128.load(a0 + o), v128.load(x + o), s0); }
    let t0 = hsum<T>(s0);
    for (let j = nv; j < n; j++) { const o = <usize>j * S; t0 += load<T>(a0 + o) * load<T>(x + o); }
    const yp = y + <usize>i * S;
    store<T>(yp, beta == <T>0 ? alpha * t0 : alpha * t0 + beta * load<T>(yp));
  }
}

/** y[j] = alpha · Σ_i A[i, j] x[i] + beta · y[j] for columns [c0, c1), A row-major m × n. */
function gemvT<T>(m: i32, c0: i32, c1: i32, alpha: T, a: usize, lda: i32, x: usize, beta: T, y: usize): void {
  const S = <usize>sizeof<T>();
  const L = <i32>(16 / S);
  const ldaB = <usize>lda * S;
  for (let j = c0; j < c1; j++) {
    const q = y + <usize>j * S;
    store<T>(q, beta == <T>0 ? <T>0 : beta * load<T>(q));
  }
  const cv = c0 + ((c1 - c0) & ~(L - 1));
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    const a0 = a + <usize>i * ldaB, a1 = a0 + ldaB, a2 = a1 + ldaB, a3 = a2 + ldaB;
    const x0: T = alpha * load<T>(x + <usize>i * S), x1: T = alpha * load<T>(x + <usize>(i + 1) * S);
    const x2: T = alpha * load<T>(x + <usize>(i + 2) * S), x3: T = alpha * load<T>(x + <usize>(i + 3) * S);
    const v0 = v128.splat<T>(x0), v1 = v128.splat<T>(x1), v2 = v128.splat<T>(x2), v3 = v128.splat<T>(x3);
    for (let j = c0; j < cv; j += L) {
      const o = <usize>j * S;
      let yv = v128.load(y + o);
      yv = fma<T>(v128.load(a0 + o), v0, yv);
      yv = fma<T>(v128.load(a1 + o), v1, yv);
      yv = fma<T>(v128.load(a2 + o), v2, yv);
      yv = fma<T>(v128.load(a3 + o), v3, yv);
      v128.store(y + o, yv);
    }
    for (let j = cv; j < c1; j++) {
      const o = <usize>j * S;
      store<T>(y + o, load<T>(y + o) + load<T>(a0 + o) * x0 + load<T>(a1 + o) * x1 + load<T>(a2 + o) * x2 + load<T>(a3 + o) * x3);
    }
  }
  for (; i < m; i++) {
    const a0 = a + <usize>i * ldaB;
    const x0: T = alpha * load<T>(x + <usize>i * S);
    const v0 = v128.splat<T>(x0);
    for (let j = c0; j < cv; j += L) { const o = <usize>j * S; v128.store(y + o, fma<T>(v128.load(a0 + o), v0, v128.load(y + o))); }
    for (let j = cv; j < c1; j++) { const o = <usize>j * S; store<T>(y + o, load<T>(y + o) + load<T>(a0 + o) * x0); }
  }
}

/** trans = 0: rows [lo, hi) of y = A x; trans = 1: columns [lo, hi) of y = Aᵀ x. `m` = rows of A. */
export function sgemv(trans: i32, m: i32, lo: i32, hi: i32, n: i32, alpha: f32, a: usize, lda: i32, x: usize, beta: f32, y: usize): void {
  if (trans) gemvT<f32>(m, lo, hi, alpha, a, lda, x, beta, y);
  else gemvN<f32>(lo, hi, n, alpha, a, lda, x, beta, y);
}
export function dgemv(trans: i32, m: i32, lo: i32, hi: i32, n: i32, alpha: f64, a: usize, lda: i32, x: usize, beta: f64, y: usize): void {
  if (trans) gemvT<f64>(m, lo, hi, alpha, a, lda, x, beta, y);
  else gemvN<f64>(lo, hi, n, alpha, a, lda, x, beta, y);
}

// ---------------------------------------------------------------- elementwise

// op codes: add 0, sub 1, mul 2, div 3, max 4, min 5 (max/min: NaN in either operand propagates,
// ties keep the second operand, exactly like the reference backend's `x > y || isNaN(x) ? x : y`).
// @ts-ignore: decorator
@inline function binv<T>(op: i32, x: v128, y: v128): v128 {
  switch (op) {
    case 0: return v128.add<T>(x, y);
    case 1: return v128.sub<T>(x, y);
    case 2: return v128.mul<T>(x, y);
    case 3: return v128.div<T>(x, y);
    case 4: return v128.bitselect(x, y, v128.or(v128.gt<T>(x, y), v128.ne<T>(x, x)));
    default: return v128.bitselect(x, y, v128.or(v128.lt<T>(x, y), v128.ne<T>(x, x)));
  }
}
// @ts-ignore: decorator
@inline function bins<T>(op: i32, x: T, y: T): T {
  switch (op) {
    case 0: return x + y;
    case 1: return x - y;
    case 2: return x * y;
    case 3: return x / y;
    case 4: return (x > y || x != x) ? x : y;
    default: return (x < y || x != x) ? x : y;
  }
}

function binary<T>(op: i32, a: usize, b: usize, out: usize, n: i32): void {
  const S = <usize>sizeof<T>();
  const L = <i32>(16 / S);
  let i = 0;
  for (; i + L <= n; i += L) { const o = <usize>i * S; v128.store(out + o, binv<T>(op, v128.load(a + o), v128.load(b + o))); }
  for (; i < n; i++) { const o = <usize>i * S; store<T>(out + o, bins<T>(op, load<T>(a + o), load<T>(b + o))); }
}
function binaryScalar<T>(op: i32, a: usize, s: T, out: usize, n: i32): void {
  const S = <usize>sizeof<T>();
  const L = <i32>(16 / S);
  const sv = v128.splat<T>(s);
  let i = 0;
  for (; i + L <= n; i += L) { const o = <usize>i * S; v128.store(out + o, binv<T>(op, v128.load(a + o), sv)); }
  for (; i < n; i++) { const o = <usize>i * S; store<T>(out + o, bins<T>(op, load<T>(a + o), s)); }
}
export function sbinary(op: i32, a: usize, b: usize, out: usize, n: i32): void { binary<f32>(op, a, b, out, n); }
export function dbinary(op: i32, a: usize, b: usize, out: usize, n: i32): void { binary<f64>(op, a, b, out, n); }
export function sbinaryScalar(op: i32, a: usize, s: f32, out: usize, n: i32): void { binaryScalar<f32>(op, a, s, out, n); }
export function dbinaryScalar(op: i32, a: usize, s: f64, out: usize, n: i32): void { binaryScalar<f64>(op, a, s, out, n); }

// op codes: neg 0, abs 1, sqrt 2, exp 3, log 4, square 5, silu 6, tanh 7.
// Transcendentals are evaluated in f64 (musl-derived NativeMath) and rounded once, like the reference.
function unary<T>(op: i32, a: usize, out: usize, n: i32): void {
  const S = <usize>sizeof<T>();
  const L = <i32>(16 / S);
  let i = 0;
  if (op <= 2 || op == 5) {
    for (; i + L <= n; i += L) {
      const o = <usize>i * S, v = v128.load(a + o);
      let r: v128;
      if (op == 0) r = v128.neg<T>(v);
      else if (op == 1) r = v128.abs<T>(v);
      else if (op == 2) r = v128.sqrt<T>(v);
      else r = v128.mul<T>(v, v);
      v128.store(out + o, r);
    }
  }
  for (; i < n; i++) {
    const o = <usize>i * S;
    const x = <f64>load<T>(a + o);
    let r: f64;
    switch (op) {
      case 0: r = -x; break;
      case 1: r = Math.abs(x); break;
      case 2: r = Math.sqrt(x); break;
      case 3: r = Math.exp(x); break;
      case 4: r = Math.log(x); break;
      case 5: r = x * x; break;
      case 6: r = x / (1.0 + Math.exp(-x)); break;
      default: r = Math.tanh(x);
    }
    store<T>(out + o, <T>r);
  }
}
export function sunary(op: i32, a: usize, out: usize, n: i32): void { unary<f32>(op, a, out, n); }
export function dunary(op: i32, a: usize, out: usize, n: i32): void { unary<f64>(op, a, out, n); }

// reduce op codes: sum 0, max 1, min 2, sumsq 3, absmax 4. f32 input is accumulated in f64.
export function sreduce(op: i32, a: usize, n: i32): f64 {
  let i = 0;
  if (op == 0 || op == 3) {
    let s0 = f64x2.splat(0), s1 = f64x2.splat(0);
    for (; i + 4 <= n; i += 4) {
      const v = v128.load(a + (<usize>i << 2));
      const lo = f64x2.promote_low_f32x4(v), hi = f64x2.promote_low_f32x4(v128.shuffle<u32>(v, v, 2, 3, 0, 1));
      if (op == 0) { s0 = f64x2.add(s0, lo); s1 = f64x2.add(s1, hi); }
      else { s0 = f64x2.add(s0, f64x2.mul(lo, lo)); s1 = f64x2.add(s1, f64x2.mul(hi, hi)); }
    }
    const s = f64x2.add(s0, s1);
    let t = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
    for (; i < n; i++) { const x = <f64>load<f32>(a + (<usize>i << 2)); t += op == 0 ? x : x * x; }
    return t;
  }
  let acc = f32x4.splat(op == 1 ? -Infinity : op == 2 ? Infinity : 0);
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(a + (<usize>i << 2));
    if (op == 1) acc = f32x4.max(acc, v);
    else if (op == 2) acc = f32x4.min(acc, v);
    else acc = f32x4.max(acc, f32x4.abs(v));
  }
  let t: f32;
  if (op == 2) t = min(min(f32x4.extract_lane(acc, 0), f32x4.extract_lane(acc, 1)), min(f32x4.extract_lane(acc, 2), f32x4.extract_lane(acc, 3)));
  else t = max(max(f32x4.extract_lane(acc, 0), f32x4.extract_lane(acc, 1)), max(f32x4.extract_lane(acc, 2), f32x4.extract_lane(acc, 3)));
  for (; i < n; i++) {
    const x = load<f32>(a + (<usize>i << 2));
    if (op == 1) t = max(t, x); else if (op == 2) t = min(t, x); else t = max(t, abs(x));
  }
  return <f64>t;
}
export function dreduce(op: i32, a: usize, n: i32): f64 {
  let i = 0;
  if (op == 0 || op == 3) {
    let s0 = f64x2.splat(0), s1 = f64x2.splat(0);
    for (; i + 4 <= n; i += 4) {
      const p = a + (<usize>i << 3);
      const v0 = v128.load(p), v1 = v128.load(p, 16);
      if (op == 0) { s0 = f64x2.add(s0, v0); s1 = f64x2.add(s1, v1); }
      else { s0 = f64x2.add(s0, f64x2.mul(v0, v0)); s1 = f64x2.add(s1, f64x2.mul(v1, v1)); }
    }
    const s = f64x2.add(s0, s1);
    let t = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
    for (; i < n; i++) { const x = load<f64>(a + (<usize>i << 3)); t += op == 0 ? x : x * x; }
    return t;
  }
  let acc = f64x2.splat(op == 1 ? -Infinity : op == 2 ? Infinity : 0);
  for (; i + 2 <= n; i += 2) {
    const v = v128.load(a + (<usize>i << 3));
    if (op == 1) acc = f64x2.max(acc, v);
    else if (op == 2) acc = f64x2.min(acc, v);
    else acc = f64x2.max(acc, f64x2.abs(v));
  }
  let t: f64;
  if (op == 2) t = min(f64x2.extract_lane(acc, 0), f64x2.extract_lane(acc, 1));
  else t = max(f64x2.extract_lane(acc, 0), f64x2.extract_lane(acc, 1));
  for (; i < n; i++) {
    const x = load<f64>(a + (<usize>i << 3));
    if (op == 1) t = max(t, x); else if (op == 2) t = min(t, x); else t = max(t, abs(x));
  }
  return t;
}

export * from './int';
export * from './attention';

// ---------------------------------------------------------------- threaded GEMM pieces
// The caller packs one KC × NC panel of op(B) into a shared buffer (spackB/dpackB), then every
// thread runs gemmRows on that panel: it takes row chunks from a shared counter (atomic add, so
// a thread slowed by other load simply takes fewer chunks), packs its own A blocks into its own
// scratch and runs the micro-kernel. Per-entry arithmetic is identical to the one-thread gemm.

/** Blocking constants for the JS side: 0 MC(f32), 1 NC(f32), 2 MC(f64), 3 NC(f64), 4 KC. */
export function blocking(which: i32): i32 {
  switch (which) {
    case 0: return mcOf<f32>();
    case 1: return ncOf<f32>();
    case 2: return mcOf<f64>();
    case 3: return ncOf<f64>();
    default: return KC;
  }
}

export function spackB(transB: i32, kc: i32, nc: i32, b: usize, ldb: i32, dst: usize): void { packB<f32>(transB, kc, nc, b, ldb, dst); }
export function dpackB(transB: i32, kc: i32, nc: i32, b: usize, ldb: i32, dst: usize): void { packB<f64>(transB, kc, nc, b, ldb, dst); }

// @ts-ignore: decorator
@inline function nextChunk(counter: usize): i32 {
  if (ASC_FEATURE_THREADS) {
    return atomic.add<i32>(counter, 1);
  } else {
    const v = load<i32>(counter);
    store<i32>(counter, v + 1);
    return v;
  }
}

function gemmRows<T>(transA: i32, m: i32, kc: i32, nc: i32, alpha: T, a: usize, lda: i32, bp: usize, beta: T, c: usize, ldc: i32, scratch: usize, counter: usize, chunk: i32): void {
  const S = <usize>sizeof<T>();
  const MC = mcOf<T>(), NC = ncOf<T>(), NR = nrOf<T>();
  const ap = scratch;
  const tmp = scratch + <usize>MC * <usize>KC * S + <usize>NC * <usize>KC * S;
  const ldcB = <usize>ldc * S;
  for (;;) {
    const r0 = nextChunk(counter) * chunk;
    if (r0 >= m) break;
    const r1 = min(m, r0 + chunk);
    for (let ic = r0; ic < r1; ic += MC) {
      const mc = min(MC, r1 - ic);
      const asrc = transA ? a + <usize>ic * S : a + <usize>ic * <usize>lda * S;
      packA<T>(transA, mc, kc, asrc, lda, ap);
      for (let jr = 0; jr < nc; jr += NR) {
        const nr = min(NR, nc - jr);
        const bpan = bp + <usize>jr * <usize>kc * S;
        const cbase = c + <usize>ic * ldcB + <usize>jr * S;
        for (let ir = 0; ir < mc; ir += MR) {
          kernel<T>(kc, ap + <usize>ir * <usize>kc * S, bpan, cbase + <usize>ir * ldcB, ldcB, alpha, beta, min(MR, mc - ir), nr, tmp);
        }
      }
    }
  }
}
export function sgemmRows(transA: i32, m: i32, kc: i32, nc: i32, alpha: f32, a: usize, lda: i32, bp: usize, beta: f32, c: usize, ldc: i32, scratch: usize, counter: usize, chunk: i32): void {
  gemmRows<f32>(transA, m, kc, nc, alpha, a, lda, bp, beta, c, ldc, scratch, counter, chunk);
}
export function dgemmRows(transA: i32, m: i32, kc: i32, nc: i32, alpha: f64, a: usize, lda: i32, bp: usize, beta: f64, c: usize, ldc: i32, scratch: usize, counter: usize, chunk: i32): void {
  gemmRows<f64>(transA, m, kc, nc, alpha, a, lda, bp, beta, c, ldc, scratch, counter, chunk);
}
