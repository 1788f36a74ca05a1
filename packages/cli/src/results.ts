/**
 * Normalises the tables the eval commands write (`results/*.json`) into report rows. Each eval
 * writes an array of rows (or `{ rows: [...] }`); field names differ a little between methods, so
 * this reads the common ones: method, ratio/bits/budget/setting, bytes, ppl, kl, top1.
 */
import type { ReportRow } from './report/report.js';

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export function normaliseRows(source: string, json: unknown, denseLinearBytes?: number): ReportRow[] {
  const arr: any[] = Array.isArray(json) ? json : Array.isArray((json as any)?.rows) ? (json as any).rows : [];
  const out: ReportRow[] = [];
  for (const r of arr) {
    if (!r || typeof r !== 'object') continue;
    const ppl = num(r.ppl) ?? num(r.perplexity);
    if (ppl === undefined) continue;
    const method = String(r.method ?? r.name ?? source);
    const setting = r.setting !== undefined ? String(r.setting)
      : r.ratio !== undefined ? `${Math.round(Number(r.ratio) * 100)}% removed`
      : r.bits !== undefined ? `${r.bits} bits${r.groupSize ? ` g${r.groupSize}` : ''}`
      : r.budget !== undefined ? `budget ${r.budget}` : '';
    out.push({
      method, setting, source, ppl,
      bytes: num(r.bytes) ?? num(r.keyBytes) ?? num(r.storedBytes),
      denseBytes: num(r.denseBytes) ?? num(r.fp32KeyBytes) ?? num(r.referenceBytes) ?? denseLinearBytes,
      bitsPerWeight: num(r.bitsPerWeight) ?? num(r.effectiveBits) ?? num(r.bits_per_weight),
      kl: num(r.kl), top1: num(r.top1),
      components: r.components && typeof r.components === 'object' ? r.components : undefined,
    });
  }
  return out;
}
