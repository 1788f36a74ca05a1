export * from './pack.js';
export * from './scheme.js';
export * from './quantized-linear.js';
export * from './rtn.js';
