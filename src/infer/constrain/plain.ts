/**
 * Plain string text of a vocabulary by character count (llguidance's "slices" idea, for counted
 * string bodies): a token is *plain* when its bytes are whole UTF-8 characters (RFC 3629: no
 * overlong form, no surrogate, ≤ U+10FFFF), none of them a quote, a backslash or a control
 * character below U+0020 — text that can stand unescaped inside a JSON string. A string body
 * whose only restriction is its character count (`json-string{m,n}`) accepts a plain token of
 * c characters iff c more characters fit, so the matcher takes those tokens by length class and
 * walks only the others (a trie of the non-plain tokens, on cl100k ≈ a tenth of the trie).
 */
import { TokenTrie } from './trie.js';

export interface PlainIndex {
  /** Longest plain token, in characters (0: none). */
  readonly maxChars: number;
  /** upTo[c] (c = 0 … maxChars): bitset over the vocabulary of the plain tokens of 1 … c characters. */
  readonly upTo: readonly Uint32Array[];
  /** The tokens that are not plain, as a trie of their own (same ids, same vocabulary size). */
  readonly rest: TokenTrie;
  /** rest node → the node of the full trie with the same bytes. */
  readonly restToFull: Int32Array;
  /**
   * Per first byte b that is plain ASCII (U+0020 … U+007F but the quote and the backslash):
   * the plain tokens starting with b, in the full trie's preorder (their text after b is plain
   * too); empty for other bytes.
   */
  readonly kidPlain: readonly Int32Array[];
  /** Per first byte: the node of `rest` at depth 1 with that byte, −1 none. */
  readonly restKid: Int32Array;
  /**
   * Per plain ASCII first byte: the tokens starting with it that are plain text and then a
   * character cut short at the token's end (their first non-plain event, see `firstEvent`).
   */
  readonly kidCut: readonly Int32Array[];
  /**
   * The tokens whose first non-plain event is a quote, a backslash or bytes that are not
   * UTF-8 — those a plain loop whose control bytes are all rejected must still walk: a plain
   * token stays in the loop, a cut one ends inside a character, one reaching a control byte
   * first dies there — as a trie of their own, with its node map and depth-1 nodes as above.
   */
  readonly quoted: TokenTrie;
  readonly quotedToFull: Int32Array;
  readonly quotedKid: Int32Array;
  /**
   * cutUpTo[c] (c = 0 … maxChars): bitset of the tokens that are w whole plain characters and
   * then a character cut short (EVENT_CUT), with w + 1 ≤ c — what a counted string body with c
   * characters left accepts of them (the cut character takes the last place).
   */
  readonly cutUpTo: readonly Uint32Array[];
  /** True when some cut token needs more than maxChars places (then a body capped at maxChars cannot take them by count). */
  readonly cutBeyond: boolean;
}

/** firstEvent's results: the first thing in a token's bytes that is not a plain character. */
export const EVENT_NONE = 0;
export const EVENT_CONTROL = 1;
export const EVENT_CUT = 2;
export const EVENT_OTHER = 3;

/**
 * Length of the UTF-8 character that starts at `bytes[i]` (a byte ≥ 0x80 here), looking no
 * further than `to`: 2–4 when the bytes before `to` are a valid start of it by RFC 3629 §4's
 * table (no overlong form, no surrogate, ≤ U+10FFFF) — it is cut short when i + length > to —
 * or 0 when `bytes[i]` starts no character or a continuation byte is wrong.
 * E.g. E2 82 AC ("€") → 3; E2 82 with to = i + 2 → 3 (cut); C0 80 (overlong) → 0; ED A0 (a surrogate) → 0.
 */
function utf8Length(bytes: Uint8Array, i: number, to: number): number {
  const b = bytes[i];
  let len: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (b >= 0xc2 && b <= 0xdf) len = 2;
  else if (b >= 0xe0 && b <= 0xef) {
    len = 3;
    if (b === 0xe0) lo = 0xa0;
    else if (b === 0xed) hi = 0x9f;
  } else if (b >= 0xf0 && b <= 0xf4) {
    len = 4;
    if (b === 0xf0) lo = 0x90;
    else if (b === 0xf4) hi = 0x8f;
  } else return 0;
  const stop = Math.min(i + len, to);
  for (let k = i + 1; k < stop; k++) {
    const c = bytes[k];
    if (k === i + 1 ? c < lo || c > hi : c < 0x80 || c > 0xbf) return 0;
  }
  return len;
}

/**
 * The first non-plain thing in bytes[from, to): EVENT_NONE (all plain characters),
 * EVENT_CONTROL (a byte below U+0020), EVENT_CUT (a proper prefix of a plain character's UTF-8
 * form running to the end: a token ending inside a character), or EVENT_OTHER (a quote, a
 * backslash, or bytes that no plain character starts with).
 */
