import { Rng } from '../../engine/rng.js';
import { GptforgeError } from '../../util/errors.js';
import type { Message } from '../conversation.js';
import * as cmu from './cmudict.js';
import { passagesTask } from './passages.js';
import type { GenerateOptions, Split, SyntheticTask, TaskExample } from './task.js';
import * as wn from './wordnet.js';

/**
 * The synthetic SFT task families. Each one pairs a generator of short, programmatically
 * checkable conversations with the checker the evaluation scores them by:
 *
 *   definitions  kinds  synonyms  antonyms  rhymes  syllables   (WordNet + CMUdict words)
 *   arithmetic                                                   (calculator tool calls)
 *   chat                                                         (greetings, identity, refusals…)
 *
 * Held-out split: every item (a word, an operand pair, a chat phrasing or topic) goes to
 * train or test by a fixed hash of the item itself, never of the seed, so no seed can leak a
 * test item into training. Word families hash the bare word, so a held-out word is held out
 * of every word family at once (seeing "dog"'s synonyms in training would help define it).
 */

// ---------------------------------------------------------------------------------------
// Splits, sampling and templates shared by every family

/** Share of items held out for the test split, in percent. */
const TEST_PERCENT = 10;

/** 32-bit FNV-1a over UTF-16 code units: tiny, stable across runs and platforms. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The split an item belongs to, by the hash of its key. */
export function splitOf(key: string): Split {
  return fnv1a(key) % 100 < TEST_PERCENT ? 'test' : 'train';
}

/** Each family draws from its own stream, so two families with one seed do not move in lock-step. */
function familyRng(name: string, seed: number): Rng {
  return new Rng((seed ^ fnv1a(name)) >>> 0);
}

function checkCount(n: number, name: string): void {
  if (!Number.isInteger(n) || n < 0) throw new GptforgeError(`task "${name}": example count must be a non-negative integer, got ${n}`);
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)];
}

/** n items: a fresh shuffle per pass, so every item appears once before any repeats. */
function drawItems<T>(items: readonly T[], n: number, rng: Rng, name: string): T[] {
  if (n > 0 && items.length === 0) throw new GptforgeError(`task "${name}": no items in this split`);
  const out: T[] = [];
  while (out.length < n) {
    const pass = [...items];
    for (let i = pass.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [pass[i], pass[j]] = [pass[j], pass[i]];
    }
    out.push(...pass.slice(0, n - out.length));
  }
  return out;
}

/** A lazily computed, then cached, value: WordNet tables are built on first use, not at import. */
function memo<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

function example(prompt: string, replies: Message[]): TaskExample {
  return { prompt, conversation: { messages: [{ role: 'user', content: prompt }, ...replies] } };
}

const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** Fills `{slot}` placeholders; `{Slot}` (capitalised name) inserts the value capitalised. */
function fill(template: string, vars: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, slot: string) => {
    const value = vars[slot] ?? vars[slot.toLowerCase()];
    if (value === undefined) throw new GptforgeError(`template "${template}" has no value for {${slot}}`);
    return slot === slot.toLowerCase() ? value : capitalize(value);
  });
}

/** What each prompt slot may match when a checker parses a prompt back. */
const SLOT_PATTERNS: Record<string, string> = {
  w: "[a-z][a-z'-]*",
  art: 'an?',
  a: '\\d[\\d,]*',
  b: '\\d[\\d,]*',
  t: '.+?',
};

const templateRegexes = new Map<string, RegExp>();

/** The template as a case-insensitive regex with a named group per slot. */
function templateRegex(template: string): RegExp {
  let re = templateRegexes.get(template);
  if (!re) {
    const body = template
      .split(/(\{\w+\})/)
      .map((part) => {
        const slot = /^\{(\w+)\}$/.exec(part)?.[1].toLowerCase();
        if (slot === undefined) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/ /g, '\\s+');
        return `(?<${slot}>${SLOT_PATTERNS[slot]})`;
      })
      .join('');
    re = new RegExp(`^\\s*${body}\\s*$`, 'i');
    templateRegexes.set(template, re);
  }
  return re;
}

/** The slot values of the first template the prompt matches, with that template. */
function matchTemplates(templates: readonly string[], prompt: string): { template: string; slots: Record<string, string> } | undefined {
  for (const template of templates) {
    const m = templateRegex(template).exec(prompt);
    if (m) return { template, slots: { ...m.groups } };
  }
  return undefined;
}

