// Integer (int4 / int8) kernels: dequantize-on-the-fly GEMV, W4A8 GEMV, W4A4 GEMM, dot products.
import { fma } from './common';

// ---------------------------------------------------------------- int4 routines
// Packed int4 layout: two values per byte, low nibble = even column, high nibble = odd column,
// signed two's complement (-8..7). Rows are contiguous, row stride = n/2 bytes. Groups of `group`
// consecutive columns share one f32 scale; scales are row-major [rows × n/group].

// @ts-ignore: decorator
@inline function nib(p: usize, j: i32): i32 {
  const b = <i32>load<i8>(p + (<usize>j >> 1));
  return (j & 1) ? (b >> 4) : ((b << 28) >> 28);
}

/** dst = x permuted per 16 columns: the 8 even columns, then the 8 odd ones (n a multiple of 16). */
export function int4PermuteX(n: i32, x: usize, dst: usize): void {
  for (let j = 0; j < n; j += 16) {
    for (let t = 0; t < 8; t++) {
      store<f32>(dst + (<usize>(j + t) << 2), load<f32>(x + (<usize>(j + 2 * t) << 2)));
      store<f32>(dst + (<usize>(j + 8 + t) << 2), load<f32>(x + (<usize>(j + 2 * t + 1) << 2)));
    }
  }
}

/**
 * Dequantize-on-the-fly GEMV, rows [r0, r1): y[i] = alpha · Σ_g scale[i, g] · Σ_{j∈g} q[i, j] · x[j] + beta · y[i].
 * n even, group divides n. When group is a multiple of 16, `x` must be permuted by int4PermuteX.
 */
export function int4Gemv(r0: i32, r1: i32, n: i32, group: i32, alpha: f32, w: usize, scales: usize, x: usize, beta: f32, y: usize): void {
  const rowB = <usize>(n >> 1);
  const ng = n / group;
  const simd = (group & 15) == 0;
  for (let i = r0; i < r1; i++) {
    const wr = w + <usize>i * rowB;
    const sr = scales + <usize>i * <usize>ng * 4;
    let t: f32 = 0;
    for (let g = 0; g < ng; g++) {
      const j0 = g * group;
      let s: f32 = 0;
      if (simd) {
        // xp holds x permuted per 16 columns (even columns, then odd: int4PermuteX), so the nibbles
        // need no interleaving; i16 shifts (native on x86) instead of i8 shifts (emulated).
        // Four independent accumulators: one FMA chain would be latency-bound.
        let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
        for (let j = j0; j < j0 + group; j += 16) {
          const v = i16x8.extend_low_i8x16_u(v128.load64_zero(wr + (<usize>j >> 1)));
          const lo = i16x8.shr_s(i16x8.shl(v, 12), 12);   // even columns 0, 2, .., 14
          const hi = i16x8.shr_s(i16x8.shl(v, 8), 12);    // odd columns 1, 3, .., 15
          const xp = x + (<usize>j << 2);
          c0 = fma<f32>(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), v128.load(xp), c0);
          c1 = fma<f32>(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), v128.load(xp, 16), c1);
          c2 = fma<f32>(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), v128.load(xp, 32), c2);
          c3 = fma<f32>(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), v128.load(xp, 48), c3);
        }
        const acc = f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3));
        s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
      } else {
        for (let j = j0; j < j0 + group; j++) s += <f32>nib(wr, j) * load<f32>(x + (<usize>j << 2));
      }
      t += load<f32>(sr + (<usize>g << 2)) * s;
    }
    const yp = y + (<usize>i << 2);
    store<f32>(yp, beta == 0 ? alpha * t : alpha * t + beta * load<f32>(yp));
  }
}

/** 16 int4 values (8 bytes at p) as two i16x8: even columns, odd columns (i16 shifts are native on x86). */
// @ts-ignore: decorator
@inline function nibLo(v: v128): v128 { return i16x8.shr_s(i16x8.shl(v, 12), 12); }
// @ts-ignore: decorator
@inline function nibHi(v: v128): v128 { return i16x8.shr_s(i16x8.shl(v, 8), 12); }

/** Σ over 16 columns of int4(w) · int8(x) as i32x4 partial sums (i32x4.dot_i16x8_s); xp permuted (int8PermuteX). */
// @ts-ignore: decorator
@inline function dot16w4a8(w: usize, xp: usize, acc: v128): v128 {
  const v = i16x8.extend_low_i8x16_u(v128.load64_zero(w));
  const xv = v128.load(xp);
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(nibLo(v), i16x8.extend_low_i8x16_s(xv)));
  return i32x4.add(acc, i32x4.dot_i16x8_s(nibHi(v), i16x8.extend_high_i8x16_s(xv)));
}

