/**
 * GPTQ's error-fed working copy, for the Q2N ablation "B from the working weights" (what the
 * authors' code does): column j of W as GPTQ saw it right before quantizing it, in the original
 * column order. It comes from `gptq` itself (`keepWorking`), so it always matches the quantizer's
 * codes (same damping, dead columns, act-order mode, groups and lazy updates).
 */
import { ArgumentError, Tensor } from '@llmpress/tensor';
import { gptq, type GptqOptions } from '@llmpress/quantizers';

/** The working weight [m, n] in ORIGINAL column order: column j as GPTQ saw it right before quantizing it. */
export function gptqWorkingWeights(weight: Tensor, gram: Tensor, options: GptqOptions): Tensor<'f64'> {
  const fn = 'gptqWorkingWeights';
  if (!(gram instanceof Tensor)) throw new ArgumentError(fn, 'gram', gram, 'must be a Tensor');
  const n = weight.shape[1]!;
  if (gram.ndim !== 2 || gram.shape[0] !== n || gram.shape[1] !== n) throw new ArgumentError(fn, 'gram', gram, `must be [${n}, ${n}]`);
  return gptq(weight, gram, { ...options, keepWorking: true }).working!;
}
