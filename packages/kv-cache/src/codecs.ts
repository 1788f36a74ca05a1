import { ArgumentError } from '@llmpress/tensor';
import { packBits, packedBytes } from './bits.js';
import { fitKeyBasis, identityBasis, type KeyBasis } from './basis.js';
import { axpyCodes, ByteBuffer, quantizeGroup, ScaleStore, type OneBitMode, type ScaleDType } from './quant.js';
import { checkSchedule, flatSchedule, presetSchedule, waterfillSchedule, type BitSchedule } from './schedule.js';

/** What a codec knows about the head it serves. */
export interface CodecContext {
  layer: number;
  head: number;
  headDim: number;
  /** Tokens per quantization block (multiple of 8). */
  blockSize: number;
  scaleDType: ScaleDType;
}

/** Byte breakdown of one head's compressed part. */
export interface CodecBytes {
  codes: number;
  scales: number;
  basis: number;
}

/** Per-head compressed key storage: blocks of `blockSize` tokens, appended in order. */
export interface KeyCodecState {
  /**
   * Called once, before the first block is encoded, with every key cached so far (raw, `[n, d]`).
   * Fits whatever the codec needs (a basis). Returns the mean to center keys with, or null; the cache
   * subtracts it from every key (quantized and full-precision) from then on. `center` is the cache option.
   */
  fit(keys: Float32Array, n: number, center: boolean): Float32Array | null;
  /** Encodes `blockSize` (already centered) keys, rows of d at `keys[offset ..]`. */
  encodeBlock(keys: Float32Array, offset: number): void;
  readonly blocks: number;
  /** Length of a prepared query. */
  readonly queryDim: number;
  /** Projects a query (d values at `q[qOff ..]`) into the codec's score space. */
  prepareQuery(q: Float32Array, qOff: number, out: Float32Array): void;
  /** out[j] = q·k̂_j for tokens j < nBlocks·blockSize (k̂ centered), from the packed codes. */
  scores(qp: Float32Array, nBlocks: number, out: Float32Array): void;
  /** Reconstructs the (centered) keys of one block into `out[outOffset ..]`, `[blockSize, d]`. */
  decodeBlock(block: number, out: Float32Array, outOffset: number): void;
  bytes(): CodecBytes;
}
export interface KeyCodec {
  readonly name: string;
  create(ctx: CodecContext): KeyCodecState;
}

/** Per-head compressed value storage. */
export interface ValueCodecState {
  encodeBlock(values: Float32Array, offset: number): void;
  readonly blocks: number;
  /** out[c] += Σ_j w[j]·v̂_j[c] over tokens j < nBlocks·blockSize with w[j] ≠ 0. */
  accumulate(w: Float32Array, nBlocks: number, out: Float64Array): void;
  decodeBlock(block: number, out: Float32Array, outOffset: number): void;
  bytes(): CodecBytes;
}
export interface ValueCodec {
  readonly name: string;
  create(ctx: CodecContext): ValueCodecState;
}

/**
 * Keys projected on an orthonormal basis V (or the raw channels when V is null), latent channel c
 * quantized over the `blockSize` tokens of a block with `schedule[c]` bits (0 = dropped), one
 * (min, scale) pair per kept channel per block, codes packed channel-major inside a block.
 */
