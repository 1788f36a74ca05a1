/**
 * `llmpress inspect <model>`: format, config, tensors, bytes, dtype histogram. Every float tensor
 * is read once to check it is finite (NaN/Inf are named by tensor); a file shorter than its header
 * claims is an error. llmpress's own files are shown by layer (kind, stored bytes, the dense
 * parameters it stands for), since packed bytes are not parameters.
 */
import { readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError, decodeHalf, type LinearLayer, type SerializedLayer } from '@llmpress/tensor';
import {
  SafetensorsFile,
  GgufFile,
  ggufToLlamaConfig,
  readLlama2cConfig,
  hfConfigToLlama,
  FormatError,
  type LlamaConfig,
  type LlamaModel,
} from '@llmpress/models';
import { fileSource } from '@llmpress/models/node';

interface Row {
  name: string;
  dtype: string;
  shape: readonly number[];
  bytes: number;
  params?: number;
}

const fmtBytes = (b: number) => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(2)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`);
const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const META_MAX = 400;

/** Throws a FormatError naming the first weight of `model` that holds NaN or ±Inf. */
export function checkFinite(model: LlamaModel, file: string): void {
  const check = (name: string, a: ArrayLike<number>) => {
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      if (!Number.isFinite(v)) throw new FormatError('checkWeights', file, { tensor: name }, `element ${i} is ${v} (the weights must be finite)`);
    }
  };
  check('embedding', model.embedding.data);
  model.blocks.forEach((b, i) => {
    check(`blocks.${i}.attn_norm`, b.attnNorm);
    check(`blocks.${i}.ffn_norm`, b.ffnNorm);
  });
  check('final_norm', model.finalNorm);
  const layer = (name: string, l: LinearLayer) => {
    for (const [k, t] of Object.entries(l.serialize().tensors)) if (t.dtype === 'f32' || t.dtype === 'f64') check(`${name}.${k}`, t.data as ArrayLike<number>);
  };
  for (const e of model.linears()) layer(e.name, e.layer);
  if (!model.headIsTied()) layer('lm_head', model.lmHead);
}

type Src = ReturnType<typeof fileSource>;

/** Reads a float tensor's bytes in chunks and names it if it holds NaN/Inf. */
function scanFloat(src: Src, file: string, name: string, dtype: string, start: number, bytes: number): void {
  const size = dtype === 'F64' || dtype === 'f64' ? 8 : dtype === 'F32' || dtype === 'f32' ? 4 : dtype === 'F16' || dtype === 'BF16' ? 2 : 0;
  if (!size) return;
  const CH = 1 << 22;
  for (let off = 0; off < bytes; off += CH) {
    const n = Math.min(CH, bytes - off);
    const raw = src.read(start + off, n) as Uint8Array;
    if (raw.byteLength !== n)
      throw new FormatError('inspect', file, { tensor: name }, `the file ends inside this tensor (needs bytes up to ${start + bytes}, has ${src.size})`);
    const a: ArrayLike<number> =
      size === 8 ? new Float64Array(raw.slice().buffer) : size === 4 ? new Float32Array(raw.slice().buffer) : decodeHalf(raw, dtype === 'F16' ? 'f16' : 'bf16');
    for (let i = 0; i < a.length; i++) {
      if (!Number.isFinite(a[i]!))
        throw new FormatError('inspect', file, { tensor: name }, `element ${off / size + i} is ${a[i]} (the weights must be finite)`);
    }
  }
}

function render(
  format: string,
  path: string,
  size: number,
  config: LlamaConfig | undefined,
  rows: Row[],
  meta: Record<string, string>,
  extra: string[] = [],
): string {
  const hist = new Map<string, { n: number; bytes: number; params: number }>();
  for (const r of rows) {
    const h = hist.get(r.dtype) ?? { n: 0, bytes: 0, params: 0 };
    h.n++;
    h.bytes += r.bytes;
    h.params += r.params ?? prod(r.shape);
    hist.set(r.dtype, h);
  }
  const params = rows.reduce((a, r) => a + (r.params ?? prod(r.shape)), 0);
  const lines = [
    `# ${path}`,
    '',
    `format: ${format}, file ${fmtBytes(size)} (${size} bytes), ${rows.length} tensors, ${params.toLocaleString('en')} parameters`,
  ];
  if (config) lines.push(`config: ${JSON.stringify(config)}`);
  if (Object.keys(meta).length) {
    const s = JSON.stringify(meta);
    lines.push(`metadata: ${s.length > META_MAX ? `${s.slice(0, META_MAX)}… (${s.length} characters)` : s}`);
  }
  lines.push(...extra);
  lines.push('weights: all finite', '', '| dtype | tensors | parameters | bytes |', '| --- | ---: | ---: | ---: |');
  for (const [d, h] of [...hist].sort((a, b) => b[1].bytes - a[1].bytes))
    lines.push(`| ${d} | ${h.n} | ${h.params.toLocaleString('en')} | ${fmtBytes(h.bytes)} |`);
  lines.push('', '| tensor | dtype | shape | bytes |', '| --- | --- | --- | ---: |');
  for (const r of rows) lines.push(`| ${r.name} | ${r.dtype} | [${r.shape.join(', ')}] | ${r.bytes} |`);
  return lines.join('\n');
}

