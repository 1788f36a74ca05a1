/**
 * The routines of the WebGPU backend: argument checks, then a WGSL pass per call (GEMM, GEMV,
 * elementwise, reductions, int4), with the reference backend for f64 operands, calls over the binding
 * limit and (per policy) after a device loss. Device, pipelines and submission live in `device.ts`,
 * `pipelines.ts` and `submit.ts`.
 */
import {
  ArgumentError,
  referenceBackend,
  validateGemm,
  validateGemv,
  validateBinary,
  validateUnary,
  validateReduce,
  validateInt4Gemv,
  int4Groups,
  type BackendCapabilities,
  type BinaryOp,
  type FloatArray,
  type GemmArgs,
  type GemvArgs,
  type ReduceOp,
  type UnaryOp,
} from '@llmpress/tensor';
import {
  binaryShader,
  ELEMENTWISE_UNIFORM_BYTES,
  ELEMENTWISE_WG,
  gemmShader,
  gemmTile,
  GEMM_UNIFORM_BYTES,
  gemvShader,
  GEMV_UNIFORM_BYTES,
  GEMV_WG,
  reduceShader,
  REDUCE_MAX_GROUPS,
  REDUCE_WG,
  unaryShader,
  type GemmKernel,
  int4GemvShader,
  int4DequantShader,
  int4QuantShader,
  gemmDf32Shader,
  GEMM_DF32_UNIFORM_BYTES,
  GEMM_DF32_WG,
  df32SelfTestShader,
  type Df32Product,
} from './shaders.js';
import {
  checkInt4Shape,
  checkTyped,
  dequantizeInt4Reference,
  int4GemvReference,
  quantizeInt4Reference,
  type Int4GemvArgs,
  type Int4Packed,
  type Int4QuantizeArgs,
} from './int4.js';
import type { AdapterSummary, GpuDevice } from './device.js';
import { PipelineCache } from './pipelines.js';
import { Submitter, type KernelTiming, type Pass } from './submit.js';
import type { Df32GemmArgs, Df32SelfTest, WebGpuBackend, WebGpuStats } from './backend.js';

function isF32(...xs: FloatArray[]): boolean {
  return xs.every((x) => x instanceof Float32Array);
}

function checkInt(fn: string, arg: string, v: unknown, min = 0): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new ArgumentError(fn, arg, v, `must be an integer >= ${min}`);
  return v;
}

export class WebGpuRoutines implements WebGpuBackend {
  readonly name = 'webgpu';
  readonly capabilities: BackendCapabilities;
  readonly adapter: AdapterSummary;
  readonly gemmKernel: GemmKernel;
  readonly limits: Readonly<Record<string, number>>;
  readonly deviceFeatures: readonly string[];
  private readonly pipelines: PipelineCache;
  private readonly sub: Submitter;

  constructor(private readonly gpu: GpuDevice) {
    this.adapter = gpu.adapter;
    this.gemmKernel = gpu.gemmKernel;
    this.limits = gpu.limits;
    this.deviceFeatures = gpu.deviceFeatures;
    this.capabilities = Object.freeze({
      dtypes: ['f32'] as const,
      syncRead: false,
      threads: 1,
      features: ['webgpu', ...this.deviceFeatures, `gemm-${this.gemmKernel}`, ...(gpu.adapter.software ? ['software-adapter'] : [])],
    });
    this.pipelines = new PipelineCache(gpu);
    this.sub = new Submitter(gpu);
  }

  get lost(): boolean {
    return this.gpu.lost;
  }

  stats(): WebGpuStats {
    return { ...this.gpu.counters, fallbacks: { ...this.gpu.fallbackCounts }, pool: this.sub.pool.stats() };
  }

  compile(label: string, source: string): Promise<GPUComputePipeline> {
    return this.pipelines.compile(label, source);
  }
  pin(array: Float32Array): void {
    this.sub.pin(array);
  }
  unpin(array: Float32Array): void {
    this.sub.unpin(array);
  }

  private gemvGroups(trans: boolean, m: number, n: number): [number, number, number] {
    if (trans) return this.gpu.grid1d(Math.ceil(n / GEMV_WG));
    return this.gemmKernel === 'register' ? this.gpu.grid1d(Math.ceil(m / GEMV_WG)) : this.gpu.grid1d(m);
  }

  // ---------------------------------------------------------------- GEMM

