/**
 * The one whole-model compression driver. Every data-aware method (SVD-LLM, ASVD, SVD, GPTQ, RTN,
 * QUAD's refit, Q2N, Saten) walks the model through `compressLinears`: it owns the calibration
 * schedule (true-sequential per group by default, see `CalibrationSchedule`), calls a per-layer
 * compressor, swaps the layers into a copy of the model, reports progress with an ETA, honours an
 * AbortSignal and accounts the bytes.
 */
import { ArgumentError, resolveBackend, type Tensor, type Backend, type LinearLayer } from '@llmpress/tensor';
import { LINEAR_ROLES, LlamaModel, type LinearRole } from '../model.js';
import {
  CALIBRATION_SCHEDULES,
  scheduledCalibration,
  throwIfAborted,
  type CalibrationSchedule,
  type CalibrationWindows,
  type SequentialStats,
} from '../calibration.js';

export interface LayerJob {
  /** 'blocks.3.down'. */
  name: string;
  role: LinearRole;
  block: number;
  /** The ORIGINAL dense weight, out × in (the input model's layer, `toDense()`). */
  weight: Tensor<'f32'>;
  /**
   * gram (working inputs X̂ᵀX̂), origGram (XᵀX), crossGram (XᵀX̂), meanAbs, origMeanAbs, count (f64,
   * read-only by convention). With `dataFree: true` every array is empty and count is 0.
   */
  stats: SequentialStats;
}

export interface LayerOutcome<R> {
  layer: LinearLayer;
  report: R;
  /** Stored bytes of the layer (every tensor: codes, scales, indices, permutations). */
  bytes: number;
  kind: string;
}

export type LayerCompressor<R> = (job: LayerJob, ctx: { backend: Backend; signal?: AbortSignal }) => LayerOutcome<R> | Promise<LayerOutcome<R>>;

export interface DriverProgress {
  /** Layers compressed so far, of `total`. */
  done: number;
  total: number;
  /** The layer being compressed, or the group being calibrated ('blocks.0.q+k+v'). */
  layer: string;
  phase: 'calibrate' | 'compress';
  elapsedMs: number;
  /** Linear extrapolation from the layers done so far (undefined before the first). */
  etaMs?: number;
}

export interface DriverOptions<R> {
  /** Calibration token windows (`evalSplit().calibration`, or plain token arrays). Always windows. */
  calibration?: CalibrationWindows;
  compress: LayerCompressor<R>;
  /** Default 'sequential' (true-sequential per group). 'per-block' and 'dense' are ablations. */
  schedule?: CalibrationSchedule;
  /** Which roles / blocks to compress (default all); the others are kept and still propagate. */
  roles?: readonly LinearRole[];
  blocks?: readonly number[];
  backend?: Backend;
  onProgress?: (p: DriverProgress) => void;
  signal?: AbortSignal;
  /** For data-free methods (plain SVD, RTN without statistics): no calibration runs, `calibration` may be omitted. */
  dataFree?: boolean;
}

export interface CompressResult<R> {
  /** A new model; the input is never mutated. */
  model: LlamaModel;
  layers: Array<{ name: string; kind: string; bytes: number; report: R }>;
  /** Compressed linears' bytes (every stored tensor) + the untouched linears' bytes. */
  bytes: number;
  /** The same linears, dense f32. */
  denseBytes: number;
  /** Name of the backend that ran. */
  backend: string;
}

const DRIVER = 'compressLinears';

function emptyStats(name: string, role: LinearRole, block: number, n: number): SequentialStats {
  const z = new Float64Array(0);
  return { name, role, block, n, count: 0, gram: z, origGram: z, crossGram: z, meanAbs: z, origMeanAbs: z };
}

