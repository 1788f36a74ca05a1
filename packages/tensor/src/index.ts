export * from './errors.js';
export * from './dtype.js';
export * from './tensor.js';
export * from './backend.js';
export * from './select.js';
export * from './ops.js';
export { Rng } from './random.js';
export { tolerance, dotTolerance } from './tolerance.js';
export { referenceBackend, createReferenceBackend } from './reference-backend.js';
export * from './linear.js';
export { Workspace, withWorkspace, type WorkspaceOptions } from './workspace.js';
export { gramAccumulate, type GramOptions } from './gram.js';
export {
  packInt4,
  unpackInt4,
  int4Groups,
  validateInt4Gemv,
  validateIntGemm,
  checkDim,
  checkLength,
  checkTyped,
  checkNumber,
  int4GemvReference,
  w4a8GemvReference,
  w4a4GemmReference,
  w4a8GemmReference,
  type PackedInt4,
} from './int4.js';
export {
  validateGemm,
  validateGemv,
  validateBinary,
  validateUnary,
  validateReduce,
  checkFloatArray,
  span,
  BINARY_OPS,
  UNARY_OPS,
  REDUCE_OPS,
} from './validate.js';
export { attentionReference, validateAttention } from './attention.js';
export { Fp32KVCache, attendGemm, type KVCacheLike, type CacheShape } from './kv-cache.js';
