/**
 * WGSL sources. Every shader is generated from a few parameters (transposes, tile sizes, op) and
 * the pipeline cache is keyed by the generated source, so equal parameters share one pipeline.
 * All kernels compute in f32.
 */
import type { BinaryOp, ReduceOp, UnaryOp } from '@llmpress/tensor';

/** Which GEMM kernel family to use. */
export type GemmKernel = 'tiled' | 'register';

export interface GemmShaderOptions {
  transA: boolean;
  transB: boolean;
  kernel: GemmKernel;
}

/** Uniform layout shared by the GEMM shaders: 8 × u32/f32 = 32 bytes. */
export const GEMM_UNIFORM_BYTES = 32;

const gemmHeader = (o: GemmShaderOptions) => /* wgsl */ `
struct Params { m: u32, n: u32, k: u32, lda: u32, ldb: u32, alpha: f32, aOff: u32, bOff: u32 }
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
// op(A)[i, q] and op(B)[q, j] (row-major storage, transposes resolved at generation time)
// aOff/bOff: element offsets into A and B (non-zero when the operand is a pinned, resident array)
fn a_at(i: u32, q: u32) -> f32 { return A[p.aOff + ${o.transA ? 'q * p.lda + i' : 'i * p.lda + q'}]; }
fn b_at(q: u32, j: u32) -> f32 { return B[p.bOff + ${o.transB ? 'j * p.ldb + q' : 'q * p.ldb + j'}]; }
`;

/** Rows/columns of C one workgroup covers, per kernel. */
export function gemmTile(kernel: GemmKernel): { rows: number; cols: number } {
  return kernel === 'tiled' ? { rows: 64, cols: 64 } : { rows: 32, cols: 32 };
}

/**
 * Register-blocked GEMM without workgroup memory: every invocation computes a 4 × 4 block of C
 * straight from global memory (out-of-range rows/columns are clamped on load and skipped on store).
 * On software Vulkan (lavapipe, SwiftShader) this is several times faster than shared-memory tiles,
 * because workgroup barriers are expensive there and the CPU caches do the tiling anyway.
 */
export function gemmRegister(o: GemmShaderOptions, R = 4, Cn = 4): string {
  const lines: string[] = [];
  lines.push(gemmHeader(o));
  lines.push('@compute @workgroup_size(8, 8)');
  lines.push('fn main(@builtin(global_invocation_id) g: vec3u) {');
  lines.push(`  let r0 = g.y * ${R}u; let c0 = g.x * ${Cn}u;`);
  lines.push('  if (r0 >= p.m || c0 >= p.n) { return; }');
  for (let i = 0; i < R; i++) lines.push(`  let ri${i} = min(r0 + ${i}u, p.m - 1u);`);
  for (let j = 0; j < Cn; j++) lines.push(`  let cj${j} = min(c0 + ${j}u, p.n - 1u);`);
  for (let i = 0; i < R; i++) lines.push(`  var acc${i} = vec${Cn}f(0.0);`);
  lines.push('  for (var q = 0u; q < p.k; q++) {');
  lines.push(`    let bv = vec${Cn}f(${Array.from({ length: Cn }, (_, j) => `b_at(q, cj${j})`).join(', ')});`);
  for (let i = 0; i < R; i++) lines.push(`    acc${i} = fma(vec${Cn}f(a_at(ri${i}, q)), bv, acc${i});`);
  lines.push('  }');
  for (let i = 0; i < R; i++) {
    lines.push(`  if (r0 + ${i}u < p.m) {`);
    for (let j = 0; j < Cn; j++) lines.push(`    if (c0 + ${j}u < p.n) { C[(r0 + ${i}u) * p.n + c0 + ${j}u] = p.alpha * acc${i}[${j}]; }`);
    lines.push('  }');
  }
  lines.push('}');
  return lines.join('\n');
}

/**
 * Classic shared-memory tiled GEMM for real GPUs: a 16 × 16 workgroup computes a 64 × 64 tile of C,
 * each invocation a 4 × 4 register block; A and B panels of depth 16 are staged in workgroup memory.
 */
