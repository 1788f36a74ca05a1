/** Node-only entry (`@llmpress/models/node`): file loading and atomic writes. */
import { readFileSync, writeFileSync, renameSync, existsSync, statSync, unlinkSync, realpathSync, openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { resolve, dirname, basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArgumentError, UnsupportedError } from '@llmpress/tensor';
import { parseLlama2c } from './llama2c.js';
import { parseLlama2cTokenizer, type BpeTokenizer, type Tokenizer } from './tokenizer.js';
import type { LlamaModel } from './model.js';
import { FormatError } from './errors.js';
import { SafetensorsFile, type ByteSource } from './safetensors.js';
import { hfConfigToLlama, modelFromHfTensors } from './hf.js';
import { GgufFile, ggufToLlamaModel, ggufTokenizer } from './gguf.js';
import { parseHfTokenizer } from './hf-tokenizer.js';
import { saveModelBytes, loadCompressedModel, type LoadCompressedOptions } from './save.js';

/**
 * Data roots in search order: the repository's `data/` (the small real data that ships with it),
 * `$LLMPRESS_DATA` when set, then `../shared/data` beside the repository. Same rule as
 * `dataDir()` of `@llmpress/tensor/testing` (which pulls in vitest, so it is not imported here).
 */
export function dataRoots(): string[] {
  let root: string | undefined;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; ) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) {
      root = dir;
      break;
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  const out: string[] = [];
  if (root) out.push(join(root, 'data'));
  if (process.env.LLMPRESS_DATA) out.push(resolve(process.env.LLMPRESS_DATA));
  if (root) out.push(resolve(root, '..', 'shared', 'data'));
  return [...new Set(out)];
}

/** The folder holding `stories260K/` and `tinystories/`: the first data root (see dataRoots) that has stories260K. */
export function dataDir(): string {
  const roots = dataRoots();
  return roots.find((r) => existsSync(join(r, 'stories260K', 'stories260K.bin'))) ?? roots[0] ?? resolve('data');
}

/** The large format fixtures (`formats/`, not shipped with the repository): the first data root that has them; may not exist. */
export function formatsDir(): string {
  const roots = dataRoots();
  const hit = roots.find((r) => existsSync(join(r, 'formats', 'README.md')));
  return join(hit ?? roots[1] ?? roots[0] ?? resolve('data'), 'formats');
}

