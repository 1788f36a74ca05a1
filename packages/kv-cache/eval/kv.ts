/**
 * `pnpm eval:kv [--eval-text file] [--calib-text file] [--model file] [--tokenizer file] [--windows N] [--calib-start B] [--calib-count N]
 *  [--window W] [--block B] [--score-windows N] [--quick] [--backend auto|wasm|webgpu|reference] [--results | --out FILE]`
 *
 * KV-cache compression table on stories260K (or --model): reference.json's protocol with windows of the
 * model's full context (512 tokens; window b = ids[512b : 512b+513]), fresh cache per window. Every row runs
 * the model's forward pass with the compressed cache; attention emulates decoding (query p sees the tokens
 * quantized by the time p was appended). Calibration keys come from windows `calib-start ..` of the calibration
 * text (`--calib-text`; disjoint from the evaluated windows when it is the evaluation text, `--eval-text`; both
 * default to the TinyStories validation text; flags parsed by the shared scripts/eval-data.ts, `--text` is refused).
 * Prints markdown tables and writes llmpress-eval/kv.json (scratch, git-ignored); `--results` writes the tracked
 * results/kv.json, `--out FILE` any file (shards and merges use that file's folder).
 */
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { contiguousWindows, type LlamaModel, type Window } from '@llmpress/models';
import { dataDir, loadModel, loadTokenizer } from '@llmpress/models/node';
import {
  CompressedKVCache,
  Fp32KVCache,
  fitKeyBasis,
  kiviKeys,
  kiviValues,
  svdqKeys,
  presetSchedule,
  meanBits,
  type CacheShape,
  type KeyBasis,
  type KeyCodec,
  type KVCacheLike,
  type CompressedCacheOptions,
} from '@llmpress/kv-cache';

import { backendFromArgs } from '../../../scripts/backend-arg.ts';
import { evalOutPath, textPathsFromArgs } from '../../../scripts/eval-data.ts';
const args = process.argv.slice(2);
const sel = await backendFromArgs();
const backend = sel.backend; // the forward pass's linears, and the fp32 cache's attention where it is the default cache
function arg(name: string, def?: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
}
const quick = args.includes('--quick');
const data = dataDir(); // the repository's data/, then $LLMPRESS_DATA, then ../shared/data
const modelPath = resolve(arg('model', join(data, 'stories260K/stories260K.bin'))!);
const tokPath = resolve(arg('tokenizer', join(dirname(modelPath), 'tok512.bin'))!);
const { evalPath: textPath, calibPath } = textPathsFromArgs('eval:kv', args);
const nWindows = Number(arg('windows', quick ? '4' : '16'));
const calibStart = Number(arg('calib-start', '100'));
const calibCount = Number(arg('calib-count', '8'));
const fpWindow = Number(arg('window', '32'));
const blockSize = Number(arg('block', '32'));
const scoreWindows = Number(arg('score-windows', quick ? '1' : '4'));
const queryStride = Number(arg('query-stride', '4'));

const model: LlamaModel = loadModel(modelPath);
const cfg = model.config;
const shape: CacheShape = { nLayers: cfg.nLayers, nHeads: cfg.nHeads, nKvHeads: cfg.nKvHeads, headDim: cfg.headDim };
const tokenizer = loadTokenizer(tokPath, { vocabSize: cfg.vocabSize });
const text = readFileSync(textPath, 'utf8');
const ids = tokenizer.encode(text, { bos: true });
const calibIds = calibPath === textPath ? ids : tokenizer.encode(readFileSync(calibPath, 'utf8'), { bos: true });
const len = Math.min(512, cfg.seqLen);
const evalW = contiguousWindows(ids, { start: 0, count: nWindows, len });
const calW = contiguousWindows(calibIds, { start: calibStart, count: calibCount, len });
if (calibPath === textPath && calibStart < nWindows) throw new Error(`calibration windows ${calibStart}.. overlap the evaluated windows 0..${nWindows - 1}`);
const d = cfg.headDim,
  H = cfg.nKvHeads,
  V = cfg.vocabSize;
console.error(
  `model ${modelPath} (layers ${cfg.nLayers}, heads ${cfg.nHeads}/${cfg.nKvHeads}, head dim ${d}), ${ids.length} tokens, ${evalW.length} eval windows of ${len} from ${textPath}, calibration windows ${calibStart}..${calibStart + calibCount - 1} from ${calibPath}`,
);

