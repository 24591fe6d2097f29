/** A cache's buffers ('shared': backed by SharedArrayBuffers), as KVCache.sharedBuffers gives and its constructor takes. */
export interface KVCacheBuffers {
  keys: Float32Array[];
  values: Float32Array[];
  lengths: Int32Array;
  starts: Int32Array;
}

/**
 * Keys and values of every layer for the positions decoded so far: [batch, capacity, C]
 * per layer. Each row has its own length (`lengths[b]`, positions filled) and first real
 * position (`starts[b]`), so rows can hold sequences of different lengths: continuous
 * batching decodes requests that joined at different times together, a finished row's slot
 * is reset and reused (`resetRow`), and one prefilled prompt can be copied into other rows
 * (`copyRow`). The model appends to the rows it is given (GPT.hidden's `rows`, default all).
 */
export class KVCache {
  readonly keys: Float32Array[];
  readonly values: Float32Array[];
  /** Positions filled, per row. */
  readonly lengths: Int32Array;
  /**
   * Row b's first real position: the ones before it are left padding, which attention skips
   * (prompts of different lengths prefilled together, ending at the same position). All 0
   * unless a caller pads.
   */
  readonly starts: Int32Array;
  /**
   * Each slot's position id [batch·capacity] (RoPE's angle; the keys are cached rotated by it),
   * kept once a forward has used position ids (randomized positions, GPT.hidden): null until
   * then, meaning slot i's id is i. See {@link positionIdsOrIdentity}.
   */
  positionIds: Int32Array | null = null;
  /**
   * Each slot's token id [batch·capacity], kept once a model needs its row's history to embed
   * the next token (abacus column ids, GPT.hidden): null until then. See {@link tokensOrAlloc}.
   */
  tokens: Int32Array | null = null;

  /**
   * @param memory where the buffers live: 'local' (default) in this thread's memory; 'shared'
   * in SharedArrayBuffers, so a cache posted to a worker thread is the same cache there (the
   * server's decode thread, src/infer/forward-thread.ts); or the buffers of such a cache as
   * posted ({@link sharedBuffers}), to make that view. The two sides must not use the cache
   * at the same time: the owner hands it over with each message and takes it back with the reply.
   */
  constructor(
    readonly nLayer: number,
    readonly batch: number,
    readonly capacity: number,
    readonly width: number,
    memory: 'local' | 'shared' | KVCacheBuffers = 'local',
  ) {
    if (typeof memory === 'object') {
      if (memory.keys.length !== nLayer || memory.values.length !== nLayer || memory.lengths.length !== batch || memory.starts.length !== batch || memory.keys.some((k) => k.length !== batch * capacity * width))
        throw new Error(`KVCache: buffers do not fit ${nLayer} layers × ${batch} rows × ${capacity} positions × ${width}`);
      ({ keys: this.keys, values: this.values, lengths: this.lengths, starts: this.starts } = memory);
      return;
    }
    const f32 = (n: number) => (memory === 'shared' ? new Float32Array(new SharedArrayBuffer(4 * n)) : new Float32Array(n));
    const i32 = (n: number) => (memory === 'shared' ? new Int32Array(new SharedArrayBuffer(4 * n)) : new Int32Array(n));
    this.keys = Array.from({ length: nLayer }, () => f32(batch * capacity * width));
    this.values = Array.from({ length: nLayer }, () => f32(batch * capacity * width));
    this.starts = i32(batch);
    this.lengths = i32(batch);
  }

  /** The buffers, to post to another thread (meaningful for a 'shared' cache: a local one's would be copied). */
  sharedBuffers(): KVCacheBuffers {
    return { keys: this.keys, values: this.values, lengths: this.lengths, starts: this.starts };
  }

  /**
   * Positions filled: the longest row's (every row's, when the rows move in lockstep, as
   * they do unless decoded row by row). Setting it sets every row's length.
   */
  get length(): number {
    let n = 0;
    for (let b = 0; b < this.batch; b++) if (this.lengths[b] > n) n = this.lengths[b];
    return n;
  }

  set length(n: number) {
    if (!Number.isInteger(n) || n < 0 || n > this.capacity) throw new Error(`KVCache.length = ${n}: must be an integer in [0, ${this.capacity}]`);
    this.lengths.fill(n);
  }

