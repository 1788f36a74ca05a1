/**
 * CPU versions of the int4 routines: the fallback after a device loss (or for shapes the GPU path
 * does not take) and the oracle of the tests. Layout: see `shaders.ts` (signed nibbles, low nibble =
 * even column, rows of n/2 bytes, f32 scales [m, n/groupSize]).
 */
import { ArgumentError, DTypeError, type Int4GemvArgs } from '@llmpress/tensor';

export type { Int4GemvArgs };
export interface Int4QuantizeArgs {
  m: number;
  n: number;
  groupSize: number;
  a: Float32Array;
}
export interface Int4Packed {
  m: number;
  n: number;
  groupSize: number;
  w: Uint8Array;
  scales: Float32Array;
}

const nib = (b: number, hi: boolean) => {
  const v = hi ? b >> 4 : b & 15;
  return v >= 8 ? v - 16 : v;
};

export function checkInt4Shape(fn: string, m: unknown, n: unknown, g: unknown): { m: number; n: number; g: number } {
  if (typeof m !== 'number' || !Number.isInteger(m) || m < 0) throw new ArgumentError(fn, 'm', m, 'must be a non-negative integer');
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n % 2 !== 0) throw new ArgumentError(fn, 'n', n, 'must be a non-negative even integer');
  if (typeof g !== 'number' || !Number.isInteger(g) || g < 2 || g % 2 !== 0) throw new ArgumentError(fn, 'groupSize', g, 'must be an even integer >= 2');
  if (n % g !== 0) throw new ArgumentError(fn, 'groupSize', g, `must divide n = ${n}`);
  return { m, n, g };
}
export function checkTyped(fn: string, name: string, v: unknown, C: Function, want: string, need: number): void {
  if (!(v instanceof C))
    throw new DTypeError(
      fn,
      `argument '${name}' must be a ${want}, got ${v === null ? 'null' : typeof v === 'object' ? (v as object).constructor?.name : typeof v}`,
    );
  if ((v as ArrayLike<number>).length < need) throw new ArgumentError(fn, name, v, `must hold at least ${need} elements`);
}

/** y = alpha · dequant(W) · x + beta · y: the reference implementation of @llmpress/tensor (ragged groups too). */
export { int4GemvReference } from '@llmpress/tensor';

/** Symmetric per-group quantization: scale = absmax / 7 (f32), code = clamp(round-half-even(x / scale), -8, 7). */
export function quantizeInt4Reference(p: Int4QuantizeArgs): Int4Packed {
  const { m, n, groupSize: g, a } = p,
    ng = n / g,
    rb = n / 2;
  const w = new Uint8Array(m * rb),
    scales = new Float32Array(m * ng);
  const rhe = (x: number) => {
    const f = Math.floor(x),
      d = x - f;
    return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
  };
  for (let r = 0; r < m; r++)
    for (let gi = 0; gi < ng; gi++) {
      let mx = 0;
      for (let j = gi * g; j < (gi + 1) * g; j++) mx = Math.max(mx, Math.abs(a[r * n + j]!));
      const s = Math.fround(Math.fround(mx) / 7);
      scales[r * ng + gi] = s;
      for (let j = gi * g; j < (gi + 1) * g; j++) {
        const q = s > 0 ? Math.min(7, Math.max(-8, rhe(Math.fround(a[r * n + j]! / s)))) : 0;
        const idx = r * rb + (j >> 1);
        w[idx] = j & 1 ? w[idx]! | ((q & 15) << 4) : w[idx]! | (q & 15);
      }
    }
  return { m, n, groupSize: g, w, scales };
}

export function dequantizeInt4Reference(p: Int4Packed): Float32Array {
  const { m, n, groupSize: g } = p,
    ng = n / g,
    rb = n / 2,
    out = new Float32Array(m * n);
  for (let r = 0; r < m; r++) for (let j = 0; j < n; j++) out[r * n + j] = p.scales[r * ng + Math.floor(j / g)]! * nib(p.w[r * rb + (j >> 1)]!, (j & 1) === 1);
  return out;
}
