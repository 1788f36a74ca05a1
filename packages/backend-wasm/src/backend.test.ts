import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { ArgumentError, DTypeError, ShapeError, UnsupportedError, referenceBackend, matmul, randn, maxAbsDiff, EPS } from '@llmpress/tensor';
import { createWasmBackend, wasmFeatures, type WasmBackend } from './node.js';
import { createWasmBackend as createWebBackend, createWasmBackendWith } from './index.js';

/**
 * Runs a child Node process WITHOUT blocking this vitest worker (spawnSync would stall the worker's RPC
 * on a loaded machine: 'Timeout calling "onTaskUpdate"', issue 21 item 9). On `timeoutMs` the child gets
 * SIGTERM, as spawnSync's `timeout` did, so a timeout never looks like a SIGKILL the child sent itself.
 */
function runNode(args: string[], timeoutMs: number): Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    p.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => p.kill('SIGTERM'), timeoutMs);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

function fill(arr: Float32Array | Float64Array, seed: number) {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < arr.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    arr[i] = (s / 4294967296) * 2 - 1;
  }
  return arr;
}
function expectErr(f: () => unknown, cls: { name: string; isInstance(e: unknown): boolean }, ...parts: string[]) {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a throw').toBeDefined();
  expect(cls.isInstance(err), `expected ${cls.name}, got ${String(err)}`).toBe(true);
  for (const p of parts) expect((err as Error).message).toContain(p);
}

describe('createWasmBackend', () => {
  it('detects features; Node 20 gets relaxed SIMD through the V8 flag', async () => {
    const f = wasmFeatures();
    expect(f.simd).toBe(true);
    expect(f.sharedMemory).toBe(true);
    // Node 20 has relaxed SIMD behind a V8 flag that the Node entry sets; later Node has it on by default
    if (Number(process.versions.node.split('.')[0]) >= 20) expect(f.relaxedSimd).toBe(true);
    const b = (await createWasmBackend())!;
    expect(b.capabilities.threads).toBe(1);
    expect(b.capabilities.features).toContain('simd');
    expect(b.capabilities.features.includes('relaxed-simd')).toBe(f.relaxedSimd);
    expect(b.capabilities.dtypes).toEqual(['f32', 'f64']);
    await b.dispose();
    const p = (await createWasmBackend({ relaxedSimd: false }))!;
    expect(p.capabilities.features).not.toContain('relaxed-simd');
    await p.dispose();
  });

  it('starts worker threads when asked and declares them; small problems stay on one thread', async () => {
    const b = (await createWasmBackend({ threads: 2 }))!;
    expect(b.capabilities.threads).toBe(2);
    expect(b.capabilities.features).toContain('threads');
    const gemm = (m: number, n: number, k: number) => {
      const a = fill(new Float32Array(m * k), 1),
        bb = fill(new Float32Array(k * n), 2),
        c = new Float32Array(m * n);
      b.gemm({ transA: false, transB: false, m, n, k, alpha: 1, a, aOffset: 0, lda: k, b: bb, bOffset: 0, ldb: n, beta: 0, c, cOffset: 0, ldc: n });
    };
    gemm(32, 32, 32);
    expect(b.stats()).toEqual({ singleThreadCalls: 1, parallelCalls: 0 });
    gemm(192, 128, 128); // 3.1M multiply-adds ≥ the 2^21 default threshold, split by rows
    expect(b.stats().parallelCalls).toBeGreaterThan(0);
    gemm(16, 300, 600); // n > m: split by columns
    expect(b.stats().parallelCalls).toBeGreaterThan(1);
    await b.dispose();
  });

  it('workers start when the host process is an ES-module eval (--input-type=module)', async () => {
    const src = fileURLToPath(new URL('./node.ts', import.meta.url));
    const code = `const { createWasmBackend } = await import(${JSON.stringify(pathToFileURL(src).href)});
      const b = await createWasmBackend({ threads: 2, minParallelWork: 0 });
      const n = 40, a = new Float32Array(n * n).fill(1), c = new Float32Array(n * n);
      b.gemm({ transA: false, transB: false, m: n, n, k: n, alpha: 1, a, aOffset: 0, lda: n, b: a, bOffset: 0, ldb: n, beta: 0, c, cOffset: 0, ldc: n });
      console.log(JSON.stringify([b.capabilities.threads, c[0], c[n * n - 1]]));
      await b.dispose();`;
    const r = await runNode(['--import', 'tsx', '--input-type=module', '-e', code], 60_000);
    expect(r.stderr).not.toMatch(/Error/);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual([2, 40, 40]);
  });

  it('the browser entry stays single-threaded without Web Workers (Node has none)', async () => {
    const b = (await createWebBackend({ threads: 2 }))!;
    expect(b).not.toBeNull();
    expect(b.capabilities.threads).toBe(1);
    const a = fill(new Float32Array(12), 1),
      x = fill(new Float32Array(4), 2),
      y = new Float32Array(3);
    b.gemv({ trans: false, m: 3, n: 4, alpha: 1, a, aOffset: 0, lda: 4, x, xOffset: 0, beta: 0, y, yOffset: 0 });
    const want = new Float32Array(3);
    referenceBackend.gemv!({ trans: false, m: 3, n: 4, alpha: 1, a, aOffset: 0, lda: 4, x, xOffset: 0, beta: 0, y: want, yOffset: 0 });
    for (let i = 0; i < 3; i++) expect(Math.abs(y[i]! - want[i]!)).toBeLessThanOrEqual(16 * EPS.f32);
    await b.dispose();
  });

  it('falls back to one thread, with a note, when workers fail to start', async () => {
    const { nodePlatform } = await import('./node.js');
    let terminated = 0;
    const broken = {
      ...nodePlatform,
      spawnWorker: () => ({
        postMessage() {},
        firstMessage: () => Promise.reject(new Error('boom')),
        terminate() {
          terminated++;
        },
      }),
    };
    const b = (await createWasmBackendWith(broken, { threads: 3 }))!;
    expect(b.capabilities.threads).toBe(1);
    expect(b.capabilities.features).not.toContain('threads');
    expect(b.threadsNote).toContain('boom');
    expect(terminated).toBe(1);
    const a = fill(new Float32Array(200 * 200), 1),
      c = new Float32Array(200 * 200);
    b.gemm({
      transA: false,
      transB: false,
      m: 200,
      n: 200,
      k: 200,
      alpha: 1,
      a,
      aOffset: 0,
      lda: 200,
      b: a,
      bOffset: 0,
      ldb: 200,
      beta: 0,
      c,
      cOffset: 0,
      ldc: 200,
    });
    expect(b.stats()).toEqual({ singleThreadCalls: 1, parallelCalls: 0 });
    await b.dispose();
    const web = (await createWebBackend({ threads: 2 }))!;
    expect(web.threadsNote).toBeDefined();
    await web.dispose();
  });

  it('rejects bad options with typed errors', async () => {
    await expect(createWasmBackend({ threads: 0 })).rejects.toSatisfy(
      (e: unknown) => ArgumentError.isInstance(e) && String((e as Error).message).includes('options.threads') && String((e as Error).message).includes('got 0'),
    );
    await expect(createWasmBackend({ threads: 'many' as any })).rejects.toSatisfy((e: unknown) => ArgumentError.isInstance(e));
    await expect(createWasmBackend({ relaxedSimd: 'yes' as any })).rejects.toSatisfy((e: unknown) => ArgumentError.isInstance(e));
  });
});

