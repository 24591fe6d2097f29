import { dictionaryEntries, PASSAGE_FAMILIES, passageHoldsAnswer, passagesReferences } from '../data/synthetic/passages.js';
import { coreWords } from '../data/synthetic/words.js';
import { Rng } from '../engine/rng.js';
import { GptforgeError } from '../util/errors.js';
import { noGrad } from '../engine/tensor.js';
import type { GPT } from '../model/gpt.js';
import { taskByName, wordFacts, promptItem } from '../data/synthetic/tasks.js';
import { renderPrompt } from '../data/chat.js';
import type { Conversation } from '../data/conversation.js';
import { ChatEngine } from '../infer/engine.js';
import type { DecodingModel } from '../infer/pipeline.js';
import { distinctExamples } from '../eval/tasks.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { parsePassagePrompt, quotedReply, saysNoAnswer, stripCitations } from './context.js';
import { noteLines } from '../data/synthetic/lookup.js';
import { mqarDocuments, mqarPools } from '../data/synthetic/mqar.js';
import type { Split } from '../data/synthetic/task.js';
import { answerWithRetrieval, DICTIONARY_TITLES } from './generate.js';
import { documentsAsFile, indexIngestFile, storeMetaFor, type IndexOptions } from './indexer.js';
import { Retriever, type RetrieveOptions, type RetrievedChunk } from './retrieve.js';
import type { RelevanceCutoff } from './relevance.js';
import { RagStore } from './store.js';

/**
 * The effect of retrieval on the assistant (docs/rag.md "Generation with retrieval"): the
 * knowledge families' held-out questions (definitions, kinds, synonyms) answered by a chat
 * model three ways, greedy, each scored by the family's own checker:
 *
 * - without retrieval: the question alone (what `gptforge eval` measures);
 * - with retrieval: the top-k BM25 chunks of a store of the built-in dictionary, one entry a
 *   chunk, in the context block (answerWithRetrieval); correct = the claim (citations
 *   removed) passes the family's checker; "grounded" also needs a citation of a passage that
 *   holds the answer (the `passages` family's checker);
 * - passage removed: the same, with every entry of the asked word left out of the results
 *   (as if deleted from the store: the next-best chunks move up); correct = the answer says
 *   the passages don't say.
 */

/** The dictionary's entries indexed one per chunk (path "dictionary", line = the entry's number, as the passages family labels them); the store is flagged `titles: DICTIONARY_TITLES`, so its passages are headed by their entry's word. */
export function indexDictionaryEntries(store: RagStore, opts: IndexOptions = DICTIONARY_STORE_OPTIONS): number {
  const docs = dictionaryEntries().map((e) => ({ text: e.text, line: e.line }));
  const chunks = indexIngestFile(store, documentsAsFile('dictionary', docs), { ...opts, source: 'dictionary' }).chunks;
  // the store's chunks are titled by their entry's word (generate.ts passageTitle): a flag of this store, which indexing files never sets
  store.setInfo('titles', DICTIONARY_TITLES);
  return chunks;
}

/** BM25-only, chunks large enough that no entry is split (entries are ≤ ~100 tokens by the ≈4-characters count). */
export const DICTIONARY_STORE_OPTIONS: IndexOptions = { chunkSize: 160, chunkOverlap: 0 };

/** Open (creating and filling when empty) a store of the dictionary's entries. */
export function openDictionaryStore(path: string): RagStore {
  const store = RagStore.open(path, { meta: storeMetaFor(DICTIONARY_STORE_OPTIONS) });
  if (store.count() === 0) indexDictionaryEntries(store);
  return store;
}

/**
 * A retriever that never returns chunks `exclude` names: the store as if they had been deleted.
 * It asks `base` itself (not `base`'s store), so exclusions nest: an ExcludingRetriever over
 * another drops what either names (it used to drop only its own: rag-copy-corpus's refusals,
 * built over the test-split exclusion, showed test-split entries).
 */
export class ExcludingRetriever extends Retriever {
  constructor(
    private readonly base: Retriever,
    private readonly exclude: (c: RetrievedChunk) => boolean,
    private readonly spare = 16,
  ) {
    super(base.store, base.embedder, base.query);
  }
  override retrieve(query: string, opts: RetrieveOptions = {}): RetrievedChunk[] {
    const k = opts.k ?? 5;
    return this.base
      .retrieve(query, { ...opts, k: k + this.spare })
      .filter((c) => !this.exclude(c))
      .slice(0, k);
  }
}

export interface EffectCell {
  correct: number;
  total: number;
  accuracy: number;
}