  async gemmAsync(p: GemmArgs): Promise<void> {
    const fn = 'WebGpuBackend.gemmAsync';
    this.gpu.checkUsable(fn);
    const spans = validateGemm(fn, p);
    const { m, n, k } = p;
    if (m === 0 || n === 0) return;
    if (!isF32(p.a, p.b, p.c)) {
      this.gpu.fallback('f64');
      referenceBackend.gemm!(p);
      return;
    }
    if (k === 0 || p.alpha === 0) {
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          const idx = p.cOffset + i * p.ldc + j;
          p.c[idx] = p.beta === 0 ? 0 : p.beta * p.c[idx]!;
        }
      return;
    }
    const tile = gemmTile(this.gemmKernel);
    const gx = Math.ceil(n / tile.cols),
      gy = Math.ceil(m / tile.rows),
      maxG = this.limits.maxComputeWorkgroupsPerDimension || 65535;
    if (!this.gpu.fits(spans.a * 4, spans.b * 4, m * n * 4) || gx > maxG || gy > maxG) {
      this.gpu.fallback('too-large');
      referenceBackend.gemm!(p);
      return;
    }
    await this.gpu.exec(
      fn,
      async () => {
        const source = gemmShader({ transA: p.transA, transB: p.transB, kernel: this.gemmKernel });
        const pipeline = await this.compile(`gemm-${this.gemmKernel}${p.transA ? '-tA' : ''}${p.transB ? '-tB' : ''}`, source);
        const a = this.sub.operand(p.a as Float32Array, p.aOffset, spans.a);
        const b = this.sub.operand(p.b as Float32Array, p.bOffset, spans.b);
        const c = this.sub.output(m * n * 4, 'llmpress-out');
        const u = this.sub.uniform(
          [
            ['u32', m],
            ['u32', n],
            ['u32', k],
            ['u32', p.lda],
            ['u32', p.ldb],
            ['f32', p.alpha],
            ['u32', a.off],
            ['u32', b.off],
          ],
          GEMM_UNIFORM_BYTES,
        );
        const temps = [a.temp, b.temp, c, u].filter((x): x is GPUBuffer => x !== null);
        const out = await this.sub.run(
          fn,
          [{ pipeline, bindings: [a, b, { buffer: c, size: m * n * 4 }, { buffer: u, size: GEMM_UNIFORM_BYTES }], groups: [gx, gy, 1] }],
          temps,
          { buffer: c, size: m * n * 4 },
        );
        const cc = p.c,
          beta = p.beta;
        for (let i = 0; i < m; i++) {
          const row = p.cOffset + i * p.ldc,
            src = i * n;
          if (beta === 0) for (let j = 0; j < n; j++) cc[row + j] = out[src + j]!;
          else for (let j = 0; j < n; j++) cc[row + j] = out[src + j]! + beta * cc[row + j]!;
        }
      },
      () => referenceBackend.gemm!(p),
    );
  }

  // ---------------------------------------------------------------- double-f32 GEMM

  async gemmDf32Async(p: Df32GemmArgs): Promise<Float32Array> {
    const fn = 'WebGpuBackend.gemmDf32Async';
    this.gpu.checkUsable(fn);
    const { m, n, k, lda, ldb } = p ?? ({} as Df32GemmArgs);
    checkInt(fn, 'args.m', m);
    checkInt(fn, 'args.n', n);
    checkInt(fn, 'args.k', k);
    const rA = p.transA ? k : m,
      cA = p.transA ? m : k,
      rB = p.transB ? n : k,
      cB = p.transB ? k : n;
    if (checkInt(fn, 'args.lda', lda) < cA) throw new ArgumentError(fn, 'args.lda', lda, `must be >= ${cA}`);
    if (checkInt(fn, 'args.ldb', ldb) < cB) throw new ArgumentError(fn, 'args.ldb', ldb, `must be >= ${cB}`);
    const sA = rA && cA ? (rA - 1) * lda + cA : 0,
      sB = rB && cB ? (rB - 1) * ldb + cB : 0;
    if (!(p.a instanceof Float32Array) || p.a.length < 2 * sA)
      throw new ArgumentError(fn, 'args.a', p.a, `must be a Float32Array of >= ${2 * sA} values ((hi, lo) pairs)`);
    if (!(p.b instanceof Float32Array) || p.b.length < 2 * sB)
      throw new ArgumentError(fn, 'args.b', p.b, `must be a Float32Array of >= ${2 * sB} values ((hi, lo) pairs)`);
    const out = new Float32Array(2 * m * n);
    if (m === 0 || n === 0 || k === 0) return out;
    const gx = Math.ceil(n / GEMM_DF32_WG),
      gy = Math.ceil(m / GEMM_DF32_WG),
      maxG = this.limits.maxComputeWorkgroupsPerDimension || 65535;
    const cpu = () => {
      out.set(gemmDf32Reference(p, sA, sB));
    };
    if (!this.gpu.fits(sA * 8, sB * 8, m * n * 8) || gx > maxG || gy > maxG) {
      this.gpu.fallback('too-large');
      cpu();
      return out;
    }
    const product = p.product ?? (await this.df32Product());
    await this.gpu.exec(
      fn,
      async () => {
        const pipeline = await this.compile(
          `gemm-df32-${product}${p.transA ? '-tA' : ''}${p.transB ? '-tB' : ''}`,
          gemmDf32Shader(p.transA, p.transB, product),
        );
        const a = this.sub.upload(p.a, 0, 2 * sA),
          b = this.sub.upload(p.b, 0, 2 * sB);
        const c = this.sub.output(m * n * 8, 'llmpress-out');
        const u = this.sub.uniform(
          [
            ['u32', m],
            ['u32', n],
            ['u32', k],
            ['u32', lda],
            ['u32', ldb],
            ['u32', 0],
            ['u32', 0],
            ['u32', 0],
          ],
          GEMM_DF32_UNIFORM_BYTES,
        );
        const res = await this.sub.run(
          fn,
          [
            {
              pipeline,
              bindings: [
                { buffer: a, size: sA * 8 },
                { buffer: b, size: sB * 8 },
                { buffer: c, size: m * n * 8 },
                { buffer: u, size: GEMM_DF32_UNIFORM_BYTES },
              ],
              groups: [gx, gy, 1],
            },
          ],
          [a, b, c, u],
          { buffer: c, size: m * n * 8 },
        );
        out.set(res.subarray(0, 2 * m * n));
      },
      cpu,
    );
    return out;
  }

  private df32Checked: Promise<Df32SelfTest> | null = null;

  /** The TwoProd variant the df32 GEMM uses: the first one the self-test finds exact (`fma`, then `dekker`). */
  private async df32Product(): Promise<Df32Product> {
    return (await this.df32Check()).product ?? 'dekker';
  }

  /** Runs (once) the df32 self-test with both TwoProd variants and remembers the verdict. */
  df32Check(): Promise<Df32SelfTest> {
    this.df32Checked ??= (async () => {
      const fma = await this.df32SelfTestAsync(undefined, 'fma');
      if (fma.exact) return fma;
      const dekker = await this.df32SelfTestAsync(undefined, 'dekker');
      return { ...dekker, tried: [fma, dekker] };
    })();
    return this.df32Checked;
  }

  async df32SelfTestAsync(pairs?: Float32Array, product: Df32Product = 'fma'): Promise<Df32SelfTest> {
    const fn = 'WebGpuBackend.df32SelfTestAsync';
    this.gpu.checkUsable(fn);
    const x = pairs ?? df32SelfTestInputs();
    const count = x.length >> 1;
    const out = await this.gpu.exec(
      fn,
      async () => {
        const pipeline = await this.compile(`df32-selftest-${product}`, df32SelfTestShader(product));
        const bx = this.sub.upload(x, 0, 2 * count);
        const bo = this.sub.output(count * 16, 'llmpress-out');
        const u = this.sub.uniform(
          [
            ['u32', 0],
            ['u32', count],
            ['u32', 0],
            ['u32', 0],
          ],
          16,
        );
        return this.sub.run(
          fn,
          [
            {
              pipeline,
              bindings: [
                { buffer: bx, size: count * 8 },
                { buffer: bo, size: count * 16 },
                { buffer: u, size: 16 },
              ],
              groups: this.gpu.grid1d(Math.ceil(count / 64)),
            },
          ],
          [bx, bo, u],
          { buffer: bo, size: count * 16 },
        );
      },
      () => null,
    );
    if (!out) return { cases: count, twoSumExact: 0, twoProdExact: 0, exact: false };
    let ts = 0,
      tp = 0;
    for (let i = 0; i < count; i++) {
      const a = x[2 * i]!,
        b = x[2 * i + 1]!;
      // in f64, a + b and a·b of two f32 are exact (the inputs stay far from overflow and underflow)
      if (out[4 * i]! + out[4 * i + 1]! === a + b && Math.fround(a + b) === out[4 * i]) ts++;
      if (out[4 * i + 2]! + out[4 * i + 3]! === a * b && Math.fround(a * b) === out[4 * i + 2]) tp++;
    }
    const exact = ts === count && tp === count;
    return { cases: count, twoSumExact: ts, twoProdExact: tp, exact, product: exact ? product : undefined };
  }

  // ---------------------------------------------------------------- GEMV

  async gemvAsync(p: GemvArgs): Promise<void> {
    const fn = 'WebGpuBackend.gemvAsync';
    this.gpu.checkUsable(fn);
    const { lx, ly, a: sa } = validateGemv(fn, p);
    const { m, n } = p;
    if (ly === 0) return;
    if (!isF32(p.a, p.x, p.y)) {
      this.gpu.fallback('f64');
      referenceBackend.gemv!(p);
      return;
    }
    if (lx === 0 || p.alpha === 0) {
      for (let i = 0; i < ly; i++) p.y[p.yOffset + i] = p.beta === 0 ? 0 : p.beta * p.y[p.yOffset + i]!;
      return;
    }
    if (!this.gpu.fits(sa * 4)) {
      this.gpu.fallback('too-large');
      referenceBackend.gemv!(p);
      return;
    }
    await this.gpu.exec(
      fn,
      async () => {
        const pipeline = await this.compile(`gemv${p.trans ? '-t' : ''}`, gemvShader(p.trans, this.gemmKernel));
        const a = this.sub.operand(p.a as Float32Array, p.aOffset, sa);
        const x = this.sub.operand(p.x as Float32Array, p.xOffset, lx);
        const y = this.sub.output(ly * 4, 'llmpress-out');
        const u = this.sub.uniform(
          [
            ['u32', m],
            ['u32', n],
            ['u32', p.lda],
            ['f32', p.alpha],
            ['u32', a.off],
            ['u32', x.off],
            ['u32', 0],
            ['u32', 0],
          ],
          GEMV_UNIFORM_BYTES,
        );
        const groups = this.gemvGroups(p.trans, m, n);
        const temps = [a.temp, x.temp, y, u].filter((t): t is GPUBuffer => t !== null);
        const out = await this.sub.run(
          fn,
          [{ pipeline, bindings: [a, x, { buffer: y, size: ly * 4 }, { buffer: u, size: GEMV_UNIFORM_BYTES }], groups }],
          temps,
          { buffer: y, size: ly * 4 },
        );
        for (let i = 0; i < ly; i++) {
          const idx = p.yOffset + i;
          p.y[idx] = p.beta === 0 ? out[i]! : out[i]! + p.beta * p.y[idx]!;
        }
      },
      () => referenceBackend.gemv!(p),
    );
  }

  // ---------------------------------------------------------------- elementwise

  async binaryAsync(op: BinaryOp, a: FloatArray, b: FloatArray | number, out: FloatArray, n: number): Promise<void> {
    const fn = 'WebGpuBackend.binaryAsync';
    this.gpu.checkUsable(fn);
    validateBinary(fn, op, a, b, out, n);
    const scalar = typeof b === 'number';
    if (n === 0) return;
    if (!isF32(a, out, ...(scalar ? [] : [b as FloatArray]))) {
      this.gpu.fallback('f64');
      referenceBackend.binary!(op, a, b, out, n);
      return;
    }
    if (!this.gpu.fits(n * 4)) {
      this.gpu.fallback('too-large');
      referenceBackend.binary!(op, a, b, out, n);
      return;
    }
    await this.gpu.exec(
      fn,
      async () => {
        const pipeline = await this.compile(`binary-${op}${scalar ? '-scalar' : ''}`, binaryShader(op, scalar));
        const ba = this.sub.upload(a as Float32Array, 0, n);
        const bb = scalar ? ba : this.sub.upload(b as Float32Array, 0, n);
        const bo = this.sub.output(n * 4, 'llmpress-out');
        const u = this.sub.uniform(
          [
            ['u32', n],
            ['f32', scalar ? (b as number) : 0],
            ['u32', 0],
            ['u32', 0],
          ],
          ELEMENTWISE_UNIFORM_BYTES,
        );
        const res = await this.sub.run(
          fn,
          [
            {
              pipeline,
              bindings: [
                { buffer: ba, size: n * 4 },
                { buffer: bo, size: n * 4 },
                { buffer: u, size: ELEMENTWISE_UNIFORM_BYTES },
                ...(scalar ? [] : [{ buffer: bb, size: n * 4 }]),
              ],
              groups: this.gpu.grid1d(Math.ceil(n / ELEMENTWISE_WG)),
            },
          ],
          scalar ? [ba, bo, u] : [ba, bb, bo, u],
          { buffer: bo, size: n * 4 },
        );
        (out as Float32Array).set(res.subarray(0, n));
      },
      () => referenceBackend.binary!(op, a, b, out, n),
    );
  }

  async unaryAsync(op: UnaryOp, a: FloatArray, out: FloatArray, n: number): Promise<void> {
    const fn = 'WebGpuBackend.unaryAsync';
    this.gpu.checkUsable(fn);
    validateUnary(fn, op, a, out, n);
    if (n === 0) return;
    if (!isF32(a, out)) {
      this.gpu.fallback('f64');
      referenceBackend.unary!(op, a, out, n);
      return;
    }
    if (!this.gpu.fits(n * 4)) {
      this.gpu.fallback('too-large');
      referenceBackend.unary!(op, a, out, n);
      return;
    }
    await this.gpu.exec(
      fn,
      async () => {
        const pipeline = await this.compile(`unary-${op}`, unaryShader(op));
        const ba = this.sub.upload(a as Float32Array, 0, n);
        const bo = this.sub.output(n * 4, 'llmpress-out');
        const u = this.sub.uniform(
          [
            ['u32', n],
            ['f32', 0],
            ['u32', 0],
            ['u32', 0],
          ],
          ELEMENTWISE_UNIFORM_BYTES,
        );
        const res = await this.sub.run(
          fn,
          [
            {
              pipeline,
              bindings: [
                { buffer: ba, size: n * 4 },
                { buffer: bo, size: n * 4 },
                { buffer: u, size: ELEMENTWISE_UNIFORM_BYTES },
              ],
              groups: this.gpu.grid1d(Math.ceil(n / ELEMENTWISE_WG)),
            },
          ],
          [ba, bo, u],
          { buffer: bo, size: n * 4 },
        );
        (out as Float32Array).set(res.subarray(0, n));
      },
      () => referenceBackend.unary!(op, a, out, n),
    );
  }

  async reduceAsync(op: ReduceOp, a: FloatArray, offset: number, n: number): Promise<number> {
    const fn = 'WebGpuBackend.reduceAsync';
    this.gpu.checkUsable(fn);
    validateReduce(fn, op, a, offset, n);
    if (n === 0 || !isF32(a)) {
      if (n > 0) this.gpu.fallback('f64');
      return referenceBackend.reduce!(op, a, offset, n);
    }
    if (!this.gpu.fits(n * 4)) {
      this.gpu.fallback('too-large');
      return referenceBackend.reduce!(op, a, offset, n);
    }
    return this.gpu.exec(
      fn,
      async () => {
        const pipeline = await this.compile(`reduce-${op}`, reduceShader(op));
        const groups = Math.min(REDUCE_MAX_GROUPS, Math.ceil(n / REDUCE_WG));
        const ba = this.sub.upload(a as Float32Array, offset, n);
        const bo = this.sub.output(groups * 4, 'llmpress-out');
        const u = this.sub.uniform(
          [
            ['u32', n],
            ['u32', 0x7f800000],
            ['u32', 0],
            ['u32', 0],
          ],
          16,
        );
        const parts = await this.sub.run(
          fn,
          [
            {
              pipeline,
              bindings: [
                { buffer: ba, size: n * 4 },
                { buffer: bo, size: groups * 4 },
                { buffer: u, size: 16 },
              ],
              groups: [groups, 1, 1],
            },
          ],
          [ba, bo, u],
          { buffer: bo, size: groups * 4 },
        );
        // Combine the partials on the CPU (sums in f64; max/min/absmax exact).
        let acc = op === 'max' ? -Infinity : op === 'min' ? Infinity : 0;
        for (let g = 0; g < groups; g++) {
          const v = parts[g]!;
          if (op === 'sum' || op === 'sumsq') acc += v;
          else if (Number.isNaN(v) || (op === 'min' ? v < acc : v > acc)) acc = v;
        }
        return op === 'sum' || op === 'sumsq' ? Math.fround(acc) : acc;
      },
      () => referenceBackend.reduce!(op, a, offset, n),
    );
  }

  // ---------------------------------------------------------------- int4

  async int4GemvAsync(p: Int4GemvArgs): Promise<void> {
    const fn = 'WebGpuBackend.int4GemvAsync';
    this.gpu.checkUsable(fn);
    const { m, n, g, alpha, beta } = validateInt4Gemv(fn, p);
    if (m > 0 && n % g !== 0) {
      // ragged last group: the shader wants whole groups, so zero-pad W's rows and x to ⌈n/g⌉·g columns
      const np = int4Groups(n, g) * g,
        w = new Uint8Array((m * np) / 2),
        x = new Float32Array(np);
      for (let r = 0; r < m; r++) w.set(p.w.subarray((r * n) / 2, ((r + 1) * n) / 2), (r * np) / 2);
      x.set(p.x.subarray(0, n));
      return this.int4GemvAsync({ ...p, n: np, w, x });
    }
    if (m === 0) return;
    if (n === 0) {
      for (let i = 0; i < m; i++) p.y[i] = beta === 0 ? 0 : beta * p.y[i]!;
      return;
    }
    if (!this.gpu.fits((m * n) / 2, ((m * n) / g) * 4)) {
      this.gpu.fallback('too-large');
      int4GemvReference(p);
      return;
    }
    await this.gpu.exec(
      fn,
      async () => {
        const pipeline = await this.compile('int4-gemv', int4GemvShader());
        const w = this.sub.uploadBytes(p.w, (m * n) / 2);
        const sc = this.sub.upload(p.scales, 0, (m * n) / g);
        const x = this.sub.upload(p.x, 0, n);
        const y = this.sub.output(m * 4, 'llmpress-out');
        const u = this.sub.uniform(
          [
            ['u32', m],
            ['u32', n],
            ['u32', g],
            ['f32', alpha],
          ],
          16,
        );
        const out = await this.sub.run(
          fn,
          [
            {
              pipeline,
              bindings: [
                { buffer: w, size: Math.ceil((m * n) / 8) * 4 },
                { buffer: sc, size: ((m * n) / g) * 4 },
                { buffer: x, size: n * 4 },
                { buffer: y, size: m * 4 },
                { buffer: u, size: 16 },
              ],
              groups: this.gpu.grid1d(Math.ceil(m / GEMV_WG)),
            },
          ],
          [w, sc, x, y, u],
          { buffer: y, size: m * 4 },
        );
        for (let i = 0; i < m; i++) p.y[i] = beta === 0 ? out[i]! : out[i]! + beta * p.y[i]!;
      },
      () => int4GemvReference(p),
    );
  }

  async quantizeInt4Async(p: Int4QuantizeArgs): Promise<Int4Packed> {
    const fn = 'WebGpuBackend.quantizeInt4Async';
    this.gpu.checkUsable(fn);
    if (typeof p !== 'object' || p === null) throw new ArgumentError(fn, 'args', p, 'must be an Int4QuantizeArgs object');
    const { m, n, g } = checkInt4Shape(fn, p.m, p.n, p.groupSize);
    checkTyped(fn, 'a', p.a, Float32Array, 'Float32Array', m * n);
    for (let i = 0; i < m * n; i++) if (!Number.isFinite(p.a[i]!)) throw new ArgumentError(fn, 'a', p.a, `must be finite (index ${i} is ${p.a[i]})`);
    // the GPU path writes whole u32 words per invocation: rows must be word aligned (n % 8 == 0)
    if (m === 0 || n === 0 || n % 8 !== 0) {
      if (m * n > 0) this.gpu.fallback('int4-unaligned');
      return quantizeInt4Reference(p);
    }
    if (!this.gpu.fits(m * n * 4)) {
      this.gpu.fallback('too-large');
      return quantizeInt4Reference(p);
    }
    return this.gpu.exec(
      fn,
      async () => {
        const pipeline = await this.compile('int4-quantize', int4QuantShader());
        const a = this.sub.upload(p.a, 0, m * n);
        const words = (m * n) / 8;
        const w = this.sub.output(words * 4, 'llmpress-out-u8');
        const sc = this.sub.output(((m * n) / g) * 4, 'llmpress-out');
        const u = this.sub.uniform(
          [
            ['u32', m],
            ['u32', n],
            ['u32', g],
            ['u32', 0],
          ],
          16,
        );
        const [wb, sb] = await this.sub.runMulti(
          fn,
          [
            {
              pipeline,
              bindings: [
                { buffer: a, size: m * n * 4 },
                { buffer: w, size: words * 4 },
                { buffer: sc, size: ((m * n) / g) * 4 },
                { buffer: u, size: 16 },
              ],
              groups: this.gpu.grid1d(Math.ceil(words / ELEMENTWISE_WG)),
            },
          ],
          [a, w, sc, u],
          [
            { buffer: w, size: words * 4 },
            { buffer: sc, size: ((m * n) / g) * 4 },
          ],
        );
        return { m, n, groupSize: g, w: new Uint8Array(wb!), scales: new Float32Array(sb!) };
      },
      () => quantizeInt4Reference(p),
    );
  }

  async dequantizeInt4Async(p: Int4Packed): Promise<Float32Array> {
    const fn = 'WebGpuBackend.dequantizeInt4Async';
    this.gpu.checkUsable(fn);
    if (typeof p !== 'object' || p === null) throw new ArgumentError(fn, 'args', p, 'must be an Int4Packed object');
    const { m, n, g } = checkInt4Shape(fn, p.m, p.n, p.groupSize);
    checkTyped(fn, 'w', p.w, Uint8Array, 'Uint8Array of packed int4', (m * n) / 2);
    checkTyped(fn, 'scales', p.scales, Float32Array, 'Float32Array', (m * n) / g);
    if (m * n === 0) return new Float32Array(0);
    if (!this.gpu.fits(m * n * 4)) {
      this.gpu.fallback('too-large');
      return dequantizeInt4Reference(p);
    }
    return this.gpu.exec(
      fn,
      async () => {
        const pipeline = await this.compile('int4-dequantize', int4DequantShader());
        const w = this.sub.uploadBytes(p.w, (m * n) / 2);
        const sc = this.sub.upload(p.scales, 0, (m * n) / g);
        const o = this.sub.output(m * n * 4, 'llmpress-out');
        const u = this.sub.uniform(
          [
            ['u32', m],
            ['u32', n],
            ['u32', g],
            ['u32', 0],
          ],
          16,
        );
        const out = await this.sub.run(
          fn,
          [
            {
              pipeline,
              bindings: [
                { buffer: w, size: Math.ceil((m * n) / 8) * 4 },
                { buffer: sc, size: ((m * n) / g) * 4 },
                { buffer: o, size: m * n * 4 },
                { buffer: u, size: 16 },
              ],
              groups: this.gpu.grid1d(Math.ceil((m * n) / ELEMENTWISE_WG)),
            },
          ],
          [w, sc, o, u],
          { buffer: o, size: m * n * 4 },
        );
        return out.length === m * n ? out : out.slice(0, m * n);
      },
      () => dequantizeInt4Reference(p),
    );
  }

  async timeGemm(shape: { m: number; n: number; k: number; transA?: boolean; transB?: boolean }, runs = 5): Promise<KernelTiming> {
    const fn = 'WebGpuBackend.timeGemm';
    this.gpu.checkUsable(fn);
    const m = checkInt(fn, 'm', shape.m, 1),
      n = checkInt(fn, 'n', shape.n, 1),
      k = checkInt(fn, 'k', shape.k, 1);
    checkInt(fn, 'runs', runs, 1);
    const tA = !!shape.transA,
      tB = !!shape.transB;
    const pipeline = await this.compile(
      `gemm-${this.gemmKernel}${tA ? '-tA' : ''}${tB ? '-tB' : ''}`,
      gemmShader({ transA: tA, transB: tB, kernel: this.gemmKernel }),
    );
    const tile = gemmTile(this.gemmKernel);
    const a = this.sub.randomBuffer(m * k, 1),
      b = this.sub.randomBuffer(k * n, 2);
    const c = this.sub.output(m * n * 4);
    const u = this.sub.uniform(
      [
        ['u32', m],
        ['u32', n],
        ['u32', k],
        ['u32', tA ? m : k],
        ['u32', tB ? k : n],
        ['f32', 1],
        ['u32', 0],
        ['u32', 0],
      ],
      GEMM_UNIFORM_BYTES,
    );
    const pass: Pass = {
      pipeline,
      bindings: [
        { buffer: a, size: m * k * 4 },
        { buffer: b, size: k * n * 4 },
        { buffer: c, size: m * n * 4 },
        { buffer: u, size: GEMM_UNIFORM_BYTES },
      ],
      groups: [Math.ceil(n / tile.cols), Math.ceil(m / tile.rows), 1],
    };
    return this.sub.timePasses(fn, [pass], [a, b, c, u], runs);
  }

  async timeGemv(shape: { m: number; n: number; trans?: boolean }, runs = 5): Promise<KernelTiming> {
    const fn = 'WebGpuBackend.timeGemv';
    this.gpu.checkUsable(fn);
    const m = checkInt(fn, 'm', shape.m, 1),
      n = checkInt(fn, 'n', shape.n, 1);
    checkInt(fn, 'runs', runs, 1);
    const trans = !!shape.trans;
    const pipeline = await this.compile(`gemv${trans ? '-t' : ''}`, gemvShader(trans, this.gemmKernel));
    const lx = trans ? m : n,
      ly = trans ? n : m;
    const a = this.sub.randomBuffer(m * n, 1),
      x = this.sub.randomBuffer(lx, 2);
    const y = this.sub.output(ly * 4);
    const u = this.sub.uniform(
      [
        ['u32', m],
        ['u32', n],
        ['u32', n],
        ['f32', 1],
        ['u32', 0],
        ['u32', 0],
        ['u32', 0],
        ['u32', 0],
      ],
      GEMV_UNIFORM_BYTES,
    );
    const pass: Pass = {
      pipeline,
      bindings: [
        { buffer: a, size: m * n * 4 },
        { buffer: x, size: lx * 4 },
        { buffer: y, size: ly * 4 },
        { buffer: u, size: GEMV_UNIFORM_BYTES },
      ],
      groups: this.gemvGroups(trans, m, n),
    };
    return this.sub.timePasses(fn, [pass], [a, x, y, u], runs);
  }

  simulateDeviceLoss(): void {
    this.gpu.checkUsable('WebGpuBackend.simulateDeviceLoss');
    this.gpu.device.destroy();
  }

  async dispose(): Promise<void> {
    if (this.gpu.disposed) return;
    this.gpu.disposed = true;
    this.pipelines.clear();
    this.sub.clear();
    this.gpu.device.destroy();
  }
}

