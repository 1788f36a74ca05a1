/**
 * Layer-streaming compression of a Hugging Face Llama checkpoint (safetensors + config.json):
 * read one block's weights, push the calibration activations through it, compress its seven
 * linears, append their tensors to the journal's data file, save the activations, free the block.
 * Peak memory ≈ one block in f32 + its Grams + the calibration activations.
 *
 * Safety: the output is assembled under a temporary name and renamed only when complete; the input
 * is only ever opened read-only; a journal folder `<output>.journal/` records every finished block
 * (tensor byte ranges, layer records, the activations after it), so killing the process at any
 * point and rerunning the same command resumes after the last finished block and produces a
 * byte-identical file. A journal written for another input or other options is refused.
 */
import {
  existsSync,
  mkdirSync,
  openSync,
  closeSync,
  writeSync,
  readFileSync,
  writeFileSync,
  renameSync,
  rmSync,
  statSync,
  ftruncateSync,
  fsyncSync,
  realpathSync,
  readSync,
  fstatSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve, dirname, basename } from 'node:path';
import { ArgumentError, DenseLinear, Tensor, encodeHalf, decodeHalf, type Backend, type LinearLayer, type SerializedLayer } from '@llmpress/tensor';
import {
  LlamaModel,
  SafetensorsFile,
  hfConfigToLlama,
  accumulateGram,
  Fp32KVCache,
  LINEAR_ROLES,
  LINEAR_GROUPS,
  FormatError,
  type LlamaConfig,
  type LinearRole,
  type SafetensorsEntry,
} from '@llmpress/models';
import { whiten, type WhitenResult } from '@llmpress/decompositions';
import { svdLlmLayer, svdLayer, LowRankLinear } from '@llmpress/low-rank';
import { gptqLayer, rtnLayer, GPTQ_MODEL_DEFAULTS } from '@llmpress/quantizers';
import { getReferenceBackend } from '@llmpress/tensor';
import { fileSource } from './file-source.node.js';
import { JournalMismatchError, OutputWriteError } from './errors.js';

export type StreamMethod = 'svd-llm' | 'svd' | 'gptq' | 'rtn';

export interface StreamCompressOptions {
  method: StreamMethod;
  /** Low-rank methods: fraction of parameters removed (default 0.2). */
  ratio?: number;
  /** Quantizers: bits (default 4) and group size (default 128, the last group ragged where 128 does not divide the width; per channel for widths under 128). */
  bits?: number;
  groupSize?: number;
  /** Calibration token windows (each one sequence, fresh KV cache). */
  calibration: number[][];
  backend?: Backend;
  /** Called after block b is durably journaled (tests inject a kill here). */
  onBlock?(b: number, info: { seconds: number; rss: number }): void;
  onProgress?(stage: string, done: number, total: number): void;
  /** Low-level write (fault injection in tests); default fs.writeSync. */
  write?(fd: number, bytes: Uint8Array, position: number): number;
  /** Replace an existing output file (never the input). Default false. */
  overwrite?: boolean;
  /**
   * Storage dtype of low-rank factors (SVD-LLM, SVD). Default: the input's weight dtype when it is
   * F16/BF16 (factors stored at the precision the weights came in, so 20% fewer parameters really is
   * a smaller file), else f32. The calibration is propagated through the rounded factors.
   */
  factorDtype?: 'f32' | 'f16' | 'bf16';
  /**
   * Calibration schedule inside each block: 'sequential' (default; the true-sequential per-group schedule
   * of `compressLinears`) or 'per-block' (ablation: all seven linears from the block as read).
   */
  schedule?: 'sequential' | 'per-block';
}

export interface StreamCompressResult {
  output: string;
  blocks: number;
  resumedFrom: number;
  seconds: number;
  peakRss: number;
  bytes: number;
  inputBytes: number;
}

const HF: Record<LinearRole, string> = {
  q: 'self_attn.q_proj',
  k: 'self_attn.k_proj',
  v: 'self_attn.v_proj',
  o: 'self_attn.o_proj',
  gate: 'mlp.gate_proj',
  up: 'mlp.up_proj',
  down: 'mlp.down_proj',
};
/** Which Gram each role reads: q/k/v share the attention-norm output, gate/up the ffn-norm output. */
const GRAM_OF: Record<LinearRole, LinearRole> = { q: 'q', k: 'q', v: 'q', o: 'o', gate: 'gate', up: 'gate', down: 'down' };

