// Plane-rotation kernels for the bidiagonal SVD (compiled by scripts/build-kernels.mjs, WASM SIMD).
// A batch of `count` rotations, op q = (row a, row b, c, s) stored as 4 f64 at ops + 32·q, is applied
// in order to rows of a row-major matrix at `base` with row stride `ld` (elements), `ncols` columns:
//   (x, y) ← (c·x + s·y, c·y − s·x).
// Columns are processed in chunks so one chunk of the matrix stays in cache (L2) across the whole
// batch. Within a chunk, a run of chained rotations (a, a+1), (a+1, a+2), … (one implicit QR sweep)
// is applied column group by column group with the shared row carried in registers: every row of
// the run is loaded once and stored once (instead of twice each), and the rotation parameters are
// the only other loads. Exact IEEE mul/add (no FMA), so results equal the one-by-one order.

// With relaxed SIMD (a second build, used where the engine accepts it) the multiply-adds are fused.
const RELAXED: bool = ASC_FEATURE_RELAXED_SIMD;
// @ts-ignore: decorator
@inline function madd64(a: v128, b: v128, c: v128): v128 { if (RELAXED) { return v128.relaxed_madd<f64>(a, b, c); } else { return f64x2.add(f64x2.mul(a, b), c); } }
// @ts-ignore: decorator
@inline function nmadd64(a: v128, b: v128, c: v128): v128 { if (RELAXED) { return v128.relaxed_nmadd<f64>(a, b, c); } else { return f64x2.sub(c, f64x2.mul(a, b)); } }
// @ts-ignore: decorator
@inline function madd32(a: v128, b: v128, c: v128): v128 { if (RELAXED) { return v128.relaxed_madd<f32>(a, b, c); } else { return f32x4.add(f32x4.mul(a, b), c); } }
// @ts-ignore: decorator
@inline function nmadd32(a: v128, b: v128, c: v128): v128 { if (RELAXED) { return v128.relaxed_nmadd<f32>(a, b, c); } else { return f32x4.sub(c, f32x4.mul(a, b)); } }

const DCHUNK: i32 = 64;   // f64 columns per chunk (1024 rows × 64 × 8 B = 512 KiB); groups of 16 in registers
const SCHUNK: i32 = 128;  // f32 columns per chunk; groups of 32 in registers (8 independent carries hide latency)

@inline function opA(ops: usize, q: i32): i32 { return <i32>load<f64>(ops + (<usize>q << 5)); }
@inline function opB(ops: usize, q: i32): i32 { return <i32>load<f64>(ops + (<usize>q << 5), 8); }

/** End (exclusive) of the chain starting at op q: ops (a, a+1), (a+1, a+2), … */
@inline function chainEnd(ops: usize, q: i32, count: i32): i32 {
  let a = opA(ops, q), b = opB(ops, q);
  let e = q + 1;
  if (b != a + 1) return e;
  while (e < count) {
    const a2 = opA(ops, e), b2 = opB(ops, e);
    if (a2 != b || b2 != a2 + 1) break;
    b = b2; e++;
  }
  return e;
}

function dsingle(base: usize, ld: i32, c0: i32, w: i32, ops: usize, q: i32): void {
  const o = ops + (<usize>q << 5);
  const a = <i32>load<f64>(o), b = <i32>load<f64>(o, 8);
  const c = load<f64>(o, 16), s = load<f64>(o, 24);
  const px0 = base + ((<usize>a * <usize>ld + <usize>c0) << 3);
  const py0 = base + ((<usize>b * <usize>ld + <usize>c0) << 3);
  const cv = f64x2.splat(c), sv = f64x2.splat(s);
  let i: i32 = 0;
  for (; i + 2 <= w; i += 2) {
    const px = px0 + (<usize>i << 3), py = py0 + (<usize>i << 3);
    const x = v128.load(px), y = v128.load(py);
    v128.store(px, madd64(cv, x, f64x2.mul(sv, y)));
    v128.store(py, nmadd64(sv, x, f64x2.mul(cv, y)));
  }
  for (; i < w; i++) {
    const px = px0 + (<usize>i << 3), py = py0 + (<usize>i << 3);
    const x = load<f64>(px), y = load<f64>(py);
    store<f64>(px, c * x + s * y);
    store<f64>(py, c * y - s * x);
  }
}