describe('wasm backend: resident arrays and bad input', () => {
  let be: WasmBackend;
  beforeAll(async () => {
    be = (await createWasmBackend())!;
  });
  afterAll(async () => {
    await be.dispose();
  });

  it('allocate returns zeroed arrays inside the linear memory; routines use them in place', () => {
    const a = be.allocate!('f32', 6 * 5),
      b = be.allocate!('f32', 5 * 4),
      c = be.allocate!('f32', 6 * 4);
    expect(be.isResident(a) && be.isResident(b) && be.isResident(c)).toBe(true);
    expect(a.buffer).toBe(be.memory.buffer);
    expect(Array.from(c).every((v) => v === 0)).toBe(true);
    fill(a, 3);
    fill(b, 4);
    const want = new Float32Array(24);
    referenceBackend.gemm!({
      transA: false,
      transB: false,
      m: 6,
      n: 4,
      k: 5,
      alpha: 1,
      a,
      aOffset: 0,
      lda: 5,
      b,
      bOffset: 0,
      ldb: 4,
      beta: 0,
      c: want,
      cOffset: 0,
      ldc: 4,
    });
    be.gemm({ transA: false, transB: false, m: 6, n: 4, k: 5, alpha: 1, a, aOffset: 0, lda: 5, b, bOffset: 0, ldb: 4, beta: 0, c, cOffset: 0, ldc: 4 });
    for (let i = 0; i < 24; i++) expect(Math.abs(c[i]! - want[i]!)).toBeLessThanOrEqual(32 * EPS.f32);
    be.release(a);
    be.release(b);
    be.release(c);
  });

  it('resident arrays survive memory growth, and freed space is reused', () => {
    const keep = be.allocate!('f64', 1000);
    fill(keep, 9);
    const snapshot = keep.slice();
    const before = be.memory.buffer.byteLength;
    const big = be.allocate!('f32', (40 * 1024 * 1024) / 4); // forces memory.grow
    expect(be.memory.buffer.byteLength).toBeGreaterThan(before);
    expect(keep.length).toBe(1000); // not detached
    expect(Array.from(keep)).toEqual(Array.from(snapshot));
    expect(be.isResident(keep)).toBe(true);
    // a gemv on the old-buffer array still works in place after growth
    const y = be.allocate!('f64', 10);
    be.gemv({ trans: false, m: 10, n: 100, alpha: 1, a: keep, aOffset: 0, lda: 100, x: keep, xOffset: 0, beta: 0, y, yOffset: 0 });
    let s0 = 0;
    for (let j = 0; j < 100; j++) s0 += snapshot[j]! * snapshot[j]!;
    expect(Math.abs(y[0]! - s0)).toBeLessThanOrEqual(100 * EPS.f64 * s0 + 1e-300);
    be.release(big);
    const again = be.allocate!('f32', 1024);
    expect(again.byteOffset).toBeLessThan(big.byteOffset + big.byteLength);
    be.release(again);
    be.release(keep);
    be.release(y);
  });

  it('release rejects foreign, double-released and interior arrays', () => {
    expectErr(() => be.release(new Float32Array(4)), ArgumentError, 'release', "argument 'array'", 'Float32Array(length 4)');
    const a = be.allocate!('f32', 16);
    expectErr(() => be.release(a.subarray(4)), ArgumentError, 'release');
    be.release(a);
    expectErr(() => be.release(a), ArgumentError, 'release', 'not yet released');
  });

  it('allocate rejects bad dtype and length', () => {
    expectErr(() => be.allocate!('i8' as any, 4), ArgumentError, 'allocate', "argument 'dtype'", '"i8"');
    expectErr(() => be.allocate!('f32', -1), ArgumentError, 'allocate', "argument 'n'", '-1');
    expectErr(() => be.allocate!('f32', 1.5), ArgumentError, 'allocate', "argument 'n'", '1.5');
  });

  const base = () => ({
    transA: false,
    transB: false,
    m: 2,
    n: 3,
    k: 4,
    alpha: 1,
    a: new Float32Array(8),
    aOffset: 0,
    lda: 4,
    b: new Float32Array(12),
    bOffset: 0,
    ldb: 3,
    beta: 0,
    c: new Float32Array(6),
    cOffset: 0,
    ldc: 3,
  });
  it('gemm: typed errors name the argument and value', () => {
    expectErr(() => be.gemm({ ...base(), m: -1 }), ArgumentError, 'gemm', "argument 'm'", 'got -1');
    expectErr(() => be.gemm({ ...base(), k: NaN }), ArgumentError, 'gemm', "argument 'k'", 'NaN');
    expectErr(() => be.gemm({ ...base(), lda: 3 }), ArgumentError, 'gemm', "argument 'lda'", 'got 3');
    expectErr(() => be.gemm({ ...base(), a: new Float32Array(7) }), ShapeError, 'gemm', "argument 'a'", 'needs 8', 'length 7');
    expectErr(() => be.gemm({ ...base(), cOffset: 1 }), ShapeError, 'gemm', "argument 'c'", 'offset 1');
    expectErr(() => be.gemm({ ...base(), b: new Float64Array(12) as any }), DTypeError, 'gemm', 'Float64Array');
    expectErr(() => be.gemm({ ...base(), a: [1, 2] as any }), DTypeError, 'gemm', "argument 'a'");
    expectErr(() => be.gemm({ ...base(), alpha: '1' as any }), ArgumentError, 'gemm', "argument 'alpha'");
    // nothing was written
    const args = base();
    args.c.fill(7);
    try {
      be.gemm({ ...args, b: new Float32Array(11) });
    } catch {
      /* expected */
    }
    expect(Array.from(args.c)).toEqual([7, 7, 7, 7, 7, 7]);
  });

  it('gemv, binary, unary, reduce: typed errors', () => {
    const g = {
      trans: false,
      m: 3,
      n: 4,
      alpha: 1,
      a: new Float32Array(12),
      aOffset: 0,
      lda: 4,
      x: new Float32Array(4),
      xOffset: 0,
      beta: 0,
      y: new Float32Array(3),
      yOffset: 0,
    };
    expectErr(() => be.gemv({ ...g, x: new Float32Array(3) }), ShapeError, 'gemv', "argument 'x'", 'length 3');
    expectErr(() => be.gemv({ ...g, trans: true }), ShapeError, 'gemv', "argument 'y'");
    expectErr(() => be.gemv({ ...g, y: new Float64Array(3) as any }), DTypeError, 'gemv');
    expectErr(() => be.binary('pow' as any, new Float32Array(2), 1, new Float32Array(2), 2), ArgumentError, 'binary', "argument 'op'", '"pow"');
    expectErr(() => be.binary('add', new Float32Array(2), new Float64Array(2), new Float32Array(2), 2), DTypeError, 'binary');
    expectErr(() => be.binary('add', new Float32Array(2), 1, new Float32Array(1), 2), ShapeError, 'binary', "argument 'out'");
    expectErr(() => be.unary('cbrt' as any, new Float32Array(2), new Float32Array(2), 2), ArgumentError, 'unary', "argument 'op'");
    expectErr(() => be.reduce('mean' as any, new Float32Array(2), 0, 2), ArgumentError, 'reduce', "argument 'op'");
    expectErr(() => be.reduce('sum', new Float32Array(4), 2, 3), ShapeError, 'reduce', "argument 'a'", 'needs 5');
    expectErr(() => be.reduce('sum', new Float32Array(4), -1, 3), ArgumentError, 'reduce', "argument 'offset'");
  });

  it('beta = 0 never reads C (NaN in C is overwritten), beta ≠ 0 propagates it', () => {
    const a = fill(new Float32Array(40 * 30), 1),
      b = fill(new Float32Array(30 * 20), 2);
    const c = new Float32Array(40 * 20).fill(NaN);
    be.gemm({ transA: false, transB: false, m: 40, n: 20, k: 30, alpha: 1, a, aOffset: 0, lda: 30, b, bOffset: 0, ldb: 20, beta: 0, c, cOffset: 0, ldc: 20 });
    expect(c.every((v) => Number.isFinite(v))).toBe(true);
    c[5] = NaN;
    be.gemm({ transA: false, transB: false, m: 40, n: 20, k: 30, alpha: 1, a, aOffset: 0, lda: 30, b, bOffset: 0, ldb: 20, beta: 1, c, cOffset: 0, ldc: 20 });
    expect(Number.isNaN(c[5])).toBe(true);
    expect(Number.isNaN(c[6])).toBe(false);
  });

  it('max/min propagate NaN from either side and reduce max/min/absmax see NaN', () => {
    const a = new Float32Array([1, NaN, 3, 4, 5]),
      b = new Float32Array([2, 2, NaN, 1, 9]);
    const out = new Float32Array(5),
      want = new Float32Array(5);
    for (const op of ['max', 'min'] as const) {
      be.binary(op, a, b, out, 5);
      referenceBackend.binary!(op, a, b, want, 5);
      expect(Array.from(out)).toEqual(Array.from(want));
    }
    for (const op of ['max', 'min', 'absmax'] as const) expect(Number.isNaN(be.reduce(op, a, 0, 5))).toBe(true);
    expect(be.reduce('max', a, 2, 3)).toBe(5);
  });

  it('k = 0 and alpha = 0 scale C by beta', () => {
    const c = new Float64Array([1, 2, 3, 4]);
    be.gemm({
      transA: false,
      transB: false,
      m: 2,
      n: 2,
      k: 0,
      alpha: 1,
      a: new Float64Array(0),
      aOffset: 0,
      lda: 1,
      b: new Float64Array(0),
      bOffset: 0,
      ldb: 2,
      beta: 0.5,
      c,
      cOffset: 0,
      ldc: 2,
    });
    expect(Array.from(c)).toEqual([0.5, 1, 1.5, 2]);
    be.gemm({
      transA: false,
      transB: false,
      m: 2,
      n: 2,
      k: 2,
      alpha: 0,
      a: new Float64Array([NaN, 1, 1, 1]),
      aOffset: 0,
      lda: 2,
      b: new Float64Array(4),
      bOffset: 0,
      ldb: 2,
      beta: 0,
      c,
      cOffset: 0,
      ldc: 2,
    });
    expect(Array.from(c)).toEqual([0, 0, 0, 0]);
  });

  it('a disposed backend refuses work with a typed error', async () => {
    const b = (await createWasmBackend())!;
    await b.dispose();
    expectErr(() => b.gemm(base()), UnsupportedError, 'gemm', 'disposed');
  });
});

