import type { Rng } from '../../engine/rng.js';
import { GptforgeError } from '../../util/errors.js';
import * as cmu from './cmudict.js';
import { familyRng, splitOf } from './split.js';
import type { Split, SyntheticTask, TaskExample } from './task.js';
import { capitalize, checkCount, drawItems, example, fill, matchTemplates, memo, pick, PLAIN_WORD } from './text.js';
import * as wn from './wordnet.js';

/**
 * The shared frame of the word families (definitions, kinds, synonyms, antonyms, rhymes,
 * syllables): a family names its prompts, its words and how to answer and check one word;
 * wordTask makes the SyntheticTask. Also the common and core vocabularies they draw from.
 */

export interface WordFamily {
  name: string;
  description: string;
  /** Prompt templates with {w} (the word) and optionally {art} ("a"/"an"). */
  prompts: readonly string[];
  /** Every word the family can ask about, sorted (both splits). */
  words(): readonly string[];
  answer(word: string, rng: Rng): string;
  /** The family's checker once the word is parsed out of the prompt. */
  isCorrect(word: string, answer: string): boolean;
}

/*
 * Answer templates name the word only mid-sentence, lower-case and unquoted, as every prompt
 * does (" tick" is one chunk in both), so answering starts by copying tokens. Quoted or
 * capitalised forms ('"tick"', "Tick") pre-split into other tokens: a small model must then
 * spell the word anew, and misspelt it ("The word \"fick\" means…").
 */
export function wordTask(f: WordFamily): SyntheticTask {
  const bySplit = new Map<Split, string[]>();
  const splitWords = (split: Split): string[] => {
    let list = bySplit.get(split);
    if (!list) {
      list = f.words().filter((w) => splitOf(w) === split);
      bySplit.set(split, list);
    }
    return list;
  };
  return {
    name: f.name,
    description: f.description,
    usesTool: false,
    prompts: f.prompts,
    generate(split: Split, n: number, seed: number): TaskExample[] {
      checkCount(n, f.name);
      const rng = familyRng(f.name, seed);
      return drawItems(splitWords(split), n, rng, f.name).map((word) => {
        const prompt = capitalize(fill(pick(rng, f.prompts), { w: word, art: article(word) }));
        return example(prompt, [{ role: 'assistant', content: f.answer(word, rng) }]);
      });
    },
    check(prompt: string, answer: string): boolean {
      const word = matchTemplates(f.prompts, prompt)?.slots.w ?? quotedWord(prompt);
      return word !== undefined && f.isCorrect(word.toLowerCase(), answer);
    },
    item(prompt: string): string | undefined {
      return matchTemplates(f.prompts, prompt)?.slots.w?.toLowerCase();
    },
  };
}

/** Fallback for prompts in no known phrasing: the single word in quotes or *stars*. */
function quotedWord(prompt: string): string | undefined {
  return /["'*“‘]([a-z][a-z'-]*)["'*”’]/i.exec(prompt)?.[1];
}

/** "a" or "an" by the word's first sound (CMUdict), falling back to its first letter. */
export function article(word: string): string {
  const first = cmu.pronunciations(word)[0]?.[0];
  const vowelSound = first !== undefined ? /^[AEIOU]/.test(first) : /^[aeiou]/.test(word);
  return vowelSound ? 'an' : 'a';
}

/** Lemmas of the part of speech that are plain words seen at least once in SemCor (our "common" filter). */
function commonLemmas(pos: wn.Pos): wn.IndexEntry[] {
  return wn.lemmaEntries(pos).filter((e) => e.taggedSenses > 0 && PLAIN_WORD.test(e.lemma));
}

/** Whether the lemma is written in lower case in this synset (so this sense is not a proper noun). */
export function lowerCaseIn(s: wn.Synset, lemma: string): boolean {
  return s.words.includes(lemma);
}

/** The lemma's senses in its most-tagged part of speech first, since index files do not compare parts of speech. */
export function sensesByUse(word: string, poses: readonly wn.Pos[]): wn.Synset[] {
  const entries = wn.lookup(word).filter((e) => poses.includes(e.pos));
  const ordered = [...entries].sort((x, y) => y.taggedSenses - x.taggedSenses);
  return ordered.flatMap((e) => e.synsets.map(wn.synset));
}

export const commonWordSet = memo(() => new Set(wn.POSES.flatMap((p) => commonLemmas(p).map((e) => e.lemma))));

/**
 * How many words the knowledge families (definitions, kinds, synonyms, antonyms) ask about:
 * the most used common lemmas. A small model cannot learn 17,000 words' meanings from a few
 * minutes of pretraining, but it can learn the facts of this many from the built-in
 * dictionary (data/synthetic/dictionary.ts), which pretraining reads. Held-out words stay out
 * of SFT, never out of pretraining: the base model is meant to know them, SFT to ask.
 */
export const CORE_WORDS = 1200;

/** The CORE_WORDS most used common lemmas (by SemCor tags over all parts of speech, then alphabetically). */
export const coreWords = memo((): ReadonlySet<string> => {
  const ranked = [...commonWordSet()].sort((a, b) => usage(b) - usage(a) || (a < b ? -1 : 1));
  return new Set(ranked.slice(0, CORE_WORDS));
});

export const coreLemmas = (poses: readonly wn.Pos[]): string[] => poses.flatMap((p) => commonLemmas(p).map((e) => e.lemma)).filter((w) => coreWords().has(w));

/** How much a lemma is used: its senses seen in SemCor, over all parts of speech. */
function usage(word: string): number {
  return wn.lookup(word).reduce((sum, e) => sum + e.taggedSenses, 0);
}

/** The most used of the words (the first of equals); undefined for none. */
export function mostUsed(words: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const w of words) if (best === undefined || usage(w) > usage(best)) best = w;
  return best;
}

/** Sorted words that have a value for `choose`, with that value cached for generation. */
export function wordsWith<T>(candidates: () => Iterable<string>, choose: (w: string) => T | undefined): { words: () => readonly string[]; has: (w: string) => boolean; value: (w: string) => T } {
  const table = memo(() => {
    const map = new Map<string, T>();
    for (const w of candidates()) {
      if (map.has(w)) continue;
      const v = choose(w);
      if (v !== undefined) map.set(w, v);
    }
    return map;
  });
  return {
    words: memo(() => [...table().keys()].sort()),
    has: (w) => table().has(w),
    value: (w) => {
      const v = table().get(w);
      if (v === undefined) throw new GptforgeError(`no value for word "${w}"`);
      return v;
    },
  };
}