class LatentKeyState implements KeyCodecState {
  private readonly d: number;
  private readonly B: number;
  private readonly scaleDType: ScaleDType;
  private v: Float32Array | null = null;
  private kept: number[] = [];
  private bitsOf: number[] = [];
  private segOff: number[] = [];
  private blockBytes = 0;
  private readonly codes = new ByteBuffer();
  private scales: ScaleStore;
  private readonly tmpCodes: Uint8Array;
  private readonly tmpLatent: Float64Array;
  private fitted = false;
  blocks = 0;
  constructor(
    private readonly ctx: CodecContext,
    private readonly spec: LatentKeySpec,
  ) {
    this.d = ctx.headDim;
    this.B = ctx.blockSize;
    this.scaleDType = ctx.scaleDType;
    this.scales = new ScaleStore(ctx.scaleDType);
    this.tmpCodes = new Uint8Array(this.B);
    this.tmpLatent = new Float64Array(this.B * this.d);
    if (spec.basis === 'none') this.setup(null, checkSchedule(spec.fn, spec.schedule, this.d));
  }
  get queryDim(): number {
    return this.kept.length;
  }
  private setup(v: Float32Array | null, schedule: number[]): void {
    this.v = v;
    this.kept = [];
    this.bitsOf = [];
    this.segOff = [];
    let off = 0;
    for (let c = 0; c < this.d; c++) {
      const b = schedule[c]!;
      if (b === 0) continue;
      this.kept.push(c);
      this.bitsOf.push(b);
      this.segOff.push(off);
      off += packedBytes(this.B, b);
    }
    this.blockBytes = off;
    this.fitted = true;
  }
  fit(keys: Float32Array, n: number, center: boolean): Float32Array | null {
    const s = this.spec,
      d = this.d;
    if (s.basis === 'none') {
      if (!center) return null;
      const mean = new Float32Array(d);
      const acc = new Float64Array(d);
      for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) acc[i] += keys[r * d + i]!;
      for (let i = 0; i < d; i++) mean[i] = acc[i]! / n;
      return mean;
    }
    let basis: KeyBasis;
    if (s.basis === 'prefill') basis = fitKeyBasis(keys, n, d, { center });
    else if (s.basis === 'prefill-channels') basis = identityBasis(keys, n, d, { center });
    else {
      const b = s.basis[this.ctx.layer]?.[this.ctx.head];
      if (!b || b.headDim !== d) throw new ArgumentError(s.fn, `basis[${this.ctx.layer}][${this.ctx.head}]`, b, `must be a KeyBasis of headDim ${d}`);
      basis = b;
    }
    let schedule: number[];
    if (Array.isArray(s.schedule)) schedule = checkSchedule(s.fn, s.schedule, d);
    else {
      const sp = s.schedule as { mean: number; allocation?: 'preset' | 'waterfill' | 'flat' };
      schedule =
        sp.allocation === 'waterfill'
          ? waterfillSchedule(basis.variances, sp.mean)
          : sp.allocation === 'flat'
            ? flatSchedule(d, sp.mean)
            : presetSchedule(d, sp.mean);
    }
    this.setup(basis.v, schedule);
    if (!center) return null;
    if (basis.mean) return basis.mean;
    // uncentered calibration basis but centering asked: mean of the keys at hand
    const mean = new Float32Array(d),
      acc = new Float64Array(d);
    for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) acc[i] += keys[r * d + i]!;
    for (let i = 0; i < d; i++) mean[i] = acc[i]! / n;
    return mean;
  }
  /** The schedule over the d latent channels in use (after fit). */
  schedule(): number[] {
    const s = new Array<number>(this.d).fill(0);
    this.kept.forEach((c, k) => {
      s[c] = this.bitsOf[k]!;
    });
    return s;
  }
  encodeBlock(keys: Float32Array, offset: number): void {
    if (!this.fitted) throw new ArgumentError(this.spec.fn, 'state', 'unfitted', 'must be fitted before encoding (the cache calls fit first)');
    const d = this.d,
      B = this.B,
      lat = this.tmpLatent,
      v = this.v;
    // latent L = K V on kept channels (f64 accumulation); stored token-major [B, d] by channel index
    for (let j = 0; j < B; j++) {
      const r = offset + j * d;
      for (let k = 0; k < this.kept.length; k++) {
        const c = this.kept[k]!;
        if (v === null) {
          lat[j * d + c] = keys[r + c]!;
          continue;
        }
        let s = 0;
        for (let i = 0; i < d; i++) s += keys[r + i]! * v[i * d + c]!;
        lat[j * d + c] = s;
      }
    }
    this.codes.reserve(this.blockBytes);
    const base = this.codes.length;
    for (let k = 0; k < this.kept.length; k++) {
      const c = this.kept[k]!,
        b = this.bitsOf[k]!;
      const q = quantizeGroup(this.spec.fn, lat, c, d, B, b, this.scaleDType, this.tmpCodes, this.spec.oneBit);
      this.scales.push(q);
      packBits(this.tmpCodes, b, this.codes.data, base + this.segOff[k]!, B);
    }
    this.codes.length += this.blockBytes;
    this.blocks++;
  }
  prepareQuery(q: Float32Array, qOff: number, out: Float32Array): void {
    const d = this.d,
      v = this.v;
    for (let k = 0; k < this.kept.length; k++) {
      const c = this.kept[k]!;
      if (v === null) {
        out[k] = q[qOff + c]!;
        continue;
      }
      let s = 0;
      for (let i = 0; i < d; i++) s += q[qOff + i]! * v[i * d + c]!;
      out[k] = s;
    }
  }
  scores(qp: Float32Array, nBlocks: number, out: Float32Array): void {
    const B = this.B,
      nk = this.kept.length,
      buf = this.codes.data,
      sc = this.scales;
    for (let blk = 0; blk < nBlocks; blk++) {
      const o = blk * B,
        cb = blk * this.blockBytes,
        si = blk * nk;
      let base = 0;
      for (let k = 0; k < nk; k++) base += qp[k]! * sc.min(si + k);
      out.fill(base, o, o + B);
      for (let k = 0; k < nk; k++) {
        const a = qp[k]! * sc.scale(si + k);
        if (a !== 0) axpyCodes(buf, cb + this.segOff[k]!, this.bitsOf[k]!, B, a, out, o);
      }
    }
  }
  decodeBlock(block: number, out: Float32Array, outOffset: number): void {
    const d = this.d,
      B = this.B,
      nk = this.kept.length,
      v = this.v;
    const lat = new Float32Array(B * nk);
    for (let k = 0; k < nk; k++) {
      const tmp = new Float32Array(B);
      axpyCodes(this.codes.data, block * this.blockBytes + this.segOff[k]!, this.bitsOf[k]!, B, this.scales.scale(block * nk + k), tmp, 0);
      const m = this.scales.min(block * nk + k);
      for (let j = 0; j < B; j++) lat[j * nk + k] = tmp[j]! + m;
    }
    for (let j = 0; j < B; j++) {
      for (let i = 0; i < d; i++) {
        let s = 0;
        for (let k = 0; k < nk; k++) s += lat[j * nk + k]! * (v === null ? (this.kept[k] === i ? 1 : 0) : v[i * d + this.kept[k]!]!);
        out[outOffset + j * d + i] = s;
      }
    }
  }
  bytes(): CodecBytes {
    return { codes: this.codes.length, scales: this.scales.bytes(), basis: this.v ? this.d * this.kept.length * 4 : 0 };
  }
}

