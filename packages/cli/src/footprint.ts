/**
 * What a model really costs in storage: the input file's own bytes and bits per weight (Q4_0 GGUF,
 * bf16/f16 safetensors, f32 llama2.c), and a compressed model's bytes counted over every tensor it
 * stores (each layer's serialize(), so QUAD's rotation matrices and sign vectors count).
 */
import { statSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile, parseGgufHeader, type LlamaModel } from '@llmpress/models';
import { fileSource } from '@llmpress/models/node';

export { type Footprint, linearParams, layerStoredBytes, modelFootprint } from './stored-bytes.js';
import { linearParams, type Footprint } from './stored-bytes.js';

const FLOAT_TYPES = new Set(['F32', 'F16', 'BF16', 'F64', 'f32', 'f16', 'bf16', 'f64']);
const LINEAR_RE = [
  /^blocks\.\d+\.(q|k|v|o|gate|up|down)(\.|$)/, // llmpress / llama2.c rows
  /(^|\.)layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)\.weight$/, // Hugging Face
  /^blk\.\d+\.(attn_(q|k|v|output)|ffn_(gate|up|down))\.weight$/, // GGUF
];
export const isLinearTensor = (name: string) => LINEAR_RE.some((r) => r.test(name));

interface Row {
  name: string;
  dtype: string;
  bytes: number;
}

function safetensorsRows(path: string): { rows: Row[]; metadata: Record<string, string> } {
  const src = fileSource(path);
  try {
    const f = SafetensorsFile.openSync(src, { file: path });
    return { rows: f.header.tensors.map((t) => ({ name: t.name, dtype: t.dtype, bytes: t.end - t.begin })), metadata: f.metadata };
  } finally {
    src.close();
  }
}

/**
 * The input file's real storage: the bytes and dtypes its block linears take as stored. Falls back
 * to f32 only where the format is f32 (llama2.c). `model` is the loaded model (for Σ in·out).
 */
export function inputFootprint(path: string, model: LlamaModel): Footprint {
  const params = linearParams(model);
  let rows: Row[] | undefined,
    quantizedKinds = false;
  const st = statSync(path);
  if (st.isDirectory()) {
    const single = join(path, 'model.safetensors');
    if (existsSync(single)) rows = safetensorsRows(single).rows;
    else {
      const idx = join(path, 'model.safetensors.index.json');
      if (existsSync(idx)) {
        const files = new Set(Object.values((JSON.parse(readFileSync(idx, 'utf8')) as { weight_map: Record<string, string> }).weight_map));
        rows = [...files].flatMap((f) => safetensorsRows(join(path, f)).rows);
      }
    }
  } else {
    const src = fileSource(path);
    let gguf = false;
    try {
      const m = src.read(0, 4) as Uint8Array;
      gguf = m[0] === 0x47 && m[1] === 0x47 && m[2] === 0x55 && m[3] === 0x46;
      if (gguf) rows = parseGgufHeader(src, { file: path }).tensors.map((t) => ({ name: t.name, dtype: t.typeName, bytes: t.byteSize }));
    } finally {
      src.close();
    }
    if (!gguf && path.endsWith('.safetensors')) {
      const r = safetensorsRows(path);
      rows = r.rows;
      const layers = r.metadata['llmpress.layers'];
      if (layers) {
        try {
          quantizedKinds = Object.values(JSON.parse(layers) as Record<string, { kind?: string }>).some(
            (x) => x?.kind === 'quantized' || x?.kind === 'quant-act',
          );
        } catch {
          /* validated on load */
        }
      }
    }
  }
  if (!rows) {
    // llama2.c: every weight is f32
    const linearBytes = 4 * params;
    return { linearBytes, totalBytes: model.storedBytes(), bitsPerWeight: 32, dtypes: ['f32'], quantized: false };
  }
  const lin = rows.filter((r) => isLinearTensor(r.name));
  const linearBytes = lin.reduce((a, r) => a + r.bytes, 0);
  const dtypes = [...new Set(lin.map((r) => r.dtype))];
  const totalBytes = rows.reduce((a, r) => a + r.bytes, 0);
  return { linearBytes, totalBytes, bitsPerWeight: (8 * linearBytes) / params, dtypes, quantized: quantizedKinds || dtypes.some((d) => !FLOAT_TYPES.has(d)) };
}
