// Plane-rotation kernels for the bidiagonal SVD (compiled by scripts/build-kernels.mjs, WASM SIMD).
// A batch of `count` rotations, op q = (row a, row b, c, s) stored as 4 f64 at ops + 32·q, is applied
// in order to rows of a row-major matrix at `base` with row stride `ld` (elements), `ncols` columns:
//   (x, y) ← (c·x + s·y, c·y − s·x).
// Columns are processed in chunks so one chunk of the matrix stays in cache (L2) across the whole
// batch. Within a chunk, a run of chained rotations (a, a+1), (a+1, a+2), … (one implicit QR sweep)
// is applied column group by column group with the shared row carried in registers: every row of
// the run is loaded once and stored once (instead of twice each), and the rotation parameters are
// the only other loads. Exact IEEE mul/add (no FMA), so results equal the one-by-one order.

const DCHUNK: i32 = 64;   // f64 columns per chunk (1024 rows × 64 × 8 B = 512 KiB)
const SCHUNK: i32 = 128;  // f32 columns per chunk

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
    v128.store(px, f64x2.add(f64x2.mul(cv, x), f64x2.mul(sv, y)));
    v128.store(py, f64x2.sub(f64x2.mul(cv, y), f64x2.mul(sv, x)));
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
  for (; g + 8 <= w; g += 8) {
    let p = start + (<usize>g << 3);
    let x0 = v128.load(p), x1 = v128.load(p, 16), x2 = v128.load(p, 32), x3 = v128.load(p, 48);
    for (let q = q0; q < q1; q++) {
      const o = ops + (<usize>q << 5);
      const cv = f64x2.splat(load<f64>(o, 16)), sv = f64x2.splat(load<f64>(o, 24));
      const py = p + rowBytes;
      const y0 = v128.load(py), y1 = v128.load(py, 16), y2 = v128.load(py, 32), y3 = v128.load(py, 48);
      v128.store(p, f64x2.add(f64x2.mul(cv, x0), f64x2.mul(sv, y0)));
      v128.store(p, f64x2.add(f64x2.mul(cv, x1), f64x2.mul(sv, y1)), 16);
      v128.store(p, f64x2.add(f64x2.mul(cv, x2), f64x2.mul(sv, y2)), 32);
      v128.store(p, f64x2.add(f64x2.mul(cv, x3), f64x2.mul(sv, y3)), 48);
      x0 = f64x2.sub(f64x2.mul(cv, y0), f64x2.mul(sv, x0));
      x1 = f64x2.sub(f64x2.mul(cv, y1), f64x2.mul(sv, x1));
      x2 = f64x2.sub(f64x2.mul(cv, y2), f64x2.mul(sv, x2));
      x3 = f64x2.sub(f64x2.mul(cv, y3), f64x2.mul(sv, x3));
      p = py;
    }
    v128.store(p, x0); v128.store(p, x1, 16); v128.store(p, x2, 32); v128.store(p, x3, 48);
  }
  if (g < w) {
    for (let q = q0; q < q1; q++) {
      const o = ops + (<usize>q << 5);
      const a = <i32>load<f64>(o), b = <i32>load<f64>(o, 8);
      const c = load<f64>(o, 16), s = load<f64>(o, 24);
      const px0 = base + ((<usize>a * <usize>ld + <usize>(c0 + g)) << 3);
      const py0 = base + ((<usize>b * <usize>ld + <usize>(c0 + g)) << 3);
      for (let i: i32 = 0; i < w - g; i++) {
        const px = px0 + (<usize>i << 3), py = py0 + (<usize>i << 3);
        const x = load<f64>(px), y = load<f64>(py);
        store<f64>(px, c * x + s * y);
        store<f64>(py, c * y - s * x);
      }
    }
  }
}

export function drotBatch(base: usize, ld: i32, ncols: i32, ops: usize, count: i32): void {
  for (let c0: i32 = 0; c0 < ncols; c0 += DCHUNK) {
    const w: i32 = min(ncols, c0 + DCHUNK) - c0;
    let q: i32 = 0;
    while (q < count) {
      const e = chainEnd(ops, q, count);
      if (e - q >= 2) dchain(base, ld, c0, w, ops, q, e);
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
    v128.store(px, f32x4.add(f32x4.mul(cv, x), f32x4.mul(sv, y)));
    v128.store(py, f32x4.sub(f32x4.mul(cv, y), f32x4.mul(sv, x)));
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
  for (; g + 16 <= w; g += 16) {
    let p = start + (<usize>g << 2);
    let x0 = v128.load(p), x1 = v128.load(p, 16), x2 = v128.load(p, 32), x3 = v128.load(p, 48);
    for (let q = q0; q < q1; q++) {
      const o = ops + (<usize>q << 5);
      const cv = f32x4.splat(<f32>load<f64>(o, 16)), sv = f32x4.splat(<f32>load<f64>(o, 24));
      const py = p + rowBytes;
      const y0 = v128.load(py), y1 = v128.load(py, 16), y2 = v128.load(py, 32), y3 = v128.load(py, 48);
      v128.store(p, f32x4.add(f32x4.mul(cv, x0), f32x4.mul(sv, y0)));
      v128.store(p, f32x4.add(f32x4.mul(cv, x1), f32x4.mul(sv, y1)), 16);
      v128.store(p, f32x4.add(f32x4.mul(cv, x2), f32x4.mul(sv, y2)), 32);
      v128.store(p, f32x4.add(f32x4.mul(cv, x3), f32x4.mul(sv, y3)), 48);
      x0 = f32x4.sub(f32x4.mul(cv, y0), f32x4.mul(sv, x0));
      x1 = f32x4.sub(f32x4.mul(cv, y1), f32x4.mul(sv, x1));
      x2 = f32x4.sub(f32x4.mul(cv, y2), f32x4.mul(sv, x2));
      x3 = f32x4.sub(f32x4.mul(cv, y3), f32x4.mul(sv, x3));
      p = py;
    }
    v128.store(p, x0); v128.store(p, x1, 16); v128.store(p, x2, 32); v128.store(p, x3, 48);
  }
  if (g < w) {
    for (let q = q0; q < q1; q++) {
      const o = ops + (<usize>q << 5);
      const a = <i32>load<f64>(o), b = <i32>load<f64>(o, 8);
      const c = <f32>load<f64>(o, 16), s = <f32>load<f64>(o, 24);
      const px0 = base + ((<usize>a * <usize>ld + <usize>(c0 + g)) << 2);
      const py0 = base + ((<usize>b * <usize>ld + <usize>(c0 + g)) << 2);
      for (let i: i32 = 0; i < w - g; i++) {
        const px = px0 + (<usize>i << 2), py = py0 + (<usize>i << 2);
        const x = load<f32>(px), y = load<f32>(py);
        store<f32>(px, c * x + s * y);
        store<f32>(py, c * y - s * x);
      }
    }
  }
}

export function srotBatch(base: usize, ld: i32, ncols: i32, ops: usize, count: i32): void {
  for (let c0: i32 = 0; c0 < ncols; c0 += SCHUNK) {
    const w: i32 = min(ncols, c0 + SCHUNK) - c0;
    let q: i32 = 0;
    while (q < count) {
      const e = chainEnd(ops, q, count);
      if (e - q >= 2) schain(base, ld, c0, w, ops, q, e);
      else ssingle(base, ld, c0, w, ops, q);
      q = e;
    }
  }
}
