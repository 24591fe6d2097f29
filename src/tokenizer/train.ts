import { compilePattern } from './patterns.js';

/**
 * Byte-level BPE training, minbpe's algorithm made incremental:
 *  1. pre-split every text with the pattern and count unique chunks (words);
 *  2. count adjacent pairs over unique words, weighted by word frequency;
 *  3. repeatedly take the most frequent pair (ties: smallest (a, b)), give it the next id,
 *     rewrite only the words that contain it, and update the counts of the pairs around
 *     each occurrence — never recounting from scratch.
 * A max-heap with lazy deletion finds the best pair; stale entries are skipped when popped.
 */
export interface BpeTrainResult {
  /** merges[i] = [a, b] creates token 256 + i. */
  merges: [number, number][];
}

const KEY = 1048576; // pair key = a·2^20 + b (ids < 2^20)

export function countChunks(texts: Iterable<string>, pattern: string, onText?: (bytes: number) => void): Map<string, number> {
  const re = compilePattern(pattern);
  const counts = new Map<string, number>();
  for (const text of texts) {
    if (re) {
      re.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = re.exec(text)) !== null) {
        const s = m[0];
        counts.set(s, (counts.get(s) ?? 0) + 1);
      }
    } else if (text.length > 0) {
      counts.set(text, (counts.get(text) ?? 0) + 1);
    }
    onText?.(text.length);
  }
  return counts;
}

export function trainBpe(chunkCounts: Map<string, number>, numMerges: number, onProgress?: (done: number, total: number) => void): BpeTrainResult {
  // unique chunks as byte-id arrays
  const enc = new TextEncoder();
  const words: Int32Array[] = [];
  const lens: number[] = [];
  const freq: number[] = [];
  for (const [chunk, count] of chunkCounts) {
    const bytes = enc.encode(chunk);
    if (bytes.length < 2) continue; // no pairs to count
    words.push(Int32Array.from(bytes));
    lens.push(bytes.length);
    freq.push(count);
  }

  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  const addPair = (a: number, b: number, f: number, w: number): number => {
    const key = a * KEY + b;
    pairCount.set(key, (pairCount.get(key) ?? 0) + f);
    let list = pairWords.get(key);
    if (!list) pairWords.set(key, (list = []));
    if (list.length === 0 || list[list.length - 1] !== w) list.push(w);
    return key;
  };
  for (let w = 0; w < words.length; w++) {
    const word = words[w];
    for (let i = 0; i < lens[w] - 1; i++) addPair(word[i], word[i + 1], freq[w], w);
  }

  // max-heap on (count desc, key asc) with lazy deletion
  const hc: number[] = [];
  const hk: number[] = [];
  const better = (i: number, j: number): boolean => hc[i] > hc[j] || (hc[i] === hc[j] && hk[i] < hk[j]);
  const swap = (i: number, j: number): void => {
    [hc[i], hc[j]] = [hc[j], hc[i]];
    [hk[i], hk[j]] = [hk[j], hk[i]];
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
  const seen = new Int32Array(words.length).fill(-1);
  const changed = new Set<number>();
  for (let step = 0; step < numMerges; step++) {
    // the best live pair
    while (hc.length > 0 && pairCount.get(hk[0]) !== hc[0]) popTop();
    if (hc.length === 0 || hc[0] <= 0) break;
    const key = hk[0];
    const a = Math.floor(key / KEY);
    const b = key - a * KEY;
    const z = 256 + merges.length;
    merges.push([a, b]);
    changed.clear();
    const dec = (p: number, q: number, f: number): void => {
      const k = p * KEY + q;
      pairCount.set(k, (pairCount.get(k) ?? 0) - f);
      changed.add(k);
    };
    for (const w of pairWords.get(key) ?? []) {
      if (seen[w] === step) continue;
      seen[w] = step;
      const word = words[w];
      const f = freq[w];
      let len = lens[w];
      let i = 0;
      while (i < len - 1) {
        if (word[i] === a && word[i + 1] === b) {
          if (i > 0) {
            dec(word[i - 1], a, f);
            changed.add(addPair(word[i - 1], z, f, w));
          }
          if (i + 2 < len) {
            dec(b, word[i + 2], f);
            changed.add(addPair(z, word[i + 2], f, w));
          }
          word[i] = z;
          word.copyWithin(i + 1, i + 2, len);
          len--;
        }
        i++;
      }
      lens[w] = len;
    }
    pairCount.delete(key);
    pairWords.delete(key);
    changed.delete(key);
    for (const k of changed) {
      const c = pairCount.get(k) ?? 0;
      if (c > 0) push(c, k);
      else {
        pairCount.delete(k);
        pairWords.delete(k);
      }
    }
    if (onProgress && (step % 64 === 0 || step === numMerges - 1)) onProgress(step + 1, numMerges);
  }
  onProgress?.(merges.length, numMerges);
  return { merges };
}

/** Characters (code points) seen in the texts, sorted by code point: the char-mode vocabulary. */
export function collectChars(texts: Iterable<string>): string[] {
  const set = new Set<string>();
  for (const text of texts) for (const ch of text) set.add(ch);
  return [...set].sort((x, y) => x.codePointAt(0)! - y.codePointAt(0)!);
}
