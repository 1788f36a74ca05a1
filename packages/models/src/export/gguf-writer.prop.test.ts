import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { f16ToF32 } from '@llmpress/tensor';
import { parseGguf, dequantize } from '../gguf.js';
import { GgufWriter, memorySink, streamGguf } from './gguf-writer.js';
import { GGML, encodeValues, quantizeQ4_0, quantizeQ8_0 } from './ggml.js';

describe('GGUF writer', () => {
  it('every metadata value type and array reads back through our reader; offsets aligned; size = layout', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 }),
        fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 70 }),
        fc.string(),
        (al, vals, str) => {
          const w = new GgufWriter({ alignment: [32, 64, 16, 128][al]! });
          w.setKV('a.u8', 'u8', 200)
            .setKV('a.i8', 'i8', -5)
            .setKV('a.u16', 'u16', 65535)
            .setKV('a.i16', 'i16', -300)
            .setKV('a.u32', 'u32', 4e9)
            .setKV('a.i32', 'i32', -2e9)
            .setKV('a.f32', 'f32', 1.5)
            .setKV('a.f64', 'f64', Math.PI)
            .setKV('a.bool', 'bool', true)
            .setKV('a.str', 'string', str)
            .setKV('a.u64', 'u64', 2 ** 40)
            .setKV('a.i64', 'i64', -(2 ** 40))
            .setKV('a.arr.f32', 'array', Float32Array.from(vals), 'f32')
            .setKV('a.arr.str', 'array', [str, 'x', '▁y'], 'string')
            .setKV('a.arr.i32', 'array', Int32Array.of(1, -2, 3), 'i32');
          const x = Float32Array.from({ length: 64 }, (_, i) => vals[i % vals.length]!);
          w.addTensor('t.f32', [vals.length], GGML.F32).addTensor('t.q8', [2, 32], GGML.Q8_0).addTensor('t.f16', [1, 3], GGML.F16);
          const layout = w.layout();
          const sink = memorySink();
          const n = streamGguf(layout, sink, (t) =>
            t.name === 't.f32'
              ? encodeValues(Float32Array.from(vals), GGML.F32)
              : t.name === 't.q8'
                ? quantizeQ8_0(x)
                : encodeValues(Float32Array.of(1, 2, 3), GGML.F16),
          );
          const bytes = sink.bytes();
          expect(n).toBe(layout.totalBytes);
          expect(bytes.length).toBe(layout.totalBytes);
          const g = parseGguf(bytes);
          expect(g.header.version).toBe(3);
          expect(g.header.alignment).toBe([32, 64, 16, 128][al]);
          expect([
            g.get('a.u8'),
            g.get('a.i8'),
            g.get('a.u16'),
            g.get('a.i16'),
            g.get('a.u32'),
            g.get('a.i32'),
            g.get('a.f32'),
            g.get('a.f64'),
            g.get('a.bool'),
            g.get('a.str'),
            g.get('a.u64'),
            g.get('a.i64'),
          ]).toEqual([200, -5, 65535, -300, 4e9, -2e9, 1.5, Math.PI, true, str, 2 ** 40, -(2 ** 40)]);
          expect(Array.from(g.get('a.arr.f32') as Float32Array)).toEqual(Array.from(Float32Array.from(vals)));
          expect(g.get('a.arr.str')).toEqual([str, 'x', '▁y']);
          for (const t of g.header.tensors) expect((g.header.dataStart + t.offset) % g.header.alignment).toBe(0);
          expect(Array.from(g.tensor('t.f32').data)).toEqual(Array.from(Float32Array.from(vals)));
          expect(g.info('t.q8').shape).toEqual([2, 32]);
          expect(Array.from(g.tensor('t.f16').data)).toEqual([1, 2, 3]);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('refuses a producer of the wrong length, block types on rows not a multiple of 32, duplicate names', () => {
    const w = new GgufWriter().addTensor('a', [4], GGML.F32);
    expect(() => streamGguf(w.layout(), memorySink(), () => new Uint8Array(15))).toThrow(/must be 16 bytes/);
    expect(() => new GgufWriter().addTensor('b', [2, 48], GGML.Q4_0)).toThrow(/multiple of 32/);
    expect(() => w.addTensor('a', [4], GGML.F32)).toThrow(/already declared/);
  });

  it('ggml reference quantizers: every value within the documented step bound of its block scale (read back through our reader)', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ min: -100, max: 100, noNaN: true }), { minLength: 64, maxLength: 64 }), (vals) => {
        const x = Float32Array.from(vals);
        for (const [type, q, bb] of [
          [GGML.Q8_0, quantizeQ8_0(x), 34],
          [GGML.Q4_0, quantizeQ4_0(x), 18],
        ] as const) {
          const y = dequantize(q, type, 64);
          for (let b = 0; b < 2; b++) {
            const d = Math.abs(f16ToF32(new DataView(q.buffer).getUint16(b * bb, true)));
            // Q8_0: half a step (plus the f16 rounding of d over ±127 steps). Q4_0's grid −8..7 puts the largest-|x| value
            // at −8·d, so values of the other sign up to 8·d clamp to 7·d: a full step there. The f16 rounding of d is
            // relative (2^-11) in the normal range and absolute (half the subnormal spacing, 2^-25) below it.
            const dRound = Math.max(d * 2 ** -11, 2 ** -25);
            const tol = (type === GGML.Q8_0 ? 0.5 * d + 127 * dRound : d + 8 * dRound) + 1e-6;
            for (let j = 0; j < 32; j++) expect(Math.abs(y[b * 32 + j]! - x[b * 32 + j]!)).toBeLessThanOrEqual(tol);
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  it('ggml reference quantizers: a block whose scale is an f16 subnormal stays within the bound', () => {
    const x = new Float32Array(64);
    x[32] = -0.0000314286480715964; // fast-check counterexample (seed 1283210701): d = |x|/127 is below f16's normal range
    for (const [type, q, bb] of [
      [GGML.Q8_0, quantizeQ8_0(x), 34],
      [GGML.Q4_0, quantizeQ4_0(x), 18],
    ] as const) {
      const y = dequantize(q, type, 64);
      const d = Math.abs(f16ToF32(new DataView(q.buffer).getUint16(bb, true)));
      const tol = (type === GGML.Q8_0 ? 0.5 * d : d) + 127 * 2 ** -25 + 1e-6;
      expect(Math.abs(y[32]! - x[32]!)).toBeLessThanOrEqual(tol);
    }
  });
});
