// Integer (int4 / int8) kernels: dequantize-on-the-fly GEMV, W4A8 GEMV, W4A4 GEMM, dot products.
import { fma, RELAXED } from './common';

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

// ---------------------------------------------------------------- W4A4 / W4A8 GEMM (register-blocked)
// C = A · Wᵀ: A is m × k activations (int4 packed, or int8), W is n × k int4 weights (out × in),
// per-group scales on both sides.
// 1. igemmPrepA (calling thread, once per call): A → AE-byte integers (i8 with relaxed SIMD, i16
//    without), columns permuted per 16 (8 even, then 8 odd: the order the weight nibbles unpack in),
//    rows padded to a multiple of IMR with zeros; scales copied (padded); with relaxed SIMD also the
//    group sums Σa (for the +8 weight offset below).
// 2. w4a4Gemm (per thread, a range [j0, j1) of weight rows = columns of C): for each strip of INR = 8
//    weight rows, unpack and interleave the strip once into scratch: vector (word p, half v) holds
//    4 rows × word p of each (relaxed: 4 int8 columns offset by +8 into 0..15; plain: 2 int16
//    columns), so one word of an A row splatted to all lanes meets 4 weight rows, and each i32 lane
//    accumulates one output C[i, j]: no horizontal sums. Then IMR × INR tiles over the A rows with
//    IMR × 2 i32x4 accumulators: relaxed `i32x4.relaxed_dot_i8x16_i7x16_add_s` (16 MACs, second
//    operand in 0..15 so the result is portable), plain `i32x4.dot_i16x8_s` (8 MACs). After each
//    group: (acc − 8·Σa) → f32, times (wScale · aScale), added to an f32 tile in scratch.
// Groups that are not multiples of 16 take a scalar path (exact i32 group sums, same scaling).

const IMR: i32 = 4;               // A rows per tile
const INR: i32 = 8;               // weight rows per strip (2 vectors × 4 lanes)
const AE: i32 = RELAXED ? 1 : 2;  // bytes per prepared activation
const IMC_BYTES: i32 = 1 << 18;   // prepared A rows per block: about 256 KiB

/** Blocking facts for the JS side: 0 → IMR, 1 → INR, 2 → bytes per prepared activation. */
export function igemmInfo(which: i32): i32 { return which == 0 ? IMR : which == 1 ? INR : AE; }
/** Scratch bytes one w4a4Gemm job needs: the packed strip, its scales and the f32 tile. */
export function igemmScratchBytes(k: i32, group: i32): i32 { return k * AE * INR + (k / group) * INR * 4 + 2 * IMR * INR * 4 + 64; }

// Inner product step. Relaxed: i16x8.relaxed_dot_i8x16_i7x16_s (pmaddubsw: 16 MACs into 8 i16 pair
// sums) added in i16 (the caller flushes to i32 before an i16 lane can overflow; a fused
// i32x4.relaxed_dot_i8x16_i7x16_add_s would cost a pmaddwd more, and V8 11 (Node 20) miscompiled it
// under this kernel's register pressure). Plain: i32x4.dot_i16x8_s (8 MACs) added in i32.
// @ts-ignore: decorator
@inline function idot(a: v128, b: v128, c: v128): v128 {
  if (RELAXED) return i16x8.add(c, i16x8.relaxed_dot_i8x16_i7x16_s(a, b));
  else return i32x4.add(c, i32x4.dot_i16x8_s(a, b));
}
/** Accumulator → i32x4 partial sums (relaxed: pairwise-add the i16 lanes). */
// @ts-ignore: decorator
@inline function iwiden(c: v128): v128 {
  if (RELAXED) return i32x4.extadd_pairwise_i16x8_s(c);
  else return c;
}

/**
 * Prepares the activations (see above). bits = 4: `a` is packed int4 (m × k/2 bytes); bits = 8: int8
 * (m × k bytes). dst: mpad × k × AE bytes; dstScales: mpad × (k/group) f32; dstSum: mpad × (k/group) i32
 * (written with relaxed SIMD and group % 16 == 0 only).
 */
