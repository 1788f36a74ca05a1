/** Method names for the page (kept apart from pipeline.ts so the page bundle stays small). */
export const DEMO_METHODS = ['svd-llm', 'svd', 'asvd', 'rtn', 'gptq'] as const;
export type DemoMethod = (typeof DEMO_METHODS)[number];
export const METHOD_LABELS: Record<DemoMethod, string> = { 'svd-llm': 'SVD-LLM', svd: 'SVD', asvd: 'ASVD', rtn: 'RTN', gptq: 'GPTQ' };
export const isLowRank = (m: DemoMethod) => m === 'svd-llm' || m === 'svd' || m === 'asvd';