function gemmTiled(o: GemmShaderOptions): string {
  const BK = 16,
    T = 64;
  return `${gemmHeader(o)}
const BK = ${BK}u;
const T = ${T}u;
var<workgroup> As: array<f32, ${BK * T}>; // As[kk * T + r]
var<workgroup> Bs: array<f32, ${BK * T}>; // Bs[kk * T + c]
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u, @builtin(local_invocation_index) li: u32) {
  let rowBase = wg.y * T;
  let colBase = wg.x * T;
  var acc0 = vec4f(0.0); var acc1 = vec4f(0.0); var acc2 = vec4f(0.0); var acc3 = vec4f(0.0);
  let numTiles = (p.k + BK - 1u) / BK;
  for (var t = 0u; t < numTiles; t++) {
    let k0 = t * BK;
    for (var e = 0u; e < ${(BK * T) / 256}u; e++) {
      let idx = li + e * 256u;
      ${o.transA ? `let r = idx % T; let kk = idx / T;` : `let r = idx / BK; let kk = idx % BK;`}
      let gr = rowBase + r; let gk = k0 + kk;
      var v = 0.0;
      if (gr < p.m && gk < p.k) { v = a_at(gr, gk); }
      As[kk * T + r] = v;
    }
    for (var e = 0u; e < ${(BK * T) / 256}u; e++) {
      let idx = li + e * 256u;
      ${o.transB ? `let c = idx / BK; let kk = idx % BK;` : `let c = idx % T; let kk = idx / T;`}
      let gc = colBase + c; let gk = k0 + kk;
      var v = 0.0;
      if (gc < p.n && gk < p.k) { v = b_at(gk, gc); }
      Bs[kk * T + c] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let ar = kk * T + l.y * 4u;
      let bc = kk * T + l.x * 4u;
      let bv = vec4f(Bs[bc], Bs[bc + 1u], Bs[bc + 2u], Bs[bc + 3u]);
      acc0 = fma(vec4f(As[ar]), bv, acc0);
      acc1 = fma(vec4f(As[ar + 1u]), bv, acc1);
      acc2 = fma(vec4f(As[ar + 2u]), bv, acc2);
      acc3 = fma(vec4f(As[ar + 3u]), bv, acc3);
    }
    workgroupBarrier();
  }
  let r0 = rowBase + l.y * 4u;
  let c0 = colBase + l.x * 4u;
  var accs = array<vec4f, 4>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < 4u; i++) {
    let r = r0 + i;
    if (r < p.m) {
      for (var j = 0u; j < 4u; j++) {
        if (c0 + j < p.n) { C[r * p.n + c0 + j] = p.alpha * accs[i][j]; }
      }
    }
  }
}
`;
}

export function gemmShader(o: GemmShaderOptions): string {
  return o.kernel === 'tiled' ? gemmTiled(o) : gemmRegister(o);
}

/** GEMV uniforms: m, n, lda, alpha, aOff, xOff, pad, pad (32 bytes). */
export const GEMV_UNIFORM_BYTES = 32;
export const GEMV_WG = 64;

/**
 * y = alpha · op(A) · x (beta is applied on readback). Non-transposed: one workgroup per row, a
 * strided partial dot per invocation, then a tree reduction in workgroup memory. Transposed: one
 * invocation per output column, reading A row by row (coalesced across invocations).
 */