export function igemmPrepA(bits: i32, m: i32, mpad: i32, k: i32, group: i32, a: usize, aScales: usize, dst: usize, dstScales: usize, dstSum: usize, tmp: usize): i32 {
  const ng = k / group;
  let amax = i16x8.splat(0);
  const perm = (group & 15) == 0;
  const rowIn: usize = bits == 4 ? <usize>(k >> 1) : <usize>k;
  const rowOut = <usize>k * AE;
  for (let i = 0; i < mpad; i++) {
    // SIMD path: rows go through tmp and are interleaved per IMR-row panel below
    const d = perm ? tmp + <usize>(i % IMR) * rowOut : dst + <usize>i * rowOut;
    const so = <usize>i * <usize>ng * 4;
    if (i >= m) {
      memory.fill(d, 0, rowOut);
      if (perm && i % IMR == IMR - 1) igemmInterleave(tmp, rowOut, dst + <usize>(i - IMR + 1) * rowOut);
      memory.fill(dstScales + so, 0, <usize>ng * 4);
      if (RELAXED && perm) memory.fill(dstSum + so, 0, <usize>ng * 4);
      continue;
    }
    const s = a + <usize>i * rowIn;
    if (perm) {
      for (let j = 0; j < k; j += 16) {
        let lo: v128, hi: v128; // i16x8: even columns, odd columns
        if (bits == 4) {
          const v = i16x8.extend_low_i8x16_u(v128.load64_zero(s + (<usize>j >> 1)));
          lo = nibLo(v); hi = nibHi(v);
        } else {
          const v = v128.load(s + <usize>j);
          const p = i8x16.shuffle(v, v, 0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
          lo = i16x8.extend_low_i8x16_s(p); hi = i16x8.extend_high_i8x16_s(p);
        }
        amax = i16x8.max_s(amax, i16x8.max_s(i16x8.abs(lo), i16x8.abs(hi)));
        if (RELAXED) v128.store(d + <usize>j, i8x16.narrow_i16x8_s(lo, hi));
        else { v128.store(d + (<usize>j << 1), lo); v128.store(d + (<usize>j << 1), hi, 16); }
      }
    } else {
      for (let j = 0; j < k; j++) {
        const v = bits == 4 ? nib(s, j) : <i32>load<i8>(s + <usize>j);
        amax = i16x8.max_s(amax, i16x8.splat(<i16>abs(v)));
        if (RELAXED) store<i8>(d + <usize>j, <i8>v); else store<i16>(d + (<usize>j << 1), <i16>v);
      }
    }
    for (let g = 0; g < ng; g++) {
      const o = so + (<usize>g << 2);
      store<f32>(dstScales + o, load<f32>(aScales + o));
      if (RELAXED && perm) {
        let acc = i32x4.splat(0);
        for (let p = g * group; p < (g + 1) * group; p += 16) {
          acc = i32x4.add(acc, i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(v128.load(d + <usize>p))));
        }
        store<i32>(dstSum + o, hsumI(acc));
      }
    }
    if (perm && i % IMR == IMR - 1) igemmInterleave(tmp, rowOut, dst + <usize>(i - IMR + 1) * rowOut);
  }
  amax = i16x8.max_s(amax, i32x4.shuffle(amax, amax, 2, 3, 0, 1));
  amax = i16x8.max_s(amax, i32x4.shuffle(amax, amax, 1, 0, 3, 2));
  return max(<i32>i16x8.extract_lane_s(amax, 0), <i32>i16x8.extract_lane_s(amax, 1));
}

