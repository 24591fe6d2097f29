import { Rng } from '../../engine/rng.js';
import { GptforgeError } from '../../util/errors.js';
import { citedNumbers, NO_ANSWER, parsePassagePrompt, passagePrompt, quotedReply, saysNoAnswer, stripCitations, type Passage } from '../../rag/context.js';
import { dictionaryEntry, EDITIONS } from './dictionary.js';
import type { Split, SyntheticTask, TaskExample } from './task.js';
import { definitions } from './definitions.js';
import { type WordFacts, wordFacts } from './facts.js';
import { kinds } from './kinds.js';
import { fnv1a, splitOf } from './split.js';
import { synonyms } from './synonyms.js';
import { matchTemplates } from './text.js';
import { coreWords } from './words.js';
import { escapeRegExp } from '../../util/regex.js';

/** The knowledge families a passages question is asked in (imported directly, not through the registry in tasks.ts, which lists this family). */
const FAMILY_TASKS: Record<'definitions' | 'kinds' | 'synonyms', SyntheticTask> = { definitions, kinds, synonyms };

/**
 * The `passages` family: answer from the given passages, cite them, and say so when they do
 * not hold the answer — what generation with retrieval (rag/generate.ts) asks of the model.
 *
 * Each prompt is the context block of rag/context.ts — two or three entries of the built-in
 * dictionary (data/synthetic/dictionary.ts), numbered, each with its source "dictionary:<n>"
 * — followed by a definitions, kinds or synonyms question (those families' own prompts):
 *
 * - answerable (70%): one or two of the passages (two in all, three in a quarter of the
 *   prompts: three entries rarely fit a 256-token context beside the answer) are the asked
 *   word's entry (other editions of it), the rest distractors; the answer quotes the first
 *   relevant passage's sentence that states the fact, from the asked word on (the first
 *   gloss or synonym that passage states), and cites it: "dog (noun): a member of the
 *   genus Canis [2]."
 * - unanswerable (30%): the word's entries are left out, only distractors remain; the
 *   answer is NO_ANSWER, "The passages don't say."
 *
 * Distractors are mostly hard negatives — other words' entries that name the asked word
 * ("Words similar to hound: dog…"), which is what BM25 retrieves once the word's own entry
 * is gone — so "the passage names the word" is never enough to answer.
 *
 * Held out: the question's word follows the knowledge families' split (splitOf), so a test
 * word's facts never appear in a training answer; training distractors are train-split words'
 * entries only. The dictionary's entries are numbered as `dictionaryEntries()` lists them,
 * which is also how the measurement's store numbers them (rag/effect.ts).
 */

/** The families whose questions the passages answer. */
export const PASSAGE_FAMILIES = ['definitions', 'kinds', 'synonyms'] as const;
type PassageFamily = (typeof PASSAGE_FAMILIES)[number];

/** One dictionary entry as a passage: its word, its text and its number (1-based) in the entry list. */
export interface DictionaryEntry {
  word: string;
  edition: number;
  text: string;
  line: number;
}

let entriesCache: DictionaryEntry[] | undefined;

/** Every core word's entry in every edition, words sorted, editions in order; `line` numbers them from 1. */
export function dictionaryEntries(): readonly DictionaryEntry[] {
  if (!entriesCache) {
    const facts = [...coreWords()]
      .sort()
      .map(wordFacts)
      .filter((f): f is WordFacts => f !== undefined);
    entriesCache = facts.flatMap((f) => Array.from({ length: EDITIONS }, (_, e) => ({ word: f.word, edition: e, text: dictionaryEntry(f, e), line: 0 })));
    entriesCache.forEach((e, i) => (e.line = i + 1));
  }
  return entriesCache;
}

/** The source label of an entry in a context block. */
export function entrySource(e: Pick<DictionaryEntry, 'line'>): string {
  return `dictionary:${e.line}`;
}