/** Wraps a cache and records the queries handed to attend (for the score-error table). */
class Recorder implements KVCacheLike {
  q: Float32Array[] = [];
  constructor(readonly inner: Fp32KVCache) {}
  length(l: number) {
    return this.inner.length(l);
  }
  append(l: number, k: Float32Array, v: Float32Array, t: number) {
    this.inner.append(l, k, v, t);
  }
  attend(l: number, q: Float32Array, t: number) {
    this.q[l] = q.slice();
    return this.inner.attend(l, q, t);
  }
}

// ---- calibration keys → bases
const calKeys: Float32Array[][] = Array.from({ length: cfg.nLayers }, () => []);
for (const w of arg('merge') ? [] : calW) {
  const c = new Fp32KVCache(shape);
  model.forward(w.input, { cache: c, backend });
  for (let l = 0; l < cfg.nLayers; l++)
    for (let h = 0; h < H; h++) (calKeys[l]![h] ??= new Float32Array(0)), (calKeys[l]![h] = concat(calKeys[l]![h]!, c.keys(l, h)));
}
function concat(a: Float32Array, b: Float32Array): Float32Array {
  const o = new Float32Array(a.length + b.length);
  o.set(a);
  o.set(b, a.length);
  return o;
}
const calBasis = (center: boolean): KeyBasis[][] => calKeys.map((hs) => hs.map((k) => fitKeyBasis(k, k.length / d, d, { center })));
const calibC = arg('merge') ? [] : calBasis(true),
  calibU = arg('merge') ? [] : calBasis(false);

// ---- reference (fp32 dense forward) logits per window
const refLogits: Float32Array[] = [];
const fpKeys: Float32Array[][][] = []; // [window][layer][head] keys (score-error table)
const fpQ: Float32Array[][] = []; // [window][layer] queries
for (let wi = 0; wi < (arg('merge') ? 0 : evalW.length); wi++) {
  const rec = new Recorder(new Fp32KVCache(shape));
  refLogits.push(model.forward(evalW[wi]!.input, { cache: rec, backend }).data as Float32Array);
  if (wi < scoreWindows) {
    fpQ.push(rec.q);
    fpKeys.push(Array.from({ length: cfg.nLayers }, (_, l) => Array.from({ length: H }, (_, h) => rec.inner.keys(l, h))));
  }
}

interface RowSpec {
  name: string;
  method: string;
  setting: string;
  make?: () => KVCacheLike;
  codeBits?: number;
  keep?: number;
  group?: string;
}
interface Row extends RowSpec {
  ppl: number;
  nll: number;
  kl: number;
  top1: number;
  keyBytes: number;
  fp32KeyBytes: number;
  ratio: number;
  keyBitsPerElement: number;
  valueBytes: number;
  paperRatio?: number;
  seconds: number;
}

function lse(x: Float32Array, o: number, n: number): number {
  let mx = -Infinity;
  for (let i = 0; i < n; i++) if (x[o + i]! > mx) mx = x[o + i]!;
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(x[o + i]! - mx);
  return mx + Math.log(s);
}

