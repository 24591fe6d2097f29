import { GptforgeError } from '../util/errors.js';
import type { Embedder } from './embed.js';
import type { QueryOptions, RagStore, ScoredId, SearchFilter, StoredChunk } from './store.js';

/**
 * Retrieval over a RagStore: BM25 (FTS5), exact vector search, or both fused by reciprocal
 * rank fusion — score(d) = Σ_lists 1 / (k + rank_list(d)), ranks from 1, k = 60 (Cormack,
 * Clarke & Büttcher, "Reciprocal Rank Fusion outperforms Condorcet and individual rank
 * learning methods", SIGIR 2009). RRF needs no score calibration between BM25's unbounded
 * scores and cosine similarities, which is why hybrid search engines default to it.
 */

export type RetrievalMode = 'bm25' | 'vector' | 'hybrid';

export interface RetrieveOptions extends QueryOptions {
  /** Chunks to return (default 5). */
  k?: number;
  /** Default: hybrid when the retriever has an embedder, else bm25. */
  mode?: RetrievalMode;
  filter?: SearchFilter;
  /** Candidates taken from each list before fusion (default max(50, k)). */
  candidates?: number;
  /** RRF's k (default 60). */
  rrfK?: number;
  /** Approximate vector search: scan only this many IVF cells (default: exact scan). */
  nprobe?: number;
}

export interface RetrievedChunk extends StoredChunk {
  /** The mode's score: BM25 (−bm25()), cosine similarity, or the RRF sum. Higher is better. */
  score: number;
  /** 1-based rank in each list the chunk came from. */
  ranks: { bm25?: number; vector?: number };
  /** Its score in each list it came from: BM25 (−bm25(), higher is better) and cosine similarity — what a relevance cutoff reads (relevance.ts), the fused RRF sum being rank-based. */
  scores: { bm25?: number; vector?: number; bm25Relative?: number };
}

export const RRF_K = 60;

/** Fuse ranked lists by reciprocal rank: Σ 1/(k + rank). Ties: the better best rank, then the lower id. */
export function reciprocalRankFusion(lists: readonly (readonly ScoredId[])[], k = RRF_K): ScoredId[] {
  const acc = new Map<number, { score: number; best: number }>();
  for (const list of lists) {
    list.forEach((h, i) => {
      const e = acc.get(h.id) ?? { score: 0, best: Infinity };
      e.score += 1 / (k + i + 1);
      e.best = Math.min(e.best, i + 1);
      acc.set(h.id, e);
    });
  }
  return [...acc].sort((a, b) => b[1].score - a[1].score || a[1].best - b[1].best || a[0] - b[0]).map(([id, e]) => ({ id, score: e.score }));
}

/**
 * Retrieval over a RagStore: BM25 (SQLite FTS5), vector (cosine over the store's embeddings), or
 * hybrid (both lists fused by reciprocal rank, Cormack et al. 2009). `retrieve(query, { k, mode })`
 * returns the k best chunks, best first, each with its score, ranks and source file and line.
 * @throws GptforgeError when the embedder is not the one the store was built with, or a vector
 *   mode is asked without one.
 */
export class Retriever {
  /**
   * embedder: needed for vector and hybrid modes; must be the model the store was built with.
   * query: how BM25 queries are made when a retrieve() call does not say (default: stop words
   * dropped, question-frame words kept; store.ts QueryOptions).
   */
  constructor(
    readonly store: RagStore,
    readonly embedder?: Embedder,
    readonly query: QueryOptions = {},
  ) {
    // both ends named by path, not only by hash: which checkpoint built the store, which one is asking
    const built = store.meta.embeddingPath ?? store.meta.tokenizerPath ?? '(path not recorded: a store from before paths were recorded, or a BM25-only one)';
    const asking = embedder?.path ?? '(an embedder given without a path)';
    if (embedder && embedder.id !== store.meta.embeddingModel)
      throw new GptforgeError(`the RAG store was built with embedding model ${store.meta.embeddingModel} from ${built}, not ${embedder.id} from ${asking}: query with --model ${store.meta.embeddingPath ?? '<the checkpoint it was built with>'}, or re-index with this model into another --db`, { file: store.path });
    if (embedder && embedder.tokenizerHash !== store.meta.tokenizerHash) throw new GptforgeError(`the RAG store was built with tokenizer ${store.meta.tokenizerHash} from ${built}, not ${embedder.tokenizerHash} from ${asking}`, { file: store.path });
  }

  /** The embedding of a query (a unit vector). */
  embedQuery(query: string): Float32Array {
    if (!this.embedder) throw new GptforgeError('vector retrieval needs the embedding model (none given)', { file: this.store.path });
    return this.embedder.embed([query])[0];
  }

  /** The best chunks for a query, best first, each with its score, list ranks and source. */
  retrieve(query: string, opts: RetrieveOptions = {}): RetrievedChunk[] {
    const k = opts.k ?? 5;
    const mode = opts.mode ?? (this.embedder ? 'hybrid' : 'bm25');
    const filter = opts.filter ?? {};
    const n = Math.max(opts.candidates ?? 50, k);
    const dropFrameWords = opts.dropFrameWords ?? this.query.dropFrameWords ?? false;
    const bm25 = mode === 'vector' ? [] : this.store.searchBM25(query, mode === 'bm25' ? k : n, filter, { dropFrameWords });
    const vector = mode === 'bm25' ? [] : this.store.searchVector(this.embedQuery(query), mode === 'vector' ? k : n, filter, { nprobe: opts.nprobe });
    const ranked = mode === 'bm25' ? bm25 : mode === 'vector' ? vector : reciprocalRankFusion([bm25, vector], opts.rrfK ?? RRF_K).slice(0, k);
    const rankOf = (list: ScoredId[]): Map<number, number> => new Map(list.map((h, i) => [h.id, i + 1]));
    const rb = rankOf(bm25);
    const rv = rankOf(vector);
    const sb = new Map(bm25.map((h) => [h.id, h.score]));
    const sv = new Map(vector.map((h) => [h.id, h.score]));
    let ceiling: number | undefined;
    const score = new Map(ranked.map((h) => [h.id, h.score]));
    // (a chunk deleted by another writer since the search is left out)
    return this.store.chunks(ranked.map((h) => h.id)).map((c) => {
      const ranks: RetrievedChunk['ranks'] = {};
      if (rb.has(c.id)) ranks.bm25 = rb.get(c.id);
      if (rv.has(c.id)) ranks.vector = rv.get(c.id);
      const scores: RetrievedChunk['scores'] = {};
      if (sb.has(c.id)) {
        scores.bm25 = sb.get(c.id);
        // the BM25 score as a fraction of the most the query could score (store.ts bm25Ceiling): comparable across queries and corpora
        ceiling ??= this.store.bm25Ceiling(query, { dropFrameWords });
        scores.bm25Relative = ceiling > 0 ? scores.bm25! / ceiling : 0;
      }
      if (sv.has(c.id)) scores.vector = sv.get(c.id);
      return { ...c, score: score.get(c.id)!, ranks, scores };
    });
  }
}
