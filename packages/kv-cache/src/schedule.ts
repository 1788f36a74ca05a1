import { ArgumentError } from '@llmpress/tensor';

/** A bit schedule: bits per latent channel (index 0 = the channel with the most energy); 0 = dropped. */
export type BitSchedule = readonly number[];

/** Checks a schedule against a head dimension: length ≤ headDim, integer bits in [0, 8]. Returns a padded copy of length headDim. */
export function checkSchedule(fn: string, schedule: unknown, headDim: number): number[] {
  if (!Array.isArray(schedule) || schedule.length === 0) throw new ArgumentError(fn, 'schedule', schedule, 'must be a non-empty array of bit widths');
  if (schedule.length > headDim) throw new ArgumentError(fn, 'schedule', schedule, `must have at most headDim = ${headDim} entries (got ${schedule.length})`);
  for (let i = 0; i < schedule.length; i++) {
    const b = schedule[i];
    if (!Number.isInteger(b) || b < 0 || b > 8) throw new ArgumentError(fn, `schedule[${i}]`, b, 'must be an integer number of bits in [0, 8]');
  }
  const out = schedule.slice() as number[];
  while (out.length < headDim) out.push(0);
  return out;
}

/** Mean bits per channel of a schedule over `headDim` channels. */
export function meanBits(schedule: BitSchedule, headDim = schedule.length): number {
  let s = 0;
  for (const b of schedule) s += b;
  return s / headDim;
}

/**
 * Reverse water-filling by greedy bit allocation: spend `round(mean·d)` bits one at a time on the
 * channel whose distortion `variance·4^(−bits)` falls most, bits capped at `maxBits`. With
 * variances sorted in descending order the result is non-increasing.
 */
export function waterfillSchedule(variances: ArrayLike<number>, mean: number, maxBits = 8): number[] {
  const d = variances.length;
  if (d === 0) throw new ArgumentError('waterfillSchedule', 'variances', variances, 'must be non-empty');
  if (!(mean > 0 && mean <= maxBits)) throw new ArgumentError('waterfillSchedule', 'mean', mean, `must be in (0, ${maxBits}]`);
  if (!Number.isInteger(maxBits) || maxBits < 1 || maxBits > 8)
    throw new ArgumentError('waterfillSchedule', 'maxBits', maxBits, 'must be an integer in [1, 8]');
  const total = Math.round(mean * d);
  const bits = new Array<number>(d).fill(0);
  const dist = new Float64Array(d);
  for (let c = 0; c < d; c++) {
    const v = variances[c]!;
    if (!(v >= 0) || !Number.isFinite(v)) throw new ArgumentError('waterfillSchedule', `variances[${c}]`, v, 'must be finite and non-negative');
    dist[c] = v;
  }
  for (let k = 0; k < total; k++) {
    let best = -1,
      gain = -1;
    for (let c = 0; c < d; c++) {
      if (bits[c]! >= maxBits) continue;
      if (dist[c]! > gain) {
        gain = dist[c]!;
        best = c;
      }
    }
    if (best < 0) break;
    bits[best]!++;
    dist[best] = dist[best]! / 4;
  }
  return bits;
}

/**
 * Data-independent preset for any head dimension: water-filling on an assumed power-law spectrum
 * `variance_c = (c+1)^-3` (a decay between what 8-wide and 128-wide heads show), so the
 * schedule is a staircase of 8/4/…/1/0 bits like the paper's. Mean = round(mean·d)/d (exactly `mean`
 * when mean·d is an integer, e.g. 1.25 for d divisible by 4).
 */
export function presetSchedule(headDim: number, mean: 2 | 1.5 | 1.25 | number): number[] {
  if (!Number.isInteger(headDim) || headDim < 1) throw new ArgumentError('presetSchedule', 'headDim', headDim, 'must be a positive integer');
  const v = Array.from({ length: headDim }, (_, c) => (c + 1) ** -3);
  return waterfillSchedule(v, mean, 8);
}

/**
 * Flat schedule: every channel gets ⌊mean⌋ or ⌈mean⌉ bits (the extra bits go to the leading, highest-energy
 * channels), nothing dropped. For narrow heads (d = 8), where latent energy decays slowly, this beats the staircase.
 */
export function flatSchedule(headDim: number, mean: number): number[] {
  if (!Number.isInteger(headDim) || headDim < 1) throw new ArgumentError('flatSchedule', 'headDim', headDim, 'must be a positive integer');
  if (!(mean > 0 && mean <= 8)) throw new ArgumentError('flatSchedule', 'mean', mean, 'must be in (0, 8]');
  const total = Math.round(mean * headDim),
    base = Math.floor(total / headDim),
    extra = total - base * headDim;
  return Array.from({ length: headDim }, (_, c) => base + (c < extra ? 1 : 0));
}
