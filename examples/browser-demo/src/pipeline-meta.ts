/**
 * Method names for the page (kept apart from pipeline.ts so the page bundle stays small): every method
 * the CLI offers (packages/cli/src/methods.ts; pipeline.test.ts checks the lists match).
 */
export const DEMO_METHODS = [
  'svd-llm',
  'svd-llm-update',
  'svd',
  'asvd',
  'tt',
  'saten',
  'saten-2:4',
  'rtn',
  'gptq',
  'q2n-rtn',
  'q2n-gptq',
  'quad',
  'quad-a8',
] as const;
export type DemoMethod = (typeof DEMO_METHODS)[number];
export const METHOD_LABELS: Record<DemoMethod, string> = {
  'svd-llm': 'SVD-LLM (whitened SVD)',
  'svd-llm-update': 'SVD-LLM + update',
  svd: 'SVD (plain truncation)',
  asvd: 'ASVD (activation-aware)',
  tt: 'TT (tensor train)',
  saten: 'Saten (TT + sparse)',
  'saten-2:4': 'Saten (TT + 2:4 sparse)',
  rtn: 'RTN (round to nearest)',
  gptq: 'GPTQ',
  'q2n-rtn': 'RTN + Q2N',
  'q2n-gptq': 'GPTQ + Q2N',
  quad: 'QUAD W·A4',
  'quad-a8': 'QUAD W·A8',
};
/** Which setting a method takes: 'ratio' (parameters removed), 'size' (stored bytes removed, TT methods) or 'bits'. */
export function methodKnob(m: DemoMethod): 'ratio' | 'size' | 'bits' {
  return m === 'svd-llm' || m === 'svd-llm-update' || m === 'svd' || m === 'asvd'
    ? 'ratio'
    : m === 'tt' || m === 'saten' || m === 'saten-2:4'
      ? 'size'
      : 'bits';
}
/** True for the methods set by a size fraction (low-rank and TT) rather than bits. */
export const isLowRank = (m: DemoMethod) => methodKnob(m) !== 'bits';