export interface EffectRow {
  family: string;
  /** The question alone. */
  without: EffectCell;
  /** With the retrieved passages: the claim is right. */
  withRetrieval: EffectCell;
  /** With the passages: right, and cites a passage that holds the answer. */
  grounded: EffectCell;
  /** Questions whose top-k held one of the word's entries (retrieval's hit@k). */
  retrieved: EffectCell;
  /** The word's entries removed: the answer says the passages don't say. */
  removed: EffectCell;
  /**
   * Every chunk that holds the answer removed — the word's entries and any other word's entry
   * that names it and states the fact (passageHoldsAnswer): the answer says the passages don't
   * say. Where `removed` still showed such a passage (its cause `answerable`) the question is
   * asked again without it; elsewhere the two agree.
   */
  removedStrict: EffectCell;
  /** A few answers for the report: question, answer without, with, and with the passage removed. */
  examples: { prompt: string; without: string; with: string; removed: string }[];
  /** Why each with-retrieval answer was right or wrong (diagnoseAnswer), counted. */
  causes: Record<AnswerCause, number>;
  /** Why each answer with the entry removed was a refusal or not (diagnoseRemoved), counted. */
  removedCauses: Record<RemovedCause, number>;
  /** Every question's two retrieved prompts, replies and diagnoses, when `EffectOptions.keepAnswers` is set. */
  answers?: EffectAnswer[];
}

/** One question of measureEffect, kept for a dump (bench/rag-effect.ts --dump). */
export interface EffectAnswer {
  family: string;
  question: string;
  withPrompt: string;
  with: string;
  diagnosis: AnswerDiagnosis;
  removedPrompt: string;
  removed: string;
  removedCause: RemovedCause;
}

/**
 * Why a with-retrieval answer failed, in the order the reading chain has to get it right
 * (docs/journal/rag.md "Eleventh attempt"):
 * - `right`: the family's checker passed it;
 * - `not-retrieved`: no shown passage holds the answer (retrieval's miss; no reading helps);
 * - `refused`: "the passages don't say" although a shown passage holds it;
 * - `distractor`: the reply copies a passage that does not hold the answer (its longest run of
 *   words shared with a non-holding passage is longer than with every holding one) — the wrong
 *   passage chosen;
 * - `first-token`: the reply's first token is not the first token of any reference quote (the
 *   family's quote of a holding passage) — the start of the quote not found;
 * - `diverged`: it starts as a reference does but leaves it before the end — a broken copy
 *   (`matched` says after how many tokens).
 */
export type AnswerCause = 'right' | 'not-retrieved' | 'refused' | 'distractor' | 'first-token' | 'diverged';
export const ANSWER_CAUSES: readonly AnswerCause[] = ['right', 'not-retrieved', 'refused', 'distractor', 'first-token', 'diverged'];

/**
 * Why an answer with the asked word's entries removed was or was not a refusal:
 * - `refused`: the model says the passages don't say (right);
 * - `empty`: nothing was left to show — none retrieved, none fit, or none passed the relevance
 *   cutoff (`EffectOptions.minScore`) — and the reply is NO_ANSWER without the model
 *   (answerWithRetrieval's `emptyContext: 'no-answer'`, the default; right);
 * - `answerable`: another word's shown passage names the word and states the fact, so an
 *   answer may be right (the measurement still counts only refusals);
 * - `no-passages`: nothing was left to show (BM25 matched only the word's own entries), and
 *   the model, asked the bare question (`emptyContext: 'generate'`), answered it — a layout the
 *   passages family never trains;
 * - `distractor`: it copies a run of ≥ 3 words from a shown passage — an answer read off a
 *   passage that does not hold it;
 * - `other`: anything else (made up, or a copy of the question).
 */
export type RemovedCause = 'refused' | 'empty' | 'answerable' | 'no-passages' | 'distractor' | 'other';
export const REMOVED_CAUSES: readonly RemovedCause[] = ['refused', 'empty', 'answerable', 'no-passages', 'distractor', 'other'];

export interface AnswerDiagnosis {
  cause: AnswerCause;
  /** Tokens of the reply that equal the best-matching reference quote's, from its start (0 when none holds the answer). */
  matched: number;
  /** That reference quote's length in tokens (0 when none). */
  length: number;
  /** The 1-based number of the passage the reply copies most from (its longest shared run of words), 0 when it shares none. */
  source: number;
}

