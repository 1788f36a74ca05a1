export {
  ttSvd, ttRound, ttToDense, ttDot, ttNorm, ttParams,
  ttMatrixFromDense, ttMatrixToDense, ttMatrixParams, interleaveOffsets,
  factorizations, balancedFactorizations, fullRanks, searchTTShape, ttCandidates, bestCandidate,
  type TT, type TTMatrix, type TTTruncation, type TTSvdResult, type ShapeSearchOptions, type ShapeSearchResult, type ShapeCandidate,
} from './tt.js';
export { TTLinear } from './tt-linear.js';
export { CsrMatrix, Sparse24Matrix, deserializeSparse, indexWidth, topK, type SparseMatrix } from './sparse.js';
export { TTSparseLinear, LowRankSparseLinear } from './layers.js';
export {
  planLayer, planErrors, fitTT, fitLowRank, kroneckerFactors, applyKronecker,
  type LayerPlan, type LayerPlanOptions, type FitOptions, type FitReport, type FitResult, type SparseKind,
} from './saten.js';
export {
  compressModelTT, satenLayer, satenModel,
  type TTMethod, type CompressTTOptions, type CompressTTResult, type CompressibleModel, type SatenLayerOptions, type SatenStats, type SatenModelOptions,
} from './compress.js';
