// The public API of @llmpress/quantizers, by name (issue 21): a helper exported from a module is not public until it
// is listed here. Internal helpers stay module-private to the package.
export { checkBits, packedRowBytes, packBits, unpackRow, unpackBits, type Bits, SUPPORTED_BITS } from './pack.js';
export {
  groupCount,
  resolveSpec,
  storeScale,
  groupParams,
  quantCode,
  dequant,
  type ScaleDType,
  type QuantGrid,
  type QuantSpec,
  type ResolvedSpec,
  type GroupParams,
} from './scheme.js';
export { type QuantizedLinearParts, QuantizedLinear } from './quantized-linear.js';
export { rtnQuantize, type RtnOptions } from './rtn.js';
export { inverseUpperCholesky, lowerInverseInPlace, randomOrthogonal, gramAccumulate, NotPositiveDefiniteError } from './linalg.js';
export { fwht, hadamardRotation, randomRotation, type Rotation, HadamardRotation, DenseRotation, KroneckerRotation, BlockRotation } from './rotation.js';
export { quantizeActivations, fakeQuantActivations, type ActQuantOptions } from './act-quant.js';
export { backendIntegerForward, integerForward, type QuantActLinearParts, QuantActLinear } from './act-linear.js';
export { gptq, gptqQuantize, proxyLoss, type GptqOptions, type GptqReport } from './gptq.js';
export {
  actFor,
  rtnLayer,
  gptqLayer,
  rtnModel,
  gptqModel,
  type ActivationPlan,
  type ModelDriverOptions,
  type RtnReport,
  type RtnModelOptions,
  GPTQ_MODEL_DEFAULTS,
  type GptqModelOptions,
} from './model-quant.js';
export {
  fuseNorms,
  normOutputCovariance,
  outlierBasis,
  changeResidualBasis,
  quadRotate,
  quadLayer,
  quantizeRotated,
  quadModel,
  refitOutliers,
  onlineRotationBytes,
  type OutlierBasis,
  type RotatedModel,
  type RotateOptions,
  type QuadLayerOptions,
  type QuadLayerReport,
  type QuantizeRotatedOptions,
  QUAD_A4,
  QUAD_A4A8,
  type QuadModelOptions,
} from './quad.js';