function readBytes(fn: string, path: string): Uint8Array {
  if (typeof path !== 'string' || path.length === 0) throw new ArgumentError(fn, 'path', path, 'must be a non-empty path string');
  if (!existsSync(path)) throw new ArgumentError(fn, 'path', path, 'must name an existing file');
  const b = readFileSync(path);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * A synchronous ByteSource over a file descriptor: reads byte ranges on demand (the file is never
 * read whole). Call `close()` when done.
 */
export function fileSource(path: string): ByteSource & { read(offset: number, length: number): Uint8Array; close(): void } {
  const fd = openSync(path, 'r');
  const size = fstatSync(fd).size;
  return {
    size,
    name: path,
    read(offset: number, length: number): Uint8Array {
      const n = Math.max(0, Math.min(length, size - offset));
      const buf = new Uint8Array(n);
      let got = 0;
      while (got < n) {
        const r = readSync(fd, buf, got, n - got, offset + got);
        if (r <= 0) break;
        got += r;
      }
      return got === n ? buf : buf.subarray(0, got);
    },
    close() {
      closeSync(fd);
    },
  };
}

/** Loads a model by extension / magic: llama2.c `.bin`, `.safetensors` (with config.json beside it) or a Hugging Face folder, `.gguf`. */
export function loadModel(path: string): LlamaModel {
  const fn = 'loadModel';
  if (typeof path !== 'string' || !existsSync(path)) throw new ArgumentError(fn, 'path', path, 'must name an existing file or folder');
  if (statSync(path).isDirectory()) return loadHfModel(path);
  const src = fileSource(path);
  try {
    const head = src.read(0, 4) as Uint8Array;
    if (head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46) return ggufToLlamaModel(new GgufFile(src, { file: path }));
  } finally {
    src.close();
  }
  if (path.endsWith('.safetensors')) return loadHfModel(dirname(path), path);
  if (path.endsWith('.bin')) return parseLlama2c(readBytes(fn, path), { file: path });
  throw new UnsupportedError(fn, `cannot tell the format of '${path}' (expected .bin, .safetensors, .gguf or a Hugging Face folder)`);
}

/**
 * A Hugging Face Llama folder: config.json + model.safetensors, or a sharded checkpoint
 * (model.safetensors.index.json + its shards). Weights are read tensor by tensor through file descriptors.
 */
export function loadHfModel(dir: string, weights?: string): LlamaModel {
  const fn = 'loadHfModel';
  const cfgPath = join(dir, 'config.json');
  if (!existsSync(cfgPath)) throw new ArgumentError(fn, 'dir', dir, 'must contain config.json');
  let cfg: unknown;
  try {
    cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  } catch (e) {
    throw new FormatError(fn, cfgPath, { field: '(root)' }, `is not valid JSON (${(e as Error).message})`);
  }
  const config = hfConfigToLlama(cfg, cfgPath);
  const single = weights ?? join(dir, 'model.safetensors');
  const indexPath = join(dir, 'model.safetensors.index.json');
  const where = new Map<string, string>(); // tensor → shard file
  if (weights === undefined && !existsSync(single) && existsSync(indexPath)) {
    let idx: any;
    try {
      idx = JSON.parse(readFileSync(indexPath, 'utf8'));
    } catch (e) {
      throw new FormatError(fn, indexPath, { field: '(root)' }, `is not valid JSON (${(e as Error).message})`);
    }
    if (typeof idx?.weight_map !== 'object' || idx.weight_map === null)
      throw new FormatError(fn, indexPath, { field: 'weight_map' }, 'must be an object of tensor name → shard file');
    for (const [t, f] of Object.entries(idx.weight_map)) {
      if (typeof f !== 'string' || f.includes('/') || f.includes('\\') || f.startsWith('.'))
        throw new FormatError(fn, indexPath, { tensor: t, field: 'weight_map' }, `shard ${JSON.stringify(f)} must be a plain file name in the folder`);
      where.set(t, join(dir, f));
    }
  } else if (!existsSync(single)) throw new ArgumentError(fn, 'weights', single, 'must exist (or the folder must hold model.safetensors.index.json)');
  const open = new Map<string, { src: ReturnType<typeof fileSource>; file: SafetensorsFile }>();
  const shard = (path: string) => {
    let o = open.get(path);
    if (!o) {
      const src = fileSource(path);
      o = { src, file: SafetensorsFile.openSync(src, { file: path }) };
      open.set(path, o);
    }
    return o.file;
  };
  try {
    return modelFromHfTensors(
      config,
      (n) => {
        const path = where.size > 0 ? where.get(n) : single;
        if (path === undefined) return undefined;
        const f = shard(path);
        return f.has(n) ? f.tensorSync(n) : undefined;
      },
      where.size > 0 ? indexPath : single,
    );
  } finally {
    for (const o of open.values()) o.src.close();
  }
}

/** Loads a tokenizer: llama2.c `.bin` (vocab size from the option, default 512), the one inside a `.gguf`,
 *  or Hugging Face `tokenizer.json` (or a folder holding it, with tokenizer_config.json when present). */
export function loadTokenizer(path: string, options: { vocabSize?: number } = {}): Tokenizer {
  if (typeof path === 'string' && existsSync(path) && statSync(path).isDirectory()) path = join(path, 'tokenizer.json');
  if (path.endsWith('.json')) {
    const cfg = join(dirname(path), 'tokenizer_config.json');
    return parseHfTokenizer(readFileSync(path, 'utf8'), existsSync(cfg) ? readFileSync(cfg, 'utf8') : undefined, { file: path });
  }
  const bytes = readBytes('loadTokenizer', path);
  if (bytes[0] === 0x47 && bytes[1] === 0x47 && bytes[2] === 0x55 && bytes[3] === 0x46)
    return ggufTokenizer(new GgufFile({ size: bytes.byteLength, name: path, read: (o, n) => bytes.subarray(o, o + n) }, { file: path }));
  return parseLlama2cTokenizer(bytes, options.vocabSize ?? 512, { file: path });
}

export interface Stories260K {
  model: LlamaModel;
  tokenizer: BpeTokenizer;
  text: string;
}

/** stories260K model + tok512 tokenizer + the held-out TinyStories validation text. */
export function loadStories260K(dir: string = dataDir()): Stories260K {
  const mp = join(dir, 'stories260K', 'stories260K.bin');
  const model = parseLlama2c(readBytes('loadStories260K', mp), { file: mp });
  const tp = join(dir, 'stories260K', 'tok512.bin');
  const tokenizer = parseLlama2cTokenizer(readBytes('loadStories260K', tp), model.config.vocabSize, { file: tp });
  const text = readFileSync(join(dir, 'tinystories', 'tinystories_val.txt'), 'utf8');
  return { model, tokenizer, text };
}

/**
 * Writes bytes to `path` atomically (temp file in the same folder + rename). Refuses to overwrite
 * `options.input` (the file the data was read from).
 */
export function writeFileAtomic(path: string, bytes: Uint8Array, options: { input?: string } = {}): void {
  const fn = 'writeFileAtomic';
  if (typeof path !== 'string' || path.length === 0) throw new ArgumentError(fn, 'path', path, 'must be a non-empty path string');
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError(fn, 'bytes', bytes, 'must be a Uint8Array');
  const real = (p: string) => (existsSync(p) ? realpathSync(p) : resolve(p));
  if (options.input !== undefined && real(options.input) === real(path))
    throw new ArgumentError(fn, 'path', path, `must not be the input file '${options.input}'`);
  const tmp = join(dirname(resolve(path)), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    if (existsSync(tmp)) unlinkSync(tmp);
    throw e;
  }
}

/** Saves a (compressed) model as safetensors, atomically; refuses to overwrite `options.input`. */
export function saveModelFile(path: string, model: LlamaModel, options: { input?: string } = {}): void {
  writeFileAtomic(path, saveModelBytes(model), options);
}

/** Loads a model written by saveModelFile, reading tensors by byte range. */
export function loadCompressedModelFile(path: string, options: LoadCompressedOptions = {}): LlamaModel {
  const src = fileSource(path);
  try {
    return loadCompressedModel(src, { ...options, file: path });
  } finally {
    src.close();
  }
}

export { FormatError };
export { writeGgufFile, writeHfFolder, loadHfExportFolder, checkOutputPath } from './export/node.js';
