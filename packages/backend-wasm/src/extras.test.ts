import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fc from 'fast-check';
import { ArgumentError, DTypeError, ShapeError, EPS } from '@llmpress/tensor';
import { createWasmBackend, packInt4, unpackInt4, type WasmBackend } from './node.js';

const int4s = (n: number) => fc.array(fc.integer({ min: -8, max: 7 }), { minLength: n, maxLength: n });
function rnd(n: number, seed: number, lo = -1, hi = 1) {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + (hi - lo) * (s / 4294967296);
  }
  return out;
}
function ints(n: number, seed: number, lo: number, hi: number) {
  const out: number[] = [];
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push(lo + (s % (hi - lo + 1)));
  }
  return out;
}
function expectErr(f: () => unknown, cls: { name: string; isInstance(e: unknown): boolean }, ...parts: string[]) {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(cls.isInstance(err), `expected ${cls.name}, got ${String(err)}`).toBe(true);
  for (const p of parts) expect((err as Error).message).toContain(p);
}

describe('packInt4 / unpackInt4', () => {
  it("round-trips, low nibble = even column, two's complement", () => {
    expect(Array.from(packInt4([1, -1, -8, 7], 1, 4))).toEqual([0xf1, 0x78]);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20 }).chain((h) => int4s(2 * h)),
        (v) => {
          expect(Array.from(unpackInt4(packInt4(v, 1, v.length)))).toEqual(v);
        },
      ),
      { numRuns: 50 },
    );
  });
  it('rejects out-of-range values and odd widths', () => {
    expectErr(() => packInt4([8, 0], 1, 2), ArgumentError, 'packInt4', "argument 'values[0]'", 'got 8');
    expectErr(() => packInt4([0, 0, 0], 1, 3), ArgumentError, 'packInt4', "argument 'cols'", 'got 3');
  });
});

