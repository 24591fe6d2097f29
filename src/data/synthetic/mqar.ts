import { Rng } from '../../engine/rng.js';
import { GptforgeError } from '../../util/errors.js';
import type { Split } from './task.js';
import { fnv1a, splitOf } from './split.js';
import { coreWords } from './words.js';

/**
 * Multi-query associative recall in words (MQAR: Arora et al. 2023, "Zoology: Measuring and
 * Improving Recall in Efficient Language Models", §3): a document lists `pairs` key–value
 * pairs, then asks `queries` of the keys again, each followed by its value:
 *
 *   Pairs: harbor kettle anchor velvet rumor candle.
 *   Queries: anchor velvet harbor kettle.
 *
 * A value in the query part is predictable only by finding the earlier occurrence of the key
 * just read and copying the token after it — one induction step with a *content* match (the
 * queries come in random order, so no positional shortcut such as a repeated list's "the
 * next position after the last copy" works). With one-token keys and values (`pools` given a
 * tokenizer's test) the lookup is the whole task; half of a document's tokens after the pair
 * list are lookups, against ≈ 10% in the `lookup` family's notes (docs/journal/rag.md "Sixth
 * attempt"). `sep` puts a separator after each key ("anchor: velvet,") — the notes' layout,
 * where the value's first token is two tokens after the key.
 *
 * Keys and values are disjoint halves (by hash) of one split's core words (splitOf), so a
 * test-split probe asks about words no training document paired.
 */

export interface MqarPools {
  keys: string[];
  values: string[];
}

/**
 * A split's key and value words: its lower-case core words, halved by a hash so the two never
 * share a word; `accept` (e.g. "encodes to one token after a space") filters both.
 *
 * @throws GptforgeError when fewer than 8 keys or 8 values are left.
 */
export function mqarPools(split: Split, accept: (word: string) => boolean = () => true): MqarPools {
  const words = [...coreWords()].sort().filter((w) => splitOf(w) === split && /^[a-z]+$/.test(w) && accept(w));
  const keys = words.filter((w) => (fnv1a(`mqar:${w}`) & 1) === 0);
  const values = words.filter((w) => (fnv1a(`mqar:${w}`) & 1) === 1);
  if (keys.length < 8 || values.length < 8) throw new GptforgeError(`mqar: only ${keys.length} key and ${values.length} value words in the ${split} split pass the filter (need 8 each)`);
  return { keys, values };
}

/** One document: its text and, for probes, the pairs and the queried pairs' indices in order. */
export interface MqarDocument {
  text: string;
  pairs: { key: string; value: string }[];
  queries: number[];
}

/** Distinct draws from `pool` (rejection; `count` ≤ pool size). */
function distinct(rng: Rng, pool: readonly string[], count: number): string[] {
  const out = new Set<string>();
  while (out.size < count) out.add(pool[rng.int(pool.length)]);
  return [...out];
}

/**
 * A document of `pairs` distinct keys with random values (values may repeat across keys, as in
 * Zoology), then `queries` distinct keys of them in random order with their values.
 *
 * @throws GptforgeError when the counts are not whole numbers with 1 ≤ queries ≤ pairs ≤ the pools.
 */
export function mqarDocument(rng: Rng, pools: MqarPools, pairs: number, queries: number, sep = ''): MqarDocument {
  if (!(Number.isInteger(pairs) && Number.isInteger(queries) && queries >= 1 && queries <= pairs && pairs <= pools.keys.length)) throw new GptforgeError(`mqar: need whole numbers 1 ≤ queries ≤ pairs ≤ ${pools.keys.length} keys; got ${pairs} pairs, ${queries} queries`);
  const keys = distinct(rng, pools.keys, pairs);
  const list = keys.map((key) => ({ key, value: pools.values[rng.int(pools.values.length)] }));
  const order = Array.from({ length: pairs }, (_, i) => i);
  for (let i = pairs - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const asked = order.slice(0, queries);
  const say = (p: { key: string; value: string }): string => `${p.key}${sep} ${p.value}`;
  const joiner = sep === '' ? ' ' : ', ';
  const text = `Pairs: ${list.map(say).join(joiner)}.\nQueries: ${asked.map((i) => say(list[i])).join(joiner)}.`;
  return { text, pairs: list, queries: asked };
}

/** `count` documents of one split, deterministic by seed (the split is folded into the seed). */
export function mqarDocuments(split: Split, count: number, seed: number, pools: MqarPools, pairs: number, queries: number, sep = ''): MqarDocument[] {
  const rng = new Rng((seed ^ fnv1a(`mqar:${split}`)) >>> 0);
  return Array.from({ length: count }, () => mqarDocument(rng, pools, pairs, queries, sep));
}
