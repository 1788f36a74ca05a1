// Causal GQA attention (the `attention` routine of the backend contract), f32 storage:
// out[i, h] = softmax_j(scale · q[i, h] · k[j, g(h)]) · v[j, g(h)] over j ≤ len − t + i,
// g(h) = h / (nH / nKv). Scores and the softmax sum in f32/f64 like the reference up to rounding;
// SIMD dot products and value accumulation when the head dimension is a multiple of 4.
import { fma } from './common';

// @ts-ignore: decorator
@inline function dot(a: usize, b: usize, hd: i32): f32 {
  let i = 0;
  let s: f32 = 0;
  if ((hd & 3) == 0) {
    let acc = f32x4.splat(0);
    for (; i < hd; i += 4) acc = fma<f32>(v128.load(a + (<usize>i << 2)), v128.load(b + (<usize>i << 2)), acc);
    s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  } else {
    for (; i < hd; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  }
  return s;
}

/**
 * Query rows [lo, hi) of t queries (q: [t, nH·hd]) over len cached positions (k, v: [len, nKv·hd]);
 * `scores` is scratch for len f32 values (one per thread). out: [t, nH·hd].
 */
export function sattention(lo: i32, hi: i32, t: i32, len: i32, nH: i32, nKv: i32, hd: i32, scale: f32, q: usize, k: usize, v: usize, out: usize, scores: usize): void {
  const group = nH / nKv, qDim = nH * hd, kvDim = nKv * hd;
  for (let i = lo; i < hi; i++) {
    const last = len - t + i;
    for (let h = 0; h < nH; h++) {
      const qo = q + (<usize>(i * qDim + h * hd) << 2);
      const ko = (h / group) * hd;
      let mx: f32 = -Infinity;
      for (let j = 0; j <= last; j++) {
        const s = dot(qo, k + (<usize>(j * kvDim + ko) << 2), hd) * scale;
        store<f32>(scores + (<usize>j << 2), s);
        if (s > mx) mx = s;
      }
      let sum: f64 = 0;
      for (let j = 0; j <= last; j++) {
        const e = Mathf.exp(load<f32>(scores + (<usize>j << 2)) - mx);
        store<f32>(scores + (<usize>j << 2), e);
        sum += <f64>e;
      }
      const oo = out + (<usize>(i * qDim + h * hd) << 2);
      const inv = <f32>(1.0 / sum);
      if ((hd & 3) == 0) {
        for (let d = 0; d < hd; d += 4) {
          let acc = f32x4.splat(0);
          for (let j = 0; j <= last; j++) {
            acc = fma<f32>(f32x4.splat(load<f32>(scores + (<usize>j << 2))), v128.load(v + (<usize>(j * kvDim + ko + d) << 2)), acc);
          }
          v128.store(oo + (<usize>d << 2), f32x4.mul(acc, f32x4.splat(inv)));
        }
      } else {
        for (let d = 0; d < hd; d++) {
          let acc: f32 = 0;
          for (let j = 0; j <= last; j++) acc += load<f32>(scores + (<usize>j << 2)) * load<f32>(v + (<usize>(j * kvDim + ko + d) << 2));
          store<f32>(oo + (<usize>d << 2), acc * inv);
        }
      }
    }
  }
}