describe('wasm backend: vector-shaped GEMMs (m = 1, n = 1) take the GEMV kernels', () => {
  for (const threads of [1, 2]) {
    it(`all transposes, padding, offsets and beta match the reference (${threads} thread${threads > 1 ? 's' : ''})`, async () => {
      const be = (await createWasmBackend({ threads, minParallelWork: 0 }))!;
      try {
        for (const [m, n, k] of [
          [1, 37, 53],
          [1, 300, 2],
          [41, 1, 29],
          [1, 1, 17],
          [1, 64, 1],
          [64, 1, 1],
        ]) {
          for (const tA of [false, true])
            for (const tB of [false, true])
              for (const pad of [0, 3])
                for (const beta of [0, 0.5]) {
                  const ar = tA ? k : m,
                    ac = tA ? m : k,
                    br = tB ? n : k,
                    bc = tB ? k : n;
                  const lda = ac + pad,
                    ldb = bc + pad,
                    ldc = n + pad,
                    off = 2;
                  const a = fill(new Float32Array(off + ar * lda), m + 1),
                    b = fill(new Float32Array(off + br * ldb), n + 2);
                  const c = fill(new Float32Array(off + m * ldc), 7),
                    want = c.slice();
                  const args = { transA: tA, transB: tB, m, n, k, alpha: -0.5, a, aOffset: off, lda, b, bOffset: off, ldb, beta, cOffset: off, ldc };
                  be.gemm({ ...args, c });
                  referenceBackend.gemm!({ ...args, c: want });
                  for (let i = 0; i < c.length; i++)
                    expect(Math.abs(c[i]! - want[i]!), `m=${m} n=${n} k=${k} tA=${tA} tB=${tB} pad=${pad} i=${i}`).toBeLessThanOrEqual(
                      4 * (k + 2) * EPS.f32 * (k + 1),
                    );
                }
        }
      } finally {
        await be.dispose();
      }
    });
  }
});

