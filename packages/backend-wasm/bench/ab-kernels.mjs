// A/B timing of two builds of the GEMM kernels (ad-hoc tuning tool, not the benchmark):
//   node --experimental-wasm-relaxed-simd packages/backend-wasm/bench/ab-kernels.mjs a.wasm b.wasm "512,512,512;1024,1024,1024" 16 [transA transB]
// a.wasm / b.wasm: non-shared builds of assembly/index.ts (asc ... --importMemory; a name containing
// "shared" is instantiated on a shared memory). Calls sgemm directly on operands already in each
// module's memory, alternating A and B every repetition, and prints GFLOP per CPU-second (best/median)
// and the median of the per-pair time ratios A/B (> 1: B faster), plus max |C_A - C_B|.
import { readFileSync } from 'node:fs';
const [fa, fb, shapes, repsS, tA = '0', tB = '0'] = process.argv.slice(2);
const reps = Number(repsS);
function inst(f) {
  const sh = f.includes('shared');
  const mem = new WebAssembly.Memory(sh ? { initial: 2048, maximum: 65536, shared: true } : { initial: 2048 });
  const K = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(f)), { env: { memory: mem } }).exports;
  return { K, mem };
}
const X = [inst(fa), inst(fb)];
for (const sh of shapes.split(';')) {
  const [m, n, k] = sh.split(',').map(Number);
  const ta = +tA,
    tb = +tB;
  const res = X.map(({ K, mem }) => {
    let p = Math.max(65536, K.heapBase());
    const al = (b) => {
      const r = p;
      p += Math.ceil(b / 64) * 64;
      return r;
    };
    const scr = al(K.scratchBytes()),
      a = al(m * k * 4),
      b = al(k * n * 4),
      c = al(m * n * 4);
    const need = p - mem.buffer.byteLength;
    if (need > 0) mem.grow(Math.ceil(need / 65536));
    const A = new Float32Array(mem.buffer, a, m * k),
      B = new Float32Array(mem.buffer, b, k * n);
    let s = 1;
    for (let i = 0; i < A.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      A[i] = s / 2 ** 32 - 0.5;
    }
    for (let i = 0; i < B.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      B[i] = s / 2 ** 32 - 0.5;
    }
    const lda = ta ? m : k,
      ldb = tb ? k : n;
    const run = () => K.sgemm(ta, tb, m, n, k, 1, a, lda, b, ldb, 0, c, n, scr);
    return { run, C: () => new Float32Array(mem.buffer, c, m * n), times: [], cpu: [] };
  });
  for (const r of res) {
    r.run();
    r.run();
  }
  const c0 = res[0].C(),
    c1 = res[1].C();
  let maxd = 0,
    maxv = 0;
  for (let i = 0; i < c0.length; i++) {
    maxd = Math.max(maxd, Math.abs(c0[i] - c1[i]));
    maxv = Math.max(maxv, Math.abs(c0[i]));
  }
  const ratios = [];
  for (let r = 0; r < reps; r++) {
    const order = r & 1 ? [1, 0] : [0, 1];
    const t = [0, 0];
    for (const i of order) {
      const u0 = process.cpuUsage();
      res[i].run();
      const u = process.cpuUsage(u0);
      t[i] = (u.user + u.system) / 1e3;
      res[i].cpu.push(t[i]);
    }
    if (t[0] > 0 && t[1] > 0) ratios.push(t[0] / t[1]);
  }
  const med = (x) => {
    const s = [...x].sort((p, q) => p - q);
    return s[s.length >> 1];
  };
  const best = (x) => Math.min(...x.filter((v) => v > 0));
  const fl = (2 * m * n * k) / 1e6;
  console.log(
    `${m}x${n}x${k} t${ta}${tb}: A ${(fl / best(res[0].cpu)).toFixed(1)}/${(fl / med(res[0].cpu)).toFixed(1)}  B ${(fl / best(res[1].cpu)).toFixed(1)}/${(fl / med(res[1].cpu)).toFixed(1)} GFLOP/CPU-s best/med; speed-up B vs A median pair ratio ${med(ratios).toFixed(3)}  max|dC| ${maxd.toExponential(2)} (max|C| ${maxv.toFixed(2)})`,
  );
}
