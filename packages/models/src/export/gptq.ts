/**
 * GPTQ v1 tensors (AutoGPTQ / GPTQModel "gptq" checkpoint format, what vLLM, transformers and TGI
 * load) to and from llmpress quantized layers.
 *
 * For a linear layer with weight [out = m, in = n], `pack = 32 / bits` (bits 2, 4 or 8):
 * - `qweight` int32 [n / pack, m]: code of (row o, input i) in bits [bits·(i mod pack), …) of
 *   qweight[⌊i / pack⌋, o] (packed along the INPUT dimension);
 * - `qzeros` int32 [nGroups, m / pack]: (zero − 1) of (group, o) packed along the OUTPUT dimension
 *   (the v1 "minus one" convention; a zero point of 0 cannot be stored);
 * - `scales` f16 [nGroups, m];
 * - `g_idx` int32 [n]: the group of input i (⌊i / group⌋ without act-order; with act-order, the
 *   group of the position where GPTQ quantized column i).
 * Dequantization: w[o, i] = scales[g, o] · (code − (stored zero + 1)), g = g_idx[i].
 */
import { ArgumentError, Tensor, UnsupportedError, f16ToF32, type SerializedLayer } from '@llmpress/tensor';
import type { RawTensor } from '../safetensors.js';
import { layerCodes, type QuantizedLike } from './ggml.js';

export interface GptqTensors {
  qweight: RawTensor;
  qzeros: RawTensor;
  scales: RawTensor;
  g_idx: RawTensor;
}

function rawI32(a: Int32Array, shape: number[]): RawTensor {
  return { dtype: 'I32', shape, data: new Uint8Array(a.buffer, a.byteOffset, a.byteLength) };
}

/** Why a layer cannot be written as GPTQ v1 without loss (undefined: it can). */
export function gptqProblem(q: QuantizedLike): string | undefined {
  if (![2, 4, 8].includes(q.bits)) return `${q.bits}-bit codes (GPTQ v1 packing here covers 2, 4 and 8 bits)`;
  if (q.scaleDtype !== 'f16') return 'f32 scales (GPTQ scales are f16)';
  const pack = 32 / q.bits;
  if (q.inFeatures % pack !== 0) return `input width ${q.inFeatures} is not a multiple of ${pack}`;
  if (q.outFeatures % pack !== 0) return `output width ${q.outFeatures} is not a multiple of ${pack} (qzeros packing)`;
  if (!q.symmetric) {
    const z = q.decodedZeros();
    for (let i = 0; i < z.length; i++) if (z[i] === 0) return 'a zero point of 0 (GPTQ v1 stores zero − 1)';
  }
  return undefined;
}

/** The layer's GPTQ v1 tensors; `rowOrder[k]` = which of the layer's output rows becomes row k (RoPE layout). */
export function toGptq(q: QuantizedLike, rowOrder?: ArrayLike<number>): GptqTensors {
  const problem = gptqProblem(q);
  if (problem) throw new ArgumentError('toGptq', 'layer', `${q.bits}-bit g${q.groupSize}`, `cannot be written as GPTQ v1: ${problem}`);
  const n = q.inFeatures,
    m = q.outFeatures,
    g = q.groupSize,
    ng = q.nGroups,
    bits = q.bits,
    pack = 32 / bits,
    maxq = (1 << bits) - 1;
  // groups: ⌈n / g⌉ per row, the last one ragged when g does not divide n
  const codes = layerCodes(q),
    zeros = q.decodedZeros(),
    s = q.scales as Uint16Array;
  const order = rowOrder ?? Array.from({ length: m }, (_, i) => i);
  // stored column j holds input perm[j], quantized in group ⌊j/g⌋
  const colOf = new Int32Array(n),
    gIdx = new Int32Array(n);
  for (let j = 0; j < n; j++) {
    const i = q.perm ? q.perm[j]! : j;
    colOf[i] = j;
    gIdx[i] = Math.floor(j / g);
  }
  const qweight = new Int32Array((n / pack) * m);
  for (let k = 0; k < m; k++) {
    const r = order[k]!;
    for (let i = 0; i < n; i++) qweight[Math.floor(i / pack) * m + k]! |= codes[r * n + colOf[i]!]! << (bits * (i % pack));
  }
  const qzeros = new Int32Array(ng * (m / pack)),
    scales = new Uint16Array(ng * m);
  for (let gi = 0; gi < ng; gi++)
    for (let k = 0; k < m; k++) {
      const r = order[k]!;
      qzeros[gi * (m / pack) + Math.floor(k / pack)]! |= ((zeros[r * ng + gi]! - 1) & maxq) << (bits * (k % pack));
      scales[gi * m + k] = s[r * ng + gi]!;
    }
  return {
    qweight: rawI32(qweight, [n / pack, m]),
    qzeros: rawI32(qzeros, [ng, m / pack]),
    scales: { dtype: 'F16', shape: [ng, m], data: new Uint8Array(scales.buffer) },
    g_idx: rawI32(gIdx, [n]),
  };
}

