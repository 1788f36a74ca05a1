/**
 * The self-contained HTML report (no scripts, no external assets): perplexity against compression
 * per method, singular-value spectra, per-layer error, bytes per component, and the full table.
 * Web-safe: takes plain data, returns a string.
 */
import { lineChart, stackedBars, esc, type Series, type Bar } from './svg.js';

export interface ReportRow {
  /** Family shown in plots, e.g. 'SVD-LLM + update', 'GPTQ', 'SVDq'. */
  method: string;
  /** Human setting, e.g. '40% removed', 'W4 g32', '1.25 bits'. */
  setting: string;
  /** Which table this row came from (svd-llm, saten, quad, q2n, kv, demo). */
  source: string;
  /** Stored bytes of the compressed parts (weights) or of the key cache (kv). */
  bytes?: number;
  /** Bytes of the same parts uncompressed (dense f32), for the compression ratio. */
  denseBytes?: number;
  bitsPerWeight?: number;
  ppl: number;
  kl?: number;
  top1?: number;
  /** Optional byte breakdown, e.g. { factors: 1234, scales: 56 }. */
  components?: Record<string, number>;
  /** The section's uncompressed reference row: drawn as that plot's "dense" line, not as a point. */
  baseline?: boolean;
  /** Best engine-loadable export (e.g. GGUF Q4_0 for llama.cpp) and what it cost against this row's model. */
  engine?: { label: string; bytes: number; lossless: boolean; ppl: number; kl: number; pplDeltaPct: number };
}

export interface ReportData {
  title: string;
  subtitle?: string;
  model?: { name: string; params?: number; bytes?: number; config?: Record<string, unknown> };
  dense?: { ppl: number; bytes?: number };
  rows: ReportRow[];
  spectra?: Array<{ layer: string; values: number[] }>;
  layerErrors?: Array<{ method: string; layer: string; relErr: number }>;
  notes?: string[];
  generatedAt?: string;
}

