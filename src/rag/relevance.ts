import { GptforgeError } from '../util/errors.js';
import type { RetrievedChunk } from './retrieve.js';

/**
 * The relevance cutoff: a node postprocessor that drops retrieved chunks scoring below a
 * minimum, so that "is any shown passage about the question?" is decided in the retrieval
 * layer, not by the chat model — LlamaIndex's `SimilarityPostprocessor(similarity_cutoff=…)`
 * (llama-index-core, `llama_index/core/postprocessor/node.py`), and the "abstain when retrieval
 * confidence is low" rule of production RAG. When every chunk is dropped, the answer is "The
 * passages don't say." without calling the model (generate.ts, `emptyContext: 'no-answer'`).
 *
 * Scores are the retrieval lists' own (RetrievedChunk.scores), not the fused RRF sum, which is
 * rank-based and says nothing about relevance (every query's first hit scores 1/61):
 * - `bm25`: SQLite FTS5's −bm25() (higher is better; unbounded, corpus-dependent — calibrate on
 *   your own store with bench/rag-relevance.ts); a chunk BM25 did not match has none and fails it.
 * - `bm25Relative`: the BM25 score over the most the query's terms could score (store.ts
 *   bm25Ceiling), in [0, 1): a chunk naming every query term many times nears 1, one naming a
 *   rare term once scores about 0.45 of it; comparable across queries, unlike raw BM25.
 * - `cosine`: the query's cosine similarity to the chunk's embedding (−1…1); a chunk outside
 *   the vector list's candidates fails it.
 * A chunk is kept when it passes every cutoff given. docs/rag.md "Relevance cutoff".
 */
export interface RelevanceCutoff {
  bm25?: number;
  /** The BM25 score as a fraction of the most the query could score (store.ts bm25Ceiling), in [0, 1): comparable across queries and stores. 0.74 on the built-in dictionary (bench/rag-relevance.ts). */
  bm25Relative?: number;
  cosine?: number;
}

/** The range each bounded score lives in (bm25, unbounded, has none): a cutoff outside it is refused. */
export const CUTOFF_RANGE: Readonly<Record<'bm25Relative' | 'cosine', readonly [number, number]>> = { bm25Relative: [0, 1], cosine: [-1, 1] };

/**
 * The fewest chunks a store needs for a relative-BM25 cutoff (`bm25Relative`, `--rag-min-score`,
 * `rag.min_score`) to tell passages apart: 16. FTS5's idf, ln((N − n + 0.5) / (n + 0.5)), is
 * clamped to 1e-6 for a word in half the N chunks or more, so in a store of 2 chunks every word
 * it holds weighs nothing, and a question naming one word the store lacks scores ≈ 0 against
 * any chunk (the lacking word's idf, ln(2N + 1), is the whole ceiling). Below 16 chunks a word
 * in two of them weighs less than half of one the store lacks (ln((N − 1.5) / 2.5) <
 * ½·ln(2N + 1) for N ≤ 15), so the score says more about which words the store lacks than
 * about the passage. docs/rag.md "Relevance cutoff".
 */
export const MIN_CUTOFF_CHUNKS = 16;

/**
 * The warning a relative-BM25 cutoff on a store of `chunks` chunks earns: a sentence naming
 * the store's size and what to do, or undefined when the store holds MIN_CUTOFF_CHUNKS or more.
 * `flag` names the cutoff as the caller's user set it (`--rag-min-score`, `rag.min_score`).
 * @example smallStoreCutoffWarning(3, '--rag-min-score') // "the RAG store holds 3 chunks: …"
 */
export function smallStoreCutoffWarning(chunks: number, flag: string): string | undefined {
  if (chunks >= MIN_CUTOFF_CHUNKS) return undefined;
  return `the RAG store holds ${chunks} chunk${chunks === 1 ? '' : 's'}, fewer than ${MIN_CUTOFF_CHUNKS}: BM25 gives no weight to a word in half the chunks or more, so relative scores are near 0 and ${flag} may refuse every question; leave ${flag} out for a store this small (docs/rag.md "Relevance cutoff")`;
}