export function gemvShader(trans: boolean, kernel: GemmKernel = 'tiled'): string {
  const head = `
struct Params { m: u32, n: u32, lda: u32, alpha: f32, aOff: u32, xOff: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
`;
  if (trans) {
    return `${head}
@compute @workgroup_size(${GEMV_WG})
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let j = g.x + g.y * nw.x * ${GEMV_WG}u;
  if (j >= p.n) { return; }
  var s = 0.0;
  for (var i = 0u; i < p.m; i++) { s = fma(A[p.aOff + i * p.lda + j], X[p.xOff + i], s); }
  Y[j] = p.alpha * s;
}
`;
  }
  if (kernel === 'register') {
    // software adapters: one row per invocation (a sequential dot), no workgroup memory or barriers
    return `${head}
@compute @workgroup_size(${GEMV_WG})
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let row = g.x + g.y * nw.x * ${GEMV_WG}u;
  if (row >= p.m) { return; }
  let base = p.aOff + row * p.lda;
  let xb = p.xOff;
  var s0 = 0.0; var s1 = 0.0; var s2 = 0.0; var s3 = 0.0;
  let n4 = p.n & ~3u;
  for (var q = 0u; q < n4; q += 4u) {
    s0 = fma(A[base + q], X[xb + q], s0);
    s1 = fma(A[base + q + 1u], X[xb + q + 1u], s1);
    s2 = fma(A[base + q + 2u], X[xb + q + 2u], s2);
    s3 = fma(A[base + q + 3u], X[xb + q + 3u], s3);
  }
  for (var q = n4; q < p.n; q++) { s0 = fma(A[base + q], X[xb + q], s0); }
  Y[row] = p.alpha * ((s0 + s1) + (s2 + s3));
}
`;
  }
  return `${head}
var<workgroup> part: array<f32, ${GEMV_WG}>;
@compute @workgroup_size(${GEMV_WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nw: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = wg.x + wg.y * nw.x;
  var s = 0.0;
  if (row < p.m) {
    let base = p.aOff + row * p.lda;
    for (var q = li; q < p.n; q += ${GEMV_WG}u) { s = fma(A[base + q], X[p.xOff + q], s); }
  }
  part[li] = s;
  workgroupBarrier();
  for (var w = ${GEMV_WG / 2}u; w > 0u; w = w >> 1u) {
    if (li < w) { part[li] = part[li] + part[li + w]; }
    workgroupBarrier();
  }
  if (li == 0u && row < p.m) { Y[row] = p.alpha * part[0]; }
}
`;
}

export const ELEMENTWISE_WG = 64;
/** Elementwise uniforms: n, scalar (f32), pad, pad (16 bytes). */
export const ELEMENTWISE_UNIFORM_BYTES = 16;

const BINARY_EXPR: Record<BinaryOp, string> = {
  add: 'x + y',
  sub: 'x - y',
  mul: 'x * y',
  div: 'x / y',
  // NaN in x propagates, like the reference backend: x > y || x is NaN ? x : y
  max: 'select(y, x, x > y || x != x)',
  min: 'select(y, x, x < y || x != x)',
};
const UNARY_EXPR: Record<UnaryOp, string> = {
  neg: '-x',
  abs: 'abs(x)',
  sqrt: 'sqrt(x)',
  exp: 'exp(x)',
  log: 'log(x)',
  square: 'x * x',
  silu: 'x / (1.0 + exp(-x))',
  // tanh via exp of a non-positive argument: no overflow, sign restored afterwards
  tanh: 'sign(x) * (1.0 - exp(-2.0 * abs(x))) / (1.0 + exp(-2.0 * abs(x)))',
};

export function binaryShader(op: BinaryOp, scalar: boolean): string {
  return `
struct Params { n: u32, s: f32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<storage, read> A: array<f32>;
${scalar ? '' : '@group(0) @binding(3) var<storage, read> B: array<f32>;'}
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.x + g.y * nw.x * ${ELEMENTWISE_WG}u;
  if (i >= p.n) { return; }
  let x = A[i];
  let y = ${scalar ? 'p.s' : 'B[i]'};
  O[i] = ${BINARY_EXPR[op]};
}
`;
}

export function unaryShader(op: UnaryOp): string {
  return `
struct Params { n: u32, s: f32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.x + g.y * nw.x * ${ELEMENTWISE_WG}u;
  if (i >= p.n) { return; }
  let x = A[i];
  O[i] = ${UNARY_EXPR[op]};
}
`;
}