export async function compressLinears<R>(model: LlamaModel, options: DriverOptions<R>): Promise<CompressResult<R>> {
  const fn = DRIVER;
  if (
    !(model instanceof LlamaModel) &&
    !(model && typeof (model as any).linears === 'function' && typeof (model as any).clone === 'function' && typeof (model as any).runBlock === 'function')
  ) {
    throw new ArgumentError(fn, 'model', model, 'must be a LlamaModel');
  }
  if (!options || typeof options !== 'object') throw new ArgumentError(fn, 'options', options, 'must be an object');
  if (typeof options.compress !== 'function') throw new ArgumentError(fn, 'options.compress', options.compress, 'must be a per-layer compressor function');
  const schedule = options.schedule ?? 'sequential';
  if (!CALIBRATION_SCHEDULES.includes(schedule))
    throw new ArgumentError(fn, 'options.schedule', schedule, `must be one of ${CALIBRATION_SCHEDULES.map((s) => `'${s}'`).join(', ')}`);
  const dataFree = options.dataFree === true;
  if (!dataFree && (!Array.isArray(options.calibration) || options.calibration.length === 0)) {
    throw new ArgumentError(fn, 'options.calibration', options.calibration, 'must be a non-empty array of token windows');
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function')
    throw new ArgumentError(fn, 'options.onProgress', options.onProgress, 'must be a function');
  const signal = options.signal;
  if (signal !== undefined && (typeof signal !== 'object' || signal === null || typeof (signal as AbortSignal).aborted !== 'boolean'))
    throw new ArgumentError(fn, 'options.signal', signal, 'must be an AbortSignal');
  const roles = (options.roles ?? LINEAR_ROLES).slice();
  if (!Array.isArray(options.roles ?? LINEAR_ROLES) || roles.length === 0)
    throw new ArgumentError(fn, 'options.roles', options.roles, 'must be a non-empty array of roles');
  for (const r of roles)
    if (!LINEAR_ROLES.includes(r)) throw new ArgumentError(fn, 'options.roles', options.roles, `must hold only ${LINEAR_ROLES.join(', ')}`);
  const L = model.config.nLayers;
  const blocks = [...new Set(options.blocks ?? Array.from({ length: L }, (_, i) => i))].sort((a, b) => a - b);
  if (blocks.length === 0) throw new ArgumentError(fn, 'options.blocks', options.blocks, 'must be a non-empty array of block indices');
  for (const b of blocks)
    if (!Number.isInteger(b) || b < 0 || b >= L) throw new ArgumentError(fn, 'options.blocks', options.blocks, `must hold block indices in [0, ${L})`);
  const backend = resolveBackend(fn, options.backend);
  throwIfAborted(fn, signal);

  const working = model.clone();
  const todo = model.linears().filter((e) => roles.includes(e.role) && blocks.includes(e.block));
  const total = todo.length;
  const layers: CompressResult<R>['layers'] = [];
  const t0 = Date.now();
  let done = 0;
  const progress = (layer: string, phase: 'calibrate' | 'compress') => {
    if (!options.onProgress) return;
    const elapsedMs = Date.now() - t0;
    options.onProgress({ done, total, layer, phase, elapsedMs, etaMs: done > 0 ? (elapsedMs / done) * (total - done) : undefined });
  };
  const run = async (b: number, role: LinearRole, stats: SequentialStats) => {
    const name = `blocks.${b}.${role}`;
    const orig = model.blocks[b]![role];
    const weight = orig.toDense() as Tensor<'f32'>;
    progress(name, 'compress');
    const out = await options.compress({ name, role, block: b, weight, stats }, { backend, signal });
    throwIfAborted(fn, signal);
    if (!out || typeof out !== 'object' || !out.layer || typeof out.layer.forward !== 'function')
      throw new ArgumentError(fn, 'options.compress', out, `must return { layer, report, bytes, kind } for '${name}'`);
    if (out.layer.inFeatures !== orig.inFeatures || out.layer.outFeatures !== orig.outFeatures) {
      throw new ArgumentError(
        fn,
        'options.compress',
        `${out.layer.outFeatures}x${out.layer.inFeatures}`,
        `must return a layer of shape ${orig.outFeatures}x${orig.inFeatures} for '${name}'`,
      );
    }
    const bytes = typeof out.bytes === 'number' && Number.isFinite(out.bytes) && out.bytes >= 0 ? out.bytes : out.layer.bytes();
    working.setLinear(name, out.layer);
    layers.push({ name, kind: typeof out.kind === 'string' ? out.kind : out.layer.kind, bytes, report: out.report });
    done++;
  };

  if (dataFree) {
    for (const e of todo) {
      throwIfAborted(fn, signal);
      await run(e.block, e.role, emptyStats(e.name, e.role, e.block, e.layer.inFeatures));
    }
  } else {
    await scheduledCalibration(
      model,
      working,
      options.calibration!,
      async (b, stats) => {
        for (const [role, st] of stats) await run(b, role, st);
      },
      {
        schedule,
        roles,
        blocks,
        backend,
        signal,
        onCalibrate: (b, group) => progress(`blocks.${b}.${group.join('+')}`, 'calibrate'),
      },
    );
  }
  let bytes = 0,
    denseBytes = 0;
  const replaced = new Set(layers.map((l) => l.name));
  for (const l of layers) bytes += l.bytes;
  for (const e of working.linears()) {
    denseBytes += 4 * e.layer.inFeatures * e.layer.outFeatures;
    if (!replaced.has(e.name)) bytes += e.layer.bytes();
  }
  return { model: working, layers, bytes, denseBytes, backend: backend.name };
}
