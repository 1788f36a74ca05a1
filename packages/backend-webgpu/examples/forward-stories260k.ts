/**
 * End-to-end example: the full forward pass of Karpathy's stories260K (llama2.c format) over a
 * window of T tokens, with every matmul on a backend's async GEMM — the projections, SwiGLU MLP,
 * and the per-head attention products, which read heads straight out of the [T, dim] activations
 * through GEMM offsets and leading dimensions — plus SiLU, the gate product and the RMSNorm sums of
 * squares through the async elementwise/reduction routines. RoPE and the causal softmax stay on the CPU.
 *
 *   pnpm exec tsx packages/backend-webgpu/examples/forward-stories260k.ts [--model file] [--tokens 64]
 *
 * It runs the window on WebGPU and on the reference backend and prints the agreement.
 */
import type { Backend, BinaryOp, FloatArray, GemmArgs, ReduceOp, UnaryOp } from '@llmpress/tensor';
import { referenceBackend } from '@llmpress/tensor';

export interface Llama2c {
  dim: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  seqLen: number;
  emb: Float32Array;
  rmsAtt: Float32Array;
  wq: Float32Array;
  wk: Float32Array;
  wv: Float32Array;
  wo: Float32Array;
  rmsFfn: Float32Array;
  w1: Float32Array;
  w2: Float32Array;
  w3: Float32Array;
  rmsFinal: Float32Array;
  wcls: Float32Array;
}

/** Parses a llama2.c legacy checkpoint (7 × int32 header, then f32 weights; shared classifier when vocab > 0). */
export function parseLlama2c(bytes: Uint8Array): Llama2c {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = Array.from({ length: 7 }, (_, i) => dv.getInt32(i * 4, true));
  const [dim, hidden, layers, heads, kvHeads, vocabRaw, seqLen] = h as [number, number, number, number, number, number, number];
  const vocab = Math.abs(vocabRaw),
    kvDim = (dim * kvHeads) / heads,
    headSize = dim / heads;
  const f = new Float32Array(bytes.slice(28).buffer);
  let o = 0;
  const take = (n: number) => {
    const a = f.subarray(o, o + n);
    o += n;
    if (a.length !== n) throw new Error(`parseLlama2c: file too short at offset ${o}`);
    return a;
  };
  const emb = take(vocab * dim),
    rmsAtt = take(layers * dim),
    wq = take(layers * dim * dim),
    wk = take(layers * kvDim * dim),
    wv = take(layers * kvDim * dim),
    wo = take(layers * dim * dim);
  const rmsFfn = take(layers * dim),
    w1 = take(layers * hidden * dim),
    w2 = take(layers * dim * hidden),
    w3 = take(layers * hidden * dim),
    rmsFinal = take(dim);
  take((seqLen * headSize) / 2); // freq_cis_real (legacy RoPE tables)
  take((seqLen * headSize) / 2); // freq_cis_imag
  const wcls = vocabRaw > 0 ? emb : take(vocab * dim);
  return { dim, hidden, layers, heads, kvHeads, vocab, seqLen, emb, rmsAtt, wq, wk, wv, wo, rmsFfn, w1, w2, w3, rmsFinal, wcls };
}

/** The async routines the forward pass needs; any backend with them (or the sync reference, wrapped) works. */
export interface AsyncOps {
  gemm(args: GemmArgs): Promise<void>;
  binary(op: BinaryOp, a: FloatArray, b: FloatArray | number, out: FloatArray, n: number): Promise<void>;
  unary(op: UnaryOp, a: FloatArray, out: FloatArray, n: number): Promise<void>;
  reduce(op: ReduceOp, a: FloatArray, offset: number, n: number): Promise<number>;
}

export function asyncOps(b: Backend): AsyncOps {
  const r = referenceBackend;
  return {
    gemm: b.gemmAsync ? (a) => b.gemmAsync!(a) : async (a) => (b.gemm ?? r.gemm)!(a),
    binary: b.binaryAsync ? (...a) => b.binaryAsync!(...a) : async (...a) => (b.binary ?? r.binary)!(...a),
    unary: b.unaryAsync ? (...a) => b.unaryAsync!(...a) : async (...a) => (b.unary ?? r.unary)!(...a),
    reduce: b.reduceAsync ? (...a) => b.reduceAsync!(...a) : async (...a) => (b.reduce ?? r.reduce)!(...a),
  };
}

/** Keeps every weight matrix resident on a backend that can `pin` (WebGPU): uploaded once, not per call. */
export function pinWeights(m: Llama2c, b: { pin?: (a: Float32Array) => void }): number {
  if (!b.pin) return 0;
  const ws = [m.wq, m.wk, m.wv, m.wo, m.w1, m.w2, m.w3, m.wcls];
  for (const w of ws) b.pin(w);
  return ws.reduce((s, w) => s + w.length * 4, 0);
}