export function firstEvent(bytes: Uint8Array, from: number, to: number): number {
  let i = from;
  while (i < to) {
    const b = bytes[i];
    if (b < 0x80) {
      if (b < 0x20) return EVENT_CONTROL;
      if (b === 0x22 || b === 0x5c) return EVENT_OTHER;
      i++;
      continue;
    }
    const len = utf8Length(bytes, i, to);
    if (len === 0) return EVENT_OTHER;
    if (i + len > to) return EVENT_CUT;
    i += len;
  }
  return EVENT_NONE;
}

/** The whole characters before the cut one of a token whose first event is EVENT_CUT (bytes[from, to)). */
function wholeChars(bytes: Uint8Array, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; n++) {
    const b = bytes[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    const len = utf8Length(bytes, i, to);
    if (i + len > to) break;
    i += len;
  }
  return n;
}

/** Node map of `sub` (a trie of some of `trie`'s tokens: same bytes, same preorder) onto `trie`. */
function mapOnto(sub: TokenTrie, trie: TokenTrie): Int32Array {
  // sub node i's full-trie node is the child of its parent's with byte[i]
  const map = new Int32Array(sub.size);
  const at: number[] = []; // full node per depth − 1 on the current path
  for (let i = 0; i < sub.size; i++) {
    const d = sub.depth[i];
    let c = d === 1 ? 0 : at[d - 2] + 1;
    const stop = d === 1 ? trie.size : trie.end[at[d - 2]];
    while (c < stop && trie.byte[c] !== sub.byte[i]) c = trie.end[c];
    if (c >= stop) throw new Error('plainIndex: a token of a sub-trie is not in the trie');
    map[i] = at[d - 1] = c;
  }
  return map;
}

/** Per first byte: the sub-trie's depth-1 node with that byte, −1 none. */
function kidsOf(sub: TokenTrie): Int32Array {
  const kid = new Int32Array(256).fill(-1);
  for (let n = 0; n < sub.size; n = sub.end[n]) kid[sub.byte[n]] = n;
  return kid;
}

/** True for a byte that is a plain character on its own (ASCII from U+0020, but `"` and `\`). */
export function plainAscii(b: number): boolean {
  return b >= 0x20 && b < 0x80 && b !== 0x22 && b !== 0x5c;
}

const cache = new WeakMap<TokenTrie, PlainIndex>();
const NO_IDS = new Int32Array(0);

/** Characters of `bytes[from, to)` when it is plain string text (see the module comment), else −1. */
export function plainChars(bytes: Uint8Array, from: number, to: number): number {
  let n = 0;
  let i = from;
  while (i < to) {
    const b = bytes[i];
    if (b < 0x80) {
      if (b < 0x20 || b === 0x22 || b === 0x5c) return -1;
      i++;
      n++;
      continue;
    }
    const len = utf8Length(bytes, i, to);
    if (len === 0 || i + len > to) return -1; // not a character, or a cut one
    i += len;
    n++;
  }
  return n;
}

