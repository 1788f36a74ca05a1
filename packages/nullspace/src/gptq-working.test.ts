import { describe, it, expect } from 'vitest';
import { Tensor, maxAbsDiff } from '@llmpress/tensor';
import { gptq, rtnQuantize, quantCode } from '@llmpress/quantizers';
import { gptqWorkingWeights } from './gptq-working.js';
import { lowRankInputs, gramOf, randomWeight } from './testutil.js';

describe('gptqWorkingWeights (GPTQ working copy for the working-copy ablation)', () => {
  for (const [actOrder, groupSize] of [
    [false, 0],
    [true, 8],
    ['dynamic', 8],
    [true, 0],
    [false, 16],
    [false, 12],
  ] as const) {
    it(`matches gptq exactly (actOrder ${actOrder}, groupSize ${groupSize}): re-quantizing the working copy gives gptq's codes`, () => {
      const W = randomWeight(10, 32, 5);
      const G = gramOf(lowRankInputs(32, 20, 60, 6, 0.05));
      const opts = { bits: 3 as const, groupSize, actOrder, scaleDtype: 'f32' as const, blockSize: 8 };
      const ref = gptq(W, G, opts).layer.toDense();
      const work = gptqWorkingWeights(W, G, opts);
      // the working copy differs from W (error feedback) ...
      expect(maxAbsDiff(work, W.astype('f64'))).toBeGreaterThan(1e-3);
      // ... and re-quantizing each working value with GPTQ's own scale/zero gives exactly GPTQ's code
      const layer = gptq(W, G, opts).layer;
      const z = layer.decodedZeros();
      const inv = new Int32Array(32);
      for (let i = 0; i < 32; i++) inv[layer.perm ? layer.perm[i]! : i] = i; // original column → stored position
      let mismatches = 0;
      for (let r = 0; r < 10; r++)
        for (let j = 0; j < 32; j++) {
          const g = Math.floor(inv[j]! / layer.groupSize);
          const sc = layer.scale(r, g),
            zz = z[r * layer.nGroups + g]!;
          const code = Math.round(ref.data[r * 32 + j]! / sc + zz);
          const mine = quantCode(work.data[r * 32 + j]!, sc, zz, 7, 0);
          if (code !== mine) mismatches++;
        }
      expect(mismatches).toBe(0);
      // and it is not just RTN of W
      expect(maxAbsDiff(ref, rtnQuantize(W, { bits: 3, groupSize, scaleDtype: 'f32' }).toDense())).toBeGreaterThan(0);
      void Tensor;
    });
  }
});
