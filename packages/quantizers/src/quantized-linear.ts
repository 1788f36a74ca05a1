/**
 * `QuantizedLinear`: a linear layer that stores ONLY packed integer codes, scales (f16 or f32),
 * zero points (asymmetric only, packed at the same bit width) and, after GPTQ with dynamic
 * act-order groups, the column permutation (u16 per column; u32 only past 65,536 columns).
 * Group k of a row covers stored columns [k·g, min(n, (k+1)·g)): ⌈n / g⌉ groups, the last one
 * ragged when g does not divide n. `forward` dequantizes one row at a time on the fly (no f32
 * weight kept).
 */
import {
  ArgumentError,
  ShapeError,
  Tensor,
  NonFiniteError,
  f16ToF32,
  routine,
  type Backend,
  type LinearLayer,
  type LinearForwardOptions,
  type SerializedLayer,
} from '@llmpress/tensor';
import { packBits, packedRowBytes, unpackRow, checkBits, type Bits } from './pack.js';
import type { ScaleDType } from './scheme.js';

export interface QuantizedLinearParts {
  inFeatures: number;
  outFeatures: number;
  bits: Bits;
  symmetric: boolean;
  /** Columns per group (= inFeatures for per-channel); at most inFeatures, the last group ragged when it does not divide it. */
  groupSize: number;
  scaleDtype: ScaleDType;
  /** rows × packedRowBytes(bits, inFeatures) bytes. */
  packed: Uint8Array;
  /** rows × nGroups: f16 bit patterns (Uint16Array) or f32 values (Float32Array). */
  scales: Uint16Array | Float32Array;
  /** Asymmetric only: rows × nGroups zero points packed at `bits`. */
  zeros: Uint8Array | null;
  /**
   * Column order of the stored codes: stored column j holds input feature perm[j]. null = identity.
   * Stored compactly (Uint16Array up to 65,536 columns, else Uint32Array); other integer arrays are converted.
   */
  perm: Uint16Array | Uint32Array | Int32Array | null;
}

/** A permutation of 0..n−1 in its compact stored form (u16 when n ≤ 65,536). */
function compactPerm(fn: string, p: ArrayLike<number>, n: number): Uint16Array | Uint32Array {
  if (p.length !== n) throw new ArgumentError(fn, 'perm', p, `must be a permutation of 0..${n - 1} (length ${n})`);
  const out = n <= 65536 ? new Uint16Array(n) : new Uint32Array(n);
  const seen = new Uint8Array(n);
  for (let j = 0; j < n; j++) {
    const v = p[j]!;
    if (!Number.isInteger(v) || v < 0 || v >= n || seen[v]) throw new ArgumentError(fn, 'perm', p, `must be a permutation of 0..${n - 1}`);
    seen[v] = 1;
    out[j] = v;
  }
  return out;
}

export class QuantizedLinear implements LinearLayer {
  readonly kind = 'quantized';
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bits: Bits;
  readonly symmetric: boolean;
  readonly groupSize: number;
  readonly scaleDtype: ScaleDType;
  readonly packed: Uint8Array;
  readonly scales: Uint16Array | Float32Array;
  readonly zeros: Uint8Array | null;
  readonly perm: Uint16Array | Uint32Array | null;
  readonly rowBytes: number;
  readonly nGroups: number;

