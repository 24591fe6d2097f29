import { GptforgeError } from '../util/errors.js';
import { PreTokenizer } from './pretokenizer.js';

/**
 * Byte-level BPE training, minbpe's algorithm made incremental:
 *  1. pre-split every text with the pattern and count unique chunks (words);
 *  2. lay the unique words out in one array of byte ids, each position weighted by its
 *     word's frequency, with linked-list neighbours (word ends have none, so no pair ever
 *     crosses a chunk boundary), and count adjacent pairs with those weights;
 *  3. repeatedly take the most frequent pair (ties: smallest (a, b)), give it the next id,
 *     and rewrite only its recorded occurrences, updating the counts of the pairs around each
 *     one — never recounting from scratch.
 * Occurrences are kept per pair as positions (not as words), so the cost of a merge is the
 * number of times the pair occurs: pattern "none" (one chunk per document) stays tractable.
 * A max-heap with lazy deletion finds the best pair; stale entries are skipped when popped.
 */
export interface BpeTrainResult {
  /** merges[i] = [a, b] creates token 256 + i. */
  merges: [number, number][];
}

const KEY = 1048576; // pair key = a·2^20 + b (ids < 2^20)

/**
 * Count the pre-split pieces of the texts: matches of `pattern` (Oniguruma syntax, '' = none)
 * and the stretches between them, exactly as encoding splits (an Isolated Split).
 */
export function countChunks(texts: Iterable<string>, pattern: string, onText?: (bytes: number) => void): Map<string, number> {
  const pre = new PreTokenizer(pattern === '' ? [] : [{ pattern: { Regex: pattern }, behavior: 'Isolated', invert: false }], () => ({ field: 'pattern' }));
  const counts = new Map<string, number>();
  const count = (s: string): void => void counts.set(s, (counts.get(s) ?? 0) + 1);
  for (const text of texts) {
    pre.forEachPiece((text as unknown as { toWellFormed(): string }).toWellFormed(), count);
    onText?.(text.length);
  }
  return counts;
}

/** Unique chunks as one array of byte ids with per-position weights and word-local links. */
interface Corpus {
  ids: Int32Array; // token at each position; −1 once merged into its left neighbour
  weight: Float64Array; // frequency of the word the position belongs to
  next: Int32Array; // next live position in the same word, or −1
  prev: Int32Array; // previous live position in the same word, or −1
}

function layOut(chunkCounts: Map<string, number>): Corpus {
  const enc = new TextEncoder();
  const words: Uint8Array[] = [];
  const freqs: number[] = [];
  let total = 0;
  for (const [chunk, count] of chunkCounts) {
    const bytes = enc.encode(chunk);
    if (bytes.length < 2) continue; // no pairs to count
    words.push(bytes);
    freqs.push(count);
    total += bytes.length;
  }
  const c: Corpus = { ids: new Int32Array(total), weight: new Float64Array(total), next: new Int32Array(total), prev: new Int32Array(total) };
  let o = 0;
  words.forEach((bytes, w) => {
    for (let i = 0; i < bytes.length; i++, o++) {
      c.ids[o] = bytes[i];
      c.weight[o] = freqs[w];
      c.prev[o] = i === 0 ? -1 : o - 1;
      c.next[o] = i === bytes.length - 1 ? -1 : o + 1;
    }
  });
  return c;
}

/**
 * `firstMerges` are taken before any counted pair, in order, whether or not they occur:
 * tokens the vocabulary must have (e.g. every two-digit group, so all numbers tokenize
 * alike) rather than those the sample happens to favour.
 */
