import type { Rng } from '../engine/rng.js';
import { GptforgeError } from '../util/errors.js';
import type { KeyTree } from '../util/key-tree.js';

/**
 * Abacus embeddings (McLeish et al. 2024, "Transformers Can Do Arithmetic with the Right
 * Embeddings"): every digit token gets, on top of its token embedding, a learned embedding
 * indexed by its *column id* — where it stands in its run of consecutive digit tokens — so a
 * step of an algorithm can find "the digits of column k" by content (equal ids), not by
 * counting positions. Non-digit tokens get id 0 (row 0 of the table: one learned vector
 * shared by every non-digit token).
 *
 * McLeish et al. write operands least-significant digit first, so that equal ids are equal
 * significance. Our questions stay natural (most significant first), so the id of a digit is
 * its **significance** (units = 1), read off in the way each part of a conversation allows:
 *
 * - a digit run in the prompt (anything outside an assistant reply: it is complete when the
 *   model reads it) is indexed from its end: the last digit is 1 ("4567" → 4,3,2,1);
 * - a digit run in a reply is written one token at a time, so it is indexed from its start
 *   (first digit 1): replies write numbers least significant first ("7654"), and a generated
 *   digit's id is known when it is fed back;
 * - except a reply run that follows the answer marker (`countdownAfter`, e.g. the tokens of
 *   "Answer: "), which writes the result most significant first: it counts down from the
 *   length of the reply's previous digit run (the scratchpad's last, least-significant-first
 *   line) to 1, so the answer digit of column k has id k too (without a previous run in the
 *   reply it counts up like any other reply run).
 *
 * With `countdownIds: 'next'` the count-down run is shifted by one token: the marker's last
 * token gets the answer's length n and the answer digit of column k gets k − 1 (the units
 * digit 0, no id) — every token of the answer line carries the column of the digit written
 * *after* it, so each answer step looks up the digits with its own id (the same lookup as a
 * carry step) instead of the id one below its own, a map between two unrelated learned
 * vectors that must be learned id by id.
 *
 * Every rule looks only at tokens already known, so decoding computes the same ids as
 * training (the KV cache keeps its row's tokens, KVCache.tokens). In training a random
 * offset 0..maxOffset is added to every nonzero id of a row (McLeish et al.'s random offset),
 * so ids past the trained lengths' are trained too; decoding uses offset 0. Ids above maxId
 * are clamped to maxId.
 */
export interface AbacusConfig {
  /** The token ids that are one decimal digit each (their order does not matter). */
  digitTokens: number[];
  /** Tokens that open an assistant reply (<|assistant_start|>). */
  replyStart: number[];
  /** Tokens that end a reply (<|assistant_end|>, <|user_start|>, <|system_start|>, …). */
  replyEnd: number[];
  /** The token sequence right before a count-down run (the tokens of "Answer: "); empty: none. */
  countdownAfter: number[];
  /** 'column' (default): an answer digit's id is its column; 'next': the column of the digit after it (see above). */
  countdownIds?: 'column' | 'next';
  /** The largest id; the table has maxId + 1 rows. */
  maxId: number;
  /** Training's random offset is drawn from 0..maxOffset per row (0: none). */
  maxOffset: number;
  /** The table's initial standard deviation (default 0.02, the token table's): larger starts the ids further apart. */
  initStd?: number;
  /**
   * The per-column Sum-line layout (model AB3, see `abacusItemIds` in src/model/abacus.ts); absent: the rules above.
   * `after`: the tokens of the line's marker ("Sum:"); `bank`: the width of each id bank — the
   * first operand's column k has id k, the second operand's bank + k, the Sum line's result digit
   * of column k 2·bank + k (maxId must be ≥ 3·bank).
   */
  items?: { after: number[]; bank: number };
  /**
   * With `items`: the share (0..1) of training rows whose ids get a random increasing map of the
   * column values instead of the shift (model AB5, see `offsetAbacusIds` in src/model/abacus.ts); absent or 0: none.
   */
  stretch?: number;
}

/** The keys a preset's `model.abacus` may hold: AbacusConfig's, checked by the compiler (a field added above fails `tsc` until listed here). */
export const ABACUS_KEYS: KeyTree<AbacusConfig> = {
  digitTokens: null,
  replyStart: null,
  replyEnd: null,
  countdownAfter: null,
  countdownIds: null,
  maxId: null,
  maxOffset: null,
  initStd: null,
  items: { after: null, bank: null },
  stretch: null,
};

/**
 * Check an abacus config (the model config's `abacus` field); `vocabSize` bounds the token ids.
 * @param prefix what goes before `abacus` in a field's name: `model.` where the config is a
 *   preset's `model` section or a checkpoint config.json's `model`, as validateConfig names the other fields
 * @throws GptforgeError `{ file: source, field: "<prefix>abacus.<name>" }` for the first bad value
 */
