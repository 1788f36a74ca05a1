/**
 * One registry from a method name to the package that implements it, so `llmpress compress
 * --method X` and the demo run every method the same way. Each entry documents its setting.
 */
import { ArgumentError, DenseLinear, type Backend, type LinearLayer, type SerializedLayer } from '@llmpress/tensor';
import type { LlamaModel, Window, DriverProgress } from '@llmpress/models';
import { svdLlmModel, asvdModel, svdModel, LowRankLinear } from '@llmpress/low-rank';
import { satenModel, TTLinear, TTSparseLinear, LowRankSparseLinear } from '@llmpress/tt-networks';
import { QuantizedLinear, QuantActLinear, quadModel, gptqModel, rtnModel, type ActivationPlan, type Bits } from '@llmpress/quantizers';
import { q2nModel } from '@llmpress/nullspace';

export const METHODS = [
  'svd-llm',
  'svd-llm-update',
  'svd',
  'asvd',
  'tt',
  'saten',
  'saten-2:4',
  'rtn',
  'gptq',
  'q2n-rtn',
  'q2n-gptq',
  'quad',
  'quad-a8',
] as const;
export type MethodName = (typeof METHODS)[number];

export interface CompressRequest {
  /** Fraction of the linears' parameters to remove (low-rank methods), default 0.4. */
  ratio?: number;
  /** Weight bits (quantizers), default 4. */
  bits?: number;
  groupSize?: number;
  /** Stored bytes of the compressed linears as a fraction of their dense f32 bytes (TT methods), default 0.4. */
  budget?: number;
  calibration: Window[];
  backend?: Backend;
  onProgress?: (label: string, done: number, total: number) => void;
  /** TT methods: shape-search limits (default: the package's full search) and a work cache shared across calls on the same model. */
  ttSearch?: { orders?: number[]; perSide?: number; steps?: number };
  ttCache?: Map<string, unknown>;
}

export interface CompressOutcome {
  model: LlamaModel;
  setting: string;
  notes: string[];
}

/** Deserializers for every layer kind the methods write (for `loadCompressedModel(file, { kinds })`). */
export const ALL_KINDS: Record<string, (s: SerializedLayer) => LinearLayer> = {
  dense: DenseLinear.deserialize,
  'low-rank': LowRankLinear.deserialize,
  tt: TTLinear.deserialize,
  'tt-sparse': TTSparseLinear.deserialize,
  'low-rank-sparse': LowRankSparseLinear.deserialize,
  quantized: QuantizedLinear.deserialize,
  'quant-act': QuantActLinear.deserialize,
};

/** Which options each method reads (the CLI rejects the others up front). */
export const METHOD_OPTIONS: Record<MethodName, ReadonlyArray<'ratio' | 'bits' | 'group-size' | 'budget'>> = {
  'svd-llm': ['ratio'],
  'svd-llm-update': ['ratio'],
  svd: ['ratio'],
  asvd: ['ratio'],
  tt: ['budget'],
  saten: ['budget'],
  'saten-2:4': ['budget'],
  rtn: ['bits', 'group-size'],
  gptq: ['bits', 'group-size'],
  'q2n-rtn': ['bits', 'group-size'],
  'q2n-gptq': ['bits', 'group-size'],
  quad: ['bits'],
  'quad-a8': ['bits'],
};

/** QUAD's activation plan: W·A4 (every linear's input per-token 4-bit) or the A8 variant. */
export function quadActivations(method: 'quad' | 'quad-a8'): ActivationPlan {
  const a = method === 'quad' ? 4 : 8;
  return { readers: a, o: a, down: a };
}

/** The group-size label: 'g32', with the widths it does not divide (their last group is ragged) named. */
export function groupLabel(model: LlamaModel, groupSize: number): string {
  if (groupSize === 0) return 'per-channel';
  const widths = [...new Set(model.linears().map((e) => e.layer.inFeatures))];
  const bad = widths.filter((n) => n % groupSize !== 0);
  return bad.length ? `g${groupSize} (last group ragged where ${groupSize} ∤ ${bad.join(', ')})` : `g${groupSize}`;
}

export function isMethod(x: unknown): x is MethodName {
  return typeof x === 'string' && (METHODS as readonly string[]).includes(x);
}

