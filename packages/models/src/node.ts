/** Node-only entry (`@llmpress/models/node`): file loading and atomic writes. */
import { readFileSync, writeFileSync, renameSync, existsSync, statSync, unlinkSync, realpathSync } from 'node:fs';
import { resolve, dirname, basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArgumentError, UnsupportedError } from '@llmpress/tensor';
import { parseLlama2c } from './llama2c.js';
import { parseLlama2cTokenizer, type BpeTokenizer, type Tokenizer } from './tokenizer.js';
import type { LlamaModel } from './model.js';
import { FormatError } from './errors.js';

/** Where the shared data lives: env LLMPRESS_DATA, default `<repo>/../shared/data`. */
export function dataDir(): string {
  const env = process.env.LLMPRESS_DATA;
  if (env) return resolve(env);
  // src/node.ts and dist/node.js are both two levels below the package root, which is two below the repo
  return resolve(fileURLToPath(new URL('../../../../shared/data', import.meta.url)));
}

function readBytes(fn: string, path: string): Uint8Array {
  if (typeof path !== 'string' || path.length === 0) throw new ArgumentError(fn, 'path', path, 'must be a non-empty path string');
  if (!existsSync(path)) throw new ArgumentError(fn, 'path', path, 'must name an existing file');
  const b = readFileSync(path);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Loads a model by extension / magic: llama2.c `.bin`, `.safetensors` or a Hugging Face folder, `.gguf`. */
export function loadModel(path: string): LlamaModel {
  const fn = 'loadModel';
  if (typeof path !== 'string' || !existsSync(path)) throw new ArgumentError(fn, 'path', path, 'must name an existing file or folder');
  if (statSync(path).isDirectory()) return loadModelDir(path);
  const bytes = readBytes(fn, path);
  const head = bytes.subarray(0, 4);
  if (head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46) return loadGgufBytes(bytes, path);
  if (path.endsWith('.safetensors')) return loadModelDir(dirname(path), path);
  if (path.endsWith('.bin')) return parseLlama2c(bytes, { file: path });
  throw new UnsupportedError(fn, `cannot tell the format of '${path}' (expected .bin, .safetensors, .gguf or a Hugging Face folder)`);
}

// filled in by the safetensors/GGUF modules (kept in separate files)
let loadModelDir = (dir: string, _file?: string): LlamaModel => { throw new UnsupportedError('loadModel', `Hugging Face folders are not supported yet ('${dir}')`); };
let loadGgufBytes = (_b: Uint8Array, path: string): LlamaModel => { throw new UnsupportedError('loadModel', `GGUF is not supported yet ('${path}')`); };
export function _registerLoaders(dir: typeof loadModelDir, gguf: typeof loadGgufBytes): void { loadModelDir = dir; loadGgufBytes = gguf; }

/** Loads a llama2.c tokenizer `.bin` (vocab size from the option or 512 by default). */
export function loadTokenizer(path: string, options: { vocabSize?: number } = {}): Tokenizer {
  const bytes = readBytes('loadTokenizer', path);
  return parseLlama2cTokenizer(bytes, options.vocabSize ?? 512, { file: path });
}

export interface Stories260K { model: LlamaModel; tokenizer: BpeTokenizer; text: string }

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
  if (options.input !== undefined && real(options.input) === real(path)) throw new ArgumentError(fn, 'path', path, `must not be the input file '${options.input}'`);
  const tmp = join(dirname(resolve(path)), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    if (existsSync(tmp)) unlinkSync(tmp);
    throw e;
  }
}

export { FormatError };