const wordList = (text: string): string[] =>
  stripCitations(text)
    .toLowerCase()
    .match(/[a-z0-9][a-z0-9'-]*/g) ?? [];

/** The longest run of consecutive words `a` and `b` share. */
function longestSharedRun(a: readonly string[], b: readonly string[]): number {
  let best = 0;
  let prev = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    const cur = new Array<number>(b.length + 1).fill(0);
    for (let j = 1; j <= b.length; j++)
      if (a[i - 1] === b[j - 1]) {
        cur[j] = prev[j - 1] + 1;
        if (cur[j] > best) best = cur[j];
      }
    prev = cur;
  }
  return best;
}

/** The passage (1-based) the reply shares its longest run of words with, and that run's length; 0, 0 when none. */
function copySource(passages: readonly { text: string }[], reply: string): { n: number; run: number } {
  const r = wordList(reply);
  let best = { n: 0, run: 0 };
  passages.forEach((p, i) => {
    const run = longestSharedRun(r, wordList(p.text));
    if (run > best.run) best = { n: i + 1, run };
  });
  return best;
}

/**
 * Diagnose a with-retrieval answer (see {@link AnswerCause}): `prompt` is the passages prompt
 * the model was given (answerWithRetrieval's), `reply` its answer, `correct` the family
 * checker's verdict. Reference quotes are the `passages` family's (passagesReferences), token
 * by token under `tok`, the reply taken with one leading space as the family writes it.
 *
 * @throws GptforgeError when `prompt` is not a passages prompt over a knowledge question.
 */
export function diagnoseAnswer(tok: Tokenizer, prompt: string, reply: string, correct: boolean): AnswerDiagnosis {
  const refs = passagesReferences(prompt);
  const parsed = parsePassagePrompt(prompt);
  if (refs === undefined || parsed === undefined) throw new GptforgeError('diagnoseAnswer: not a passages prompt over a definitions, kinds or synonyms question');
  const enc = (s: string): number[] => tok.encode(s, { disallowedSpecial: 'plain' });
  const ids = enc(quotedReply(reply));
  let matched = 0;
  let length = 0;
  for (const r of refs) {
    const ref = enc(r.reply);
    let m = 0;
    while (m < ref.length && m < ids.length && ref[m] === ids[m]) m++;
    if (m > matched || length === 0) {
      matched = m;
      length = ref.length;
    }
  }
  const src = copySource(parsed.passages, reply);
  const holding = new Set(refs.map((r) => r.n));
  const base = { matched, length, source: src.n };
  if (correct) return { cause: 'right', ...base };
  if (refs.length === 0) return { cause: 'not-retrieved', ...base };
  if (saysNoAnswer(reply)) return { cause: 'refused', ...base };
  // the wrong passage: the reply's longest copy is from one that does not hold the answer (ties go to a holding one)
  if (src.n > 0 && !holding.has(src.n)) {
    const fromHolding = Math.max(0, ...parsed.passages.map((p, i) => (holding.has(i + 1) ? longestSharedRun(wordList(reply), wordList(p.text)) : 0)));
    if (src.run > fromHolding) return { cause: 'distractor', ...base };
  }
  return { cause: matched === 0 ? 'first-token' : 'diverged', ...base };
}

/**
 * Diagnose an answer given with the asked word's entries removed (see {@link RemovedCause}).
 * `generated` is answerWithRetrieval's: false when no passage was shown and the reply was
 * NO_ANSWER without the model.
 */
export function diagnoseRemoved(prompt: string, reply: string, generated = true): RemovedCause {
  if (!generated) return 'empty';
  if (saysNoAnswer(reply)) return 'refused';
  const refs = passagesReferences(prompt);
  if (refs !== undefined && refs.length > 0) return 'answerable';
  const parsed = parsePassagePrompt(prompt);
  if (parsed === undefined || parsed.passages.length === 0) return 'no-passages';
  return copySource(parsed.passages, reply).run >= 3 ? 'distractor' : 'other';
}

export interface EffectOptions {
  /** Held-out questions per family (default 50). */
  perFamily?: number;
  /** Passages per question (default 3; fewer when they do not fit). */
  k?: number;
  /** Longest answer in tokens (default 48). */
  maxTokens?: number;
  /** Drop the question-frame words from the BM25 queries (store.ts QueryOptions; default false — bench/rag-effect.ts turns it on). */
  dropFrameWords?: boolean;
  seed?: number;
  /** Keep every question's prompts, replies and diagnoses in `EffectRow.answers` (default false). */
  keepAnswers?: boolean;
  /** When no passage is left to show: NO_ANSWER without the model (`'no-answer'`, the default) or the model's answer to the bare question (`'generate'`, the measurement before the twelfth attempt). */
  emptyContext?: 'no-answer' | 'generate';
  /** The relevance cutoff (answerWithRetrieval's `minScore`; default none: the model decides whether a passage answers). */
  minScore?: RelevanceCutoff;
  /** answerWithRetrieval's `refusal` (default 'model'; 'cutoff' needs `minScore` and `extractive`). */
  refusal?: 'model' | 'cutoff';
  /** Replies with retrieval under extractive decoding (answerWithRetrieval's `extractive`; default false): its own measurement, not the model's unconstrained one. */
  extractive?: boolean;
  onAnswer?(done: number, total: number): void;
}

const cell = (correct: number, total: number): EffectCell => ({ correct, total, accuracy: total > 0 ? correct / total : 0 });

/** Measure the three conditions on each knowledge family (greedy decoding; deterministic). */
export function measureEffect(model: DecodingModel, tok: Tokenizer, store: RagStore, opts: EffectOptions = {}): EffectRow[] {
  const engine = new ChatEngine(model, tok);
  const retriever = new Retriever(store, undefined, { dropFrameWords: opts.dropFrameWords ?? false });
  const passages = taskByName('passages');
  const entryLines = new Map(dictionaryEntries().map((e) => [e.line, e.word]));
  const isEntryOf = (word: string) => (c: RetrievedChunk) => c.path === 'dictionary' && c.line !== undefined && entryLines.get(c.line) === word;
  const k = opts.k ?? 3;
  const maxTokens = opts.maxTokens ?? 48;
  const emptyContext = opts.emptyContext ?? 'no-answer';
  const extractive = opts.extractive ?? false;
  const per = opts.perFamily ?? 50;
  const seed = opts.seed ?? 2024;
  const total = PASSAGE_FAMILIES.length * per;
  let done = 0;
  return PASSAGE_FAMILIES.map((family) => {
    const task = taskByName(family);
    const counts = { without: 0, with: 0, grounded: 0, retrieved: 0, removed: 0, removedStrict: 0, n: 0 };
    const examples: EffectRow['examples'] = [];
    const causes = Object.fromEntries(ANSWER_CAUSES.map((c) => [c, 0])) as Record<AnswerCause, number>;
    const removedCauses = Object.fromEntries(REMOVED_CAUSES.map((c) => [c, 0])) as Record<RemovedCause, number>;
    const answers: EffectAnswer[] = [];
    for (const ex of distinctExamples(task, per, seed)) {
      const word = promptItem(family, ex.prompt);
      if (word === undefined || wordFacts(word) === undefined) continue;
      counts.n++;
      const bare = engine.reply({ messages: [{ role: 'user', content: ex.prompt }] }, { temperature: 0, maxTokens }).text;
      if (task.check(ex.prompt, bare)) counts.without++;
      const a = answerWithRetrieval(engine, retriever, ex.prompt, { k, temperature: 0, maxTokens, emptyContext, extractive, minScore: opts.minScore, refusal: opts.refusal });
      if (a.passages.some(isEntryOf(word))) counts.retrieved++;
      const right = !saysNoAnswer(a.text) && task.check(ex.prompt, stripCitations(a.text));
      if (right) counts.with++;
      if (passages.check(a.prompt, a.text) && a.passages.some(isEntryOf(word))) counts.grounded++;
      // no passage shown: nothing to diagnose in the reading (diagnoseAnswer needs a passages prompt)
      const diagnosis: AnswerDiagnosis = a.passages.length === 0 ? { cause: right ? 'right' : 'not-retrieved', matched: 0, length: 0, source: 0 } : diagnoseAnswer(tok, a.prompt, a.text, right);
      causes[diagnosis.cause]++;
      const r = answerWithRetrieval(engine, new ExcludingRetriever(retriever, isEntryOf(word)), ex.prompt, { k, temperature: 0, maxTokens, emptyContext, extractive, minScore: opts.minScore, refusal: opts.refusal });
      if (saysNoAnswer(r.text)) counts.removed++;
      const removedCause = diagnoseRemoved(r.prompt, r.text, r.generated);
      removedCauses[removedCause]++;
      let strict = saysNoAnswer(r.text);
      if (removedCause === 'answerable' || (removedCause === 'refused' && (passagesReferences(r.prompt)?.length ?? 0) > 0)) {
        const holds = (c: RetrievedChunk): boolean => isEntryOf(word)(c) || passageHoldsAnswer(ex.prompt, c.text);
        strict = saysNoAnswer(answerWithRetrieval(engine, new ExcludingRetriever(retriever, holds), ex.prompt, { k, temperature: 0, maxTokens, emptyContext, extractive, minScore: opts.minScore, refusal: opts.refusal }).text);
      }
      if (strict) counts.removedStrict++;
      if (opts.keepAnswers) answers.push({ family, question: ex.prompt, withPrompt: a.prompt, with: a.text, diagnosis, removedPrompt: r.prompt, removed: r.text, removedCause });
      if (examples.length < 3) examples.push({ prompt: ex.prompt, without: bare, with: a.text, removed: r.text });
      opts.onAnswer?.(++done, total);
    }
    return {
      family,
      without: cell(counts.without, counts.n),
      withRetrieval: cell(counts.with, counts.n),
      grounded: cell(counts.grounded, counts.n),
      retrieved: cell(counts.retrieved, counts.n),
      removed: cell(counts.removed, counts.n),
      removedStrict: cell(counts.removedStrict, counts.n),
      examples,
      causes,
      removedCauses,
      ...(opts.keepAnswers ? { answers } : {}),
    };
  });
}

/**
 * The `passages` family's held-out accuracy (passages chosen by the generator, not
 * retrieved): n distinct test prompts, greedy, scored by the family's checker. Prompts
 * that do not fit the context with `maxTokens` of room are left out and counted. `task`
 * names another family in the same layout (`lookup`, the key → value probe of docs/journal/rag.md
 * "Fifth attempt"); `answerable` and `unanswerable` split the count by whether the reference
 * reply is NO_ANSWER.
 */
export function measurePassagesFamily(model: DecodingModel, tok: Tokenizer, n: number, opts: { maxTokens?: number; seed?: number; task?: string } = {}): EffectCell & { tooLong: number; answerable: EffectCell; unanswerable: EffectCell; samples: { prompt: string; reference: string; reply: string }[] } {
  const engine = new ChatEngine(model, tok);
  const task = taskByName(opts.task ?? 'passages');
  const maxTokens = opts.maxTokens ?? 48;
  const room = Math.min(maxTokens, Math.floor(model.config.blockSize / 2));
  const counts = { ok: 0, n: 0, okA: 0, nA: 0, okU: 0, nU: 0 };
  let tooLong = 0;
  const samples: { prompt: string; reference: string; reply: string }[] = [];
  for (const ex of distinctExamples(task, n, opts.seed ?? 2024)) {
    const conv = { messages: [{ role: 'user' as const, content: ex.prompt }] };
    if (renderPrompt(tok, conv).length + room > model.config.blockSize) {
      tooLong++;
      continue;
    }
    const reference = ex.conversation.messages.find((m) => m.role === 'assistant')?.content ?? '';
    const reply = engine.reply(conv, { temperature: 0, maxTokens }).text;
    const ok = task.check(ex.prompt, reply);
    const unanswerable = saysNoAnswer(reference);
    counts.n++;
    counts.ok += ok ? 1 : 0;
    counts[unanswerable ? 'nU' : 'nA']++;
    if (ok) counts[unanswerable ? 'okU' : 'okA']++;
    if (samples.length < 6) samples.push({ prompt: ex.prompt, reference, reply });
  }
  return { ...cell(counts.ok, counts.n), tooLong, answerable: cell(counts.okA, counts.nA), unanswerable: cell(counts.okU, counts.nU), samples };
}

/** The rows as a markdown table, with an "all" row (counts summed). */
export function effectMarkdown(rows: readonly EffectRow[]): string {
  const pct = (c: EffectCell): string => `${(100 * c.accuracy).toFixed(0)}% (${c.correct}/${c.total})`;
  const sum = (f: (r: EffectRow) => EffectCell): EffectCell =>
    cell(
      rows.reduce((n, r) => n + f(r).correct, 0),
      rows.reduce((n, r) => n + f(r).total, 0),
    );
  const all: Pick<EffectRow, 'family' | 'without' | 'withRetrieval' | 'grounded' | 'retrieved' | 'removed' | 'removedStrict'> = {
    family: '**all**',
    without: sum((r) => r.without),
    withRetrieval: sum((r) => r.withRetrieval),
    grounded: sum((r) => r.grounded),
    retrieved: sum((r) => r.retrieved),
    removed: sum((r) => r.removed),
    removedStrict: sum((r) => r.removedStrict),
  };
  const lines = ['| held-out family | without retrieval | with retrieval | … and cites a right passage | entry retrieved (hit@k) | entry removed → "the passages don\'t say" | every passage holding the answer removed → "don\'t say" |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |'];
  for (const r of [...rows, all]) lines.push(`| ${r.family} | ${pct(r.without)} | ${pct(r.withRetrieval)} | ${pct(r.grounded)} | ${pct(r.retrieved)} | ${pct(r.removed)} | ${pct(r.removedStrict)} |`);
  return lines.join('\n');
}

/**
 * The diagnoses as a markdown table: per family (and all), how many with-retrieval answers had
 * each cause and, with the entry removed, how many were refusals or answers from a distractor;
 * then the broken copies' reach (matched / reference tokens, median).
 */
export function effectCausesMarkdown(rows: readonly EffectRow[], answers?: readonly EffectAnswer[]): string {
  const lines = [`| held-out family | ${ANSWER_CAUSES.map((c) => `with: ${c}`).join(' | ')} | ${REMOVED_CAUSES.map((c) => `removed: ${c}`).join(' | ')} |`, `| --- |${' ---: |'.repeat(ANSWER_CAUSES.length + REMOVED_CAUSES.length)}`];
  const all = { family: '**all**', causes: Object.fromEntries(ANSWER_CAUSES.map((c) => [c, rows.reduce((n, r) => n + r.causes[c], 0)])) as Record<AnswerCause, number>, removedCauses: Object.fromEntries(REMOVED_CAUSES.map((c) => [c, rows.reduce((n, r) => n + r.removedCauses[c], 0)])) as Record<RemovedCause, number> };
  for (const r of [...rows, all]) lines.push(`| ${r.family} | ${ANSWER_CAUSES.map((c) => r.causes[c]).join(' | ')} | ${REMOVED_CAUSES.map((c) => r.removedCauses[c]).join(' | ')} |`);
  const diverged = (answers ?? []).filter((a) => a.diagnosis.cause === 'diverged').map((a) => a.diagnosis.matched / Math.max(1, a.diagnosis.length));
  if (diverged.length > 0) {
    diverged.sort((x, y) => x - y);
    lines.push('', `broken copies (${diverged.length}): the reply follows the reference quote for a median ${(100 * diverged[Math.floor(diverged.length / 2)]).toFixed(0)}% of its tokens before leaving it`);
  }
  return lines.join('\n');
}

/** The copy (induction) probe's result: mean next-token loss, nats, on each saying of the word lists. */
export interface CopyProbe {
  /** Loss on the first saying (only the vocabulary's statistics help). */
  first: number;
  /** Loss on the second saying, after "Again:" (copying the first saying can make it ≈ 0). */
  repeat: number;
  lists: number;
}

/**
 * Can the model copy from its context? Olsson et al. 2022's induction test in words: `n`
 * lists of 12–40 core words drawn at random, then the same list again ("Words: … .\nAgain: …
 * ."); the loss on the second saying falls far below the first's only when the model finds
 * the earlier occurrence of the current word and copies the next one (an induction head).
 * A model that reads its passages must pass this; one whose repeat loss ≈ first loss cannot
 * answer from retrieved text however good the retrieval. Lists too long for the context are
 * cut to fit. Deterministic (seeded draws). `lengths` sets the list lengths in words (default 12–40):
 * short lists (4–12) are copied first as an induction head forms, so they show the onset a
 * checkpoint or two before the standard lengths do (docs/journal/rag.md "Third attempt"). `prefix`
 * sets what precedes each list: nothing (`none`, the default), `<|bos|>` (`bos`), or a whole
 * earlier document — `<|bos|>` + a held-out `passages` prompt (≤ 100 tokens) + `<|eos|>`, then
 * `<|bos|>` and the list (`document`), as pretraining packs its documents. Only the list's tokens
 * are scored. A model can copy in a packed window and not at position 0: rag-copy4 repeats 4–12-word
 * lists at 0.86 nats after a document, 4.52 after `<|bos|>` alone (docs/journal/rag.md "Fourth attempt").
 *
 * @throws GptforgeError when `lengths` is not a range of whole numbers 1 ≤ min ≤ max.
 */
export function copyProbe(model: Pick<GPT, 'forward' | 'config'>, tok: Tokenizer, n = 30, seed = 99, lengths: { min: number; max: number } = { min: 12, max: 40 }, prefix: 'none' | 'bos' | 'document' = 'none'): CopyProbe {
  if (!(Number.isInteger(lengths.min) && Number.isInteger(lengths.max) && lengths.min >= 1 && lengths.max >= lengths.min)) throw new GptforgeError(`copyProbe: list lengths must be whole numbers with 1 ≤ min ≤ max, got ${lengths.min}…${lengths.max}`, { field: 'lengths' });
  const rng = new Rng(seed);
  const vocab = [...coreWords()].sort();
  const bosId = prefix === 'none' ? -1 : tok.specialId('<|bos|>');
  const docs = prefix === 'document' ? taskByName('passages').generate('test', n, seed) : [];
  let a = 0;
  let na = 0;
  let b = 0;
  let nb = 0;
  noGrad(() => {
    for (let i = 0; i < n; i++) {
      let len = lengths.min + rng.int(lengths.max - lengths.min + 1);
      let words = Array.from({ length: len }, () => vocab[rng.int(vocab.length)]);
      const before = prefix === 'document' ? [bosId, ...tok.encode(docs[i].prompt, { disallowedSpecial: 'plain' }).slice(0, 100), tok.specialId('<|eos|>'), bosId] : prefix === 'bos' ? [bosId] : [];
      const encode = (): { ids: number[]; first: number } => {
        const head = [...before, ...tok.encode(`Words: ${words.join(' ')}.\nAgain:`, { disallowedSpecial: 'plain' })];
        return { ids: [...head, ...tok.encode(` ${words.join(' ')}.`, { disallowedSpecial: 'plain' })], first: head.length };
      };
      let s = encode();
      while (s.ids.length > model.config.blockSize && len > 2) {
        len--;
        words = words.slice(0, len);
        s = encode();
      }
      const T = s.ids.length;
      const V = model.config.vocabSize;
      const logits = model.forward(Int32Array.from(s.ids), 1, T).data;
      for (let t = Math.max(1, before.length); t < T; t++) {
        const row = logits.subarray((t - 1) * V, t * V);
        let m = -Infinity;
        for (const x of row) m = Math.max(m, x);
        let z = 0;
        for (const x of row) z += Math.exp(x - m);
        const nll = -(row[s.ids[t]] - m - Math.log(z));
        if (t < s.first) {
          a += nll;
          na++;
        } else {
          b += nll;
          nb++;
        }
      }
    }
  });
  return { first: a / na, repeat: b / nb, lists: n };
}

/** The lookup probe's result: per part of the reply, how often the model's top token is the reference's (teacher-forced) and its mean loss. */
export interface LookupProbe {
  /** The key's tokens, the reply's first: copied from the question (and found among the notes). */
  key: { accuracy: number; loss: number; tokens: number };
  /** The value's tokens, after the reference key and ":": copied from the key's line. */
  value: { accuracy: number; loss: number; tokens: number };
  /** The value's first token alone: the lookup proper (the token after "key:" in the notes). */
  valueFirst: { accuracy: number; loss: number; tokens: number };
  /** The value's later tokens: each follows the previous one in the notes (plain induction). */
  valueRest: { accuracy: number; loss: number; tokens: number };
  /** The value's first token when another key of the notes is given first ("other: …"): a model that looks the key up predicts the other key's value here and scores far lower than `valueFirst`; one that guesses values from their statistics scores the same. (Later tokens are not compared: once a value has begun, copying continues it whatever the key.) */
  valueWrongKey: { accuracy: number; loss: number; tokens: number };
  examples: number;
}

/**
 * Teacher-forced scoring of `ids[t]` at each position t of `at` (t ≥ 1) by one forward of
 * `ids`: adds to `into` [top-1 hits, summed −log p, count].
 */
function scoreTargets(model: Pick<GPT, 'config' | 'forward'>, ids: readonly number[], at: readonly number[], into: number[]): void {
  const V = model.config.vocabSize;
  const logits = model.forward(Int32Array.from(ids), 1, ids.length).data;
  for (const t of at) {
    const row = logits.subarray((t - 1) * V, t * V);
    let m = -Infinity;
    let best = 0;
    for (let v = 0; v < V; v++)
      if (row[v] > m) {
        m = row[v];
        best = v;
      }
    let z = 0;
    for (const x of row) z += Math.exp(x - m);
    into[0] += best === ids[t] ? 1 : 0;
    into[1] += -(row[ids[t]] - m - Math.log(z));
    into[2]++;
  }
}

/**
 * Can the model look a key up? The `lookup` family's held-out answerable prompts, the
 * reference reply fed in (teacher forcing), and at each reply token whether the model's
 * top prediction is the reference token: on the key's tokens (the reply's start — the key
 * copied from the question) and on the value's tokens (after "key:" — found by matching the
 * key in the notes and copying what follows it). A control feeds another key of the notes
 * first and scores the asked key's value's first token: looking up by key makes its accuracy
 * fall there, a model that guesses values from their statistics scores the same. `form`: `text`
 * is pretraining's document form (`<|bos|>` prompt `\nAnswer:` reply); `chat` the chat
 * layout SFT trains. Deterministic (the family's seeded generator). Separates "cannot
 * find the key" from "cannot copy the value" (docs/journal/rag.md "Fifth attempt").
 */
export function lookupProbe(model: Pick<GPT, 'forward' | 'config'>, tok: Tokenizer, n = 100, seed = 2024, form: 'text' | 'chat' = 'text'): LookupProbe {
  const task = taskByName('lookup');
  const sums = { key: [0, 0, 0], valueFirst: [0, 0, 0], valueRest: [0, 0, 0], valueWrongKey: [0, 0, 0] };
  let examples = 0;
  const head = (prompt: string): number[] => (form === 'chat' ? renderPrompt(tok, { messages: [{ role: 'user', content: prompt }] }) : [tok.specialId('<|bos|>'), ...tok.encode(`${prompt}\nAnswer:`, { disallowedSpecial: 'plain' })]);
  // the reply's tokens after the head: after "Answer:" and a space in text form, and in chat form
  // as the family writes it, with a leading space (context.ts quotedReply)
  const reply = (text: string): number[] => tok.encode(` ${text}`, { disallowedSpecial: 'plain' });
  const score = (ids: number[], from: number, to: number, into: number[]): void =>
    scoreTargets(
      model,
      ids,
      Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i),
      into,
    );
  noGrad(() => {
    for (const ex of distinctExamples(task, n, seed)) {
      const answer = ex.conversation.messages[1].content.trim();
      const m = /^([a-z]+): (.*) \[\d+\]\.$/.exec(answer);
      if (!m) continue; // "the passages don't say"
      const [, key, value] = m;
      const other = (parsePassagePrompt(ex.prompt)?.passages ?? []).flatMap((p) => noteLines(p.text)).find((l) => l.key !== key)?.key;
      const h = head(ex.prompt);
      const withKey = reply(`${key}:`);
      const ids = [...h, ...reply(`${key}: ${value}`)];
      if (ids.length > model.config.blockSize || other === undefined) continue;
      examples++;
      score(ids, h.length, h.length + withKey.length - 1, sums.key);
      score(ids, h.length + withKey.length, h.length + withKey.length + 1, sums.valueFirst);
      score(ids, h.length + withKey.length + 1, ids.length, sums.valueRest);
      const wrongHead = [...h, ...reply(`${other}:`)];
      const wrong = [...h, ...reply(`${other}: ${value}`)];
      if (wrong.length <= model.config.blockSize) score(wrong, wrongHead.length, wrongHead.length + 1, sums.valueWrongKey);
    }
  });
  const part = (s: number[]): { accuracy: number; loss: number; tokens: number } => ({ accuracy: s[2] > 0 ? s[0] / s[2] : 0, loss: s[2] > 0 ? s[1] / s[2] : 0, tokens: s[2] });
  const value = sums.valueFirst.map((x, i) => x + sums.valueRest[i]);
  return { key: part(sums.key), value: part(value), valueFirst: part(sums.valueFirst), valueRest: part(sums.valueRest), valueWrongKey: part(sums.valueWrongKey), examples };
}