function dchain(base: usize, ld: i32, c0: i32, w: i32, ops: usize, q0: i32, q1: i32): void {
  const a0 = opA(ops, q0);
  const rowBytes = <usize>ld << 3;
  const start = base + ((<usize>a0 * <usize>ld + <usize>c0) << 3);
  let g: i32 = 0;
  for (; g + 16 <= w; g += 16) {
    let p = start + (<usize>g << 3);
    let x0 = v128.load(p), x1 = v128.load(p, 16), x2 = v128.load(p, 32), x3 = v128.load(p, 48), x4 = v128.load(p, 64), x5 = v128.load(p, 80), x6 = v128.load(p, 96), x7 = v128.load(p, 112);
    for (let q = q0; q < q1; q++) {
      const o = ops + (<usize>q << 5);
      const cv = f64x2.splat(load<f64>(o, 16)), sv = f64x2.splat(load<f64>(o, 24));
      const py = p + rowBytes;
      const y0 = v128.load(py, 0);
      v128.store(p, madd64(cv, x0, f64x2.mul(sv, y0)), 0);
      x0 = nmadd64(sv, x0, f64x2.mul(cv, y0));
      const y1 = v128.load(py, 16);
      v128.store(p, madd64(cv, x1, f64x2.mul(sv, y1)), 16);
      x1 = nmadd64(sv, x1, f64x2.mul(cv, y1));
      const y2 = v128.load(py, 32);
      v128.store(p, madd64(cv, x2, f64x2.mul(sv, y2)), 32);
      x2 = nmadd64(sv, x2, f64x2.mul(cv, y2));
      const y3 = v128.load(py, 48);
      v128.store(p, madd64(cv, x3, f64x2.mul(sv, y3)), 48);
      x3 = nmadd64(sv, x3, f64x2.mul(cv, y3));
      const y4 = v128.load(py, 64);
      v128.store(p, madd64(cv, x4, f64x2.mul(sv, y4)), 64);
      x4 = nmadd64(sv, x4, f64x2.mul(cv, y4));
      const y5 = v128.load(py, 80);
      v128.store(p, madd64(cv, x5, f64x2.mul(sv, y5)), 80);
      x5 = nmadd64(sv, x5, f64x2.mul(cv, y5));
      const y6 = v128.load(py, 96);
      v128.store(p, madd64(cv, x6, f64x2.mul(sv, y6)), 96);
      x6 = nmadd64(sv, x6, f64x2.mul(cv, y6));
      const y7 = v128.load(py, 112);
      v128.store(p, madd64(cv, x7, f64x2.mul(sv, y7)), 112);
      x7 = nmadd64(sv, x7, f64x2.mul(cv, y7));
      p = py;
    }
    v128.store(p, x0, 0); v128.store(p, x1, 16); v128.store(p, x2, 32); v128.store(p, x3, 48); v128.store(p, x4, 64); v128.store(p, x5, 80); v128.store(p, x6, 96); v128.store(p, x7, 112);
  }
  if (g < w) for (let q = q0; q < q1; q++) dsingle(base, ld, c0 + g, w - g, ops, q);
}

/**
 * Two chains fused as a wavefront: C1 = ops [q0, q1) on rows a..b1, C2 = ops [q1, q2) on rows a..b2
 * (same first row, b2 ≤ b1). C2's rotation (r−1, r) runs as soon as C1 has finished row r, so
 * every row is loaded and stored once for both sweeps (half the cache traffic of two chains).
 */