/** Inputs of the df32 self-test: f32 pairs across magnitudes and signs, with cancellations and exact cases. */
export function df32SelfTestInputs(count = 4096, seed = 12345): Float32Array {
  const x = new Float32Array(2 * count);
  let s = seed >>> 0 || 1;
  const r = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  for (let i = 0; i < count; i++) {
    const a = (r() * 2 - 1) * 2 ** Math.floor(r() * 40 - 20);
    let b = (r() * 2 - 1) * 2 ** Math.floor(r() * 40 - 20);
    if (i % 4 === 1) b = -a * (1 + (r() - 0.5) * 2 ** -20); // near-cancellation
    if (i % 4 === 2) b = a * 2 ** -Math.floor(r() * 30); // lo far below hi
    x[2 * i] = a;
    x[2 * i + 1] = b;
  }
  return x;
}

/** The df32 GEMM on the CPU (f64 dots of hi + lo, split back into pairs): fallback of `gemmDf32Async`. */
function gemmDf32Reference(p: Df32GemmArgs, sA: number, sB: number): Float32Array {
  const { m, n, k, lda, ldb } = p,
    out = new Float32Array(2 * m * n);
  const A = new Float64Array(sA),
    B = new Float64Array(sB);
  for (let i = 0; i < sA; i++) A[i] = p.a[2 * i]! + p.a[2 * i + 1]!;
  for (let i = 0; i < sB; i++) B[i] = p.b[2 * i]! + p.b[2 * i + 1]!;
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let q = 0; q < k; q++) acc += A[p.transA ? q * lda + i : i * lda + q]! * B[p.transB ? j * ldb + q : q * ldb + j]!;
      const hi = Math.fround(acc);
      out[2 * (i * n + j)] = hi;
      out[2 * (i * n + j) + 1] = Math.fround(acc - hi);
    }
  return out;
}