for (const threads of [1, 2] as const) {
  describe(`int4 extras (${threads} thread${threads > 1 ? 's' : ''})`, () => {
    let be: WasmBackend;
    beforeAll(async () => {
      be = (await createWasmBackend({ threads, minParallelWork: 0 }))!;
    });
    afterAll(async () => {
      await be.dispose();
    });

    it('int4Gemv (dequantize on the fly) matches an f64 oracle, SIMD and scalar group sizes', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 40 }),
          fc.constantFrom(2, 6, 16, 32, 64),
          fc.integer({ min: 1, max: 6 }),
          fc.constantFrom(0, 0.5),
          fc.integer({ min: 1, max: 1e6 }),
          (m, g, ng, beta, seed) => {
            const n = g * ng;
            const q = ints(m * n, seed, -8, 7),
              w = packInt4(q, m, n);
            const scales = rnd(m * ng, seed + 1, 0.01, 0.2),
              x = rnd(n, seed + 2),
              y = rnd(m, seed + 3),
              y0 = y.slice();
            be.int4Gemv({ m, n, groupSize: g, w, scales, x, y, alpha: 1.5, beta });
            for (let i = 0; i < m; i++) {
              let s = 0,
                bd = 0;
              for (let j = 0; j < n; j++) {
                const v = scales[i * ng + Math.floor(j / g)]! * q[i * n + j]! * x[j]!;
                s += v;
                bd += Math.abs(v);
              }
              const want = 1.5 * s + beta * y0[i]!;
              expect(Math.abs(y[i]! - want)).toBeLessThanOrEqual(4 * (n + 4) * EPS.f32 * (1.5 * bd + Math.abs(beta * y0[i]!)) + 1e-30);
            }
          },
        ),
        { numRuns: 30, seed: 5 },
      );
    });

    it('w4a8Gemv: exact i32 group sums, then scales', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 30 }),
          fc.constantFrom(4, 16, 48),
          fc.integer({ min: 1, max: 5 }),
          fc.integer({ min: 1, max: 1e6 }),
          (m, g, ng, seed) => {
            const n = g * ng;
            const q = ints(m * n, seed, -8, 7),
              w = packInt4(q, m, n);
            const xq = Int8Array.from(ints(n, seed + 5, -128, 127));
            const scales = rnd(m * ng, seed + 1, 0.01, 0.2),
              y = new Float32Array(m);
            be.w4a8Gemv({ m, n, groupSize: g, w, scales, x: xq, xScale: 0.03, y });
            for (let i = 0; i < m; i++) {
              let want = 0,
                bd = 0;
              for (let gi = 0; gi < ng; gi++) {
                let acc = 0;
                for (let j = gi * g; j < (gi + 1) * g; j++) acc += q[i * n + j]! * xq[j]!;
                want += 0.03 * scales[i * ng + gi]! * acc;
                bd += Math.abs(0.03 * scales[i * ng + gi]! * acc);
              }
              expect(Math.abs(y[i]! - want)).toBeLessThanOrEqual(4 * (ng + 4) * EPS.f32 * bd + 1e-30);
            }
          },
        ),
        { numRuns: 30, seed: 6 },
      );
    });

    it('w4a4Gemm and int4Dot: exact integer dots, C = A·Wᵀ with per-group scales', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 12 }),
          fc.integer({ min: 1, max: 12 }),
          fc.constantFrom(2, 16, 32),
          fc.integer({ min: 1, max: 4 }),
          fc.integer({ min: 1, max: 1e6 }),
          (m, n, g, ng, seed) => {
            const k = g * ng;
            const qa = ints(m * k, seed, -8, 7),
              qw = ints(n * k, seed + 1, -8, 7);
            const a = packInt4(qa, m, k),
              w = packInt4(qw, n, k);
            const sa = rnd(m * ng, seed + 2, 0.01, 0.3),
              sw = rnd(n * ng, seed + 3, 0.01, 0.3);
            const ldc = n + 1,
              c = new Float32Array(m * ldc).fill(5);
            be.w4a4Gemm({ m, n, k, groupSize: g, a, aScales: sa, w, wScales: sw, c, ldc });
            for (let i = 0; i < m; i++)
              for (let j = 0; j < n; j++) {
                let want = 0,
                  bd = 0;
                for (let gi = 0; gi < ng; gi++) {
                  let acc = 0;
                  for (let p = gi * g; p < (gi + 1) * g; p++) acc += qa[i * k + p]! * qw[j * k + p]!;
                  const v = sa[i * ng + gi]! * sw[j * ng + gi]! * acc;
                  want += v;
                  bd += Math.abs(v);
                }
                expect(Math.abs(c[i * ldc + j]! - want)).toBeLessThanOrEqual(4 * (ng + 4) * EPS.f32 * bd + 1e-30);
                if (j === n - 1) expect(c[i * ldc + n]).toBe(5); // padding untouched
              }
            const rows = Math.min(m, n);
            const out = new Int32Array(rows);
            be.int4Dot(rows, k, a, w, out);
            for (let i = 0; i < rows; i++) {
              let s = 0;
              for (let p = 0; p < k; p++) s += qa[i * k + p]! * qw[i * k + p]!;
              expect(out[i]).toBe(s);
            }
          },
        ),
        { numRuns: 25, seed: 8 },
      );
    });

    it('resident packed weights (allocateBytes) are used in place', () => {
      const m = 64,
        n = 256,
        g = 64;
      const q = ints(m * n, 3, -8, 7);
      const w = be.allocateBytes!((m * n) / 2);
      w.set(packInt4(q, m, n));
      const scales = rnd(m * (n / g), 4, 0.01, 0.1),
        x = rnd(n, 5);
      const y1 = new Float32Array(m),
        y2 = new Float32Array(m);
      be.int4Gemv({ m, n, groupSize: g, w, scales, x, y: y1 });
      be.int4Gemv({ m, n, groupSize: g, w: w.slice(), scales, x, y: y2 });
      expect(y1).toEqual(y2);
      be.release(w);
    });
  });
}