export const REDUCE_WG = 256;
/** Upper bound on the number of partial results one reduction dispatch writes. */
export const REDUCE_MAX_GROUPS = 256;

const REDUCE_INIT: Record<ReduceOp, string> = { sum: '0.0', sumsq: '0.0', max: '-bitcast<f32>(p.infBits)', min: 'bitcast<f32>(p.infBits)', absmax: '0.0' };
const REDUCE_MAP: Record<ReduceOp, string> = { sum: 'v', sumsq: 'v * v', max: 'v', min: 'v', absmax: 'abs(v)' };
const REDUCE_COMBINE: Record<ReduceOp, string> = {
  sum: 'a + b',
  sumsq: 'a + b',
  max: 'select(a, b, b > a || b != b)',
  min: 'select(a, b, b < a || b != b)',
  absmax: 'select(a, b, b > a || b != b)',
};

/**
 * First stage of a reduction: each of G workgroups reduces a strided share of the input into one
 * partial (tree reduction in workgroup memory); the G partials are combined on the CPU in f64.
 */
export function reduceShader(op: ReduceOp): string {
  return `
// infBits = 0x7f800000 (+Inf) comes from the uniform: WGSL constant expressions cannot be infinite
struct Params { n: u32, infBits: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
var<workgroup> part: array<f32, ${REDUCE_WG}>;
fn combine(a: f32, b: f32) -> f32 { return ${REDUCE_COMBINE[op]}; }
@compute @workgroup_size(${REDUCE_WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nw: vec3u, @builtin(local_invocation_index) li: u32) {
  let stride = nw.x * ${REDUCE_WG}u;
  var acc = ${REDUCE_INIT[op]};
  for (var i = wg.x * ${REDUCE_WG}u + li; i < p.n; i += stride) {
    let v = A[i];
    acc = combine(acc, ${REDUCE_MAP[op]});
  }
  part[li] = acc;
  workgroupBarrier();
  for (var w = ${REDUCE_WG / 2}u; w > 0u; w = w >> 1u) {
    if (li < w) { part[li] = combine(part[li], part[li + w]); }
    workgroupBarrier();
  }
  if (li == 0u) { O[wg.x] = part[0]; }
}
`;
}

// ---------------------------------------------------------------- int4 (symmetric, per-group scales)
// Layout (the same as the WASM backend's `extra`): two signed two's-complement nibbles per byte,
// LOW nibble = EVEN column; rows of n/2 bytes; groups of g consecutive columns share one f32 scale,
// scales row-major [m, n/g]. Buffers of bytes are bound as array<u32> (little-endian words).

const INT4_HELPERS = `
fn byteAt(b: u32) -> u32 { return (W[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu; }
fn lo4(x: u32) -> f32 { return f32(bitcast<i32>(x << 28u) >> 28u); }
fn hi4(x: u32) -> f32 { return f32(bitcast<i32>(x << 24u) >> 28u); }
`;

/** y = alpha · dequant(W) · x, one output row per invocation (dequantized on the fly). */
export function int4GemvShader(): string {
  return `
struct Params { m: u32, n: u32, g: u32, alpha: f32 }
@group(0) @binding(0) var<storage, read> W: array<u32>;
@group(0) @binding(1) var<storage, read> S: array<f32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
${INT4_HELPERS}
@compute @workgroup_size(${GEMV_WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let row = gid.x + gid.y * nw.x * ${GEMV_WG}u;
  if (row >= p.m) { return; }
  let rowByte = row * (p.n / 2u);
  let ng = p.n / p.g;
  var acc = 0.0;
  for (var gi = 0u; gi < ng; gi++) {
    var s = 0.0;
    let j0 = gi * p.g;
    for (var j = j0; j < j0 + p.g; j += 2u) {
      let bv = byteAt(rowByte + j / 2u);
      s = fma(lo4(bv), X[j], s);
      s = fma(hi4(bv), X[j + 1u], s);
    }
    acc = fma(S[row * ng + gi], s, acc);
  }
  Y[row] = p.alpha * acc;
}
`;
}

