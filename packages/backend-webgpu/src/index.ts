export { createWebGpuBackend, type WebGpuBackend, type WebGpuBackendOptions, type AdapterSummary, type WebGpuStats, type KernelTiming } from './backend.js';
export { ShaderCompileError, WebGpuError, DeviceLostError, type ShaderMessage } from './errors.js';
export { gemmShader, gemvShader, binaryShader, unaryShader, reduceShader, gemmTile, type GemmKernel, type GemmShaderOptions } from './shaders.js';
export { BufferPool, sizeClass } from './pool.js';