// The register-blocked W4A4 / W4A8 GEMM: 4 × 8 tiles (edge tiles when m % 4 or n % 8 ≠ 0), groups
// that are multiples of 16 on the SIMD path, others on the scalar path, per-channel (group = k),
// i16 accumulators flushed before overflow (int8 extremes), both builds, 1 and 2 threads.
function gemmOracle(qa: ArrayLike<number>, qw: ArrayLike<number>, sa: Float32Array, sw: Float32Array, m: number, n: number, k: number, g: number) {
  const ng = k / g,
    want = new Float64Array(m * n),
    bound = new Float64Array(m * n),
    ints = new Float64Array(m * n * ng);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++)
      for (let gi = 0; gi < ng; gi++) {
        let acc = 0;
        for (let p = gi * g; p < (gi + 1) * g; p++) acc += qa[i * k + p]! * qw[j * k + p]!;
        const v = sa[i * ng + gi]! * sw[j * ng + gi]! * acc;
        ints[(i * n + j) * ng + gi] = acc;
        want[i * n + j] += v;
        bound[i * n + j] += Math.abs(v);
      }
  return { want, bound, ints };
}
for (const cfg of [
  { relaxedSimd: true, threads: 1 },
  { relaxedSimd: false, threads: 1 },
  { relaxedSimd: true, threads: 2 },
]) {
  describe(`w4a4Gemm / w4a8Gemm tiled kernel (${cfg.relaxedSimd ? 'relaxed' : 'plain'} SIMD, ${cfg.threads} thread${cfg.threads > 1 ? 's' : ''})`, () => {
    let be: WasmBackend;
    beforeAll(async () => {
      be = (await createWasmBackend({ ...cfg, minParallelWork: 0 }))!;
    });
    afterAll(async () => {
      await be.dispose();
    });
    it('uses the build it was asked for', () => {
      expect(be.capabilities.features.includes('relaxed-simd')).toBe(cfg.relaxedSimd);
      expect(be.capabilities.threads).toBe(cfg.threads);
    });

    const shapes = fc.record({
      m: fc.integer({ min: 1, max: 13 }),
      n: fc.integer({ min: 1, max: 21 }),
      g: fc.constantFrom(2, 6, 16, 32, 48, 64, 128),
      ng: fc.integer({ min: 1, max: 3 }),
      perChannel: fc.boolean(),
      bits: fc.constantFrom(4, 8),
      extreme: fc.boolean(),
      seed: fc.integer({ min: 1, max: 1e6 }),
    });
    const run = (
      bits: number,
      m: number,
      n: number,
      k: number,
      g: number,
      qa: number[],
      qw: number[],
      sa: Float32Array,
      sw: Float32Array,
      c: Float32Array,
      ldc: number,
      alpha?: number,
      beta?: number,
    ) => {
      const args = { m, n, k, groupSize: g, aScales: sa, w: packInt4(qw, n, k), wScales: sw, c, ldc, alpha, beta };
      if (bits === 4) be.w4a4Gemm({ ...args, a: packInt4(qa, m, k) });
      else be.w4a8Gemm({ ...args, a: Int8Array.from(qa) });
    };

    it('integer group sums are exact: with unit scales C equals the integer oracle bit for bit', () => {
      fc.assert(
        fc.property(shapes, ({ m, n, g: g0, ng: ng0, perChannel, bits, extreme, seed }) => {
          const k = g0 * ng0,
            g = perChannel ? k : g0,
            ng = k / g;
          const qa = extreme
            ? Array.from({ length: m * k }, (_, i) => ((i + seed) % 7 === 0 ? (bits === 4 ? 7 : 127) : bits === 4 ? -8 : -128))
            : ints(m * k, seed, bits === 4 ? -8 : -128, bits === 4 ? 7 : 127);
          const qw = extreme ? Array.from({ length: n * k }, (_, i) => ((i * 7 + seed) % 5 === 0 ? -8 : 7)) : ints(n * k, seed + 1, -8, 7);
          const sa = new Float32Array(m * ng).fill(1),
            sw = new Float32Array(n * ng).fill(1);
          const ldc = n + 2,
            c = new Float32Array(m * ldc).fill(NaN);
          run(bits, m, n, k, g, qa, qw, sa, sw, c, ldc);
          const { want } = gemmOracle(qa, qw, sa, sw, m, n, k, g);
          for (let i = 0; i < m; i++) {
            for (let j = 0; j < n; j++) expect(c[i * ldc + j]).toBe(want[i * n + j]);
            if (i < m - 1) {
              expect(c[i * ldc + n]).toBeNaN();
              expect(c[i * ldc + n + 1]).toBeNaN();
            } // gaps untouched
          }
        }),
        { numRuns: 60, seed: 41 },
      );
    });

    it('per-group scales, alpha and beta: within the f32 bound of the exact result', () => {
      fc.assert(
        fc.property(shapes, fc.constantFrom(0, 0.5), ({ m, n, g: g0, ng: ng0, perChannel, bits, seed }, beta) => {
          const k = g0 * ng0,
            g = perChannel ? k : g0,
            ng = k / g;
          const qa = ints(m * k, seed, bits === 4 ? -8 : -128, bits === 4 ? 7 : 127),
            qw = ints(n * k, seed + 1, -8, 7);
          const sa = rnd(m * ng, seed + 2, 0.01, 0.3),
            sw = rnd(n * ng, seed + 3, 0.01, 0.3);
          const c = rnd(m * n, seed + 4),
            c0 = c.slice();
          run(bits, m, n, k, g, qa, qw, sa, sw, c, n, 1.5, beta);
          const { want, bound } = gemmOracle(qa, qw, sa, sw, m, n, k, g);
          for (let e = 0; e < m * n; e++) {
            const w = 1.5 * want[e]! + beta * c0[e]!;
            expect(Math.abs(c[e]! - w)).toBeLessThanOrEqual(4 * (ng + 6) * EPS.f32 * (1.5 * bound[e]! + Math.abs(beta * c0[e]!)) + 1e-30);
          }
        }),
        { numRuns: 40, seed: 42 },
      );
    });

    it('large k: several activation row blocks, long groups, int8 extremes (i16 accumulators flushed)', () => {
      const m = 70,
        n = 19,
        k = 4096,
        g = 1024,
        ng = k / g;
      const qa = ints(m * k, 9, -128, 127).map((v, i) => (i % 17 === 0 ? -128 : v)),
        qw = ints(n * k, 10, -8, 7).map((v, i) => (i % 13 === 0 ? 7 : v));
      const sa = new Float32Array(m * ng).fill(1),
        sw = new Float32Array(n * ng).fill(1);
      const c = new Float32Array(m * n);
      run(8, m, n, k, g, qa, qw, sa, sw, c, n);
      const { want } = gemmOracle(qa, qw, sa, sw, m, n, k, g);
      expect(Array.from(c)).toEqual(Array.from(want));
      const q4 = qa.map((v) => v >> 4),
        c4 = new Float32Array(m * n);
      run(4, m, n, k, g, q4, qw, sa, sw, c4, n);
      expect(Array.from(c4)).toEqual(Array.from(gemmOracle(q4, qw, sa, sw, m, n, k, g).want));
    });

    it('W4A8 with int4-range codes equals W4A4; beta = 0 overwrites NaN in C; NaN scales propagate', () => {
      const m = 5,
        n = 11,
        k = 64,
        g = 32,
        ng = 2;
      const qa = ints(m * k, 3, -8, 7),
        qw = ints(n * k, 4, -8, 7);
      const sa = rnd(m * ng, 5, 0.1, 1),
        sw = rnd(n * ng, 6, 0.1, 1);
      const c4 = new Float32Array(m * n).fill(NaN),
        c8 = new Float32Array(m * n);
      run(4, m, n, k, g, qa, qw, sa, sw, c4, n);
      run(8, m, n, k, g, qa, qw, sa, sw, c8, n);
      expect(c4).toEqual(c8);
      expect(c4.every(Number.isFinite)).toBe(true);
      sw[3 * ng + 1] = NaN;
      run(4, m, n, k, g, qa, qw, sa, sw, c4, n);
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) expect(Number.isNaN(c4[i * n + j]!)).toBe(j === 3);
    });
  });
}

