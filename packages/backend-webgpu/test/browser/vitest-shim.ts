/**
 * A tiny stand-in for the parts of `vitest` the conformance suite uses (describe/it/expect and the
 * hooks), so the very same suite runs in a browser page. The page bundle aliases `vitest` to this file.
 */
type Fn = () => unknown | Promise<unknown>;
interface Suite {
  name: string;
  before: Fn[];
  after: Fn[];
  items: (Suite | Test)[];
}
interface Test {
  name: string;
  fn: Fn | null;
  skip: boolean;
}
export interface TestResult {
  name: string;
  status: 'passed' | 'failed' | 'skipped';
  ms: number;
  error?: string;
}

const root: Suite = { name: '', before: [], after: [], items: [] };
let current = root;

export function describe(name: string, body: () => void): void {
  const s: Suite = { name, before: [], after: [], items: [] };
  current.items.push(s);
  const prev = current;
  current = s;
  try {
    body();
  } finally {
    current = prev;
  }
}
describe.skip = (name: string, _body: () => void) => {
  current.items.push({ name: `${name} (suite skipped)`, fn: null, skip: true });
};

export function it(name: string, fn: Fn): void {
  current.items.push({ name, fn, skip: false });
}
it.skip = (name: string, _fn?: Fn) => {
  current.items.push({ name, fn: null, skip: true });
};
export const test = it;

export function beforeAll(fn: Fn): void {
  current.before.push(fn);
}
export function afterAll(fn: Fn): void {
  current.after.push(fn);
}

class AssertionError extends Error {}
const show = (v: unknown) => {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
};
function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const ka = Object.keys(a),
    kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => deepEqual((a as any)[k], (b as any)[k]));
}

function matchers(actual: any, msg: string | undefined, negate: boolean) {
  const check = (ok: boolean, text: string) => {
    if (ok === negate) throw new AssertionError(`${msg ? msg + ': ' : ''}expected ${show(actual)} ${negate ? 'not ' : ''}${text}`);
  };
  return {
    toBe: (e: unknown) => check(Object.is(actual, e), `to be ${show(e)}`),
    toEqual: (e: unknown) => check(deepEqual(actual, e), `to equal ${show(e)}`),
    toBeNull: () => check(actual === null, 'to be null'),
    toBeDefined: () => check(actual !== undefined, 'to be defined'),
    toBeTruthy: () => check(!!actual, 'to be truthy'),
    toContain: (e: unknown) => check(actual != null && Array.from(actual as ArrayLike<unknown>).includes(e), `to contain ${show(e)}`),
    toBeLessThanOrEqual: (e: number) => check(actual <= e, `to be <= ${e}`),
    toBeLessThan: (e: number) => check(actual < e, `to be < ${e}`),
    toBeGreaterThan: (e: number) => check(actual > e, `to be > ${e}`),
    toBeGreaterThanOrEqual: (e: number) => check(actual >= e, `to be >= ${e}`),
  };
}
export function expect(actual: unknown, msg?: string) {
  return { ...matchers(actual, msg, false), not: matchers(actual, msg, true) };
}

/** Runs everything registered so far, in order; `onResult` sees each result as it lands. */
export async function runAll(onResult: (r: TestResult) => void = () => {}): Promise<TestResult[]> {
  const results: TestResult[] = [];
  const visit = async (s: Suite, prefix: string): Promise<void> => {
    const path = s.name ? `${prefix}${s.name} > ` : prefix;
    let hookError: string | undefined;
    for (const h of s.before) {
      try {
        await h();
      } catch (e) {
        hookError = `beforeAll failed: ${(e as Error)?.stack ?? e}`;
      }
    }
    for (const item of s.items) {
      if ('items' in item) {
        await visit(item, path);
        continue;
      }
      const name = path + item.name;
      let r: TestResult;
      const t0 = performance.now();
      if (item.skip || !item.fn) r = { name, status: 'skipped', ms: 0 };
      else if (hookError) r = { name, status: 'failed', ms: 0, error: hookError };
      else {
        try {
          await item.fn();
          r = { name, status: 'passed', ms: performance.now() - t0 };
        } catch (e) {
          r = { name, status: 'failed', ms: performance.now() - t0, error: String((e as Error)?.stack ?? e).slice(0, 2000) };
        }
      }
      results.push(r);
      onResult(r);
    }
    for (const h of s.after) {
      try {
        await h();
      } catch {
        /* reported by tests */
      }
    }
  };
  await visit(root, '');
  return results;
}
