// Plane-rotation kernels for the bidiagonal SVD (compiled by scripts/build-kernels.mjs, WASM SIMD).
// A batch of `count` rotations, op q = (row a, row b, c, s) stored as 4 f64 at ops + 32·q, is applied
// in order to rows of a row-major matrix at `base` with row stride `ld` (elements), `ncols` columns:
//   (x, y) ← (c·x + s·y, c·y − s·x).
// Columns are processed in chunks so one chunk of the matrix stays in cache across the whole batch.

const CHUNK: i32 = 256;

export function drotBatch(base: usize, ld: i32, ncols: i32, ops: usize, count: i32): void {
  for (let c0: i32 = 0; c0 < ncols; c0 += CHUNK) {
    const c1: i32 = min(ncols, c0 + CHUNK);
    const w: i32 = c1 - c0;
    for (let q: i32 = 0; q < count; q++) {
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
  }
}

export function srotBatch(base: usize, ld: i32, ncols: i32, ops: usize, count: i32): void {
  for (let c0: i32 = 0; c0 < ncols; c0 += CHUNK) {
    const c1: i32 = min(ncols, c0 + CHUNK);
    const w: i32 = c1 - c0;
    for (let q: i32 = 0; q < count; q++) {
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
  }
}
