/**
 * The WebGPU device: adapter and device request, the limits and features the backend runs with,
 * the device-loss policy (`exec`), size checks and the counters every other part reports into.
 */
import { ArgumentError, LlmpressError } from '@llmpress/tensor';
import { DeviceLostError } from './errors.js';
import type { GemmKernel } from './shaders.js';

export interface WebGpuBackendOptions {
  /** The GPU entry point; defaults to `navigator.gpu`. */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  /**
   * GEMM kernel family. `auto` (default) picks `register` (no workgroup memory) on software
   * adapters (lavapipe, SwiftShader, WARP) and `tiled` (shared-memory tiles) on real GPUs.
   */
  gemmKernel?: 'auto' | GemmKernel;
  /**
   * What routines do after the device is lost: `fallback` (default) computes on the reference
   * backend (inputs stay on the CPU, so results are still correct); `reject` throws `DeviceLostError`.
   */
  onDeviceLost?: 'fallback' | 'reject';
  /** Called with the reason when the factory returns null (no WebGPU, no adapter, no device). */
  onUnavailable?: (reason: string) => void;
  /** Called once when the device is lost. */
  onLost?: (error: DeviceLostError) => void;
  /**
   * Largest buffer binding a call may use, in bytes (default and upper bound: the device's
   * `maxStorageBufferBindingSize`). Larger calls run on the reference backend, counted as `too-large`.
   */
  maxBindingBytes?: number;
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation (lavapipe, SwiftShader, WARP) or the adapter says it is a fallback adapter. */
  software: boolean;
}

export const REQUESTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;
export const OPTIONAL_FEATURES = ['shader-f16', 'timestamp-query'] as const;

function summarize(adapter: GPUAdapter): AdapterSummary {
  const info: any = (adapter as any).info ?? {};
  const s = (x: unknown) => (typeof x === 'string' ? x : '');
  const vendor = s(info.vendor),
    architecture = s(info.architecture),
    device = s(info.device),
    description = s(info.description);
  const text = `${vendor} ${architecture} ${device} ${description}`;
  const software =
    Boolean(info.isFallbackAdapter || (adapter as any).isFallbackAdapter) || /llvmpipe|lavapipe|swiftshader|software|warp|microsoft basic|\bcpu\b/i.test(text);
  return { vendor, architecture, device, description, software };
}

/**
 * Requests an adapter and a device with the backend's limits and optional features, or returns null
 * (after `onUnavailable(reason)`) when WebGPU cannot run here. Throws `ArgumentError` on bad options.
 */
export async function requestGpuDevice(options: WebGpuBackendOptions): Promise<{ device: GPUDevice; adapter: AdapterSummary } | null> {
  const unavailable = (reason: string) => {
    options.onUnavailable?.(reason);
    return null;
  };
  const gpu: GPU | undefined = options.gpu ?? (globalThis as any).navigator?.gpu;
  if (!gpu || typeof gpu.requestAdapter !== 'function') return unavailable('WebGPU is not available (no navigator.gpu and no `gpu` option)');
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter(options.powerPreference ? { powerPreference: options.powerPreference } : undefined);
  } catch (e) {
    return unavailable(`requestAdapter failed: ${(e as Error)?.message ?? e}`);
  }
  if (!adapter) return unavailable('requestAdapter returned null (no WebGPU adapter on this machine)');
  const requiredLimits: Record<string, number> = {};
  for (const k of REQUESTED_LIMITS) {
    const v = (adapter.limits as any)[k];
    if (typeof v === 'number') requiredLimits[k] = v;
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter!.features.has(f)) as GPUFeatureName[];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'llmpress' });
  } catch (e) {
    return unavailable(`requestDevice failed: ${(e as Error)?.message ?? e}`);
  }
  if (options.maxBindingBytes !== undefined && !(typeof options.maxBindingBytes === 'number' && options.maxBindingBytes > 0)) {
    device.destroy();
    throw new ArgumentError('createWebGpuBackend', 'options.maxBindingBytes', options.maxBindingBytes, 'must be a positive number of bytes');
  }
  if (options.gemmKernel !== undefined && !['auto', 'tiled', 'register'].includes(options.gemmKernel)) {
    device.destroy();
    throw new ArgumentError('createWebGpuBackend', 'options.gemmKernel', options.gemmKernel, "must be 'auto', 'tiled' or 'register'");
  }
  return { device, adapter: summarize(adapter) };
}