export function validateAbacus(a: AbacusConfig, vocabSize: number, source: string, prefix = ''): void {
  const bad = (name: string, detail: string): GptforgeError => new GptforgeError(detail, { file: source, field: `${prefix}abacus${name ? `.${name}` : ''}` });
  if (typeof a !== 'object' || a === null || Array.isArray(a)) throw bad('', `must be an object, got ${JSON.stringify(a)}`);
  const isId = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < vocabSize;
  for (const k of ['digitTokens', 'replyStart', 'replyEnd', 'countdownAfter'] as const) {
    const v = a[k];
    if (!Array.isArray(v) || !v.every(isId)) throw bad(k, `must be a list of token ids below vocabSize ${vocabSize}, got ${JSON.stringify(v)}`);
  }
  if (a.digitTokens.length === 0) throw bad('digitTokens', 'is empty: no token is a digit');
  if (a.countdownIds !== undefined && a.countdownIds !== 'column' && a.countdownIds !== 'next') throw bad('countdownIds', `must be "column" or "next", got ${JSON.stringify(a.countdownIds)}`);
  if (!Number.isInteger(a.maxId) || a.maxId < 1) throw bad('maxId', `must be an integer ≥ 1, got ${JSON.stringify(a.maxId)}`);
  if (a.initStd !== undefined && !(typeof a.initStd === 'number' && a.initStd > 0 && Number.isFinite(a.initStd))) throw bad('initStd', `must be a positive number, got ${JSON.stringify(a.initStd)}`);
  if (a.items !== undefined) {
    const it = a.items;
    if (typeof it !== 'object' || it === null || Array.isArray(it)) throw bad('items', `must be an object { after, bank }, got ${JSON.stringify(it)}`);
    if (!Array.isArray(it.after) || it.after.length === 0 || !it.after.every(isId)) throw bad('items.after', `must be a non-empty list of token ids below vocabSize ${vocabSize}, got ${JSON.stringify(it.after)}`);
    if (!Number.isInteger(it.bank) || it.bank < 2 || 3 * it.bank > a.maxId) throw bad('items.bank', `must be an integer ≥ 2 with 3·bank ≤ maxId (${a.maxId}), got ${JSON.stringify(it.bank)}`);
  }
  if (a.stretch !== undefined && !(typeof a.stretch === 'number' && a.stretch >= 0 && a.stretch <= 1 && (a.stretch === 0 || a.items !== undefined))) throw bad('stretch', `must be a number in [0, 1], and needs ${prefix}abacus.items, got ${JSON.stringify(a.stretch)}`);
  if (!Number.isInteger(a.maxOffset) || a.maxOffset < 0) throw bad('maxOffset', `must be an integer ≥ 0, got ${JSON.stringify(a.maxOffset)}`);
}

/**
 * The column ids of one row's tokens (see {@link AbacusConfig} for the rules), before any
 * offset: ids [n] in, ids [n] out (0 for non-digits), clamped to maxId. `tokens` must start at
 * the row's first real token (a conversation boundary), so that the reply state is known.
 */
export function abacusIds(tokens: ArrayLike<number>, a: AbacusConfig): Int32Array {
  if (a.items) return abacusItemIds(tokens, a, a.items);
  const n = tokens.length;
  const out = new Int32Array(n);
  const digit = new Set(a.digitTokens);
  const starts = new Set(a.replyStart);
  const ends = new Set(a.replyEnd);
  const marker = a.countdownAfter;
  let inReply = false;
  let prevRun = 0; // length of the current reply's last finished digit run
  const next = a.countdownIds === 'next';
  const afterMarker = (i: number): boolean => marker.length > 0 && i >= marker.length && marker.every((m, q) => tokens[i - marker.length + q] === m);
  let i = 0;
  while (i < n) {
    const t = tokens[i];
    if (!digit.has(t)) {
      // 'next': the marker's last token carries the answer's first column
      if (next && inReply && prevRun > 0 && afterMarker(i + 1)) out[i] = Math.min(prevRun, a.maxId);
      if (starts.has(t)) {
        inReply = true;
        prevRun = 0;
      } else if (ends.has(t)) inReply = false;
      i++;
      continue;
    }
    let j = i;
    while (j < n && digit.has(tokens[j])) j++;
    const len = j - i;
    if (!inReply) {
      for (let p = i; p < j; p++) out[p] = j - p; // from the run's end: the last digit is 1
    } else {
      const countdown = prevRun > 0 && afterMarker(i);
      for (let p = i; p < j; p++) out[p] = !countdown ? p - i + 1 : next ? Math.max(0, prevRun - 1 - (p - i)) : Math.max(1, prevRun - (p - i));
      prevRun = len;
    }
    for (let p = i; p < j; p++) out[p] = Math.min(out[p], a.maxId);
    i = j;
  }
  return out;
}

