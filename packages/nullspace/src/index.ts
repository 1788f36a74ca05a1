export { activationNullSpace, NullProjector, type NullSpace, type NullSpaceOptions, type NullSpaceDiagnostics, type NullSpaceRule } from './nullspace.js';
export { q2nLayer, q2nRowScales, foldRowScales, type Q2nOptions, type Q2nReport } from './q2n.js';
export {
  q2nModel,
  withQ2n,
  quantizeWithGrams,
  applyQ2n,
  type Q2nModelOptions,
  type WithQ2nReport,
  type BaseQuantizer,
  type QuantizedLayerRecord,
  type BaseQuantOptions,
  type ModelQ2nOptions,
} from './model-q2n.js';
export { gptqWorkingWeights } from './gptq-working.js';
