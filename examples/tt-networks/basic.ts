// A TT-matrix of a known low-TT-rank weight is exact; the TT layer's forward never forms the dense weight.
import { randn, matmul, maxAbsDiff, Tensor } from '@llmpress/tensor';
import { ttMatrixFromDense, ttMatrixToDense, TTLinear } from '@llmpress/tt-networks';
import { check } from '../check.js';

// build W = kron(A, B) — TT rank 1 in the interleaved (row, col) digit ordering
const A = randn([8, 16], { seed: 1, dtype: 'f64' }),
  B = randn([8, 16], { seed: 2, dtype: 'f64' });
const m = 64,
  n = 256,
  w = new Float64Array(m * n);
for (let i = 0; i < 8; i++)
  for (let j = 0; j < 16; j++) for (let k = 0; k < 8; k++) for (let l = 0; l < 16; l++) w[(i * 8 + k) * n + j * 16 + l] = A.get(i, j) * B.get(k, l);
const tt = ttMatrixFromDense(w, m, n, [8, 8], [16, 16], { eps: 1e-12 });
console.log(`TT ranks [${tt.ranks}], ${tt.cores.reduce((a, c) => a + c.length, 0)} core values for a ${m}×${n} matrix`);
const back = ttMatrixToDense(tt);
let e = 0;
for (let i = 0; i < w.length; i++) e = Math.max(e, Math.abs(back[i]! - w[i]!));
check(tt.ranks[1] === 1 && e < 1e-10, 'TT-SVD recovers a Kronecker product exactly with rank 1');
const layer = TTLinear.fromTT(tt);
const x = randn([5, n], { seed: 3 });
const y = layer.forward(x as Tensor<'f32'>),
  yd = matmul(x, new Tensor('f32', Float32Array.from(w), [m, n]).T);
check(maxAbsDiff(y, yd) < 1e-3, `TT forward equals the dense product (max diff ${maxAbsDiff(y, yd).toExponential(2)}), ${layer.bytes()} bytes vs ${m * n * 4}`);
