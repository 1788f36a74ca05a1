// Tensors, O(1) views, matmul on the reference backend, typed errors.
import { randn, matmul, maxAbsDiff, tolerance, ShapeError, referenceBackend } from '@llmpress/tensor';
import { check } from '../check.js';

const a = randn([64, 32], { seed: 1, dtype: 'f64' });
const b = randn([32, 16], { seed: 2, dtype: 'f64' });
const c = matmul(a, b, { backend: referenceBackend });
// (AB)ᵀ = BᵀAᵀ, computed from transposed *views* (no copies)
const ct = matmul(b.T, a.T);
console.log(`C is [${c.shape}], Cᵀ via views is [${ct.shape}], max |C − (BᵀAᵀ)ᵀ| = ${maxAbsDiff(c, ct.T.contiguous()).toExponential(2)}`);
check(maxAbsDiff(c, ct.T.contiguous()) <= tolerance('f64', 32), '(AB)ᵀ = BᵀAᵀ within the f64 tolerance');
try {
  matmul(a, a);
} catch (e) {
  check(ShapeError.isInstance(e) && /matmul: inner dimensions differ/.test((e as Error).message), `bad shapes give a typed error: ${(e as Error).message}`);
}
