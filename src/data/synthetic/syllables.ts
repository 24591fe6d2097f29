import * as cmu from './cmudict.js';
import type { SyntheticTask } from './task.js';
import { fill, memo, pick } from './text.js';
import { commonWordSet, type WordFamily, wordTask } from './words.js';

/** The syllables family: how many syllables are in a word? */

const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'];

/** The first number in the text, digits or a word up to ten; undefined when none. */
function firstNumber(text: string): number | undefined {
  const m = new RegExp(`\\b(\\d+|${NUMBER_WORDS.join('|')})\\b`, 'i').exec(text);
  if (!m) return undefined;
  return /^\d/.test(m[1]) ? Number(m[1]) : NUMBER_WORDS.indexOf(m[1].toLowerCase());
}

const syllableWords = memo(() => [...commonWordSet()].filter((w) => w.length <= 14 && cmu.pronunciations(w).length > 0).sort());

const SYLLABLES: WordFamily = {
  name: 'syllables',
  description: 'How many syllables are in a word? Counted from its CMUdict pronunciation (any pronunciation is correct).',
  prompts: ['How many syllables are in the word {w}?', 'How many syllables does {w} have?', 'Count the syllables in {w}.', 'What is the syllable count of {w}?', 'How many syllables in {w}?', 'Tell me how many syllables {w} has.', 'How many syllables does the word {w} contain?', 'Number of syllables in {w}?'],
  words: syllableWords,
  answer(word, rng) {
    const n = cmu.syllables(word) ?? 0;
    const unit = n === 1 ? 'syllable' : 'syllables';
    const vars = { w: word, n: String(n), unit, are: n === 1 ? 'is' : 'are' };
    return fill(pick(rng, ['The word {w} has {n} {unit}.', 'There {are} {n} {unit} in {w}.', 'In {w} there {are} {n} {unit}.', 'That word has {n} {unit}.']), vars);
  },
  /** Rule: the answer's first number (digits, or a word from one to ten), the word itself removed, is the syllable count of one of its pronunciations. */
  isCorrect(word, answer) {
    const n = firstNumber(answer.replace(new RegExp(`\\b${word}\\b`, 'gi'), ' '));
    return n !== undefined && cmu.syllableCounts(word).includes(n);
  },
};

export const syllables: SyntheticTask = wordTask(SYLLABLES);
