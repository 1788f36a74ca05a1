export {
  ttSvd, ttRound, ttToDense, ttDot, ttNorm, ttParams,
  ttMatrixFromDense, ttMatrixToDense, ttMatrixParams, interleaveOffsets,
  factorizations, balancedFactorizations, fullRanks, searchTTShape,
  type TT, type TTMatrix, type TTTruncation, type TTSvdResult, type ShapeSearchOptions, type ShapeSearchResult,
} from './tt.js';
export { TTLinear } from './tt-linear.js';
export { CsrMatrix, Sparse24Matrix, deserializeSparse, indexWidth, topK, type SparseMatrix } from './sparse.js';
export { TTSparseLinear, LowRankSparseLinear } from './layers.js';
