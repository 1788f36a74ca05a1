/** How many singular triplets to keep: from a parameter-removal ratio, an explicit rank, or an energy budget. */
import { ArgumentError } from '@llmpress/tensor';

export interface RankSpec {
  /** Explicit rank k, 1 ≤ k ≤ min(m, n) − 1... see `resolveRank` (k = min(m, n) is allowed but saves nothing). */
  rank?: number;
  /** Fraction of the layer's parameters to REMOVE, in (0, 1): k = ⌊m·n·(1−ρ)/(m+n)⌋. */
  ratio?: number;
  /** Fraction of the (whitened) spectral energy Σσ² to keep, in (0, 1]. */
  energy?: number;
}

/**
 * The parameter count behind `ratio`: a dense m × n layer stores m·n values; rank-k factors store
 * k·(m + n). Removing a fraction ρ means k·(m + n) ≤ (1 − ρ)·m·n, so k = ⌊m·n·(1−ρ)/(m+n)⌋.
 * Only the compressed linears are counted (embeddings, norms and the head are untouched).
 */
export function rankFromRatio(m: number, n: number, ratio: number, fn = 'rankFromRatio'): number {
  if (!Number.isInteger(m) || m < 1) throw new ArgumentError(fn, 'm', m, 'must be a positive integer');
  if (!Number.isInteger(n) || n < 1) throw new ArgumentError(fn, 'n', n, 'must be a positive integer');
  if (typeof ratio !== 'number' || !(ratio > 0 && ratio < 1)) throw new ArgumentError(fn, 'ratio', ratio, 'must be a number in the open interval (0, 1)');
  const k = Math.floor((m * n * (1 - ratio)) / (m + n));
  if (k < 1) throw new ArgumentError(fn, 'ratio', ratio, `leaves rank 0 for a ${m}×${n} layer (k = ⌊m·n·(1−ρ)/(m+n)⌋)`);
  return k;
}

/** Smallest k with Σ_{i≤k} σ_i² ≥ energy · Σ σ_i² (σ sorted descending). */
export function rankFromEnergy(sigma: ArrayLike<number>, energy: number, fn = 'rankFromEnergy'): number {
  if (typeof energy !== 'number' || !(energy > 0 && energy <= 1)) throw new ArgumentError(fn, 'energy', energy, 'must be a number in (0, 1]');
  let total = 0;
  for (let i = 0; i < sigma.length; i++) total += sigma[i]! * sigma[i]!;
  if (!(total > 0)) return 1;
  let acc = 0;
  for (let i = 0; i < sigma.length; i++) {
    acc += sigma[i]! * sigma[i]!;
    if (acc >= energy * total * (1 - 1e-12)) return i + 1;
  }
  return sigma.length;
}

/** Validates a RankSpec (exactly one of rank / ratio / energy) before any heavy work. */
export function checkRankSpec(fn: string, m: number, n: number, spec: RankSpec): { kind: 'rank' | 'ratio' | 'energy'; k?: number } {
  const given = (['rank', 'ratio', 'energy'] as const).filter((key) => spec[key] !== undefined);
  if (given.length !== 1) throw new ArgumentError(fn, 'options', given, 'must set exactly one of rank, ratio, energy');
  const kind = given[0]!;
  if (kind === 'rank') {
    const k = spec.rank!;
    const lim = Math.min(m, n);
    if (!Number.isInteger(k) || k < 1 || k > lim) throw new ArgumentError(fn, 'options.rank', k, `must be an integer in [1, ${lim}] for a ${m}×${n} layer`);
    return { kind, k };
  }
  if (kind === 'ratio') return { kind, k: rankFromRatio(m, n, spec.ratio!, fn) };
  const e = spec.energy!;
  if (typeof e !== 'number' || !(e > 0 && e <= 1)) throw new ArgumentError(fn, 'options.energy', e, 'must be a number in (0, 1]');
  return { kind };
}