export async function compressWith(method: MethodName, model: LlamaModel, req: CompressRequest): Promise<CompressOutcome> {
  const fn = 'compressWith';
  if (!isMethod(method)) throw new ArgumentError(fn, 'method', method, `must be one of ${METHODS.join(', ')}`);
  const progress = req.onProgress ?? (() => {});
  const ratio = req.ratio ?? 0.4,
    bits = req.bits ?? 4,
    budget = req.budget ?? 0.4;
  const phased = (p: DriverProgress) => progress(`${p.phase} ${p.layer}`, p.done, p.total);
  switch (method) {
    case 'svd-llm':
    case 'svd-llm-update':
    case 'svd':
    case 'asvd': {
      // the per-method drivers of @llmpress/low-rank: one progress event per layer (calibrate / compress phases)
      const common = { ratio, backend: req.backend, onProgress: phased };
      const r =
        method === 'svd'
          ? await svdModel(model, common)
          : method === 'asvd'
            ? await asvdModel(model, { ...common, calibration: req.calibration })
            : await svdLlmModel(model, { ...common, calibration: req.calibration, update: method === 'svd-llm-update' });
      const kept = r.layers.reduce((a, l) => a + (l.report.params ?? 0), 0),
        dense = r.layers.reduce((a, l) => a + (l.report.denseParams ?? 0), 0);
      return { model: r.model, setting: `${Math.round(ratio * 100)}% params removed`, notes: [`${kept} of ${dense} linear params kept`] };
    }
    case 'tt':
    case 'saten':
    case 'saten-2:4': {
      // satenModel on the one driver; calibration for all three (TT fits in the whitened space of the Grams, as before)
      const denseBytes = model.linears().reduce((a, e) => a + 4 * e.layer.inFeatures * e.layer.outFeatures, 0);
      const r = await satenModel(model, {
        method: method === 'tt' ? 'tt' : method === 'saten' ? 'saten-u' : 'saten-2:4',
        budget: budget * denseBytes,
        calibration: req.calibration,
        search: req.ttSearch,
        cache: req.ttCache,
        backend: req.backend,
        onProgress: phased,
      });
      return { model: r.model, setting: `${Math.round(budget * 100)}% of dense bytes`, notes: [] };
    }
    case 'rtn':
    case 'gptq':
    case 'q2n-rtn':
    case 'q2n-gptq': {
      // group size 32 by default; layers whose width it does not divide (stories260K's down_proj, 172) get a ragged last group.
      // Full grid, f16 scales; GPTQ: act-order with static groups (no stored permutation), clip search, percdamp 0.01;
      // every layer through the one driver (true-sequential per-group calibration). Q2N: t = 0.1, λ = 0.2, down_proj included.
      const groupSize = req.groupSize ?? 32;
      const quantizer = method.endsWith('rtn') ? 'rtn' : 'gptq';
      const spec = { bits: bits as Bits, groupSize, scaleDtype: 'f16' as const };
      const gptqOpts = { ...spec, actOrder: 'static' as const, clipSearch: true, percdamp: 0.01 };
      const onProgress = (p: DriverProgress) => progress(p.layer, p.done, p.total);
      const setting = `W${bits} ${groupLabel(model, groupSize)}`;
      if (!method.startsWith('q2n')) {
        const r =
          quantizer === 'gptq'
            ? await gptqModel(model, { ...gptqOpts, calibration: req.calibration, backend: req.backend, onProgress })
            : await rtnModel(model, { ...spec, backend: req.backend, onProgress });
        return { model: r.model, setting, notes: [] };
      }
      const q = await q2nModel(model, {
        quantizer,
        ...(quantizer === 'gptq' ? gptqOpts : spec),
        calibration: req.calibration,
        backend: req.backend,
        onProgress,
        q2n: { lambda: 0.2, nullSpace: { t: 0.1 } },
      });
      return { model: q.model, setting: `${setting}, Q2N t=0.1 λ=0.2`, notes: [] };
    }
    case 'quad':
    case 'quad-a8': {
      const r = Math.max(1, Math.round(model.config.dim / 64) * 4);
      const activations = quadActivations(method);
      progress('rotate', 0, 1);
      // prepare (rotation + outlier basis) then the one driver; GPTQ per output channel, clip search
      const q = await quadModel(model, {
        bits: bits as Bits,
        scaleDtype: 'f16',
        clipSearch: true,
        r,
        activations,
        calibration: req.calibration,
        backend: req.backend,
        onProgress: (p) => progress(p.layer, p.done, p.total),
      });
      return { model: q.model, setting: `W${bits}A${activations.readers}, r=${r}`, notes: [] };
    }
  }
}
