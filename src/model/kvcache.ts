/**
 * Keys and values of every layer for the positions decoded so far: [batch, capacity, C]
 * per layer. `length` is how many positions are filled; the model appends to it.
 */
export class KVCache {
  readonly keys: Float32Array[];
  readonly values: Float32Array[];
  length = 0;
  /**
   * Row b's first real position: the ones before it are left padding, which attention skips
   * (prompts of different lengths prefilled together, ending at the same position). All 0
   * unless a caller pads.
   */
  readonly starts: Int32Array;

  constructor(
    readonly nLayer: number,
    readonly batch: number,
    readonly capacity: number,
    readonly width: number,
  ) {
    this.keys = Array.from({ length: nLayer }, () => new Float32Array(batch * capacity * width));
    this.values = Array.from({ length: nLayer }, () => new Float32Array(batch * capacity * width));
    this.starts = new Int32Array(batch);
  }

  /** Forget everything (reuse the buffers for a new sequence). */
  reset(): void {
    this.length = 0;
    this.starts.fill(0);
  }

  /**
   * A new cache of `batch` rows, each a copy of row `row` of this one (same capacity and
   * length): prefill a shared prompt once, then decode several continuations of it.
   */
  expand(batch: number, row = 0): KVCache {
    if (row < 0 || row >= this.batch) throw new Error(`KVCache.expand: row ${row} of a cache with ${this.batch} rows`);
    const out = new KVCache(this.nLayer, batch, this.capacity, this.width);
    const stride = this.capacity * this.width;
    const filled = this.length * this.width;
    for (let l = 0; l < this.nLayer; l++) {
      const k = this.keys[l].subarray(row * stride, row * stride + filled);
      const v = this.values[l].subarray(row * stride, row * stride + filled);
      for (let b = 0; b < batch; b++) {
        out.keys[l].set(k, b * stride);
        out.values[l].set(v, b * stride);
      }
    }
    out.length = this.length;
    out.starts.fill(this.starts[row]);
    return out;
  }

  /** Drop positions after n (e.g. to rewind after a rejected branch). */
  truncate(n: number): void {
    if (n < 0 || n > this.length) throw new Error(`KVCache.truncate(${n}): cache holds ${this.length} positions`);
    this.length = n;
  }
}