function dfused(base: usize, ld: i32, c0: i32, w: i32, ops: usize, q0: i32, q1: i32, q2: i32): void {
  const a = opA(ops, q0);
  const b1 = a + (q1 - q0), b2 = a + (q2 - q1);
  const rowBytes = <usize>ld << 3;
  const start = base + ((<usize>a * <usize>ld + <usize>c0) << 3);
  let g: i32 = 0;
  for (; g + 8 <= w; g += 8) {
    const p0 = start + (<usize>g << 3);
    let o1 = ops + (<usize>q0 << 5), o2 = ops + (<usize>q1 << 5);
    // C1 rotation (a, a+1): its row-a output is C2's first carry
    let x0 = v128.load(p0, 0), x1 = v128.load(p0, 16), x2 = v128.load(p0, 32), x3 = v128.load(p0, 48);
    let py = p0 + rowBytes;
    let c1 = f64x2.splat(load<f64>(o1, 16)), s1 = f64x2.splat(load<f64>(o1, 24));
    const y0 = v128.load(py, 0); const y1 = v128.load(py, 16); const y2 = v128.load(py, 32); const y3 = v128.load(py, 48);
    let z0 = madd64(c1, x0, f64x2.mul(s1, y0)), z1 = madd64(c1, x1, f64x2.mul(s1, y1)), z2 = madd64(c1, x2, f64x2.mul(s1, y2)), z3 = madd64(c1, x3, f64x2.mul(s1, y3));
    x0 = nmadd64(s1, x0, f64x2.mul(c1, y0));
    x1 = nmadd64(s1, x1, f64x2.mul(c1, y1));
    x2 = nmadd64(s1, x2, f64x2.mul(c1, y2));
    x3 = nmadd64(s1, x3, f64x2.mul(c1, y3));
    o1 += 32;
    let pr = py; // address of row r (C1's next output row)
    for (let r = a + 1; r < b1; r++) {
      const pn = pr + rowBytes;
      c1 = f64x2.splat(load<f64>(o1, 16)); s1 = f64x2.splat(load<f64>(o1, 24)); o1 += 32;
      const y0 = v128.load(pn, 0);
      const u0 = madd64(c1, x0, f64x2.mul(s1, y0));
      x0 = nmadd64(s1, x0, f64x2.mul(c1, y0));
      const y1 = v128.load(pn, 16);
      const u1 = madd64(c1, x1, f64x2.mul(s1, y1));
      x1 = nmadd64(s1, x1, f64x2.mul(c1, y1));
      const y2 = v128.load(pn, 32);
      const u2 = madd64(c1, x2, f64x2.mul(s1, y2));
      x2 = nmadd64(s1, x2, f64x2.mul(c1, y2));
      const y3 = v128.load(pn, 48);
      const u3 = madd64(c1, x3, f64x2.mul(s1, y3));
      x3 = nmadd64(s1, x3, f64x2.mul(c1, y3));
      if (r <= b2) {
        // C2 rotation (r−1, r): carry z = row r−1, u = row r (final from C1)
        const c2 = f64x2.splat(load<f64>(o2, 16)), s2 = f64x2.splat(load<f64>(o2, 24)); o2 += 32;
        const pm = pr - rowBytes;
        v128.store(pm, madd64(c2, z0, f64x2.mul(s2, u0)), 0);
        z0 = nmadd64(s2, z0, f64x2.mul(c2, u0));
        v128.store(pm, madd64(c2, z1, f64x2.mul(s2, u1)), 16);
        z1 = nmadd64(s2, z1, f64x2.mul(c2, u1));
        v128.store(pm, madd64(c2, z2, f64x2.mul(s2, u2)), 32);
        z2 = nmadd64(s2, z2, f64x2.mul(c2, u2));
        v128.store(pm, madd64(c2, z3, f64x2.mul(s2, u3)), 48);
        z3 = nmadd64(s2, z3, f64x2.mul(c2, u3));
        if (r == b2) { v128.store(pr, z0, 0); v128.store(pr, z1, 16); v128.store(pr, z2, 32); v128.store(pr, z3, 48); }
      } else { v128.store(pr, u0, 0); v128.store(pr, u1, 16); v128.store(pr, u2, 32); v128.store(pr, u3, 48); }
      pr = pn;
    }
    // pr = row b1; x = C1's final row b1
    if (b2 == b1) {
      const c2 = f64x2.splat(load<f64>(o2, 16)), s2 = f64x2.splat(load<f64>(o2, 24));
      const pm = pr - rowBytes;
      v128.store(pm, madd64(c2, z0, f64x2.mul(s2, x0)), 0);
      v128.store(pr, nmadd64(s2, z0, f64x2.mul(c2, x0)), 0);
      v128.store(pm, madd64(c2, z1, f64x2.mul(s2, x1)), 16);
      v128.store(pr, nmadd64(s2, z1, f64x2.mul(c2, x1)), 16);
      v128.store(pm, madd64(c2, z2, f64x2.mul(s2, x2)), 32);
      v128.store(pr, nmadd64(s2, z2, f64x2.mul(c2, x2)), 32);
      v128.store(pm, madd64(c2, z3, f64x2.mul(s2, x3)), 48);
      v128.store(pr, nmadd64(s2, z3, f64x2.mul(c2, x3)), 48);
    } else { v128.store(pr, x0, 0); v128.store(pr, x1, 16); v128.store(pr, x2, 32); v128.store(pr, x3, 48); }
  }
  if (g < w) for (let q = q0; q < q2; q++) dsingle(base, ld, c0 + g, w - g, ops, q);
}

/**
 * dfused for scaled (fast) rotations. Two chains fused as a wavefront: C1 = ops [q0, q1) on rows a..b1, C2 = ops [q1, q2) on rows a..b2
 * (same first row, b2 ≤ b1). C2's rotation (r−1, r) runs as soon as C1 has finished row r, so
 * every row is loaded and stored once for both sweeps (half the cache traffic of two chains).
 */
