/**
 * A hash table from a pair of token ids (a, b) to (rank, merged id): the BPE merge rules.
 * Open addressing on typed arrays — several times faster than a Map keyed by a*2^k+b doubles
 * in the encoder's inner loop.
 */
export class PairTable {
  private keysA: Int32Array;
  private keysB: Int32Array;
  private ranks: Int32Array;
  private merged: Int32Array;
  private mask: number;
  size = 0;

  constructor(expected = 1024) {
    let cap = 16;
    while (cap < expected * 2) cap <<= 1;
    this.keysA = new Int32Array(cap).fill(-1);
    this.keysB = new Int32Array(cap);
    this.ranks = new Int32Array(cap);
    this.merged = new Int32Array(cap);
    this.mask = cap - 1;
  }

  private slot(a: number, b: number): number {
    // multiplicative hash of both ids
    let h = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b)) >>> 0;
    h ^= h >>> 15;
    return h & this.mask;
  }

  /** Set (a, b) → (rank, merged). An existing entry keeps the lower rank. */
  set(a: number, b: number, rank: number, merged: number): void {
    if ((this.size + 1) * 2 > this.keysA.length) this.grow();
    let i = this.slot(a, b);
    while (this.keysA[i] !== -1) {
      if (this.keysA[i] === a && this.keysB[i] === b) {
        if (rank < this.ranks[i]) {
          this.ranks[i] = rank;
          this.merged[i] = merged;
        }
        return;
      }
      i = (i + 1) & this.mask;
    }
    this.keysA[i] = a;
    this.keysB[i] = b;
    this.ranks[i] = rank;
    this.merged[i] = merged;
    this.size++;
  }

  /** Index of (a, b) in the table, or −1. Read rankAt/mergedAt with it. */
  find(a: number, b: number): number {
    let i = this.slot(a, b);
    for (;;) {
      const ka = this.keysA[i];
      if (ka === -1) return -1;
      if (ka === a && this.keysB[i] === b) return i;
      i = (i + 1) & this.mask;
    }
  }

  rankAt(i: number): number {
    return this.ranks[i];
  }

  mergedAt(i: number): number {
    return this.merged[i];
  }

  private grow(): void {
    const { keysA, keysB, ranks, merged } = this;
    const cap = keysA.length * 2;
    this.keysA = new Int32Array(cap).fill(-1);
    this.keysB = new Int32Array(cap);
    this.ranks = new Int32Array(cap);
    this.merged = new Int32Array(cap);
    this.mask = cap - 1;
    this.size = 0;
    for (let i = 0; i < keysA.length; i++) if (keysA[i] !== -1) this.set(keysA[i], keysB[i], ranks[i], merged[i]);
  }
}
