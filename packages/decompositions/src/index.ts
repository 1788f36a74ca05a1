/**
 * @llmpress/decompositions — QR, Cholesky, symmetric eigendecomposition, SVD (thin, full, truncated,
 * randomized) and helpers (pinv, lstsq, SPD square roots, null/range bases, whitening), f32 and f64,
 * with the heavy lifting through the backend's GEMM.
 */
export { qr, type QrOptions, type QrResult } from './qr.js';
export {
  cholesky,
  choleskyInPlace,
  solveTriangular,
  choleskySolve,
  choleskyInverse,
  type CholeskyOptions,
  type CholeskyResult,
  type TriangularOptions,
} from './cholesky.js';
export { eigh, eigvalsh, type EighOptions, type EighResult } from './eigh.js';
export { svd, svdvals, truncatedSvd, type SvdOptions, type SvdResult } from './svd.js';
export { randomizedSvd, type RandomizedSvdOptions } from './randomized.js';
export { pinv, lstsq, spdSqrt, nullSpace, rangeBasis, whiten, type LstsqResult, type WhitenOptions, type WhitenResult } from './helpers.js';
export { SingularMatrixError } from './internal/util.js';