function score(spec: RowSpec): Row {
  let nll = 0,
    kl = 0,
    agree = 0,
    n = 0,
    keyBytes = 0,
    valueBytes = 0,
    fpBytes = 0;
  const t0 = performance.now();
  for (let wi = 0; wi < evalW.length; wi++) {
    const w: Window = evalW[wi]!;
    const cache = spec.make ? spec.make() : new Fp32KVCache(shape);
    const logits = spec.make ? (model.forward(w.input, { cache, backend }).data as Float32Array) : refLogits[wi]!;
    if (!spec.make) cache.append(0, new Float32Array(0), new Float32Array(0), 0);
    const ref = refLogits[wi]!;
    for (let p = 0; p < w.targets.length; p++) {
      const o = p * V,
        lz = lse(logits, o, V),
        lr = lse(ref, o, V);
      nll += lz - logits[o + w.targets[p]!]!;
      let k = 0,
        am = 0,
        ar = 0;
      for (let i = 0; i < V; i++) {
        const lpr = ref[o + i]! - lr;
        k += Math.exp(lpr) * (lpr - (logits[o + i]! - lz));
        if (logits[o + i]! > logits[o + am]!) am = i;
        if (ref[o + i]! > ref[o + ar]!) ar = i;
      }
      kl += k;
      agree += am === ar ? 1 : 0;
      n++;
    }
    const fpB = w.input.length * cfg.nLayers * H * d * 4;
    const b = spec.make ? ((cache as any).bytes() as { keyBytes: number; valueBytes: number }) : { keyBytes: fpB, valueBytes: fpB };
    keyBytes += b.keyBytes;
    valueBytes += b.valueBytes;
    fpBytes += fpB;
  }
  const W = evalW.length;
  const row: Row = {
    ...spec,
    make: undefined,
    nll: nll / n,
    ppl: Math.exp(nll / n),
    kl: kl / n,
    top1: agree / n,
    keyBytes: keyBytes / W,
    valueBytes: valueBytes / W,
    fp32KeyBytes: fpBytes / W,
    ratio: fpBytes / keyBytes,
    keyBitsPerElement: (keyBytes * 8) / (fpBytes / 4),
    seconds: (performance.now() - t0) / 1000,
  };
  if (spec.keep !== undefined && spec.codeBits !== undefined) row.paperRatio = 32 / (spec.codeBits * spec.keep);
  console.error(
    `${row.name.padEnd(44)} ppl ${row.ppl.toFixed(4)} kl ${row.kl.toExponential(2)} top1 ${row.top1.toFixed(4)} bits/key ${row.keyBitsPerElement.toFixed(3)} (${row.seconds.toFixed(1)} s)`,
  );
  return row;
}

const base =
  (o: Partial<CompressedCacheOptions> & { keys: KeyCodec }): (() => KVCacheLike) =>
  () =>
    new CompressedKVCache(shape, { window: fpWindow, blockSize, maxContext: len, ...o });
const specs: RowSpec[] = [];
specs.push({ name: 'fp32 keys and values (reference)', method: 'fp32', setting: '32 bits', codeBits: 32, group: 'baseline' });
for (const b of [2, 1]) {
  specs.push({
    name: `KIVI ${b}-bit keys (fp32 values)`,
    method: 'KIVI',
    setting: `K${b}`,
    codeBits: b,
    make: base({ keys: kiviKeys({ bits: b }) }),
    group: 'kivi',
  });
  specs.push({
    name: `KIVI ${b}-bit keys + ${b}-bit values`,
    method: 'KIVI',
    setting: `K${b}V${b}`,
    codeBits: b,
    make: base({ keys: kiviKeys({ bits: b }), values: kiviValues({ bits: b }) }),
    group: 'kivi',
  });
}
const means = [2, 1.5, 1.25] as const;
// required rows first (a run cut short still has them), then the extra baselines
for (const m of means) {
  for (const center of [false, true]) {
    const c = center ? ', centered' : '';
    specs.push({
      name: `SVDq ${m} prefill basis${c}`,
      method: 'SVDq',
      setting: `${m} prefill${c}`,
      codeBits: m,
      make: base({ keys: svdqKeys({ schedule: { mean: m }, basis: 'prefill' }), center }),
      group: 'svdq',
    });
    specs.push({
      name: `SVDq ${m} calibration basis${c}`,
      method: 'SVDq',
      setting: `${m} calib${c}`,
      codeBits: m,
      make: base({ keys: svdqKeys({ schedule: { mean: m }, basis: center ? calibC : calibU }), center }),
      group: 'svdq',
    });
  }
}
for (const keep of [0.25, 0.125]) {
  specs.push({
    name: `SVDq 1.25 calib centered + top-${keep * 100}%`,
    method: 'SVDq+sparsity',
    setting: `1.25 calib centered keep ${keep}`,
    codeBits: 1.25,
    keep,
    make: base({ keys: svdqKeys({ schedule: { mean: 1.25 }, basis: calibC }), center: true, sparsity: { keep } }),
    group: 'sparse',
  });
}
for (const m of means) {
  specs.push({
    name: `per-channel ${m} (same schedule on raw channels)`,
    method: 'per-channel',
    setting: `${m}`,
    codeBits: m,
    make: base({ keys: svdqKeys({ schedule: { mean: m }, basis: 'prefill-channels' }) }),
    group: 'per-channel',
  });
  specs.push({
    name: `SVDq ${m} flat schedule, prefill basis, centered`,
    method: 'SVDq',
    setting: `${m} flat prefill centered`,
    codeBits: m,
    make: base({ keys: svdqKeys({ schedule: { mean: m, allocation: 'flat' }, basis: 'prefill' }), center: true }),
    group: 'svdq-flat',
  });
  if (m !== 2)
    specs.push({
      name: `per-channel ${m} flat schedule (raw channels by variance)`,
      method: 'per-channel',
      setting: `${m} flat`,
      codeBits: m,
      make: base({ keys: svdqKeys({ schedule: { mean: m, allocation: 'flat' }, basis: 'prefill-channels' }) }),
      group: 'per-channel-flat',
    });
  if (args.includes('--waterfill'))
    specs.push({
      name: `SVDq ${m} prefill, water-filled schedule, centered`,
      method: 'SVDq',
      setting: `${m} prefill waterfill centered`,
      codeBits: m,
      make: base({ keys: svdqKeys({ schedule: { mean: m, allocation: 'waterfill' }, basis: 'prefill' }), center: true }),
      group: 'svdq-wf',
    });
}
// 1-bit levels at conditional means instead of min/max (see OneBitMode)
specs.push({
  name: 'KIVI 1-bit keys, 1-bit means mode (fp32 values)',
  method: 'KIVI',
  setting: 'K1 means',
  codeBits: 1,
  make: base({ keys: kiviKeys({ bits: 1, oneBit: 'means' }) }),
  group: 'onebit',
});
specs.push({
  name: 'SVDq 1.25 calibration basis, centered, 1-bit means mode',
  method: 'SVDq',
  setting: '1.25 calib centered means',
  codeBits: 1.25,
  make: base({ keys: svdqKeys({ schedule: { mean: 1.25 }, basis: calibC, oneBit: 'means' }), center: true }),
  group: 'onebit',
});
for (const m of [1.5, 1.25])
  specs.push({
    name: `SVDq ${m} flat schedule, prefill basis, centered, 1-bit means mode`,
    method: 'SVDq',
    setting: `${m} flat prefill centered means`,
    codeBits: m,
    make: base({ keys: svdqKeys({ schedule: { mean: m, allocation: 'flat' }, basis: 'prefill', oneBit: 'means' }), center: true }),
    group: 'onebit',
  });
