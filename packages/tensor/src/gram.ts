/**
 * The one Gram accumulator of llmpress: G += Xᵀ X (or the cross Gram G += Xᵀ Y) in f64 through the
 * backend's GEMM, for calibration statistics (models), GPTQ and QUAD (quantizers) alike.
 */
import { ArgumentError, ShapeError } from './errors.js';
import { isBackend, type Backend } from './backend.js';
import { resolveBackend, routine } from './select.js';
import { Workspace } from './workspace.js';

/** Rows of G per GEMM in the symmetric case (each block `G[i0:i1, i0:n]` is one GEMM). */
const GRAM_ROW_BLOCK = 256;

export interface GramOptions {
  backend?: Backend;
  /** When given, accumulate the cross Gram Xᵀ Y (Y has X's shape) instead of Xᵀ X. */
  y?: ArrayLike<number>;
}

/**
 * G += Xᵀ X for X = rows × n (row-major, any numeric array); G is n × n f64, filled fully.
 * X is copied to f64 in chunks of rows (in the backend's memory when it offers `allocate`). Symmetric
 * case: a syrk-like product — each 256-row block of the upper triangle is one GEMM (about half the
 * flops of the full XᵀX), then the upper triangle is mirrored. With `y`: G += Xᵀ Y, one full GEMM per chunk.
 * `options` may also be a backend (the older positional form).
 */
export function gramAccumulate(g: Float64Array, x: ArrayLike<number>, rows: number, n: number, options: GramOptions | Backend = {}): void {
  const fn = 'gramAccumulate';
  const o: GramOptions = isBackend(options) ? { backend: options } : (options ?? {});
  if (!Number.isInteger(rows) || rows < 0) throw new ArgumentError(fn, 'rows', rows, 'must be a non-negative integer');
  if (!Number.isInteger(n) || n < 0) throw new ArgumentError(fn, 'n', n, 'must be a non-negative integer');
  if (!(g instanceof Float64Array) || g.length < n * n) throw new ShapeError(fn, `argument 'g' must be a Float64Array of at least ${n} × ${n} values`);
  if (x.length < rows * n) throw new ShapeError(fn, `argument 'x' must hold ${rows} × ${n} values, got length ${x.length}`);
  if (o.y !== undefined && o.y.length < rows * n) throw new ShapeError(fn, `argument 'options.y' must hold ${rows} × ${n} values, got length ${o.y.length}`);
  if (rows === 0 || n === 0) return;
  const backend = resolveBackend(fn, o.backend);
  const gemm = routine(backend, 'gemm');
  const ws = new Workspace(backend, { minResident: 4096 });
  try {
    const chunk = Math.max(1, Math.min(rows, Math.max(256, Math.floor((1 << 23) / n))));
    const a = ws.f64(chunk * n);
    const b = o.y !== undefined ? ws.f64(chunk * n) : a;
    const load = (dst: Float64Array, src: ArrayLike<number>, t0: number, tc: number) => {
      if (src instanceof Float64Array || src instanceof Float32Array) dst.set(src.subarray(t0 * n, (t0 + tc) * n));
      else for (let i = 0, off = t0 * n; i < tc * n; i++) dst[i] = src[off + i]!;
    };
    for (let t0 = 0; t0 < rows; t0 += chunk) {
      const tc = Math.min(chunk, rows - t0);
      load(a, x, t0, tc);
      if (o.y !== undefined) {
        load(b, o.y, t0, tc);
        gemm({ transA: true, transB: false, m: n, n, k: tc, alpha: 1, a, aOffset: 0, lda: n, b, bOffset: 0, ldb: n, beta: 1, c: g, cOffset: 0, ldc: n });
        continue;
      }
      for (let i0 = 0; i0 < n; i0 += GRAM_ROW_BLOCK) {
        const i1 = Math.min(n, i0 + GRAM_ROW_BLOCK);
        gemm({
          transA: true,
          transB: false,
          m: i1 - i0,
          n: n - i0,
          k: tc,
          alpha: 1,
          a,
          aOffset: i0,
          lda: n,
          b: a,
          bOffset: i0,
          ldb: n,
          beta: 1,
          c: g,
          cOffset: i0 * n + i0,
          ldc: n,
        });
      }
    }
  } finally {
    ws.done();
  }
  if (o.y === undefined) for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) g[i * n + j] = g[j * n + i]!;
}