/** The request after the pair list in MQAR's chat form (`bench/rag-copy-corpus.ts --kind mqar --format chat`). */
export const MQAR_CHAT_ASK = 'Say each again with its pair.';

/**
 * An MQAR document (`Pairs: … .\nQueries: … .`) as the SFT conversation `bench/rag-copy-corpus.ts
 * --kind mqar --format chat` writes: the pair list and {@link MQAR_CHAT_ASK} as the user's
 * message, the queries (each key, then its value) as the reply, with a leading space
 * (`quotedReply`) so the reply's first key is the same token as in the list.
 */
export function mqarConversation(text: string): Conversation {
  const at = text.indexOf('\nQueries: ');
  if (at < 0) throw new GptforgeError('mqarConversation: not an MQAR document (no "\\nQueries: ")');
  return {
    messages: [
      { role: 'user', content: `${text.slice(0, at)}\n${MQAR_CHAT_ASK}` },
      { role: 'assistant', content: quotedReply(text.slice(at + '\nQueries: '.length)) },
    ],
  };
}

/** The token ids of {@link mqarConversation}(text), as SFT renders it, without the closing `<|assistant_end|>`. */
function mqarChatIds(tok: Tokenizer, text: string): number[] {
  const c = mqarConversation(text);
  return [...renderPrompt(tok, { messages: [c.messages[0]] }), ...tok.encode(c.messages[1].content, { disallowedSpecial: 'plain' })];
}