/** IMR (= 4) rows of rowOut bytes at tmp → one panel at dst: word q of row r at q·16 + r·4 (4×4 i32 transposes). */
function igemmInterleave(tmp: usize, rowOut: usize, dst: usize): void {
  for (let q: usize = 0; q < rowOut; q += 16) {
    const r0 = v128.load(tmp + q), r1 = v128.load(tmp + rowOut + q), r2 = v128.load(tmp + 2 * rowOut + q), r3 = v128.load(tmp + 3 * rowOut + q);
    const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5), t1 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
    const t2 = i32x4.shuffle(r2, r3, 0, 4, 1, 5), t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
    const o = dst + (q << 2);
    v128.store(o, i64x2.shuffle(t0, t2, 0, 2));
    v128.store(o, i64x2.shuffle(t0, t2, 1, 3), 16);
    v128.store(o, i64x2.shuffle(t1, t3, 0, 2), 32);
    v128.store(o, i64x2.shuffle(t1, t3, 1, 3), 48);
  }
}

/** Unpacks and interleaves weight rows [j, j + INR) (clamped to jEnd − 1) and their scales into dst / dstS. */
function igemmPackStrip(w: usize, rowB: usize, j: i32, jEnd: i32, k: i32, ng: i32, wScales: usize, dst: usize, dstS: usize): void {
  const M0F = i32x4.splat(0x0F0F0F0F), M88 = i32x4.splat(0x88888888);
  for (let h = 0; h < 2; h++) {
    const jb = j + 4 * h;
    const r0 = min(jb, jEnd - 1), r1 = min(jb + 1, jEnd - 1), r2 = min(jb + 2, jEnd - 1), r3 = min(jb + 3, jEnd - 1);
    const p0 = w + <usize>r0 * rowB, p1 = w + <usize>r1 * rowB, p2 = w + <usize>r2 * rowB, p3 = w + <usize>r3 * rowB;
    for (let b = 0; b < k; b += 16) {
      const off = <usize>(b >> 1);
      if (RELAXED) {
        // 4 words per 16 columns; word t of the even columns = columns 8t', .. (after the A permutation)
        const v01 = v128.xor(v128.load64_lane(p1 + off, v128.load64_zero(p0 + off), 1), M88);
        const v23 = v128.xor(v128.load64_lane(p3 + off, v128.load64_zero(p2 + off), 1), M88);
        const lo01 = v128.and(v01, M0F), lo23 = v128.and(v23, M0F);
        const hi01 = v128.and(i16x8.shr_u(v01, 4), M0F), hi23 = v128.and(i16x8.shr_u(v23, 4), M0F);
        const q = dst + (<usize>(b >> 2) << 5) + (<usize>h << 4);
        v128.store(q, i32x4.shuffle(lo01, lo23, 0, 2, 4, 6));
        v128.store(q, i32x4.shuffle(lo01, lo23, 1, 3, 5, 7), 32);
        v128.store(q, i32x4.shuffle(hi01, hi23, 0, 2, 4, 6), 64);
        v128.store(q, i32x4.shuffle(hi01, hi23, 1, 3, 5, 7), 96);
      } else {
        // 8 words (i16 pairs) per 16 columns: 4×4 i32 transposes of the even and the odd halves
        const w0 = i16x8.extend_low_i8x16_u(v128.load64_zero(p0 + off)), w1 = i16x8.extend_low_i8x16_u(v128.load64_zero(p1 + off));
        const w2 = i16x8.extend_low_i8x16_u(v128.load64_zero(p2 + off)), w3 = i16x8.extend_low_i8x16_u(v128.load64_zero(p3 + off));
        const q = dst + (<usize>(b >> 1) << 5) + (<usize>h << 4);
        let L0 = nibLo(w0), L1 = nibLo(w1), L2 = nibLo(w2), L3 = nibLo(w3);
        let t0 = i32x4.shuffle(L0, L1, 0, 4, 1, 5), t1 = i32x4.shuffle(L0, L1, 2, 6, 3, 7);
        let t2 = i32x4.shuffle(L2, L3, 0, 4, 1, 5), t3 = i32x4.shuffle(L2, L3, 2, 6, 3, 7);
        v128.store(q, i64x2.shuffle(t0, t2, 0, 2));
        v128.store(q, i64x2.shuffle(t0, t2, 1, 3), 32);
        v128.store(q, i64x2.shuffle(t1, t3, 0, 2), 64);
        v128.store(q, i64x2.shuffle(t1, t3, 1, 3), 96);
        L0 = nibHi(w0); L1 = nibHi(w1); L2 = nibHi(w2); L3 = nibHi(w3);
        t0 = i32x4.shuffle(L0, L1, 0, 4, 1, 5); t1 = i32x4.shuffle(L0, L1, 2, 6, 3, 7);
        t2 = i32x4.shuffle(L2, L3, 0, 4, 1, 5); t3 = i32x4.shuffle(L2, L3, 2, 6, 3, 7);
        v128.store(q, i64x2.shuffle(t0, t2, 0, 2), 128);
        v128.store(q, i64x2.shuffle(t0, t2, 1, 3), 160);
        v128.store(q, i64x2.shuffle(t1, t3, 0, 2), 192);
        v128.store(q, i64x2.shuffle(t1, t3, 1, 3), 224);
      }
    }
    for (let g = 0; g < ng; g++) {
      const d = dstS + (<usize>g << 5) + (<usize>h << 4);
      store<f32>(d, load<f32>(wScales + ((<usize>r0 * <usize>ng + <usize>g) << 2)));
      store<f32>(d, load<f32>(wScales + ((<usize>r1 * <usize>ng + <usize>g) << 2)), 4);
      store<f32>(d, load<f32>(wScales + ((<usize>r2 * <usize>ng + <usize>g) << 2)), 8);
      store<f32>(d, load<f32>(wScales + ((<usize>r3 * <usize>ng + <usize>g) << 2)), 12);
    }
  }
}

