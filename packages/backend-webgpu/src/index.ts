export {
  createWebGpuBackend,
  type WebGpuBackend,
  type WebGpuBackendOptions,
  type AdapterSummary,
  type WebGpuStats,
  type KernelTiming,
  type Df32GemmArgs,
  type Df32SelfTest,
} from './backend.js';
export { ShaderCompileError, WebGpuError, DeviceLostError, type ShaderMessage } from './errors.js';
export { gemmShader, gemvShader, binaryShader, unaryShader, reduceShader, gemmTile, type GemmKernel, type GemmShaderOptions } from './shaders.js';
export { BufferPool, sizeClass } from './pool.js';
export { int4GemvShader, int4DequantShader, int4QuantShader, gemmDf32Shader, df32SelfTestShader, df32Wgsl, type Df32Product } from './shaders.js';
export { df32SelfTestInputs } from './routines.js';
export { int4GemvReference, quantizeInt4Reference, dequantizeInt4Reference, type Int4GemvArgs, type Int4QuantizeArgs, type Int4Packed } from './int4.js';
export { matmulAsync } from './matmul.js';
export {
  connectWebGpuSyncBackend,
  DEFAULT_MIN_FLOPS,
  type WebGpuSyncBackend,
  type WebGpuSyncOptions,
  type WebGpuSyncStats,
  type GpuThreadHandle,
} from './sync-facade.js';
export { serveGpuThread, type GpuThreadScope } from './gpu-thread.js';
