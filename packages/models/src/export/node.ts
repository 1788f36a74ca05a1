/**
 * Node-only export I/O: streaming atomic writes of GGUF files and Hugging Face / GPTQ folders.
 * Output goes to a temporary sibling (`.<name>.<pid>.tmp`) and is renamed into place only when
 * complete; on any error the temporary is removed, so a truncated or corrupt output is never left
 * behind. An existing output, or an output equal to the input, is refused (OutputRefusedError).
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { LlamaModel } from '../model.js';
import { OutputRefusedError } from './errors.js';
import { planGgufExport, type ExportReport, type GgufExportOptions } from './gguf-export.js';
import { exportHfFiles, parseHfExport, type HfExportOptions } from './hf-export.js';

/** Throws OutputRefusedError when `out` exists or is (or lies inside / contains) the input. */
export function checkOutputPath(fn: string, out: string, input?: string): string {
  const abs = resolve(out);
  const real = (p: string) => (existsSync(p) ? realpathSync(p) : resolve(p));
  if (input !== undefined) {
    const ri = real(input);
    if (ri === real(abs)) throw new OutputRefusedError(fn, out, `it is the input '${input}'`);
    if (ri.startsWith(real(abs) + '/')) throw new OutputRefusedError(fn, out, `it contains the input '${input}'`);
  }
  if (existsSync(abs)) throw new OutputRefusedError(fn, out, 'it already exists (exports never overwrite)');
  if (!existsSync(dirname(abs))) throw new OutputRefusedError(fn, out, `its folder '${dirname(abs)}' does not exist`);
  return abs;
}

function tmpName(abs: string): string {
  return join(dirname(abs), `.${basename(abs)}.${process.pid}.${Date.now()}.tmp`);
}

/** Writes a GGUF export to `out`, streaming tensor by tensor into a temporary file, then renames it. */
export function writeGgufFile(
  out: string,
  model: LlamaModel,
  options: GgufExportOptions & { input?: string; onProgress?(done: number, total: number, name: string): void },
): ExportReport {
  const fn = 'writeGgufFile';
  const abs = checkOutputPath(fn, out, options.input);
  const plan = planGgufExport(model, options);
  const tmp = tmpName(abs);
  let fd = -1;
  try {
    fd = openSync(tmp, 'wx');
    const f = fd;
    const n = plan.write(
      {
        write(b) {
          let o = 0;
          while (o < b.length) o += writeSync(f, b, o, b.length - o);
        },
      },
      options.onProgress,
    );
    if (n !== plan.layout.totalBytes) throw new Error(`${fn}: wrote ${n} bytes, the layout says ${plan.layout.totalBytes} (internal error)`);
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    if (existsSync(abs)) throw new OutputRefusedError(fn, out, 'it appeared while the export was running');
    renameSync(tmp, abs);
  } catch (e) {
    if (fd >= 0)
      try {
        closeSync(fd);
      } catch {
        /* already failing */
      }
    rmSync(tmp, { force: true });
    throw e;
  }
  return plan.report;
}

/** Writes a Hugging Face (dense) or GPTQ v1 folder to `out` (built in a temporary folder, then renamed). */
export function writeHfFolder(
  out: string,
  model: LlamaModel,
  options: HfExportOptions & { input?: string; onProgress?(done: number, total: number, name: string): void },
): ExportReport {
  const fn = 'writeHfFolder';
  const abs = checkOutputPath(fn, out, options.input);
  const { files, report } = exportHfFiles(model, options);
  const tmp = tmpName(abs);
  try {
    mkdirSync(tmp);
    let i = 0;
    for (const [name, bytes] of files) {
      writeFileSync(join(tmp, name), bytes, { flag: 'wx' });
      options.onProgress?.(++i, files.size, name);
    }
    if (existsSync(abs)) throw new OutputRefusedError(fn, out, 'it appeared while the export was running');
    renameSync(tmp, abs);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return report;
}

/** Reads a Hugging Face / GPTQ v1 folder written by `writeHfFolder` (or any such folder) back into a model. */
export function loadHfExportFolder(
  dir: string,
  options: { kinds?: Record<string, (s: import('@llmpress/tensor').SerializedLayer) => import('@llmpress/tensor').LinearLayer> } = {},
): LlamaModel {
  const files = new Map<string, Uint8Array>();
  for (const f of ['config.json', 'model.safetensors']) {
    const p = join(dir, f);
    if (!existsSync(p)) throw new OutputRefusedError('loadHfExportFolder', dir, `has no ${f}`);
    files.set(f, new Uint8Array(readFileSync(p)));
  }
  return parseHfExport(files, options);
}
