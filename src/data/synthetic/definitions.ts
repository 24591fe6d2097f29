import type { SyntheticTask } from './task.js';
import { fill, pick, stem, STOPWORDS, tokens } from './text.js';
import * as wn from './wordnet.js';
import { article, coreLemmas, lowerCaseIn, sensesByUse, type WordFamily, wordsWith, wordTask } from './words.js';

/** The definitions family: what does a word mean? */

/** Glosses are cut to this many words so a tiny model can learn whole answers. */
const MAX_GLOSS_WORDS = 18;

/**
 * The first clause of a definition (before ";"), cut at its last comma if longer than
 * MAX_GLOSS_WORDS; undefined when it cannot be cut at a clause boundary or says too little.
 */
function shortGloss(definition: string): string | undefined {
  const first = definition.split(';')[0].trim();
  const words = first.split(' ');
  if (words.length < 2) return undefined;
  if (words.length <= MAX_GLOSS_WORDS) return first;
  const head = words.slice(0, MAX_GLOSS_WORDS).join(' ');
  const comma = head.lastIndexOf(',');
  return comma > 0 && head.slice(0, comma).split(' ').length >= 4 ? head.slice(0, comma) : undefined;
}

/** Answer framing words, ignored on both sides when comparing an answer with a gloss. */
const DEFINITION_FRAMING = new Set(['mean', 'means', 'meaning', 'word', 'verb', 'noun', 'adjective', 'refers', 'refer', 'defined', 'definition']);

function glossStems(text: string, word: string): string[] {
  const self = stem(word);
  return tokens(text)
    .filter((t) => !STOPWORDS.has(t) && !DEFINITION_FRAMING.has(t))
    .map(stem)
    .filter((s) => s !== self);
}

/** Token F1 between two bags of stems. */
function tokenF1(answer: readonly string[], reference: readonly string[]): number {
  if (answer.length === 0 || reference.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const t of reference) counts.set(t, (counts.get(t) ?? 0) + 1);
  let overlap = 0;
  for (const t of answer) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      overlap++;
      counts.set(t, c - 1);
    }
  }
  if (overlap === 0) return 0;
  const p = overlap / answer.length;
  const r = overlap / reference.length;
  return (2 * p * r) / (p + r);
}

interface DefinitionPick {
  pos: wn.Pos;
  gloss: string;
}

/** The sense's short gloss when it can define the word: a lower-case sense whose gloss says at least two things. */
export function usableGloss(s: wn.Synset, word: string): string | undefined {
  const gloss = lowerCaseIn(s, word) ? shortGloss(s.gloss) : undefined;
  return gloss !== undefined && glossStems(gloss, word).length >= 2 ? gloss : undefined;
}

export const definitionSenses = wordsWith(
  () => coreLemmas(['n', 'v', 'a']),
  (word): DefinitionPick | undefined => {
    for (const s of sensesByUse(word, ['n', 'v', 'a'])) {
      const gloss = usableGloss(s, word);
      if (gloss !== undefined) return { pos: s.pos, gloss };
    }
    return undefined;
  },
);

/** Noun glosses that start like a countable noun phrase read well after "A dog is …". */
const COUNTABLE_GLOSS = /^(a|an|any|one|someone|something|a person)\b/;

const DEFINITIONS: WordFamily = {
  name: 'definitions',
  description: 'What does a word mean? Answered from a WordNet gloss; checked by content-word F1 against any sense.',
  prompts: ['What does {w} mean?', 'Define {w}.', 'What is the meaning of the word {w}?', 'Can you tell me what {w} means?', "What's the definition of {w}?", 'Give me the definition of the word {w}.', "I don't know the word {w}. What does it mean?", 'Explain the word {w}.', 'What is meant by {w}?', 'Meaning of {w}?'],
  words: definitionSenses.words,
  answer(word, rng) {
    const { pos, gloss } = definitionSenses.value(word);
    const vars = { w: word, art: article(word), g: gloss };
    if (pos === 'v') return fill(pick(rng, ['To {w} is to {g}.', 'To {w} means to {g}.', 'The verb {w} means to {g}.']), vars);
    if (pos === 'a') return fill(pick(rng, ['The word {w} means {g}.', 'As an adjective, {w} means {g}.', 'The adjective {w} means {g}.']), vars);
    const nounForms = ['The word {w} means {g}.', 'The noun {w} refers to {g}.', 'The word {w} refers to {g}.'];
    return fill(pick(rng, COUNTABLE_GLOSS.test(gloss) ? ['{Art} {w} is {g}.', ...nounForms] : nounForms), vars);
  },
  /**
   * Rule: lower-case the answer, drop stopwords, framing words ("means", "word"…) and the
   * word itself, stem the rest (stem()); correct when the token F1 against the same stems of
   * some sense's definition (whole, or shortened as the generator does) is at least 0.5.
   */
  isCorrect(word, answer) {
    const got = glossStems(answer, word);
    return wn.senses(word).some((s) => {
      const short = shortGloss(s.gloss);
      const refs = short !== undefined ? [s.gloss, short] : [s.gloss];
      return refs.some((g) => tokenF1(got, glossStems(g, word)) >= 0.5);
    });
  },
};

export const definitions: SyntheticTask = wordTask(DEFINITIONS);
