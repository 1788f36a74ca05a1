// Shared compile-time switches and helpers of the kernel files (index.ts, int.ts, ...).

export const RELAXED: bool = ASC_FEATURE_RELAXED_SIMD;

/** a·b + c: one relaxed FMA with relaxed SIMD, mul+add without. */
// @ts-ignore: decorator
@inline export function fma<T>(a: v128, b: v128, c: v128): v128 {
  if (RELAXED) {
    return v128.relaxed_madd<T>(a, b, c);
  } else {
    return v128.add<T>(c, v128.mul<T>(a, b));
  }
}