function dffused(base: usize, ld: i32, c0: i32, w: i32, ops: usize, q0: i32, q1: i32, q2: i32): void {
  const a = opA(ops, q0);
  const b1 = a + (q1 - q0), b2 = a + (q2 - q1);
  const rowBytes = <usize>ld << 3;
  const start = base + ((<usize>a * <usize>ld + <usize>c0) << 3);
  let g: i32 = 0;
  for (; g + 8 <= w; g += 8) {
    const p0 = start + (<usize>g << 3);
    let o1 = ops + (<usize>q0 << 5), o2 = ops + (<usize>q1 << 5);
    // C1 rotation (a, a+1): its row-a output is C2's first carry
    let x0 = v128.load(p0, 0), x1 = v128.load(p0, 16), x2 = v128.load(p0, 32), x3 = v128.load(p0, 48);
    let py = p0 + rowBytes;
    let c1 = f64x2.splat(load<f64>(o1, 16)), s1 = f64x2.splat(load<f64>(o1, 24));
    const y0 = v128.load(py, 0); const y1 = v128.load(py, 16); const y2 = v128.load(py, 32); const y3 = v128.load(py, 48);
    let z0 = madd64(c1, y0, x0), z1 = madd64(c1, y1, x1), z2 = madd64(c1, y2, x2), z3 = madd64(c1, y3, x3);
    x0 = nmadd64(s1, x0, y0);
    x1 = nmadd64(s1, x1, y1);
    x2 = nmadd64(s1, x2, y2);
    x3 = nmadd64(s1, x3, y3);
    o1 += 32;
    let pr = py; // address of row r (C1's next output row)
    for (let r = a + 1; r < b1; r++) {
      const pn = pr + rowBytes;
      c1 = f64x2.splat(load<f64>(o1, 16)); s1 = f64x2.splat(load<f64>(o1, 24)); o1 += 32;
      const y0 = v128.load(pn, 0);
      const u0 = madd64(c1, y0, x0);
      x0 = nmadd64(s1, x0, y0);
      const y1 = v128.load(pn, 16);
      const u1 = madd64(c1, y1, x1);
      x1 = nmadd64(s1, x1, y1);
      const y2 = v128.load(pn, 32);
      const u2 = madd64(c1, y2, x2);
      x2 = nmadd64(s1, x2, y2);
      const y3 = v128.load(pn, 48);
      const u3 = madd64(c1, y3, x3);
      x3 = nmadd64(s1, x3, y3);
      if (r <= b2) {
        // C2 rotation (r−1, r): carry z = row r−1, u = row r (final from C1)
        const c2 = f64x2.splat(load<f64>(o2, 16)), s2 = f64x2.splat(load<f64>(o2, 24)); o2 += 32;
        const pm = pr - rowBytes;
        v128.store(pm, madd64(c2, u0, z0), 0);
        z0 = nmadd64(s2, z0, u0);
        v128.store(pm, madd64(c2, u1, z1), 16);
        z1 = nmadd64(s2, z1, u1);
        v128.store(pm, madd64(c2, u2, z2), 32);
        z2 = nmadd64(s2, z2, u2);
        v128.store(pm, madd64(c2, u3, z3), 48);
        z3 = nmadd64(s2, z3, u3);
        if (r == b2) { v128.store(pr, z0, 0); v128.store(pr, z1, 16); v128.store(pr, z2, 32); v128.store(pr, z3, 48); }
      } else { v128.store(pr, u0, 0); v128.store(pr, u1, 16); v128.store(pr, u2, 32); v128.store(pr, u3, 48); }
      pr = pn;
    }
    // pr = row b1; x = C1's final row b1
    if (b2 == b1) {
      const c2 = f64x2.splat(load<f64>(o2, 16)), s2 = f64x2.splat(load<f64>(o2, 24));
      const pm = pr - rowBytes;
      v128.store(pm, madd64(c2, x0, z0), 0);
      v128.store(pr, nmadd64(s2, z0, x0), 0);
      v128.store(pm, madd64(c2, x1, z1), 16);
      v128.store(pr, nmadd64(s2, z1, x1), 16);
      v128.store(pm, madd64(c2, x2, z2), 32);
      v128.store(pr, nmadd64(s2, z2, x2), 32);
      v128.store(pm, madd64(c2, x3, z3), 48);
      v128.store(pr, nmadd64(s2, z3, x3), 48);
    } else { v128.store(pr, x0, 0); v128.store(pr, x1, 16); v128.store(pr, x2, 32); v128.store(pr, x3, 48); }
  }
  if (g < w) for (let q = q0; q < q2; q++) dfsingle(base, ld, c0 + g, w - g, ops, q);
}

export function drotBatch(base: usize, ld: i32, ncols: i32, ops: usize, count: i32): void {
  for (let c0: i32 = 0; c0 < ncols; c0 += DCHUNK) {
    const w: i32 = min(ncols, c0 + DCHUNK) - c0;
    let q: i32 = 0;
    while (q < count) {
      const e = chainEnd(ops, q, count);
      if (e - q >= 2) {
        // a second sweep over the same rows right behind: run both as one wavefront
        if (e < count && opA(ops, e) == opA(ops, q)) {
          const e2 = chainEnd(ops, e, count);
          if (e2 - e >= 2 && e2 - e <= e - q) { dfused(base, ld, c0, w, ops, q, e, e2); q = e2; continue; }
        }
        dchain(base, ld, c0, w, ops, q, e);
      }
      else dsingle(base, ld, c0, w, ops, q);
      q = e;
    }
  }
}

function ssingle(base: usize, ld: i32, c0: i32, w: i32, ops: usize, q: i32): void {
  const o = ops + (<usize>q << 5);
  const a = <i32>load<f64>(o), b = <i32>load<f64>(o, 8);
  const c = <f32>load<f64>(o, 16), s = <f32>load<f64>(o, 24);
  const px0 = base + ((<usize>a * <usize>ld + <usize>c0) << 2);
  const py0 = base + ((<usize>b * <usize>ld + <usize>c0) << 2);
  const cv = f32x4.splat(c), sv = f32x4.splat(s);
  let i: i32 = 0;
  for (; i + 4 <= w; i += 4) {
    const px = px0 + (<usize>i << 2), py = py0 + (<usize>i << 2);
    const x = v128.load(px), y = v128.load(py);
    v128.store(px, madd32(cv, x, f32x4.mul(sv, y)));
    v128.store(py, nmadd32(sv, x, f32x4.mul(cv, y)));
  }
  for (; i < w; i++) {
    const px = px0 + (<usize>i << 2), py = py0 + (<usize>i << 2);
    const x = load<f32>(px), y = load<f32>(py);
    store<f32>(px, c * x + s * y);
    store<f32>(py, c * y - s * x);
  }
}