interface LatentKeySpec {
  fn: string;
  oneBit?: OneBitMode;
  basis: 'none' | 'prefill' | 'prefill-channels' | KeyBasis[][];
  schedule: BitSchedule | { mean: number; allocation?: 'preset' | 'waterfill' | 'flat' };
}

function checkOneBit(fn: string, m: unknown): OneBitMode {
  if (m === undefined) return 'minmax';
  if (m !== 'minmax' && m !== 'means') throw new ArgumentError(fn, 'options.oneBit', m, "must be 'minmax' or 'means'");
  return m;
}

function checkBitsArg(fn: string, bits: unknown): number {
  if (!Number.isInteger(bits) || (bits as number) < 1 || (bits as number) > 8) throw new ArgumentError(fn, 'bits', bits, 'must be an integer in [1, 8]');
  return bits as number;
}

/** KIVI keys: every raw channel quantized over the tokens of a block with `bits` bits. */
export function kiviKeys(options: { bits: number; oneBit?: OneBitMode }): KeyCodec {
  const bits = checkBitsArg('kiviKeys', options?.bits);
  const oneBit = checkOneBit('kiviKeys', options.oneBit);
  return {
    name: `kivi-k${bits}${oneBit === 'means' ? 'm' : ''}`,
    create: (ctx) => new LatentKeyState(ctx, { fn: 'kiviKeys', basis: 'none', schedule: new Array(ctx.headDim).fill(bits), oneBit }),
  };
}

export interface SvdqKeyOptions {
  /**
   * Bits per latent channel (≤ headDim entries, 0..8), or `{ mean, allocation }`: 'preset' (default; staircase from
   * `presetSchedule`), 'waterfill' (reverse water-filling on the fitted latent variances) or 'flat' (`flatSchedule`).
   */
  schedule: BitSchedule | { mean: number; allocation?: 'preset' | 'waterfill' | 'flat' };
  /**
   * `'prefill'`: right singular vectors of the keys cached when the first block is quantized (the prefill);
   * `'prefill-channels'`: raw channels ordered by variance (the per-channel baseline at equal bits);
   * `KeyBasis[][]` (`[layer][kvHead]`, from `fitKeyBasis` on calibration keys): a fixed calibration basis.
   */
  basis?: 'prefill' | 'prefill-channels' | KeyBasis[][];
  /** 1-bit channels: 'minmax' (default) or 'means' (levels at the conditional means; see `OneBitMode`). */
  oneBit?: OneBitMode;
}

