/**
 * GPTQ's error-fed working copy, for the Q2N ablation "B from the working weights" (what the
 * authors' code does). `@llmpress/quantizers`' `gptq` does not expose it, so this replays the same
 * algorithm — same damping and escalation, dead columns, act-order permutation, group parameters
 * taken from the working copy at each group start, blocked lazy updates with the same summation
 * order — and records, for every column, the value it had when it was quantized. The replay is
 * checked against `gptq` (identical codes and scales) in the tests. Not a second GPTQ to use:
 * call `gptq` for quantization.
 */
import { ArgumentError, NotPositiveDefiniteError, Tensor } from '@llmpress/tensor';
import { resolveSpec, groupParams, quantCode, inverseUpperCholesky, type GptqOptions } from '@llmpress/quantizers';

/** The working weight [m, n] in ORIGINAL column order: column j as GPTQ saw it right before quantizing it. */
export function gptqWorkingWeights(weight: Tensor, gram: Tensor, options: GptqOptions): Tensor<'f64'> {
  const fn = 'gptqWorkingWeights';
  const [m, n] = weight.shape as [number, number];
  if (gram.ndim !== 2 || gram.shape[0] !== n || gram.shape[1] !== n) throw new ArgumentError(fn, 'gram', gram, `must be [${n}, ${n}]`);
  const s = resolveSpec(fn, options, n);
  const B = options.blockSize ?? 128;
  const maxEsc = options.maxDampEscalations ?? 4;
  const H = Float64Array.from(gram.contiguous().data as ArrayLike<number>, (v) => 2 * v);
  const w0 = weight.contiguous().data;
  let perm: Int32Array | null = null;
  if (options.actOrder) perm = Int32Array.from(Array.from({ length: n }, (_, i) => i).sort((a, b) => H[b * n + b]! - H[a * n + a]! || a - b));
  const P = (j: number) => (perm ? perm[j]! : j);
  const Hp = perm ? new Float64Array(n * n) : H;
  if (perm) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) Hp[i * n + j] = H[P(i) * n + P(j)]!;
  const Wt = new Float64Array(n * m);
  for (let j = 0; j < n; j++) { const pj = P(j); for (let r = 0; r < m; r++) Wt[j * m + r] = w0[r * n + pj]!; }
  let diagSum = 0;
  for (let i = 0; i < n; i++) { if (Hp[i * n + i] === 0) { Hp[i * n + i] = 1; Wt.fill(0, i * m, (i + 1) * m); } diagSum += Hp[i * n + i]!; }
  const meanDiag = diagSum / n;
  let percdamp = options.percdamp ?? 0.01, U: Float64Array | null = null, esc = 0;
  for (;;) {
    const Hd = Hp.slice();
    for (let i = 0; i < n; i++) Hd[i * n + i]! += percdamp * meanDiag;
    const r = inverseUpperCholesky(Hd, n);
    if (r.u) { U = r.u; break; }
    if (esc >= maxEsc) throw new NotPositiveDefiniteError(fn, r.pivot, Hd[r.pivot * n + r.pivot]!);
    esc++; percdamp *= 10;
  }
  const sc = new Float64Array(m), zc = new Float64Array(m);
  const perChannel = s.groupSize === n;
  const setParams = (col: number) => { for (let r = 0; r < m; r++) { const p = groupParams(fn, Wt, col * m + r, m, s.groupSize, s); sc[r] = p.scale; zc[r] = p.zero; } };
  if (perChannel) setParams(0);
  const Err = new Float64Array(B * m);
  const work = new Float64Array(m * n);
  const TILE = 256;
  for (let i1 = 0; i1 < n; i1 += B) {
    const i2 = Math.min(i1 + B, n), bc = i2 - i1;
    for (let i = i1; i < i2; i++) {
      if (!perChannel && i % s.groupSize === 0) setParams(i);
      const d = U![i * n + i]!;
      const wi = i * m, ei = (i - i1) * m, col = P(i);
      for (let r = 0; r < m; r++) {
        const w = Wt[wi + r]!;
        work[r * n + col] = w;
        const c = quantCode(w, sc[r]!, zc[r]!, s.maxq);
        Err[ei + r] = (w - sc[r]! * (c - zc[r]!)) / d;
      }
      for (let j = i + 1; j < i2; j++) {
        const cf = U![i * n + j]!;
        if (cf === 0) continue;
        const wj = j * m;
        for (let r = 0; r < m; r++) Wt[wj + r]! -= cf * Err[ei + r]!;
      }
    }
    for (let r0 = 0; r0 < m; r0 += TILE) {
      const r1 = Math.min(r0 + TILE, m);
      for (let j = i2; j < n; j++) {
        const wj = j * m;
        let ii = 0;
        for (; ii + 3 < bc; ii += 4) {
          const c0 = U![(i1 + ii) * n + j]!, c1 = U![(i1 + ii + 1) * n + j]!, c2 = U![(i1 + ii + 2) * n + j]!, c3 = U![(i1 + ii + 3) * n + j]!;
          const e0 = ii * m, e1 = e0 + m, e2 = e1 + m, e3 = e2 + m;
          for (let r = r0; r < r1; r++) Wt[wj + r]! -= c0 * Err[e0 + r]! + c1 * Err[e1 + r]! + c2 * Err[e2 + r]! + c3 * Err[e3 + r]!;
        }
        for (; ii < bc; ii++) {
          const c0 = U![(i1 + ii) * n + j]!, e0 = ii * m;
          for (let r = r0; r < r1; r++) Wt[wj + r]! -= c0 * Err[e0 + r]!;
        }
      }
    }
  }
  return new Tensor('f64', work, [m, n]);
}