/** Dequantizes every element: out[r, j] = scale[r, j / g] · code[r, j]. */
export function int4DequantShader(): string {
  return `
struct Params { m: u32, n: u32, g: u32, pad: u32 }
@group(0) @binding(0) var<storage, read> W: array<u32>;
@group(0) @binding(1) var<storage, read> S: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
${INT4_HELPERS}
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gid.x + gid.y * nw.x * ${ELEMENTWISE_WG}u;
  if (i >= p.m * p.n) { return; }
  let r = i / p.n; let j = i % p.n;
  let bv = byteAt(r * (p.n / 2u) + j / 2u);
  let q = select(lo4(bv), hi4(bv), (j & 1u) == 1u);
  O[i] = S[r * (p.n / p.g) + j / p.g] * q;
}
`;
}

/**
 * Symmetric per-group int4 quantization, one packed u32 word (8 columns) per invocation; needs
 * n % 8 == 0 so no two rows share a word. scale = absmax(group) / 7, code = clamp(round(x / scale), -8, 7)
 * (round half to even); an all-zero group gets scale 0 and codes 0. Scales are written by the
 * invocation holding the group's first column.
 */
export function int4QuantShader(): string {
  return `
struct Params { m: u32, n: u32, g: u32, pad: u32 }
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read_write> W: array<u32>;
@group(0) @binding(2) var<storage, read_write> S: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
fn groupScale(r: u32, gi: u32) -> f32 {
  var mx = 0.0;
  let base = r * p.n + gi * p.g;
  for (var j = 0u; j < p.g; j++) { mx = max(mx, abs(A[base + j])); }
  return mx / 7.0;
}
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let wi = gid.x + gid.y * nw.x * ${ELEMENTWISE_WG}u;
  let wordsPerRow = p.n / 8u;
  if (wi >= p.m * wordsPerRow) { return; }
  let r = wi / wordsPerRow; let c0 = (wi % wordsPerRow) * 8u;
  var word = 0u;
  var gi = c0 / p.g;
  var s = groupScale(r, gi);
  for (var t = 0u; t < 8u; t++) {
    let j = c0 + t;
    if (j / p.g != gi) { gi = j / p.g; s = groupScale(r, gi); }
    if (j % p.g == 0u) { S[r * (p.n / p.g) + gi] = s; }
    var q = 0;
    if (s > 0.0) { q = i32(clamp(round(A[r * p.n + j] / s), -8.0, 7.0)); }
    word = word | ((bitcast<u32>(q) & 15u) << (4u * t));
  }
  W[wi] = word;
}
`;
}

// ---------------------------------------------------------------- double-f32 ("df32") GEMM

/** Uniform layout of the df32 GEMM: m, n, k, lda, ldb, z (= 0), padding = 32 bytes. */
export const GEMM_DF32_UNIFORM_BYTES = 32;
/** Rows × columns of C one df32 workgroup covers (one element per invocation). */
export const GEMM_DF32_WG = 8;
/** How TwoProd gets the rounding error of a product: the fused `fma`, or Dekker's split (plain products only). */
export type Df32Product = 'fma' | 'dekker';

/**
 * Double-f32 arithmetic: a value is an unevaluated sum hi + lo of two f32 with |lo| ≤ ulp(hi)/2
 * (about 48 significant bits). `two_sum` (Knuth) and `two_prod` are error-free transformations;
 * `df_add` is the accurate (QD "ieee") addition, `df_mul` the usual product.
 *
 * They are only exact if the compiler neither reassociates nor simplifies the f32 operations
 * (Mesa's NIR does, for operations not marked exact: on lavapipe `(a + b) - a` became `b`). WGSL
 * has no "precise" qualifier, so every intermediate passes through `o(x)`, a bit-xor with the
 * uniform `p.z` (always 0): the compiler cannot see through it. `fma` may also be lowered to an
 * unfused multiply-add (then `fma(a, b, -a·b)` is 0): the `dekker` product avoids `fma`.
 * `df32SelfTestShader` checks both on the adapter; the backend uses the first that is exact.
 */
