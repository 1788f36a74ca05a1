import { ArgumentError } from '@llmpress/tensor';
import { FormatError } from './errors.js';

export interface EncodeOptions {
  /** Prepend BOS (default true, as run.c does for prompts). */ bos?: boolean /** Append EOS (default false). */;
  eos?: boolean;
}

export interface Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  encode(text: string, options?: EncodeOptions): number[];
  /** Decodes ids to text: BOS/EOS are skipped, the space after BOS is dropped, `<0xNN>` become raw bytes (UTF-8 decoded at the end). */
  decode(ids: readonly number[]): string;
  /** run.c's `decode(prev, token)`: the piece of `id` as text (drops a leading space after BOS; `<0xNN>` → that byte). */
  decodeToken(prev: number, id: number): string;
  /** Same as decodeToken, as raw bytes (a byte-fallback piece can be a partial UTF-8 sequence). */
  decodeTokenBytes(prev: number, id: number): Uint8Array;
  /** The raw piece of an id (as bytes). */
  piece(id: number): Uint8Array;
}

const BYTE_RE = /^<0x([0-9A-Fa-f]{2})>$/;

/** Binary max-heap of merge candidates ordered by (score desc, position asc). */
class CandidateHeap {
  private score: number[] = [];
  private pos: number[] = [];
  get size(): number {
    return this.score.length;
  }
  private less(i: number, j: number): boolean {
    // "i comes before j": higher score, then leftmost position
    const a = this.score[i]!,
      b = this.score[j]!;
    return a > b || (a === b && this.pos[i]! < this.pos[j]!);
  }
  private swap(i: number, j: number): void {
    const s = this.score[i]!;
    this.score[i] = this.score[j]!;
    this.score[j] = s;
    const p = this.pos[i]!;
    this.pos[i] = this.pos[j]!;
    this.pos[j] = p;
  }
  push(score: number, pos: number): void {
    this.score.push(score);
    this.pos.push(pos);
    let i = this.score.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): { score: number; pos: number } {
    const top = { score: this.score[0]!, pos: this.pos[0]! };
    const ls = this.score.pop()!,
      lp = this.pos.pop()!;
    if (this.score.length > 0) {
      this.score[0] = ls;
      this.pos[0] = lp;
      let i = 0;
      const n = this.score.length;
      for (;;) {
        const l = 2 * i + 1,
          r = l + 1;
        let m = i;
        if (l < n && this.less(l, m)) m = l;
        if (r < n && this.less(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

/**
 * The llama2.c / sentencepiece-BPE tokenizer with run.c's exact semantics:
 * `encode`: optional BOS, a dummy leading space (when the text is non-empty), UTF-8 code points looked up
 * as pieces with byte fallback (+3), then repeatedly the adjacent pair whose concatenation is a piece with
 * the highest score is merged, the leftmost on ties. Implemented with a heap (O(n log n)) instead of
 * run.c's O(n²) rescans; the merge order is identical.
 */
export class BpeTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly maxTokenLength: number;
  readonly pieces: Uint8Array[];
  readonly scores: Float32Array;
  /** piece (bytes as a latin1 string) → id (the first id with that piece). */
  private lookup = new Map<string, number>();
  private keys: string[];
  private byteOf: Int16Array;
  private byteId: Int32Array;
  /** Text the dummy prefix is (run.c: " "). */
  private dummy: number;

  /** 'llama2c': run.c exactly (raw spaces, unknown code points → byte ids + 3 at once).
   *  'spm': llama.cpp's SentencePiece conventions (spaces → '▁', '▁' prefix, unknown code points stay text
   *  and can still merge, leftovers → `<0xNN>` pieces). */
  readonly mode: 'llama2c' | 'spm';
  readonly tokenTypes: Int32Array | undefined;

  constructor(
    pieces: Uint8Array[],
    scores: Float32Array,
    options: { bosId?: number; eosId?: number; maxTokenLength?: number; mode?: 'llama2c' | 'spm'; tokenTypes?: Int32Array } = {},
  ) {
    if (pieces.length !== scores.length) throw new ArgumentError('BpeTokenizer', 'scores', scores, `must have one score per piece (${pieces.length})`);
    this.vocabSize = pieces.length;
    this.pieces = pieces;
    this.scores = scores;
    this.bosId = options.bosId ?? 1;
    this.eosId = options.eosId ?? 2;
    this.maxTokenLength = options.maxTokenLength ?? Math.max(0, ...pieces.map((p) => p.length));
    this.keys = pieces.map(latin1);
    // run.c bsearches a sorted copy; with duplicate pieces it could return any of them. We keep the first id.
    for (let i = 0; i < pieces.length; i++) if (!this.lookup.has(this.keys[i]!)) this.lookup.set(this.keys[i]!, i);
    this.byteOf = new Int16Array(pieces.length).fill(-1);
    this.byteId = new Int32Array(256).fill(-1);
    for (let i = 0; i < pieces.length; i++) {
      const m = BYTE_RE.exec(this.keys[i]!);
      if (m) {
        const b = parseInt(m[1]!, 16);
        this.byteOf[i] = b;
        if (this.byteId[b]! < 0) this.byteId[b] = i;
      }
    }
    this.mode = options.mode ?? 'llama2c';
    this.tokenTypes = options.tokenTypes;
    this.dummy = this.lookup.get(this.mode === 'spm' ? SPACE : ' ') ?? -1;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const fn = 'Tokenizer.encode';
    if (typeof text !== 'string') throw new ArgumentError(fn, 'text', text, 'must be a string');
    const spm = this.mode === 'spm';
    const bytes = new TextEncoder().encode(spm && text.length > 0 ? ' ' + text : text);
    const keys: string[] = [];
    const ids: number[] = [];
    if (options.bos ?? true) {
      ids.push(this.bosId);
      keys.push(this.keys[this.bosId] ?? '');
    }
    if (!spm && bytes.length > 0) {
      if (this.dummy < 0) throw new ArgumentError(fn, 'text', text, "needs the dummy-prefix piece ' ', which this vocabulary lacks");
      ids.push(this.dummy);
      keys.push(' ');
    }
    // code points (run.c groups a lead byte with up to 3 continuation bytes)
    let i = 0;
    while (i < bytes.length) {
      let j = i + 1;
      while (j < bytes.length && (bytes[j]! & 0xc0) === 0x80 && j - i < 4) j++;
      let key = '';
      if (spm && j === i + 1 && bytes[i] === 0x20) key = SPACE;
      else for (let k = i; k < j; k++) key += String.fromCharCode(bytes[k]!);
      const id = this.lookup.get(key);
      if (id !== undefined) {
        ids.push(id);
        keys.push(key);
      } else if (spm) {
        ids.push(-1);
        keys.push(key);
      } else
        for (let k = i; k < j; k++) {
          const b = bytes[k]! + 3;
          if (b >= this.vocabSize)
            throw new ArgumentError(fn, 'text', text, `needs byte-fallback id ${b} for byte ${bytes[k]}, beyond the vocabulary of ${this.vocabSize}`);
          ids.push(b);
          keys.push(this.keys[b]!);
        }
      i = j;
    }
    const out = this.merge(ids, keys);
    if (options.eos) out.push(this.eosId);
    return out;
  }

  /** Merges the symbols: repeatedly the adjacent pair whose concatenation is a piece with the highest
   *  score, leftmost on ties (run.c's loop, and llama.cpp's SPM bigram queue). */
  private merge(id0: number[], key0: string[]): number[] {
    const n = id0.length;
    const id = Int32Array.from(id0);
    const key = key0.slice();
    const next = new Int32Array(n),
      prev = new Int32Array(n);
    for (let k = 0; k < n; k++) {
      prev[k] = k - 1;
      next[k] = k + 1 < n ? k + 1 : -1;
    }
    const alive = new Uint8Array(n).fill(1);
    const heap = new CandidateHeap();
    const pairId = (a: number, b: number): number => {
      if (key[a]!.length + key[b]!.length > this.maxTokenLength) return -1;
      return this.lookup.get(key[a]! + key[b]!) ?? -1;
    };
    const consider = (a: number) => {
      if (a < 0) return;
      const b = next[a]!;
      if (b < 0) return;
      const m = pairId(a, b);
      // run.c: only candidates with score > -1e10 count (best_score starts at -1e10)
      if (m >= 0 && this.scores[m]! > -1e10) heap.push(this.scores[m]!, a);
    };
    for (let k = 0; k + 1 < n; k++) consider(k);
    let guard = 0;
    while (heap.size > 0) {
      if (++guard > 4 * n + 16) throw new Error('Tokenizer.encode: merge loop exceeded its bound (internal error)');
      const { score, pos: a } = heap.pop();
      if (!alive[a]) continue;
      const b = next[a]!;
      if (b < 0) continue;
      const m = pairId(a, b);
      if (m < 0 || this.scores[m]! !== score) continue; // stale candidate
      id[a] = m;
      key[a] = this.keys[m]!;
      alive[b] = 0;
      const nb = next[b]!;
      next[a] = nb;
      if (nb >= 0) prev[nb] = a;
      consider(prev[a]!);
      consider(a);
    }
    const out: number[] = [];
    for (let k = n > 0 ? 0 : -1; k >= 0; k = next[k]!) {
      if (id[k]! >= 0) {
        out.push(id[k]!);
        continue;
      }
      // spm leftover: byte fallback through the <0xNN> pieces
      const s = key[k]!;
      for (let c = 0; c < s.length; c++) {
        const bid = this.byteId[s.charCodeAt(c)]!;
        out.push(bid >= 0 ? bid : 0);
      }
    }
    return out;
  }

  piece(id: number): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize)
      throw new ArgumentError('Tokenizer.piece', 'id', id, `must be an integer in [0, ${this.vocabSize})`);
    return this.pieces[id]!;
  }

  decodeTokenBytes(prev: number, id: number): Uint8Array {
    let p = this.piece(id);
    if (this.mode === 'spm') p = replaceSpace(p);
    if (prev === this.bosId && p[0] === 0x20) p = p.subarray(1);
    const b = this.byteOf[id]!;
    if (b >= 0) return Uint8Array.of(b);
    return p;
  }

  decodeToken(prev: number, id: number): string {
    return new TextDecoder().decode(this.decodeTokenBytes(prev, id));
  }

  decode(ids: readonly number[]): string {
    if (!Array.isArray(ids)) throw new ArgumentError('Tokenizer.decode', 'ids', ids, 'must be an array of token ids');
    const chunks: Uint8Array[] = [];
    let n = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id === this.bosId || id === this.eosId) continue;
      const c = this.decodeTokenBytes(i > 0 ? ids[i - 1]! : -1, id);
      chunks.push(c);
      n += c.length;
    }
    const all = new Uint8Array(n);
    let o = 0;
    for (const c of chunks) {
      all.set(c, o);
      o += c.length;
    }
    return new TextDecoder().decode(all);
  }
}

const SPACE = '\u00e2\u0096\u0081'; // '▁' (U+2581) as UTF-8 bytes in a latin1 string

function replaceSpace(p: Uint8Array): Uint8Array {
  let hit = false;
  for (let i = 0; i + 2 < p.length; i++)
    if (p[i] === 0xe2 && p[i + 1] === 0x96 && p[i + 2] === 0x81) {
      hit = true;
      break;
    }
  if (!hit) return p;
  const out: number[] = [];
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0xe2 && p[i + 1] === 0x96 && p[i + 2] === 0x81) {
      out.push(0x20);
      i += 2;
    } else out.push(p[i]!);
  }
  return Uint8Array.from(out);
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/** Parses a llama2.c tokenizer .bin: int32 max_token_length, then per token f32 score, int32 len, bytes. */
export function parseLlama2cTokenizer(bytes: Uint8Array, vocabSize: number, options: { file?: string } = {}): BpeTokenizer {
  const fn = 'parseLlama2cTokenizer';
  const file = options.file ?? '<bytes>';
  if (!Number.isInteger(vocabSize) || vocabSize <= 0 || vocabSize > 1 << 24) throw new ArgumentError(fn, 'vocabSize', vocabSize, 'must be a positive integer');
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError(fn, 'bytes', bytes, 'must be a Uint8Array');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 4) throw new FormatError(fn, file, { field: 'max_token_length' }, `file is ${bytes.byteLength} bytes`);
  const maxLen = dv.getInt32(0, true);
  if (maxLen <= 0 || maxLen > 1 << 16) throw new FormatError(fn, file, { field: 'max_token_length' }, `value ${maxLen} is out of range (1..65536)`);
  let off = 4;
  const pieces: Uint8Array[] = [];
  const scores = new Float32Array(vocabSize);
  for (let i = 0; i < vocabSize; i++) {
    if (off + 8 > bytes.byteLength)
      throw new FormatError(
        fn,
        file,
        { tensor: `token ${i}`, field: 'score/len' },
        `record starts at byte ${off} but the file ends at ${bytes.byteLength} (vocabSize ${vocabSize} too large?)`,
      );
    const s = dv.getFloat32(off, true);
    const len = dv.getInt32(off + 4, true);
    if (!Number.isFinite(s)) throw new FormatError(fn, file, { tensor: `token ${i}`, field: 'score' }, `score is ${s}`);
    if (len < 0 || len > maxLen)
      throw new FormatError(fn, file, { tensor: `token ${i}`, field: 'len' }, `length ${len} is outside [0, max_token_length=${maxLen}]`);
    off += 8;
    if (off + len > bytes.byteLength)
      throw new FormatError(fn, file, { tensor: `token ${i}`, field: 'bytes' }, `needs bytes [${off}, ${off + len}) but the file has ${bytes.byteLength}`);
    pieces.push(bytes.slice(off, off + len));
    scores[i] = s;
    off += len;
  }
  if (off !== bytes.byteLength)
    throw new FormatError(fn, file, { field: 'byte length' }, `${bytes.byteLength - off} trailing bytes after ${vocabSize} tokens (vocabSize too small?)`);
  return new BpeTokenizer(pieces, scores, { bosId: 1, eosId: 2, maxTokenLength: maxLen });
}
