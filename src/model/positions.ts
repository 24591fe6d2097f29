import type { Rng } from '../engine/rng.js';

/**
 * Randomized position ids (Ruoss et al. 2023, "Randomized Positional Encodings Boost Length
 * Generalization of Transformers"): a row's ids increase by random gaps, so the offset between
 * two tokens k apart is about k·L/blockSize give or take √k gaps, and attention cannot pick a
 * token by its exact distance (a copy or a read learned "six back" no longer works; one learned
 * by content does at any length).
 *
 * The gaps are 1 + Geometric(p), p = blockSize / maxPosition: every integer after the previous id
 * is taken with probability p (a Bernoulli process), which is Ruoss et al.'s sorted uniform
 * subset of [0, L) without fixing the row's length in advance — so decoding can draw the next
 * token's id when it comes, from the same distribution training saw.
 *
 * Writes ids for T tokens of B rows into a new Int32Array [B·T]: row b continues after
 * `prev[b]` (−1: a row's first token; its id is then the first gap minus 1, ≥ 0).
 */
export function randomPositionIds(B: number, T: number, prev: ArrayLike<number>, maxPosition: number, blockSize: number, rng: Rng): Int32Array {
  const p = Math.min(1, blockSize / maxPosition);
  const logQ = Math.log1p(-p); // −∞ when p = 1: every gap is 1
  const out = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    let id = prev[b];
    for (let t = 0; t < T; t++) {
      const u = 1 - rng.random(); // (0, 1]
      id += 1 + (p >= 1 ? 0 : Math.floor(Math.log(u) / logQ));
      out[b * T + t] = id;
    }
  }
  return out;
}
