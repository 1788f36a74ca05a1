import { describe, it, expect } from 'vitest';
import { renderReport } from './report.js';
import { lineChart, stackedBars } from './svg.js';
import { normaliseRows } from '../results.js';

describe('report', () => {
  it('renders a self-contained page with a plot per table, the rows and escaped text', () => {
    const html = renderReport({
      title: 'R <&>',
      dense: { ppl: 4.62 },
      rows: [
        { method: 'SVD', setting: '40%', source: 'svd-llm', bytes: 500, denseBytes: 1000, ppl: 9 },
        { method: 'SVD', setting: '20%', source: 'svd-llm', bytes: 800, denseBytes: 1000, ppl: 6, kl: 0.2, top1: 0.8 },
        { method: 'SVD-LLM', setting: '40%', source: 'svd-llm', bytes: 500, denseBytes: 1000, ppl: 7, components: { factors: 480, meta: 20 } },
      ],
      spectra: [{ layer: 'blocks.0.q', values: [4, 2, 1, 0.5] }],
      layerErrors: [{ method: 'SVD', layer: 'blocks.0.q', relErr: 0.3 }],
    });
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    expect(html).toContain('R &lt;&amp;&gt;');
    expect((html.match(/<svg/g) ?? []).length).toBe(4); // ppl plot, spectra, layer error, bytes
    expect(html).toContain('<b>7</b>');
    expect(html).toContain('80.0%');
    expect(html).toContain('2×'); // 1000/500
  });
  it('each plot draws its own section\'s baseline; every section gets a plot; no "—×"', () => {
    const rows = [
      ...normaliseRows('svd-llm', {
        rows: [
          { method: 'dense', ratio: 0, bytes: 1000, ppl: 4.616, kl: 0, top1: 1 },
          { method: 'svd', ratio: 0.2, bytes: 800, ppl: 9 },
        ],
      }),
      ...normaliseRows('kv', {
        rows: [
          { method: 'fp32', group: 'baseline', keyBytes: 400, fp32KeyBytes: 400, ppl: 3.975, kl: 0 },
          { method: 'KIVI', keyBytes: 100, fp32KeyBytes: 400, ppl: 4.3 },
        ],
      }),
      ...normaliseRows('saten', { dense: { ppl: 4.5 }, denseLinearBytes: 1000, rows: [{ method: 'tt', budget: 0.6, bytes: 600, ppl: 20 }] }),
      ...normaliseRows('quad', {
        denseLinearWeights: 250,
        rows: [
          { key: 'dense', method: 'dense', linearBytes: 1000, ppl: 4.6, kl: 0 },
          { method: 'QUAD', setting: 'W4A4', linearBytes: 200, onlineRotationBytes: 50, ppl: 5 },
        ],
      }),
      { method: 'x', setting: 'no bytes', source: 'other', ppl: 7 },
    ];
    const html = renderReport({ title: 't', dense: { ppl: 1.23 }, rows });
    const refs = [...html.matchAll(/stroke-dasharray="5 4"\/><text[^>]*>([^<]*)/g)].map((m) => m[1]);
    expect(refs).toEqual([
      "dense 4.616 (this section's windows)",
      "fp32 keys 3.975 (this section's windows)",
      "dense 4.5 (this section's windows)",
      "dense 4.6 (this section's windows)",
    ]);
    expect(html).not.toContain('1.23 (this');
    for (const s of ['svd-llm', 'kv', 'saten', 'quad']) expect(html).toContain(`${s}: perplexity vs compression`);
    expect(html).not.toContain('—×');
    expect(html).toContain('Stored bytes per component'); // QUAD's linears + rotations
    expect(html).toContain('4×'); // quad: 1000 / (200 + 50)
  });
  it('line chart places points monotonically and draws the dense reference', () => {
    const svg = lineChart(
      [
        {
          name: 'a',
          points: [
            { x: 1, y: 1 },
            { x: 2, y: 10 },
          ],
        },
      ],
      { title: 't', xLabel: 'x', yLabel: 'y', logY: true, reference: { y: 5, label: 'dense' } },
    );
    const cs = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(cs).toHaveLength(2);
    expect(cs[1]![0]).toBeGreaterThan(cs[0]![0]!);
    expect(cs[1]![1]).toBeLessThan(cs[0]![1]!); // larger y is higher on screen
    expect(svg).toContain('stroke-dasharray');
    expect(lineChart([], { title: 'empty', xLabel: '', yLabel: '' })).toContain('no data');
    // up to 20 series: one colour each, every legend row inside the picture, every point inside the axes
    const many = Array.from({ length: 20 }, (_, i) => ({
      name: `a rather long method name number ${i} with a setting`,
      points: [
        { x: 1 + i, y: 2 + i },
        { x: 30, y: 40 },
      ],
    }));
    const big = lineChart(many, { title: 't', xLabel: 'x', yLabel: 'y', logY: true });
    const fills = [...big.matchAll(/<rect x="[\d.]+" y="[\d.-]+" width="12" height="12" fill="(#[0-9a-f]+)"/g)].map((m) => m[1]);
    expect(new Set(fills).size).toBe(20);
    const H = Number(/height="(\d+)"/.exec(big)![1]);
    for (const m of big.matchAll(/<rect x="[\d.]+" y="([\d.-]+)" width="12"/g)) expect(Number(m[1]) + 12).toBeLessThanOrEqual(H);
    const frame = /<rect x="(\d+)" y="(\d+)" width="(\d+)" height="(\d+)" fill="none"/.exec(big)!.slice(1).map(Number);
    for (const m of big.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)) {
      expect(Number(m[1])).toBeGreaterThan(frame[0]!);
      expect(Number(m[1])).toBeLessThan(frame[0]! + frame[2]!);
      expect(Number(m[2])).toBeGreaterThan(frame[1]!);
      expect(Number(m[2])).toBeLessThan(frame[1]! + frame[3]!);
    }
    expect(big).toContain('…'); // long legend names are cut to fit their column
    expect(
      stackedBars(
        [
          {
            label: 'm',
            parts: [
              { name: 'a', value: 1 },
              { name: 'b', value: 3 },
            ],
          },
        ],
        { title: 'b', unit: 'KiB' },
      ),
    ).toContain('4 KiB');
  });
  it('normalises eval tables with differing field names and drops rows without ppl', () => {
    const rows = normaliseRows('quad', [
      { method: 'RTN', bits: 4, groupSize: 32, bytes: 10, ppl: 5 },
      { method: 'x' },
      { name: 'KV', keyBytes: 3, fp32KeyBytes: 30, perplexity: 4.7, setting: '1.25 bits' },
    ]);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ method: 'RTN', setting: '4 bits g32', bytes: 10, ppl: 5, source: 'quad' });
    expect(rows[1]).toMatchObject({ method: 'KV', bytes: 3, denseBytes: 30, ppl: 4.7 });
    expect(normaliseRows('x', { rows: [{ ppl: 1 }] })).toHaveLength(1);
  });
});
