/**
 * `--backend auto|wasm|webgpu|reference` and `--threads N|auto` for every `pnpm eval:*` and `pnpm bench`:
 * reads the flags from argv and calls the one selection, `selectBackend` of `@llmpress/backend-wasm/node`
 * (the same the CLI uses), with the Node WebGPU factory for `--backend webgpu`. An unknown kind is an
 * `ArgumentError` naming the flag. `--backend webgpu` is the synchronous WebGPU facade over WASM (`--min-flops F`:
 * its routing threshold). `sel.describe()` names the backend that ran and its fallback counts.
 */
import { createWasmBackend, selectBackend, type SelectedBackend } from '@llmpress/backend-wasm/node';
import { createWebGpuSyncBackend } from '@llmpress/backend-webgpu/node';

/** The value after `--name` in argv (or `--name=value`), else undefined. */
export function flag(name: string, argv: readonly string[] = process.argv.slice(2)): string | undefined {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`--${name}=`));
  return eq ? eq.slice(name.length + 3) : undefined;
}

/** Selects the backend the flags ask for (`--backend`, default `fallback`; `--threads`, default `threads`). */
export async function backendFromArgs(options: { argv?: readonly string[]; fallback?: string; threads?: number | 'auto' } = {}): Promise<SelectedBackend> {
  const argv = options.argv ?? process.argv.slice(2);
  const kind = flag('backend', argv) ?? options.fallback ?? 'auto';
  const t = flag('threads', argv);
  const threads = t === undefined ? (options.threads ?? 'auto') : t === 'auto' ? 'auto' : Number(t);
  // WebGPU = the synchronous facade (decision 0009): GEMMs of >= --min-flops (default 2^24) on the GPU, the rest on WASM
  const minFlops = flag('min-flops', argv);
  const webgpu = async () => {
    const cpu = await createWasmBackend({ threads });
    const gpu = await createWebGpuSyncBackend({ cpu: cpu ?? undefined, disposeCpu: true, minFlops: minFlops === undefined ? undefined : Number(minFlops) });
    if (!gpu) await cpu?.dispose?.();
    return gpu;
  };
  return selectBackend(kind, { threads, webgpu });
}