export interface DeviceCounters {
  dispatches: number;
  uploadedBytes: number;
  downloadedBytes: number;
  pipelinesCompiled: number;
  pipelineCacheHits: number;
  uncapturedErrors: number;
  lastUncapturedError?: string;
}

/** One GPUDevice with its limits, loss state, fallback policy and counters (shared by the pipeline cache, the submitter and the routines). */
export class GpuDevice {
  readonly gemmKernel: GemmKernel;
  readonly limits: Readonly<Record<string, number>>;
  readonly deviceFeatures: readonly string[];
  readonly counters: DeviceCounters = { dispatches: 0, uploadedBytes: 0, downloadedBytes: 0, pipelinesCompiled: 0, pipelineCacheHits: 0, uncapturedErrors: 0 };
  /** Calls computed on the reference backend, by reason. */
  readonly fallbackCounts: Record<string, number> = {};
  private lostError: DeviceLostError | null = null;
  private readonly lostSignal: Promise<never>;
  private warnedLost = false;
  disposed = false;

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterSummary,
    readonly options: WebGpuBackendOptions,
  ) {
    const k = options.gemmKernel ?? 'auto';
    this.gemmKernel = k === 'auto' ? (adapter.software ? 'register' : 'tiled') : k;
    const lim: Record<string, number> = {};
    for (const key of REQUESTED_LIMITS) lim[key] = Number((device.limits as any)[key]);
    this.limits = Object.freeze(lim);
    this.deviceFeatures = Object.freeze(OPTIONAL_FEATURES.filter((f) => device.features.has(f)));
    try {
      device.addEventListener?.('uncapturederror', (ev: any) => {
        this.counters.uncapturedErrors++;
        this.counters.lastUncapturedError = String(ev?.error?.message ?? ev);
      });
    } catch {
      /* implementations without EventTarget on GPUDevice: the counter stays 0 */
    }
    this.lostSignal = new Promise<never>((_, reject) => {
      device.lost.then((info) => {
        const err = new DeviceLostError('webgpu', String(info?.reason ?? 'unknown'), String(info?.message ?? ''));
        this.lostError = err;
        if (!this.disposed) this.options.onLost?.(err);
        reject(err);
      });
    });
    this.lostSignal.catch(() => {});
  }

  get lost(): boolean {
    return this.lostError !== null && !this.disposed;
  }

  /** Races `p` against the device loss. */
  guard<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.lostSignal]);
  }

  fallback(reason: string): void {
    this.fallbackCounts[reason] = (this.fallbackCounts[reason] ?? 0) + 1;
  }

  checkUsable(fn: string): void {
    if (this.disposed) throw new LlmpressError(fn, 'the WebGPU backend was disposed', 'E_DISPOSED');
  }

  /** Runs the GPU path; after a device loss follows the `onDeviceLost` policy. */
  async exec<T>(fn: string, gpu: () => Promise<T>, cpu: () => T): Promise<T> {
    this.checkUsable(fn);
    if (!this.lostError) {
      try {
        return await gpu();
      } catch (e) {
        if (!this.lostError && !DeviceLostError.isInstance(e)) throw e;
      }
    }
    const err = this.lostError ?? new DeviceLostError(fn, 'unknown', 'device lost');
    if ((this.options.onDeviceLost ?? 'fallback') === 'reject') throw new DeviceLostError(fn, err.reason, err.message);
    if (!this.warnedLost) {
      this.warnedLost = true;
      if (!this.options.onLost) console.warn(`[llmpress] ${err.message}; WebGPU routines now run on the reference backend`);
    }
    this.fallback('device-lost');
    return cpu();
  }

  /** Whether every binding of `bytes` fits the device's (and the options') binding limit. */
  fits(...bytes: number[]): boolean {
    const lim = Math.min(this.limits.maxStorageBufferBindingSize || 134217728, this.limits.maxBufferSize || Infinity, this.options.maxBindingBytes ?? Infinity);
    return bytes.every((b) => b <= lim);
  }

  /** Splits a 1-D count of workgroups over x and y (each at most maxComputeWorkgroupsPerDimension). */
  grid1d(groups: number): [number, number, number] {
    const max = this.limits.maxComputeWorkgroupsPerDimension || 65535;
    if (groups <= max) return [Math.max(1, groups), 1, 1];
    const y = Math.ceil(groups / max);
    if (y > max) throw new LlmpressError('webgpu', `dispatch of ${groups} workgroups exceeds the device limit`, 'E_TOO_LARGE');
    return [max, y, 1];
  }
}