/** out[T, rows] = x[T, cols] · W[rows, cols]^T (W row-major, as llama2.c stores it) */
async function linear(ops: AsyncOps, x: Float32Array, T: number, w: Float32Array, wOff: number, rows: number, cols: number): Promise<Float32Array> {
  const out = new Float32Array(T * rows);
  await ops.gemm({
    transA: false,
    transB: true,
    m: T,
    n: rows,
    k: cols,
    alpha: 1,
    a: x,
    aOffset: 0,
    lda: cols,
    b: w,
    bOffset: wOff,
    ldb: cols,
    beta: 0,
    c: out,
    cOffset: 0,
    ldc: rows,
  });
  return out;
}

async function rmsnorm(ops: AsyncOps, x: Float32Array, T: number, dim: number, w: Float32Array, wOff: number): Promise<Float32Array> {
  const out = new Float32Array(T * dim);
  for (let t = 0; t < T; t++) {
    const ss = await ops.reduce('sumsq', x, t * dim, dim);
    const s = 1 / Math.sqrt(ss / dim + 1e-5);
    for (let i = 0; i < dim; i++) out[t * dim + i] = w[wOff + i]! * (s * x[t * dim + i]!);
  }
  return out;
}

function rope(v: Float32Array, T: number, width: number, headSize: number): void {
  for (let t = 0; t < T; t++)
    for (let i = 0; i < width; i += 2) {
      const hd = i % headSize,
        freq = 1 / 10000 ** (hd / headSize),
        ang = t * freq,
        c = Math.cos(ang),
        s = Math.sin(ang);
      const a = v[t * width + i]!,
        b = v[t * width + i + 1]!;
      v[t * width + i] = a * c - b * s;
      v[t * width + i + 1] = a * s + b * c;
    }
}

/** Logits [T, vocab] for the window `tokens` (teacher forcing, causal attention). */
export async function forward(m: Llama2c, tokens: readonly number[], ops: AsyncOps): Promise<Float32Array> {
  const T = tokens.length,
    { dim, hidden, heads, kvHeads } = m,
    hs = dim / heads,
    kvDim = (dim * kvHeads) / heads,
    kvMul = heads / kvHeads;
  const x = new Float32Array(T * dim);
  tokens.forEach((tok, t) => x.set(m.emb.subarray(tok * dim, (tok + 1) * dim), t * dim));
  for (let l = 0; l < m.layers; l++) {
    const xb = await rmsnorm(ops, x, T, dim, m.rmsAtt, l * dim);
    const q = await linear(ops, xb, T, m.wq, l * dim * dim, dim, dim);
    const k = await linear(ops, xb, T, m.wk, l * kvDim * dim, kvDim, dim);
    const v = await linear(ops, xb, T, m.wv, l * kvDim * dim, kvDim, dim);
    rope(q, T, dim, hs);
    rope(k, T, kvDim, hs);
    const att = new Float32Array(T * T),
      o = new Float32Array(T * dim);
    for (let h = 0; h < heads; h++) {
      const kvh = Math.floor(h / kvMul);
      // scores[T, T] = q_h · k_h^T / sqrt(hs): heads read in place through offsets and leading dims
      await ops.gemm({
        transA: false,
        transB: true,
        m: T,
        n: T,
        k: hs,
        alpha: 1 / Math.sqrt(hs),
        a: q,
        aOffset: h * hs,
        lda: dim,
        b: k,
        bOffset: kvh * hs,
        ldb: kvDim,
        beta: 0,
        c: att,
        cOffset: 0,
        ldc: T,
      });
      for (let i = 0; i < T; i++) {
        let mx = -Infinity;
        for (let j = 0; j <= i; j++) mx = Math.max(mx, att[i * T + j]!);
        let s = 0;
        for (let j = 0; j < T; j++) {
          const e = j <= i ? Math.exp(att[i * T + j]! - mx) : 0;
          att[i * T + j] = e;
          s += e;
        }
        for (let j = 0; j <= i; j++) att[i * T + j]! /= s;
      }
      // o[:, head h] = att · v_h, written in place into the [T, dim] output through cOffset/ldc
      await ops.gemm({
        transA: false,
        transB: false,
        m: T,
        n: hs,
        k: T,
        alpha: 1,
        a: att,
        aOffset: 0,
        lda: T,
        b: v,
        bOffset: kvh * hs,
        ldb: kvDim,
        beta: 0,
        c: o,
        cOffset: h * hs,
        ldc: dim,
      });
    }
    const ao = await linear(ops, o, T, m.wo, l * dim * dim, dim, dim);
    await ops.binary('add', x, ao, x, T * dim);
    const xb2 = await rmsnorm(ops, x, T, dim, m.rmsFfn, l * dim);
    const g = await linear(ops, xb2, T, m.w1, l * hidden * dim, hidden, dim);
    const u = await linear(ops, xb2, T, m.w3, l * hidden * dim, hidden, dim);
    await ops.unary('silu', g, g, T * hidden);
    await ops.binary('mul', g, u, g, T * hidden);
    const down = await linear(ops, g, T, m.w2, l * dim * hidden, dim, hidden);
    await ops.binary('add', x, down, x, T * dim);
  }
  const xf = await rmsnorm(ops, x, T, dim, m.rmsFinal, 0);
  return linear(ops, xf, T, m.wcls, 0, m.vocab, dim);
}