/**
 * The column ids of the per-column Sum-line layout (config.abacus.items; model AB3 of
 * docs/techniques.md), for replies like
 *
 *   What is 4567 plus 891? Let's think step by step.
 *   Sum:7+1+0=08,6+9+0=15,5+8+1=14,4+0+1=05,
 *   Answer: 5458
 *
 * where item k is `x+y+c=TD` (column k's digit of the first operand, of the second — 0 when
 * it has none —, the carry in, and their sum as two digits). Three banks of ids, so every
 * digit the model writes is either a same-id lookup or computed from the few tokens right
 * before it:
 *
 * - prompt (outside replies): digit runs indexed from their end, as in {@link abacusIds}; the
 *   odd-numbered runs of a message (its 1st, 3rd, …) in bank 0 (id k), the even-numbered ones
 *   in bank 1 (bank + k): "What is 4567 plus 891?" → 4 3 2 1 and bank+3 bank+2 bank+1;
 * - the token completing `after` ("Sum:"'s ':') gets id 1 (it is fed to write x of column 1:
 *   the first operand's digit with id 1); in the Sum line, the non-digit right after an item's
 *   x (its '+') gets bank + k (fed to write y: the second operand's digit of column k), the
 *   non-digit right after an item's last digit D (its ',') gets k + 1 (fed to write the next
 *   item's x — or, when no operand digit has id k + 1 and T is 0, the end of the line);
 *   the result digit D of item k gets 2·bank + k; every other token of the line 0 (the carry
 *   c is T of the item before, at a fixed distance; T and D are computed from x, y, c);
 * - the token completing `countdownAfter` ("Answer: ") gets 2·bank + m (m: the Sum line's
 *   items, the answer's length), and the answer's digit of column k gets 2·bank + (k − 1), the
 *   units digit 0 — each answer token carries the column of the digit written after it, found
 *   by a same-id lookup of that item's D (as countdownIds 'next');
 * - other reply digit runs (a direct answer) are indexed from their start, as in abacusIds.
 *
 * Ids depend only on the tokens up to their own, so decoding computes the same ids as
 * training. Clamped to maxId.
 */
export function abacusItemIds(tokens: ArrayLike<number>, a: AbacusConfig, items: { after: number[]; bank: number }): Int32Array {
  const n = tokens.length;
  const out = new Int32Array(n);
  const digit = new Set(a.digitTokens);
  const starts = new Set(a.replyStart);
  const ends = new Set(a.replyEnd);
  const W = items.bank;
  const ends_ = (marker: number[], i: number): boolean => marker.length > 0 && i + 1 >= marker.length && marker.every((m, q) => tokens[i + 1 - marker.length + q] === m);
  let inReply = false;
  let promptRuns = 0; // digit runs of the current message so far
  let inItems = false; // inside the Sum line
  let count = 0; // Sum-line digits so far
  let countdown = -1; // the answer's digits still to come after the marker (-1: not in the answer)
  let ansPos = 0;
  let runStart = -1; // a reply digit run's first index (the from-start rule)
  for (let i = 0; i < n; i++) {
    const t = tokens[i];
    const isDigit = digit.has(t);
    if (!isDigit) runStart = -1;
    if (starts.has(t) || ends.has(t)) {
      inReply = starts.has(t);
      promptRuns = 0;
      inItems = false;
      countdown = -1;
      continue;
    }
    if (!inReply) {
      if (!isDigit) continue;
      let j = i;
      while (j < n && digit.has(tokens[j])) j++;
      const bank = promptRuns % 2 === 0 ? 0 : W;
      for (let p = i; p < j; p++) out[p] = Math.min(a.maxId, bank + j - p);
      promptRuns++;
      i = j - 1;
      continue;
    }
    if (isDigit) {
      if (inItems) {
        const role = count % 5;
        const k = Math.floor(count / 5) + 1;
        if (role === 4) out[i] = Math.min(a.maxId, 2 * W + k);
        count++;
      } else if (countdown >= 0) {
        const col = countdown - 1 - ansPos; // the column of the digit after this one
        out[i] = col >= 1 ? Math.min(a.maxId, 2 * W + col) : 0;
        ansPos++;
      } else {
        if (runStart < 0) runStart = i;
        out[i] = Math.min(a.maxId, i - runStart + 1);
      }
      continue;
    }
    // a non-digit in a reply
    countdown = countdown >= 0 && ansPos > 0 ? -1 : countdown;
    if (ends_(items.after, i)) {
      inItems = true;
      count = 0;
      out[i] = 1;
      continue;
    }
    if (a.countdownAfter.length > 0 && ends_(a.countdownAfter, i) && (inItems || count > 0)) {
      const m = Math.floor(count / 5);
      inItems = false;
      countdown = m;
      ansPos = 0;
      out[i] = m > 0 ? Math.min(a.maxId, 2 * W + m) : 0;
      continue;
    }
    if (inItems && i > 0 && digit.has(tokens[i - 1]) && count > 0) {
      const role = (count - 1) % 5;
      const k = Math.floor((count - 1) / 5) + 1;
      if (role === 0) out[i] = Math.min(a.maxId, W + k);
      else if (role === 4) out[i] = Math.min(a.maxId, k + 1);
    }
  }
  return out;
}

