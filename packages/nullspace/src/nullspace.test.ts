import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Tensor, matmul, maxAbsDiff, tolerance, ArgumentError, ShapeError, NonFiniteError } from '@llmpress/tensor';
import { activationNullSpace, NullProjector } from './nullspace.js';
import { lowRankInputs, gramOf, fro2 } from './testutil.js';

describe('activationNullSpace', () => {
  it('projector is idempotent and symmetric; the null space is orthogonal to the activation range (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 4, max: 28 }), fc.integer({ min: 1, max: 1e6 }), fc.double({ min: 0.1, max: 0.8, noNaN: true }), (n, seed, frac) => {
        const r = Math.max(1, Math.floor(frac * n));
        const X = lowRankInputs(n, r, 3 * n, seed);
        const ns = activationNullSpace(gramOf(X), { t: 0.1 });
        const P = ns.projector.materialize();
        const tol = tolerance('f64', n, 1000);
        expect(maxAbsDiff(matmul(P, P), P)).toBeLessThan(tol);
        expect(maxAbsDiff(P, P.T.contiguous())).toBeLessThan(tol);
        // exactly rank-r inputs: the ratio rule keeps at most r directions (it may keep fewer: t tolerates 10% suffix energy)
        expect(ns.diagnostics.dimension).toBeGreaterThanOrEqual(n - r);
        // X U₀ carries only the null energy, which the rule bounds by t/(1+t) of the total
        const xu = ns.basis ? fro2(matmul(X, ns.basis)) : 0;
        expect(xu / fro2(X)).toBeLessThanOrEqual(0.1 / 1.1 + 1e-9);
        expect(Math.abs(xu / fro2(X) - ns.diagnostics.nullEnergy)).toBeLessThan(1e-8);
        if (ns.diagnostics.dimension === n - r) expect(xu / fro2(X)).toBeLessThan(1e-12 * n);
      }),
      { numRuns: 25 },
    );
  });

  it('ratio rule picks the FIRST r with suffix/prefix ≤ t', () => {
    // eigenvalues 10, 5, 1, 0.5, 0.1 on the axes
    const lam = [10, 5, 1, 0.5, 0.1];
    const g = new Tensor('f64', new Float64Array(25), [5, 5]);
    lam.forEach((l, i) => g.set(l, i, i));
    // r=1: 6.6/10 ; r=2: 1.6/15 = 0.107 ; r=3: 0.6/16 = 0.0375
    expect(activationNullSpace(g, { t: 0.1 }).diagnostics.dimension).toBe(2);
    expect(activationNullSpace(g, { t: 0.11 }).diagnostics.dimension).toBe(3);
    expect(activationNullSpace(g, { t: 0.7 }).diagnostics.dimension).toBe(4);
    const ns = activationNullSpace(g, { t: 0.1 });
    expect(ns.diagnostics.suffixPrefixRatio).toBeCloseTo(0.6 / 16, 12);
    // the basis is the last two axes
    const P = ns.projector.materialize();
    expect(P.get(3, 3)).toBeCloseTo(1, 12);
    expect(P.get(4, 4)).toBeCloseTo(1, 12);
    expect(P.get(0, 0)).toBeCloseTo(0, 12);
    // no qualifying r < n: P = I (Q2N becomes a no-op)
    const flat = activationNullSpace(
      new Tensor(
        'f64',
        Float64Array.from({ length: 9 }, (_, i) => (i % 4 === 0 ? 1 : 0)),
        [3, 3],
      ),
      { t: 0.1 },
    );
    expect(flat.diagnostics.identity).toBe(true);
    expect(
      maxAbsDiff(
        flat.projector.materialize(),
        new Tensor(
          'f64',
          Float64Array.from({ length: 9 }, (_, i) => (i % 4 === 0 ? 1 : 0)),
          [3, 3],
        ),
      ),
    ).toBe(0);
  });

  it('energy and explicit-dimension rules', () => {
    const lam = [10, 5, 1, 0.5, 0.1];
    const g = new Tensor('f64', new Float64Array(25), [5, 5]);
    lam.forEach((l, i) => g.set(l, i, i));
    expect(activationNullSpace(g, { energy: 0.9 }).diagnostics.dimension).toBe(3); // 15/16.6 ≥ 0.9
    expect(activationNullSpace(g, { energy: 0.99 }).diagnostics.dimension).toBe(1);
    expect(activationNullSpace(g, { dimension: 0 }).diagnostics.dimension).toBe(0);
    expect(
      activationNullSpace(g, { dimension: 0 })
        .projector.apply(new Tensor('f64', new Float64Array(10).fill(1), [2, 5]))
        .data.every((v) => v === 0),
    ).toBe(true);
    expect(activationNullSpace(g, { dimension: 5 }).diagnostics.nullEnergy).toBeCloseTo(1, 12);
  });

  it('thin apply equals the materialised projector; complement adds up', () => {
    const X = lowRankInputs(12, 5, 40, 3, 0.01);
    const { projector } = activationNullSpace(gramOf(X));
    const A = lowRankInputs(12, 12, 7, 4);
    const P = projector.materialize();
    expect(maxAbsDiff(projector.apply(A), matmul(A, P))).toBeLessThan(1e-12);
    const sum = projector.apply(A).data.map((v, i) => v + projector.applyComplement(A).data[i]!);
    expect(maxAbsDiff(new Tensor('f64', sum, A.shape), A)).toBeLessThan(1e-12);
  });

  it('bad input', () => {
    const g = gramOf(lowRankInputs(6, 3, 10, 1));
    expect(() => activationNullSpace(g.slice(null, [0, 5]))).toThrow(/must be square/);
    const bad = g.contiguous(true);
    bad.data[3] = NaN;
    expect(() => activationNullSpace(bad)).toThrow(NonFiniteError);
    expect(() => activationNullSpace(g, { t: -1 })).toThrow(ArgumentError);
    expect(() => activationNullSpace(g, { rule: 'energy', energy: 0 })).toThrow(ArgumentError);
    expect(() => activationNullSpace(g, { dimension: 7 })).toThrow(ArgumentError);
    expect(() => activationNullSpace(g, { rule: 'svd' as any })).toThrow(ArgumentError);
    expect(() => new NullProjector(6, null).apply(new Tensor('f64', new Float64Array(5), [1, 5]))).toThrow(ShapeError);
  });
});
