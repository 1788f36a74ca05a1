/**
 * Hugging Face `tokenizer.json` through the maintained pure-JS library `@huggingface/tokenizers`
 * (Tokenizers.js, by Hugging Face; zero dependencies, works offline from the JSON object, runs in
 * browsers and Node). Wrapped to the package's `Tokenizer` interface.
 */
import { Tokenizer as HFTokenizerImpl } from '@huggingface/tokenizers';
import { ArgumentError } from '@llmpress/tensor';
import { FormatError } from './errors.js';
import type { EncodeOptions, Tokenizer } from './tokenizer.js';

export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  private impl: HFTokenizerImpl;

  /** `json`: parsed tokenizer.json; `config`: parsed tokenizer_config.json (optional). */
  constructor(json: unknown, config: Record<string, unknown> = {}, options: { file?: string } = {}) {
    const file = options.file ?? 'tokenizer.json';
    if (typeof json !== 'object' || json === null || typeof (json as any).model !== 'object')
      throw new FormatError('HfTokenizer', file, { field: 'model' }, 'must be a tokenizer.json object with a model');
    try {
      this.impl = new HFTokenizerImpl(json, config);
    } catch (e) {
      throw new FormatError('HfTokenizer', file, { field: 'model' }, `rejected by @huggingface/tokenizers: ${(e as Error).message}`);
    }
    const vocab = (json as any).model.vocab;
    const added: Array<{ id: number }> = Array.isArray((json as any).added_tokens) ? (json as any).added_tokens : [];
    const maxId = Math.max(-1, ...(vocab && typeof vocab === 'object' ? Object.values(vocab as Record<string, number>) : []), ...added.map((a) => a.id));
    this.vocabSize = maxId + 1;
    this.bosId = this.impl.token_to_id(String(config.bos_token ?? '<s>')) ?? 1;
    this.eosId = this.impl.token_to_id(String(config.eos_token ?? '</s>')) ?? 2;
  }

  /** `bos` maps to `add_special_tokens` (the post-processor's template decides what is added). */
  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new ArgumentError('HfTokenizer.encode', 'text', text, 'must be a string');
    const ids = this.impl.encode(text, { add_special_tokens: options.bos ?? true }).ids.map(Number);
    if (options.eos) ids.push(this.eosId);
    return ids;
  }
  decode(ids: readonly number[]): string {
    return this.impl.decode(ids.slice(), { skip_special_tokens: true });
  }
  decodeToken(_prev: number, id: number): string {
    return this.impl.decode([id], { skip_special_tokens: false });
  }
  decodeTokenBytes(prev: number, id: number): Uint8Array {
    return new TextEncoder().encode(this.decodeToken(prev, id));
  }
  piece(id: number): Uint8Array {
    const t = this.impl.id_to_token(id);
    if (t === undefined) throw new ArgumentError('HfTokenizer.piece', 'id', id, `must be a token id in [0, ${this.vocabSize})`);
    return new TextEncoder().encode(t);
  }
}

/** Parses tokenizer.json text (and optional tokenizer_config.json text). */
export function parseHfTokenizer(json: string, configJson?: string, options: { file?: string } = {}): HfTokenizer {
  const file = options.file ?? 'tokenizer.json';
  let j: unknown,
    c: Record<string, unknown> = {};
  try {
    j = JSON.parse(json);
  } catch (e) {
    throw new FormatError('parseHfTokenizer', file, { field: '(root)' }, `is not valid JSON (${(e as Error).message})`);
  }
  if (configJson !== undefined) {
    try {
      c = JSON.parse(configJson);
    } catch (e) {
      throw new FormatError('parseHfTokenizer', 'tokenizer_config.json', { field: '(root)' }, `is not valid JSON (${(e as Error).message})`);
    }
  }
  return new HfTokenizer(j, c, { file });
}
