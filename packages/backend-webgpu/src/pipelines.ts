/** The compute-pipeline cache: WGSL source → compiled pipeline, with compilation messages as typed errors. */
import { DeviceLostError, ShaderCompileError, type ShaderMessage } from './errors.js';
import type { GpuDevice } from './device.js';

export class PipelineCache {
  private readonly cache = new Map<string, Promise<GPUComputePipeline>>();
  constructor(private readonly gpu: GpuDevice) {}

  /** Compiles (or fetches from the cache) a compute pipeline with entry point `main`. */
  compile(label: string, source: string): Promise<GPUComputePipeline> {
    const fn = 'WebGpuBackend.compile';
    const gpu = this.gpu;
    gpu.checkUsable(fn);
    const hit = this.cache.get(source);
    if (hit) {
      gpu.counters.pipelineCacheHits++;
      return hit;
    }
    const device = gpu.device;
    const p = (async () => {
      device.pushErrorScope('validation');
      const module = device.createShaderModule({ label, code: source });
      const scope = device.popErrorScope();
      const info = await gpu.guard(module.getCompilationInfo());
      const lines = source.split('\n');
      const messages: ShaderMessage[] = info.messages.map((m) => ({
        type: m.type,
        line: m.lineNum,
        column: m.linePos,
        message: m.message,
        source: lines[m.lineNum - 1] ?? '',
      }));
      const scopeError = await gpu.guard(scope);
      if (messages.some((m) => m.type === 'error')) throw new ShaderCompileError(fn, label, messages);
      if (scopeError) throw new ShaderCompileError(fn, label, [{ type: 'error', line: 0, column: 0, message: scopeError.message, source: '' }]);
      try {
        const pipeline = await gpu.guard(device.createComputePipelineAsync({ label, layout: 'auto', compute: { module, entryPoint: 'main' } }));
        gpu.counters.pipelinesCompiled++;
        return pipeline;
      } catch (e) {
        if (DeviceLostError.isInstance(e)) throw e;
        throw new ShaderCompileError(fn, label, [
          { type: 'error', line: 0, column: 0, message: `pipeline creation failed: ${(e as Error)?.message ?? e}`, source: '' },
        ]);
      }
    })();
    this.cache.set(source, p);
    p.catch(() => this.cache.delete(source));
    return p;
  }

  clear(): void {
    this.cache.clear();
  }
}