/** One tile row after a group: tile[0..8) += f32(acc − 8·Σa) · (wScale · aScale). */
// @ts-ignore: decorator
@inline function igemmRow(acc0: v128, acc1: v128, sum: usize, sa: f32, ws0: v128, ws1: v128, t: usize): void {
  let x0 = acc0, x1 = acc1;
  if (RELAXED) { const corr = i32x4.splat(load<i32>(sum) << 3); x0 = i32x4.sub(x0, corr); x1 = i32x4.sub(x1, corr); }
  const sv = f32x4.splat(sa);
  v128.store(t, fma<f32>(f32x4.convert_i32x4_s(x0), f32x4.mul(ws0, sv), v128.load(t)));
  v128.store(t, fma<f32>(f32x4.convert_i32x4_s(x1), f32x4.mul(ws1, sv), v128.load(t, 16)), 16);
}
/**
 * One IMR × INR tile over all groups, accumulated into the f32 tile at `tile` (row r at r·32 bytes).
 * `chunk`: word steps after which the accumulators are flushed to i32 (the i16 overflow bound);
 * itile: 8 i32x4 of scratch.
 */
function igemmTile(ap: usize, sa: usize, sum: usize, ng: i32, gw: i32, chunk: i32, bp: usize, bs: usize, tile: usize, itile: usize): void {
  const gBytes = <usize>gw << 2;
  for (let g = 0; g < ng; g++) {
    const a0 = ap + <usize>g * gBytes * <usize>IMR;
    let b = bp + ((<usize>g * gBytes) << 3);
    for (let q0: usize = 0; q0 < gBytes; q0 += <usize>chunk << 2) {
      const qe = min(gBytes, q0 + (<usize>chunk << 2));
      let c00 = i32x4.splat(0), c01 = i32x4.splat(0), c10 = i32x4.splat(0), c11 = i32x4.splat(0);
      let c20 = i32x4.splat(0), c21 = i32x4.splat(0), c30 = i32x4.splat(0), c31 = i32x4.splat(0);
      let pa = a0 + q0 * <usize>IMR;
      for (const pe = pa + (qe - q0) * <usize>IMR; pa < pe;) {
        // one word of each of the 4 rows in one load; lanes splatted with shuffles (no address math)
        const av = v128.load(pa), b0 = v128.load(b), b1 = v128.load(b, 16);
        let x = i32x4.shuffle(av, av, 0, 0, 0, 0);
        c00 = idot(x, b0, c00); c01 = idot(x, b1, c01);
        x = i32x4.shuffle(av, av, 1, 1, 1, 1);
        c10 = idot(x, b0, c10); c11 = idot(x, b1, c11);
        x = i32x4.shuffle(av, av, 2, 2, 2, 2);
        c20 = idot(x, b0, c20); c21 = idot(x, b1, c21);
        x = i32x4.shuffle(av, av, 3, 3, 3, 3);
        c30 = idot(x, b0, c30); c31 = idot(x, b1, c31);
        b += 32; pa += 16;
      }
      if (qe == gBytes && q0 == 0) {
        // the whole group in one chunk (4-bit activations, groups up to 544): scale from registers
        const ws0 = v128.load(bs + (<usize>g << 5)), ws1 = v128.load(bs + (<usize>g << 5), 16);
        const go = <usize>g << 2, rs = <usize>ng << 2;
        igemmRow(iwiden(c00), iwiden(c01), sum + go, load<f32>(sa + go), ws0, ws1, tile);
        igemmRow(iwiden(c10), iwiden(c11), sum + rs + go, load<f32>(sa + rs + go), ws0, ws1, tile + 32);
        igemmRow(iwiden(c20), iwiden(c21), sum + 2 * rs + go, load<f32>(sa + 2 * rs + go), ws0, ws1, tile + 64);
        igemmRow(iwiden(c30), iwiden(c31), sum + 3 * rs + go, load<f32>(sa + 3 * rs + go), ws0, ws1, tile + 96);
        break;
      }
      if (q0 == 0) {
        v128.store(itile, iwiden(c00)); v128.store(itile, iwiden(c01), 16);
        v128.store(itile, iwiden(c10), 32); v128.store(itile, iwiden(c11), 48);
        v128.store(itile, iwiden(c20), 64); v128.store(itile, iwiden(c21), 80);
        v128.store(itile, iwiden(c30), 96); v128.store(itile, iwiden(c31), 112);
      } else {
        v128.store(itile, i32x4.add(v128.load(itile), iwiden(c00)));
        v128.store(itile, i32x4.add(v128.load(itile, 16), iwiden(c01)), 16);
        v128.store(itile, i32x4.add(v128.load(itile, 32), iwiden(c10)), 32);
        v128.store(itile, i32x4.add(v128.load(itile, 48), iwiden(c11)), 48);
        v128.store(itile, i32x4.add(v128.load(itile, 64), iwiden(c20)), 64);
        v128.store(itile, i32x4.add(v128.load(itile, 80), iwiden(c21)), 80);
        v128.store(itile, i32x4.add(v128.load(itile, 96), iwiden(c30)), 96);
        v128.store(itile, i32x4.add(v128.load(itile, 112), iwiden(c31)), 112);
      }
    }
    if (gBytes <= <usize>chunk << 2) continue; // scaled above
    const ws0 = v128.load(bs + (<usize>g << 5)), ws1 = v128.load(bs + (<usize>g << 5), 16);
    const go = <usize>g << 2, rs = <usize>ng << 2;
    for (let r: usize = 0; r < <usize>IMR; r++) {
      const o = r << 5;
      igemmRow(v128.load(itile + o), v128.load(itile + o, 16), sum + r * rs + go, load<f32>(sa + r * rs + go), ws0, ws1, tile + o);
    }
  }
}

