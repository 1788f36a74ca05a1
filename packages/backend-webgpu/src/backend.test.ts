/**
 * WebGPU-specific behaviour beyond the conformance suite: factory nulls, argument errors, compile
 * errors with shader and line, pipeline cache and buffer pool, f64 fallback, device loss.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArgumentError, referenceBackend, dotTolerance, pickBackend } from '@llmpress/tensor';
import { createWebGpuBackend, DeviceLostError, ShaderCompileError, type WebGpuBackend } from '@llmpress/backend-webgpu';
import { createNodeWebGpuBackend, nodeWebGpuUnavailableReason } from '@llmpress/backend-webgpu/node';

function rand(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 4294967296) * 2 - 1;
  }
  return a;
}

describe('createWebGpuBackend without WebGPU', () => {
  it('returns null with a reason when there is no GPU object', async () => {
    let reason = '';
    const g = globalThis as any;
    const saved = g.navigator?.gpu;
    expect(saved).toBeUndefined(); // Node: no navigator.gpu unless a test installed one
    expect(
      await createWebGpuBackend({
        onUnavailable: (r) => {
          reason = r;
        },
      }),
    ).toBeNull();
    expect(reason).toMatch(/not available/);
  });
  it('returns null (never throws) when the adapter request yields null or throws', async () => {
    const reasons: string[] = [];
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    const throwing = {
      requestAdapter: async () => {
        throw new Error('driver exploded');
      },
    } as unknown as GPU;
    expect(await createWebGpuBackend({ gpu: noAdapter, onUnavailable: (r) => reasons.push(r) })).toBeNull();
    expect(await createWebGpuBackend({ gpu: throwing, onUnavailable: (r) => reasons.push(r) })).toBeNull();
    expect(reasons[0]).toMatch(/no WebGPU adapter/);
    expect(reasons[1]).toMatch(/driver exploded/);
  });
  it('lets pickBackend fall back to the next candidate', async () => {
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    const skipped: string[] = [];
    const picked = await pickBackend([() => createWebGpuBackend({ gpu: noAdapter }), referenceBackend], { onSkip: (n, r) => skipped.push(`${n}: ${r}`) });
    expect(picked).toBe(referenceBackend);
    expect(skipped).toEqual(['candidates[0]: factory returned null (not available here)']);
  });
});

const reason = await nodeWebGpuUnavailableReason();

(reason ? describe.skip : describe)(`WebGPU backend on Node${reason ? ` (skipped: ${reason})` : ''}`, () => {
  let b: WebGpuBackend;
  beforeAll(async () => {
    b = (await createNodeWebGpuBackend())!;
  }, 120_000);
  afterAll(async () => {
    await b?.dispose();
  });

  it('declares f32-only, async capabilities and the optional features it enabled', () => {
    expect(b.capabilities.dtypes).toEqual(['f32']);
    expect(b.capabilities.syncRead).toBe(false);
    expect(b.gemm).toBeUndefined(); // no sync routines: routine() falls back to reference visibly
    for (const f of b.deviceFeatures) expect(['shader-f16', 'timestamp-query']).toContain(f);
    expect(b.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(['tiled', 'register']).toContain(b.gemmKernel);
  });

  it('rejects bad arguments with typed errors naming the function, argument and value', async () => {
    const a = rand(12, 1),
      x = rand(4, 2),
      c = new Float32Array(9);
    const base = { transA: false, transB: false, m: 3, n: 3, k: 4, alpha: 1, a, aOffset: 0, lda: 4, b: a, bOffset: 0, ldb: 3, beta: 0, c, cOffset: 0, ldc: 3 };
    // the shared validators of @llmpress/tensor (the same errors as every backend; see the conformance error block)
    await expect(b.gemmAsync({ ...base, lda: 2 })).rejects.toThrow(
      /gemmAsync: argument 'lda' must be an integer >= 4 \(the stored matrix has 4 columns\), got 2/,
    );
    await expect(b.gemmAsync({ ...base, m: -1 })).rejects.toBeInstanceOf(ArgumentError);
    await expect(b.gemmAsync({ ...base, k: 5, lda: 5 })).rejects.toThrow(/argument 'a' is too short: a 3 × 5 matrix with lda 5 at offset 0 needs 15 elements/);
    await expect(b.gemvAsync({ trans: false, m: 3, n: 4, alpha: 1, a, aOffset: 0, lda: 4, x, xOffset: 1, beta: 0, y: c, yOffset: 0 })).rejects.toThrow(
      /argument 'x' is too short: needs 5 elements/,
    );
    await expect(b.binaryAsync('pow' as any, x, x, x, 4)).rejects.toThrow(/argument 'op'/);
    await expect(b.unaryAsync('exp', x, new Float32Array(2), 4)).rejects.toThrow(/argument 'out' is too short: needs 4 elements/);
    await expect(b.reduceAsync('sum', x, 2, 3)).rejects.toThrow(/argument 'a' is too short: needs 5 elements/);
    await expect(b.gemmAsync({ ...base, alpha: NaN })).rejects.toThrow(/argument 'alpha' must be a finite number/);
  });

  it('reports WGSL compile errors with the shader name, line and source text', async () => {
    const src = '@group(0) @binding(0) var<storage, read_write> a: array<f32>;\n@compute @workgroup_size(1)\nfn main() {\n  a[0] = undefinedThing;\n}\n';
    const err = await b.compile('broken-shader', src).then(
      () => null,
      (e) => e,
    );
    expect(ShaderCompileError.isInstance(err)).toBe(true);
    expect(err.message).toMatch(/shader 'broken-shader'/);
    expect(err.message).toMatch(/line 4:/);
    expect(err.message).toMatch(/undefinedThing/);
    expect(err.messages[0].line).toBe(4);
    // a failed compile is not cached: fixing the source compiles
    await expect(b.compile('fixed', src.replace('undefinedThing', '1.0'))).resolves.toBeDefined();
  });

  it('caches pipelines by shader source and reuses pooled buffers', async () => {
    const before = b.stats();
    const x = rand(1000, 3),
      y = rand(1000, 4),
      out = new Float32Array(1000);
    for (let r = 0; r < 3; r++) await b.binaryAsync('add', x, y, out, 1000);
    const after = b.stats();
    expect(after.pipelinesCompiled - before.pipelinesCompiled).toBeLessThanOrEqual(1);
    expect(after.pipelineCacheHits - before.pipelineCacheHits).toBeGreaterThanOrEqual(2);
    expect(after.pool.hits - before.pool.hits).toBeGreaterThanOrEqual(8); // 2nd and 3rd call: in, in, out, uniform, staging
    for (let i = 0; i < 1000; i++) expect(out[i]).toBe(Math.fround(x[i]! + y[i]!));
    expect(after.uncapturedErrors).toBe(0); // every error went through an error scope
  });

  it('computes f64 inputs on the reference backend (counted), never silently in f32', async () => {
    const m = 5,
      n = 4,
      k = 3;
    const a = Float64Array.from(rand(m * k, 5)),
      bb = Float64Array.from(rand(k * n, 6));
    const c = new Float64Array(m * n),
      want = new Float64Array(m * n);
    const before = b.stats().fallbacks.f64 ?? 0;
    const args = { transA: false, transB: false, m, n, k, alpha: 1, a, aOffset: 0, lda: k, b: bb, bOffset: 0, ldb: n, beta: 0, ldc: n, cOffset: 0 };
    await b.gemmAsync({ ...args, c });
    referenceBackend.gemm!({ ...args, c: want });
    expect(Array.from(c)).toEqual(Array.from(want));
    expect(b.stats().fallbacks.f64).toBe(before + 1);
  });

  it('matches the reference on a 128 × 96 × 200 GEMM with both transposes and beta', async () => {
    const m = 128,
      n = 96,
      k = 200;
    const a = rand(k * m, 7),
      bb = rand(n * k, 8),
      c = rand(m * n, 9),
      want = c.slice();
    const args = { transA: true, transB: true, m, n, k, alpha: 0.5, a, aOffset: 0, lda: m, b: bb, bOffset: 0, ldb: k, beta: -1, cOffset: 0, ldc: n };
    await b.gemmAsync({ ...args, c });
    referenceBackend.gemm!({ ...args, c: want });
    let worst = 0;
    for (let i = 0; i < m * n; i++) worst = Math.max(worst, Math.abs(c[i]! - want[i]!));
    expect(worst).toBeLessThanOrEqual(dotTolerance('f32', k, 4) * (0.5 * k + 1)); // |a|,|b|,|c| <= 1
    expect(worst).toBeGreaterThanOrEqual(0);
  });

  it('pinned operands are uploaded once, read with their offsets, and are snapshots until re-pinned', async () => {
    const m = 9,
      n = 7,
      k = 11,
      off = 5;
    const w = rand(off + n * k, 21); // B stored transposed [n, k] after an offset, like a weight matrix
    const x = rand(m * k, 22),
      c = new Float32Array(m * n),
      want = new Float32Array(m * n);
    const args = { transA: false, transB: true, m, n, k, alpha: 1, a: x, aOffset: 0, lda: k, b: w, bOffset: off, ldb: k, beta: 0, cOffset: 0, ldc: n };
    b.pin(w);
    const up0 = b.stats().uploadedBytes;
    await b.gemmAsync({ ...args, c });
    await b.gemmAsync({ ...args, c });
    expect(b.stats().uploadedBytes - up0).toBe(2 * m * k * 4); // only A moved
    referenceBackend.gemm!({ ...args, c: want });
    const tol = dotTolerance('f32', k, 4) * k;
    for (let i = 0; i < m * n; i++) expect(Math.abs(c[i]! - want[i]!)).toBeLessThanOrEqual(tol);
    w[off] = 100; // CPU change without re-pin: the device still has the snapshot
    await b.gemmAsync({ ...args, c });
    for (let i = 0; i < m * n; i++) expect(Math.abs(c[i]! - want[i]!)).toBeLessThanOrEqual(tol);
    b.pin(w); // refresh
    await b.gemmAsync({ ...args, c });
    referenceBackend.gemm!({ ...args, c: want });
    expect(Math.abs(c[0]! - want[0]!)).toBeLessThanOrEqual(dotTolerance('f32', k, 4) * (k + 100));
    expect(Math.abs(c[0]! - want[0]!)).toBeLessThan(1); // and it did change
    // GEMV with a pinned matrix and offset x
    const xv = rand(3 + k, 23),
      y = new Float32Array(n),
      yw = new Float32Array(n);
    const gv = { trans: false, m: n, n: k, alpha: 1, a: w, aOffset: off, lda: k, x: xv, xOffset: 3, beta: 0, yOffset: 0 };
    await b.gemvAsync({ ...gv, y });
    referenceBackend.gemv!({ ...gv, y: yw });
    for (let i = 0; i < n; i++) expect(Math.abs(y[i]! - yw[i]!)).toBeLessThanOrEqual(dotTolerance('f32', k, 4) * (k + 100));
    b.unpin(w);
    const up1 = b.stats().uploadedBytes;
    await b.gemmAsync({ ...args, c });
    expect(b.stats().uploadedBytes - up1).toBe(m * k * 4 + ((n - 1) * k + k) * 4); // both operands again
    expect(() => b.pin(new Float64Array(4) as any)).toThrow(/pin: argument 'array' must be a Float32Array, got Float64Array/);
  });

  it('times kernels with timestamp queries when the device has them', async () => {
    const t = await b.timeGemm({ m: 64, n: 64, k: 64 }, 2);
    expect(t.ms).toBeGreaterThan(0);
    expect(t.method).toBe(b.deviceFeatures.includes('timestamp-query') ? 'timestamp-query' : 'wall-clock');
    const g = await b.timeGemv({ m: 256, n: 256 }, 2);
    expect(g.ms).toBeGreaterThan(0);
  });
});

(reason ? describe.skip : describe)('WebGPU calls larger than a binding', () => {
  it('run on the reference backend (counted, still correct) instead of failing', async () => {
    const b = (await createNodeWebGpuBackend({ maxBindingBytes: 4096 }))!;
    try {
      const m = 40,
        n = 30,
        k = 50; // A is 8000 bytes > 4096
      const a = rand(m * k, 1),
        bb = rand(k * n, 2),
        c = new Float32Array(m * n),
        want = new Float32Array(m * n);
      const args = { transA: false, transB: false, m, n, k, alpha: 1, a, aOffset: 0, lda: k, b: bb, bOffset: 0, ldb: n, beta: 0, cOffset: 0, ldc: n };
      await b.gemmAsync({ ...args, c });
      referenceBackend.gemm!({ ...args, c: want });
      expect(Array.from(c)).toEqual(Array.from(want));
      const small = new Float32Array(16);
      await b.unaryAsync('abs', a.subarray(0, 16), small, 16); // 64 bytes: on the GPU
      const s = b.stats();
      expect(s.fallbacks['too-large']).toBe(1);
      expect(s.dispatches).toBe(1);
      await expect(createNodeWebGpuBackend({ maxBindingBytes: -1 })).rejects.toThrow(/options.maxBindingBytes/);
    } finally {
      await b.dispose();
    }
  });
});

(reason ? describe.skip : describe)('WebGPU device loss', () => {
  it("'fallback' (default): routines keep returning correct results on the reference backend, no hang", async () => {
    const lost: string[] = [];
    const b = (await createNodeWebGpuBackend({ onLost: (e) => lost.push(e.reason) }))!;
    const x = rand(300, 1),
      y = rand(300, 2),
      out = new Float32Array(300);
    await b.binaryAsync('mul', x, y, out, 300);
    b.simulateDeviceLoss();
    await new Promise((r) => setTimeout(r, 50));
    expect(b.lost).toBe(true);
    expect(lost).toEqual(['destroyed']);
    out.fill(0);
    await b.binaryAsync('mul', x, y, out, 300);
    for (let i = 0; i < 300; i++) expect(out[i]).toBe(Math.fround(x[i]! * y[i]!));
    expect(await b.reduceAsync('max', x, 0, 300)).toBe(Math.max(...x));
    expect(b.stats().fallbacks['device-lost']).toBe(2);
    await b.dispose();
  });
  it("'reject': routines reject with DeviceLostError after the loss (including one in flight)", async () => {
    const b = (await createNodeWebGpuBackend({ onDeviceLost: 'reject', onLost: () => {} }))!;
    const m = 64,
      a = rand(m * m, 3),
      c = new Float32Array(m * m);
    const args = { transA: false, transB: false, m, n: m, k: m, alpha: 1, a, aOffset: 0, lda: m, b: a, bOffset: 0, ldb: m, beta: 0, c, cOffset: 0, ldc: m };
    const inflight = b.gemmAsync(args).then(
      () => 'ok',
      (e) => e,
    );
    b.simulateDeviceLoss();
    const r = await inflight;
    // the in-flight call either finished before the loss or rejected with DeviceLostError
    expect(r === 'ok' || DeviceLostError.isInstance(r)).toBe(true);
    const err = await b.gemmAsync(args).then(
      () => null,
      (e) => e,
    );
    expect(DeviceLostError.isInstance(err)).toBe(true);
    expect(err.message).toMatch(/gemmAsync: WebGPU device lost \(destroyed\)/);
    await b.dispose();
    await expect(b.gemmAsync(args)).rejects.toThrow(/disposed/);
  });
});
