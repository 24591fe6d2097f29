import { Rng } from '../../engine/rng.js';
import type { Split } from './task.js';

/**
 * The held-out split of the synthetic families: every item (a word, an operand pair, a chat
 * phrasing or topic) goes to train or test by a fixed hash of the item itself, never of the
 * seed, so no seed can leak a test item into training. Word families hash the bare word, so a
 * held-out word is held out of every word family at once (seeing "dog"'s synonyms in training
 * would help define it).
 */

/** Share of items held out for the test split, in percent. */
const TEST_PERCENT = 10;

/**
 * Share of items, in percent, set aside from the train split as the validation split: the
 * hash band just above the test split's, so no validation item is ever a test item. RL picks
 * its checkpoint on it (early stopping) and trains on the rest of the train split.
 */
const VALIDATION_PERCENT = 10;

/** 32-bit FNV-1a over UTF-16 code units: tiny, stable across runs and platforms. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The one "hold out by hash" rule: whether a key (a task item, or a ranking's prompt for the
 * reward model and DPO) is held out — FNV-1a of the key mod 100 below TEST_PERCENT. One rule,
 * so every stage holds out the same keys.
 */
export function isHeldOut(key: string): boolean {
  return fnv1a(key) % 100 < TEST_PERCENT;
}

/**
 * Whether a key is in the validation split: FNV-1a mod 100 in [10, 20), the band above
 * isHeldOut's. Disjoint from the test split by construction (no key is both), and meant for
 * train-split items: model selection reads them, the eval's test split stays unseen.
 */
export function isValidation(key: string): boolean {
  const h = fnv1a(key) % 100;
  return h >= TEST_PERCENT && h < TEST_PERCENT + VALIDATION_PERCENT;
}

/** The split an item belongs to, by the hash of its key (isHeldOut). */
export function splitOf(key: string): Split {
  return isHeldOut(key) ? 'test' : 'train';
}

/** Each family draws from its own stream, so two families with one seed do not move in lock-step. */
export function familyRng(name: string, seed: number): Rng {
  return new Rng((seed ^ fnv1a(name)) >>> 0);
}

/** The held-out members of a list: its lowest-hash tenth (at least one), so every group has test items. */
export function heldOut(keys: readonly string[]): Set<string> {
  if (keys.length <= 1) return new Set();
  const count = Math.max(1, Math.ceil((keys.length * TEST_PERCENT) / 100));
  return new Set([...keys].sort((x, y) => fnv1a(x) - fnv1a(y) || (x < y ? -1 : 1)).slice(0, count));
}
