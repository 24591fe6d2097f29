import { Worker } from 'node:worker_threads';
import { GPT } from '../model/gpt.js';
import { KVCache, type KVCacheBuffers } from '../model/kvcache.js';

/**
 * A decode thread: the batched forward pass of continuous batching run on a worker thread,
 * so that the main thread writes the previous step's tokens to the sockets (SSE chunks,
 * writev), parses new requests and collects garbage while the model computes the next
 * logits — llama.cpp's server likewise decodes on its own thread while HTTP runs on others.
 * At decode sizes a step's linears run on one core (the kernels' small-M path), so this
 * puts the second core to work on what the main thread did between forwards.
 *
 * The worker reads the model's own weights: they are moved into SharedArrayBuffers at start
 * (the model's tensors then view that memory; same values, no second copy), and it works on
 * KV caches the main thread created here
 * (`createCache`: SharedArrayBuffer-backed, KVCache 'shared'), so the main thread still
 * prefills joining rows on its own copy, resets and copies cache rows (the prefix cache,
 * n choices) — between forwards only: a cache belongs to the worker from `nextLogits` until
 * its promise settles. Logits are bit-for-bit those of `model.nextLogits` on the main thread
 * (the same weights, kernels and shapes; tested).
 *
 * Only a plain f32 GPT qualifies ({@link ForwardThread.supports}): no LoRA or quantized
 * hooks (their state lives in closures on the main thread), no randomized position ids or
 * abacus columns (their per-slot arrays in KVCache are not shared). Others decode on the
 * main thread as before.
 */
export class ForwardThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(l: Float32Array): void; reject(e: Error): void }>();
  private readonly caches = new WeakMap<KVCache, number>();
  private seq = 0;
  private nextCache = 0;
  private failed: Error | null = null;

  /** Whether `model` can decode on a ForwardThread (see the class comment). */
  static supports(model: unknown): model is GPT {
    return model instanceof GPT && !model.linearHook && !model.tokenHook && !model.headHook && model.config.randomPositions === undefined && model.config.abacus === undefined;
  }

  /** Start a worker on `model`'s weights, moved into shared memory (its tensors' `data` are replaced by views of the same values). */
  constructor(private readonly model: GPT) {
    if (!ForwardThread.supports(model)) throw new Error('ForwardThread: only a plain f32 GPT (no LoRA or quantized hooks, randomized positions or abacus) decodes on a thread');
    const params = [...model.params].map(([name, t]) => {
      if (!(t.data.buffer instanceof SharedArrayBuffer)) {
        const shared = new Float32Array(new SharedArrayBuffer(t.data.byteLength));
        shared.set(t.data);
        (t as { data: Float32Array }).data = shared;
      }
      return [name, t.data] as const;
    });
    this.worker = new Worker(new URL('./forward-thread-worker.js', import.meta.url), { workerData: { config: model.config, scalarHead: model.params.has('score.weight'), params } });
    this.worker.on('message', (m: { seq: number; logits?: Float32Array; error?: string }) => {
      const p = this.pending.get(m.seq);
      if (!p) return;
      this.pending.delete(m.seq);
      if (this.pending.size === 0) this.worker.unref();
      if (m.logits) p.resolve(m.logits);
      else p.reject(new Error(`decode thread: ${m.error}`));
    });
    const fail = (e: Error): void => {
      this.failed = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`decode thread exited (code ${code})`)));
    // idle, the thread never keeps the process alive (close() ends it); a forward under way does (nextLogits refs it). After the listeners: adding one refs it again
    this.worker.unref();
  }

  /** A KV cache sized for the model (as GPT.createCache), shared with the worker. */
  createCache(batch: number, capacity = this.model.config.blockSize): KVCache {
    const { nLayer, nEmbd, blockSize } = this.model.config;
    if (capacity > blockSize) throw new Error(`cache capacity ${capacity} exceeds the context length ${blockSize}`);
    const cache = new KVCache(nLayer, batch, capacity, nEmbd, 'shared');
    const id = this.nextCache++;
    this.caches.set(cache, id);
    this.worker.postMessage({ type: 'cache', id, dims: [cache.nLayer, batch, capacity, cache.width], buffers: cache.sharedBuffers() });
    return cache;
  }

  /**
   * GPT.nextLogits on the worker: feed `ids` [B·T] to the cache rows `rows` (B of them) and
   * resolve with each row's last logits [B·V]. The cache (one of `createCache`'s) must not be
   * touched until the promise settles.
   */
  nextLogits(ids: Int32Array, cache: KVCache, rows: Int32Array): Promise<Float32Array> {
    const id = this.caches.get(cache);
    if (id === undefined) return Promise.reject(new Error('ForwardThread.nextLogits: a cache this thread did not create'));
    if (this.failed) return Promise.reject(this.failed);
    const seq = this.seq++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(seq, { resolve, reject });
      this.worker.postMessage({ type: 'step', seq, cache: id, ids, rows });
    });
  }

  /** End the worker (pending forwards reject). */
  async close(): Promise<void> {
    this.failed ??= new Error('decode thread closed');
    await this.worker.terminate();
  }
}

/** What the worker is sent (forward-thread-worker.ts). */
export interface ForwardThreadInit {
  config: GPT['config'];
  scalarHead: boolean;
  params: Array<readonly [string, Float32Array]>;
}

export type ForwardThreadMessage = { type: 'cache'; id: number; dims: [number, number, number, number]; buffers: KVCacheBuffers } | { type: 'step'; seq: number; cache: number; ids: Int32Array; rows: Int32Array };
