import { antonymPicks } from './antonyms.js';
import { definitionSenses, usableGloss } from './definitions.js';
import { kindPicks } from './kinds.js';
import { synonymPicks, synonymsOf, teachableSynonym } from './synonyms.js';
import type * as wn from './wordnet.js';
import { coreWords, sensesByUse } from './words.js';

/** Word facts: what the built-in dictionary (dictionary.ts) says about a core word. */

/** A word's facts as the knowledge families teach them (the answers' picks come first). */
export interface WordFacts {
  word: string;
  /** Up to two senses, the definitions family's pick first: part of speech and short gloss. */
  senses: { pos: wn.Pos; gloss: string }[];
  /** Hypernym named by the kinds family's answer (nouns only). */
  kind?: string;
  /** Common synonyms, the synonyms family's pick first. */
  synonyms: string[];
  /** The antonyms family's pick. */
  antonym?: string;
}

/** The facts of a core word; undefined for a word outside the core vocabulary or with none to state. */
export function wordFacts(word: string): WordFacts | undefined {
  if (!coreWords().has(word)) return undefined;
  const senses: WordFacts['senses'] = definitionSenses.has(word) ? [definitionSenses.value(word)] : [];
  for (const s of sensesByUse(word, ['n', 'v', 'a'])) {
    if (senses.length >= 2) break;
    const gloss = usableGloss(s, word);
    if (gloss !== undefined && !senses.some((x) => x.gloss === gloss)) senses.push({ pos: s.pos, gloss });
  }
  const synonyms = synonymPicks.has(word) ? [synonymPicks.value(word)] : [];
  for (const s of synonymsOf(word)) {
    if (synonyms.length >= 3) break;
    if (teachableSynonym(s, word) && !synonyms.includes(s)) synonyms.push(s);
  }
  const kind = kindPicks.has(word) ? kindPicks.value(word) : undefined;
  const antonym = antonymPicks.has(word) ? antonymPicks.value(word) : undefined;
  if (senses.length === 0 && synonyms.length === 0 && kind === undefined && antonym === undefined) return undefined;
  return { word, senses, kind, synonyms, antonym };
}
