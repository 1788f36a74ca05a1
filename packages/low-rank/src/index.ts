/**
 * @llmpress/low-rank — low-rank compression of LLM linears: SVD-LLM (truncation-aware whitening +
 * the closed-form sequential update), ASVD and plain truncated SVD, per layer (`svdLlmLayer`,
 * `asvdLayer`, `svdLayer`) and per model (`svdLlmModel`, `asvdModel`, `svdModel`) on the one driver
 * of @llmpress/models.
 */
export { LowRankLinear, type LowRankOptions, type LowRankMethod } from './low-rank.js';
export { rankFromRatio, rankFromEnergy, type RankSpec } from './rank.js';
export {
  svdLlm,
  svdLlmFactor,
  svdLlmFactorFromInputs,
  svdLowRank,
  svdLowRankFactor,
  asvd,
  asvdFactor,
  type SvdLlmOptions,
  type AsvdOptions,
  type FactorOptions,
  type LowRankReport,
  type LowRankResult,
  type Whitening,
  type SvdLlmRoute,
  type LowRankMethodName,
} from './svd-llm.js';
export { updateLowRank, updateObjective, type UpdateStats, type UpdateOptions, type UpdateReport } from './update.js';
export {
  svdLlmLayer,
  asvdLayer,
  svdLayer,
  svdLlmModel,
  asvdModel,
  svdModel,
  type LowRankStats,
  type LowRankLayerReport,
  type LowRankLayerResult,
  type SvdLlmLayerOptions,
  type AsvdLayerOptions,
  type SvdLayerOptions,
  type SvdLlmModelOptions,
  type AsvdModelOptions,
  type SvdModelOptions,
} from './methods.js';
export {
  compressModel,
  lowRankKinds,
  type CompressModelOptions,
  type CompressModelResult,
  type CompressProgress,
  type CompressedLayerInfo,
  type Windows,
} from './compress-model.js';
