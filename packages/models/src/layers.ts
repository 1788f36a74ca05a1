/**
 * The layers of the Llama block: linear roles and the block record, the RMSNorm and RoPE numerics, and
 * `denseBlock`. The model (`model.ts`) runs them; `placement.ts` moves their weights into a backend.
 */
import { DenseLinear, ShapeError, Tensor, type Backend, type LinearLayer } from '@llmpress/tensor';

export type LinearRole = 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down';
export const LINEAR_ROLES: readonly LinearRole[] = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];
export type NormSite = 'attn' | 'ffn' | 'final';

export interface LlamaBlock {
  attnNorm: Float32Array;
  ffnNorm: Float32Array;
  q: LinearLayer;
  k: LinearLayer;
  v: LinearLayer;
  o: LinearLayer;
  gate: LinearLayer;
  up: LinearLayer;
  down: LinearLayer;
}

export interface LinearEntry {
  name: string;
  block: number;
  role: LinearRole;
  layer: LinearLayer;
}

// ------------------------------------------------------------------ numerics helpers

/** out[i,:] = w ⊙ x[i,:] / sqrt(mean(x[i,:]²) + eps) (run.c's rmsnorm, accumulated in f64). */
export function rmsnorm(x: Float32Array, w: Float32Array, rows: number, dim: number, eps: number, out = new Float32Array(rows * dim)): Float32Array {
  for (let i = 0; i < rows; i++) {
    const o = i * dim;
    let ss = 0;
    for (let d = 0; d < dim; d++) {
      const v = x[o + d]!;
      ss += v * v;
    }
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let d = 0; d < dim; d++) out[o + d] = w[d]! * (inv * x[o + d]!);
  }
  return out;
}

/** RoPE tables cos/sin[pos * half + i], grown on demand. */
export class RopeTable {
  readonly headDim: number;
  readonly theta: number;
  cos = new Float64Array(0);
  sin = new Float64Array(0);
  private n = 0;
  constructor(headDim: number, theta: number) {
    this.headDim = headDim;
    this.theta = theta;
  }
  ensure(positions: number): void {
    if (positions <= this.n) return;
    const half = this.headDim / 2;
    const n = Math.max(positions, 2 * this.n, 64);
    const c = new Float64Array(n * half),
      s = new Float64Array(n * half);
    for (let i = 0; i < half; i++) {
      const freq = 1 / Math.pow(this.theta, (2 * i) / this.headDim);
      for (let p = 0; p < n; p++) {
        const a = p * freq;
        c[p * half + i] = Math.cos(a);
        s[p * half + i] = Math.sin(a);
      }
    }
    this.cos = c;
    this.sin = s;
    this.n = n;
  }
  /** Rotates rows of x ([t, nHeads*headDim]) in place; row r sits at position pos0 + r. */
  apply(x: Float32Array, t: number, nHeads: number, pos0: number, style: 'interleaved' | 'half'): void {
    this.ensure(pos0 + t);
    const hd = this.headDim,
      half = hd / 2,
      width = nHeads * hd;
    const C = this.cos,
      S = this.sin;
    for (let r = 0; r < t; r++) {
      const tb = (pos0 + r) * half;
      for (let h = 0; h < nHeads; h++) {
        const b = r * width + h * hd;
        if (style === 'interleaved') {
          for (let i = 0; i < half; i++) {
            const c = C[tb + i]!,
              s = S[tb + i]!;
            const a0 = x[b + 2 * i]!,
              a1 = x[b + 2 * i + 1]!;
            x[b + 2 * i] = a0 * c - a1 * s;
            x[b + 2 * i + 1] = a0 * s + a1 * c;
          }
        } else {
          for (let i = 0; i < half; i++) {
            const c = C[tb + i]!,
              s = S[tb + i]!;
            const a0 = x[b + i]!,
              a1 = x[b + i + half]!;
            x[b + i] = a0 * c - a1 * s;
            x[b + i + half] = a1 * c + a0 * s;
          }
        }
      }
    }
  }
}

/** A [rows, cols] f32 tensor over `data` (no copy). */
export function f32(data: Float32Array, rows: number, cols: number): Tensor<'f32'> {
  return new Tensor('f32', data, [rows, cols]);
}

/** Runs a linear layer and checks the shape it returns; the output as a contiguous f32 array. */
export function linearOut(fn: string, name: string, layer: LinearLayer, x: Tensor<'f32'>, backend: Backend): Float32Array {
  const y = layer.forward(x, { backend });
  if (y.ndim !== 2 || y.shape[0] !== x.shape[0] || y.shape[1] !== layer.outFeatures) {
    throw new ShapeError(fn, `layer '${name}' (${layer.kind}) returned shape [${y.shape.join(', ')}], expected [${x.shape[0]}, ${layer.outFeatures}]`);
  }
  return y.contiguous().data as Float32Array;
}

/** Builds a model of DenseLinear layers from plain weights (row-major [out, in] f32). */
export function denseBlock(w: {
  attnNorm: Float32Array;
  ffnNorm: Float32Array;
  q: Tensor<'f32'>;
  k: Tensor<'f32'>;
  v: Tensor<'f32'>;
  o: Tensor<'f32'>;
  gate: Tensor<'f32'>;
  up: Tensor<'f32'>;
  down: Tensor<'f32'>;
}): LlamaBlock {
  return {
    attnNorm: w.attnNorm,
    ffnNorm: w.ffnNorm,
    q: new DenseLinear(w.q),
    k: new DenseLinear(w.k),
    v: new DenseLinear(w.v),
    o: new DenseLinear(w.o),
    gate: new DenseLinear(w.gate),
    up: new DenseLinear(w.up),
    down: new DenseLinear(w.down),
  };
}
