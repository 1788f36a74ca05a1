/** Tiny dependency-free SVG charts for the self-contained HTML report. */

export interface Series {
  name: string;
  points: Array<{ x: number; y: number; label?: string }>;
}
export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
  logY?: boolean;
  logX?: boolean;
  /** Horizontal reference line (e.g. the dense model's perplexity). */
  reference?: { y: number; label: string };
}

// 20 distinguishable colours, so a plot's series (up to 20) never share one
const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#7f7f7f',
  '#bcbd22',
  '#393b79',
  '#ad494a',
  '#637939',
  '#e7969c',
  '#6b6ecf',
  '#8c6d31',
  '#7b4173',
  '#3182bd',
  '#31a354',
  '#f0a030',
];
export const colorOf = (i: number) => PALETTE[i % PALETTE.length]!;

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12 * step; v += step) out.push(+v.toPrecision(12));
  return out;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1);
  return +v.toPrecision(3) + '';
}

export function lineChart(series: Series[], o: LineChartOptions): string {
  const W = o.width ?? 720,
    L = 64,
    R = 230,
    T = 36,
    B = 48;
  // tall enough for one legend row per series
  const H = Math.max(o.height ?? 360, T + B + 18 * series.length + 8);
  const pts = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!o.logY || p.y > 0));
  if (pts.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="60"><text x="10" y="30">${esc(o.title)}: no data</text></svg>`;
  const ty = (v: number) => (o.logY ? Math.log10(v) : v);
  const tx = (v: number) => (o.logX ? Math.log10(v) : v);
  let x0 = Math.min(...pts.map((p) => tx(p.x))),
    x1 = Math.max(...pts.map((p) => tx(p.x)));
  let ys = pts.map((p) => ty(p.y));
  if (o.reference && (!o.logY || o.reference.y > 0)) ys = ys.concat(ty(o.reference.y));
  let y0 = Math.min(...ys),
    y1 = Math.max(...ys);
  if (x1 === x0) {
    x0 -= 1;
    x1 += 1;
  }
  if (y1 === y0) {
    y0 -= 1;
    y1 += 1;
  }
  const padY = (y1 - y0) * 0.06;
  y0 -= padY;
  y1 += padY;
  const padX = (x1 - x0) * 0.04;
  x0 -= padX;
  x1 += padX; // points stay inside the axes
  const sx = (v: number) => L + ((tx(v) - x0) / (x1 - x0)) * (W - L - R);
  const sy = (v: number) => T + (1 - (ty(v) - y0) / (y1 - y0)) * (H - T - B);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, sans-serif" font-size="12">`);
  parts.push(`<text x="${W / 2 - R / 2}" y="20" text-anchor="middle" font-size="14" font-weight="600">${esc(o.title)}</text>`);
  parts.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#999"/>`);
  const yt = o.logY ? niceTicks(y0, y1).map((v) => 10 ** v) : niceTicks(y0, y1);
  for (const v of yt) {
    const y = sy(v);
    if (y < T - 1 || y > H - B + 1) continue;
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#eee"/><text x="${L - 6}" y="${y + 4}" text-anchor="end">${fmt(v)}</text>`);
  }
  const xt = o.logX ? niceTicks(x0, x1).map((v) => 10 ** v) : niceTicks(x0, x1);
  for (const v of xt) {
    const x = sx(v);
    if (x < L - 1 || x > W - R + 1) continue;
    parts.push(`<line x1="${x}" x2="${x}" y1="${T}" y2="${H - B}" stroke="#f3f3f3"/><text x="${x}" y="${H - B + 16}" text-anchor="middle">${fmt(v)}</text>`);
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}${o.logY ? ' (log)' : ''}</text>`);
  if (o.reference && (!o.logY || o.reference.y > 0)) {
    const y = sy(o.reference.y);
    parts.push(
      `<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#000" stroke-dasharray="5 4"/><text x="${W - R - 4}" y="${y - 4}" text-anchor="end">${esc(o.reference.label)}</text>`,
    );
  }
  series.forEach((s, i) => {
    const ps = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!o.logY || p.y > 0)).sort((a, b) => a.x - b.x);
    if (!ps.length) return;
    const c = colorOf(i);
    // connect a family's points only when they trace one curve (distinct x, few points); otherwise scatter
    const distinct = ps.every((p, j) => j === 0 || Math.abs(p.x - ps[j - 1]!.x) > 1e-3 * Math.max(1, Math.abs(p.x)));
    if (ps.length > 1 && ps.length <= 8 && distinct)
      parts.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${ps.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}"/>`);
    for (const p of ps)
      parts.push(
        `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3.5" fill="${c}"><title>${esc(s.name)}: ${esc(p.label ?? '')} (${fmt(p.x)}, ${fmt(p.y)})</title></circle>`,
      );
    const ly = T + 14 + i * 18;
    const short = s.name.length > 30 ? `${s.name.slice(0, 29)}…` : s.name; // legend fits its 230 px column
    parts.push(
      `<rect x="${W - R + 10}" y="${ly - 9}" width="12" height="12" fill="${c}"/><text x="${W - R + 26}" y="${ly + 1}"><title>${esc(s.name)}</title>${esc(short)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

export interface Bar {
  label: string;
  parts: Array<{ name: string; value: number }>;
}

/** Horizontal stacked bars (e.g. bytes per component per method). */
export function stackedBars(bars: Bar[], o: { title: string; unit: string; width?: number }): string {
  const W = o.width ?? 640,
    rowH = 22,
    L = 190,
    R = 90,
    T = 34;
  const names = [...new Set(bars.flatMap((b) => b.parts.map((p) => p.name)))];
  const H = T + bars.length * rowH + 30 + Math.ceil(names.length / 4) * 16;
  const maxV = Math.max(1e-30, ...bars.map((b) => b.parts.reduce((a, p) => a + p.value, 0)));
  const sx = (v: number) => (v / maxV) * (W - L - R);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, sans-serif" font-size="12">`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="600">${esc(o.title)}</text>`,
  ];
  bars.forEach((b, i) => {
    const y = T + i * rowH;
    out.push(`<text x="${L - 6}" y="${y + 14}" text-anchor="end">${esc(b.label)}</text>`);
    let x = L,
      total = 0;
    for (const p of b.parts) {
      const w = sx(p.value);
      out.push(
        `<rect x="${x.toFixed(1)}" y="${y + 3}" width="${Math.max(0, w).toFixed(1)}" height="${rowH - 6}" fill="${colorOf(names.indexOf(p.name))}"><title>${esc(p.name)}: ${fmt(p.value)} ${esc(o.unit)}</title></rect>`,
      );
      x += w;
      total += p.value;
    }
    out.push(`<text x="${x + 4}" y="${y + 14}">${fmt(total)} ${esc(o.unit)}</text>`);
  });
  names.forEach((n, i) => {
    const x = 10 + (i % 4) * ((W - 20) / 4),
      y = T + bars.length * rowH + 20 + Math.floor(i / 4) * 16;
    out.push(`<rect x="${x}" y="${y - 9}" width="10" height="10" fill="${colorOf(i)}"/><text x="${x + 14}" y="${y}">${esc(n)}</text>`);
  });
  out.push('</svg>');
  return out.join('');
}
