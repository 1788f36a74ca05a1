import type { ExtraContext } from './core.js';

/** Backend-specific integer routines (`backend.extra`). */
export function makeExtras(_ctx: ExtraContext): Readonly<Record<string, (...args: any[]) => any>> {
  return Object.freeze({});
}