function schain(base: usize, ld: i32, c0: i32, w: i32, ops: usize, q0: i32, q1: i32): void {
  const a0 = opA(ops, q0);
  const rowBytes = <usize>ld << 2;
  const start = base + ((<usize>a0 * <usize>ld + <usize>c0) << 2);
  let g: i32 = 0;
  for (; g + 32 <= w; g += 32) {
    let p = start + (<usize>g << 2);
    let x0 = v128.load(p), x1 = v128.load(p, 16), x2 = v128.load(p, 32), x3 = v128.load(p, 48), x4 = v128.load(p, 64), x5 = v128.load(p, 80), x6 = v128.load(p, 96), x7 = v128.load(p, 112);
    for (let q = q0; q < q1; q++) {
      const o = ops + (<usize>q << 5);
      const cv = f32x4.splat(<f32>load<f64>(o, 16)), sv = f32x4.splat(<f32>load<f64>(o, 24));
      const py = p + rowBytes;
      const y0 = v128.load(py, 0);
      v128.store(p, madd32(cv, x0, f32x4.mul(sv, y0)), 0);
      x0 = nmadd32(sv, x0, f32x4.mul(cv, y0));
      const y1 = v128.load(py, 16);
      v128.store(p, madd32(cv, x1, f32x4.mul(sv, y1)), 16);
      x1 = nmadd32(sv, x1, f32x4.mul(cv, y1));
      const y2 = v128.load(py, 32);
      v128.store(p, madd32(cv, x2, f32x4.mul(sv, y2)), 32);
      x2 = nmadd32(sv, x2, f32x4.mul(cv, y2));
      const y3 = v128.load(py, 48);
      v128.store(p, madd32(cv, x3, f32x4.mul(sv, y3)), 48);
      x3 = nmadd32(sv, x3, f32x4.mul(cv, y3));
      const y4 = v128.load(py, 64);
      v128.store(p, madd32(cv, x4, f32x4.mul(sv, y4)), 64);
      x4 = nmadd32(sv, x4, f32x4.mul(cv, y4));
      const y5 = v128.load(py, 80);
      v128.store(p, madd32(cv, x5, f32x4.mul(sv, y5)), 80);
      x5 = nmadd32(sv, x5, f32x4.mul(cv, y5));
      const y6 = v128.load(py, 96);
      v128.store(p, madd32(cv, x6, f32x4.mul(sv, y6)), 96);
      x6 = nmadd32(sv, x6, f32x4.mul(cv, y6));
      const y7 = v128.load(py, 112);
      v128.store(p, madd32(cv, x7, f32x4.mul(sv, y7)), 112);
      x7 = nmadd32(sv, x7, f32x4.mul(cv, y7));
      p = py;
    }
    v128.store(p, x0, 0); v128.store(p, x1, 16); v128.store(p, x2, 32); v128.store(p, x3, 48); v128.store(p, x4, 64); v128.store(p, x5, 80); v128.store(p, x6, 96); v128.store(p, x7, 112);
  }
  if (g < w) for (let q = q0; q < q1; q++) ssingle(base, ld, c0 + g, w - g, ops, q);
}

/**
 * Two chains fused as a wavefront: C1 = ops [q0, q1) on rows a..b1, C2 = ops [q1, q2) on rows a..b2
 * (same first row, b2 ≤ b1). C2's rotation (r−1, r) runs as soon as C1 has finished row r, so
 * every row is loaded and stored once for both sweeps (half the cache traffic of two chains).
 */
