/**
 * Sort a[from .. to) ascending in place: insertion sort for the short runs most closures are,
 * else the built-in sort on a view (a view is one small allocation; a view per closure was a
 * third of the garbage building states).
 */
export function sortRange(a: Int32Array, from: number, to: number): void {
  if (to - from > 48) {
    a.subarray(from, to).sort();
    return;
  }
  for (let i = from + 1; i < to; i++) {
    const x = a[i];
    let j = i - 1;
    while (j >= from && a[j] > x) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = x;
  }
}

/**
 * Merge the sorted runs of a[0 .. n) — run r is a[starts[r] .. starts[r + 1]) (the last ends at
 * n), each ascending without repeats — into one ascending run without repeats at a[0 ..), and
 * return its length; `tmp` is scratch of at least n ints. Runs are merged pairwise, bottom up
 * (n log(runs) steps): a mask's union gathers a few sorted token lists, and sorting their
 * concatenation again (sortRange, the built-in sort past 48 ids) was a twentieth of cl100k's masks.
 * `starts` is overwritten.
 */
export function mergeRuns(a: Int32Array, n: number, starts: Int32Array, runs: number, tmp: Int32Array): number {
  if (runs <= 0 || n === 0) return 0;
  let src = a;
  let dst = tmp;
  let count = runs;
  let len = n;
  while (count > 1) {
    let out = 0;
    let r = 0;
    for (; r + 1 < count; r += 2) {
      let i = starts[r];
      const iEnd = starts[r + 1];
      let j = iEnd;
      const jEnd = r + 2 < count ? starts[r + 2] : len;
      starts[r >> 1] = out;
      while (i < iEnd && j < jEnd) {
        const x = src[i];
        const y = src[j];
        if (x < y) {
          dst[out++] = x;
          i++;
        } else if (y < x) {
          dst[out++] = y;
          j++;
        } else {
          dst[out++] = x;
          i++;
          j++;
        }
      }
      while (i < iEnd) dst[out++] = src[i++];
      while (j < jEnd) dst[out++] = src[j++];
    }
    if (r < count) {
      // an odd run out: copied as it is
      const from = starts[r];
      starts[r >> 1] = out;
      for (let i = from; i < len; i++) dst[out++] = src[i];
    }
    count = (count + 1) >> 1;
    len = out;
    const t = src;
    src = dst;
    dst = t;
  }
  if (src !== a) a.set(src.subarray(0, len));
  return len;
}

/**
 * Hash-consing of int sequences: equal sequences get the same small id, compared exactly (a
 * hash only finds the candidates). The matcher's sub-grammar and frame signatures are such
 * sequences; interned as joined strings they were the largest allocation left per new frame
 * (a string per rule, per configuration and per frame state, a `Set` and a sort of strings).
 * Here a sequence is written into a reused buffer (`push`), then `intern()` copies it into one
 * arena the first time it is seen and resets the buffer.
 */
export class SeqInterner {
  private arena: Int32Array;
  private arenaLen = 0;
  private off: Int32Array;
  private len: Int32Array;
  private hashOf: Int32Array;
  private count = 0;
  /** Open addressing: id + 1 per slot, 0 empty. */
  private table: Int32Array;
  /** The sequence being built. */
  private buf: Int32Array = new Int32Array(256);
  private bufLen = 0;

  /**
   * @param max the most ids handed out; past it (or past `maxInts` ints stored), `intern` of a
   * new sequence returns −1 (no sharing) until `clear()`
   * @param initialIds room for this many ids before the arrays grow (and 16 ints each): a
   * small interner (a matcher's few dozen keys) need not allocate the global ones' 90 KB
   */
  constructor(
    private max: number,
    private maxInts: number = Number.MAX_SAFE_INTEGER,
    private readonly initialIds = 1024,
  ) {
    this.arena = new Int32Array(16 * initialIds);
    this.off = new Int32Array(initialIds);
    this.len = new Int32Array(initialIds);
    this.hashOf = new Int32Array(initialIds);
    this.table = new Int32Array(2 * initialIds);
  }

  get size(): number {
    return this.count;
  }