describe('wasm backend: 2 threads agree with 1 thread on shapes that split', () => {
  let one: WasmBackend, two: WasmBackend;
  beforeAll(async () => {
    one = (await createWasmBackend())!;
    two = (await createWasmBackend({ threads: 2, minParallelWork: 0 }))!;
  });
  afterAll(async () => {
    await one.dispose();
    await two.dispose();
  });
  it('gemm (rows and columns split) and gemv (both orientations)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 80 }),
        fc.boolean(),
        fc.boolean(),
        (m, n, k, tA, tB) => {
          const a = fill(new Float32Array(m * k), m),
            b = fill(new Float32Array(k * n), n);
          const c1 = new Float32Array(m * n),
            c2 = new Float32Array(m * n);
          const args = { transA: tA, transB: tB, m, n, k, alpha: 1.5, a, aOffset: 0, lda: tA ? m : k, b, bOffset: 0, ldb: tB ? k : n, beta: 0 };
          one.gemm({ ...args, c: c1, cOffset: 0, ldc: n });
          two.gemm({ ...args, c: c2, cOffset: 0, ldc: n });
          // same kernel, same blocking per entry: identical bits
          expect(c2).toEqual(c1);
          const A = fill(new Float64Array(m * n), 5),
            x = fill(new Float64Array(Math.max(m, n)), 6);
          for (const trans of [false, true]) {
            const ly = trans ? n : m;
            const y1 = new Float64Array(ly).fill(1),
              y2 = new Float64Array(ly).fill(1);
            one.gemv({ trans, m, n, alpha: 1, a: A, aOffset: 0, lda: n, x, xOffset: 0, beta: 0.5, y: y1, yOffset: 0 });
            two.gemv({ trans, m, n, alpha: 1, a: A, aOffset: 0, lda: n, x, xOffset: 0, beta: 0.5, y: y2, yOffset: 0 });
            expect(y2).toEqual(y1);
          }
        },
      ),
      { numRuns: 30, seed: 11 },
    );
  });

  it('matmul through the tensor API with a large enough problem to split', () => {
    const A = randn([300, 200], { seed: 1 }),
      B = randn([200, 250], { seed: 2 });
    const d = maxAbsDiff(matmul(A, B, { backend: two }), matmul(A, B, { backend: referenceBackend }));
    expect(d).toBeLessThanOrEqual(4 * 202 * EPS.f32 * 200 * 5);
  });
});
