export { describeBackendConformance, type ConformanceOptions } from './conformance.js';
export { dataDir, hasData } from './data.js';
