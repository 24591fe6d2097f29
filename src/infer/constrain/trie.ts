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
  /**
   * The bytes of the ordinary tokens in one store (a `Uint8Array` per token was 100k heap
   * objects on cl100k that every full garbage collection inside a timed mask marked): token
   * id's bytes are `bytes[bytesStart[id] .. bytesEnd[id])`; bytesStart[id] = −1 for special
   * tokens and holes. Read one with `tokenBytes(id)`.
   */
  readonly bytes: Uint8Array;
  readonly bytesStart: Int32Array;
  readonly bytesEnd: Int32Array;

  /**
   * `vocab[id]` = the token's bytes, or undefined for ids the constraint must never allow
   * (special tokens); or a byte store as `Tokenizer.byteStore` gives it (start −1: never allowed).
   */
  constructor(vocab: readonly (Uint8Array | undefined)[] | ByteStore) {
    const { bytes: store, start, end: stop } = Array.isArray(vocab) ? packBytes(vocab as readonly (Uint8Array | undefined)[]) : (vocab as ByteStore);
    this.bytes = store;
    this.bytesStart = start;
    this.bytesEnd = stop;
    const vocabSize = start.length;
    this.words = Math.ceil(vocabSize / 32);
    const idList: number[] = [];
    for (let id = 0; id < vocabSize; id++) if (start[id] >= 0 && stop[id] > start[id]) idList.push(id);
    const cmp = (x: number, y: number): number => {
      const ax = start[x];
      const ay = start[y];
      const lx = stop[x] - ax;
      const ly = stop[y] - ay;
      const n = Math.min(lx, ly);
      for (let i = 0; i < n; i++) if (store[ax + i] !== store[ay + i]) return store[ax + i] - store[ay + i];
      return lx - ly || x - y;
    };
    const ids = Int32Array.from(idList).sort(cmp);
    let total = 0;
    for (const id of ids) total += stop[id] - start[id];
    const byte = new Uint8Array(total);
    const depth = new Uint16Array(total);
    const end = new Int32Array(total);
    const token = new Int32Array(total).fill(-1);
    const more = new Map<number, number[]>();
    const path: number[] = []; // node index at each depth − 1
    let prev = -1;
    let n = 0;
    let maxDepth = 0;
    for (const id of ids) {
      const o = start[id];
      const len = stop[id] - o;
      let l = 0;
      if (prev >= 0) {
        const po = start[prev];
        const plen = stop[prev] - po;
        while (l < plen && l < len && store[po + l] === store[o + l]) l++;
      }
      while (path.length > l) end[path.pop()!] = n;
      for (let i = l; i < len; i++) {
        byte[n] = store[o + i];
        depth[n] = i + 1;
        path.push(n);
        n++;
      }
      maxDepth = Math.max(maxDepth, len);
      const node = path[len - 1];
      if (token[node] < 0) token[node] = id;
      else {
        const list = more.get(node) ?? [];
        list.push(id);
        more.set(node, list);
      }
      prev = id;
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

  private wideIndex: WideNodes | undefined;

  /**
   * The nodes with WIDE_KIDS or more children, indexed by child byte (built on first use): a
   * walk in a state that accepts few bytes (a structural position) jumps from one accepted
   * child to the next instead of stepping over every rejected one (71% of the nodes cl100k's
   * walks visited were rejected, most of them children of such nodes: journal, round 21).
   */
  get wide(): WideNodes {
    if (this.wideIndex === undefined) this.wideIndex = wideNodes(this);
    return this.wideIndex;
  }

  /** The bytes of token `id` (a view into the store: do not modify), or undefined for a special token or an id outside the vocabulary. */
  tokenBytes(id: number): Uint8Array | undefined {
    const o = id >= 0 && id < this.bytesStart.length ? this.bytesStart[id] : -1;
    return o < 0 ? undefined : this.bytes.subarray(o, this.bytesEnd[id]);
  }
}

/** A node needs this many children to be indexed by child byte (TokenTrie.wide). */
export const WIDE_KIDS = 8;

/** TokenTrie.wide: the trie's nodes with at least WIDE_KIDS children, indexed by child byte. */
export interface WideNodes {
  /** Per node: its index w among the wide nodes, or −1. */
  readonly id: Int32Array;
  /** kidBytes[8w .. 8w+8): the 256-bit set of wide node w's child bytes. */
  readonly kidBytes: Uint32Array;
  /** kidAt[256w + b]: wide node w's child on byte b (defined where kidBytes has b). */
  readonly kidAt: Int32Array;
  /** The root's index w (its children are the depth-1 nodes), after the nodes' (the root is no node). */
  readonly rootIndex: number;
}

function wideNodes(trie: TokenTrie): WideNodes {
  const { end, byte, size } = trie;
  const id = new Int32Array(size).fill(-1);
  let count = 0;
  for (let n = 0; n < size; n++) {
    let kids = 0;
    for (let c = n + 1; c < end[n] && kids < WIDE_KIDS; c = end[c]) kids++;
    if (kids >= WIDE_KIDS) id[n] = count++;
  }
  const rootIndex = count;
  const kidBytes = new Uint32Array((count + 1) * 8);
  const kidAt = new Int32Array((count + 1) * 256);
  for (let n = -1; n < size; n++) {
    const w = n < 0 ? rootIndex : id[n];
    if (w < 0) continue;
    for (let c = n + 1; c < (n < 0 ? size : end[n]); c = end[c]) {
      const b = byte[c];
      kidBytes[w * 8 + (b >>> 5)] |= 1 << (b & 31);
      kidAt[w * 256 + b] = c;
    }
  }
  return { id, kidBytes, kidAt, rootIndex };
}

/** Token bytes in one store: id's bytes are bytes[start[id] .. end[id]); start[id] = −1 for none. */
export interface ByteStore {
  readonly bytes: Uint8Array;
  readonly start: Int32Array;
  readonly end: Int32Array;
}

/** A list of per-token byte arrays packed into one store. */
function packBytes(list: readonly (Uint8Array | undefined)[]): ByteStore {
  let total = 0;
  for (const b of list) if (b !== undefined) total += b.length;
  const bytes = new Uint8Array(total);
  const start = new Int32Array(list.length).fill(-1);
  const end = new Int32Array(list.length);
  let at = 0;
  for (let id = 0; id < list.length; id++) {
    const b = list[id];
    if (b === undefined) continue;
    bytes.set(b, at);
    start[id] = at;
    at += b.length;
    end[id] = at;
  }
  return { bytes, start, end };
}

const cache = new WeakMap<Tokenizer, TokenTrie>();

/** The trie of a tokenizer's ordinary tokens (special tokens excluded), built once per tokenizer. */
export function tokenTrie(tok: Tokenizer): TokenTrie {
  let t = cache.get(tok);
  if (!t) {
    const store = tok.byteStore;
    const start = store.start.slice(); // special tokens are never allowed: no bytes here
    for (const id of tok.specialTokens.values()) if (id < start.length) start[id] = -1;
    t = new TokenTrie({ bytes: store.bytes, start, end: store.end });
    cache.set(tok, t);
  }
  return t;
}