/** Packs codes in llmpress's layout (bits 2/4/8: first code in the lowest bits of a byte; rows start on a byte). */
function packLlmpress(codes: Uint8Array, rows: number, cols: number, bits: number): Uint8Array {
  const per = 8 / bits,
    rb = Math.ceil(cols / per),
    out = new Uint8Array(rows * rb);
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) out[r * rb + Math.floor(j / per)]! |= codes[r * cols + j]! << (bits * (j % per));
  return out;
}

const i32 = (t: Tensor | undefined, name: string, shape: number[], where: string): Int32Array => {
  if (!t) throw new ArgumentError('fromGptq', name, undefined, `is missing for '${where}'`);
  if (t.dtype !== 'i32' || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
    throw new ArgumentError('fromGptq', `${where}.${name}`, `${t.dtype} [${t.shape}]`, `must be int32 [${shape}]`);
  return t.contiguous().data as Int32Array;
};

/**
 * GPTQ v1 tensors → an llmpress 'quantized' SerializedLayer (for `QuantizedLinear.deserialize`).
 * `scalesF16` is the raw f16 bit patterns of `scales` [nGroups, m]. Act-order (a non-trivial g_idx)
 * becomes llmpress's column permutation: inputs sorted stably by group.
 */
export function fromGptq(
  t: { qweight: Tensor; qzeros: Tensor; g_idx?: Tensor; scalesF16: Uint16Array },
  meta: { bits: number; groupSize: number; sym: boolean; inFeatures: number; outFeatures: number },
  where = '<layer>',
): SerializedLayer {
  const fn = 'fromGptq';
  const { bits, inFeatures: n, outFeatures: m } = meta;
  if (![2, 4, 8].includes(bits)) throw new UnsupportedError(fn, `'${where}': ${bits}-bit GPTQ (2, 4 and 8 are read)`);
  const g = meta.groupSize > 0 ? Math.min(meta.groupSize, n) : n;
  const pack = 32 / bits,
    maxq = (1 << bits) - 1,
    ng = Math.ceil(n / g);
  const qw = i32(t.qweight, 'qweight', [n / pack, m], where),
    qz = i32(t.qzeros, 'qzeros', [ng, m / pack], where);
  if (t.scalesF16.length !== ng * m) throw new ArgumentError(fn, `${where}.scales`, t.scalesF16.length, `must hold ${ng}×${m} f16 values`);
  let gIdx: Int32Array;
  if (t.g_idx) gIdx = i32(t.g_idx, 'g_idx', [n], where);
  else gIdx = Int32Array.from({ length: n }, (_, i) => Math.floor(i / g));
  let natural = true;
  for (let i = 0; i < n; i++) {
    if (gIdx[i]! < 0 || gIdx[i]! >= ng) throw new ArgumentError(fn, `${where}.g_idx[${i}]`, gIdx[i], `must be a group in [0, ${ng})`);
    if (gIdx[i] !== Math.floor(i / g)) natural = false;
  }
  let perm: Int32Array | null = null;
  if (!natural) {
    const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => gIdx[a]! - gIdx[b]! || a - b);
    for (let j = 0; j < n; j++)
      if (gIdx[idx[j]!] !== Math.floor(j / g))
        throw new UnsupportedError(fn, `'${where}': g_idx does not put exactly ${g} inputs in every group (the last may hold fewer)`);
    perm = Int32Array.from(idx);
  }
  const codes = new Uint8Array(m * n);
  for (let o = 0; o < m; o++)
    for (let j = 0; j < n; j++) {
      const i = perm ? perm[j]! : j;
      codes[o * n + j] = (qw[Math.floor(i / pack) * m + o]! >>> (bits * (i % pack))) & maxq;
    }
  const zeros = new Uint8Array(m * ng),
    scales = new Uint16Array(m * ng);
  let symmetric = meta.sym;
  for (let gi = 0; gi < ng; gi++)
    for (let o = 0; o < m; o++) {
      const z = ((qz[gi * (m / pack) + Math.floor(o / pack)]! >>> (bits * (o % pack))) & maxq) + 1;
      if (z > maxq) throw new UnsupportedError(fn, `'${where}': stored zero ${z - 1} + 1 exceeds ${maxq} (a v1 zero point of 0 or a v2 checkpoint)`);
      zeros[o * ng + gi] = z;
      if (z !== 1 << (bits - 1)) symmetric = false;
      scales[o * ng + gi] = t.scalesF16[gi * m + o]!;
      if (!Number.isFinite(f16ToF32(scales[o * ng + gi]!))) throw new ArgumentError(fn, `${where}.scales`, scales[o * ng + gi], 'must be finite');
    }
  const tensors: Record<string, Tensor> = {
    packed: new Tensor('u8', packLlmpress(codes, m, n, bits), [m * Math.ceil((n * bits) / 8)]),
    scales: new Tensor('u8', new Uint8Array(scales.buffer), [scales.length * 2]),
  };
  if (!symmetric) {
    const zp = packLlmpress(zeros, m, ng, bits);
    tensors.zeros = new Tensor('u8', zp, [zp.length]);
  }
  if (perm) tensors.perm = new Tensor('i32', perm, [n]);
  return { kind: 'quantized', meta: { inFeatures: n, outFeatures: m, bits, symmetric, groupSize: g, scaleDtype: 'f16' }, tensors };
}