/**
 * W4A4 / W4A8 GEMM on activations prepared by igemmPrepA, columns [j0, j1) of C (weight rows):
 * C[i, j] = alpha · Σ_g aScale[i, g] · wScale[j, g] · (Σ_{p∈g} qa[i, p] · qw[j, p])_i32 + beta · C[i, j].
 * chunk: word steps between flushes of the accumulators (relaxed: ⌊32767 / (30 · max|a|)⌋, see igemmChunk).
 * ap / sa / sum: prepared A, scales, group sums; w: n × k/2 packed int4; ws: n × (k/group) f32;
 * C row-major with row stride ldc; scratch: igemmScratchBytes(k, group) bytes, private to this call.
 * beta = 0 never reads C.
 */
export function w4a4Gemm(j0: i32, j1: i32, m: i32, k: i32, group: i32, chunk: i32, alpha: f32, ap: usize, sa: usize, sum: usize, w: usize, ws: usize, beta: f32, c: usize, ldc: i32, scratch: usize): void {
  const ng = k / group;
  const rowB = <usize>(k >> 1);
  const rowA = <usize>k * AE;
  const ldcB = <usize>ldc << 2;
  if ((group & 15) != 0) {
    // scalar path: A prepared in natural column order
    for (let i = 0; i < m; i++) {
      const ar = ap + <usize>i * rowA, sr = sa + <usize>i * <usize>ng * 4, cr = c + <usize>i * ldcB;
      for (let j = j0; j < j1; j++) {
        const wr = w + <usize>j * rowB, sw = ws + <usize>j * <usize>ng * 4;
        let t: f32 = 0;
        for (let g = 0; g < ng; g++) {
          let s: i32 = 0;
          for (let p = g * group; p < (g + 1) * group; p++) {
            const x = RELAXED ? <i32>load<i8>(ar + <usize>p) : <i32>load<i16>(ar + (<usize>p << 1));
            s += x * nib(wr, p);
          }
          t += load<f32>(sr + (<usize>g << 2)) * load<f32>(sw + (<usize>g << 2)) * <f32>s;
        }
        const cp = cr + (<usize>j << 2);
        store<f32>(cp, beta == 0 ? alpha * t : alpha * t + beta * load<f32>(cp));
      }
    }
    return;
  }
  const mpad = (m + IMR - 1) / IMR * IMR;
  const bp = scratch, bs = scratch + <usize>k * AE * INR, tile = bs + <usize>ng * INR * 4, itile = tile + <usize>(IMR * INR * 4);
  const gw = group * AE / 4;
  let mc = (IMC_BYTES / max(1, <i32>rowA)) / IMR * IMR;
  if (mc < IMR) mc = IMR;
  const va = f32x4.splat(alpha), vb = f32x4.splat(beta);
  for (let ic = 0; ic < mpad; ic += mc) {
    const ie = min(mpad, ic + mc);
    for (let j = j0; j < j1; j += INR) {
      igemmPackStrip(w, rowB, j, j1, k, ng, ws, bp, bs);
      const full = j + INR <= j1;
      for (let i0 = ic; i0 < ie; i0 += IMR) {
        memory.fill(tile, 0, <usize>(IMR * INR * 4));
        igemmTile(ap + <usize>i0 * rowA, sa + <usize>i0 * <usize>ng * 4, sum + <usize>i0 * <usize>ng * 4, ng, gw, chunk, bp, bs, tile, itile);
        const rows = min(IMR, m - i0);
        for (let r = 0; r < rows; r++) {
          const cp = c + <usize>(i0 + r) * ldcB + (<usize>j << 2), tp = tile + (<usize>r << 5);
          if (full) {
            let y0 = f32x4.mul(v128.load(tp), va), y1 = f32x4.mul(v128.load(tp, 16), va);
            if (beta != 0) { y0 = fma<f32>(v128.load(cp), vb, y0); y1 = fma<f32>(v128.load(cp, 16), vb, y1); }
            v128.store(cp, y0); v128.store(cp, y1, 16);
          } else {
            for (let t = 0; t < j1 - j; t++) {
              const o = <usize>t << 2;
              const y = alpha * load<f32>(tp + o);
              store<f32>(cp + o, beta == 0 ? y : y + beta * load<f32>(cp + o));
            }
          }
        }
      }
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
