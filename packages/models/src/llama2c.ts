import { Tensor, UnsupportedError } from '@llmpress/tensor';
import type { LlamaConfig } from './config.js';
import { validateConfig } from './config.js';
import { FormatError } from './errors.js';
import { LlamaModel, denseBlock, type LlamaBlock } from './model.js';
import { DenseLinear } from '@llmpress/tensor';

const FN = 'parseLlama2c';

/** Reads the 7-int32 header of a llama2.c legacy checkpoint. */
export function readLlama2cConfig(bytes: Uint8Array, file = '<bytes>'): { config: LlamaConfig; shared: boolean } {
  if (!(bytes instanceof Uint8Array)) throw new FormatError(FN, file, { field: 'bytes' }, `expected a Uint8Array, got ${typeof bytes}`);
  if (bytes.byteLength < 28) throw new FormatError(FN, file, { field: 'header' }, `file is ${bytes.byteLength} bytes, shorter than the 28-byte header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = dv.getUint32(0, true);
  if (magic === 0x616b3432)
    throw new UnsupportedError(FN, `file '${file}': llama2.c export version 1/2 ("ak42" magic) is not supported; export with --version 0 (legacy)`);
  const h = [0, 1, 2, 3, 4, 5, 6].map((i) => dv.getInt32(4 * i, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabRaw, seqLen] = h as [number, number, number, number, number, number, number];
  const names = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'];
  h.forEach((v, i) => {
    const limit = i === 5 ? 1 << 24 : i === 6 ? 1 << 22 : 1 << 20;
    if ((i === 5 ? Math.abs(v) : v) <= 0 || Math.abs(v) > limit)
      throw new FormatError(FN, file, { field: names[i] }, `header value ${v} is out of range (1..${limit})`);
  });
  if (dim % nHeads !== 0) throw new FormatError(FN, file, { field: 'n_heads' }, `dim ${dim} is not a multiple of n_heads ${nHeads}`);
  if (nHeads % nKvHeads !== 0) throw new FormatError(FN, file, { field: 'n_kv_heads' }, `n_heads ${nHeads} is not a multiple of n_kv_heads ${nKvHeads}`);
  const headDim = dim / nHeads;
  if (headDim % 2 !== 0) throw new FormatError(FN, file, { field: 'n_heads' }, `head size ${headDim} is odd`);
  const config: LlamaConfig = {
    dim,
    hiddenDim,
    nLayers,
    nHeads,
    nKvHeads,
    headDim,
    vocabSize: Math.abs(vocabRaw),
    seqLen,
    normEps: 1e-5,
    ropeTheta: 10000,
    ropeStyle: 'interleaved',
    tiedEmbeddings: vocabRaw > 0,
    bosId: 1,
    eosId: 2,
  };
  validateConfig(FN, config);
  return { config, shared: vocabRaw > 0 };
}

/**
 * Parses a llama2.c legacy checkpoint (7 int32 header, then f32 weights in run.c order;
 * negative vocab_size = unshared classifier stored after the legacy freq_cis tables, which are skipped).
 * The weights are copied out of `bytes` (the result does not alias the input).
 */
export function parseLlama2c(bytes: Uint8Array, options: { file?: string } = {}): LlamaModel {
  const file = options.file ?? '<bytes>';
  const { config: c, shared } = readLlama2cConfig(bytes, file);
  const qDim = c.nHeads * c.headDim,
    kvDim = c.nKvHeads * c.headDim,
    L = c.nLayers;
  const sizes: Array<[string, number]> = [
    ['token_embedding_table', c.vocabSize * c.dim],
    ['rms_att_weight', L * c.dim],
    ['wq', L * c.dim * qDim],
    ['wk', L * c.dim * kvDim],
    ['wv', L * c.dim * kvDim],
    ['wo', L * qDim * c.dim],
    ['rms_ffn_weight', L * c.dim],
    ['w1', L * c.dim * c.hiddenDim],
    ['w2', L * c.hiddenDim * c.dim],
    ['w3', L * c.dim * c.hiddenDim],
    ['rms_final_weight', c.dim],
    ['freq_cis_real', (c.seqLen * c.headDim) / 2],
    ['freq_cis_imag', (c.seqLen * c.headDim) / 2],
  ];
  if (!shared) sizes.push(['wcls', c.vocabSize * c.dim]);
  let total = 28;
  for (const [, n] of sizes) total += 4 * n;
  if (bytes.byteLength < total) {
    // name the first tensor that does not fit
    let off = 28;
    for (const [name, n] of sizes) {
      if (off + 4 * n > bytes.byteLength)
        throw new FormatError(
          FN,
          file,
          { tensor: name, field: 'byte length' },
          `needs bytes [${off}, ${off + 4 * n}) but the file has ${bytes.byteLength} bytes (header claims ${total})`,
        );
      off += 4 * n;
    }
  }
  if (bytes.byteLength !== total)
    throw new FormatError(
      FN,
      file,
      { field: 'byte length' },
      `file has ${bytes.byteLength} bytes but the header implies exactly ${total} (${shared ? 'shared' : 'unshared'} classifier)`,
    );
  let off = 28;
  const take = new Map<string, Float32Array>();
  for (const [name, n] of sizes) {
    const a = new Float32Array(n);
    new Uint8Array(a.buffer).set(bytes.subarray(off, off + 4 * n));
    take.set(name, a);
    off += 4 * n;
  }
  const g = (name: string) => take.get(name)!;
  const mat = (name: string, l: number, out: number, inF: number) => new Tensor('f32', g(name).slice(l * out * inF, (l + 1) * out * inF), [out, inF]);
  const blocks: LlamaBlock[] = [];
  for (let l = 0; l < L; l++) {
    blocks.push(
      denseBlock({
        attnNorm: g('rms_att_weight').slice(l * c.dim, (l + 1) * c.dim),
        ffnNorm: g('rms_ffn_weight').slice(l * c.dim, (l + 1) * c.dim),
        q: mat('wq', l, qDim, c.dim),
        k: mat('wk', l, kvDim, c.dim),
        v: mat('wv', l, kvDim, c.dim),
        o: mat('wo', l, c.dim, qDim),
        gate: mat('w1', l, c.hiddenDim, c.dim),
        down: mat('w2', l, c.dim, c.hiddenDim),
        up: mat('w3', l, c.hiddenDim, c.dim),
      }),
    );
  }
  const embedding = new Tensor('f32', g('token_embedding_table'), [c.vocabSize, c.dim]);
  return new LlamaModel(c, {
    embedding,
    blocks,
    finalNorm: g('rms_final_weight'),
    lmHead: shared ? undefined : new DenseLinear(new Tensor('f32', g('wcls'), [c.vocabSize, c.dim])),
  });
}

/** Writes a dense model back to the llama2.c legacy format (freq_cis tables recomputed with the model's theta). */
export function writeLlama2c(model: LlamaModel): Uint8Array {
  const c = model.config;
  const tied = model.headIsTied();
  const parts: Float32Array[] = [];
  const dense = (role: 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down') => model.blocks.map((b) => b[role].toDense().contiguous().data as Float32Array);
  parts.push(model.embedding.data);
  parts.push(...model.blocks.map((b) => b.attnNorm));
  for (const r of ['q', 'k', 'v', 'o'] as const) parts.push(...dense(r));
  parts.push(...model.blocks.map((b) => b.ffnNorm));
  for (const r of ['gate', 'down', 'up'] as const) parts.push(...dense(r));
  parts.push(model.finalNorm);
  const half = c.headDim / 2;
  const re = new Float32Array(c.seqLen * half),
    im = new Float32Array(c.seqLen * half);
  for (let p = 0; p < c.seqLen; p++)
    for (let i = 0; i < half; i++) {
      const a = p / Math.pow(c.ropeTheta, (2 * i) / c.headDim);
      re[p * half + i] = Math.cos(a);
      im[p * half + i] = Math.sin(a);
    }
  parts.push(re, im);
  if (!tied) parts.push(model.lmHead.toDense().contiguous().data as Float32Array);
  let n = 28;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  const dv = new DataView(out.buffer);
  [c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, tied ? c.vocabSize : -c.vocabSize, c.seqLen].forEach((v, i) => dv.setInt32(4 * i, v, true));
  let off = 28;
  for (const p of parts) {
    out.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), off);
    off += p.byteLength;
  }
  return out;
}
