export type { KVCacheLike, CacheShape } from './types.js';
export { packBits, unpackBits, packedBytes, f16Floor, f16Ceil } from './bits.js';
export { quantizeGroup, type ScaleDType, type OneBitMode } from './quant.js';
export { checkSchedule, meanBits, presetSchedule, waterfillSchedule, flatSchedule, type BitSchedule } from './schedule.js';
export { fitKeyBasis, identityBasis, type KeyBasis } from './basis.js';
export {
  kiviKeys,
  kiviValues,
  svdqKeys,
  fp32Keys,
  fp32Values,
  type KeyCodec,
  type KeyCodecState,
  type ValueCodec,
  type ValueCodecState,
  type CodecContext,
  type CodecBytes,
  type SvdqKeyOptions,
} from './codecs.js';
export { CompressedKVCache, Fp32KVCache, kthLargest, type CompressedCacheOptions, type CacheBytes } from './cache.js';
