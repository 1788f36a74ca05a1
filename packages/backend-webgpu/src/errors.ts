import { LlmpressError } from '@llmpress/tensor';

/** One message of a WGSL compilation (from `GPUShaderModule.getCompilationInfo()`). */
export interface ShaderMessage {
  type: 'error' | 'warning' | 'info';
  line: number;
  column: number;
  message: string;
  /** The source line the message points at. */
  source: string;
}

/** A WGSL shader failed to compile: names the shader, the line and column, and quotes the line. */
export class ShaderCompileError extends LlmpressError {
  readonly shader: string;
  readonly messages: readonly ShaderMessage[];
  constructor(fn: string, shader: string, messages: readonly ShaderMessage[]) {
    const first = messages.find((m) => m.type === 'error') ?? messages[0];
    const where = first ? `line ${first.line}:${first.column}: ${first.message.split('\n')[0]}\n    ${first.source.trim()}` : 'no compiler message';
    super(fn, `WGSL shader '${shader}' failed to compile: ${where}${messages.length > 1 ? ` (+${messages.length - 1} more messages)` : ''}`, 'E_WGSL_COMPILE');
    this.shader = shader;
    this.messages = messages;
  }
}

/** A WebGPU validation or out-of-memory error raised while running a routine. */
export class WebGpuError extends LlmpressError {
  readonly kind: string;
  constructor(fn: string, kind: string, message: string) {
    super(fn, `WebGPU ${kind} error: ${message}`, 'E_WEBGPU');
    this.kind = kind;
  }
}

/** The GPU device was lost (driver reset, `destroy()`, tab backgrounded...). */
export class DeviceLostError extends LlmpressError {
  readonly reason: string;
  constructor(fn: string, reason: string, message: string) {
    super(fn, `WebGPU device lost (${reason}): ${message || 'no message'}`, 'E_DEVICE_LOST');
    this.reason = reason;
  }
}