/** The plain-text index of `trie`'s vocabulary (built once per trie, kept while the trie lives). */
export function plainIndex(trie: TokenTrie): PlainIndex {
  const hit = cache.get(trie);
  if (hit !== undefined) return hit;
  const { bytes, bytesStart, bytesEnd } = trie;
  const vocab = bytesStart.length;
  const chars = new Int32Array(vocab).fill(-1);
  const restStart = new Int32Array(bytesStart);
  let maxChars = 0;
  for (let id = 0; id < vocab; id++) {
    const o = bytesStart[id];
    if (o < 0 || bytesEnd[id] <= o) continue;
    const c = plainChars(bytes, o, bytesEnd[id]);
    if (c <= 0) continue;
    chars[id] = c;
    restStart[id] = -1;
    if (c > maxChars) maxChars = c;
  }
  const upTo: Uint32Array[] = [];
  for (let c = 0; c <= maxChars; c++) upTo.push(new Uint32Array(trie.words));
  for (let id = 0; id < vocab; id++) if (chars[id] > 0) upTo[chars[id]][id >>> 5] |= 1 << (id & 31);
  for (let c = 1; c <= maxChars; c++) {
    const bits = upTo[c];
    const prev = upTo[c - 1];
    for (let w = 0; w < bits.length; w++) bits[w] |= prev[w];
  }
  const rest = new TokenTrie({ bytes, start: restStart, end: bytesEnd });
  const restToFull = mapOnto(rest, trie);
  const event = new Uint8Array(vocab);
  const quotedStart = new Int32Array(vocab).fill(-1);
  for (let id = 0; id < vocab; id++) {
    if (restStart[id] < 0 || bytesEnd[id] <= restStart[id]) continue;
    event[id] = firstEvent(bytes, restStart[id], bytesEnd[id]);
    if (event[id] === EVENT_OTHER) quotedStart[id] = restStart[id];
  }
  const quoted = new TokenTrie({ bytes, start: quotedStart, end: bytesEnd });
  const cutUpTo: Uint32Array[] = [];
  for (let c = 0; c <= maxChars; c++) cutUpTo.push(new Uint32Array(trie.words));
  let cutBeyond = false;
  for (let id = 0; id < vocab; id++) {
    if (event[id] !== EVENT_CUT) continue;
    const places = wholeChars(bytes, restStart[id], bytesEnd[id]) + 1;
    if (places > maxChars) cutBeyond = true;
    else cutUpTo[places][id >>> 5] |= 1 << (id & 31);
  }
  for (let c = 1; c <= maxChars; c++) {
    const bits = cutUpTo[c];
    const prev = cutUpTo[c - 1];
    for (let w = 0; w < bits.length; w++) bits[w] |= prev[w];
  }
  const kidPlain: Int32Array[] = [];
  const kidCut: Int32Array[] = [];
  for (let b = 0; b < 256; b++) {
    kidPlain.push(NO_IDS);
    kidCut.push(NO_IDS);
  }
  for (let n = 0; n < trie.size; n = trie.end[n]) {
    if (!plainAscii(trie.byte[n])) continue;
    const ids: number[] = [];
    const cut: number[] = [];
    for (let k = trie.tokStart[n]; k < trie.tokStart[trie.end[n]]; k++) {
      const id = trie.tokOrder[k];
      if (chars[id] > 0) ids.push(id);
      else if (event[id] === EVENT_CUT) cut.push(id);
    }
    kidPlain[trie.byte[n]] = Int32Array.from(ids);
    kidCut[trie.byte[n]] = Int32Array.from(cut);
  }
  const idx: PlainIndex = { maxChars, upTo, rest, restToFull, kidPlain, restKid: kidsOf(rest), kidCut, quoted, quotedToFull: mapOnto(quoted, trie), quotedKid: kidsOf(quoted), cutUpTo, cutBeyond };
  cache.set(trie, idx);
  return idx;
}

const belowCache = new WeakMap<TokenTrie, Uint8Array>();

/**
 * Per trie node: 1 when the text below it is plain for every token of its subtree — each
 * token's bytes after the node's depth are whole plain characters (as `plainChars`), the last
 * possibly cut short (a proper prefix of a plain character's UTF-8 form: a token may end inside
 * a character). A state that returns to itself on every plain character through non-accepting
 * states (TokenMatcher's plain loop: a free string body) accepts such a node's whole subtree,
 * with no place where the value could end inside it. Built once per trie, O(total token bytes).
 */
export function plainBelow(trie: TokenTrie): Uint8Array {
  const hit = belowCache.get(trie);
  if (hit !== undefined) return hit;
  const { bytes, bytesStart, bytesEnd, depth, token, size } = trie;
  const out = new Uint8Array(size).fill(1);
  const path = new Int32Array(trie.maxDepth + 1); // node per depth − 1 on the current path
  let ok = new Uint8Array(trie.maxDepth + 2);
  for (let n = 0; n < size; n++) {
    const d = depth[n];
    path[d - 1] = n;
    // every token at a node has the same bytes: one is enough
    const id = token[n];
    if (id < 0) continue;
    const o = bytesStart[id];
    const len = bytesEnd[id] - o;
    if (ok.length < len + 1) ok = new Uint8Array(len + 1);
    plainSuffixes(bytes, o, len, ok);
    for (let a = 1; a < len; a++) if (ok[a] === 0) out[path[a - 1]] = 0;
  }
  belowCache.set(trie, out);
  return out;
}

/** ok[j] = 1 when bytes[o + j .. o + len) is plain text whose last character may be cut short (see plainBelow); j = 0 … len. */
function plainSuffixes(bytes: Uint8Array, o: number, len: number, ok: Uint8Array): void {
  ok[len] = 1;
  for (let j = len - 1; j >= 0; j--) {
    const b = bytes[o + j];
    ok[j] = 0;
    if (b < 0x80) {
      if (b >= 0x20 && b !== 0x22 && b !== 0x5c) ok[j] = ok[j + 1];
      continue;
    }
    const n = utf8Length(bytes, o + j, o + len); // 0: a continuation byte, an invalid lead or a wrong continuation
    if (n > 0) ok[j] = j + n >= len ? 1 : ok[j + n];
  }
}
