export { LowRankLinear, type LowRankOptions, type LowRankMethod } from './low-rank.js';
export { rankFromRatio, rankFromEnergy, type RankSpec } from './rank.js';
export {
  svdLlm, svdLlmFactor, svdLlmFactorFromInputs, svdLowRank, svdLowRankFactor, asvd, asvdFactor,
  type SvdLlmOptions, type AsvdOptions, type FactorOptions, type LowRankReport, type LowRankResult, type Whitening, type SvdLlmRoute, type LowRankMethodName,
} from './svd-llm.js';
export { updateLowRank, updateObjective, type UpdateStats, type UpdateOptions, type UpdateReport } from './update.js';
export {
  compressModel, lowRankKinds,
  type CompressModelOptions, type CompressModelResult, type CompressProgress, type CompressedLayerInfo, type Windows,
} from './compress-model.js';