/**
 * McLeish et al.'s training offset: one draw r from 0..maxOffset per row, added to every
 * nonzero id of ids [B·T] in place (clamped to maxId). Returns the ids.
 *
 * With `a.stretch` (and `a.items`, banks of width W) that share of rows instead maps every
 * nonzero id bank·W + v (column value v in 1..W) to bank·W + g(v), g a random increasing map:
 * g(1..8) a sorted random sample of 8 values of 1..W, then g(v) = g(8) + v − 8 (clamped to W).
 * Why: under the shift, two column values v < w of one row's number meet only when w − v < the
 * trained length, so a lookup of column 2 was never trained to ignore column 8 (model AB4's
 * 8-digit failure, docs/journal/techniques.md); under g every pair of values 1..W meets. Lookups are
 * equalities of ids, which any increasing map keeps. Decoding uses no map.
 */
export function offsetAbacusIds(ids: Int32Array, B: number, T: number, a: AbacusConfig, rng: Rng): Int32Array {
  const W = a.items?.bank ?? 0;
  const g = new Int32Array(W + 1);
  for (let b = 0; b < B; b++) {
    if (W > 0 && a.stretch && rng.random() < a.stretch) {
      const pool = Array.from({ length: W }, (_, i) => i + 1);
      const k = Math.min(8, W);
      for (let i = 0; i < k; i++) {
        const j = i + rng.int(W - i);
        [pool[i], pool[j]] = [pool[j], pool[i]];
      }
      const pick = pool.slice(0, k).sort((x, y) => x - y);
      for (let v = 1; v <= W; v++) g[v] = v <= k ? pick[v - 1] : Math.min(W, pick[k - 1] + v - k);
      for (let t = b * T; t < (b + 1) * T; t++) {
        const id = ids[t];
        if (id <= 0) continue;
        const bank = Math.floor((id - 1) / W);
        ids[t] = Math.min(a.maxId, bank * W + g[id - bank * W]);
      }
      continue;
    }
    const r = rng.int(a.maxOffset + 1);
    if (r === 0) continue;
    for (let t = b * T; t < (b + 1) * T; t++) if (ids[t] > 0) ids[t] = Math.min(a.maxId, ids[t] + r);
  }
  return ids;
}

/** What {@link abacusConfigFor} needs of a tokenizer. */
export interface AbacusTokenizer {
  encode(text: string): number[];
  specialId(name: string): number;
}

/**
 * The abacus config for a chat tokenizer: its ten digit tokens (each digit must be one token,
 * e.g. the 'gpt4-digits' pre-split pattern), <|assistant_start|> opening a reply, the
 * tokens that end one, and the tokens of `answerMarker` (default "Answer: ") before a
 * count-down run. Throws GptforgeError when a digit is not a single token.
 */
export function abacusConfigFor(tok: AbacusTokenizer, o: { maxId?: number; maxOffset?: number; answerMarker?: string; countdownIds?: 'column' | 'next'; initStd?: number; sumMarker?: string; bank?: number; stretch?: number } = {}): AbacusConfig {
  const digitTokens = [...'0123456789'].map((d) => {
    const ids = tok.encode(d);
    if (ids.length !== 1) throw new GptforgeError(`abacus embeddings need one token per digit; "${d}" is ${ids.length} tokens (train the tokenizer with the 'gpt4-digits' pattern)`, { field: 'abacus' });
    return ids[0];
  });
  const ends = ['<|assistant_end|>', '<|user_start|>', '<|system_start|>', '<|bos|>', '<|eos|>'].map((s) => tok.specialId(s));
  return {
    digitTokens,
    replyStart: [tok.specialId('<|assistant_start|>')],
    replyEnd: ends,
    countdownAfter: tok.encode(o.answerMarker ?? 'Answer: '),
    maxId: o.maxId ?? (o.sumMarker ? 3 * (o.bank ?? 16) : 32),
    maxOffset: o.maxOffset ?? 10,
    ...(o.countdownIds ? { countdownIds: o.countdownIds } : {}),
    ...(o.initStd ? { initStd: o.initStd } : {}),
    ...(o.sumMarker ? { items: { after: tok.encode(o.sumMarker), bank: o.bank ?? 16 } } : {}),
    ...(o.stretch ? { stretch: o.stretch } : {}),
  };
}