  constructor(p: QuantizedLinearParts) {
    const fn = 'QuantizedLinear';
    const bits = checkBits(fn, 'bits', p.bits);
    const { inFeatures: n, outFeatures: m, groupSize: g } = p;
    if (!Number.isInteger(n) || n <= 0) throw new ArgumentError(fn, 'inFeatures', n, 'must be a positive integer');
    if (!Number.isInteger(m) || m <= 0) throw new ArgumentError(fn, 'outFeatures', m, 'must be a positive integer');
    if (!Number.isInteger(g) || g <= 0 || g > n) throw new ArgumentError(fn, 'groupSize', g, `must be an integer in [1, inFeatures = ${n}]`);
    const rb = packedRowBytes(bits, n),
      ng = Math.ceil(n / g);
    if (!(p.packed instanceof Uint8Array) || p.packed.length !== m * rb)
      throw new ArgumentError(fn, 'packed.length', p.packed?.length, `must be ${m * rb} (${m} rows × ${rb} bytes)`);
    const wantScale = p.scaleDtype === 'f16' ? Uint16Array : Float32Array;
    if (!(p.scales instanceof wantScale) || p.scales.length !== m * ng)
      throw new ArgumentError(fn, 'scales', p.scales, `must be a ${wantScale.name} of length ${m * ng}`);
    if (p.symmetric) {
      if (p.zeros !== null) throw new ArgumentError(fn, 'zeros', p.zeros, 'must be null for a symmetric layer');
    } else if (!(p.zeros instanceof Uint8Array) || p.zeros.length !== m * packedRowBytes(bits, ng))
      throw new ArgumentError(fn, 'zeros', p.zeros, `must hold ${m * packedRowBytes(bits, ng)} packed bytes`);
    let perm: Uint16Array | Uint32Array | null = null;
    if (p.perm !== null && p.perm !== undefined) {
      if (!(p.perm instanceof Uint16Array || p.perm instanceof Uint32Array || p.perm instanceof Int32Array))
        throw new ArgumentError(fn, 'perm', p.perm, 'must be a Uint16Array, Uint32Array or Int32Array (or null)');
      perm = compactPerm(fn, p.perm, n);
    }
    this.inFeatures = n;
    this.outFeatures = m;
    this.bits = bits;
    this.symmetric = p.symmetric;
    this.groupSize = g;
    this.scaleDtype = p.scaleDtype;
    this.packed = p.packed;
    this.scales = p.scales;
    this.zeros = p.zeros;
    this.perm = perm;
    this.rowBytes = rb;
    this.nGroups = ng;
  }

  /** Builds a layer from unpacked codes (rows × in, in stored column order), stored scales and zeros. */
  static fromCodes(p: Omit<QuantizedLinearParts, 'packed' | 'zeros'> & { codes: ArrayLike<number>; zeros: ArrayLike<number> | null }): QuantizedLinear {
    const packed = packBits(p.codes, p.outFeatures, p.inFeatures, p.bits);
    const ng = Math.ceil(p.inFeatures / p.groupSize);
    const zeros = p.symmetric ? null : packBits(p.zeros!, p.outFeatures, ng, p.bits);
    return new QuantizedLinear({ ...p, packed, zeros });
  }

  /** Scale of (row, group) as a number. */
  scale(row: number, group: number): number {
    const v = this.scales[row * this.nGroups + group]!;
    return this.scaleDtype === 'f16' ? f16ToF32(v) : v;
  }

  /** All scales decoded, rows × nGroups. */
  decodedScales(): Float32Array {
    const out = new Float32Array(this.scales.length);
    if (this.scaleDtype === 'f16') for (let i = 0; i < out.length; i++) out[i] = f16ToF32(this.scales[i]!);
    else out.set(this.scales);
    return out;
  }

  /** Zero points, rows × nGroups (implicit 2^(bits−1) when symmetric). */
  decodedZeros(): Uint8Array {
    const ng = this.nGroups,
      m = this.outFeatures;
    const out = new Uint8Array(m * ng);
    if (this.symmetric) out.fill(1 << (this.bits - 1));
    else {
      const zb = packedRowBytes(this.bits, ng);
      for (let r = 0; r < m; r++) unpackRow(this.zeros!, r * zb, ng, this.bits, out, r * ng);
    }
    return out;
  }

  /** Dequantized row `r` in STORED column order into `out` (length inFeatures). */
  dequantRow(r: number, out: Float32Array | Float64Array, scales: Float32Array, zeros: Uint8Array): void {
    const n = this.inFeatures,
      g = this.groupSize,
      ng = this.nGroups;
    unpackRow(this.packed, r * this.rowBytes, n, this.bits, out, 0, 0);
    for (let k = 0; k < ng; k++) {
      const s = scales[r * ng + k]!,
        z = zeros[r * ng + k]!;
      for (let j = k * g, e = Math.min(n, j + g); j < e; j++) out[j] = s * (out[j]! - z);
    }
  }

