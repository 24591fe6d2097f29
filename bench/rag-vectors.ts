/**
 * Synthetic embedders for the RAG speed benches (bench/rag.ts, bench/rag-scale.ts): vectors
 * for a store of ~100k chunks without a model's forward pass per chunk. An exact scan costs
 * the same whatever the vectors hold; an approximate (IVF) search's recall depends on how
 * they cluster, hence two kinds.
 */
import { Rng } from '../src/engine/rng.js';
import type { Embedder } from '../src/rag/embed.js';

/** Random unit vectors (seeded): no clusters, the IVF's worst case. */
export class RandomEmbedder implements Embedder {
  readonly id: string;
  readonly tokenizerHash: string;
  readonly maxTokens = 1 << 20;
  private readonly rng = new Rng(7);
  constructor(
    readonly dim: number,
    private readonly counter: Embedder | null,
  ) {
    this.id = `random-${dim}`;
    this.tokenizerHash = counter?.tokenizerHash ?? 'approx';
  }
  countTokens(t: string): number {
    return this.counter ? this.counter.countTokens(t) : Math.ceil(t.length / 4);
  }
  embed(texts: readonly string[]): Float32Array[] {
    return texts.map(() => {
      const v = new Float32Array(this.dim);
      for (let i = 0; i < v.length; i++) v[i] = this.rng.normal();
      const n = Math.hypot(...v);
      return v.map((x) => x / n);
    });
  }
}

/** A feature-hashed bag of words (Weinberger et al. 2009), L2-normalised: cheap text vectors with real neighbourhoods. */
export class HashedEmbedder implements Embedder {
  readonly id: string;
  readonly tokenizerHash = 'approx';
  readonly maxTokens = 1 << 20;
  constructor(readonly dim: number) {
    this.id = `hashed-bow-${dim}`;
  }
  countTokens(t: string): number {
    return Math.ceil(t.length / 4);
  }
  embed(texts: readonly string[]): Float32Array[] {
    return texts.map((t) => {
      const v = new Float32Array(this.dim);
      for (const w of t.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
        let h = 0x811c9dc5;
        for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w.charCodeAt(i), 0x01000193) >>> 0;
        v[h % this.dim] += h & 0x80000000 ? -1 : 1;
      }
      let n = 0;
      for (const x of v) n += x * x;
      n = Math.sqrt(n) || 1;
      return v.map((x) => x / n);
    });
  }
}

/** The p-th percentile (nearest rank) of an ascending list. */
export function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
