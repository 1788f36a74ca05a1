export { describeBackendConformance, type ConformanceOptions } from './conformance.js';
