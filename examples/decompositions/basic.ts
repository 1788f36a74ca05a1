// SVD, eigh and Cholesky, with the checks a numerical engineer would make.
import { randn, matmul, maxAbsDiff, norm, mul, tolerance } from '@llmpress/tensor';
import { svd, eigh, cholesky } from '@llmpress/decompositions';
import { check } from '../check.js';

const a = randn([120, 80], { seed: 3, dtype: 'f64' });
const { u, s, vt } = svd(a, { vectors: 'thin' });
const rec = matmul(mul(u, s), vt); // U diag(s) Vᵀ
const err = maxAbsDiff(rec, a);
console.log(`svd: σ₁ = ${s.data[0]!.toFixed(4)}, σ_min = ${s.data[s.size - 1]!.toFixed(4)}, max |A − UΣVᵀ| = ${err.toExponential(2)}`);
check(err <= tolerance('f64', [120, 80]) * norm(a), 'SVD reconstructs A to c·eps·√max(m,n)·‖A‖');
const g = matmul(a.T, a); // an SPD Gram matrix
const { values } = eigh(g, { order: 'descending' });
console.log(`eigh: λ₁ = ${values.data[0]!.toFixed(3)} = σ₁² = ${(s.data[0]! ** 2).toFixed(3)}`);
check(Math.abs(values.data[0]! - s.data[0]! ** 2) <= 1e-8 * values.data[0]!, 'eigenvalues of AᵀA are the squared singular values');
const { l } = cholesky(g);
check(maxAbsDiff(matmul(l, l.T), g) <= tolerance('f64', 80) * norm(g), 'Cholesky: L Lᵀ = G');
