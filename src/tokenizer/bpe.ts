import type { PairTable } from './pairs.js';

/**
 * Apply BPE merges to one pre-split chunk: repeatedly merge the adjacent pair with the
 * lowest rank (leftmost on ties) until no pair has a rule. Works in place on `ids[0..n)` and
 * returns the new length. Short chunks use a flat scan (fast for words); long ones a heap
 * over a linked list (O(n log n)), so whole documents with pattern "none" stay tractable.
 */
const NONE = 0x7fffffff;
let rankBuf = new Int32Array(256);
let mergedBuf = new Int32Array(256);

export function mergeChunk(ids: Int32Array, n: number, table: PairTable): number {
  if (n < 2) return n;
  if (n > 256) return mergeLong(ids, n, table);
  const rank = rankBuf;
  const merged = mergedBuf;
  for (let i = 0; i < n - 1; i++) setPair(ids, i, table, rank, merged);
  for (;;) {
    let best = NONE;
    let at = -1;
    for (let i = 0; i < n - 1; i++) {
      if (rank[i] < best) {
        best = rank[i];
        at = i;
      }
    }
    if (at < 0) return n;
    ids[at] = merged[at];
    // drop position at+1
    for (let j = at + 1; j < n - 1; j++) {
      ids[j] = ids[j + 1];
      rank[j] = rank[j + 1];
      merged[j] = merged[j + 1];
    }
    n--;
    if (at > 0) setPair(ids, at - 1, table, rank, merged);
    if (at < n - 1) setPair(ids, at, table, rank, merged);
  }
}

function setPair(ids: Int32Array, i: number, table: PairTable, rank: Int32Array, merged: Int32Array): void {
  const idx = table.find(ids[i], ids[i + 1]);
  if (idx < 0) rank[i] = NONE;
  else {
    rank[i] = table.rankAt(idx);
    merged[i] = table.mergedAt(idx);
  }
}

/** Heap of (rank, position) packed as rank·2^26 + position (positions < 2^26). */
function mergeLong(ids: Int32Array, n: number, table: PairTable): number {
  if (n >= 1 << 26) throw new Error(`BPE: chunk of ${n} bytes is too long`);
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  const alive = new Uint8Array(n).fill(1);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  const heap: number[] = [];
  const push = (v: number): void => {
    heap.push(v);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (heap[p] <= heap[i]) break;
      [heap[p], heap[i]] = [heap[i], heap[p]];
      i = p;
    }
  };
  const pop = (): number => {
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l] < heap[m]) m = l;
        if (r < heap.length && heap[r] < heap[m]) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i], heap[m]];
        i = m;
      }
    }
    return top;
  };
  const SHIFT = 2 ** 26;
  const pairRank = (i: number): number => {
    const j = next[i];
    if (j < 0) return NONE;
    const idx = table.find(ids[i], ids[j]);
    return idx < 0 ? NONE : table.rankAt(idx);
  };
  for (let i = 0; i < n - 1; i++) {
    const r = pairRank(i);
    if (r !== NONE) push(r * SHIFT + i);
  }
  while (heap.length > 0) {
    const v = pop();
    const r = Math.floor(v / SHIFT);
    const i = v - r * SHIFT;
    if (!alive[i] || pairRank(i) !== r) continue; // stale entry
    const j = next[i];
    ids[i] = table.mergedAt(table.find(ids[i], ids[j]));
    alive[j] = 0;
    next[i] = next[j];
    if (next[j] >= 0) prev[next[j]] = i;
    const p = prev[i];
    if (p >= 0) {
      const pr = pairRank(p);
      if (pr !== NONE) push(pr * SHIFT + p);
    }
    const nr = pairRank(i);
    if (nr !== NONE) push(nr * SHIFT + i);
  }
  let m = 0;
  for (let i = 0; i >= 0; i = next[i]) ids[m++] = ids[i];
  return m;
}
