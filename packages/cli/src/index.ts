export { main, EXIT, openModel, collectReportRows } from './main.js';
export { compressWith, METHODS, ALL_KINDS, isMethod, type MethodName, type CompressRequest, type CompressOutcome } from './methods.js';
export { renderReport, type ReportData, type ReportRow } from './report/report.js';
export { normaliseRows } from './results.js';
export { createProgress, type Progress } from './progress.js';
export { inspectFile } from './inspect.js';
export { runDemo, generatedModel } from './demo.js';
