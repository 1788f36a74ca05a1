export * from './errors.js';
export * from './dtype.js';
export * from './tensor.js';
export * from './backend.js';
export * from './select.js';
export * from './ops.js';
export { Rng } from './random.js';
export { tolerance, dotTolerance } from './tolerance.js';
export { referenceBackend, createReferenceBackend } from './reference-backend.js';
