/**
 * Node: the synchronous WebGPU backend with its GPU thread in a `worker_threads` worker.
 * From the built package the worker runs `dist/gpu-thread.node.js`; from the TypeScript sources
 * (tests, `tsx`) the worker entry is bundled once with esbuild into `.cache/` beside the package.
 */
import { Worker } from 'node:worker_threads';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { connectWebGpuSyncBackend, type WebGpuSyncBackend, type WebGpuSyncOptions } from './sync-facade.js';

let devBundle: Promise<string> | undefined;

/** The GPU thread's entry file: the built one beside this module, else a bundle of the sources. */
async function workerEntry(): Promise<string> {
  const built = fileURLToPath(new URL('./gpu-thread.node.js', import.meta.url));
  if (existsSync(built)) return built;
  devBundle ??= (async () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const pkg = join(here, '..');
    const esbuild = await import('esbuild');
    const r = await esbuild.build({
      entryPoints: [join(here, 'gpu-thread.node.ts')],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      external: ['webgpu'],
      banner: {
        js: "import { createRequire as __llmpressCreateRequire } from 'node:module'; const require = __llmpressCreateRequire(import.meta.url); import { fileURLToPath as __llmpressPath } from 'node:url'; const __filename = __llmpressPath(import.meta.url); const __dirname = __llmpressPath(new URL('.', import.meta.url));",
      },
      alias: { '@llmpress/tensor': join(pkg, '..', 'tensor', 'src', 'index.ts') },
      logLevel: 'silent',
    });
    const dir = join(pkg, '.cache');
    mkdirSync(dir, { recursive: true });
    const text = r.outputFiles[0]!.text;
    const file = join(dir, `gpu-thread.${createHash('sha256').update(text).digest('hex').slice(0, 12)}.mjs`);
    if (!existsSync(file)) writeFileSync(file, text);
    return file;
  })();
  return devBundle;
}

/**
 * Creates the synchronous WebGPU backend in Node: starts a GPU thread (Dawn through the `webgpu`
 * package; on machines without a GPU, Mesa lavapipe — see the README) and connects the facade.
 * Resolves to null (with `onUnavailable(reason)`) when WebGPU cannot run here.
 */
export async function createWebGpuSyncBackend(
  options: WebGpuSyncOptions & { onUnavailable?: (reason: string) => void } = {},
): Promise<WebGpuSyncBackend | null> {
  let entry: string;
  try {
    entry = await workerEntry();
  } catch (e) {
    options.onUnavailable?.(`the GPU thread could not be prepared: ${(e as Error)?.message ?? e}`);
    return null;
  }
  const worker = new Worker(entry);
  worker.unref();
  return connectWebGpuSyncBackend(worker, options);
}