export function trainBpe(chunkCounts: Map<string, number>, numMerges: number, onProgress?: (done: number, total: number) => void, firstMerges: readonly [number, number][] = []): BpeTrainResult {
  const { ids, weight, next, prev } = layOut(chunkCounts);
  const pairCount = new Map<number, number>();
  // positions where the pair (maybe) starts, in increasing order within each word — so
  // overlapping occurrences (a a a) merge left to right; stale ones are checked and skipped
  const pairPos = new Map<number, number[]>();
  const changed = new Set<number>();
  const add = (a: number, b: number, w: number, pos: number): void => {
    const key = a * KEY + b;
    pairCount.set(key, (pairCount.get(key) ?? 0) + w);
    const list = pairPos.get(key);
    if (list) list.push(pos);
    else pairPos.set(key, [pos]);
    changed.add(key);
  };
  const sub = (a: number, b: number, w: number): void => {
    const key = a * KEY + b;
    pairCount.set(key, (pairCount.get(key) ?? 0) - w);
    changed.add(key);
  };
  for (let i = 0; i < ids.length; i++) if (next[i] >= 0) add(ids[i], ids[i + 1], weight[i], i);

  // max-heap on (count desc, key asc) with lazy deletion
  const hc: number[] = [];
  const hk: number[] = [];
  const better = (i: number, j: number): boolean => hc[i] > hc[j] || (hc[i] === hc[j] && hk[i] < hk[j]);
  const swap = (i: number, j: number): void => {
    const c = hc[i];
    hc[i] = hc[j];
    hc[j] = c;
    const k = hk[i];
    hk[i] = hk[j];
    hk[j] = k;
  };
  const push = (count: number, key: number): void => {
    hc.push(count);
    hk.push(key);
    let i = hc.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!better(i, p)) break;
      swap(i, p);
      i = p;
    }
  };
  const popTop = (): void => {
    const last = hc.length - 1;
    swap(0, last);
    hc.pop();
    hk.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < hc.length && better(l, m)) m = l;
      if (r < hc.length && better(r, m)) m = r;
      if (m === i) break;
      swap(i, m);
      i = m;
    }
  };
  for (const [key, count] of pairCount) push(count, key);

  const merges: [number, number][] = [];
  const merge = (a: number, b: number): void => {
    const key = a * KEY + b;
    const z = 256 + merges.length;
    merges.push([a, b]);
    changed.clear();
    for (const i of pairPos.get(key) ?? []) {
      if (ids[i] !== a) continue; // merged away or already rewritten
      const j = next[i];
      if (j < 0 || ids[j] !== b) continue;
      const w = weight[i];
      const p = prev[i];
      const n = next[j];
      if (p >= 0) {
        sub(ids[p], a, w);
        add(ids[p], z, w, p);
      }
      if (n >= 0) {
        sub(b, ids[n], w);
        add(z, ids[n], w, i);
      }
      ids[i] = z;
      ids[j] = -1;
      next[i] = n;
      if (n >= 0) prev[n] = i;
    }
    pairCount.delete(key);
    pairPos.delete(key);
    changed.delete(key);
    for (const k of changed) {
      const c = pairCount.get(k) ?? 0;
      if (c > 0) push(c, k);
      else {
        pairCount.delete(k);
        pairPos.delete(k);
      }
    }
  };
  if (firstMerges.length > numMerges) throw new GptforgeError(`${firstMerges.length} required merges do not fit in ${numMerges} merges: raise the vocabulary size`, { field: 'vocabSize' });
  for (const [a, b] of firstMerges) {
    if (a >= 256 + merges.length || b >= 256 + merges.length) throw new GptforgeError(`required merge (${a}, ${b}) uses a token not made yet`);
    merge(a, b);
  }
  for (let step = merges.length; step < numMerges; step++) {
    // the best live pair (an entry is live when its count is still the pair's count)
    while (hc.length > 0 && pairCount.get(hk[0]) !== hc[0]) popTop();
    if (hc.length === 0 || hc[0] <= 0) break;
    const a = Math.floor(hk[0] / KEY);
    merge(a, hk[0] - a * KEY);
    if (onProgress && (step % 64 === 0 || step === numMerges - 1)) onProgress(step + 1, numMerges);
  }
  onProgress?.(merges.length, numMerges);
  return { merges };
}

/** The merges that build each required string left to right, sharing prefixes, in first-use order. */
export function requiredMerges(tokens: readonly string[]): [number, number][] {
  const enc = new TextEncoder();
  const merges: [number, number][] = [];
  const made = new Map<number, number>(); // pair key → id
  for (const token of tokens) {
    const bytes = enc.encode(token);
    if (bytes.length < 2) throw new GptforgeError(`required token "${token}" is a single byte: every byte is a token already`, { field: 'requiredTokens' });
    let cur = bytes[0];
    for (let i = 1; i < bytes.length; i++) {
      const key = cur * KEY + bytes[i];
      let id = made.get(key);
      if (id === undefined) {
        id = 256 + merges.length;
        merges.push([cur, bytes[i]]);
        made.set(key, id);
      }
      cur = id;
    }
  }
  return merges;
}

/** Characters (code points) seen in the texts, sorted by code point: the char-mode vocabulary. */
export function collectChars(texts: Iterable<string>): string[] {
  const set = new Set<string>();
  for (const text of texts) for (const ch of text) set.add(ch);
  return [...set].sort((x, y) => x.codePointAt(0)! - y.codePointAt(0)!);
}