  /** Ints held by the stored sequences. */
  get storedInts(): number {
    return this.arenaLen;
  }

  /** True when no new id can be handed out (the id cap or the ints budget is reached). */
  get full(): boolean {
    return this.count >= this.max || this.arenaLen >= this.maxInts;
  }

  /** Change the caps (tests); takes effect on the next `intern`. */
  setLimits(max: number, maxInts: number = Number.MAX_SAFE_INTEGER): void {
    this.max = max;
    this.maxInts = maxInts;
  }

  /**
   * Forget every sequence and release the storage: ids start again from 0, so an id handed out
   * before now may name another sequence after — callers holding ids must drop them (the
   * matcher does, by an epoch; matcher.ts).
   */
  clear(): void {
    this.arena = new Int32Array(16 * this.initialIds);
    this.arenaLen = 0;
    this.off = new Int32Array(this.initialIds);
    this.len = new Int32Array(this.initialIds);
    this.hashOf = new Int32Array(this.initialIds);
    this.count = 0;
    this.table = new Int32Array(2 * this.initialIds);
    this.bufLen = 0;
  }

  /** Append x to the sequence being built. */
  push(x: number): void {
    if (this.bufLen >= this.buf.length) {
      const g = new Int32Array(this.buf.length * 2);
      g.set(this.buf);
      this.buf = g;
    }
    this.buf[this.bufLen++] = x;
  }

  /** Length of the sequence being built (for `truncate`). */
  get mark(): number {
    return this.bufLen;
  }

  /** Drop what was pushed after `mark` (or everything: 0). */
  truncate(mark: number): void {
    this.bufLen = mark;
  }

  /** Sort the elements pushed since `from` ascending and drop duplicates among them (a set, canonically). */
  sortUnique(from: number): void {
    const b = this.buf;
    sortRange(b, from, this.bufLen);
    let k = from;
    for (let i = from; i < this.bufLen; i++) if (k === from || b[i] !== b[k - 1]) b[k++] = b[i];
    this.bufLen = k;
  }

  /** The id of the sequence built since the last intern/truncate(0) (which is then cleared); −1 when new and a cap is reached. */
  intern(): number {
    const b = this.buf;
    const n = this.bufLen;
    this.bufLen = 0;
    let h = n ^ 0x2545f491;
    for (let i = 0; i < n; i++) h = Math.imul(h ^ b[i], 0x9e3779b1) ^ (h >>> 15);
    const mask = this.table.length - 1;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const e = this.table[slot];
      if (e === 0) break;
      const id = e - 1;
      if (this.hashOf[id] !== h || this.len[id] !== n) continue;
      const o = this.off[id];
      let eq = true;
      for (let i = 0; i < n; i++) {
        if (this.arena[o + i] !== b[i]) {
          eq = false;
          break;
        }
      }
      if (eq) return id;
    }
    if (this.full) return -1;
    const id = this.count++;
    if (id >= this.off.length) {
      this.off = grow(this.off, id * 2);
      this.len = grow(this.len, id * 2);
      this.hashOf = grow(this.hashOf, id * 2);
    }
    if (this.arenaLen + n > this.arena.length) this.arena = grow(this.arena, Math.max(this.arenaLen + n, this.arena.length * 2));
    this.arena.set(b.subarray(0, n), this.arenaLen);
    this.off[id] = this.arenaLen;
    this.len[id] = n;
    this.hashOf[id] = h;
    this.arenaLen += n;
    if (2 * this.count > this.table.length) this.rehash();
    else this.place(id);
    return id;
  }

  private place(id: number): void {
    const mask = this.table.length - 1;
    let slot = this.hashOf[id] & mask;
    while (this.table[slot] !== 0) slot = (slot + 1) & mask;
    this.table[slot] = id + 1;
  }

  private rehash(): void {
    this.table = new Int32Array(this.table.length * 2);
    for (let id = 0; id < this.count; id++) this.place(id);
  }
}

function grow(a: Int32Array, size: number): Int32Array {
  const g = new Int32Array(size);
  g.set(a);
  return g;
}
