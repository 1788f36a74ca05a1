import { ArgumentError } from '@llmpress/tensor';

/** Llama-family hyper-parameters (llama2.c, Hugging Face and GGUF map onto this one type). */
export interface LlamaConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  vocabSize: number;
  seqLen: number;
  normEps: number;
  ropeTheta: number;
  /** 'interleaved': llama2.c / GGUF "normal" RoPE on adjacent pairs (x[2i], x[2i+1]);
   *  'half': Hugging Face rotate_half on pairs (x[i], x[i + headDim/2]). */
  ropeStyle: 'interleaved' | 'half';
  tiedEmbeddings: boolean;
  /** Token ids (defaults bos 1, eos 2). */
  bosId?: number;
  eosId?: number;
}

const POS_INT_FIELDS = ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'headDim', 'vocabSize', 'seqLen'] as const;

/** Throws ArgumentError naming the bad field; returns the config. */
export function validateConfig(fn: string, c: LlamaConfig): LlamaConfig {
  if (typeof c !== 'object' || c === null) throw new ArgumentError(fn, 'config', c, 'must be a LlamaConfig object');
  for (const k of POS_INT_FIELDS) {
    const v = c[k];
    if (!Number.isInteger(v) || v <= 0 || v > 2 ** 31) throw new ArgumentError(fn, `config.${k}`, v, 'must be a positive integer');
  }
  if (c.nHeads % c.nKvHeads !== 0) throw new ArgumentError(fn, 'config.nKvHeads', c.nKvHeads, `must divide nHeads = ${c.nHeads}`);
  if (c.headDim % 2 !== 0) throw new ArgumentError(fn, 'config.headDim', c.headDim, 'must be even (RoPE rotates pairs)');
  if (!(c.normEps > 0) || !Number.isFinite(c.normEps)) throw new ArgumentError(fn, 'config.normEps', c.normEps, 'must be a positive finite number');
  if (!(c.ropeTheta > 0) || !Number.isFinite(c.ropeTheta)) throw new ArgumentError(fn, 'config.ropeTheta', c.ropeTheta, 'must be a positive finite number');
  if (c.ropeStyle !== 'interleaved' && c.ropeStyle !== 'half') throw new ArgumentError(fn, 'config.ropeStyle', c.ropeStyle, "must be 'interleaved' or 'half'");
  if (typeof c.tiedEmbeddings !== 'boolean') throw new ArgumentError(fn, 'config.tiedEmbeddings', c.tiedEmbeddings, 'must be a boolean');
  return c;
}

export function bosOf(c: LlamaConfig): number {
  return c.bosId ?? 1;
}
export function eosOf(c: LlamaConfig): number {
  return c.eosId ?? 2;
}