specs.push({
  name: 'per-channel 1.25 flat schedule, 1-bit means mode',
  method: 'per-channel',
  setting: '1.25 flat means',
  codeBits: 1.25,
  make: base({ keys: svdqKeys({ schedule: { mean: 1.25, allocation: 'flat' }, basis: 'prefill-channels', oneBit: 'means' }) }),
  group: 'onebit',
});
specs.push({
  name: 'SVDq 1.25 flat prefill centered means + top-12.5%',
  method: 'SVDq+sparsity',
  setting: '1.25 flat prefill centered means keep 0.125',
  codeBits: 1.25,
  keep: 0.125,
  make: base({ keys: svdqKeys({ schedule: { mean: 1.25, allocation: 'flat' }, basis: 'prefill', oneBit: 'means' }), center: true, sparsity: { keep: 0.125 } }),
  group: 'onebit',
});
const extraArg = arg('extra-shard');
const [extraI, extraN] = extraArg ? (extraArg.split('/').map(Number) as [number, number]) : [-1, 0];
const only = arg('only');
// --shard i/n: run every n-th row (plus the free fp32 row) in this process; i=0 also does the score-error table,
// i=1 (or 0 when n=1) the generation table. --merge n: combine <out folder>/kv.shard-*.tmp into the output file.
const shardArg = arg('shard');
const [shardI, shardN] = shardArg ? (shardArg.split('/').map(Number) as [number, number]) : [0, 1];
const mergeN = arg('merge') ? Number(arg('merge')) : 0;
const doScore = !only && !mergeN && !extraArg && shardI === 0;
const doGen = !only && !mergeN && !extraArg && shardI === (shardN > 1 ? 1 : 0);
const rows: Row[] = [];
const finalPath = evalOutPath('kv.json'),
  outDir = dirname(finalPath);