export function argmaxRows(logits: Float32Array, T: number, vocab: number): number[] {
  const out: number[] = [];
  for (let t = 0; t < T; t++) {
    let best = 0;
    for (let j = 1; j < vocab; j++) if (logits[t * vocab + j]! > logits[t * vocab + best]!) best = j;
    out.push(best);
  }
  return out;
}

// ---- command line (Node) ----
const isMain = typeof process !== 'undefined' && process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!);
if (isMain) {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const { existsSync } = await import('node:fs');
  // same rule as dataDir() of @llmpress/tensor/testing (which pulls in vitest, so not imported here):
  // the repository's data/, then $LLMPRESS_DATA, then ../shared/data
  const dataDir = () =>
    [
      fileURLToPath(new URL('../../../data', import.meta.url)),
      process.env.LLMPRESS_DATA,
      fileURLToPath(new URL('../../../../shared/data', import.meta.url)),
    ].find((d) => d !== undefined && existsSync(join(d, 'stories260K', 'stories260K.bin'))) ?? fileURLToPath(new URL('../../../data', import.meta.url));
  const { createNodeWebGpuBackend } = await import('../src/node.js');
  const arg = (name: string, d: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1]! : d;
  };
  const modelPath = arg('model', join(dataDir(), 'stories260K', 'stories260K.bin'));
  const T = Number(arg('tokens', '64'));
  const model = parseLlama2c(new Uint8Array(readFileSync(modelPath)));
  const ref = JSON.parse(readFileSync(join(dataDir(), 'stories260K', 'reference.json'), 'utf8'));
  const ids: number[] = ref.greedy_from_bos.ids_including_leading_bos.slice(0, T + 1);
  const gpu = await createNodeWebGpuBackend({ onUnavailable: (r) => console.error(`WebGPU unavailable: ${r}`) });
  if (!gpu) process.exit(1);
  console.log(`adapter ${gpu.adapter.vendor}/${gpu.adapter.architecture}, gemm kernel ${gpu.gemmKernel}`);
  let t0 = performance.now();
  const lg = await forward(model, ids.slice(0, T), asyncOps(gpu));
  const tGpu = performance.now() - t0;
  const up0 = gpu.stats().uploadedBytes;
  const pinnedBytes = pinWeights(model, gpu);
  t0 = performance.now();
  const lp = await forward(model, ids.slice(0, T), asyncOps(gpu));
  const tPinned = performance.now() - t0;
  const upPinned = gpu.stats().uploadedBytes - up0 - pinnedBytes;
  let pinDiff = 0;
  for (let i = 0; i < lg.length; i++) pinDiff = Math.max(pinDiff, Math.abs(lg[i]! - lp[i]!));
  t0 = performance.now();
  const lr = await forward(model, ids.slice(0, T), asyncOps(referenceBackend));
  const tRef = performance.now() - t0;
  let diff = 0,
    scale = 0;
  for (let i = 0; i < lg.length; i++) {
    diff = Math.max(diff, Math.abs(lg[i]! - lr[i]!));
    scale = Math.max(scale, Math.abs(lr[i]!));
  }
  const am = argmaxRows(lg, T, model.vocab);
  const agree = am.filter((a, t) => a === ids[t + 1]).length;
  console.log(
    `pinned weights (${(pinnedBytes / 1024).toFixed(0)} KiB once): ${tPinned.toFixed(0)} ms, ${(upPinned / 1024).toFixed(0)} KiB uploaded per pass, logits identical to unpinned: ${pinDiff === 0}`,
  );
  console.log(
    `T=${T}: webgpu ${tGpu.toFixed(0)} ms, reference ${tRef.toFixed(0)} ms; max |logit diff| ${diff.toExponential(2)} (max |logit| ${scale.toFixed(2)}); greedy next-token agreement ${agree}/${T}`,
  );
  console.log('stats', JSON.stringify(gpu.stats()));
  await gpu.dispose();
}