interface TensorRec {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}
interface LayerRecord {
  kind: string;
  meta: SerializedLayer['meta'];
  tensors: string[];
}
interface Journal {
  version: 1;
  fingerprint: { input: string; options: string };
  /** Blocks finished, in order; data.bin is valid up to `dataEnd` of the last one. */
  blocks: Array<{ block: number; dataEnd: number; tensors: TensorRec[]; layers: Record<string, LayerRecord> }>;
}

const ST_DTYPE: Record<string, string> = { f32: 'F32', f64: 'F64', i8: 'I8', u8: 'U8', i32: 'I32' };

function inputFiles(fn: string, input: string): { st: string; config: string } {
  if (!existsSync(input)) throw new ArgumentError(fn, 'input', input, 'must name an existing Hugging Face folder or .safetensors file');
  const isDir = statSync(input).isDirectory();
  const st = isDir ? join(input, 'model.safetensors') : input;
  const config = join(isDir ? input : dirname(input), 'config.json');
  if (!existsSync(st)) throw new ArgumentError(fn, 'input', input, 'has no model.safetensors');
  if (!existsSync(config)) throw new ArgumentError(fn, 'input', input, 'has no config.json beside the weights');
  return { st, config };
}

function rss(): number {
  return (globalThis as any).process?.memoryUsage?.().rss ?? 0;
}

