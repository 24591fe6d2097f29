import { Rng } from '../../engine/rng.js';
import type * as wn from './wordnet.js';
import { type WordFacts, wordFacts } from './facts.js';
import { fnv1a } from './split.js';
import { article, coreWords } from './words.js';

/**
 * The built-in dictionary: the knowledge families' facts about each core word (its senses,
 * what kind of thing it is, synonyms, its opposite), written as encyclopedia text that
 * pretraining reads. It is what lets SFT *elicit* knowledge rather than teach it: a word held
 * out of SFT is still in here, so the base model has seen its facts and SFT only has to teach
 * the question-and-answer format.
 *
 * Each word is written EDITIONS times, every time with other sentence templates in another
 * order. Facts seen in one fixed wording are memorised as text but cannot be recalled by a
 * question about a new word; the same facts in varied wordings can (Allen-Zhu & Li, "Physics
 * of Language Models 3.1", knowledge augmentation). The templates differ from the SFT
 * answers' on purpose, so the base model never sees the answer format here.
 */

/** How many times each word's entry is written (each time reworded and reordered). */
export const EDITIONS = 4;

/** Entries per document (page). */
const ENTRIES_PER_PAGE = 25;

interface Vars {
  w: string;
  W: string;
  art: string;
}

const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

const SENSE_TEMPLATES: Record<wn.Pos, readonly ((v: Vars, g: string) => string)[]> = {
  n: [(v, g) => `${v.w} (noun): ${g}.`, (v, g) => `As a noun, ${v.w} names ${g}.`, (v, g) => `In one of its senses, the noun ${v.w} stands for ${g}.`, (v, g) => `${v.W}, as a noun: ${g}.`],
  v: [(v, g) => `${v.w} (verb): to ${g}.`, (v, g) => `As a verb, to ${v.w} is to ${g}.`, (v, g) => `In one of its senses, the verb ${v.w} is to ${g}.`, (v, g) => `${v.W}, as a verb: to ${g}.`],
  a: [(v, g) => `${v.w} (adjective): ${g}.`, (v, g) => `As an adjective, ${v.w} describes what is ${g}.`, (v, g) => `In one of its senses, the adjective ${v.w} says ${g}.`, (v, g) => `${v.W}, as an adjective: ${g}.`],
  r: [(v, g) => `${v.w} (adverb): ${g}.`, (v, g) => `As an adverb, ${v.w} says ${g}.`, (v, g) => `In one of its senses, the adverb ${v.w} says ${g}.`, (v, g) => `${v.W}, as an adverb: ${g}.`],
};

const KIND_TEMPLATES: readonly ((v: Vars, y: string) => string)[] = [(v, y) => `${cap(v.art)} ${v.w} is one sort of ${y}.`, (v, y) => `${v.W} belongs to the class of ${y}.`, (v, y) => `One sort of ${y} is ${v.art} ${v.w}.`, (v, y) => `Every ${v.w} counts as ${article(y)} ${y}.`];

const SYNONYM_TEMPLATES: readonly ((v: Vars, s: readonly string[]) => string)[] = [(v, s) => `${v.W} is close in meaning to ${s.join(' and ')}.`, (v, s) => `Words similar to ${v.w}: ${s.join(', ')}.`, (v, s) => `People sometimes say ${s[0]} where they mean ${v.w}.`, (v, s) => `${v.W} and ${s[0]} can mean the same.`];

const ANTONYM_TEMPLATES: readonly ((v: Vars, a: string) => string)[] = [(v, a) => `${v.W} is the reverse of ${a}.`, (v, a) => `The contrary of ${v.w} is ${a}.`, (v, a) => `${cap(a)} and ${v.w} are opposites.`, (v, a) => `${v.W}: opposite ${a}.`];

/** One edition of a word's entry: a sentence per fact, templates and order drawn per word and edition. */
export function dictionaryEntry(f: WordFacts, edition: number): string {
  const rng = new Rng((fnv1a(f.word) ^ Math.imul(edition, 0x9e3779b1)) >>> 0);
  const v: Vars = { w: f.word, W: cap(f.word), art: article(f.word) };
  const pickT = <T>(list: readonly T[]): T => list[rng.int(list.length)];
  const sentences: string[] = f.senses.map((s) => pickT(SENSE_TEMPLATES[s.pos])(v, s.gloss));
  if (f.kind !== undefined) sentences.push(pickT(KIND_TEMPLATES)(v, f.kind));
  if (f.synonyms.length > 0) sentences.push(pickT(SYNONYM_TEMPLATES)(v, f.synonyms));
  if (f.antonym !== undefined) sentences.push(pickT(ANTONYM_TEMPLATES)(v, f.antonym));
  return rng.shuffle(sentences).join(' ');
}

/** The dictionary's pages: every core word once per edition, words shuffled anew in each edition. */
export function* dictionaryPages(): Iterable<string> {
  const facts = [...coreWords()]
    .sort()
    .map(wordFacts)
    .filter((f): f is WordFacts => f !== undefined);
  for (let edition = 0; edition < EDITIONS; edition++) {
    const order = new Rng((7919 + edition) >>> 0).shuffle([...facts]);
    for (let start = 0; start < order.length; start += ENTRIES_PER_PAGE) {
      yield order
        .slice(start, start + ENTRIES_PER_PAGE)
        .map((f) => dictionaryEntry(f, edition))
        .join('\n');
    }
  }
}
