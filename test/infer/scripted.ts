import { KVCache } from '../../src/model/kvcache.js';
import { makeConfig } from '../../src/model/config.js';
import type { DecodingModel } from '../../src/infer/pipeline.js';

/**
 * A batch-aware stand-in model for decoding tests: each row's logits are `policy(history)`,
 * where history is every id the row was fed (prompt and tokens since, left padding left out).
 * It keeps each row's ids in the KV cache itself (key slot = token id), so a copied cache row
 * carries its history along and rows never see each other. Records the batch of every pass.
 */
export class PolicyModel implements DecodingModel {
  readonly config;
  readonly batches: number[] = [];
  constructor(
    vocabSize: number,
    private readonly policy: (history: readonly number[]) => ArrayLike<number>,
    blockSize = 256,
  ) {
    this.config = makeConfig({ vocabSize, blockSize, nLayer: 1, nHead: 1, nEmbd: 8 });
  }
  createCache(batch: number): KVCache {
    return new KVCache(1, batch, this.config.blockSize, 1);
  }
  nextLogits(ids: Int32Array, cache: KVCache, rows?: Int32Array): Float32Array {
    const rowOf = rows ?? Int32Array.from({ length: cache.batch }, (_, b) => b);
    const B = rowOf.length,
      T = ids.length / B,
      V = this.config.vocabSize,
      cap = cache.capacity;
    this.batches.push(B);
    const out = new Float32Array(B * V);
    for (let b = 0; b < B; b++) {
      const r = rowOf[b];
      for (let t = 0; t < T; t++) cache.keys[0][r * cap + cache.lengths[r] + t] = ids[b * T + t];
      cache.lengths[r] += T;
      out.set(this.policy(Array.from(cache.keys[0].subarray(r * cap + cache.starts[r], r * cap + cache.lengths[r]))), b * V);
    }
    return out;
  }
}

/** Logits that put `hi` on one id (and 0 elsewhere). */
export function peak(V: number, id: number, hi = 20): Float32Array {
  const l = new Float32Array(V);
  l[id] = hi;
  return l;
}