export async function compressCheckpointStreaming(input: string, output: string, options: StreamCompressOptions): Promise<StreamCompressResult> {
  const fn = 'compressCheckpointStreaming';
  const t0 = performance.now();
  if (!options || typeof options !== 'object') throw new ArgumentError(fn, 'options', options, 'must be an object');
  const method = options.method;
  if (!['svd-llm', 'svd', 'gptq', 'rtn'].includes(method)) throw new ArgumentError(fn, 'options.method', method, "must be 'svd-llm', 'svd', 'gptq' or 'rtn'");
  const ratio = options.ratio ?? 0.2,
    bits = options.bits ?? 4;
  if (!(ratio > 0 && ratio < 1)) throw new ArgumentError(fn, 'options.ratio', ratio, 'must be in (0, 1)');
  if (!Array.isArray(options.calibration) || options.calibration.length === 0 || options.calibration.some((w) => !Array.isArray(w) || w.length === 0)) {
    throw new ArgumentError(fn, 'options.calibration', options.calibration, 'must be a non-empty array of non-empty token windows');
  }
  const { st, config: cfgPath } = inputFiles(fn, input);
  const outPath = resolve(output);
  const real = (p: string) => (existsSync(p) ? realpathSync(p) : resolve(p));
  if (real(outPath) === real(st) || real(outPath) === real(input) || real(outPath) === real(cfgPath))
    throw new ArgumentError(fn, 'output', output, `must not be the input '${input}'`);
  if (existsSync(outPath) && !options.overwrite)
    throw new ArgumentError(fn, 'output', output, 'already exists (pass overwrite: true to replace it; the input is never touched)');
  const schedule = options.schedule ?? 'sequential';
  if (schedule !== 'sequential' && schedule !== 'per-block') throw new ArgumentError(fn, 'options.schedule', schedule, "must be 'sequential' or 'per-block'");
  const write = options.write ?? ((fd: number, b: Uint8Array, pos: number) => writeSync(fd, b, 0, b.length, pos));
  const backend = options.backend ?? getReferenceBackend();
  let peak = rss();
  const sample = () => {
    peak = Math.max(peak, rss());
  };

  const config: LlamaConfig = hfConfigToLlama(JSON.parse(readFileSync(cfgPath, 'utf8')), cfgPath);
  const src = fileSource(st);
  try {
    const file = SafetensorsFile.openSync(src, { file: st });
    const need = (name: string): SafetensorsEntry => {
      if (!file.has(name)) throw new FormatError(fn, st, { tensor: name }, 'is missing');
      return file.entry(name);
    };
    const mat = (name: string, rows: number, cols: number): Tensor<'f32'> => {
      const e = need(name);
      if (e.shape.length !== 2 || e.shape[0] !== rows || e.shape[1] !== cols)
        throw new FormatError(fn, st, { tensor: name, field: 'shape' }, `is [${e.shape}], expected [${rows}, ${cols}]`);
      const t = file.tensorSync(name);
      return (t.dtype === 'f32' ? t : t.astype('f32')) as Tensor<'f32'>;
    };
    const vec = (name: string): Float32Array => {
      const e = need(name);
      if (e.shape.length !== 1 || e.shape[0] !== config.dim)
        throw new FormatError(fn, st, { tensor: name, field: 'shape' }, `is [${e.shape}], expected [${config.dim}]`);
      return file.tensorSync(name).astype('f32').data as Float32Array;
    };
    const embName = 'model.embed_tokens.weight';
    const emb = need(embName);
    if (emb.shape[0] !== config.vocabSize || emb.shape[1] !== config.dim)
      throw new FormatError(fn, st, { tensor: embName, field: 'shape' }, `is [${emb.shape}], expected [${config.vocabSize}, ${config.dim}]`);

    const inDtype = config.nLayers > 0 ? need('model.layers.0.self_attn.q_proj.weight').dtype : 'F32';
    const factorDtype = options.factorDtype ?? (inDtype === 'BF16' ? 'bf16' : inDtype === 'F16' ? 'f16' : 'f32');
    if (factorDtype !== 'f32' && factorDtype !== 'f16' && factorDtype !== 'bf16')
      throw new ArgumentError(fn, 'options.factorDtype', factorDtype, "must be 'f32', 'f16' or 'bf16'");

    // ---- journal: fingerprint of the input (size, mtime, header hash) and of the options
    const headerBytes = src.read(0, Math.min(src.size, file.header.dataStart)) as Uint8Array;
    const inputFp = JSON.stringify({
      file: basename(st),
      size: src.size,
      mtimeMs: Math.floor(statSync(st).mtimeMs),
      header: createHash('sha256').update(headerBytes).digest('hex'),
    });
    const calHash = createHash('sha256').update(JSON.stringify(options.calibration)).digest('hex');
    const optFp = JSON.stringify({
      method,
      factorDtype: method.startsWith('svd') ? factorDtype : undefined,
      ratio: method.startsWith('svd') ? ratio : undefined,
      bits: method.startsWith('svd') ? undefined : bits,
      groupSize: options.groupSize,
      calibration: calHash,
      schedule: method === 'svd-llm' || method === 'gptq' ? schedule : undefined,
    });
    const jdir = `${outPath}.journal`;
    const jfile = join(jdir, 'journal.json');
    const dataFile = join(jdir, 'data.bin');
    let journal: Journal = { version: 1, fingerprint: { input: inputFp, options: optFp }, blocks: [] };
    if (existsSync(jfile)) {
      const old = JSON.parse(readFileSync(jfile, 'utf8')) as Journal;
      if (old.fingerprint?.input !== inputFp) throw new JournalMismatchError(fn, jdir, 'input', old.fingerprint?.input ?? '?', inputFp);
      if (old.fingerprint?.options !== optFp) throw new JournalMismatchError(fn, jdir, 'options', old.fingerprint?.options ?? '?', optFp);
      journal = old;
    } else mkdirSync(jdir, { recursive: true });
    const saveJournal = () => {
      const tmp = jfile + '.tmp';
      writeFileSync(tmp, JSON.stringify(journal));
      renameSync(tmp, jfile);
    };
    const resumedFrom = journal.blocks.length;

    // ---- the data file: truncate to the last finished block, then append
    const dfd = openSync(dataFile, existsSync(dataFile) ? 'r+' : 'w+');
    let dataEnd = journal.blocks.at(-1)?.dataEnd ?? 0;
    try {
      if (fstatSync(dfd).size < dataEnd)
        throw new FormatError(fn, dataFile, { field: 'size' }, `is ${fstatSync(dfd).size} bytes, the journal says ${dataEnd}: delete '${jdir}' to start over`);
      ftruncateSync(dfd, dataEnd);
      /** Appends a tensor's bytes (or, for half storage, its already encoded f16/bf16 bytes) to data.bin. */
      const append = (name: string, t: Tensor, recs: TensorRec[], half?: { kind: 'f16' | 'bf16'; bytes: Uint8Array }) => {
        const c = t.contiguous();
        const bytes = half ? half.bytes : new Uint8Array(c.data.buffer, c.data.byteOffset, c.size * c.data.BYTES_PER_ELEMENT);
        try {
          let done = 0;
          while (done < bytes.length) done += write(dfd, bytes.subarray(done), dataEnd + done);
        } catch (e) {
          throw new OutputWriteError(fn, dataFile, e);
        }
        recs.push({
          name,
          dtype: half ? (half.kind === 'f16' ? 'F16' : 'BF16') : ST_DTYPE[t.dtype]!,
          shape: [...t.shape],
          begin: dataEnd,
          end: dataEnd + bytes.length,
        });
        dataEnd += bytes.length;
      };

      // ---- calibration activations: embedding rows read on demand, or the state saved after the last finished block
      const T = options.calibration.map((w) => w.length);
      let h: Float32Array[];
      if (resumedFrom > 0) {
        const buf = readFileSync(join(jdir, `h-${resumedFrom - 1}.f32`));
        const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
        let o = 0;
        h = T.map((t) => {
          const x = all.slice(o, o + t * config.dim);
          o += t * config.dim;
          return x;
        });
      } else {
        h = options.calibration.map((w) => {
          const x = new Float32Array(w.length * config.dim);
          w.forEach((tok, i) => {
            if (!Number.isInteger(tok) || tok < 0 || tok >= config.vocabSize)
              throw new ArgumentError(fn, 'options.calibration', tok, `must hold token ids in [0, ${config.vocabSize})`);
            const row = mat1Row(file, embName, tok, config.dim);
            x.set(row, i * config.dim);
          });
          return x;
        });
      }

      const kv = config.nKvHeads * config.headDim,
        qd = config.nHeads * config.headDim;
      const shapes: Record<LinearRole, [number, number]> = {
        q: [qd, config.dim],
        k: [kv, config.dim],
        v: [kv, config.dim],
        o: [config.dim, qd],
        gate: [config.hiddenDim, config.dim],
        up: [config.hiddenDim, config.dim],
        down: [config.dim, config.hiddenDim],
      };
      // a one-block shell to run a block: no head of its own (tied to the 1-row dummy embedding) whatever the model has
      const shellCfg: LlamaConfig = { ...config, nLayers: 1, vocabSize: 1, tiedEmbeddings: true };
      const total = config.nLayers;
      for (let b = resumedFrom; b < total; b++) {
        const tb = performance.now();
        options.onProgress?.(`block ${b}: read`, b, total);
        const pre = `model.layers.${b}.`;
        const dense: Record<LinearRole, Tensor<'f32'>> = {} as any;
        for (const r of LINEAR_ROLES) dense[r] = mat(pre + HF[r] + '.weight', ...shapes[r]);
        const attnNorm = vec(pre + 'input_layernorm.weight'),
          ffnNorm = vec(pre + 'post_attention_layernorm.weight');
        const block = { attnNorm, ffnNorm, ...Object.fromEntries(LINEAR_ROLES.map((r) => [r, new DenseLinear(dense[r])])) } as any;
        const shell = new LlamaModel(shellCfg, {
          embedding: new Tensor('f32', new Float32Array(config.dim), [1, config.dim]),
          blocks: [block],
          finalNorm: new Float32Array(config.dim).fill(1),
        });
        const widths: Record<LinearRole, number> = {
          q: config.dim,
          k: config.dim,
          v: config.dim,
          o: qd,
          gate: config.dim,
          up: config.dim,
          down: config.hiddenDim,
        };
        const totalTokens = T.reduce((a, t) => a + t, 0);
        const recs: TensorRec[] = [];
        const layers: Record<string, LayerRecord> = {};
        // The calibration schedule inside the block (the one of @llmpress/models' compressLinears): with
        // 'sequential' the block is re-run before each group {q,k,v} → o → {gate,up} → down, so a group's
        // Gram comes from the inputs the already compressed groups produce; 'per-block' captures all seven
        // from the block as read. Earlier blocks are always the compressed ones (the stream h).
        const groups: LinearRole[][] = schedule === 'sequential' ? LINEAR_GROUPS.map((g) => [...g]) : [[...LINEAR_ROLES]];
        const needStats = method === 'svd-llm' || method === 'gptq';
        // SVD-LLM keeps the down projection's input rows (tokens × hidden: 16 MB for 1B with 512 tokens)
        // instead of their hidden² Gram (512 MB): its Gram route needs only W Xᵀ (svdLlmLayer with `inputs`)
        const keepRows = method === 'svd-llm';
        for (const group of groups) {
          const grams: Partial<Record<LinearRole, Float64Array>> = {};
          let downRows: Float32Array | undefined;
          if (needStats) {
            for (const r of group) {
              const gr = GRAM_OF[r];
              if (gr === 'down' && keepRows) downRows = new Float32Array(totalTokens * widths.down);
              else if (!grams[gr]) grams[gr] = new Float64Array(widths[gr] * widths[gr]);
            }
            let count = 0;
            for (let w = 0; w < h.length; w++) {
              shell.runBlock(0, h[w]!.slice(), T[w]!, new Fp32KVCache(shellCfg, { capacity: T[w]!, backend }), {
                backend,
                hooks: {
                  onLinearInput: (_n: string, role: LinearRole, _b: number, xin: Tensor) => {
                    if (grams[role]) accumulateGram(grams[role]!, xin.contiguous().data as Float32Array, xin.shape[0]!, xin.shape[1]!, backend);
                    else if (role === 'down' && downRows) downRows.set(xin.contiguous().data as Float32Array, count * widths.down);
                  },
                } as any,
              });
              count += T[w]!;
            }
            sample();
          }
          options.onProgress?.(`block ${b}: compress ${group.join('+')}`, b, total);
          // SVD-LLM by the Gram route (decision 0005): layers with m < n (k, v, down) take the eigh of
          // W G Wᵀ (m × m; no 8192² whitening for down), layers with m ≥ n whiten once per Gram (shared by
          // q and gate/up) and take the eigh of (W S)ᵀ(W S). Grams live for one group only.
          const whitened = new Map<LinearRole, WhitenResult>();
          for (const r of group) {
            const W = dense[r];
            const n = widths[r];
            const gr = GRAM_OF[r];
            let layer: LinearLayer;
            if (method === 'svd-llm' && r === 'down') {
              layer = svdLlmLayer(
                W,
                { n, count: totalTokens, inputs: new Tensor('f32', downRows!, [totalTokens, n]) },
                { ratio, backend, route: 'gram', allowRankDeficient: true, name: `blocks.${b}.${r}` },
              ).layer;
            } else if (method === 'svd-llm') {
              const G = new Tensor('f64', grams[gr]!, [n, n]);
              const needsWhitening = shapes[r][0] >= n;
              if (needsWhitening && !whitened.has(gr)) whitened.set(gr, whiten(G, { backend }));
              layer = svdLlmLayer(
                W,
                { n, count: totalTokens, gram: grams[gr]! },
                {
                  ratio,
                  backend,
                  route: 'gram',
                  whitenWith: 'working',
                  whitened: needsWhitening ? whitened.get(gr) : undefined,
                  allowRankDeficient: true,
                  name: `blocks.${b}.${r}`,
                },
              ).layer;
            } else if (method === 'svd') layer = svdLayer(W, { ratio, backend }).layer;
            else {
              // the per-layer functions gptqModel / rtnModel run, with gptqModel's defaults (static act-order, clip
              // search); g128 by default, the last group ragged where 128 does not divide the width
              const gs = options.groupSize ?? (n >= 128 ? 128 : 0);
              layer =
                method === 'gptq'
                  ? gptqLayer(W, { gram: grams[gr]! }, { ...GPTQ_MODEL_DEFAULTS, bits: bits as any, groupSize: gs, backend }).layer
                  : rtnLayer(W, { bits: bits as any, groupSize: gs }).layer;
            }
            const s = layer.serialize();
            const half = s.kind === 'low-rank' && factorDtype !== 'f32' ? factorDtype : undefined;
            // the next groups and blocks are calibrated through exactly what is stored: the rounded factors
            const encoded = half
              ? Object.fromEntries(Object.entries(s.tensors).map(([tn, t]) => [tn, encodeHalf(t.contiguous().data as Float32Array, half)]))
              : undefined;
            if (half)
              layer = LowRankLinear.deserialize({
                ...s,
                tensors: Object.fromEntries(Object.entries(s.tensors).map(([tn, t]) => [tn, new Tensor('f32', decodeHalf(encoded![tn]!, half), [...t.shape])])),
              });
            block[r] = layer;
            const name = `blocks.${b}.${r}`;
            const names: string[] = [];
            for (const [tn, t] of Object.entries(s.tensors)) {
              append(`${name}.${tn}`, t, recs, half ? { kind: half, bytes: encoded![tn]! } : undefined);
              names.push(tn);
            }
            layers[name] = { kind: s.kind, meta: s.meta, tensors: names };
            sample();
          }
        }
        append(`blocks.${b}.attn_norm`, new Tensor('f32', attnNorm, [config.dim]), recs);
        append(`blocks.${b}.ffn_norm`, new Tensor('f32', ffnNorm, [config.dim]), recs);
        // propagate the calibration through the COMPRESSED block
        const compressed = new LlamaModel(shellCfg, {
          embedding: new Tensor('f32', new Float32Array(config.dim), [1, config.dim]),
          blocks: [block],
          finalNorm: new Float32Array(config.dim).fill(1),
        });
        for (let w = 0; w < h.length; w++) compressed.runBlock(0, h[w]!, T[w]!, new Fp32KVCache(shellCfg, { capacity: T[w]!, backend }), { backend });
        // durability: data first, then the activations, then the journal entry that points at both
        fsyncSync(dfd);
        const hAll = new Float32Array(h.reduce((a, x) => a + x.length, 0));
        let o = 0;
        for (const x of h) {
          hAll.set(x, o);
          o += x.length;
        }
        const hTmp = join(jdir, `h-${b}.f32.tmp`);
        writeFileSync(hTmp, new Uint8Array(hAll.buffer));
        renameSync(hTmp, join(jdir, `h-${b}.f32`));
        journal.blocks.push({ block: b, dataEnd, tensors: recs, layers });
        // free what the block's layers placed in the backend's memory (quantized kernels' weight copies)
        if (backend) for (const r of LINEAR_ROLES) (block[r] as { releaseBackendMemory?(be: Backend): void }).releaseBackendMemory?.(backend);
        saveJournal();
        if (b > 0 && existsSync(join(jdir, `h-${b - 1}.f32`))) rmSync(join(jdir, `h-${b - 1}.f32`));
        sample();
        options.onBlock?.(b, { seconds: (performance.now() - tb) / 1000, rss: rss() });
      }

      // ---- the rest: final norm, embedding (f32, converted in row chunks), untied head (dense)
      options.onProgress?.('finish', total, total);
      const tail: TensorRec[] = [];
      append('final_norm', new Tensor('f32', vec('model.norm.weight'), [config.dim]), tail);
      // copied in its stored dtype (F32/F16/BF16 bytes as they are: models' reader decodes F16/BF16 to f32 on load)
      const copyMatrix = (srcName: string, dstName: string) => {
        const e = need(srcName);
        const size = e.dtype === 'F32' ? 4 : e.dtype === 'F16' || e.dtype === 'BF16' ? 2 : 0;
        if (!size || e.shape.length !== 2)
          throw new FormatError(fn, st, { tensor: srcName, field: 'dtype' }, `${e.dtype} [${e.shape}] cannot be streamed (F32, F16 or BF16 matrices)`);
        const begin = dataEnd,
          total = e.end - e.begin;
        const chunk = 1 << 24;
        for (let off = 0; off < total; off += chunk) {
          const raw = src.read(file.header.dataStart + e.begin + off, Math.min(chunk, total - off)) as Uint8Array;
          try {
            let d = 0;
            while (d < raw.length) d += write(dfd, raw.subarray(d), dataEnd + d);
          } catch (err) {
            throw new OutputWriteError(fn, dataFile, err);
          }
          dataEnd += raw.length;
        }
        tail.push({ name: dstName, dtype: e.dtype, shape: [...e.shape], begin, end: dataEnd });
      };
      copyMatrix(embName, 'embedding');
      const headLayers: Record<string, LayerRecord> = {};
      const tied = config.tiedEmbeddings || !file.has('lm_head.weight');
      if (!tied) {
        copyMatrix('lm_head.weight', 'lm_head.weight');
        headLayers['lm_head'] = { kind: 'dense', meta: {}, tensors: ['weight'] };
      }
      fsyncSync(dfd);

      // ---- assemble: header (same metadata as models' saveModel) + data, under a temp name, then rename
      const all = [...journal.blocks.flatMap((x) => x.tensors), ...tail];
      const layerRecords = Object.assign({}, ...journal.blocks.map((x) => x.layers), headLayers);
      const header: Record<string, unknown> = {
        __metadata__: {
          format: 'llmpress-model/1',
          'llmpress.format': 'llmpress-model/1',
          'llmpress.config': JSON.stringify(config),
          'llmpress.head': tied ? 'tied' : 'lm_head',
          'llmpress.layers': JSON.stringify(layerRecords),
          'llmpress.method': method,
          'llmpress.streamed': 'true',
        },
      };
      for (const r of all) header[r.name] = { dtype: r.dtype, shape: r.shape, data_offsets: [r.begin, r.end] };
      let json = new TextEncoder().encode(JSON.stringify(header));
      const pad = (8 - ((8 + json.length) % 8)) % 8;
      if (pad) {
        const j = new Uint8Array(json.length + pad).fill(0x20);
        j.set(json);
        json = j;
      }
      const tmpOut = join(dirname(outPath), `.${basename(outPath)}.${process.pid}.tmp`);
      const ofd = openSync(tmpOut, 'w');
      try {
        const prefix = new Uint8Array(8);
        new DataView(prefix.buffer).setUint32(0, json.length, true);
        let pos = 0;
        const put = (b: Uint8Array) => {
          let d = 0;
          while (d < b.length) d += write(ofd, b.subarray(d), pos + d);
          pos += b.length;
        };
        put(prefix);
        put(json);
        const buf = new Uint8Array(1 << 22);
        for (let off = 0; off < dataEnd; off += buf.length) {
          const n = Math.min(buf.length, dataEnd - off);
          const got = readSync(dfd, buf, 0, n, off);
          if (got !== n) throw new Error(`short read of the journal data at ${off}`);
          put(buf.subarray(0, n));
        }
        fsyncSync(ofd);
      } catch (e) {
        closeSync(ofd);
        rmSync(tmpOut, { force: true });
        throw e instanceof OutputWriteError ? e : new OutputWriteError(fn, outPath, e);
      }
      closeSync(ofd);
      renameSync(tmpOut, outPath);
      sample();
      closeSync(dfd);
      rmSync(jdir, { recursive: true, force: true });
      return {
        output: outPath,
        blocks: total,
        resumedFrom,
        seconds: (performance.now() - t0) / 1000,
        peakRss: peak,
        bytes: statSync(outPath).size,
        inputBytes: src.size,
      };
    } catch (e) {
      try {
        closeSync(dfd);
      } catch {
        /* already closed */
      }
      throw e;
    }
  } finally {
    src.close();
  }
}

/** One embedding row as f32, read by byte range. */
function mat1Row(file: SafetensorsFile, name: string, row: number, cols: number): Float32Array {
  return rowsAsF32(file, name, row, 1, cols);
}

/** `count` rows starting at `row` of a 2-D tensor as f32, reading only their bytes. */
function rowsAsF32(file: SafetensorsFile, name: string, row: number, count: number, cols: number): Float32Array {
  const e = file.entry(name);
  const size = e.dtype === 'F32' ? 4 : e.dtype === 'F16' || e.dtype === 'BF16' ? 2 : 0;
  if (!size)
    throw new FormatError(
      'compressCheckpointStreaming',
      file.header.file,
      { tensor: name, field: 'dtype' },
      `${e.dtype} is not supported for streaming (F32, F16, BF16)`,
    );
  const src = (file as any).src as { read(o: number, n: number): Uint8Array };
  const raw = src.read(file.header.dataStart + e.begin + row * cols * size, count * cols * size);
  if (size === 2) return decodeHalf(raw, e.dtype === 'BF16' ? 'bf16' : 'f16');
  const out = new Float32Array(count * cols);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(4 * i, true);
  return out;
}