/** The MQAR probe's result (teacher-forced top-1 accuracy and mean loss, nats, per part). */
export interface MqarProbe {
  /** The queried values: each predicted right after its key is asked again (the lookup). */
  value: { accuracy: number; loss: number; tokens: number };
  /** The control: each query with its key swapped for another pair's (whose value differs), scored on the original value — a model that looks the key up predicts the other pair's value and scores ≈ 0; one that guesses values from their statistics scores as on `value`. */
  wrongKey: { accuracy: number; loss: number; tokens: number };
  /** The values in the pair list: unpredictable (random), so ≈ chance — the floor the lookup must rise above. */
  listValue: { accuracy: number; loss: number; tokens: number };
  /** Chance of guessing a value from the pool: 1 / the number of value words. */
  chance: number;
  documents: number;
}

/**
 * Does the model look keys up? Multi-query associative recall (data/synthetic/mqar.ts; Zoology's
 * MQAR) over one-token words of `split` under `tok`: `n` documents of `pairs` pairs and
 * `queries` queries, teacher-forced. `form`: `text` is pretraining's document form (`<|bos|>`
 * first, as pretraining packs them); `chat` the conversation `bench/rag-copy-corpus.ts --kind
 * mqar --format chat` writes for SFT (the pair list and "Say each again with its pair." in the
 * user turn, the queries as the reply, with its leading space). The lookup has formed when
 * `value` is far above `wrongKey` and `listValue` (docs/journal/rag.md "Sixth attempt", "Ninth
 * attempt"). Deterministic (seeded documents).
 *
 * @throws GptforgeError when the split has too few one-token words for `pairs`.
 */
