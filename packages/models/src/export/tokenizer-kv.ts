/**
 * Tokenizers as GGUF `tokenizer.ggml.*` metadata (llama.cpp's SentencePiece 'llama' vocabulary):
 * tokens (spaces as '▁'), scores, token types (1 normal, 2 unknown, 3 control, 6 byte), and the
 * special ids. Sources: a llama2.c / GGUF `BpeTokenizer`, a Hugging Face `tokenizer.json` of the
 * SentencePiece-BPE kind (Llama 2 style: byte fallback, '▁' pieces), or the `tokenizer.ggml.*`
 * keys of a GGUF input, carried over as they are.
 */
import type { GgufKV } from '../gguf.js';
import type { BpeTokenizer } from '../tokenizer.js';
import { MissingTokenizerError } from './errors.js';

export type TokenizerSource =
  | { kind: 'bpe'; tokenizer: BpeTokenizer }
  | { kind: 'gguf'; metadata: ReadonlyMap<string, GgufKV> }
  | { kind: 'hf-json'; json: unknown; config?: Record<string, unknown> };

export const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

const BYTE_RE = /^<0x[0-9A-Fa-f]{2}>$/;
const FN = 'tokenizerToGguf';

/** `tokenizer.ggml.*` keys for a vocabulary of `vocabSize` (the model's embedding rows). */
export function tokenizerToGguf(src: TokenizerSource, vocabSize: number): Map<string, GgufKV> {
  const out = new Map<string, GgufKV>();
  if (!src || typeof src !== 'object')
    throw new MissingTokenizerError(FN, 'a GGUF export embeds its tokenizer: pass a llama2.c/GGUF tokenizer, a tokenizer.json, or a GGUF input');
  if (src.kind === 'gguf') {
    for (const [k, v] of src.metadata) if (k.startsWith('tokenizer.')) out.set(k, v);
    const toks = out.get('tokenizer.ggml.tokens');
    if (!toks || !Array.isArray(toks.value)) throw new MissingTokenizerError(FN, 'the GGUF input has no tokenizer.ggml.tokens to carry over');
    if (toks.value.length !== vocabSize)
      throw new MissingTokenizerError(FN, `the GGUF input's vocabulary has ${toks.value.length} tokens but the model has ${vocabSize} embedding rows`);
    return out;
  }
  let tokens: string[],
    scores: Float32Array,
    types: Int32Array,
    bos: number,
    eos: number,
    unk = -1;
  if (src.kind === 'bpe') {
    const t = src.tokenizer;
    const dec = new TextDecoder('utf-8', { fatal: false });
    bos = t.bosId;
    eos = t.eosId;
    tokens = t.pieces.map((p, i) => {
      let s = dec.decode(p);
      if (i === bos || i === eos || s.trim() === '<unk>') s = s.trim();
      return t.mode === 'spm' ? s : s.replace(/ /g, '\u2581');
    });
    scores = Float32Array.from(t.scores);
    types = t.tokenTypes
      ? Int32Array.from(t.tokenTypes)
      : Int32Array.from(tokens, (s, i) =>
          i === bos || i === eos ? TOKEN_TYPE.control : s === '<unk>' ? TOKEN_TYPE.unknown : BYTE_RE.test(s) ? TOKEN_TYPE.byte : TOKEN_TYPE.normal,
        );
    unk = tokens.indexOf('<unk>');
  } else if (src.kind === 'hf-json') {
    const j = src.json as any;
    const m = j?.model;
    if (!m || m.type !== 'BPE' || typeof m.vocab !== 'object' || !m.byte_fallback) {
      throw new MissingTokenizerError(
        FN,
        `tokenizer.json model ${JSON.stringify(m?.type)} cannot be embedded as a llama SentencePiece vocabulary (needs a byte-fallback BPE with '▁' pieces, as Llama 2's)`,
      );
    }
    const vocab = m.vocab as Record<string, number>;
    const n = Math.max(-1, ...Object.values(vocab), ...((j.added_tokens ?? []) as Array<{ id: number }>).map((a) => a.id)) + 1;
    tokens = new Array(n).fill('');
    for (const [piece, id] of Object.entries(vocab)) tokens[id] = piece;
    const special = new Set<number>();
    for (const a of (j.added_tokens ?? []) as Array<{ id: number; content: string; special?: boolean }>) {
      tokens[a.id] = a.content;
      if (a.special) special.add(a.id);
    }
    // SentencePiece merges the pair whose result scores highest; BPE the pair of lowest rank: score = −rank
    scores = new Float32Array(n);
    const merges: unknown[] = Array.isArray(m.merges) ? m.merges : [];
    const seen = new Set<number>();
    merges.forEach((mg, rank) => {
      const [a, b] = Array.isArray(mg) ? (mg as string[]) : String(mg).split(' ');
      const id = vocab[(a ?? '') + (b ?? '')];
      if (id !== undefined && !seen.has(id)) {
        seen.add(id);
        scores[id] = -rank;
      }
    });
    for (let i = 0; i < n; i++) if (!seen.has(i)) scores[i] = special.has(i) ? 0 : -merges.length;
    const cfg = src.config ?? {};
    const idOf = (x: unknown, d: number) =>
      typeof x === 'string' && tokens.indexOf(x) >= 0
        ? tokens.indexOf(x)
        : typeof (x as any)?.content === 'string' && tokens.indexOf((x as any).content) >= 0
          ? tokens.indexOf((x as any).content)
          : d;
    bos = idOf(cfg.bos_token, tokens.indexOf('<s>'));
    eos = idOf(cfg.eos_token, tokens.indexOf('</s>'));
    unk = typeof m.unk_token === 'string' ? tokens.indexOf(m.unk_token) : tokens.indexOf('<unk>');
    types = Int32Array.from(tokens, (s, i) =>
      i === unk ? TOKEN_TYPE.unknown : special.has(i) ? TOKEN_TYPE.control : BYTE_RE.test(s) ? TOKEN_TYPE.byte : TOKEN_TYPE.normal,
    );
  } else {
    throw new MissingTokenizerError(FN, `unknown tokenizer source kind ${JSON.stringify((src as any).kind)}`);
  }
  if (tokens.length > vocabSize)
    throw new MissingTokenizerError(FN, `the tokenizer has ${tokens.length} tokens but the model only ${vocabSize} embedding rows`);
  if (tokens.length < vocabSize) {
    // padded embedding rows (e.g. vocab rounded up to a multiple of 64): unused tokens
    const k = tokens.length;
    tokens = tokens.concat(Array.from({ length: vocabSize - k }, (_, i) => `[PAD${k + i}]`));
    const s2 = new Float32Array(vocabSize);
    s2.set(scores);
    scores = s2;
    const t2 = new Int32Array(vocabSize).fill(TOKEN_TYPE.unused);
    t2.set(types);
    types = t2;
  }
  out.set('tokenizer.ggml.model', { type: 'string', value: 'llama' });
  out.set('tokenizer.ggml.tokens', { type: 'array', elemType: 'string', value: tokens });
  out.set('tokenizer.ggml.scores', { type: 'array', elemType: 'f32', value: scores });
  out.set('tokenizer.ggml.token_type', { type: 'array', elemType: 'i32', value: types });
  if (bos >= 0) out.set('tokenizer.ggml.bos_token_id', { type: 'u32', value: bos });
  if (eos >= 0) out.set('tokenizer.ggml.eos_token_id', { type: 'u32', value: eos });
  if (unk >= 0) out.set('tokenizer.ggml.unknown_token_id', { type: 'u32', value: unk });
  out.set('tokenizer.ggml.add_bos_token', { type: 'bool', value: true });
  out.set('tokenizer.ggml.add_eos_token', { type: 'bool', value: false });
  return out;
}