  /** positionIds, allocated on first use with every slot's id its index (what it was while null). */
  positionIdsOrIdentity(): Int32Array {
    if (!this.positionIds) this.positionIds = Int32Array.from({ length: this.batch * this.capacity }, (_, i) => i % this.capacity);
    return this.positionIds;
  }

  /** tokens, allocated on first use. */
  tokensOrAlloc(): Int32Array {
    if (!this.tokens) this.tokens = new Int32Array(this.batch * this.capacity);
    return this.tokens;
  }

  /** Forget everything (reuse the buffers for a new sequence). */
  reset(): void {
    this.lengths.fill(0);
    this.starts.fill(0);
  }

  /** Empty row `row` (a finished request's slot, to be reused): length 0, no padding. */
  resetRow(row: number): void {
    this.checkRow('resetRow', row);
    this.lengths[row] = 0;
    this.starts[row] = 0;
  }

  /**
   * Copy row `src`'s filled positions (keys, values, length and padding start) into each row
   * of `dsts`: prefill a prompt once, then decode k continuations of it from k rows (k samples
   * sharing one prefill, e.g. self-consistency). Positions past the copied length in a
   * destination row are left as they were and never read. Cost: 2·nLayer·length·width floats
   * per destination.
   */
  copyRow(src: number, dsts: readonly number[]): void {
    this.checkRow('copyRow', src);
    const stride = this.capacity * this.width;
    const filled = this.lengths[src] * this.width;
    for (const d of dsts) {
      this.checkRow('copyRow', d);
      if (d === src) continue;
      for (let l = 0; l < this.nLayer; l++) {
        this.keys[l].copyWithin(d * stride, src * stride, src * stride + filled);
        this.values[l].copyWithin(d * stride, src * stride, src * stride + filled);
      }
      this.lengths[d] = this.lengths[src];
      this.starts[d] = this.starts[src];
      this.positionIds?.copyWithin(d * this.capacity, src * this.capacity, src * this.capacity + this.lengths[src]);
      this.tokens?.copyWithin(d * this.capacity, src * this.capacity, src * this.capacity + this.lengths[src]);
    }
  }

  /**
   * A new cache of `batch` rows, each a copy of row `row` of this one (same capacity and
   * length): prefill a shared prompt once, then decode several continuations of it.
   */
  expand(batch: number, row = 0): KVCache {
    this.checkRow('expand', row);
    const out = new KVCache(this.nLayer, batch, this.capacity, this.width);
    const stride = this.capacity * this.width;
    const filled = this.lengths[row] * this.width;
    for (let l = 0; l < this.nLayer; l++) {
      const k = this.keys[l].subarray(row * stride, row * stride + filled);
      const v = this.values[l].subarray(row * stride, row * stride + filled);
      for (let b = 0; b < batch; b++) {
        out.keys[l].set(k, b * stride);
        out.values[l].set(v, b * stride);
      }
    }
    out.lengths.fill(this.lengths[row]);
    out.starts.fill(this.starts[row]);
    if (this.positionIds) {
      const ids = this.positionIds.subarray(row * this.capacity, row * this.capacity + this.lengths[row]);
      const o = out.positionIdsOrIdentity();
      for (let b = 0; b < batch; b++) o.set(ids, b * this.capacity);
    }
    if (this.tokens) {
      const toks = this.tokens.subarray(row * this.capacity, row * this.capacity + this.lengths[row]);
      const o = out.tokensOrAlloc();
      for (let b = 0; b < batch; b++) o.set(toks, b * this.capacity);
    }
    return out;
  }

  /** Drop positions after n in every row (e.g. to rewind after a rejected branch); n ≤ every row's length. */
  truncate(n: number): void {
    for (let b = 0; b < this.batch; b++) if (n < 0 || n > this.lengths[b]) throw new Error(`KVCache.truncate(${n}): row ${b} holds ${this.lengths[b]} positions`);
    this.lengths.fill(n);
  }

  private checkRow(fn: string, row: number): void {
    if (!Number.isInteger(row) || row < 0 || row >= this.batch) throw new Error(`KVCache.${fn}: row ${row} of a cache with ${this.batch} rows`);
  }
}
