import type { SyntheticTask } from './task.js';
import { containsPhrase, fill, pick, STOPWORDS, tokens } from './text.js';
import * as wn from './wordnet.js';
import { article, coreLemmas, lowerCaseIn, type WordFamily, wordsWith, wordTask } from './words.js';

/** The kinds family: what kind of thing is an X? */

/** Words the kinds answers wrap around the hypernym ("a kind of"); they never count as one. */
function dropKindFraming(toks: readonly string[], word: string): string[] {
  return toks.filter((t, i) => t !== word && !(['kind', 'type', 'sort', 'category'].includes(t) && toks[i + 1] === 'of'));
}

export const kindPicks = wordsWith(
  () => coreLemmas(['n']),
  (word): string | undefined => {
    for (const s of wn.senses(word, 'n')) {
      if (!lowerCaseIn(s, word)) continue;
      for (const h of wn.related(s, '@')) {
        const y = h.words.find((w) => /^[a-z]+( [a-z]+){0,2}$/.test(w) && !STOPWORDS.has(w) && !tokens(w).includes(word));
        if (y !== undefined) return y;
      }
    }
    return undefined;
  },
);

const KINDS: WordFamily = {
  name: 'kinds',
  description: 'What kind of thing is an X? Answered with a WordNet hypernym; any hypernym up to two levels up is correct.',
  prompts: [
    'What kind of thing is {art} {w}?',
    '{art} {w} is a type of what?',
    'What is {art} {w} a kind of?',
    'What category does the word {w} belong to?',
    'Tell me what kind of thing {art} {w} is.',
    'What type of thing is {art} {w}?',
    'What general class of things does {art} {w} belong to?',
    'Classify the word {w}: what is it a kind of?',
  ],
  words: kindPicks.words,
  answer(word, rng) {
    const vars = { w: word, art: article(word), y: kindPicks.value(word) };
    return fill(pick(rng, ['{Art} {w} is a kind of {y}.', '{Art} {w} is a type of {y}.', 'It is a kind of {y}.', 'The word {w} names a kind of {y}.']), vars);
  },
  /** Rule: after dropping the word and "kind of"-style framing, the answer names (as whole words) a lemma of a hypernym, up to two levels up, of any noun sense. */
  isCorrect(word, answer) {
    const toks = dropKindFraming(tokens(answer), word);
    return wn
      .senses(word, 'n')
      .flatMap((s) => wn.hypernymClosure(s, 2))
      .some((h) => h.words.some((w) => !STOPWORDS.has(wn.normalize(w)) && containsPhrase(toks, w)));
  },
};

export const kinds: SyntheticTask = wordTask(KINDS);