const shardPath = join(outDir, extraArg ? `kv.extra-${extraI}.tmp` : `kv.shard-${shardI}.tmp`);
const extraSpecs = specs.filter((x) => x.group === 'onebit');
for (const [i, sp] of specs.entries()) {
  if (mergeN || (only && !sp.name.includes(only))) continue;
  if (extraArg ? sp.group !== 'onebit' || extraSpecs.indexOf(sp) % extraN !== extraI : sp.make && i % shardN !== shardI) continue;
  rows.push(score(sp));
  if (shardN > 1 || extraArg) {
    mkdirSync(dirname(shardPath), { recursive: true });
    writeFileSync(shardPath, JSON.stringify({ rows, scoreError: [], generation: [] }));
  }
}

// ---- attention-score error: SVDq vs per-channel quantization at equal bits (same cache code path, window 0)
function scoreError(keys: KeyCodec, center: boolean): { rel: number; relCentered: number } {
  let num = 0,
    den = 0,
    numC = 0,
    denC = 0;
  const one: CacheShape = { nLayers: 1, nHeads: 1, nKvHeads: 1, headDim: d };
  const group = cfg.nHeads / H;
  for (let wi = 0; wi < fpKeys.length; wi++)
    for (let l = 0; l < cfg.nLayers; l++)
      for (let h = 0; h < H; h++) {
        const K = fpKeys[wi]![l]![h]!,
          n = K.length / d,
          nb = Math.floor(n / blockSize);
        const c = new CompressedKVCache(one, { keys, window: 0, blockSize, center });
        c.append(0, K, new Float32Array(K.length), n);
        const st = c.head(0, 0),
          mu = st.mean ?? new Float32Array(d);
        const rec = new Float32Array(nb * blockSize * d);
        for (let b = 0; b < nb; b++) st.keys.decodeBlock(b, rec, b * blockSize * d);
        const Q = fpQ[wi]![l]!;
        for (let qh = h * group; qh < (h + 1) * group; qh++)
          for (let i = 0; i < n; i += queryStride) {
            const qo = (i * cfg.nHeads + qh) * d;
            const s = new Float64Array(nb * blockSize),
              e = new Float64Array(nb * blockSize);
            let ms = 0,
              me = 0;
            for (let j = 0; j < nb * blockSize; j++) {
              let a = 0,
                b = 0;
              for (let x = 0; x < d; x++) {
                a += Q[qo + x]! * K[j * d + x]!;
                b += Q[qo + x]! * (rec[j * d + x]! + mu[x]!);
              }
              s[j] = a;
              e[j] = b - a;
              ms += a;
              me += b - a;
            }
            ms /= s.length;
            me /= s.length;
            for (let j = 0; j < s.length; j++) {
              num += e[j]! ** 2;
              den += s[j]! ** 2;
              numC += (e[j]! - me) ** 2;
              denC += (s[j]! - ms) ** 2;
            }
          }
      }
  return { rel: Math.sqrt(num / den), relCentered: Math.sqrt(numC / denC) };
}
const scoreRows: {
  svdqFlat: number;
  perChannelFlat: number;
  ratioFlat: number;
  bits: number;
  center: boolean;
  svdqPrefill: number;
  svdqCalib: number;
  perChannelSameSchedule: number;
  kiviUniform?: { bits: number; err: number };
  ratioPrefill: number;
  ratioVsKivi?: number;
}[] = [];
if (doScore)
  for (const m of means)
    for (const center of [false, true]) {
      const sp = scoreError(svdqKeys({ schedule: { mean: m }, basis: 'prefill' }), center).relCentered;
      const sc = scoreError(svdqKeys({ schedule: { mean: m }, basis: center ? calibC : calibU }), center).relCentered;
      const pc = scoreError(svdqKeys({ schedule: { mean: m }, basis: 'prefill-channels' }), center).relCentered;
      const kb = m === 2 ? 2 : m === 1.25 ? 1 : undefined;
      const kv = kb ? scoreError(kiviKeys({ bits: kb }), center).relCentered : undefined;
      const sf = scoreError(svdqKeys({ schedule: { mean: m, allocation: 'flat' }, basis: 'prefill' }), center).relCentered;
      const pf = scoreError(svdqKeys({ schedule: { mean: m, allocation: 'flat' }, basis: 'prefill-channels' }), center).relCentered;
      scoreRows.push({
        bits: m,
        center,
        svdqPrefill: sp,
        svdqCalib: sc,
        perChannelSameSchedule: pc,
        kiviUniform: kb ? { bits: kb, err: kv! } : undefined,
        ratioPrefill: sp / pc,
        ratioVsKivi: kv ? sp / kv : undefined,
        svdqFlat: sf,
        perChannelFlat: pf,
        ratioFlat: sf / pf,
      });
      console.error(
        `score error mean ${m}${center ? ' centered' : ''}: svdq prefill ${sp.toFixed(4)}, calib ${sc.toFixed(4)}, per-channel ${pc.toFixed(4)}${kv ? `, KIVI-${kb} ${kv.toFixed(4)}` : ''}`,
      );
    }

