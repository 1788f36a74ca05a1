import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, UnsupportedError, matmul, type LinearLayer, type SerializedLayer, maxAbsDiff } from '@llmpress/tensor';
import { saveModel, saveModelBytes, loadCompressedModel } from './save.js';
import { saveModelFile, loadCompressedModelFile, writeFileAtomic } from './node.js';
import { randomModel } from './testing/random-model.js';
import { FormatError } from './errors.js';

/** A toy compressed layer: W ≈ A·B (rank r), stored with an i8 tag tensor to exercise dtypes. */
class ToyLowRank implements LinearLayer {
  readonly kind = 'toy-low-rank';
  constructor(
    readonly a: Tensor<'f32'>,
    readonly b: Tensor<'f32'>,
  ) {}
  get inFeatures() {
    return this.b.shape[1]!;
  }
  get outFeatures() {
    return this.a.shape[0]!;
  }
  forward(x: Tensor<'f32'>) {
    return matmul(matmul(x, this.b.T), this.a.T) as Tensor<'f32'>;
  }
  bytes() {
    return 4 * (this.a.size + this.b.size) + 3;
  }
  params() {
    return this.a.size + this.b.size;
  }
  toDense() {
    return matmul(this.a, this.b) as Tensor<'f32'>;
  }
  serialize(): SerializedLayer {
    return {
      kind: this.kind,
      meta: { rank: this.a.shape[1]!, note: 'x' },
      tensors: { a: this.a, b: this.b, tag: new Tensor('i8', Int8Array.of(1, -2, 3), [3]) },
    };
  }
  static deserialize(s: SerializedLayer): ToyLowRank {
    expect(s.meta.rank).toBe(s.tensors.a!.shape[1]);
    expect(s.tensors.tag!.dtype).toBe('i8');
    return new ToyLowRank(s.tensors.a as Tensor<'f32'>, s.tensors.b as Tensor<'f32'>);
  }
}

function compress(m: ReturnType<typeof randomModel>) {
  const c = m.clone();
  const L = c.getLinear('blocks.1.up');
  const r = 3;
  const a = new Tensor(
    'f32',
    Float32Array.from({ length: L.outFeatures * r }, (_, i) => Math.sin(i)),
    [L.outFeatures, r],
  );
  const b = new Tensor(
    'f32',
    Float32Array.from({ length: r * L.inFeatures }, (_, i) => Math.cos(i)),
    [r, L.inFeatures],
  );
  c.setLinear('blocks.1.up', new ToyLowRank(a, b));
  return c;
}

describe('saveModel / loadCompressedModel', () => {
  it('round-trips a model with a custom layer kind through bytes (same logits, same stored bytes)', () => {
    for (const tied of [true, false]) {
      const c = compress(randomModel({ tiedEmbeddings: tied }, 3));
      const s = saveModel(c);
      expect(s.metadata['llmpress.format']).toBe('llmpress-model/1');
      expect(JSON.parse(s.metadata['llmpress.layers']!)['blocks.1.up']).toEqual({
        kind: 'toy-low-rank',
        meta: { rank: 3, note: 'x' },
        tensors: ['a', 'b', 'tag'],
      });
      const bytes = saveModelBytes(c);
      const back = loadCompressedModel(bytes, { kinds: { 'toy-low-rank': ToyLowRank.deserialize } });
      expect(back.getLinear('blocks.1.up').kind).toBe('toy-low-rank');
      expect(back.storedBytes()).toBe(c.storedBytes());
      expect(maxAbsDiff(back.forward([1, 2, 3]), c.forward([1, 2, 3]))).toBe(0);
      expect(() => loadCompressedModel(bytes)).toThrow(UnsupportedError);
      expect(() => loadCompressedModel(bytes)).toThrow(/kind 'toy-low-rank'/);
    }
  });
  it('files: atomic write, refuses to overwrite the input, lazy load', () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmpress-models-'));
    try {
      const m = compress(randomModel({}, 5));
      const p = join(dir, 'm.safetensors');
      saveModelFile(p, m);
      expect(existsSync(p)).toBe(true);
      const back = loadCompressedModelFile(p, { kinds: { 'toy-low-rank': ToyLowRank.deserialize } });
      expect(maxAbsDiff(back.forward([4, 5]), m.forward([4, 5]))).toBe(0);
      expect(() => saveModelFile(p, m, { input: p })).toThrow(/must not be the input file/);
      const before = readFileSync(p);
      writeFileAtomic(join(dir, 'other.bin'), Uint8Array.of(1, 2));
      expect(readFileSync(p).equals(before)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('rejects files that are not llmpress models, naming the field', () => {
    const bytes = saveModelBytes(randomModel({}, 1));
    const bad = bytes.slice();
    const needle = Buffer.from('llmpress-model/1');
    for (let at = Buffer.from(bad.buffer).indexOf(needle); at >= 0; at = Buffer.from(bad.buffer).indexOf(needle, at + 1)) bad[at + needle.length - 1] = 0x39;
    expect(() => loadCompressedModel(bad, { file: 'x.safetensors' })).toThrow(FormatError);
    expect(() => loadCompressedModel(bad, { file: 'x.safetensors' })).toThrow(/field '__metadata__.llmpress.format'/);
  });
});