  /** Columns of the backend kernels' layout: ⌈n / g⌉ · g (a ragged last group is zero-padded to a full one). */
  get kernelWidth(): number {
    return this.nGroups * this.groupSize;
  }

  /**
   * Whether the backend's int4 routines (`int4Gemv`, `w4a8Gemm`, `w4a8Gemv` of the backend contract:
   * signed int4, even groups, f32 scales) run this layer: 4-bit symmetric codes (either grid:
   * code − 8 ∈ [−8, 7]) with an even group size, and a backend given. They are called through
   * `routine`, so a backend without them uses the reference implementations (a counted fallback).
   * A ragged last group runs through the zero-padded kernel layout.
   */
  int4KernelReady(backend: Backend | undefined): boolean {
    return !!backend && this.bits === 4 && this.symmetric && this.groupSize % 2 === 0;
  }

  private readonly kernelCache = new WeakMap<Backend, { w: Uint8Array; scales: Float32Array; n: number; owned?: ArrayBufferView[] }>();
  /**
   * The weights in the backend kernels' layout (two's-complement nibbles = stored code XOR 8, f32
   * scales), built once per backend, in the backend's own memory when it can `allocate`. With a
   * ragged last group every row is padded with zero weights to `kernelWidth` = n columns (returned
   * as `n`), so the kernels see whole groups; inputs must be padded with zeros to the same width
   * (`padInput`). A runtime cache about the size of the packed codes (not counted by `bytes()`,
   * which is what is stored).
   */
  kernelWeights(backend: Backend): { w: Uint8Array; scales: Float32Array; n: number } {
    let c = this.kernelCache.get(backend);
    if (c) return c;
    const fn = 'QuantizedLinear.kernelWeights';
    if (this.bits !== 4 || !this.symmetric || this.groupSize % 2 !== 0)
      throw new ArgumentError(
        fn,
        'layer',
        `${this.bits}-bit ${this.symmetric ? 'symmetric' : 'asymmetric'} g${this.groupSize}`,
        'must be 4-bit symmetric with an even group size for the int4 kernels',
      );
    const n = this.inFeatures,
      np = this.kernelWidth,
      rb = this.rowBytes,
      kb = np >> 1,
      m = this.outFeatures;
    const nb = m * kb,
      ns = this.scales.length;
    let w: Uint8Array, scales: Float32Array, owned: ArrayBufferView[] | undefined;
    if (backend.allocateBytes && backend.allocate) {
      w = backend.allocateBytes(nb);
      scales = backend.allocate('f32', ns) as Float32Array;
      owned = [w, scales];
    } else {
      w = new Uint8Array(nb);
      scales = new Float32Array(ns);
    }
    if (np === n) for (let i = 0; i < nb; i++) w[i] = this.packed[i]! ^ 0x88;
    else {
      // padded rows: zero weight = signed nibble 0; an odd n leaves the stored row's last high nibble as padding too
      w.fill(0);
      const full = n >> 1;
      for (let r = 0; r < m; r++) {
        const src = r * rb,
          dst = r * kb;
        for (let b = 0; b < full; b++) w[dst + b] = this.packed[src + b]! ^ 0x88;
        if (n & 1) w[dst + full] = (this.packed[src + full]! & 15) ^ 8;
      }
    }
    scales.set(this.decodedScales());
    c = { w, scales, n: np, owned };
    this.kernelCache.set(backend, c);
    return c;
  }

  /** Rows of T inputs of width inFeatures (stored column order) zero-padded to `kernelWidth` (the same array when no padding is needed). */
  padInput<A extends Float32Array | Int8Array>(x: A, T: number): A {
    const n = this.inFeatures,
      np = this.kernelWidth;
    if (np === n) return x;
    const out = new (x.constructor as { new (len: number): A })(T * np);
    for (let t = 0; t < T; t++) out.set(x.subarray(t * n, t * n + n), t * np);
    return out;
  }

  /**
   * Frees the kernel-layout copy this layer placed in `backend`'s own memory (`kernelWeights`), e.g.
   * when a streaming run is done with a block. The layer stays usable: the copy is rebuilt on demand.
   */
  releaseBackendMemory(backend: Backend): void {
    const c = this.kernelCache.get(backend);
    if (!c) return;
    this.kernelCache.delete(backend);
    if (c.owned && backend.release) for (const a of c.owned) backend.release(a);
  }