describe('int4 extras: bad input', () => {
  let be: WasmBackend;
  beforeAll(async () => {
    be = (await createWasmBackend())!;
  });
  afterAll(async () => {
    await be.dispose();
  });
  it('typed errors name function, argument and value', () => {
    const ok = { m: 2, n: 8, groupSize: 4, w: new Uint8Array(8), scales: new Float32Array(4), x: new Float32Array(8), y: new Float32Array(2) };
    expectErr(() => be.int4Gemv({ ...ok, groupSize: 3 }), ArgumentError, 'int4Gemv', "argument 'groupSize'", 'got 3');
    expectErr(() => be.int4Gemv({ ...ok, scales: new Float32Array(3) }), ShapeError, 'int4Gemv', "argument 'scales'", 'needs 4');
    expectErr(() => be.int4Gemv({ ...ok, groupSize: 6, scales: new Float32Array(3) }), ShapeError, 'int4Gemv', "argument 'scales'", 'needs 4'); // ragged: ⌈8/6⌉ = 2 groups a row
    expectErr(() => be.int4Gemv({ ...ok, w: new Uint8Array(7) }), ShapeError, 'int4Gemv', "argument 'w'", 'needs 8');
    expectErr(() => be.int4Gemv({ ...ok, x: new Float64Array(8) as any }), DTypeError, 'int4Gemv', "argument 'x'", 'Float64Array');
    expectErr(() => be.w4a8Gemv({ ...ok, x: new Int8Array(8), xScale: undefined as any }), ArgumentError, 'w4a8Gemv', "argument 'xScale'");
    expectErr(
      () =>
        be.w4a4Gemm({
          m: 1,
          n: 1,
          k: 8,
          groupSize: 8,
          a: new Uint8Array(4),
          aScales: new Float32Array(1),
          w: new Uint8Array(4),
          wScales: new Float32Array(1),
          c: new Float32Array(1),
          ldc: 0,
        }),
      ArgumentError,
      'w4a4Gemm',
      "argument 'ldc'",
    );
    const g8 = {
      m: 1,
      n: 1,
      k: 8,
      groupSize: 8,
      a: new Int8Array(8),
      aScales: new Float32Array(1),
      w: new Uint8Array(4),
      wScales: new Float32Array(1),
      c: new Float32Array(1),
    };
    expectErr(() => be.w4a8Gemm({ ...g8, a: new Uint8Array(8) as any }), DTypeError, 'w4a8Gemm', "argument 'a'", 'Uint8Array');
    expectErr(() => be.w4a8Gemm({ ...g8, a: new Int8Array(7) }), ShapeError, 'w4a8Gemm', "argument 'a'", 'needs 8');
    expectErr(() => be.w4a8Gemm({ ...g8, groupSize: 3 }), ArgumentError, 'w4a8Gemm', "argument 'groupSize'", 'got 3');
    expectErr(() => be.w4a4Gemm({ ...g8, a: new Uint8Array(4), wScales: new Float32Array(0) }), ShapeError, 'w4a4Gemm', "argument 'wScales'");
    expectErr(() => be.int4Dot(1, 3, new Uint8Array(2), new Uint8Array(2), new Int32Array(1)), ArgumentError, 'int4Dot', "argument 'k'", 'got 3');
  });
});