const wordsOf = (text: string): string[] => text.toLowerCase().match(/[a-z][a-z'-]*[a-z]|[a-z]/g) ?? [];

let byWordCache: { own: Map<string, number[]>; mentions: Map<string, number[]> } | undefined;

/** Entry indices by their own word, and by every word they mention (for hard negatives). */
function entryIndex(): { own: Map<string, number[]>; mentions: Map<string, number[]> } {
  if (!byWordCache) {
    const own = new Map<string, number[]>();
    const mentions = new Map<string, number[]>();
    dictionaryEntries().forEach((e, i) => {
      own.set(e.word, [...(own.get(e.word) ?? []), i]);
      for (const w of new Set(wordsOf(e.text))) if (w !== e.word) mentions.set(w, [...(mentions.get(w) ?? []), i]);
    });
    byWordCache = { own, mentions };
  }
  return byWordCache;
}

/** The facts a question needs, as the dictionary writes them; undefined when the word has none for that family. */
function factsFor(family: PassageFamily, f: WordFacts): string[] | undefined {
  const facts = family === 'definitions' ? f.senses.map((s) => s.gloss) : family === 'kinds' ? (f.kind !== undefined ? [f.kind] : []) : f.synonyms;
  return facts.length > 0 ? facts : undefined;
}

/** The family a question belongs to and its word (the knowledge families' prompt templates). */
function parseQuestion(question: string): { family: PassageFamily; word: string } | undefined {
  for (const family of PASSAGE_FAMILIES) {
    const word = FAMILY_TASKS[family].item?.(question);
    if (word !== undefined) return { family, word };
  }
  return undefined;
}

/** Does the passage hold the answer: name the word and state one of the facts? */
function holdsAnswer(text: string, word: string, facts: readonly string[]): boolean {
  const t = text.toLowerCase();
  return new RegExp(`(^|[^a-z'-])${escapeRegExp(word)}($|[^a-z'-])`).test(t) && facts.some((f) => t.includes(f.toLowerCase()));
}

/**
 * The answer, citing passage n, whose text is `passage` (an entry of the asked word): a
 * *quote* of the sentence of that passage that states the fact, from the asked word on —
 * "regret names sadness associated with some wrong done [1]." for "As a noun, regret names
 * sadness associated with some wrong done." — or the whole sentence when the fact comes
 * before the word ("One sort of feeling is a regret [1]."). The fact is the one the
 * passage states first: for definitions the first gloss, for kinds the hypernym, for
 * synonyms the "Words similar to w: …" sentence when the passage has one, else its first
 * other synonym sentence, else the first sentence naming a synonym (synonymRank).
 *
 * Why a quote and not the family's wording ("The word regret means …", the first format):
 * a quote is a verbatim span of the passage, so after its first token every next token is
 * the one that followed the current token in the passage — copying, the induction-head step
 * a 2-layer model learns within a few hundred steps (docs/journal/rag.md "Fourth attempt") — and the
 * first token is the asked word, copied from the question. The family's wording put the
 * fact after frame words the passage does not have ("means" for "names"), so the model had
 * to find where the gloss starts by a lookup several tokens away from any match; none of
 * four models learnt it (docs/journal/rag.md "Fifth attempt"). The quote still passes the families'
 * checkers (content-word F1 for definitions, the hypernym or a synonym named).
 */
function groundedAnswer(q: Question, passage: string, n: number): string {
  // the passage's sentences, as [start, end) spans (an entry joins them with ". ")
  const sentences = [...passage.matchAll(/[^ ].*?\.(?= |$)/g)].map((m) => ({ from: m.index, text: m[0].slice(0, -1) }));
  const quote = (text: string, factAt: number): string => {
    const word = new RegExp(`(^|[^A-Za-z'-])(${escapeRegExp(q.word)})($|[^A-Za-z'-])`, 'i').exec(text);
    const start = word !== null && word.index + word[1].length < factAt ? word.index + word[1].length : 0;
    return `${text.slice(start)} [${n}].`;
  };
  const ok = (answer: string): boolean => FAMILY_TASKS[q.family].check(q.prompt, stripCitations(answer));
  // the fact stated first (as a whole phrase) whose sentence, quoted, answers the question
  const found = (factsFor(q.family, q.facts) ?? [])
    .flatMap((fact) =>
      sentences
        .map((st) => ({ st, at: new RegExp(`(^|[^A-Za-z'-])${escapeRegExp(fact)}($|[^A-Za-z'-])`).exec(st.text) }))
        .filter((x) => x.at !== null)
        .map((x) => ({ ...x, pos: x.st.from + x.at!.index })),
    )
    .sort((a, b) => synonymRank(q.family, a.st.text) - synonymRank(q.family, b.st.text) || a.pos - b.pos)
    .map((x) => quote(x.st.text, x.at!.index))
    .find(ok);
  // (a fact the entry words differently: the first sentence whose quote the family's checker accepts)
  return found ?? sentences.map((st) => quote(st.text, st.text.length)).find(ok) ?? `${passage} [${n}].`;
}

/**
 * Which sentence a synonyms answer prefers (lower first): the dictionary's "Words similar to
 * w: …" list, then its other synonym sentences (dictionary.ts SYNONYM_TEMPLATES), then any
 * other sentence naming a synonym — a gloss often does ("to adopt is to choose and follow"),
 * and quoting it made the synonyms reference a definition, so the question's frame did not
 * name the sentence to quote (docs/journal/rag.md "Thirteenth attempt"). 0 for every sentence
 * of the other families (their order is the passage's).
 */
function synonymRank(family: PassageFamily, sentence: string): number {
  if (family !== 'synonyms') return 0;
  if (/^Words similar to /.test(sentence)) return 0;
  return / is close in meaning to |^People sometimes say .* where they mean | can mean the same$/.test(sentence) ? 1 : 2;
}

/** Share of unanswerable examples, in percent. */
const NO_ANSWER_PERCENT = 30;

function shuffle<T>(rng: Rng, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** Distractor entries for a word: others' entries that mention it first (shuffled), then random ones; `split`'s words only. */
function distractors(word: string, facts: readonly string[], count: number, split: Split, rng: Rng): number[] {
  const all = dictionaryEntries();
  // (an entry of another word that names this one and states its fact would answer it: not a distractor)
  const ok = (i: number): boolean => all[i].word !== word && splitOf(all[i].word) === split && !holdsAnswer(all[i].text, word, facts);
  const hard = shuffle(rng, (entryIndex().mentions.get(word) ?? []).filter(ok));
  const out: number[] = [];
  const used = new Set<string>();
  const take = (i: number): void => {
    if (out.length < count && !used.has(all[i].word)) {
      used.add(all[i].word);
      out.push(i);
    }
  };
  // most slots hard (when there are any), some random: retrieval returns both kinds
  for (const i of hard) if (rng.int(4) !== 0) take(i);
  for (let tries = 0; out.length < count && tries < 1000; tries++) {
    const i = rng.int(all.length);
    if (ok(i)) take(i);
  }
  return out;
}

interface Question {
  family: PassageFamily;
  word: string;
  prompt: string;
  facts: WordFacts;
}

/** Questions of the three families for `split` with the facts to answer them, interleaved. */
function questions(split: Split, n: number, seed: number): Question[] {
  const per = PASSAGE_FAMILIES.map((family) =>
    FAMILY_TASKS[family]
      .generate(split, n, seed)
      .map((ex) => {
        const word = FAMILY_TASKS[family].item?.(ex.prompt);
        const facts = word === undefined ? undefined : wordFacts(word);
        return word !== undefined && facts !== undefined && factsFor(family, facts) !== undefined ? { family, word, prompt: ex.prompt, facts } : undefined;
      })
      .filter((q): q is Question => q !== undefined),
  );
  const longest = Math.max(...per.map((list) => list.length));
  return Array.from({ length: longest }, (_, i) => per.map((list) => list[i]).filter((q): q is Question => q !== undefined)).flat();
}

/**
 * Check: the prompt's passages are re-read. When none of them names the word and states the
 * fact, the answer must say the passages don't say (saysNoAnswer). Otherwise it must not;
 * its claim (citations removed) must pass the question's own family checker; and it must
 * cite at least one passage, every number it cites must be a shown passage, and one of them
 * must hold the answer.
 */
function check(prompt: string, answer: string): boolean {
  const parsed = parsePassagePrompt(prompt);
  const q = parsed && parseQuestion(parsed.question);
  const f = q && wordFacts(q.word);
  const facts = q && f && factsFor(q.family, f);
  if (!parsed || !q || !facts) return false;
  const holding = parsed.passages.map((p, i) => (holdsAnswer(p.text, q.word, facts) ? i + 1 : 0)).filter((i) => i > 0);
  if (holding.length === 0) return saysNoAnswer(answer);
  if (saysNoAnswer(answer)) return false;
  const cited = citedNumbers(answer);
  if (cited.length === 0 || cited.some((n) => n < 1 || n > parsed.passages.length) || !cited.some((n) => holding.includes(n))) return false;
  return FAMILY_TASKS[q.family].check(parsed.question, stripCitations(answer));
}

/**
 * Does `text` hold the answer to a definitions, kinds or synonyms `question` (the families'
 * prompt templates): name the asked word and state one of its facts — this family's rule for a
 * passage that answers (so its checker wants an answer, not "the passages don't say")? False
 * when the question is not one of those families' or its word has no such facts. Another word's
 * entry can hold it ("Bang and slam can mean the same." in slam's): the effect measurement
 * removes those too when it asks for a refusal (rag/effect.ts).
 */
export function passageHoldsAnswer(question: string, text: string): boolean {
  const q = parseQuestion(question);
  const f = q && wordFacts(q.word);
  const facts = q && f && factsFor(q.family, f);
  return q !== undefined && facts !== undefined && holdsAnswer(text, q.word, facts);
}

/**
 * The replies this family would write for a passages prompt, one for each shown passage that
 * holds the answer (names the asked word and states one of the question's facts), in passage
 * order: `n` the passage's number (1-based), `reply` the quote {@link groundedAnswer} makes from
 * it, with its leading space (context.ts quotedReply). The family's own reference is the first;
 * `[]` when no passage holds the answer (the reference is then NO_ANSWER); undefined when the
 * prompt is not a passages prompt over a definitions, kinds or synonyms question with facts.
 * For the effect's error breakdown (rag/effect.ts diagnoseAnswer): which start and which copy
 * a retrieved prompt asks for.
 */
export function passagesReferences(prompt: string): { n: number; reply: string }[] | undefined {
  const parsed = parsePassagePrompt(prompt);
  const q = parsed && parseQuestion(parsed.question);
  const f = q && wordFacts(q.word);
  const facts = q && f && factsFor(q.family, f);
  if (!parsed || !q || !f || !facts) return undefined;
  const question: Question = { family: q.family, word: q.word, prompt: parsed.question, facts: f };
  return parsed.passages.flatMap((p, i) => (holdsAnswer(p.text, q.word, facts) ? [{ n: i + 1, reply: quotedReply(groundedAnswer(question, p.text, i + 1)) }] : []));
}

/** The entry question's template: "Which passage is the entry for regret?" (see {@link entryConversation}). */
export function entryQuestion(word: string): string {
  return `Which passage is the entry for ${word}?`;
}

/**
 * The "which passage is the asked word's entry?" task, made from a passages prompt: the same
 * passages, the question replaced by {@link entryQuestion} of its word, and the reply the
 * number of the first passage whose title is that word (" [2]."), or NO_ANSWER when no
 * passage is titled with it. It trains, alone, the decision the passages reply hinges on —
 * "is the asked word's entry shown?" — as a match of the question's word against the title
 * after each "[n]" (docs/journal/rag.md "Sixteenth attempt"). Its refusal is the family's own
 * sentence, so "no title matches" and "The passages don't say." are one reply in both tasks.
 * Undefined when the prompt is not a passages prompt over a definitions, kinds or synonyms
 * question.
 */
export function entryConversation(prompt: string): { messages: [{ role: 'user'; content: string }, { role: 'assistant'; content: string }] } | undefined {
  const parsed = parsePassagePrompt(prompt);
  const word = parsed && parseQuestion(parsed.question)?.word;
  if (!parsed || word === undefined) return undefined;
  const n = parsed.passages.findIndex((p) => p.title?.toLowerCase() === word.toLowerCase()) + 1;
  return {
    messages: [
      { role: 'user', content: passagePrompt(entryQuestion(word), parsed.passages) },
      { role: 'assistant', content: n > 0 ? quotedReply(`[${n}].`) : NO_ANSWER },
    ],
  };
}

/** The asked word of a passages prompt (the split item); undefined when it is not one. */
export function passagesItem(prompt: string): string | undefined {
  const parsed = parsePassagePrompt(prompt);
  return parsed && parseQuestion(parsed.question)?.word;
}

/** The question's prompt template (its family's) of a passages prompt, for per-phrasing breakdowns. */
export function passagesPhrasing(prompt: string): string | undefined {
  const question = parsePassagePrompt(prompt)?.question;
  const q = question === undefined ? undefined : parseQuestion(question);
  return q && matchTemplates(FAMILY_TASKS[q.family].prompts ?? [], question!)?.template;
}

/** The family as a SyntheticTask (tasks.ts lists it among the opt-in families). */
export function passagesTask(): SyntheticTask {
  return {
    name: 'passages',
    description: 'Answer a definitions, kinds or synonyms question from numbered dictionary passages, citing them as [1]; say "The passages don\'t say." when none holds the answer.',
    usesTool: false,
    generate,
    check,
  };
}

function generate(split: Split, n: number, seed: number): TaskExample[] {
  if (!Number.isInteger(n) || n < 0) throw new GptforgeError(`task "passages": example count must be a non-negative integer, got ${n}`);
  if (n === 0) return [];
  const rng = new Rng((seed ^ fnv1a('passages')) >>> 0);
  const all = dictionaryEntries();
  const pool = questions(split, n, seed);
  if (pool.length === 0) throw new GptforgeError('task "passages": no questions in this split');
  const out: TaskExample[] = [];
  for (let i = 0; i < n; i++) {
    const q = pool[i % pool.length];
    const k = rng.int(4) < 3 ? 2 : 3;
    const answerable = rng.int(100) >= NO_ANSWER_PERCENT;
    const own = answerable ? shuffle(rng, [...(entryIndex().own.get(q.word) ?? [])]).slice(0, rng.int(10) < 7 ? 1 : 2) : [];
    const facts = factsFor(q.family, q.facts)!;
    const slots = shuffle(rng, [...own.map((e) => ({ e, right: true })), ...distractors(q.word, facts, k - own.length, split, rng).map((e) => ({ e, right: false }))]);
    const shown: Passage[] = slots.map((s) => ({ text: all[s.e].text, source: entrySource(all[s.e]), title: all[s.e].word }));
    const first = slots.findIndex((s) => s.right);
    const reply = first >= 0 ? quotedReply(groundedAnswer(q, shown[first].text, first + 1)) : NO_ANSWER;
    const prompt = passagePrompt(q.prompt, shown);
    out.push({
      prompt,
      conversation: {
        messages: [
          { role: 'user', content: prompt },
          { role: 'assistant', content: reply },
        ],
      },
    });
  }
  return out;
}