/** Lower-case word tokens ("Can't" → "can't"). */
function tokens(text: string): string[] {
  return text.toLowerCase().match(/[a-z][a-z'-]*[a-z]|[a-z]/g) ?? [];
}

/** Whether a phrase ("domestic animal") appears in the token list as whole words. */
function containsPhrase(toks: readonly string[], phrase: string): boolean {
  return ` ${toks.join(' ')} `.includes(` ${tokens(phrase).join(' ')} `);
}

const STOPWORDS = new Set(
  (
    'a an the and or but nor of to in on at by for with from into onto over under as than then that this these those ' +
    'it its it\'s is are was were be been being am do does did done have has had having not no yes so such very too ' +
    'can could will would shall should may might must i me my you your we our he him his she her they them their ' +
    'who whom whose which what when where why how all any some each every either neither both other another ' +
    'one something someone somebody anything thing things up down out off about also just only more most much many ' +
    'there here if whether while because usually especially often etc'
  ).split(' '),
);

/** Crude stemmer: enough to match "moves"/"moving"/"move" and "parties"/"party". */
function stem(word: string): string {
  let w = word.replace(/'s$/, '');
  if (w.length > 4 && w.endsWith('ies')) return w.slice(0, -3) + 'y';
  for (const suffix of ['ing', 'ed', 'es', 'ly', 's']) {
    if (w.endsWith(suffix) && w.length - suffix.length >= 3) {
      w = w.slice(0, -suffix.length);
      break;
    }
  }
  return w.length > 3 && w.endsWith('e') ? w.slice(0, -1) : w;
}

/** Single, lower-case, alphabetic words of three letters or more: no names, phrases or abbreviations. */
const PLAIN_WORD = /^[a-z]{3,}$/;

// ---------------------------------------------------------------------------------------
// Word families: the shared frame

interface WordFamily {
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
function wordTask(f: WordFamily): SyntheticTask {
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
function lowerCaseIn(s: wn.Synset, lemma: string): boolean {
  return s.words.includes(lemma);
}

/** The lemma's senses in its most-tagged part of speech first, since index files do not compare parts of speech. */
function sensesByUse(word: string, poses: readonly wn.Pos[]): wn.Synset[] {
  const entries = wn.lookup(word).filter((e) => poses.includes(e.pos));
  const ordered = [...entries].sort((x, y) => y.taggedSenses - x.taggedSenses);
  return ordered.flatMap((e) => e.synsets.map(wn.synset));
}

const commonWordSet = memo(() => new Set(wn.POSES.flatMap((p) => commonLemmas(p).map((e) => e.lemma))));

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

const coreLemmas = (poses: readonly wn.Pos[]): string[] => poses.flatMap((p) => commonLemmas(p).map((e) => e.lemma)).filter((w) => coreWords().has(w));

/** How much a lemma is used: its senses seen in SemCor, over all parts of speech. */
function usage(word: string): number {
  return wn.lookup(word).reduce((sum, e) => sum + e.taggedSenses, 0);
}

/** The most used of the words (the first of equals); undefined for none. */
function mostUsed(words: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const w of words) if (best === undefined || usage(w) > usage(best)) best = w;
  return best;
}

/** Sorted words that have a value for `choose`, with that value cached for generation. */
function wordsWith<T>(candidates: () => Iterable<string>, choose: (w: string) => T | undefined): { words: () => readonly string[]; has: (w: string) => boolean; value: (w: string) => T } {
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

// ---------------------------------------------------------------------------------------
// definitions

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
function usableGloss(s: wn.Synset, word: string): string | undefined {
  const gloss = lowerCaseIn(s, word) ? shortGloss(s.gloss) : undefined;
  return gloss !== undefined && glossStems(gloss, word).length >= 2 ? gloss : undefined;
}

const definitionSenses = wordsWith(
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
  prompts: [
    'What does {w} mean?',
    'Define {w}.',
    'What is the meaning of the word {w}?',
    'Can you tell me what {w} means?',
    "What's the definition of {w}?",
    'Give me the definition of the word {w}.',
    "I don't know the word {w}. What does it mean?",
    'Explain the word {w}.',
    'What is meant by {w}?',
    'Meaning of {w}?',
  ],
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

// ---------------------------------------------------------------------------------------
// kinds

/** Words the kinds answers wrap around the hypernym ("a kind of"); they never count as one. */
function dropKindFraming(toks: readonly string[], word: string): string[] {
  return toks.filter((t, i) => t !== word && !(['kind', 'type', 'sort', 'category'].includes(t) && toks[i + 1] === 'of'));
}

const kindPicks = wordsWith(
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

// ---------------------------------------------------------------------------------------
// synonyms

const SYNONYM_FRAMING = new Set(['synonym', 'synonyms', 'word', 'same', 'meaning', 'means', 'say', 'could']);

/** Lemmas sharing a synset with the word, excluding itself, stopwords and answer framing. */
function synonymsOf(word: string): string[] {
  const out = new Set<string>();
  for (const s of wn.senses(word)) for (const w of s.words) out.add(wn.normalize(w));
  return [...out].filter((w) => w !== word && !STOPWORDS.has(w) && !SYNONYM_FRAMING.has(w));
}

/** A synonym worth teaching: a plain, common word, not the word itself in another form, not framing. */
function teachableSynonym(candidate: string, word: string): boolean {
  return PLAIN_WORD.test(candidate) && candidate !== word && stem(candidate) !== stem(word) && commonWordSet().has(candidate) && !STOPWORDS.has(candidate) && !SYNONYM_FRAMING.has(candidate);
}

const synonymPicks = wordsWith(
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
  prompts: [
    'Give me a synonym for {w}.',
    'What is a synonym of {w}?',
    "What's another word for {w}?",
    'Can you think of a word that means the same as {w}?',
    'Name a synonym for the word {w}.',
    'What word means the same thing as {w}?',
    'Tell me another way to say {w}.',
    'Synonym for {w}?',
  ],
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

// ---------------------------------------------------------------------------------------
// antonyms

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
const antonymPicks = wordsWith(
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
  prompts: [
    'What is the opposite of {w}?',
    'Give me an antonym for {w}.',
    "What's an antonym of {w}?",
    'What word means the opposite of {w}?',
    'Name the opposite of {w}.',
    'What is the antonym of the word {w}?',
    'Tell me a word that means the opposite of {w}.',
    'Opposite of {w}?',
  ],
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

// ---------------------------------------------------------------------------------------
// Word facts: what the built-in dictionary says about a core word

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

// ---------------------------------------------------------------------------------------
// rhymes

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
  prompts: [
    'What rhymes with {w}?',
    'Give me a word that rhymes with {w}.',
    'Can you think of a rhyme for {w}?',
    'Name a word that rhymes with {w}.',
    'Find a rhyme for the word {w}.',
    'Which word rhymes with {w}?',
    'Tell me something that rhymes with {w}.',
    'I need a rhyme for {w}.',
  ],
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

// ---------------------------------------------------------------------------------------
// syllables

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
  prompts: [
    'How many syllables are in the word {w}?',
    'How many syllables does {w} have?',
    'Count the syllables in {w}.',
    'What is the syllable count of {w}?',
    'How many syllables in {w}?',
    'Tell me how many syllables {w} has.',
    'How many syllables does the word {w} contain?',
    'Number of syllables in {w}?',
  ],
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

// ---------------------------------------------------------------------------------------
// arithmetic

type Op = '+' | '-' | '*' | '/';
const OPS: readonly Op[] = ['+', '-', '*', '/'];

const ARITHMETIC_PROMPTS: Record<Op, readonly string[]> = {
  '+': ['What is {a} plus {b}?', "What's {a} + {b}?", 'Compute {a} + {b}.', '{a} + {b} = ?', 'Add {a} and {b}.', 'What is the sum of {a} and {b}?', 'How much is {a} plus {b}?', 'Calculate {a}+{b}.'],
  '-': ['What is {a} minus {b}?', 'Compute {a} - {b}.', '{a} − {b} = ?', 'Subtract {b} from {a}.', "What's {a} take away {b}?", 'How much is {a} minus {b}?', 'What is the difference of {a} and {b}?', 'Calculate {a}-{b}.'],
  '*': ['What is {a} times {b}?', 'Compute {a} * {b}.', '{a} × {b} = ?', 'Multiply {a} by {b}.', 'What is the product of {a} and {b}?', 'How much is {a} multiplied by {b}?', "What's {a} x {b}?", 'Calculate {a}*{b}.'],
  '/': ['What is {a} divided by {b}?', 'Compute {a} / {b}.', '{a} ÷ {b} = ?', 'Divide {a} by {b}.', 'How much is {a} divided by {b}?', 'What do you get when you divide {a} by {b}?', "What's {a} over {b}?", 'Calculate {a}/{b}.'],
};

const OP_SYMBOL: Record<Op, string> = { '+': '+', '-': '−', '*': '×', '/': '÷' };
const OP_WORDS: Record<Op, string> = { '+': 'plus', '-': 'minus', '*': 'times', '/': 'divided by' };

interface ArithmeticVariant {
  ops: readonly Op[];
  minDigits: number;
  maxDigits: number;
}

interface Problem {
  a: number;
  op: Op;
  b: number;
}

/** Exact for every operand size allowed (≤ 7 digits: products stay below 2^53); division is exact by construction. */
function solve({ a, op, b }: Problem): number {
  if (op === '+') return a + b;
  if (op === '-') return a - b;
  if (op === '*') return a * b;
  return a / b;
}

function arithmeticVariant(v: Record<string, unknown> | undefined): ArithmeticVariant {
  const bad = (what: string): never => {
    throw new GptforgeError(`arithmetic variant: ${what}`, { field: 'variant' });
  };
  const ops = v?.ops ?? OPS;
  if (!Array.isArray(ops) || ops.length === 0 || !ops.every((o): o is Op => OPS.includes(o as Op))) bad(`ops must be a non-empty list of ${OPS.join(' ')}`);
  const minDigits = v?.minDigits ?? 2;
  const maxDigits = v?.maxDigits ?? 4;
  const digitsOk = (d: unknown): d is number => Number.isInteger(d) && (d as number) >= 1 && (d as number) <= 7;
  if (!digitsOk(minDigits) || !digitsOk(maxDigits) || minDigits > maxDigits) bad('minDigits and maxDigits must be integers with 1 ≤ minDigits ≤ maxDigits ≤ 7');
  return { ops: ops as Op[], minDigits: minDigits as number, maxDigits: maxDigits as number };
}

/** A uniform number with a uniform digit count, so small and large operands are equally common. */
function operand(rng: Rng, minDigits: number, maxDigits: number): number {
  const d = minDigits + rng.int(maxDigits - minDigits + 1);
  const lo = d === 1 ? 1 : 10 ** (d - 1);
  return lo + rng.int(10 ** d - lo);
}

/** Division is generated as (divisor × quotient) ÷ divisor, with both shown operands in the digit range. */
function drawProblem(rng: Rng, v: ArithmeticVariant): Problem {
  for (;;) {
    const op = pick(rng, v.ops);
    if (op !== '/') return { a: operand(rng, v.minDigits, v.maxDigits), op, b: operand(rng, v.minDigits, v.maxDigits) };
    const b = operand(rng, v.minDigits, v.maxDigits);
    const lo = Math.max(2, Math.ceil(10 ** (v.minDigits - 1) / b));
    const hi = Math.floor((10 ** v.maxDigits - 1) / b);
    if (b >= 2 && lo <= hi) return { a: b * (lo + rng.int(hi - lo + 1)), op, b };
  }
}

/** The problem in a prompt: any generated phrasing, else a bare "a op b". */
function parseProblem(prompt: string): Problem | undefined {
  const num = (s: string): number => Number(s.replace(/,/g, ''));
  for (const op of OPS) {
    const m = matchTemplates(ARITHMETIC_PROMPTS[op], prompt);
    if (m) return { a: num(m.slots.a), op, b: num(m.slots.b) };
  }
  const bare = /(\d[\d,]*)\s*([-+*/×÷x−])\s*(\d[\d,]*)/.exec(prompt);
  if (!bare) return undefined;
  const op = ({ '×': '*', x: '*', '÷': '/', '−': '-' } as Record<string, Op>)[bare[2]] ?? (bare[2] as Op);
  return { a: num(bare[1]), op, b: num(bare[3]) };
}

/** The last number in the text (commas allowed, either minus sign); undefined when none. */
function lastNumber(text: string): number | undefined {
  const all = text.match(/[-−]?\d[\d,]*(?:\.\d+)?/g);
  if (!all) return undefined;
  return Number(all[all.length - 1].replace(/,/g, '').replace('−', '-'));
}

const LEAD_INS = ['Let me calculate that. ', "I'll use the calculator. ", 'Let me work that out. '];

const arithmetic: SyntheticTask = {
  name: 'arithmetic',
  description: 'Add, subtract, multiply or divide 2–4 digit integers with the calculator tool.',
  usesTool: true,
  generate(split: Split, n: number, seed: number, opts?: GenerateOptions): TaskExample[] {
    checkCount(n, 'arithmetic');
    const variant = arithmeticVariant(opts?.variant);
    const rng = familyRng('arithmetic', seed);
    const out: TaskExample[] = [];
    while (out.length < n) {
      const p = drawProblem(rng, variant);
      // the item is the problem as the calculator sees it; resample until it lands in this split
      const input = `${p.a}${p.op}${p.b}`;
      if (splitOf(input) !== split) continue;
      const result = solve(p);
      const vars = { a: String(p.a), b: String(p.b), sym: OP_SYMBOL[p.op], word: OP_WORDS[p.op], r: String(result) };
      const prompt = capitalize(fill(pick(rng, ARITHMETIC_PROMPTS[p.op]), vars));
      const lead = rng.random() < 0.2 ? pick(rng, LEAD_INS) : '';
      // Half the replies restate the problem: copying the operands once more is extra practice
      // at the skill the whole family rests on (a small model learns copying slowly).
      const final = fill(pick(rng, ['{a} {sym} {b} = {r}.', '{a} {word} {b} is {r}.', 'The answer is {r}.', 'That comes to {r}.', 'It is {r}.', '{a} {sym} {b} is {r}.']), vars);
      out.push(
        example(prompt, [
          { role: 'assistant', content: lead, tool_call: { name: 'calculator', input } },
          { role: 'tool', content: String(result) },
          { role: 'assistant', content: final },
        ]),
      );
    }
    return out;
  },
  /** Rule: the prompt's problem parses (every generated phrasing does) and the answer's LAST number equals the exact result. */
  check(prompt: string, answer: string): boolean {
    const p = parseProblem(prompt);
    return p !== undefined && lastNumber(answer) === solve(p);
  },
};

// ---------------------------------------------------------------------------------------
// chat

export type ChatIntent = 'greeting' | 'identity' | 'thanks' | 'capabilities' | 'out-of-scope';

/** Phrasings (with {t} where a topic goes) and topics; an item is one phrasing with one topic. */
interface ChatGroup {
  intent: ChatIntent;
  phrasings: readonly string[];
  topics: readonly string[];
  answers: readonly string[];
}

const CAN_DO = 'I can define words, find synonyms, opposites and rhymes, count syllables, or do arithmetic.';
const CITIES = ['Paris', 'London', 'Tokyo', 'New York', 'Berlin', 'Sydney', 'Cairo', 'Toronto', 'Mumbai', 'Lima', 'Oslo', 'Madrid', 'Chicago', 'Seoul', 'Nairobi', 'Rome', 'Boston', 'Denver', 'Dublin', 'Lisbon'];

const CHAT_GROUPS: readonly ChatGroup[] = [
  {
    intent: 'greeting',
    phrasings: [
      'Hi!', 'Hello there', 'Good morning', 'Hey', 'Hello!', 'Hi there!', 'Hey there!', 'Good afternoon!', 'Good evening.', 'Howdy!',
      'Greetings!', 'Hiya', 'Hello, assistant!', 'Hello hello', 'Morning!', 'Hi friend', 'Hey, nice to meet you.', 'Hello, anyone there?',
      'Hi :)', 'Good day!', 'Hello again!', 'Hi, nice to meet you!', 'Hey buddy', 'Hi again',
    ],
    topics: [''],
    answers: ['Hello! How can I help you today?', 'Hi there! What can I do for you?', 'Hey! Ask me about a word, a rhyme or a sum.', "Hello! I'm gptforge. What would you like to know?"],
  },
  {
    // greetings that ask after the assistant get an answer to that too
    intent: 'greeting',
    phrasings: [
      'Hi, how are you?', "Hey, how's it going?", 'Good morning! How are you today?', "Hey! What's up?", 'Good evening, how are you?',
      'Hello, how are you doing?', 'Hi! How are things?', "Hello, how's your day?", 'Hey, how are you?', "Good afternoon, how's it going?",
    ],
    topics: [''],
    answers: ["Hi! I'm doing well, thanks. How can I help?", "Hello! All good here. What can I do for you?", "Hey! I'm fine, thank you. Ask me about words or numbers."],
  },
  {
    intent: 'identity',
    phrasings: [
      'Who are you?', 'What are you?', 'What is your name?', "What's your name?", 'Tell me about yourself.', 'Introduce yourself.', 'Are you a robot?',
      'Are you human?', 'Who made you?', 'Who built you?', 'What should I call you?', 'Are you ChatGPT?', 'What kind of AI are you?', 'Do you have a name?',
      'Who am I talking to?', 'Are you a real person?', 'Who created you?', 'What is this assistant?', 'Describe yourself in one sentence.', 'Are you an AI?',
    ],
    topics: [''],
    answers: [
      "I'm gptforge, a small assistant trained from scratch. I know about words, rhymes, syllables and arithmetic.",
      "My name is gptforge. I'm a tiny language model assistant, trained from scratch on a CPU.",
      "I'm gptforge, a small AI assistant trained from scratch, not a person.",
      'I am gptforge, a small assistant built and trained from scratch in TypeScript.',
    ],
  },
  {
    intent: 'thanks',
    phrasings: [
      'Thanks!', 'Thank you!', 'Thanks a lot.', 'Thank you so much!', 'Thanks for the help.', 'Great, thanks!', 'Cheers!', 'Much appreciated.', 'Thx',
      'Perfect, thank you.', 'I appreciate it.', 'Awesome, thanks a bunch!', 'Thank you, that helps.', 'Thanks, that was useful.', 'Ok thanks',
      'Thank you very much.', 'Nice, thanks!', 'Thanks again!', 'That helped, thank you!', 'Many thanks.',
    ],
    topics: [''],
    answers: ["You're welcome!", "You're welcome! Anything else?", 'My pleasure.', "You're welcome, happy to help.", 'My pleasure! Ask me anything else about words or numbers.'],
  },
  {
    intent: 'capabilities',
    phrasings: [
      'What can you do?', 'What are you able to do?', 'How can you help me?', 'What do you know how to do?', 'What are your skills?', 'What are you good at?',
      'What kinds of questions can you answer?', 'Help', 'What tasks can you help with?', 'What can I ask you?', 'List your capabilities.', 'What are your features?',
      'What can you help me with?', 'What do you do?', 'What are your capabilities?', 'Help!', 'What sort of things can you do?', 'How do I use you?',
    ],
    topics: [''],
    answers: [
      'I can define words, tell you what kind of thing something is, give synonyms and antonyms, find rhymes, count syllables, and do arithmetic with a calculator.',
      'Ask me what a word means, for a synonym, an opposite or a rhyme, how many syllables a word has, or for a sum: I use a calculator for arithmetic.',
      'I know about words: definitions, kinds, synonyms, antonyms, rhymes and syllables. I can also do arithmetic with a calculator.',
    ],
  },
  {
    intent: 'out-of-scope',
    phrasings: ["What's the weather like in {t}?", 'Will it rain in {t} tomorrow?', "What's the temperature in {t} right now?", 'Is it sunny in {t} today?', 'Give me the forecast for {t}.'],
    topics: CITIES,
    answers: [`Sorry, I can't check the weather: I have no access to live data. ${CAN_DO}`, `I'm sorry, I cannot see live weather reports. ${CAN_DO}`, `Sorry, I'm not able to look up forecasts. ${CAN_DO}`],
  },
  {
    intent: 'out-of-scope',
    phrasings: ['What is the stock price of {t}?', 'Should I buy shares of {t}?', "What's the latest news about {t}?", 'How is {t} stock doing today?', 'Will {t} stock go up this year?'],
    topics: ['Apple', 'Tesla', 'Google', 'Amazon', 'Microsoft', 'Nvidia', 'Netflix', 'IBM', 'Intel', 'Boeing', 'Nike', 'Disney', 'Toyota', 'Samsung', 'Pfizer'],
    answers: [`Sorry, I can't look up prices or news, and I don't give financial advice. ${CAN_DO}`, `I'm sorry, I have no access to live market data. ${CAN_DO}`, `Sorry, I'm unable to follow the news or the markets. ${CAN_DO}`],
  },
  {
    intent: 'out-of-scope',
    phrasings: ['Write an essay about {t}.', 'Write me a short story about {t}.', 'Can you write a poem about {t}?', 'Write a blog post about {t}.', 'Draft a speech about {t}.'],
    topics: ['climate change', 'the French Revolution', 'friendship', 'space travel', 'my dog', 'the ocean', 'artificial intelligence', 'summer holidays', 'democracy', 'football', 'the moon', 'cooking', 'music', 'honesty', 'winter'],
    answers: [`Sorry, I'm too small to write long texts like that. ${CAN_DO}`, `I'm sorry, I can't write essays or stories. ${CAN_DO}`, `Sorry, writing that is beyond me; I only give short answers. ${CAN_DO}`],
  },
  {
    intent: 'out-of-scope',
    phrasings: ['Book me a flight to {t}.', 'Find me a hotel in {t}.', 'Order a taxi to {t}.', 'Reserve a table for two in {t}.', 'Buy me a train ticket to {t}.'],
    topics: CITIES,
    answers: [`Sorry, I can't book or buy anything: I can only chat. ${CAN_DO}`, `I'm sorry, I'm not able to make reservations. ${CAN_DO}`, `Sorry, I cannot act in the world for you. ${CAN_DO}`],
  },
  {
    intent: 'out-of-scope',
    phrasings: ['What medicine should I take for {t}?', 'How do I treat {t} at home?', 'Is {t} something to worry about?', 'Do I need to see a doctor about {t}?', 'Diagnose my symptoms: {t}.'],
    topics: ['a headache', 'chest pain', 'a fever', 'back pain', 'a rash', 'a sore throat', 'dizziness', 'a cough', 'insomnia', 'stomach pain', 'high blood pressure', 'a toothache'],
    answers: [`Sorry, I can't give medical advice; please ask a doctor. ${CAN_DO}`, `I'm sorry, I'm not able to help with health questions. Please see a doctor. ${CAN_DO}`, `Sorry, I cannot diagnose anything. A doctor can help. ${CAN_DO}`],
  },
  {
    intent: 'out-of-scope',
    phrasings: ['Can I sue {t}?', 'Give me legal advice about suing {t}.', 'Is it legal to stop paying {t}?', 'How do I win a court case against {t}?', 'Write a legal contract with {t}.'],
    topics: ['my landlord', 'my employer', 'my neighbor', 'my bank', 'my doctor', 'a shop', 'my insurance company', 'an airline', 'my school', 'my ex'],
    answers: [`Sorry, I can't give legal advice; a lawyer can. ${CAN_DO}`, `I'm sorry, I'm not able to help with legal questions. ${CAN_DO}`, `Sorry, I cannot advise on the law. ${CAN_DO}`],
  },
  {
    intent: 'out-of-scope',
    phrasings: ['How do I hack into {t}?', 'Help me break into {t}.', 'How can I steal the password for {t}?', 'Write malware that attacks {t}.', 'How do I get around the security of {t}?'],
    topics: ["my neighbor's wifi", 'a bank website', "my school's grading system", "someone's email", 'a government server', "my ex's phone", 'an online game', 'a company network', 'a social media account', 'a smart lock'],
    answers: [`Sorry, I can't help with that. ${CAN_DO}`, `I'm sorry, I won't help break into anything. ${CAN_DO}`, `Sorry, I'm unable to help with hacking. ${CAN_DO}`],
  },
];

/** The held-out members of a list: its lowest-hash tenth (at least one), so every group has test items. */
function heldOut(keys: readonly string[]): Set<string> {
  if (keys.length <= 1) return new Set();
  const count = Math.max(1, Math.ceil((keys.length * TEST_PERCENT) / 100));
  return new Set([...keys].sort((x, y) => fnv1a(x) - fnv1a(y) || (x < y ? -1 : 1)).slice(0, count));
}

interface ChatItem {
  prompt: string;
  group: ChatGroup;
}

/**
 * Items by intent and split. A test item has a held-out phrasing or a held-out topic, so
 * the test split asks in ways (or about things) training never saw.
 */
const chatItems = memo(() => {
  const table: Record<Split, Map<ChatIntent, ChatItem[]>> = { train: new Map(), test: new Map() };
  for (const group of CHAT_GROUPS) {
    const testPhrasings = heldOut(group.phrasings);
    const testTopics = heldOut(group.topics);
    for (const phrasing of group.phrasings) {
      for (const topic of group.topics) {
        const split: Split = testPhrasings.has(phrasing) || testTopics.has(topic) ? 'test' : 'train';
        const list = table[split].get(group.intent) ?? [];
        list.push({ prompt: fill(phrasing, { t: topic }), group });
        table[split].set(group.intent, list);
      }
    }
  }
  return table;
});

/**
 * The intent of a chat prompt, by keyword rules tried in this order: thanks, capabilities,
 * identity, greeting; anything else is out of scope (the chat family asks nothing else).
 */
export function detectChatIntent(prompt: string): ChatIntent {
  const p = prompt.toLowerCase().trim();
  if (/\b(thanks?|thank you|thx|appreciated?|cheers)\b/.test(p)) return 'thanks';
  if (/what can you do|able to do|how can you help|know how to do|your (skills|features|capabilities)|good at|questions can you answer|tasks can you|can i ask you|capabilities|help me with\?|what do you do|things can you do|how do i use you|^help[.!?]*$/.test(p)) return 'capabilities';
  if (/who are you|what are you\b|\bname\b|yourself|who (made|built|created) you|are you (a|an|human|chatgpt)\b|call you|who am i talking to|this assistant|kind of ai/.test(p)) return 'identity';
  if (/^(hi|hello|hey|hiya|howdy|greetings|good (morning|afternoon|evening|day)|morning|evening)\b/.test(p)) return 'greeting';
  return 'out-of-scope';
}

const CAPABILITY_KEYWORDS: readonly RegExp[] = [/defin|\bmeans?\b/, /\bkinds?\b|categor/, /synonym/, /antonym|opposite/, /rhym/, /syllable/, /arithmetic|calculat|\bmath|\bsums?\b/];

/**
 * Rules, by the prompt's intent: a greeting is answered with a greeting word; identity with
 * "gptforge" or "assistant"; thanks with "welcome" or "pleasure"; capabilities by naming at
 * least two of the skills; anything out of scope with a refusal ("sorry", "can't", "cannot",
 * "not able", "unable").
 */
function chatAnswerOk(intent: ChatIntent, answer: string): boolean {
  const a = answer.toLowerCase().replace(/’/g, "'");
  switch (intent) {
    case 'greeting':
      return /\b(hi|hello|hey|greetings|howdy|good (morning|afternoon|evening|day))\b/.test(a);
    case 'identity':
      return /gptforge|assistant/.test(a);
    case 'thanks':
      return /welcome|pleasure/.test(a);
    case 'capabilities':
      return CAPABILITY_KEYWORDS.filter((k) => k.test(a)).length >= 2;
    case 'out-of-scope':
      return /\b(sorry|can't|cannot|can not|not able|unable)\b/.test(a);
  }
}

const CHAT_INTENTS: readonly ChatIntent[] = ['greeting', 'identity', 'thanks', 'capabilities', 'out-of-scope'];

const chat: SyntheticTask = {
  name: 'chat',
  description: 'Small talk that gives the assistant a voice: greetings, who it is, thanks, what it can do, polite refusals.',
  usesTool: false,
  generate(split: Split, n: number, seed: number): TaskExample[] {
    checkCount(n, 'chat');
    const rng = familyRng('chat', seed);
    const items = chatItems()[split];
    const out: TaskExample[] = [];
    // intents uniformly, so the many out-of-scope combinations do not drown the greetings
    for (let i = 0; i < n; i++) {
      const item = pick(rng, items.get(pick(rng, CHAT_INTENTS)) ?? []);
      out.push(example(item.prompt, [{ role: 'assistant', content: pick(rng, item.group.answers) }]));
    }
    return out;
  },
  check(prompt: string, answer: string): boolean {
    return chatAnswerOk(detectChatIntent(prompt), answer);
  },
};

// ---------------------------------------------------------------------------------------
// registry

const WORD_FAMILIES: readonly WordFamily[] = [DEFINITIONS, KINDS, SYNONYMS, ANTONYMS, RHYMES, SYLLABLES];

/** Every family, in the order of the eval table. */
export const TASKS: readonly SyntheticTask[] = [
  wordTask(DEFINITIONS),
  wordTask(KINDS),
  wordTask(SYNONYMS),
  wordTask(ANTONYMS),
  arithmetic,
  wordTask(RHYMES),
  wordTask(SYLLABLES),
  chat,
];

/** Families a mixture or `eval --tasks` names, left out of the defaults (eval table, RM/RL prompts): passages needs a 256-token context. */
export const OPT_IN_TASKS: readonly SyntheticTask[] = [passagesTask()];

export function taskByName(name: string): SyntheticTask {
  const task = TASKS.find((t) => t.name === name) ?? OPT_IN_TASKS.find((t) => t.name === name);
  if (!task) throw new GptforgeError(`unknown task "${name}" (one of: ${[...TASKS, ...OPT_IN_TASKS].map((t) => t.name).join(', ')})`);
  return task;
}

const PROMPT_TEMPLATES: Record<string, readonly string[]> = {
  ...Object.fromEntries(WORD_FAMILIES.map((f) => [f.name, f.prompts])),
  arithmetic: OPS.flatMap((op) => ARITHMETIC_PROMPTS[op]),
  chat: CHAT_GROUPS.flatMap((g) => g.phrasings),
};

/** The prompt template a prompt of the family was made from (for per-phrasing breakdowns), if any. */
export function phrasingOf(taskName: string, prompt: string): string | undefined {
  return matchTemplates(PROMPT_TEMPLATES[taskName] ?? [], prompt)?.template;
}

/**
 * The item a prompt asks about, the unit the train/test split is made of: the word (word
 * families), the calculator input "345*67" (arithmetic) or the prompt itself (chat).
 */
export function promptItem(taskName: string, prompt: string): string | undefined {
  if (taskName === 'chat') return prompt.trim();
  if (taskName === 'arithmetic') {
    const p = parseProblem(prompt);
    return p && `${p.a}${p.op}${p.b}`;
  }
  return matchTemplates(PROMPT_TEMPLATES[taskName] ?? [], prompt)?.slots.w?.toLowerCase();
}