  /** Input columns in stored order (gathered by `perm`). */
  gatherInput(xd: Float32Array, T: number): Float32Array {
    if (!this.perm) return xd;
    const n = this.inFeatures,
      p = this.perm,
      g = new Float32Array(T * n);
    for (let t = 0; t < T; t++) for (let j = 0; j < n; j++) g[t * n + j] = xd[t * n + p[j]!]!;
    return g;
  }

  forward(x: Tensor<'f32'>, options: LinearForwardOptions = {}): Tensor<'f32'> {
    const fn = 'QuantizedLinear.forward';
    const n = this.inFeatures,
      m = this.outFeatures;
    if (x.ndim !== 2 || x.shape[1] !== n) throw new ShapeError(fn, `x must be [T, ${n}], got [${x.shape.join(', ')}]`);
    const T = x.shape[0]!;
    const xd = this.gatherInput(x.contiguous().data as Float32Array, T);
    const y = new Float32Array(T * m);
    const be = options.backend;
    if (be && this.int4KernelReady(be)) {
      // the backend's int4 GEMV (WASM: dequantize-on-the-fly in SIMD), one call per token; a ragged last group runs zero-padded
      const { w, scales, n: np } = this.kernelWeights(be);
      const xp = this.padInput(xd, T);
      const int4Gemv = routine(be, 'int4Gemv');
      for (let t = 0; t < T; t++)
        int4Gemv({ m, n: np, groupSize: this.groupSize, w, scales, x: xp.subarray(t * np, t * np + np), y: y.subarray(t * m, t * m + m) });
      return new Tensor('f32', y, [T, m]);
    }
    const scales = this.decodedScales(),
      zeros = this.decodedZeros();
    const row = new Float32Array(n);
    for (let r = 0; r < m; r++) {
      this.dequantRow(r, row, scales, zeros);
      for (let t = 0; t < T; t++) {
        const o = t * n;
        let s0 = 0,
          s1 = 0,
          s2 = 0,
          s3 = 0,
          j = 0;
        for (; j + 3 < n; j += 4) {
          s0 += row[j]! * xd[o + j]!;
          s1 += row[j + 1]! * xd[o + j + 1]!;
          s2 += row[j + 2]! * xd[o + j + 2]!;
          s3 += row[j + 3]! * xd[o + j + 3]!;
        }
        for (; j < n; j++) s0 += row[j]! * xd[o + j]!;
        y[t * m + r] = s0 + s1 + s2 + s3;
      }
    }
    return new Tensor('f32', y, [T, m]);
  }

  bytes(): number {
    return this.packed.length + this.scales.length * (this.scaleDtype === 'f16' ? 2 : 4) + (this.zeros?.length ?? 0) + (this.perm ? this.perm.byteLength : 0);
  }
  params(): number {
    return this.inFeatures * this.outFeatures;
  }
  /** Effective bits per weight, every scale / zero / permutation index counted. */
  bitsPerWeight(): number {
    return (8 * this.bytes()) / this.params();
  }

  toDense(): Tensor<'f32'> {
    const n = this.inFeatures,
      m = this.outFeatures;
    const out = new Float32Array(m * n),
      row = new Float32Array(n);
    const scales = this.decodedScales(),
      zeros = this.decodedZeros();
    for (let r = 0; r < m; r++) {
      this.dequantRow(r, row, scales, zeros);
      if (this.perm) for (let j = 0; j < n; j++) out[r * n + this.perm[j]!] = row[j]!;
      else out.set(row, r * n);
    }
    return new Tensor('f32', out, [m, n]);
  }

