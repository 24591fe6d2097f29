/**
 * Keys and values of every layer for the positions decoded so far: [batch, capacity, C]
 * per layer. `length` is how many positions are filled; the model appends to it.
 */
export class KVCache {
  readonly keys: Float32Array[];
  readonly values: Float32Array[];
  length = 0;

  constructor(
    readonly nLayer: number,
    readonly batch: number,
    readonly capacity: number,
    readonly width: number,
  ) {
    this.keys = Array.from({ length: nLayer }, () => new Float32Array(batch * capacity * width));
    this.values = Array.from({ length: nLayer }, () => new Float32Array(batch * capacity * width));
  }

  /** Forget everything (reuse the buffers for a new sequence). */
  reset(): void {
    this.length = 0;
  }

  /** Drop positions after n (e.g. to rewind after a rejected branch). */
  truncate(n: number): void {
    if (n < 0 || n > this.length) throw new Error(`KVCache.truncate(${n}): cache holds ${this.length} positions`);
    this.length = n;
  }
}
