import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matmul, maxAbsDiff, randn, referenceBackend, tolerance, type Tensor } from '@llmpress/tensor';
import { matmulAsync, type WebGpuBackend } from '@llmpress/backend-webgpu';
import { createNodeWebGpuBackend, nodeWebGpuUnavailableReason } from '@llmpress/backend-webgpu/node';

describe('matmulAsync argument checks (no GPU needed)', () => {
  it('rejects non-matrices, f64 and mismatched inner dimensions', async () => {
    const a = randn([3, 4], { seed: 1, dtype: 'f32' }) as Tensor<'f32'>;
    await expect(matmulAsync(a, randn([5, 2], { seed: 2, dtype: 'f32' }) as Tensor<'f32'>, referenceBackend)).rejects.toThrow(
      /inner dimensions differ: a is \[3, 4\], b is \[5, 2\]/,
    );
    await expect(matmulAsync(a, randn([4], { seed: 2, dtype: 'f32' }) as Tensor<'f32'>, referenceBackend)).rejects.toThrow(/argument 'b' must be a matrix/);
    await expect(matmulAsync(a, randn([4, 2], { seed: 2, dtype: 'f64' }) as any, referenceBackend)).rejects.toThrow(/argument 'b' must be f32, got f64/);
  });
  it('falls back to the sync routine on a backend without gemmAsync', async () => {
    const a = randn([6, 5], { seed: 1, dtype: 'f32' }) as Tensor<'f32'>,
      b = randn([5, 4], { seed: 2, dtype: 'f32' }) as Tensor<'f32'>;
    expect(maxAbsDiff(await matmulAsync(a, b, referenceBackend), matmul(a, b, { backend: referenceBackend }))).toBe(0);
  });
});

const reason = await nodeWebGpuUnavailableReason();
(reason ? describe.skip : describe)(`matmulAsync on WebGPU${reason ? ` (skipped: ${reason})` : ''}`, () => {
  let b: WebGpuBackend;
  beforeAll(async () => {
    b = (await createNodeWebGpuBackend())!;
  }, 120_000);
  afterAll(async () => {
    await b?.dispose();
  });
  it('handles transposed, sliced and strided views like the tensor matmul', async () => {
    const A = randn([40, 30], { seed: 1, dtype: 'f32' }) as Tensor<'f32'>,
      B = randn([30, 20], { seed: 2, dtype: 'f32' }) as Tensor<'f32'>;
    const cases: [Tensor<'f32'>, Tensor<'f32'>][] = [
      [A, B],
      [A.T.contiguous().T, B.T.contiguous().T], // transposed storage
      [A.slice([5, 25], [3, 20]), B.slice([3, 20], null)], // offsets + leading dims
      [A.slice([0, 40, 2], null), B], // row stride 60: still a plain leading dimension
      [A.slice(null, [0, 30, 2]), B.slice([0, 30, 2], null)], // column stride 2: copied
    ];
    for (const [x, y] of cases) {
      const got = await matmulAsync(x, y, b),
        want = matmul(x, y, { backend: referenceBackend });
      expect(got.shape).toEqual(want.shape);
      expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(tolerance('f32', x.shape[1]!, 40) * Math.sqrt(x.shape[1]!));
    }
  });
});