  serialize(): SerializedLayer {
    const scaleBytes = new Uint8Array(this.scales.buffer.slice(this.scales.byteOffset, this.scales.byteOffset + this.scales.byteLength));
    const tensors: Record<string, Tensor> = {
      packed: new Tensor('u8', this.packed.slice(), [this.packed.length]),
      scales: new Tensor('u8', scaleBytes, [scaleBytes.length]),
    };
    if (this.zeros) tensors.zeros = new Tensor('u8', this.zeros.slice(), [this.zeros.length]);
    const meta: Record<string, string | number | boolean> = {
      inFeatures: this.inFeatures,
      outFeatures: this.outFeatures,
      bits: this.bits,
      symmetric: this.symmetric,
      groupSize: this.groupSize,
      scaleDtype: this.scaleDtype,
    };
    if (this.perm) {
      // little-endian u16 (or u32) indices as bytes: exactly the stored size
      const pb = new Uint8Array(this.perm.byteLength),
        dv = new DataView(pb.buffer);
      const w = this.perm.BYTES_PER_ELEMENT;
      for (let j = 0; j < this.perm.length; j++) {
        if (w === 2) dv.setUint16(2 * j, this.perm[j]!, true);
        else dv.setUint32(4 * j, this.perm[j]!, true);
      }
      tensors.perm = new Tensor('u8', pb, [pb.length]);
      meta.permBytes = w;
    }
    return { kind: 'quantized', meta, tensors };
  }

  static deserialize(s: SerializedLayer): QuantizedLinear {
    const fn = 'QuantizedLinear.deserialize';
    if (!s || s.kind !== 'quantized') throw new ArgumentError(fn, 's.kind', s?.kind, "must be 'quantized'");
    const m = s.meta;
    const u8 = (name: string, required: boolean): Uint8Array | null => {
      const t = s.tensors[name];
      if (!t) {
        if (required) throw new ArgumentError(fn, `tensors.${name}`, t, 'is required');
        return null;
      }
      if (t.dtype !== 'u8') throw new ArgumentError(fn, `tensors.${name}.dtype`, t.dtype, "must be 'u8'");
      return (t.contiguous().data as Uint8Array).slice();
    };
    const scaleDtype = m.scaleDtype as ScaleDType;
    if (scaleDtype !== 'f16' && scaleDtype !== 'f32') throw new ArgumentError(fn, 'meta.scaleDtype', scaleDtype, "must be 'f16' or 'f32'");
    const sb = u8('scales', true)!;
    if (sb.length % (scaleDtype === 'f16' ? 2 : 4) !== 0) throw new ArgumentError(fn, 'tensors.scales.length', sb.length, 'must be a whole number of scales');
    const scales = scaleDtype === 'f16' ? new Uint16Array(sb.buffer, 0, sb.length / 2) : new Float32Array(sb.buffer, 0, sb.length / 4);
    if (scaleDtype === 'f32') for (let i = 0; i < scales.length; i++) if (!Number.isFinite(scales[i]!)) throw new NonFiniteError(fn, 'scales', i, scales[i]!);
    const pt = s.tensors.perm;
    let perm: Uint16Array | Uint32Array | Int32Array | null = null;
    if (pt) {
      if (pt.dtype === 'i32')
        perm = (pt.contiguous().data as Int32Array).slice(); // files written before the compact form
      else if (pt.dtype === 'u8') {
        const w = Number(m.permBytes ?? 2);
        if (w !== 2 && w !== 4) throw new ArgumentError(fn, 'meta.permBytes', m.permBytes, 'must be 2 or 4');
        const pb = pt.contiguous().data as Uint8Array;
        if (pb.length % w !== 0) throw new ArgumentError(fn, 'tensors.perm.length', pb.length, `must be a multiple of ${w}`);
        const dv = new DataView(pb.buffer, pb.byteOffset, pb.byteLength);
        perm = w === 2 ? new Uint16Array(pb.length / 2) : new Uint32Array(pb.length / 4);
        for (let j = 0; j < perm.length; j++) perm[j] = w === 2 ? dv.getUint16(2 * j, true) : dv.getUint32(4 * j, true);
      } else throw new ArgumentError(fn, 'tensors.perm.dtype', pt.dtype, "must be 'u8' (or 'i32' in older files)");
    }
    return new QuantizedLinear({
      inFeatures: Number(m.inFeatures),
      outFeatures: Number(m.outFeatures),
      bits: Number(m.bits) as Bits,
      symmetric: m.symmetric === true,
      groupSize: Number(m.groupSize),
      scaleDtype,
      packed: u8('packed', true)!,
      scales,
      zeros: u8('zeros', false),
      perm,
    });
  }
}