export function inspectFile(path: string, options: { kinds?: Record<string, (s: SerializedLayer) => LinearLayer> } = {}): string {
  const fn = 'inspect';
  if (!existsSync(path)) throw new ArgumentError(fn, 'model', path, 'must name an existing file or folder');
  if (statSync(path).isDirectory()) {
    const st = join(path, 'model.safetensors');
    if (!existsSync(st)) throw new ArgumentError(fn, 'model', path, 'is a folder without model.safetensors');
    const cfgPath = join(path, 'config.json');
    let config: LlamaConfig | undefined;
    if (existsSync(cfgPath)) {
      let cfg: unknown;
      try {
        cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
      } catch (e) {
        throw new FormatError(fn, cfgPath, { field: '(root)' }, `is not valid JSON (${(e as Error).message})`);
      }
      config = hfConfigToLlama(cfg, cfgPath);
    }
    return inspectSafetensors(st, config, 'Hugging Face folder (safetensors + config.json)');
  }
  const src = fileSource(path);
  try {
    const magic = src.read(0, Math.min(4, src.size)) as Uint8Array;
    if (magic[0] === 0x47 && magic[1] === 0x47 && magic[2] === 0x55 && magic[3] === 0x46) {
      const g = new GgufFile(src, { file: path });
      const h = g.header;
      const meta: Record<string, string> = {};
      for (const [k, v] of h.metadata) {
        if (typeof v.value !== 'object') meta[k] = String(v.value);
        else if (Array.isArray(v.value)) meta[k] = `[${v.value.length} items]`;
      }
      let config: LlamaConfig | undefined;
      const extra: string[] = [];
      try {
        config = ggufToLlamaConfig(g);
      } catch (e) {
        extra.push(`config: not a supported Llama (${(e as Error).message})`);
      }
      for (const t of h.tensors) scanFloat(src, path, t.name, t.typeName, h.dataStart + t.offset, t.byteSize);
      const rows = h.tensors.map((t) => ({ name: t.name, dtype: t.typeName, shape: t.shape, bytes: t.byteSize }));
      return render(`GGUF v${h.version}`, path, src.size, config, rows, meta, extra);
    }
    if (path.endsWith('.safetensors')) return inspectSafetensors(path, undefined, 'safetensors', options.kinds);
    // llama2.c legacy: the header, then f32 arrays in run.c order; the file must hold exactly what the header implies
    const head = src.read(0, Math.min(28, src.size)) as Uint8Array;
    const { config, shared } = readLlama2cConfig(head.byteLength >= 28 ? head : new Uint8Array(head), path);
    const { dim: d, hiddenDim: hd, nLayers: L, vocabSize: V, nKvHeads, headDim, seqLen } = config;
    const kv = nKvHeads * headDim;
    const rows: Row[] = [{ name: 'token_embedding', dtype: 'f32', shape: [V, d], bytes: 4 * V * d }];
    const layout: Array<[string, number[]]> = [
      ['token_embedding_table', [V, d]],
      ['rms_att_weight', [L, d]],
      ['wq', [L, d, d]],
      ['wk', [L, kv, d]],
      ['wv', [L, kv, d]],
      ['wo', [L, d, d]],
      ['rms_ffn_weight', [L, d]],
      ['w1', [L, hd, d]],
      ['w2', [L, d, hd]],
      ['w3', [L, hd, d]],
      ['rms_final_weight', [d]],
      ['freq_cis_real', [seqLen, headDim / 2]],
      ['freq_cis_imag', [seqLen, headDim / 2]],
    ];
    if (!shared) layout.push(['wcls', [V, d]]);
    let off = 28;
    for (const [name, shape] of layout) {
      const n = 4 * prod(shape);
      if (off + n > src.size)
        throw new FormatError(
          fn,
          path,
          { tensor: name, field: 'byte length' },
          `needs bytes [${off}, ${off + n}) but the file has ${src.size} bytes (truncated?)`,
        );
      if (!name.startsWith('freq_cis')) scanFloat(src, path, name, 'f32', off, n);
      off += n;
    }
    if (off !== src.size) throw new FormatError(fn, path, { field: 'byte length' }, `file has ${src.size} bytes but the header implies exactly ${off}`);
    for (let l = 0; l < L; l++) {
      rows.push({ name: `blocks.${l}.attn_norm`, dtype: 'f32', shape: [d], bytes: 4 * d });
      for (const [r, s] of [
        ['q', [d, d]],
        ['k', [kv, d]],
        ['v', [kv, d]],
        ['o', [d, d]],
      ] as const)
        rows.push({ name: `blocks.${l}.${r}`, dtype: 'f32', shape: s, bytes: 4 * s[0] * s[1] });
      rows.push({ name: `blocks.${l}.ffn_norm`, dtype: 'f32', shape: [d], bytes: 4 * d });
      for (const [r, s] of [
        ['gate', [hd, d]],
        ['down', [d, hd]],
        ['up', [hd, d]],
      ] as const)
        rows.push({ name: `blocks.${l}.${r}`, dtype: 'f32', shape: s, bytes: 4 * s[0] * s[1] });
    }
    rows.push({ name: 'final_norm', dtype: 'f32', shape: [d], bytes: 4 * d });
    if (!shared) rows.push({ name: 'classifier', dtype: 'f32', shape: [V, d], bytes: 4 * V * d });
    return render(`llama2.c checkpoint (legacy, ${shared ? 'shared' : 'unshared'} classifier)`, path, src.size, config, rows, {});
  } finally {
    src.close();
  }
}