function sfused(base: usize, ld: i32, c0: i32, w: i32, ops: usize, q0: i32, q1: i32, q2: i32): void {
  const a = opA(ops, q0);
  const b1 = a + (q1 - q0), b2 = a + (q2 - q1);
  const rowBytes = <usize>ld << 2;
  const start = base + ((<usize>a * <usize>ld + <usize>c0) << 2);
  let g: i32 = 0;
  for (; g + 16 <= w; g += 16) {
    const p0 = start + (<usize>g << 2);
    let o1 = ops + (<usize>q0 << 5), o2 = ops + (<usize>q1 << 5);
    // C1 rotation (a, a+1): its row-a output is C2's first carry
    let x0 = v128.load(p0, 0), x1 = v128.load(p0, 16), x2 = v128.load(p0, 32), x3 = v128.load(p0, 48);
    let py = p0 + rowBytes;
    let c1 = f32x4.splat(<f32>load<f64>(o1, 16)), s1 = f32x4.splat(<f32>load<f64>(o1, 24));
    const y0 = v128.load(py, 0); const y1 = v128.load(py, 16); const y2 = v128.load(py, 32); const y3 = v128.load(py, 48);
    let z0 = madd32(c1, x0, f32x4.mul(s1, y0)), z1 = madd32(c1, x1, f32x4.mul(s1, y1)), z2 = madd32(c1, x2, f32x4.mul(s1, y2)), z3 = madd32(c1, x3, f32x4.mul(s1, y3));
    x0 = nmadd32(s1, x0, f32x4.mul(c1, y0));
    x1 = nmadd32(s1, x1, f32x4.mul(c1, y1));
    x2 = nmadd32(s1, x2, f32x4.mul(c1, y2));
    x3 = nmadd32(s1, x3, f32x4.mul(c1, y3));
    o1 += 32;
    let pr = py; // address of row r (C1's next output row)
    for (let r = a + 1; r < b1; r++) {
      const pn = pr + rowBytes;
      c1 = f32x4.splat(<f32>load<f64>(o1, 16)); s1 = f32x4.splat(<f32>load<f64>(o1, 24)); o1 += 32;
      const y0 = v128.load(pn, 0);
      const u0 = madd32(c1, x0, f32x4.mul(s1, y0));
      x0 = nmadd32(s1, x0, f32x4.mul(c1, y0));
      const y1 = v128.load(pn, 16);
      const u1 = madd32(c1, x1, f32x4.mul(s1, y1));
      x1 = nmadd32(s1, x1, f32x4.mul(c1, y1));
      const y2 = v128.load(pn, 32);
      const u2 = madd32(c1, x2, f32x4.mul(s1, y2));
      x2 = nmadd32(s1, x2, f32x4.mul(c1, y2));
      const y3 = v128.load(pn, 48);
      const u3 = madd32(c1, x3, f32x4.mul(s1, y3));
      x3 = nmadd32(s1, x3, f32x4.mul(c1, y3));
      if (r <= b2) {
        // C2 rotation (r−1, r): carry z = row r−1, u = row r (final from C1)
        const c2 = f32x4.splat(<f32>load<f64>(o2, 16)), s2 = f32x4.splat(<f32>load<f64>(o2, 24)); o2 += 32;
        const pm = pr - rowBytes;
        v128.store(pm, madd32(c2, z0, f32x4.mul(s2, u0)), 0);
        z0 = nmadd32(s2, z0, f32x4.mul(c2, u0));
        v128.store(pm, madd32(c2, z1, f32x4.mul(s2, u1)), 16);
        z1 = nmadd32(s2, z1, f32x4.mul(c2, u1));
        v128.store(pm, madd32(c2, z2, f32x4.mul(s2, u2)), 32);
        z2 = nmadd32(s2, z2, f32x4.mul(c2, u2));
        v128.store(pm, madd32(c2, z3, f32x4.mul(s2, u3)), 48);
        z3 = nmadd32(s2, z3, f32x4.mul(c2, u3));
        if (r == b2) { v128.store(pr, z0, 0); v128.store(pr, z1, 16); v128.store(pr, z2, 32); v128.store(pr, z3, 48); }
      } else { v128.store(pr, u0, 0); v128.store(pr, u1, 16); v128.store(pr, u2, 32); v128.store(pr, u3, 48); }
      pr = pn;
    }
    // pr = row b1; x = C1's final row b1
    if (b2 == b1) {
      const c2 = f32x4.splat(<f32>load<f64>(o2, 16)), s2 = f32x4.splat(<f32>load<f64>(o2, 24));
      const pm = pr - rowBytes;
      v128.store(pm, madd32(c2, z0, f32x4.mul(s2, x0)), 0);
      v128.store(pr, nmadd32(s2, z0, f32x4.mul(c2, x0)), 0);
      v128.store(pm, madd32(c2, z1, f32x4.mul(s2, x1)), 16);
      v128.store(pr, nmadd32(s2, z1, f32x4.mul(c2, x1)), 16);
      v128.store(pm, madd32(c2, z2, f32x4.mul(s2, x2)), 32);
      v128.store(pr, nmadd32(s2, z2, f32x4.mul(c2, x2)), 32);
      v128.store(pm, madd32(c2, z3, f32x4.mul(s2, x3)), 48);
      v128.store(pr, nmadd32(s2, z3, f32x4.mul(c2, x3)), 48);
    } else { v128.store(pr, x0, 0); v128.store(pr, x1, 16); v128.store(pr, x2, 32); v128.store(pr, x3, 48); }
  }
  if (g < w) for (let q = q0; q < q2; q++) ssingle(base, ld, c0 + g, w - g, ops, q);
}