/** The chunks that pass `cutoff` (see {@link RelevanceCutoff}), order kept. @throws GptforgeError on a cutoff that is not a finite number, or is outside its score's range (CUTOFF_RANGE: bm25Relative 0…1, cosine −1…1). */
export function applyRelevanceCutoff<C extends Pick<RetrievedChunk, 'scores'>>(chunks: readonly C[], cutoff: RelevanceCutoff | undefined): C[] {
  if (!cutoff) return [...chunks];
  for (const [name, v] of Object.entries(cutoff)) if (v !== undefined && !Number.isFinite(v)) throw new GptforgeError(`relevance cutoff ${name}: expects a finite number, got ${String(v)}`, { field: `minScore.${name}` });
  // a cutoff outside the score's range keeps every chunk or none: a typo (1.5, 74) that would refuse every answer without a word
  for (const [name, [lo, hi]] of Object.entries(CUTOFF_RANGE)) {
    const v = cutoff[name as keyof RelevanceCutoff];
    if (v !== undefined && (v < lo || v > hi)) throw new GptforgeError(`relevance cutoff ${name}: expects a number from ${lo} to ${hi}, got ${v}`, { field: `minScore.${name}` });
  }
  const passes = (min: number | undefined, x: number | undefined): boolean => min === undefined || (x !== undefined && x >= min);
  return chunks.filter((c) => passes(cutoff.bm25, c.scores.bm25) && passes(cutoff.bm25Relative, c.scores.bm25Relative) && passes(cutoff.cosine, c.scores.vector));
}

/**
 * ROC AUC of a score separating `pos` (should score higher) from `neg`: the probability that a
 * random positive outscores a random negative, ties counting half (Mann–Whitney U / (|pos|·|neg|)).
 * NaN when either side is empty.
 */
export function rocAuc(pos: readonly number[], neg: readonly number[]): number {
  if (pos.length === 0 || neg.length === 0) return Number.NaN;
  const all = [...pos.map((x) => ({ x, p: true })), ...neg.map((x) => ({ x, p: false }))].sort((a, b) => a.x - b.x);
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j].x === all[i].x) j++;
    const mid = (i + 1 + j) / 2; // average 1-based rank of the tie group
    for (let t = i; t < j; t++) if (all[t].p) rankSum += mid;
    i = j;
  }
  return (rankSum - (pos.length * (pos.length + 1)) / 2) / (pos.length * neg.length);
}

/**
 * The cutoff c (keep x ≥ c) with the best balanced accuracy — the mean of the positives kept and
 * the negatives dropped, so that the two sides weigh the same whatever their counts — among the
 * midpoints between consecutive distinct scores (and below / above them all). Ties go to the
 * lower cutoff (keeping more). Returns the cutoff, the balanced accuracy, and each side's rate.
 */
export function bestCutoff(pos: readonly number[], neg: readonly number[]): { cutoff: number; accuracy: number; kept: number; dropped: number } {
  const xs = [...new Set([...pos, ...neg])].sort((a, b) => a - b);
  const candidates = [xs[0] - 1, ...xs.slice(1).map((x, i) => (x + xs[i]) / 2), xs[xs.length - 1] + 1];
  let best = { cutoff: Number.NaN, accuracy: -1, kept: 0, dropped: 0 };
  for (const c of candidates) {
    const kept = pos.length > 0 ? pos.filter((x) => x >= c).length / pos.length : 0;
    const dropped = neg.length > 0 ? neg.filter((x) => x < c).length / neg.length : 0;
    const accuracy = (kept + dropped) / 2;
    if (accuracy > best.accuracy) best = { cutoff: c, accuracy, kept, dropped };
  }
  return best;
}
