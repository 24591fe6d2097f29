import type { Rng } from '../engine/rng.js';
import { argmax, buildWarpers, drawToken, softmaxInto, type SamplingOptions } from './processors.js';

/**
 * One-off sampling from a row of logits with the pipeline's warpers (processors.ts):
 * temperature (0 = greedy), top-k, top-p, min-p, seeded through the caller's Rng. Decoding
 * loops use the pipeline (pipeline.ts); these are for a single distribution.
 */
export { argmax, type SamplingOptions };

/** Probabilities after temperature, top-k, top-p and min-p (zeros outside the kept set); temperature 0 counts as 1 here. */
export function filteredProbs(logits: ArrayLike<number>, opts: SamplingOptions): Float64Array {
  const s = Float64Array.from(logits);
  for (const w of buildWarpers({ ...opts, temperature: opts.temperature || 1 })) w.warp(s);
  return softmaxInto(s, new Float64Array(s.length));
}

/** A token from `logits`: argmax at temperature 0, else one draw after the warpers. */
export function sampleToken(logits: ArrayLike<number>, opts: SamplingOptions, rng: Rng): number {
  if ((opts.temperature ?? 1) === 0) return argmax(logits);
  const s = Float64Array.from(logits);
  for (const w of buildWarpers(opts)) w.warp(s);
  return drawToken(s, rng);
}