// ---- generation with the compressed cache: greedy from BOS, agreement with the fp32 greedy sequence
function greedy(make: () => KVCacheLike, steps: number): number[] {
  const cache = make();
  const out = [cfg.bosId ?? 1];
  let logits = model.forward([out[0]!], { cache, backend, logits: 'last' }).data as Float32Array;
  for (let s = 0; s < steps; s++) {
    let am = 0;
    for (let i = 1; i < V; i++) if (logits[i]! > logits[am]!) am = i;
    out.push(am);
    if (s + 1 < steps) logits = model.forward([am], { cache, backend, logits: 'last' }).data as Float32Array;
  }
  return out;
}
const genSteps = Math.min(len - 1, quick ? 64 : 255);
const genRef = doGen ? greedy(() => new Fp32KVCache(shape), genSteps) : [];
const genRows = (
  !doGen
    ? []
    : specs.filter(
        (s) =>
          s.make &&
          /KIVI 2-bit keys \(|KIVI 1-bit keys \(|SVDq (2|1\.25) (prefill|calibration) basis, centered|SVDq (2|1\.25) flat schedule|top-12.5% /.test(s.name),
      )
).map((s) => {
  const g = greedy(s.make!, genSteps);
  let prefix = 0;
  while (prefix < g.length && g[prefix] === genRef[prefix]) prefix++;
  const same = g.filter((x, i) => x === genRef[i]).length;
  const text = typeof (tokenizer as any).decode === 'function' ? (tokenizer as any).decode(g.slice(1)) : '';
  console.error(`generation ${s.name}: identical prefix ${prefix - 1}/${genSteps} tokens`);
  return { name: s.name, steps: genSteps, identicalPrefix: prefix - 1, samePositions: same - 1, text: String(text).slice(0, 200) };
});

// ---- output
type Shard = { rows: Row[]; scoreError: typeof scoreRows; generation: typeof genRows };
if (mergeN) {
  const files = [...Array.from({ length: mergeN }, (_, i) => `kv.shard-${i}.tmp`), ...[0, 1, 2, 3].map((i) => `kv.extra-${i}.tmp`)].filter((f) =>
    existsSync(join(outDir, f)),
  );
  for (const f of files) {
    const sh = JSON.parse(readFileSync(join(outDir, f), 'utf8')) as Shard;
    for (const r of sh.rows) if (!rows.some((x) => x.name === r.name)) rows.push(r);
    scoreRows.push(...sh.scoreError);
    genRows.push(...sh.generation);
  }
  const order = specs.map((s) => s.name);
  rows.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
}
const fmt = (x: number, p = 4) => (Number.isFinite(x) ? x.toFixed(p) : String(x));
const lines: string[] = [];
lines.push(
  `KV cache on ${modelPath.split('/').slice(-2).join('/')} (head dim ${d}, ${cfg.nLayers} layers × ${H} KV heads), ${evalW.length} windows × ${len} tokens (reference.json protocol), fp window ${fpWindow}, block ${blockSize} tokens, f16 scales; KL / top-1 vs the fp32 cache`,
);
lines.push('');
lines.push('| row | ppl | KL (nats/token) | top-1 | key bytes / window | key bits/elem (all-in) | compression (keys) |');
lines.push('|---|---|---|---|---|---|---|');
for (const r of rows)
  lines.push(
    `| ${r.name} | ${fmt(r.ppl)} | ${r.kl.toExponential(2)} | ${fmt(r.top1)} | ${Math.round(r.keyBytes)} | ${fmt(r.keyBitsPerElement, 3)} | ${fmt(r.ratio, 2)}×${r.paperRatio ? ` (paper accounting ${fmt(r.paperRatio, 1)}×)` : ''} |`,
  );
const fpRow = rows.find((r) => r.method === 'fp32');
let refNll: number | undefined;
try {
  const rj = JSON.parse(readFileSync(join(dirname(modelPath), 'reference.json'), 'utf8'));
  const per: number[] = rj.eval_tinystories_val?.per_window_mean_nll_first_40 ?? [];
  if (modelPath.endsWith('stories260K.bin') && textPath.endsWith('tinystories_val.txt') && evalW.length <= per.length)
    refNll = per.slice(0, evalW.length).reduce((a, b) => a + b, 0) / evalW.length;
} catch {
  /* no reference.json next to the model */
}
if (fpRow)
  lines.push(
    '',
    `fp32 cache mean NLL ${fpRow.nll.toFixed(5)} over ${evalW.length} windows${refNll !== undefined ? ` (reference.json float64, same windows: ${refNll.toFixed(5)})` : ''}.`,
  );
if (scoreRows.length) {
  lines.push('');
  lines.push(
    `Attention-score error ‖Ŝ−S‖/‖S‖ (rows centered: softmax ignores shifts), ${scoreWindows} windows, every ${queryStride}th query, all heads, keys quantized with window 0 (preset schedules; per-channel = same schedule on raw channels by variance):`,
  );
  lines.push('');
  lines.push(
    '| mean bits | centered | SVDq prefill | SVDq calibration | per-channel, same schedule | KIVI uniform | SVDq / per-channel | SVDq / KIVI | SVDq flat | per-channel flat | flat ratio |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const s of scoreRows)
    lines.push(
      `| ${s.bits} | ${s.center ? 'yes' : 'no'} | ${fmt(s.svdqPrefill)} | ${fmt(s.svdqCalib)} | ${fmt(s.perChannelSameSchedule)} | ${s.kiviUniform ? `${s.kiviUniform.bits}-bit ${fmt(s.kiviUniform.err)}` : '—'} | ${fmt(s.ratioPrefill, 3)}× | ${s.ratioVsKivi ? fmt(s.ratioVsKivi, 3) + '×' : '—'} | ${fmt(s.svdqFlat)} | ${fmt(s.perChannelFlat)} | ${fmt(s.ratioFlat, 3)}× |`,
    );
}
if (genRows.length) {
  lines.push('');
  lines.push(`Greedy generation from BOS through the cache (${genSteps} tokens): identical prefix vs the fp32 cache`);
  lines.push('');
  lines.push('| row | identical prefix | same token at position |');
  lines.push('|---|---|---|');
  for (const g of genRows) lines.push(`| ${g.name} | ${g.identicalPrefix} | ${g.samePositions} |`);
}
console.log(lines.join('\n'));
const schedules = Object.fromEntries(means.map((m) => [m, presetSchedule(d, m)]));
const out = {
  command: mergeN
    ? `merge of: pnpm eval:kv --shard i/${mergeN} (i < ${mergeN}) and pnpm eval:kv --extra-shard i/n, then pnpm eval:kv ${args.join(' ')}`
    : `pnpm eval:kv ${args.join(' ')}`.trim(),
  date: new Date().toISOString(),
  model: modelPath,
  text: textPath,
  calibText: calibPath,
  headDim: d,
  nLayers: cfg.nLayers,
  nKvHeads: H,
  windowLength: len,
  windows: evalW.length,
  calibrationWindows: [calibStart, calibStart + calibCount - 1],
  fpWindow,
  blockSize,
  scaleDType: 'f16',
  presetSchedules: schedules,
  presetMeans: Object.fromEntries(means.map((m) => [m, meanBits(presetSchedule(d, m))])),
  referenceNllSameWindows: refNll,
  rows,
  scoreError: scoreRows,
  generation: genRows,
  markdown: lines.join('\n'),
};
const outPath = extraArg ? shardPath : shardN > 1 ? join(outDir, `kv.shard-${shardI}.tmp`) : finalPath;
mkdirSync(dirname(outPath), { recursive: true });
if (!only) writeFileSync(outPath, JSON.stringify(out, null, 2) + '\n');
console.error(only ? '(--only: results not written)' : `wrote ${outPath}`);
console.error(sel.describe());
await sel.dispose();
