/**
 * Test helpers: where the real model data lives. Node-only, test-only.
 *
 * Data roots, searched in this order:
 *   1. `<repo>/data`: the small real data that ships with the repository (stories260K, tok512, a
 *      slice of the TinyStories validation text, TinyStories-656K), so a fresh clone runs for real;
 *   2. `$LLMPRESS_DATA`, when set;
 *   3. `<repo>/../shared/data` beside the repository.
 * The larger format fixtures (`formats/`) are not shipped: they come from roots 2–3 and the tests
 * that need them skip with `formatsSkipReason()`. Nothing here reads a file; `existsSync` only.
 * `@llmpress/models/node` `dataDir()` follows the same rule for evals, the CLI and the demo.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

/** The repository root: the nearest folder above this file holding `pnpm-workspace.yaml` (undefined outside the repo). */
function repoRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** The data roots in search order (repository `data/`, `$LLMPRESS_DATA`, `../shared/data`), whether or not they exist. */
export function dataRoots(): string[] {
  const root = repoRoot();
  const out: string[] = [];
  if (root) out.push(join(root, 'data'));
  const env = process.env.LLMPRESS_DATA;
  if (env) out.push(resolve(env));
  if (root) out.push(resolve(root, '..', 'shared', 'data'));
  return [...new Set(out)];
}

/** The first data root holding `rel` (a path such as `formats/README.md`), or undefined. */
export function findData(rel: string): string | undefined {
  for (const r of dataRoots()) if (existsSync(join(r, rel))) return join(r, rel);
  return undefined;
}

/** Like findData, but always a path: the first root's when no root holds `rel` (so messages name the expected place). */
export function dataPath(rel: string): string {
  return findData(rel) ?? join(dataRoots()[0] ?? resolve('data'), rel);
}

/**
 * The folder holding `stories260K/` and `tinystories/`: the repository's `data/` in a clone,
 * else the first other root that has stories260K.
 */
export function dataDir(): string {
  const hit = findData(join('stories260K', 'stories260K.bin'));
  return hit ? resolve(hit, '..', '..') : (dataRoots()[0] ?? resolve('data'));
}

/** True when the real-model data is present (stories260K + its tokenizer + the text). */
export function hasData(): boolean {
  const d = dataDir();
  return ['stories260K/stories260K.bin', 'stories260K/tok512.bin', 'tinystories/tinystories_val.txt'].every((f) => existsSync(join(d, f)));
}

/** The large format fixtures folder (`formats/` under `$LLMPRESS_DATA` or `../shared/data`); may not exist. */
export function formatsDir(): string {
  const hit = findData(join('formats', 'README.md'));
  if (hit) return dirname(hit);
  const roots = dataRoots();
  return join(roots[1] ?? roots[0] ?? resolve('data'), 'formats');
}

/** True when the large format fixtures are present. */
export function hasFormats(): boolean {
  return findData(join('formats', 'README.md')) !== undefined;
}

/** Why tests that need the large format fixtures skip (undefined when they are present). Reads no file. */
export function formatsSkipReason(): string | undefined {
  if (hasFormats()) return undefined;
  return `large format fixtures (formats/) are not shipped with the repository and were not found in ${dataRoots().slice(1).join(' or ') || '$LLMPRESS_DATA'} — set LLMPRESS_DATA to a folder holding formats/`;
}
