/**
 * The vocabulary as a byte prefix tree laid out in preorder (llguidance's "toktrie" idea):
 * node i's subtree is the index range [i, end[i]), so a walk that rejects a node skips its whole
 * subtree with one assignment, and tokens sharing a prefix share the work on it.
 */
import type { Tokenizer } from '../../tokenizer/index.js';

export class TokenTrie {
  /** The byte on the edge into each node. */
  readonly byte: Uint8Array;
  /** Depth of each node (1 for children of the root). */
  readonly depth: Uint16Array;
  /** One past the last node of each node's subtree. */
  readonly end: Int32Array;
  /** The token ending at each node, or −1 (duplicates of the same bytes: see `more`). */
  readonly token: Int32Array;
  /** Further tokens with the same bytes as the node's token (rare). */
  readonly more: ReadonlyMap<number, readonly number[]>;
  /** hasMore[node] = 1 when `more` has an entry for the node (a typed-array test in the hot loop). */
  readonly hasMore: Uint8Array;
  /** The token ids of the trie in preorder (duplicates included): node n's subtree holds tokOrder[tokStart[n] .. tokStart[end[n]]). */
  readonly tokOrder: Int32Array;
  readonly tokStart: Int32Array;
  /**
   * belowBytes[8n .. 8n+8): the 256-bit set of bytes on the edges strictly below node n (its
   * descendants' bytes, not n's own): a state that steps to itself on all of them accepts n's
   * whole subtree once it has reached n.
   */
  readonly belowBytes: Uint32Array;
  readonly size: number;
  readonly maxDepth: number;
  /** ceil(vocabSize / 32): the length of a mask over this vocabulary. */
  readonly words: number;
  /** The bytes of each ordinary token (undefined for special tokens). */
  readonly tokenBytes: readonly (Uint8Array | undefined)[];

  /** `vocab[id]` = the token's bytes, or undefined for ids the constraint must never allow (special tokens). */
  constructor(vocab: readonly (Uint8Array | undefined)[]) {
    this.tokenBytes = vocab;
    this.words = Math.ceil(vocab.length / 32);
    const ids: number[] = [];
    for (let id = 0; id < vocab.length; id++) if (vocab[id] !== undefined && vocab[id]!.length > 0) ids.push(id);
    const cmp = (a: Uint8Array, b: Uint8Array): number => {
      const n = Math.min(a.length, b.length);
      for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
      return a.length - b.length;
    };
    ids.sort((x, y) => cmp(vocab[x]!, vocab[y]!) || x - y);
    let total = 0;
    for (const id of ids) total += vocab[id]!.length;
    const byte = new Uint8Array(total);
    const depth = new Uint16Array(total);
    const end = new Int32Array(total);
    const token = new Int32Array(total).fill(-1);
    const more = new Map<number, number[]>();
    const path: number[] = []; // node index at each depth − 1
    let prev: Uint8Array = new Uint8Array(0);
    let n = 0;
    let maxDepth = 0;
    for (const id of ids) {
      const b = vocab[id]!;
      let l = 0;
      while (l < prev.length && l < b.length && prev[l] === b[l]) l++;
      while (path.length > l) end[path.pop()!] = n;
      for (let i = l; i < b.length; i++) {
        byte[n] = b[i];
        depth[n] = i + 1;
        path.push(n);
        n++;
      }
      maxDepth = Math.max(maxDepth, b.length);
      const node = path[b.length - 1];
      if (token[node] < 0) token[node] = id;
      else {
        const list = more.get(node) ?? [];
        list.push(id);
        more.set(node, list);
      }
      prev = b;
    }
    while (path.length) end[path.pop()!] = n;
    this.byte = byte.slice(0, n);
    this.depth = depth.slice(0, n);
    this.end = end.slice(0, n);
    this.token = token.slice(0, n);
    this.more = more;
    this.hasMore = new Uint8Array(n);
    for (const k of more.keys()) this.hasMore[k] = 1;
    const tokOrder: number[] = [];
    this.tokStart = new Int32Array(n + 1);
    const sub = new Uint32Array(n * 8);
    const parentAt: number[] = [];
    const parent = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      this.tokStart[i] = tokOrder.length;
      if (token[i] >= 0) tokOrder.push(token[i], ...(more.get(i) ?? []));
      const d = depth[i];
      parent[i] = d > 1 ? parentAt[d - 2] : -1;
      parentAt[d - 1] = i;
    }
    this.tokStart[n] = tokOrder.length;
    this.tokOrder = Int32Array.from(tokOrder);
    for (let i = n - 1; i >= 0; i--) {
      const q = parent[i];
      if (q < 0) continue;
      for (let w = 0; w < 8; w++) sub[q * 8 + w] |= sub[i * 8 + w];
      sub[q * 8 + (byte[i] >>> 5)] |= 1 << (byte[i] & 31);
    }
    this.belowBytes = sub;
    this.size = n;
    this.maxDepth = maxDepth;
  }
}

const cache = new WeakMap<Tokenizer, TokenTrie>();

/** The trie of a tokenizer's ordinary tokens (special tokens excluded), built once per tokenizer. */
export function tokenTrie(tok: Tokenizer): TokenTrie {
  let t = cache.get(tok);
  if (!t) {
    const vocab: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(tok.vocabSize);
    const special = new Set(tok.specialTokens.values());
    for (let id = 0; id < tok.vocabSize; id++) {
      if (special.has(id)) continue;
      try {
        vocab[id] = tok.tokenBytes(id);
      } catch {
        vocab[id] = undefined; // a hole in the id space
      }
    }
    t = new TokenTrie(vocab);
    cache.set(tok, t);
  }
  return t;
}
