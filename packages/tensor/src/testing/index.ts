export { describeBackendConformance, type ConformanceOptions } from './conformance.js';
export { dataDir, dataPath, dataRoots, findData, formatsDir, formatsSkipReason, hasData, hasFormats } from './data.js';
