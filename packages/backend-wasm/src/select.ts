/**
 * One backend selection for every surface (CLI, `pnpm demo`, evals, benches, the browser demo):
 * `selectBackendWith(kind, create)`; the Node and web entries bind `create` to their platform as
 * `selectBackend(kind)`.
 *
 * - `auto`: the WASM backend with threads where it runs (threads = 'auto', i.e. the hardware
 *   concurrency), else the reference backend, with the reason in `note`. WebGPU is not picked by
 *   `auto` until the methods can use it (pass `preferWebgpu: true` to try it first).
 * - `wasm`: the WASM backend; an error if it cannot run here.
 * - `webgpu`: the factory given in `options.webgpu`; an error if none is given or it returns null.
 * - `reference`: the plain-JS reference backend.
 */
import { ArgumentError, UnsupportedError, getReferenceBackend, fallbackStats, type Backend } from '@llmpress/tensor';
import type { WasmBackendOptions } from './core.js';

export const BACKEND_KINDS = ['auto', 'wasm', 'webgpu', 'reference'] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];

export function isBackendKind(x: unknown): x is BackendKind {
  return typeof x === 'string' && (BACKEND_KINDS as readonly string[]).includes(x);
}

export interface SelectBackendOptions {
  /** WASM threads (default 'auto' = hardware concurrency). */
  threads?: WasmBackendOptions['threads'];
  /** A WebGPU backend factory (from @llmpress/backend-webgpu); needed for kind 'webgpu'. */
  webgpu?: () => Promise<Backend | null> | Backend | null;
  /** With kind 'auto', try `webgpu` first (default false: auto is WASM until the methods use WebGPU). */
  preferWebgpu?: boolean;
}

export interface SelectedBackend {
  backend: Backend;
  /** The kind asked for. */
  requested: BackendKind;
  /** The name of the backend that runs (e.g. 'wasm', 'reference'). */
  name: string;
  /** Threads it runs with (1 for the reference backend). */
  threads: number;
  /** Why the selection differs from what was asked (auto fell back, fewer threads), if it does. */
  note?: string;
  /** Routine fallbacks to the reference backend counted since the selection, as "routine × n". */
  fallbacks(): Record<string, number>;
  /** One line for output: "backend wasm (2 threads), 0 routine fallbacks". */
  describe(): string;
  dispose(): Promise<void>;
}

type WasmFactory = (options: WasmBackendOptions) => Promise<Backend | null>;

/** Selects a backend of `kind` with the given WASM factory (the Node/web entries bind it). */
export async function selectBackendWith(kind: string, createWasm: WasmFactory, options: SelectBackendOptions = {}): Promise<SelectedBackend> {
  const fn = 'selectBackend';
  if (!isBackendKind(kind)) throw new ArgumentError(fn, 'kind', kind, `must be one of ${BACKEND_KINDS.join(', ')}`);
  const before = new Map(fallbackStats());
  let backend: Backend | null = null,
    note: string | undefined;
  const tryWasm = async (): Promise<Backend | null> => {
    try {
      return await createWasm({ threads: options.threads ?? 'auto' });
    } catch (e) {
      note = `WASM backend failed to start: ${String((e as Error)?.message ?? e)}`;
      return null;
    }
  };
  const tryWebgpu = async (): Promise<Backend | null> => {
    if (!options.webgpu) {
      note = 'no WebGPU backend factory on this surface';
      return null;
    }
    try {
      return (await options.webgpu()) ?? null;
    } catch (e) {
      note = `WebGPU failed to start: ${String((e as Error)?.message ?? e)}`;
      return null;
    }
  };
  if (kind === 'reference') backend = getReferenceBackend();
  else if (kind === 'wasm') {
    backend = await tryWasm();
    if (!backend) throw new UnsupportedError(fn, `the WASM backend cannot run here (${note ?? 'no WebAssembly SIMD'}); use --backend reference`);
  } else if (kind === 'webgpu') {
    backend = await tryWebgpu();
    if (!backend) throw new UnsupportedError(fn, `WebGPU is not available here (${note ?? 'no adapter'}); use --backend auto`);
  } else {
    if (options.preferWebgpu) backend = await tryWebgpu();
    backend ??= await tryWasm();
    if (!backend) {
      note = `auto: ${note ?? 'WASM SIMD unavailable'}; using the reference backend`;
      backend = getReferenceBackend();
    }
  }
  const b = backend;
  const threads = Number((b as any).capabilities?.threads ?? 1) || 1;
  const threadsNote = (b as any).threadsNote as string | undefined;
  if (threadsNote) note = note ? `${note}; ${threadsNote}` : threadsNote;
  const fallbacks = () => {
    const out: Record<string, number> = {};
    for (const [k, v] of fallbackStats()) {
      const d = v - (before.get(k) ?? 0);
      if (d > 0 && k.startsWith(`${b.name}:`)) out[k.slice(b.name.length + 1)] = d;
    }
    return out;
  };
  return {
    backend: b,
    requested: kind,
    name: b.name,
    threads,
    note,
    fallbacks,
    describe() {
      const f = fallbacks(),
        n = Object.values(f).reduce((a, x) => a + x, 0);
      const list = Object.entries(f)
        .map(([r, c]) => `${r} ×${c}`)
        .join(', ');
      return `backend ${b.name}${threads > 1 ? ` (${threads} threads)` : ''}${kind !== b.name ? ` [asked: ${kind}]` : ''}, ${n} routine fallback${n === 1 ? '' : 's'} to reference${list ? ` (${list})` : ''}${note ? `; ${note}` : ''}`;
    },
    async dispose() {
      if (b !== getReferenceBackend() && typeof (b as any).dispose === 'function') await (b as any).dispose();
    },
  };
}