const n = (v: number | undefined, d = 3) => (v === undefined || !Number.isFinite(v) ? '—' : +v.toPrecision(d) + '');
const bytesStr = (b: number | undefined) =>
  b === undefined ? '—' : b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(2)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`;

export function compressionRatio(r: ReportRow): number | undefined {
  return r.bytes && r.denseBytes ? r.denseBytes / r.bytes : undefined;
}

export function renderReport(d: ReportData): string {
  const sections: string[] = [];
  const bySource = new Map<string, ReportRow[]>();
  for (const r of d.rows) {
    if (!bySource.has(r.source)) bySource.set(r.source, []);
    bySource.get(r.source)!.push(r);
  }

  // 1. ppl vs compression, one plot per source (weights vs kv cache are different axes of cost), each
  //    with its own section's baseline (sections use different windows: one global line would be wrong)
  for (const [source, rows] of bySource) {
    const families = new Map<string, Series>();
    const base = rows.find((r) => r.baseline);
    const refPpl = base?.ppl;
    for (const r of rows) {
      if (r.baseline) continue;
      const x = compressionRatio(r);
      if (x === undefined || !Number.isFinite(r.ppl)) continue;
      if (!families.has(r.method)) families.set(r.method, { name: r.method, points: [] });
      families.get(r.method)!.points.push({ x, y: r.ppl, label: r.setting });
    }
    if (families.size === 0) continue;
    sections.push(
      `<figure>${lineChart([...families.values()], {
        title: `${source}: perplexity vs compression`,
        xLabel: source === 'kv' ? 'key-cache compression (× smaller)' : 'compression of the compressed layers (× smaller)',
        yLabel: 'perplexity',
        logY: true,
        reference:
          refPpl !== undefined ? { y: refPpl, label: `${source === 'kv' ? 'fp32 keys' : 'dense'} ${n(refPpl, 4)} (this section's windows)` } : undefined,
      })}${refPpl === undefined ? `<figcaption>No uncompressed row in this section, so no baseline is drawn.</figcaption>` : ''}</figure>`,
    );
  }

  // 2. spectra
  if (d.spectra?.length) {
    const series: Series[] = d.spectra.map((s) => ({ name: s.layer, points: s.values.map((v, i) => ({ x: i + 1, y: v / (s.values[0] || 1) })) }));
    sections.push(
      `<figure>${lineChart(series, { title: 'Normalised singular-value spectra (σᵢ/σ₁)', xLabel: 'index i', yLabel: 'σᵢ / σ₁', logY: true })}</figure>`,
    );
  }

  // 3. per-layer error
  if (d.layerErrors?.length) {
    const layers = [...new Set(d.layerErrors.map((e) => e.layer))];
    const methods = [...new Set(d.layerErrors.map((e) => e.method))];
    const series: Series[] = methods.map((m) => ({
      name: m,
      points: layers.map((l, i) => ({ x: i, y: d.layerErrors!.find((e) => e.method === m && e.layer === l)?.relErr ?? NaN, label: l })),
    }));
    sections.push(
      `<figure>${lineChart(series, { title: 'Per-layer relative error ‖W − Ŵ‖_F / ‖W‖_F', xLabel: 'layer index (model order)', yLabel: 'relative error', logY: true })}<figcaption>${esc(layers.map((l, i) => `${i}=${l}`).join(', '))}</figcaption></figure>`,
    );
  }

  // 4. bytes per component
  const withComp = d.rows.filter((r) => !r.baseline && r.components && Object.keys(r.components).length);
  if (withComp.length) {
    const bars: Bar[] = withComp.map((r) => ({
      label: `${r.method} (${r.setting})`,
      parts: Object.entries(r.components!).map(([name, value]) => ({ name, value: value / 1024 })),
    }));
    sections.push(`<figure>${stackedBars(bars, { title: 'Stored bytes per component (every tensor the file holds)', unit: 'KiB' })}</figure>`);
  }

  // 5. tables
  for (const [source, rows] of bySource) {
    const hasEngine = rows.some((r) => r.engine);
    const body = rows
      .map(
        (r) =>
          `<tr><td>${esc(r.method)}</td><td>${esc(r.setting)}</td><td>${bytesStr(r.bytes)}</td><td>${compressionRatio(r) === undefined ? '—' : `${n(compressionRatio(r))}×`}</td><td>${n(r.bitsPerWeight)}</td><td><b>${n(r.ppl, 4)}</b></td><td>${n(r.kl)}</td><td>${r.top1 === undefined ? '—' : (100 * r.top1).toFixed(1) + '%'}</td>${hasEngine ? `<td>${engineCell(r)}</td>` : ''}</tr>`,
      )
      .join('');
    sections.push(
      `<h2>${esc(source)}</h2><table><thead><tr><th>method</th><th>setting</th><th>bytes</th><th>compression</th><th>bits/weight</th><th>ppl</th><th>KL</th><th>top-1</th>${hasEngine ? '<th>best engine export (cost vs this model)</th>' : ''}</tr></thead><tbody>${body}</tbody></table>`,
    );
  }

  const model = d.model
    ? `<p>Model: <b>${esc(d.model.name)}</b>${d.model.params ? `, ${d.model.params.toLocaleString('en')} parameters` : ''}${d.model.bytes ? `, ${bytesStr(d.model.bytes)}` : ''}${d.dense ? `; dense perplexity <b>${n(d.dense.ppl, 5)}</b>` : ''}.</p>`
    : '';
  const notes = d.notes?.length ? `<ul>${d.notes.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>` : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(d.title)}</title><style>
body{font-family:system-ui,sans-serif;max-width:1000px;margin:24px auto;padding:0 16px;color:#222}
h1{margin-bottom:4px}figure{margin:18px 0}table{border-collapse:collapse;margin:8px 0 24px;font-size:13px}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,td:nth-child(2),th{text-align:left}
thead{background:#f4f4f4}.muted{color:#666}
</style></head><body><h1>${esc(d.title)}</h1>${d.subtitle ? `<p class="muted">${esc(d.subtitle)}</p>` : ''}${model}${notes}
${sections.join('\n')}
<p class="muted">Generated ${esc(d.generatedAt ?? '')} by llmpress. Every number above comes from the commands named in the notes.</p></body></html>`;
}

/** '<label> · <KB> · exact' or '<label> · <KB> · ppl ±x%, KL y' for the engine-export column. */
function engineCell(r: ReportRow): string {
  const e = r.engine;
  if (!e) return '—';
  const kb = `${(e.bytes / 1024).toFixed(0)} KB`;
  return esc(`${e.label} · ${kb} · ${e.lossless ? 'exact' : `ppl ${e.pplDeltaPct >= 0 ? '+' : ''}${e.pplDeltaPct.toFixed(2)}%, KL ${e.kl.toExponential(1)}`}`);
}
