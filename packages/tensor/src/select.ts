/** Runtime backend selection: the default, `options.backend` resolution, routine fallback, `pickBackend`. */
import { ArgumentError, UnsupportedError } from './errors.js';
import { isBackend, type Backend, type BackendCandidate, type BackendRoutines, type RoutineName } from './backend.js';
import { referenceBackend } from './reference-backend.js';

let defaultBackend: Backend | undefined;

export function getReferenceBackend(): Backend {
  return referenceBackend;
}

/** The process-wide default (for REPLs and examples; library code should pass `options.backend`). */
export function getDefaultBackend(): Backend {
  return defaultBackend ?? getReferenceBackend();
}
export function setDefaultBackend(b: Backend | undefined): void {
  if (b !== undefined && !isBackend(b)) throw new ArgumentError('setDefaultBackend', 'backend', b, 'must be a Backend object');
  defaultBackend = b;
}

/** Resolves `options.backend` (or the default) to a backend. */
export function resolveBackend(fn: string, b?: Backend): Backend {
  if (b === undefined) return getDefaultBackend();
  if (!isBackend(b)) throw new ArgumentError(fn, 'options.backend', b, 'must be a Backend (from a backend factory)');
  return b;
}

export interface FallbackEvent {
  backend: string;
  routine: string;
}
let fallbackListener: ((e: FallbackEvent) => void) | undefined = (e) => {
  const g = globalThis as any;
  if (g.process?.env?.LLMPRESS_DEBUG) console.debug(`[llmpress] backend '${e.backend}' lacks '${e.routine}', using reference`);
};
const fallbackCounts = new Map<string, number>();

/** Listen to routine fallbacks (a backend lacking a routine); returns the previous listener. */
export function onFallback(listener: ((e: FallbackEvent) => void) | undefined) {
  const prev = fallbackListener;
  fallbackListener = listener;
  return prev;
}
/** How many times each `backend:routine` pair fell back to the reference backend. */
export function fallbackStats(): ReadonlyMap<string, number> {
  return fallbackCounts;
}

/** Gets a routine from a backend, falling back visibly to the reference backend. */
export function routine<K extends RoutineName>(b: Backend, name: K): BackendRoutines[K] {
  const f = b[name];
  if (typeof f === 'function') return f.bind(b) as BackendRoutines[K];
  const key = `${b.name}:${name}`;
  fallbackCounts.set(key, (fallbackCounts.get(key) ?? 0) + 1);
  fallbackListener?.({ backend: b.name, routine: name });
  const r = getReferenceBackend()[name];
  if (typeof r !== 'function') throw new UnsupportedError(name, `no backend implements '${name}'`);
  return r.bind(getReferenceBackend()) as BackendRoutines[K];
}

/** Takes the first candidate that can run here. Factories that return null or throw are skipped. */
export async function pickBackend(
  candidates: readonly BackendCandidate[],
  options: { onSkip?: (name: string, reason: string) => void } = {},
): Promise<Backend> {
  if (!Array.isArray(candidates) || candidates.length === 0)
    throw new ArgumentError('pickBackend', 'candidates', candidates, 'must be a non-empty array of backends or factories');
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i]!;
    try {
      const b = typeof c === 'function' ? await c() : c;
      if (b && isBackend(b)) return b;
      options.onSkip?.(`candidates[${i}]`, 'factory returned null (not available here)');
    } catch (e) {
      options.onSkip?.(`candidates[${i}]`, String((e as Error)?.message ?? e));
    }
  }
  return getReferenceBackend();
}
