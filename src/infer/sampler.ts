import type { Rng } from '../engine/rng.js';

/**
 * Choosing the next token from a row of logits: temperature (0 = greedy), top-k, top-p
 * (nucleus), all numerically safe (max-subtracted), seeded through the caller's Rng.
 */
export interface SamplingOptions {
  /** 0 picks the most likely token; 1 samples the model's distribution; default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = off). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1 = off). */
  topP?: number;
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** Probabilities after temperature, top-k and top-p filtering (zeros outside the kept set). */
export function filteredProbs(logits: ArrayLike<number>, opts: SamplingOptions): Float64Array {
  const V = logits.length;
  const temp = opts.temperature ?? 1;
  const p = new Float64Array(V);
  let mx = -Infinity;
  for (let i = 0; i < V; i++) if (logits[i] > mx) mx = logits[i];
  let sum = 0;
  for (let i = 0; i < V; i++) {
    p[i] = Math.exp((logits[i] - mx) / temp);
    sum += p[i];
  }
  for (let i = 0; i < V; i++) p[i] /= sum;
  const k = opts.topK ?? 0;
  const topP = opts.topP ?? 1;
  if ((k > 0 && k < V) || topP < 1) {
    const order = Array.from(p.keys()).sort((a, b) => p[b] - p[a] || a - b);
    let keep = k > 0 && k < V ? k : V;
    if (topP < 1) {
      let mass = 0;
      for (let i = 0; i < keep; i++) {
        mass += p[order[i]];
        if (mass >= topP) {
          keep = i + 1;
          break;
        }
      }
    }
    for (let i = keep; i < V; i++) p[order[i]] = 0;
    let s = 0;
    for (let i = 0; i < V; i++) s += p[i];
    for (let i = 0; i < V; i++) p[i] /= s;
  }
  return p;
}

export function sampleToken(logits: ArrayLike<number>, opts: SamplingOptions, rng: Rng): number {
  if ((opts.temperature ?? 1) <= 0) return argmax(logits);
  const p = filteredProbs(logits, opts);
  let u = rng.random();
  for (let i = 0; i < p.length; i++) {
    u -= p[i];
    if (u < 0) return i;
  }
  // rounding: the last token with non-zero probability
  for (let i = p.length - 1; i >= 0; i--) if (p[i] > 0) return i;
  return 0;
}
