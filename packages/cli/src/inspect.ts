/** `llmpress inspect <model>`: format, config, tensors, bytes, dtype histogram — headers only where the format allows. */
import { readFileSync, statSync, existsSync, openSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError } from '@llmpress/tensor';
import { SafetensorsFile, parseGgufHeader, readLlama2cConfig, hfConfigToLlama, type ByteSource, type LlamaConfig } from '@llmpress/models';

interface Row { name: string; dtype: string; shape: readonly number[]; bytes: number }

function fileSource(path: string): ByteSource & { close(): void } {
  const fd = openSync(path, 'r');
  const size = statSync(path).size;
  return {
    size, name: path,
    read(offset: number, length: number) { const b = new Uint8Array(length); readSync(fd, b, 0, length, offset); return b; },
    close() { closeSync(fd); },
  } as any;
}

const fmtBytes = (b: number) => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(2)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`);

function render(format: string, path: string, size: number, config: LlamaConfig | undefined, rows: Row[], meta: Record<string, string>): string {
  const hist = new Map<string, { n: number; bytes: number; params: number }>();
  for (const r of rows) {
    const h = hist.get(r.dtype) ?? { n: 0, bytes: 0, params: 0 };
    h.n++; h.bytes += r.bytes; h.params += r.shape.reduce((a, b) => a * b, 1);
    hist.set(r.dtype, h);
  }
  const params = rows.reduce((a, r) => a + r.shape.reduce((x, y) => x * y, 1), 0);
  const lines = [`# ${path}`, '', `format: ${format}, file ${fmtBytes(size)} (${size} bytes), ${rows.length} tensors, ${params.toLocaleString('en')} parameters`];
  if (config) lines.push(`config: ${JSON.stringify(config)}`);
  if (Object.keys(meta).length) lines.push(`metadata: ${JSON.stringify(meta).slice(0, 400)}`);
  lines.push('', '| dtype | tensors | parameters | bytes |', '| --- | ---: | ---: | ---: |');
  for (const [d, h] of [...hist].sort((a, b) => b[1].bytes - a[1].bytes)) lines.push(`| ${d} | ${h.n} | ${h.params.toLocaleString('en')} | ${fmtBytes(h.bytes)} |`);
  lines.push('', '| tensor | dtype | shape | bytes |', '| --- | --- | --- | ---: |');
  for (const r of rows) lines.push(`| ${r.name} | ${r.dtype} | [${r.shape.join(', ')}] | ${r.bytes} |`);
  return lines.join('\n');
}

export function inspectFile(path: string): string {
  const fn = 'inspect';
  if (!existsSync(path)) throw new ArgumentError(fn, 'model', path, 'must name an existing file or folder');
  if (statSync(path).isDirectory()) {
    const st = join(path, 'model.safetensors');
    if (!existsSync(st)) throw new ArgumentError(fn, 'model', path, 'is a folder without model.safetensors');
    const cfgPath = join(path, 'config.json');
    const config = existsSync(cfgPath) ? hfConfigToLlama(JSON.parse(readFileSync(cfgPath, 'utf8')), cfgPath) : undefined;
    return inspectSafetensors(st, config, 'Hugging Face folder (safetensors + config.json)');
  }
  const src = fileSource(path);
  try {
    const magic = src.read(0, Math.min(4, src.size)) as Uint8Array;
    if (magic[0] === 0x47 && magic[1] === 0x47 && magic[2] === 0x55 && magic[3] === 0x46) {
      const h = parseGgufHeader(src, { file: path });
      const meta: Record<string, string> = {};
      for (const [k, v] of h.metadata) if (typeof v.value !== 'object') meta[k] = String(v.value);
      const rows = h.tensors.map((t) => ({ name: t.name, dtype: t.typeName, shape: t.shape, bytes: t.byteSize }));
      return render(`GGUF v${h.version}`, path, src.size, undefined, rows, meta);
    }
  } finally { src.close(); }
  if (path.endsWith('.safetensors')) return inspectSafetensors(path, undefined, 'safetensors');
  const bytes = new Uint8Array(readFileSync(path));
  const { config, shared } = readLlama2cConfig(bytes, path);
  const { dim: d, hiddenDim: h, nLayers: L, vocabSize: V, nKvHeads, headDim } = config;
  const kv = nKvHeads * headDim;
  const rows: Row[] = [{ name: 'token_embedding', dtype: 'f32', shape: [V, d], bytes: 4 * V * d }];
  for (let l = 0; l < L; l++) {
    rows.push({ name: `blocks.${l}.attn_norm`, dtype: 'f32', shape: [d], bytes: 4 * d });
    for (const [r, s] of [['q', [d, d]], ['k', [kv, d]], ['v', [kv, d]], ['o', [d, d]]] as const) rows.push({ name: `blocks.${l}.${r}`, dtype: 'f32', shape: s, bytes: 4 * s[0] * s[1] });
    rows.push({ name: `blocks.${l}.ffn_norm`, dtype: 'f32', shape: [d], bytes: 4 * d });
    for (const [r, s] of [['gate', [h, d]], ['down', [d, h]], ['up', [h, d]]] as const) rows.push({ name: `blocks.${l}.${r}`, dtype: 'f32', shape: s, bytes: 4 * s[0] * s[1] });
  }
  rows.push({ name: 'final_norm', dtype: 'f32', shape: [d], bytes: 4 * d });
  if (!shared) rows.push({ name: 'classifier', dtype: 'f32', shape: [V, d], bytes: 4 * V * d });
  return render(`llama2.c checkpoint (legacy, ${shared ? 'shared' : 'unshared'} classifier)`, path, bytes.length, config, rows, {});
}

function inspectSafetensors(path: string, config: LlamaConfig | undefined, format: string): string {
  const src = fileSource(path);
  try {
    const f = SafetensorsFile.openSync(src, { file: path });
    const rows = f.header.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.end - t.begin }));
    return render(format, path, src.size, config, rows, f.metadata);
  } finally { src.close(); }
}
