/** Writes a synthetic Hugging Face Llama checkpoint (config.json + model.safetensors) tensor by tensor. */
import { openSync, writeSync, closeSync, mkdirSync, writeFileSync, renameSync, fsyncSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError, encodeHalf, Rng } from '@llmpress/tensor';
import { SHAPES, blockTensors, type ShapePreset, type ShapeName } from './shapes.js';
import { syntheticWeight } from './synthetic.js';

export interface SyntheticOptions {
  dtype?: 'bf16' | 'f16';
  seed?: number;
  layers?: number;
  onTensor?(name: string, done: number, total: number): void;
}

/** Returns the folder. Peak memory: one tensor in f32 (a 1B model's embedding is converted in row chunks). */
export function writeSyntheticCheckpoint(dir: string, shape: ShapeName | ShapePreset, options: SyntheticOptions = {}): string {
  const fn = 'writeSyntheticCheckpoint';
  const p0 = typeof shape === 'string' ? SHAPES[shape] : shape;
  if (!p0) throw new ArgumentError(fn, 'shape', shape, `must be one of ${Object.keys(SHAPES).join(', ')} or a ShapePreset`);
  const p: ShapePreset = { ...p0, num_hidden_layers: options.layers ?? p0.num_hidden_layers };
  const dtype = options.dtype ?? 'bf16';
  const seed = options.seed ?? 1;
  mkdirSync(dir, { recursive: true });
  const d = p.hidden_size;
  const list: Array<{ name: string; shape: number[] }> = [{ name: 'model.embed_tokens.weight', shape: [p.vocab_size, d] }];
  for (let b = 0; b < p.num_hidden_layers; b++) for (const t of blockTensors(p, b)) list.push({ name: t.name, shape: [...t.shape] });
  list.push({ name: 'model.norm.weight', shape: [d] });
  if (!p.tie_word_embeddings) list.push({ name: 'lm_head.weight', shape: [p.vocab_size, d] });
  list.sort((a, b) => (a.name < b.name ? -1 : 1));
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', generator: 'llmpress synthetic', shape: p.name, seed: String(seed) } };
  let off = 0;
  for (const t of list) {
    const n = 2 * t.shape.reduce((a, b) => a * b, 1);
    header[t.name] = { dtype: dtype === 'bf16' ? 'BF16' : 'F16', shape: t.shape, data_offsets: [off, off + n] };
    off += n;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - ((8 + json.length) % 8)) % 8;
  if (pad) {
    const j = new Uint8Array(json.length + pad).fill(0x20);
    j.set(json);
    json = j;
  }
  const tmp = join(dir, `.model.safetensors.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setUint32(0, json.length, true);
    writeSync(fd, prefix);
    writeSync(fd, json);
    list.forEach((t, i) => {
      const tseed = seed * 1000003 + i;
      if (t.shape.length === 1) {
        const rng = new Rng(tseed);
        const v = new Float32Array(t.shape[0]!);
        for (let j = 0; j < v.length; j++) v[j] = 1 + 0.1 * rng.normal();
        writeSync(fd, encodeHalf(v, dtype));
      } else {
        const [rows, cols] = t.shape as [number, number];
        const isEmb = t.name.includes('embed') || t.name.startsWith('lm_head');
        const chunk = isEmb ? Math.max(1, Math.floor((1 << 22) / cols)) : rows;
        for (let r0 = 0; r0 < rows; r0 += chunk) {
          const r = Math.min(chunk, rows - r0);
          const w = new Float32Array(r * cols);
          if (isEmb) {
            const rng = new Rng(tseed + r0);
            for (let j = 0; j < w.length; j++) w[j] = 0.02 * rng.normal();
          } else syntheticWeight(w, rows, cols, tseed);
          writeSync(fd, encodeHalf(w, dtype));
        }
      }
      options.onTensor?.(t.name, i + 1, list.length);
    });
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, 'model.safetensors'));
  const { name: _n, ...cfg } = p;
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify(
      {
        architectures: ['LlamaForCausalLM'],
        model_type: 'llama',
        hidden_act: 'silu',
        rms_norm_eps: 1e-5,
        torch_dtype: dtype === 'bf16' ? 'bfloat16' : 'float16',
        bos_token_id: 1,
        eos_token_id: 2,
        ...cfg,
      },
      null,
      2,
    ),
  );
  return dir;
}