export function df32Wgsl(product: Df32Product): string {
  const prod =
    product === 'fma'
      ? `fn two_prod(a: f32, b: f32) -> vec2f {
  let q = o(a * b);
  return vec2f(q, o(fma(a, b, -q)));
}`
      : `fn split(a: f32) -> vec2f {
  let c = o(4097.0 * a);
  let h = o(c - o(c - a));
  return vec2f(h, o(a - h));
}
fn two_prod(a: f32, b: f32) -> vec2f {
  let q = o(a * b);
  let x = split(a); let y = split(b);
  let e = o(o(o(o(x.x * y.x) - q) + o(x.x * y.y)) + o(x.y * y.x));
  return vec2f(q, o(e + o(x.y * y.y)));
}`;
  return /* wgsl */ `
fn o(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) ^ p.z); }
fn two_sum(a: f32, b: f32) -> vec2f {
  let s = o(a + b);
  let bb = o(s - a);
  let e = o(o(a - o(s - bb)) + o(b - bb));
  return vec2f(s, e);
}
fn quick_two_sum(a: f32, b: f32) -> vec2f {
  let s = o(a + b);
  return vec2f(s, o(b - o(s - a)));
}
${prod}
fn df_add(x: vec2f, y: vec2f) -> vec2f {
  let s = two_sum(x.x, y.x);
  let t = two_sum(x.y, y.y);
  let u = quick_two_sum(s.x, o(s.y + t.x));
  return quick_two_sum(u.x, o(t.y + u.y));
}
fn df_mul(x: vec2f, y: vec2f) -> vec2f {
  let q = two_prod(x.x, y.x);
  return quick_two_sum(q.x, o(q.y + o(o(x.x * y.y) + o(x.y * y.x))));
}
`;
}

/**
 * C[i, j] = Σ_q op(A)[i, q] · op(B)[q, j] in double-f32: A, B and C hold (hi, lo) pairs (`vec2f`);
 * leading dimensions count pairs. One C element per invocation (software adapters favour plain
 * loops; the df32 GEMMs of the decompositions are small).
 */
export function gemmDf32Shader(transA: boolean, transB: boolean, product: Df32Product): string {
  return /* wgsl */ `
struct Params { m: u32, n: u32, k: u32, lda: u32, ldb: u32, z: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<storage, read> A: array<vec2f>;
@group(0) @binding(1) var<storage, read> B: array<vec2f>;
@group(0) @binding(2) var<storage, read_write> C: array<vec2f>;
@group(0) @binding(3) var<uniform> p: Params;
${df32Wgsl(product)}
@compute @workgroup_size(${GEMM_DF32_WG}, ${GEMM_DF32_WG})
fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.y; let j = g.x;
  if (i >= p.m || j >= p.n) { return; }
  var acc = vec2f(0.0, 0.0);
  for (var q = 0u; q < p.k; q++) {
    let a = A[${transA ? 'q * p.lda + i' : 'i * p.lda + q'}];
    let b = B[${transB ? 'j * p.ldb + q' : 'q * p.ldb + j'}];
    acc = df_add(acc, df_mul(a, b));
  }
  C[i * p.n + j] = acc;
}
`;
}

/**
 * Self-test of the df32 primitives on the adapter: for each input pair (x, y) writes
 * two_sum(x, y), two_prod(x, y) — the CPU checks s + e == x + y and p + e == x · y exactly (in f64).
 */
export function df32SelfTestShader(product: Df32Product): string {
  return /* wgsl */ `
struct Params { z: u32, n: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<storage, read> X: array<vec2f>;
@group(0) @binding(1) var<storage, read_write> O: array<vec4f>;
@group(0) @binding(2) var<uniform> p: Params;
${df32Wgsl(product)}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x;
  if (i >= p.n) { return; }
  let x = X[i];
  O[i] = vec4f(two_sum(x.x, x.y), two_prod(x.x, x.y));
}
`;
}