/** [out, in] of a layer of an llmpress file from its config ([] when the name is not a known linear). */
function denseShape(c: LlamaConfig, name: string): number[] {
  const q = c.nHeads * c.headDim,
    kv = c.nKvHeads * c.headDim;
  if (name === 'lm_head') return [c.vocabSize, c.dim];
  const role = /^blocks\.\d+\.(\w+)$/.exec(name)?.[1];
  const s: Record<string, number[]> = {
    q: [q, c.dim],
    k: [kv, c.dim],
    v: [kv, c.dim],
    o: [c.dim, q],
    gate: [c.hiddenDim, c.dim],
    up: [c.hiddenDim, c.dim],
    down: [c.dim, c.hiddenDim],
  };
  return role && s[role] ? s[role]! : [];
}

function inspectSafetensors(
  path: string,
  config: LlamaConfig | undefined,
  format: string,
  kinds?: Record<string, (s: SerializedLayer) => LinearLayer>,
): string {
  const src = fileSource(path);
  try {
    const f = SafetensorsFile.openSync(src, { file: path });
    for (const t of f.header.tensors) scanFloat(src, path, t.name, t.dtype, f.header.dataStart + t.begin, t.end - t.begin);
    const md = f.metadata;
    if (md['llmpress.layers']) {
      // llmpress's own file: rows are layers (kind, stored bytes, dense parameters they stand for)
      let cfg: LlamaConfig, layers: Record<string, { kind: string; meta?: Record<string, unknown>; tensors: string[] }>;
      try {
        cfg = JSON.parse(md['llmpress.config']!);
        layers = JSON.parse(md['llmpress.layers']!);
      } catch (e) {
        throw new FormatError('inspect', path, { field: '__metadata__.llmpress.*' }, `is not valid JSON (${(e as Error).message})`);
      }
      if (!layers || typeof layers !== 'object' || Array.isArray(layers))
        throw new FormatError('inspect', path, { field: '__metadata__.llmpress.layers' }, 'must be an object of layer records');
      const byName = new Map(f.header.tensors.map((t) => [t.name, t]));
      const rows: Row[] = [];
      const inLayer = new Set<string>();
      for (const [ln, rec] of Object.entries(layers)) {
        if (!rec || typeof rec !== 'object' || typeof rec.kind !== 'string' || !Array.isArray(rec.tensors))
          throw new FormatError('inspect', path, { tensor: ln, field: '__metadata__.llmpress.layers' }, 'record must be { kind, meta, tensors: [names] }');
        let bytes = 0;
        for (const tn of rec.tensors) {
          const e = byName.get(`${ln}.${tn}`);
          if (!e) throw new FormatError('inspect', path, { tensor: `${ln}.${tn}` }, 'is missing');
          bytes += e.end - e.begin;
          inLayer.add(`${ln}.${tn}`);
        }
        const shape = denseShape(cfg, ln);
        rows.push({ name: ln, dtype: rec.kind, shape, bytes, params: shape.length ? shape[0]! * shape[1]! : 0 });
      }
      for (const t of f.header.tensors) if (!inLayer.has(t.name)) rows.push({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.end - t.begin });
      const { 'llmpress.layers': _l, 'llmpress.config': _c, ...rest } = md;
      void kinds;
      return render(
        'llmpress compressed model (safetensors); rows are layers: kind, stored bytes, dense parameters represented',
        path,
        src.size,
        cfg,
        rows,
        rest,
      );
    }
    const rows = f.header.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.end - t.begin }));
    return render(format, path, src.size, config, rows, md);
  } finally {
    src.close();
  }
}