export function mqarProbe(model: Pick<GPT, 'forward' | 'config'>, tok: Tokenizer, opts: { n?: number; seed?: number; split?: Split; pairs?: number; queries?: number; sep?: string; form?: 'text' | 'chat' } = {}): MqarProbe {
  const { n = 50, seed = 7, split = 'test', sep = '', form = 'text' } = opts;
  const pools = mqarPools(split, (w) => tok.encode(` ${w}`).length === 1);
  const pairs = Math.min(opts.pairs ?? 12, pools.keys.length);
  const queries = Math.min(opts.queries ?? pairs, pairs);
  const enc = (s: string): number[] => tok.encode(s, { disallowedSpecial: 'plain' });
  const one = (w: string): number => enc(` ${w}`)[0];
  const sums = { value: [0, 0, 0], wrongKey: [0, 0, 0], listValue: [0, 0, 0] };
  const score = (ids: number[], at: readonly number[], into: number[]): void => scoreTargets(model, ids, at, into);
  const docs = mqarDocuments(split, n, seed, pools, pairs, queries, sep);
  let documents = 0;
  noGrad(() => {
    docs.forEach((d, di) => {
      // built piece by piece (each piece a whole pre-token, so the result equals encoding the text) to know where each value sits
      const ids = form === 'chat' ? [tok.specialId('<|bos|>'), tok.specialId('<|user_start|>'), ...enc('Pairs:')] : [tok.specialId('<|bos|>'), ...enc('Pairs:')];
      const listAt: number[] = [];
      const queryAt: number[] = [];
      const queryKeyAt: number[] = [];
      const say = (i: number, at: number[], keyAt?: number[]): void => {
        keyAt?.push(ids.length);
        ids.push(...enc(` ${d.pairs[i].key}${sep}`));
        at.push(ids.length);
        ids.push(one(d.pairs[i].value));
      };
      d.pairs.forEach((_, i) => {
        if (i > 0 && sep !== '') ids.push(...enc(','));
        say(i, listAt);
      });
      if (form === 'chat') ids.push(...enc(`.\n${MQAR_CHAT_ASK}`), tok.specialId('<|user_end|>'), tok.specialId('<|assistant_start|>'));
      else ids.push(...enc('.\nQueries:'));
      d.queries.forEach((qi, j) => {
        if (j > 0 && sep !== '') ids.push(...enc(','));
        say(qi, queryAt, queryKeyAt);
      });
      ids.push(...enc('.'));
      if (ids.length > model.config.blockSize) return;
      const whole = form === 'chat' ? mqarChatIds(tok, d.text) : [tok.specialId('<|bos|>'), ...enc(d.text)];
      if (ids.join() !== whole.join()) throw new GptforgeError('mqarProbe: the pieces do not encode as the whole document does (a tokenizer whose merges cross word boundaries?)');
      documents++;
      score(ids, queryAt, sums.value);
      score(ids, listAt, sums.listValue);
      // the control: each query in turn with its key swapped for another pair's key whose value differs (one forward each)
      d.queries.forEach((qi, j) => {
        const own = d.pairs[qi];
        const others = d.pairs.filter((p) => p.value !== own.value);
        if (others.length === 0) return;
        const swapped = [...ids];
        swapped[queryKeyAt[j]] = one(others[(di + j) % others.length].key);
        score(swapped, [queryAt[j]], sums.wrongKey);
      });
    });
  });
  const part = (s: number[]): { accuracy: number; loss: number; tokens: number } => ({ accuracy: s[2] > 0 ? s[0] / s[2] : 0, loss: s[2] > 0 ? s[1] / s[2] : 0, tokens: s[2] });
  return { value: part(sums.value), wrongKey: part(sums.wrongKey), listValue: part(sums.listValue), chance: 1 / pools.values.length, documents };
}
