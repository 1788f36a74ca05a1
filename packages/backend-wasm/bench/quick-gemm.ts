/**
 * Quick before/after timing of the f32 GEMM on one thread (not the benchmark: no peers, no table).
 * `pnpm exec tsx packages/backend-wasm/bench/quick-gemm.ts [--sizes 512,1024] [--reps 15] [--simd]`
 * Prints median and best GFLOP/s for plain JS operands (copied in/out per call) and resident operands,
 * and (`--peak`) the ceiling: a WASM loop of 12 independent f32x4.relaxed_madd chains, no loads.
 */
import { createWasmBackend } from '../src/node.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : def;
};
const sizes = opt('--sizes', '512,1024')
  .split(',')
  .map((s) => s.split('x').map(Number));
const reps = Number(opt('--reps', '15'));
const be = (await createWasmBackend({ threads: 1, relaxedSimd: !args.includes('--simd') }))!;
console.log(`features: ${be.capabilities.features.join(', ')}`);
function fill(a: Float32Array, seed: number) {
  let s = seed;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}
if (args.includes('--peak')) {
  // compiled here with asc (dev dependency) so the number is reproducible; relaxed SIMD is on via node.ts
  const asc = (await import('assemblyscript/asc')).default;
  const acc = Array.from({ length: 12 }, (_, i) => `c${i}`);
  const src = `export function peak(n: i32): f32 {
    ${acc.map((c) => `let ${c} = f32x4.splat(0);`).join(' ')}
    const a = f32x4.splat(1.0000001), b = f32x4.splat(0.999999);
    for (let i = 0; i < n; i++) { ${acc.map((c) => `${c} = f32x4.relaxed_madd(a, b, ${c});`).join(' ')} }
    let s = c0; ${acc
      .slice(1)
      .map((c) => `s = f32x4.add(s, ${c});`)
      .join(' ')}
    return f32x4.extract_lane(s, 0);
  }`;
  const { binary, stderr } = await asc.compileString(src, { optimizeLevel: 3, runtime: 'stub', noAssert: true, enable: ['simd', 'relaxed-simd'] } as any);
  if (!binary) throw new Error(`peak kernel did not compile: ${stderr.toString()}`);
  const K = new WebAssembly.Instance(new WebAssembly.Module(binary as BufferSource), {}).exports as { peak(n: number): number };
  K.peak(1e6);
  const g: number[] = [];
  for (let r = 0; r < 7; r++) {
    const n = 2e7,
      c0 = process.cpuUsage();
    K.peak(n);
    const d = process.cpuUsage(c0);
    g.push((n * 12 * 8) / ((d.user + d.system) * 1e3));
  }
  g.sort((x, y) => x - y);
  console.log(`128-bit FMA ceiling (12 independent f32x4.relaxed_madd chains): median ${g[3]!.toFixed(1)}, best ${g[6]!.toFixed(1)} GFLOP per CPU-second`);
}
for (const sz of sizes) {
  const [m, n = m, k = m] = sz as [number, number?, number?];
  const A = fill(new Float32Array(m * k), 1),
    B = fill(new Float32Array(k * n), 2),
    C = new Float32Array(m * n);
  const Ar = be.allocate!('f32', m * k) as Float32Array,
    Br = be.allocate!('f32', k * n) as Float32Array,
    Cr = be.allocate!('f32', m * n) as Float32Array;
  Ar.set(A);
  Br.set(B);
  const run = (a: Float32Array, b: Float32Array, c: Float32Array) =>
    be.gemm({ transA: false, transB: false, m, n, k, alpha: 1, a, aOffset: 0, lda: k, b, bOffset: 0, ldb: n, beta: 0, c, cOffset: 0, ldc: n });
  const tc: number[] = [],
    tr: number[] = [],
    cc: number[] = [],
    cr: number[] = [];
  run(A, B, C);
  run(Ar, Br, Cr);
  for (let r = 0; r < reps; r++) {
    let c0 = process.cpuUsage(),
      t = performance.now();
    run(A, B, C);
    tc.push(performance.now() - t);
    let dc = process.cpuUsage(c0);
    cc.push((dc.user + dc.system) / 1000);
    c0 = process.cpuUsage();
    t = performance.now();
    run(Ar, Br, Cr);
    tr.push(performance.now() - t);
    dc = process.cpuUsage(c0);
    cr.push((dc.user + dc.system) / 1000);
  }
  // spot check against f64 dot products
  for (let t = 0; t < 8; t++) {
    const i = (t * 7919) % m,
      j = (t * 104729) % n;
    let s = 0,
      bd = 0;
    for (let p = 0; p < k; p++) {
      s += A[i * k + p]! * B[p * n + j]!;
      bd += Math.abs(A[i * k + p]! * B[p * n + j]!);
    }
    if (Math.abs(C[i * n + j]! - s) > 4 * (k + 2) * 2 ** -23 * bd || Math.abs(Cr[i * n + j]! - s) > 4 * (k + 2) * 2 ** -23 * bd)
      throw new Error(`wrong result at ${i},${j}`);
  }
  const g = (ts: number[]) => {
    const s = [...ts].sort((x, y) => x - y);
    const f = (2 * m * n * k) / 1e6;
    return `median ${(f / s[s.length >> 1]!).toFixed(1)} best ${(f / s[0]!).toFixed(1)}`;
  };
  const h = (ts: number[]) => {
    const s = ts.filter((x) => x > 0).sort((x, y) => x - y);
    const f = (2 * m * n * k) / 1e6;
    return `${(f / s[s.length >> 1]!).toFixed(1)}/${(f / s[0]!).toFixed(1)}`;
  };
  console.log(`${m}x${n}x${k}: copy-in ${g(tc)} (per CPU-s med/best ${h(cc)}) | resident ${g(tr)} (per CPU-s ${h(cr)}) GFLOP/s`);
  be.release(Ar);
  be.release(Br);
  be.release(Cr);
}
await be.dispose();
