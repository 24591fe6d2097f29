import type { SyntheticTask } from './task.js';
import { containsPhrase, fill, pick, PLAIN_WORD, STOPWORDS, tokens } from './text.js';
import * as wn from './wordnet.js';
import { coreLemmas, mostUsed, type WordFamily, wordsWith, wordTask } from './words.js';

/** The antonyms family: what is the opposite of a word? */

const ANTONYM_FRAMING = new Set(['opposite', 'antonym', 'antonyms', 'word', 'means']);

const NEGATING_PREFIXES = ['un', 'in', 'im', 'il', 'ir', 'dis', 'non'];

/** Whether one word is the other with a negating prefix. */
function isPrefixedPair(a: string, b: string): boolean {
  return NEGATING_PREFIXES.some((p) => a === p + b || b === p + a);
}

/**
 * Core words with a plain antonym (WordNet's antonym pointers; pairs are few, adjectives
 * mostly).
 */
export const antonymPicks = wordsWith(
  () => coreLemmas(wn.POSES).filter((w) => wn.lookup(w).some((e) => e.pointerSymbols.includes('!'))),
  (word): string | undefined => {
    const candidates = wn.antonyms(word).filter((a) => PLAIN_WORD.test(a) && !ANTONYM_FRAMING.has(a) && !STOPWORDS.has(a));
    // a prefixed antonym ("able"/"unable", "regular"/"irregular") when there is one: a rule a
    // small model can learn and apply to words it never saw, unlike a memorised pair
    return mostUsed(candidates.filter((a) => isPrefixedPair(word, a))) ?? mostUsed(candidates);
  },
);

const ANTONYMS: WordFamily = {
  name: 'antonyms',
  description: "What is the opposite of a word? Answered from WordNet's antonym pointers (adjectives mostly).",
  prompts: ['What is the opposite of {w}?', 'Give me an antonym for {w}.', "What's an antonym of {w}?", 'What word means the opposite of {w}?', 'Name the opposite of {w}.', 'What is the antonym of the word {w}?', 'Tell me a word that means the opposite of {w}.', 'Opposite of {w}?'],
  words: antonymPicks.words,
  answer(word, rng) {
    const vars = { w: word, x: antonymPicks.value(word) };
    return fill(pick(rng, ['The opposite of {w} is {x}.', 'An antonym of {w} is {x}.', 'The word {x} means the opposite of {w}.', 'The opposite of the word {w} is {x}.']), vars);
  },
  /** Rule: with the word itself removed, the answer contains a direct antonym of any sense, or one of the antonyms of the head adjective of one of its satellite senses. */
  isCorrect(word, answer) {
    const toks = tokens(answer).filter((t) => t !== word);
    return wn.antonyms(word, { indirect: true }).some((a) => !STOPWORDS.has(a) && containsPhrase(toks, a));
  },
};

export const antonyms: SyntheticTask = wordTask(ANTONYMS);