export function srotBatch(base: usize, ld: i32, ncols: i32, ops: usize, count: i32): void {
  for (let c0: i32 = 0; c0 < ncols; c0 += SCHUNK) {
    const w: i32 = min(ncols, c0 + SCHUNK) - c0;
    let q: i32 = 0;
    while (q < count) {
      const e = chainEnd(ops, q, count);
      if (e - q >= 2) {
        // a second sweep over the same rows right behind: run both as one wavefront
        if (e < count && opA(ops, e) == opA(ops, q)) {
          const e2 = chainEnd(ops, e, count);
          if (e2 - e >= 2 && e2 - e <= e - q) { sfused(base, ld, c0, w, ops, q, e, e2); q = e2; continue; }
        }
        schain(base, ld, c0, w, ops, q, e);
      }
      else ssingle(base, ld, c0, w, ops, q);
      q = e;
    }
  }
}

// ---- Fast (scaled) rotations: the caller keeps a scale d_r per row (true row = d_r · stored row) and
// turns each rotation into two multiply-adds per element instead of four multiplies and two adds:
//   op (a, b ≥ 0, p, q), a ≠ b:  (X_a, X_b) ← (X_a + p·X_b, X_b − q·X_a)          (|c| not tiny)
//   op (a, −b−1, p, q):          (X_a, X_b) ← (X_b + p·X_a, X_a − q·X_b)          (|c| tiny)
//   op (a, a, p, ·):             X_a ← p·X_a                                      (rescale)
// Error per element is that of the plain rotation (eps·(|c x| + |s y|) in true terms).

function dfsingle(base: usize, ld: i32, c0: i32, w: i32, ops: usize, q: i32): void {
  const o = ops + (<usize>q << 5);
  const a = <i32>load<f64>(o);
  let b = <i32>load<f64>(o, 8);
  const p = load<f64>(o, 16), qq = load<f64>(o, 24);
  const px0 = base + ((<usize>a * <usize>ld + <usize>c0) << 3);
  if (a == b) {
    for (let i: i32 = 0; i < w; i++) { const px = px0 + (<usize>i << 3); store<f64>(px, p * load<f64>(px)); }
    return;
  }
  const swap = b < 0;
  if (swap) b = -b - 1;
  const py0 = base + ((<usize>b * <usize>ld + <usize>c0) << 3);
  for (let i: i32 = 0; i < w; i++) {
    const px = px0 + (<usize>i << 3), py = py0 + (<usize>i << 3);
    const x = load<f64>(px), y = load<f64>(py);
    const A = swap ? y : x, B = swap ? x : y;
    store<f64>(px, A + p * B);
    store<f64>(py, B - qq * A);
  }
}

function dfchain(base: usize, ld: i32, c0: i32, w: i32, ops: usize, q0: i32, q1: i32): void {
  const a0 = opA(ops, q0);
  const rowBytes = <usize>ld << 3;
  const start = base + ((<usize>a0 * <usize>ld + <usize>c0) << 3);
  let g: i32 = 0;
  for (; g + 16 <= w; g += 16) {
    let p = start + (<usize>g << 3);
    let x0 = v128.load(p), x1 = v128.load(p, 16), x2 = v128.load(p, 32), x3 = v128.load(p, 48), x4 = v128.load(p, 64), x5 = v128.load(p, 80), x6 = v128.load(p, 96), x7 = v128.load(p, 112);
    for (let q = q0; q < q1; q++) {
      const o = ops + (<usize>q << 5);
      const pv = f64x2.splat(load<f64>(o, 16)), qv = f64x2.splat(load<f64>(o, 24));
      const py = p + rowBytes;
      const y0 = v128.load(py, 0);
      v128.store(p, madd64(pv, y0, x0), 0);
      x0 = nmadd64(qv, x0, y0);
      const y1 = v128.load(py, 16);
      v128.store(p, madd64(pv, y1, x1), 16);
      x1 = nmadd64(qv, x1, y1);
      const y2 = v128.load(py, 32);
      v128.store(p, madd64(pv, y2, x2), 32);
      x2 = nmadd64(qv, x2, y2);
      const y3 = v128.load(py, 48);
      v128.store(p, madd64(pv, y3, x3), 48);
      x3 = nmadd64(qv, x3, y3);
      const y4 = v128.load(py, 64);
      v128.store(p, madd64(pv, y4, x4), 64);
      x4 = nmadd64(qv, x4, y4);
      const y5 = v128.load(py, 80);
      v128.store(p, madd64(pv, y5, x5), 80);
      x5 = nmadd64(qv, x5, y5);
      const y6 = v128.load(py, 96);
      v128.store(p, madd64(pv, y6, x6), 96);
      x6 = nmadd64(qv, x6, y6);
      const y7 = v128.load(py, 112);
      v128.store(p, madd64(pv, y7, x7), 112);
      x7 = nmadd64(qv, x7, y7);
      p = py;
    }
    v128.store(p, x0, 0); v128.store(p, x1, 16); v128.store(p, x2, 32); v128.store(p, x3, 48); v128.store(p, x4, 64); v128.store(p, x5, 80); v128.store(p, x6, 96); v128.store(p, x7, 112);
  }
  if (g < w) for (let q = q0; q < q1; q++) dfsingle(base, ld, c0 + g, w - g, ops, q);
}