/** SVDq keys: latent channels `L = (K − μ)V`, mixed-precision per-channel quantization, scores `(qV)L̂ᵀ`. */
export function svdqKeys(options: SvdqKeyOptions): KeyCodec {
  const fn = 'svdqKeys';
  if (!options || typeof options !== 'object') throw new ArgumentError(fn, 'options', options, 'must be an object');
  const raw = options.schedule;
  const sch = raw as readonly number[] & { mean: number; allocation?: 'preset' | 'waterfill' | 'flat' };
  if (Array.isArray(raw)) {
    if (sch.length === 0) throw new ArgumentError(fn, 'schedule', sch, 'must be a non-empty array of bit widths');
    sch.forEach((b, i) => {
      if (!Number.isInteger(b) || b < 0 || b > 8) throw new ArgumentError(fn, `schedule[${i}]`, b, 'must be an integer number of bits in [0, 8]');
    });
  } else if (!sch || typeof sch !== 'object' || !(sch.mean > 0 && sch.mean <= 8)) {
    throw new ArgumentError(fn, 'schedule', sch, 'must be an array of bits or { mean } with mean in (0, 8]');
  }
  const basis = options.basis ?? 'prefill';
  const oneBit = checkOneBit(fn, options.oneBit);
  if (basis !== 'prefill' && basis !== 'prefill-channels' && !Array.isArray(basis))
    throw new ArgumentError(fn, 'basis', basis, "must be 'prefill', 'prefill-channels' or KeyBasis[][]");
  const tag = Array.isArray(sch) ? `[${sch.join(',')}]` : `${sch.mean}${sch.allocation === 'waterfill' ? 'w' : sch.allocation === 'flat' ? 'f' : ''}`;
  return {
    name: `svdq-${tag}-${Array.isArray(basis) ? 'calib' : basis}${oneBit === 'means' ? '-m' : ''}`,
    create: (ctx) => {
      if (Array.isArray(sch) && sch.length > ctx.headDim)
        throw new ArgumentError(fn, 'schedule', sch, `must have at most headDim = ${ctx.headDim} entries (got ${sch.length})`);
      return new LatentKeyState(ctx, { fn, basis, schedule: sch, oneBit });
    },
  };
}

/** Full-precision keys inside the block structure (for tests and custom mixes). */
export function fp32Keys(): KeyCodec {
  return {
    name: 'fp32-k',
    create: (ctx) => new FpState(ctx) as unknown as KeyCodecState,
  };
}

class FpState implements ValueCodecState {
  private data = new Float32Array(0);
  blocks = 0;
  readonly queryDim: number;
  constructor(private readonly ctx: CodecContext) {
    this.queryDim = ctx.headDim;
  }
  fit(keys: Float32Array, n: number, center: boolean): Float32Array | null {
    if (!center) return null;
    const d = this.ctx.headDim,
      mean = new Float32Array(d),
      acc = new Float64Array(d);
    for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) acc[i] += keys[r * d + i]!;
    for (let i = 0; i < d; i++) mean[i] = acc[i]! / n;
    return mean;
  }
  encodeBlock(x: Float32Array, offset: number): void {
    const n = this.ctx.blockSize * this.ctx.headDim,
      used = this.blocks * n;
    if (used + n > this.data.length) {
      const d = new Float32Array(Math.max(2 * this.data.length, used + n));
      d.set(this.data.subarray(0, used));
      this.data = d;
    }
    this.data.set(x.subarray(offset, offset + n), used);
    this.blocks++;
  }
  prepareQuery(q: Float32Array, qOff: number, out: Float32Array): void {
    for (let i = 0; i < this.queryDim; i++) out[i] = q[qOff + i]!;
  }
  scores(qp: Float32Array, nBlocks: number, out: Float32Array): void {
    const d = this.ctx.headDim,
      n = nBlocks * this.ctx.blockSize,
      x = this.data;
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += qp[i]! * x[j * d + i]!;
      out[j] = s;
    }
  }
  accumulate(w: Float32Array, nBlocks: number, out: Float64Array): void {
    const d = this.ctx.headDim,
      n = nBlocks * this.ctx.blockSize,
      x = this.data;
    for (let j = 0; j < n; j++) {
      const a = w[j]!;
      if (a === 0) continue;
      for (let i = 0; i < d; i++) out[i] += a * x[j * d + i]!;
    }
  }
  decodeBlock(block: number, out: Float32Array, outOffset: number): void {
    const n = this.ctx.blockSize * this.ctx.headDim;
    out.set(this.data.subarray(block * n, block * n + n), outOffset);
  }
  bytes(): CodecBytes {
    return { codes: this.blocks * this.ctx.blockSize * this.ctx.headDim * 4, scales: 0, basis: 0 };
  }
}

