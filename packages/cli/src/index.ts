export { main, EXIT, VERSION, HELP, CliError, UsageError, openModel, collectReportRows, type MainOptions } from './main.js';
export {
  compressWith,
  METHODS,
  METHOD_OPTIONS,
  ALL_KINDS,
  isMethod,
  quadActivations,
  groupLabel,
  type MethodName,
  type CompressRequest,
  type CompressOutcome,
} from './methods.js';
export { renderReport, type ReportData, type ReportRow } from './report/report.js';
export { normaliseRows } from './results.js';
export { createProgress, type Progress } from './progress.js';
export { inspectFile, checkFinite } from './inspect.js';
export { runDemo, generatedModel, DEMO_SPEC } from './demo.js';
export { modelFootprint, layerStoredBytes, linearParams, type Footprint } from './stored-bytes.js';
export { inputFootprint, isLinearTensor } from './footprint.js';
export { selectCliBackend } from './backend.js';
export { helpFor, parseCommand, type CommandSpec, type OptSpec } from './args.js';
