/**
 * `matmulAsync`: the async counterpart of the tensor package's 2-D `matmul`, for backends whose
 * GEMM is async (WebGPU). Strided views are passed to GEMM as they are whenever one of their
 * strides is 1 (a transposed view becomes `transA`/`transB`, a row slice an offset and a leading
 * dimension); other views are copied first.
 */
import { ArgumentError, DTypeError, ShapeError, Tensor, routine, type Backend, type GemmArgs } from '@llmpress/tensor';

function operand(t: Tensor<'f32'>): { data: Float32Array; offset: number; ld: number; trans: boolean } {
  const [r, c] = t.shape as [number, number];
  const [s0, s1] = t.strides as [number, number];
  if ((s1 === 1 || c === 1) && s0 >= Math.max(1, c)) return { data: t.data, offset: t.offset, ld: Math.max(1, s0, c), trans: false };
  if ((s0 === 1 || r === 1) && s1 >= Math.max(1, r)) return { data: t.data, offset: t.offset, ld: Math.max(1, s1, r), trans: true };
  const cc = t.contiguous(true);
  return { data: cc.data, offset: 0, ld: Math.max(1, c), trans: false };
}

/** C = A · B for f32 matrices A [m, k] and B [k, n] (any views), on `backend.gemmAsync` when it has one. */
export async function matmulAsync(a: Tensor<'f32'>, b: Tensor<'f32'>, backend: Backend): Promise<Tensor<'f32'>> {
  const fn = 'matmulAsync';
  for (const [name, t] of [
    ['a', a],
    ['b', b],
  ] as const) {
    if (!(t instanceof Tensor)) throw new ArgumentError(fn, name, t, 'must be a Tensor');
    if (t.dtype !== 'f32') throw new DTypeError(fn, `argument '${name}' must be f32, got ${t.dtype}`);
    if (t.ndim !== 2) throw new ShapeError(fn, `argument '${name}' must be a matrix, got shape [${t.shape.join(', ')}]`);
  }
  const [m, k] = a.shape as [number, number];
  const [k2, n] = b.shape as [number, number];
  if (k !== k2) throw new ShapeError(fn, `inner dimensions differ: a is [${m}, ${k}], b is [${k2}, ${n}]`);
  const c = new Float32Array(m * n);
  if (m > 0 && n > 0) {
    const A = operand(a),
      B = operand(b);
    const args: GemmArgs = {
      transA: A.trans,
      transB: B.trans,
      m,
      n,
      k,
      alpha: 1,
      a: A.data,
      aOffset: A.offset,
      lda: A.ld,
      b: B.data,
      bOffset: B.offset,
      ldb: B.ld,
      beta: 0,
      c,
      cOffset: 0,
      ldc: n,
    };
    if (backend.gemmAsync) await backend.gemmAsync(args);
    else routine(backend, 'gemm')(args);
  }
  return new Tensor('f32', c, [m, n]);
}
