export { renderReport, compressionRatio, type ReportData, type ReportRow } from './report.js';
export { lineChart, stackedBars, type Series, type Bar } from './svg.js';
