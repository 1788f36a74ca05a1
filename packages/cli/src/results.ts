/**
 * Normalises the tables the eval commands write (`results/*.json`) into report rows. Each eval
 * writes an array of rows (or `{ rows: [...] }`); field names differ a little between methods, so
 * this reads the common ones: method, ratio/bits/budget/setting, bytes, ppl, kl, top1. The section's
 * own uncompressed row (method 'dense'/'fp32', or a top-level `dense`) is kept as its baseline, and
 * gives the section's dense bytes where rows do not carry them.
 */
import type { ReportRow } from './report/report.js';

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

const isBaseline = (r: any): boolean => {
  const m = String(r.method ?? r.name ?? '').toLowerCase();
  return m === 'dense' || m === 'fp32' || r.group === 'baseline' || r.key === 'dense' || (r.ratio === 0 && num(r.kl) === 0);
};

export function normaliseRows(source: string, json: unknown, denseLinearBytes?: number): ReportRow[] {
  const top = json && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, any>) : {};
  const arr: any[] = Array.isArray(json) ? json : Array.isArray(top.rows) ? top.rows : [];
  const out: ReportRow[] = [];
  // the section's dense bytes: a baseline row's bytes, or a top-level field
  const baseRow = arr.find((r) => r && typeof r === 'object' && isBaseline(r));
  const topDense =
    num(top.denseLinearBytes) ??
    (num(top.denseLinearWeights) !== undefined ? 4 * num(top.denseLinearWeights)! : undefined) ??
    num(top.dense?.bytes) ??
    num(top.dense?.linearBytes);
  const sectionDense = num(baseRow?.bytes) ?? num(baseRow?.linearBytes) ?? num(baseRow?.fp32KeyBytes) ?? topDense ?? denseLinearBytes;
  if (!baseRow && num(top.dense?.ppl) !== undefined) {
    out.push({
      method: 'dense',
      setting: 'f32',
      source,
      ppl: top.dense.ppl,
      bytes: sectionDense,
      denseBytes: sectionDense,
      bitsPerWeight: 32,
      kl: 0,
      top1: 1,
      baseline: true,
    });
  }
  for (const r of arr) {
    if (!r || typeof r !== 'object') continue;
    const ppl = num(r.ppl) ?? num(r.perplexity);
    if (ppl === undefined) continue;
    const method = String(r.method ?? r.name ?? source);
    const variant = typeof r.variant === 'string' && r.variant !== '-' && r.variant !== 'base' ? ` (${r.variant})` : '';
    const setting =
      (r.setting !== undefined
        ? String(r.setting)
        : r.ratio !== undefined
          ? `${Math.round(Number(r.ratio) * 100)}% removed`
          : r.bits !== undefined
            ? `${r.bits} bits${r.groupSize ? ` g${r.groupSize}` : ''}`
            : r.budget !== undefined
              ? `budget ${r.budget}`
              : '') + variant;
    const linear = num(r.linearBytes);
    const rot = num(r.onlineRotationBytes);
    const bytes = num(r.bytes) ?? num(r.keyBytes) ?? num(r.storedBytes) ?? (linear !== undefined ? linear + (rot ?? 0) : undefined);
    let components = r.components && typeof r.components === 'object' ? (r.components as Record<string, number>) : undefined;
    if (!components && linear !== undefined && rot) components = { 'quantized linears': linear, 'online rotations': rot };
    out.push({
      method,
      setting,
      source,
      ppl,
      bytes,
      denseBytes: num(r.denseBytes) ?? num(r.fp32KeyBytes) ?? num(r.referenceBytes) ?? sectionDense,
      bitsPerWeight: num(r.bitsPerWeight) ?? num(r.effectiveBits) ?? num(r.bits_per_weight) ?? num(r.keyBitsPerElement),
      kl: num(r.kl),
      top1: num(r.top1),
      components,
      ...(isBaseline(r) ? { baseline: true } : {}),
    });
  }
  return out;
}