/** Full-precision values. */
export function fp32Values(): ValueCodec {
  return { name: 'fp32-v', create: (ctx) => new FpState(ctx) };
}

/** KIVI values: each token quantized on its own with `bits` bits, in groups of `groupSize` channels (default: the whole head). */
export function kiviValues(options: { bits: number; groupSize?: number }): ValueCodec {
  const bits = checkBitsArg('kiviValues', options?.bits);
  return {
    name: `kivi-v${bits}`,
    create: (ctx) => {
      const g = options.groupSize ?? ctx.headDim;
      if (!Number.isInteger(g) || g < 1 || ctx.headDim % g !== 0) throw new ArgumentError('kiviValues', 'groupSize', g, `must divide headDim = ${ctx.headDim}`);
      return new TokenQuantState(ctx, bits, g);
    },
  };
}

class TokenQuantState implements ValueCodecState {
  private readonly codes = new ByteBuffer();
  private readonly scales: ScaleStore;
  private readonly groupBytes: number;
  private readonly groups: number;
  private readonly tmp: Uint8Array;
  private readonly row: Float32Array;
  blocks = 0;
  constructor(
    private readonly ctx: CodecContext,
    private readonly bits: number,
    private readonly g: number,
  ) {
    this.scales = new ScaleStore(ctx.scaleDType);
    this.groups = ctx.headDim / g;
    this.groupBytes = packedBytes(g, bits);
    this.tmp = new Uint8Array(g);
    this.row = new Float32Array(g);
  }
  encodeBlock(x: Float32Array, offset: number): void {
    const d = this.ctx.headDim,
      B = this.ctx.blockSize;
    this.codes.reserve(B * this.groups * this.groupBytes);
    for (let j = 0; j < B; j++) {
      for (let gi = 0; gi < this.groups; gi++) {
        const q = quantizeGroup('kiviValues', x, offset + j * d + gi * this.g, 1, this.g, this.bits, this.ctx.scaleDType, this.tmp);
        this.scales.push(q);
        packBits(this.tmp, this.bits, this.codes.data, this.codes.length, this.g);
        this.codes.length += this.groupBytes;
      }
    }
    this.blocks++;
  }
  accumulate(w: Float32Array, nBlocks: number, out: Float64Array): void {
    const n = nBlocks * this.ctx.blockSize,
      G = this.groups,
      g = this.g,
      row = this.row,
      gb = this.groupBytes,
      bits = this.bits;
    const sc = this.scales,
      buf = this.codes.data;
    const exact = (g * bits) % 8 === 0 && g % 8 === 0;
    for (let gi = 0; gi < G; gi++) {
      row.fill(0);
      let base = 0;
      for (let j = 0; j < n; j++) {
        const a = w[j]!;
        if (a === 0) continue;
        const idx = j * G + gi;
        base += a * sc.min(idx);
        const as = a * sc.scale(idx);
        if (exact) axpyCodes(buf, idx * gb, bits, g, as, row, 0);
        else {
          const mask = (1 << bits) - 1,
            off = idx * gb;
          for (let c = 0; c < g; c++) {
            const bit = c * bits,
              byte = off + (bit >>> 3),
              sh = bit & 7;
            const ww = sh + bits > 8 ? buf[byte]! | (buf[byte + 1]! << 8) : buf[byte]!;
            row[c] += as * ((ww >>> sh) & mask);
          }
        }
      }
      for (let c = 0; c < g; c++) out[gi * g + c] += row[c]! + base;
    }
  }
  decodeBlock(block: number, out: Float32Array, outOffset: number): void {
    const B = this.ctx.blockSize,
      w = new Float32Array(B * (block + 1));
    const d = this.ctx.headDim;
    for (let j = 0; j < B; j++) {
      w.fill(0);
      w[block * B + j] = 1;
      const acc = new Float64Array(d);
      this.accumulate(w, block + 1, acc);
      for (let i = 0; i < d; i++) out[outOffset + j * d + i] = acc[i]!;
    }
  }
  bytes(): CodecBytes {
    return { codes: this.codes.length, scales: this.scales.bytes(), basis: 0 };
  }
}