export function dfastBatch(base: usize, ld: i32, ncols: i32, ops: usize, count: i32): void {
  for (let c0: i32 = 0; c0 < ncols; c0 += DCHUNK) {
    const w: i32 = min(ncols, c0 + DCHUNK) - c0;
    let q: i32 = 0;
    while (q < count) {
      const e = chainEnd(ops, q, count);
      if (e - q >= 2) {
        if (e < count && opA(ops, e) == opA(ops, q)) {
          const e2 = chainEnd(ops, e, count);
          if (e2 - e >= 2 && e2 - e <= e - q) { dffused(base, ld, c0, w, ops, q, e, e2); q = e2; continue; }
        }
        dfchain(base, ld, c0, w, ops, q, e);
      }
      else dfsingle(base, ld, c0, w, ops, q);
      q = e;
    }
  }
}

function sfsingle(base: usize, ld: i32, c0: i32, w: i32, ops: usize, q: i32): void {
  const o = ops + (<usize>q << 5);
  const a = <i32>load<f64>(o);
  let b = <i32>load<f64>(o, 8);
  const p = <f32>load<f64>(o, 16), qq = <f32>load<f64>(o, 24);
  const px0 = base + ((<usize>a * <usize>ld + <usize>c0) << 2);
  if (a == b) {
    for (let i: i32 = 0; i < w; i++) { const px = px0 + (<usize>i << 2); store<f32>(px, p * load<f32>(px)); }
    return;
  }
  const swap = b < 0;
  if (swap) b = -b - 1;
  const py0 = base + ((<usize>b * <usize>ld + <usize>c0) << 2);
  for (let i: i32 = 0; i < w; i++) {
    const px = px0 + (<usize>i << 2), py = py0 + (<usize>i << 2);
    const x = load<f32>(px), y = load<f32>(py);
    const A = swap ? y : x, B = swap ? x : y;
    store<f32>(px, A + p * B);
    store<f32>(py, B - qq * A);
  }
}

function sfchain(base: usize, ld: i32, c0: i32, w: i32, ops: usize, q0: i32, q1: i32): void {
  const a0 = opA(ops, q0);
  const rowBytes = <usize>ld << 2;
  const start = base + ((<usize>a0 * <usize>ld + <usize>c0) << 2);
  let g: i32 = 0;
  for (; g + 32 <= w; g += 32) {
    let p = start + (<usize>g << 2);
    let x0 = v128.load(p), x1 = v128.load(p, 16), x2 = v128.load(p, 32), x3 = v128.load(p, 48), x4 = v128.load(p, 64), x5 = v128.load(p, 80), x6 = v128.load(p, 96), x7 = v128.load(p, 112);
    for (let q = q0; q < q1; q++) {
      const o = ops + (<usize>q << 5);
      const pv = f32x4.splat(<f32>load<f64>(o, 16)), qv = f32x4.splat(<f32>load<f64>(o, 24));
      const py = p + rowBytes;
      const y0 = v128.load(py, 0);
      v128.store(p, madd32(pv, y0, x0), 0);
      x0 = nmadd32(qv, x0, y0);
      const y1 = v128.load(py, 16);
      v128.store(p, madd32(pv, y1, x1), 16);
      x1 = nmadd32(qv, x1, y1);
      const y2 = v128.load(py, 32);
      v128.store(p, madd32(pv, y2, x2), 32);
      x2 = nmadd32(qv, x2, y2);
      const y3 = v128.load(py, 48);
      v128.store(p, madd32(pv, y3, x3), 48);
      x3 = nmadd32(qv, x3, y3);
      const y4 = v128.load(py, 64);
      v128.store(p, madd32(pv, y4, x4), 64);
      x4 = nmadd32(qv, x4, y4);
      const y5 = v128.load(py, 80);
      v128.store(p, madd32(pv, y5, x5), 80);
      x5 = nmadd32(qv, x5, y5);
      const y6 = v128.load(py, 96);
      v128.store(p, madd32(pv, y6, x6), 96);
      x6 = nmadd32(qv, x6, y6);
      const y7 = v128.load(py, 112);
      v128.store(p, madd32(pv, y7, x7), 112);
      x7 = nmadd32(qv, x7, y7);
      p = py;
    }
    v128.store(p, x0, 0); v128.store(p, x1, 16); v128.store(p, x2, 32); v128.store(p, x3, 48); v128.store(p, x4, 64); v128.store(p, x5, 80); v128.store(p, x6, 96); v128.store(p, x7, 112);
  }
  if (g < w) for (let q = q0; q < q1; q++) sfsingle(base, ld, c0 + g, w - g, ops, q);
}

export function sfastBatch(base: usize, ld: i32, ncols: i32, ops: usize, count: i32): void {
  for (let c0: i32 = 0; c0 < ncols; c0 += SCHUNK) {
    const w: i32 = min(ncols, c0 + SCHUNK) - c0;
    let q: i32 = 0;
    while (q < count) {
      const e = chainEnd(ops, q, count);
      if (e - q >= 2) sfchain(base, ld, c0, w, ops, q, e);
      else sfsingle(base, ld, c0, w, ops, q);
      q = e;
    }
  }
}
