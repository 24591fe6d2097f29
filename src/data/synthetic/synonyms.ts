import type { SyntheticTask } from './task.js';
import { containsPhrase, fill, pick, PLAIN_WORD, stem, STOPWORDS, tokens } from './text.js';
import * as wn from './wordnet.js';
import { commonWordSet, coreLemmas, mostUsed, sensesByUse, type WordFamily, wordsWith, wordTask } from './words.js';

/** The synonyms family: give a synonym for a word. */

const SYNONYM_FRAMING = new Set(['synonym', 'synonyms', 'word', 'same', 'meaning', 'means', 'say', 'could']);

/** Lemmas sharing a synset with the word, excluding itself, stopwords and answer framing. */
export function synonymsOf(word: string): string[] {
  const out = new Set<string>();
  for (const s of wn.senses(word)) for (const w of s.words) out.add(wn.normalize(w));
  return [...out].filter((w) => w !== word && !STOPWORDS.has(w) && !SYNONYM_FRAMING.has(w));
}

/** A synonym worth teaching: a plain, common word, not the word itself in another form, not framing. */
export function teachableSynonym(candidate: string, word: string): boolean {
  return PLAIN_WORD.test(candidate) && candidate !== word && stem(candidate) !== stem(word) && commonWordSet().has(candidate) && !STOPWORDS.has(candidate) && !SYNONYM_FRAMING.has(candidate);
}

export const synonymPicks = wordsWith(
  () => coreLemmas(wn.POSES),
  (word): string | undefined => {
    // senses in order of use, so the answer is a synonym for the word's everyday meaning
    for (const s of sensesByUse(word, wn.POSES)) {
      const ok = s.words.filter((w) => teachableSynonym(w, word));
      if (ok.length > 0) return mostUsed(ok);
    }
    return undefined;
  },
);

const SYNONYMS: WordFamily = {
  name: 'synonyms',
  description: 'Give a synonym for a word: another lemma of one of its WordNet synsets.',
  prompts: ['Give me a synonym for {w}.', 'What is a synonym of {w}?', "What's another word for {w}?", 'Can you think of a word that means the same as {w}?', 'Name a synonym for the word {w}.', 'What word means the same thing as {w}?', 'Tell me another way to say {w}.', 'Synonym for {w}?'],
  words: synonymPicks.words,
  answer(word, rng) {
    const vars = { w: word, s: synonymPicks.value(word) };
    return fill(pick(rng, ['A synonym for {w} is {s}.', 'One synonym of {w} is {s}.', 'You could say {s}.', 'Another word for {w} is {s}.']), vars);
  },
  /** Rule: with the word itself removed, the answer contains a lemma of one of its synsets (any sense). */
  isCorrect(word, answer) {
    const toks = tokens(answer).filter((t) => t !== word);
    return synonymsOf(word).some((s) => containsPhrase(toks, s));
  },
};

export const synonyms: SyntheticTask = wordTask(SYNONYMS);
