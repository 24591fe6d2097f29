import * as cmu from './cmudict.js';
import type { SyntheticTask } from './task.js';
import { fill, memo, pick, STOPWORDS, tokens } from './text.js';
import { commonWordSet, type WordFamily, wordsWith, wordTask } from './words.js';

/** The rhymes family: give a word that rhymes with X. */

const RHYME_FRAMING = new Set(['rhyme', 'rhymes', 'rhyming', 'word', 'about', 'with']);

/** Common WordNet lemmas of 3–10 letters that CMUdict can pronounce: the rhyme vocabulary. */
const rhymeVocabulary = memo(() => [...commonWordSet()].filter((w) => w.length <= 10 && cmu.pronunciations(w).length > 0 && !STOPWORDS.has(w) && !RHYME_FRAMING.has(w)).sort());

/** Vocabulary words grouped by the rhyme part of their first pronunciation. */
const rhymeGroups = memo(() => {
  const groups = new Map<string, string[]>();
  for (const w of rhymeVocabulary()) {
    const part = cmu.rhymePart(cmu.pronunciations(w)[0]);
    const g = groups.get(part);
    if (g) g.push(w);
    else groups.set(part, [w]);
  }
  return groups;
});

/**
 * Good rhymes for teaching: same rhyme part, but not a homophone, not one word inside the
 * other ("form"/"reform") and a different sound before the rhyme ("leave"/"believe" is an
 * identical rhyme, not a perfect one).
 */
function goodRhymes(word: string): string[] {
  const pron = cmu.pronunciations(word)[0];
  const part = cmu.rhymePart(pron);
  const onset = (p: cmu.Pronunciation): string => p[p.length - part.split(' ').length - 1] ?? '';
  return (rhymeGroups().get(part) ?? []).filter((r) => {
    const rp = cmu.pronunciations(r)[0];
    return r !== word && !r.endsWith(word) && !word.endsWith(r) && rp.join(' ') !== pron.join(' ') && onset(rp) !== onset(pron);
  });
}

/** Letters two words share at their ends. */
function sharedEnding(a: string, b: string): number {
  let n = 0;
  while (n < a.length && n < b.length && a[a.length - 1 - n] === b[b.length - 1 - n]) n++;
  return n;
}

const rhymePicks = wordsWith(rhymeVocabulary, (word) => {
  const list = goodRhymes(word);
  return list.length > 0 ? list : undefined;
});

const RHYMES: WordFamily = {
  name: 'rhymes',
  description: 'Give a word that rhymes with X (CMUdict: same sounds from the last stressed vowel on).',
  prompts: ['What rhymes with {w}?', 'Give me a word that rhymes with {w}.', 'Can you think of a rhyme for {w}?', 'Name a word that rhymes with {w}.', 'Find a rhyme for the word {w}.', 'Which word rhymes with {w}?', 'Tell me something that rhymes with {w}.', 'I need a rhyme for {w}.'],
  words: rhymePicks.words,
  answer(word, rng) {
    // rhymes spelt like the word's ending first ("hazy"/"lazy"): a pattern that carries over
    // to words never seen, where sound alone (a small model cannot hear) does not
    const all = rhymePicks.value(word);
    const spelt = all.filter((r) => sharedEnding(word, r) >= 3);
    const vars = { w: word, r: pick(rng, spelt.length > 0 ? spelt : all) };
    return fill(pick(rng, ['The word {w} rhymes with {r}.', 'A word that rhymes with {w} is {r}.', 'How about {r}?', 'One rhyme for {w} is {r}.']), vars);
  },
  /** Rule: some answer word other than the word itself, a stopword or framing ("rhymes", "with") is a CMUdict word that rhymes with it (cmudict.rhymes). */
  isCorrect(word, answer) {
    return tokens(answer).some((t) => t !== word && !STOPWORDS.has(t) && !RHYME_FRAMING.has(t) && cmu.rhymes(word, t));
  },
};

export const rhymes: SyntheticTask = wordTask(RHYMES);