/** dst = int8 x permuted per 16 columns: the 8 even columns, then the 8 odd ones (n a multiple of 16). */
export function int8PermuteX(n: i32, x: usize, dst: usize): void {
  for (let j = 0; j < n; j += 16) {
    for (let t = 0; t < 8; t++) {
      store<i8>(dst + <usize>(j + t), load<i8>(x + <usize>(j + 2 * t)));
      store<i8>(dst + <usize>(j + 8 + t), load<i8>(x + <usize>(j + 2 * t + 1)));
    }
  }
}
// @ts-ignore: decorator
@inline function hsumI(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

/**
 * W4A8 GEMV, rows [r0, r1): y[i] = alpha · xScale · Σ_g scale[i, g] · (Σ_{j∈g} q[i, j] · xq[j])_i32 + beta · y[i].
 * xq is int8 (one byte per column); when group is a multiple of 16 it must be permuted by int8PermuteX.
 */
export function w4a8Gemv(r0: i32, r1: i32, n: i32, group: i32, alpha: f32, w: usize, scales: usize, xq: usize, xScale: f32, beta: f32, y: usize): void {
  const rowB = <usize>(n >> 1);
  const ng = n / group;
  const simd = (group & 15) == 0;
  for (let i = r0; i < r1; i++) {
    const wr = w + <usize>i * rowB;
    const sr = scales + <usize>i * <usize>ng * 4;
    let t: f32 = 0;
    for (let g = 0; g < ng; g++) {
      const j0 = g * group;
      let s: i32 = 0;
      if (simd) {
        let acc = i32x4.splat(0);
        for (let j = j0; j < j0 + group; j += 16) acc = dot16w4a8(wr + (<usize>j >> 1), xq + <usize>j, acc);
        s = hsumI(acc);
      } else {
        for (let j = j0; j < j0 + group; j++) s += nib(wr, j) * <i32>load<i8>(xq + <usize>j);
      }
      t += load<f32>(sr + (<usize>g << 2)) * <f32>s;
    }
    const yp = y + (<usize>i << 2);
    const v = alpha * xScale * t;
    store<f32>(yp, beta == 0 ? v : v + beta * load<f32>(yp));
  }
}

/** Σ over 16 columns of int4(a) · int4(w), i32x4 partial sums (even with even, odd with odd columns). */
// @ts-ignore: decorator
@inline function dot16w4a4(a: usize, w: usize, acc: v128): v128 {
  const va = i16x8.extend_low_i8x16_u(v128.load64_zero(a)), vw = i16x8.extend_low_i8x16_u(v128.load64_zero(w));
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(nibLo(va), nibLo(vw)));
  return i32x4.add(acc, i32x4.dot_i16x8_s(nibHi(va), nibHi(vw)));
}

/**
 * W4A4 GEMM, rows [r0, r1) of C: C[i, j] = alpha · Σ_g aScale[i, g] · wScale[j, g] · (Σ_{p∈g} qa[i, p] · qw[j, p])_i32 + beta · C[i, j].
 * A is m × k int4 (activations), W is n × k int4 (weights, out × in), C = A · Wᵀ is m × n f32 with row stride ldc.
 */
export function w4a4Gemm(r0: i32, r1: i32, n: i32, k: i32, group: i32, alpha: f32, a: usize, aScales: usize, w: usize, wScales: usize, beta: f32, c: usize, ldc: i32): void {
  const rowB = <usize>(k >> 1);
  const ng = k / group;
  const simd = (group & 15) == 0;
  for (let i = r0; i < r1; i++) {
    const ar = a + <usize>i * rowB;
    const sa = aScales + <usize>i * <usize>ng * 4;
    const cr = c + <usize>i * <usize>ldc * 4;
    for (let j = 0; j < n; j++) {
      const wr = w + <usize>j * rowB;
      const sw = wScales + <usize>j * <usize>ng * 4;
      let t: f32 = 0;
      for (let g = 0; g < ng; g++) {
        const p0 = g * group;
        let s: i32 = 0;
        if (simd) {
          let acc = i32x4.splat(0);
          for (let p = p0; p < p0 + group; p += 16) acc = dot16w4a4(ar + (<usize>p >> 1), wr + (<usize>p >> 1), acc);
          s = hsumI(acc);
        } else {
          for (let p = p0; p < p0 + group; p++) s += nib(ar, p) * nib(wr, p);
        }
        t += load<f32>(sa + (<usize>g << 2)) * load<f32>(sw + (<usize>g << 2)) * <f32>s;
      }
      const cp = cr + (<usize>j << 2);
      store<f32>(cp, beta == 0 ? alpha * t : alpha * t + beta * load<f32>(cp));
    }
  }
}

/** Plain integer dot products: out[i] = Σ_p qa[i, p] · qw[i, p] (int4 × int4, i32), rows of length k. */
export function int4Dot(rows: i32, k: i32, a: usize, w: usize, out: usize): void {
  const rowB = <usize>(k >> 1);
  const kv = k & ~15;
  for (let i = 0; i < rows; i++) {
    const ar = a + <usize>i * rowB, wr = w + <usize>i * rowB;
    let acc = i32x4.splat(0);
    for (let p = 0; p < kv; p += 16) acc = dot16w4a4(ar + (<usize>p >> 1), wr + (<usize>p >> 1), acc);
    let s = hsumI(acc);
    for (let p = kv; p < k; p++) s += nib(ar, p) * nib(wr, p);
    store<i32>(out + (<usize>i << 2), s);
  }
}
