import { renderPrompt } from '../data/chat.js';
import type { Conversation, Message } from '../data/conversation.js';
import { dictionaryEntries } from '../data/synthetic/passages.js';
import type { ChatEngine, ChatOptions, ChatReply } from '../infer/engine.js';
import { alt, compileGrammar, GrammarConstraint, literal, ref, seq, type Expr, type Grammar } from '../infer/constrain/index.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { GptforgeError } from '../util/errors.js';
import { citedNumbers, NO_ANSWER, oneLine, passagePrompt, type Passage } from './context.js';
import { applyRelevanceCutoff, type RelevanceCutoff } from './relevance.js';
import type { ModelReranker } from './rerank.js';
import type { RetrievalMode, RetrievedChunk, Retriever } from './retrieve.js';
import type { SearchFilter, StoreMeta, StoredChunk } from './store.js';

/**
 * Generation with retrieval (RAG, Lewis et al. 2020, in its simplest "retrieve, then read
 * in context" form): the question's best chunks are fetched from the store, rendered into
 * the user's turn as a numbered context block (context.ts), the chat model answers, and the
 * "[n]" citations in its answer are resolved back to the chunks' files, lines and offsets.
 */

export interface RagAnswerOptions extends ChatOptions {
  /** Passages to retrieve (default 3: what fits a 256-token context beside the question). */
  k?: number;
  /** Retrieval mode (default: the retriever's: hybrid with an embedder, else bm25). */
  mode?: RetrievalMode;
  filter?: SearchFilter;
  /** Approximate vector search: IVF cells to scan. */
  nprobe?: number;
  /** Drop the question-frame words from the BM25 query (store.ts QueryOptions; default: the retriever's, else false). */
  dropFrameWords?: boolean;
  /** The label shown for a passage (default passageSource: "file.md:12"). */
  sourceLabel?(chunk: StoredChunk): string;
  /** The title shown before a passage's source, `[1] regret: (…) …` (default {@link passageTitles} of the retriever's store: a dictionary entry's word in the built-in dictionary's store, else none). */
  titleOf?(chunk: StoredChunk): string | undefined;
  /** Rerank by a chat model (rerank.ts): retrieve `candidates` (default 10), keep the k it scores best. */
  rerank?: { reranker: Pick<ModelReranker, 'rerank'>; candidates?: number };
  /**
   * What the reply is when the prompt would show no passage (retrieval returned none, or none
   * fit the context): `'no-answer'` (default) replies NO_ANSWER, "The passages don't say.",
   * without calling the model — as LlamaIndex's response synthesizer returns its empty response
   * for an empty node list without calling the LLM (`BaseSynthesizer.synthesize`,
   * llama-index-core/llama_index/core/response_synthesizers/base.py); `'generate'` lets the
   * model answer the bare question (a model not trained on passages may answer from memory).
   * Under a `constraint` the fixed reply is reported as not a value of it (`constraintComplete: false`).
   */
  emptyContext?: 'no-answer' | 'generate';
  /**
   * The relevance cutoff (relevance.ts; LlamaIndex's `SimilarityPostprocessor` similarity_cutoff):
   * retrieved chunks scoring below it are dropped before the prompt is built, so the retrieval
   * layer, not the model, decides whether any passage is about the question. When it drops every
   * retrieved chunk the reply is NO_ANSWER without calling the model whatever `emptyContext`
   * says, and `RagAnswer.abstained` is `'below-cutoff'`. Default: none (every chunk kept): a
   * cutoff is a property of a store and a query style, to calibrate on it (bench/rag-relevance.ts;
   * docs/rag.md "Relevance cutoff": `{ bm25Relative: 0.74 }` on the built-in dictionary).
   */
  minScore?: RelevanceCutoff;
  /**
   * Who says "the passages don't say" when passages are shown: `'model'` (default) — the model
   * may answer NO_ANSWER, the `passages` family's refusal; `'cutoff'` — only the retrieval layer
   * refuses (`minScore` dropped everything, or nothing was retrieved): under `extractive` the
   * grammar leaves NO_ANSWER out, so the model must quote a shown passage. Needs `minScore` and
   * `extractive` (else refused: nothing would then keep an unrelated passage from being quoted,
   * or make the model quote).
   */
  refusal?: 'model' | 'cutoff';
  /**
   * Extractive decoding: the reply constrained ({@link extractiveConstraint}) to "The passages
   * don't say." or a quote from one shown passage — a sentence's tail from a word on — with that
   * passage's "[n]." (default false). Ignored when `constraint` is given.
   */
  extractive?: boolean;
}

/**
 * The quotes a reply may make from a passage: each sentence (an entry joins them with ". ",
 * data/synthetic/passages.ts) without its final period, from its start or from any later word
 * (a letter after a character that is not a letter, "'" or "-") — the spans the `passages`
 * family's references quote (its groundedAnswer: the sentence from the asked word on, or whole).
 */
export function passageQuotes(text: string): string[] {
  const out = new Set<string>();
  for (const { sentence, starts } of quoteStarts(text)) for (const i of starts) out.add(sentence.slice(i));
  return [...out];
}

/**
 * A passage's text without its Markdown headings: ATX heading lines (`# Title`) and setext ones
 * (a line underlined by `===` or `---`, both lines dropped). A heading is a label, not a sentence:
 * without a period it would run into the sentence after it ("Cats Cats purr …"), and a reply quoting
 * it answers nothing. ATX as CommonMark §4.2 (up to three spaces, one to six #, then a space or the line's end),
 * setext as §4.3. The text a quote comes from ({@link passageQuotes}, the extractive grammar).
 */
export function withoutHeadings(text: string): string {
  const lines = text.split(/\r?\n/);
  const keep = lines.map((l) => !/^ {0,3}#{1,6}(?:[ \t]|$)/.test(l));
  lines.forEach((l, i) => {
    // a setext underline: the line above is the heading (a "---" under a blank line is a rule, also not a sentence)
    if (i > 0 && /^ {0,3}(=+|-+)[ \t]*$/.test(l)) {
      keep[i] = false;
      keep[i - 1] = false;
    }
  });
  // a heading ends what came before it: keep a line break there, so sentences do not join across it
  return lines.map((l, i) => (keep[i] ? l : '')).join('\n');
}

/** Each sentence of a passage (without its final period, Markdown headings left out) and the offsets a quote of it may start at (its start, and every later word's). */
function quoteStarts(text: string): { sentence: string; starts: number[] }[] {
  return [...oneLine(withoutHeadings(text)).matchAll(/[^ ].*?\.(?= |$)/g)].map((m) => {
    const sentence = m[0].slice(0, -1);
    const starts: number[] = [];
    for (let i = 0; i < sentence.length; i++) if (/[A-Za-z]/.test(sentence[i]) && (i === 0 || !/[A-Za-z'-]/.test(sentence[i - 1]))) starts.push(i);
    return { sentence, starts };
  });
}

/**
 * The extractive reply's grammar: NO_ANSWER, or — with the leading space the family writes
 * (context.ts quotedReply) — one of passage n's {@link passageQuotes} followed by " [n].".
 * Byte-level (infer/constrain's grammar), so any tokenization of the reply is allowed.
 *
 * Its size is linear in the passages' length: a sentence is cut at its quote starts into
 * pieces, and the quote from piece j is a rule "piece j, then the quote from piece j + 1" (a
 * tail reference), so every suffix shares the rest of the sentence. Listing each suffix as
 * its own literal (what {@link passageQuotes} enumerates) grew with the square of a sentence's
 * length: a 2 KB sentence compiled in 350 ms CPU and a 4 KB one in 1.07 s, against 40 ms for
 * 2 KB of 15-word sentences (docs/journal/rag.md "Sixteenth attempt").
 */
export function extractiveGrammar(passages: readonly Pick<Passage, 'text'>[], opts: { noAnswer?: boolean } = {}): Grammar {
  const rules = new Map<string, Expr>();
  const quoted = passages.flatMap((p, i) => {
    const heads: Expr[] = [];
    quoteStarts(p.text).forEach(({ sentence, starts }, s) => {
      const name = (j: number): string => `p${i + 1}s${s}w${j}`;
      starts.forEach((at, j) => {
        const piece = literal(sentence.slice(at, starts[j + 1] ?? sentence.length));
        rules.set(name(j), j + 1 < starts.length ? seq(piece, ref(name(j + 1))) : piece);
        heads.push(ref(name(j)));
      });
    });
    return heads.length > 0 ? [seq(literal(' '), alt(...heads), literal(` [${i + 1}].`))] : [];
  });
  // without NO_ANSWER (opts.noAnswer false: the retrieval layer has already judged the passages relevant) the reply must quote one
  const roots = opts.noAnswer === false && quoted.length > 0 ? quoted : [literal(NO_ANSWER), ...quoted];
  rules.set('root', alt(...roots));
  return { rules, start: 'root', source: 'extractive reply' };
}

/**
 * A constraint (infer/constrain, through its public API) holding a reply to the shown
 * passages: "The passages don't say." or a verbatim quote of one passage's sentence (from a
 * word on) with its citation — extractive question answering in the manner of span-extraction
 * readers (SQuAD; Chen et al. 2017, "Reading Wikipedia to Answer Open-Domain Questions"),
 * here as a decoding constraint on the chat model rather than a span-scoring head. It rules out
 * words no passage has and citations of the wrong passage; the choice of passage and sentence
 * is still the model's. `noAnswer: false` leaves NO_ANSWER out (when the passages hold at least
 * one quote): the reply must quote a passage — for passages a relevance cutoff has already let
 * through (RagAnswerOptions.refusal `'cutoff'`).
 */
export function extractiveConstraint(tok: Tokenizer, passages: readonly Pick<Passage, 'text'>[], opts: { noAnswer?: boolean } = {}): GrammarConstraint {
  return new GrammarConstraint(compileGrammar(extractiveGrammar(passages, opts), tok));
}

/** A citation resolved: the number the model wrote and the chunk it names. */
export interface Citation {
  /** The "[n]" the answer wrote, 1-based. */
  n: number;
  /** The label the prompt showed for it. */
  source: string;
  chunk: RetrievedChunk;
}

export interface RagAnswer {
  /** The chat engine's reply (messages to append, stop reason…). */
  reply: ChatReply;
  /** The reply's visible text, citations as the model wrote them. */
  text: string;
  /** The passages the prompt showed, in their numbered order ([1] first); fewer than k when the context was short. */
  passages: RetrievedChunk[];
  /** How many passages retrieval returned (≥ passages.length: the rest did not fit the context). */
  retrieved: number;
  /** Cited passages, in order of first citation. */
  citations: Citation[];
  /** Numbers the answer cited that name no passage (a hallucinated citation). */
  unresolved: number[];
  /** The user message as sent: the context block and the question. */
  prompt: string;
  /** The conversation to continue with: the plain question (passages left out, so old turns do not fill the context) and the reply. */
  conversation: Conversation;
  /** False when no passage was shown and the reply is NO_ANSWER without the model (`emptyContext: 'no-answer'`, or every chunk below `minScore`). */
  generated: boolean;
  /** Why the model was not called, when it was not: `'below-cutoff'` (chunks were retrieved, none passed `minScore`), `'no-passage'` (none retrieved, or none fit the context). */
  abstained?: 'below-cutoff' | 'no-passage';
  /** Chunks the relevance cutoff dropped (0 without `minScore`). */
  belowCutoff: number;
  /** When passages were retrieved but none fit: the sizes, and what would let one in ({@link describeNoneFit}). */
  noneFit?: NoneFit;
}

/**
 * The reply's default length with retrieval, in tokens: 3/16 of the context — 48 at 256, 24 at
 * 128 — and at least 8. It is taken out of the context before the passages, so it has to stay
 * small for a small model: the `passages` family's replies (a quoted sentence and its citation,
 * or NO_ANSWER; the end token counted) are 15 tokens at the median, 38 at p99 and ≤ 48 for
 * 99.9% under rag10's tokenizer (docs/journal/rag.md "Twelfth attempt"), and the rest of a 256-token
 * context holds the question and two or three dictionary entries. A fixed 48 (the old
 * default) left a 128-token context 80 tokens for the question and every passage.
 */
export function defaultReplyTokens(blockSize: number): number {
  return Math.max(8, Math.round((blockSize * 3) / 16));
}

/**
 * A reply the model did not write: `text` as if it had (its tokens and the end token, none
 * sampled). Under a constraint it is not a value of it (`constraintComplete: false`), as a
 * caller checking the value must be told.
 */
function fixedReply(engine: ChatEngine, text: string, chat: Pick<ChatOptions, 'onText' | 'constraint'>): ChatReply {
  chat.onText?.(text);
  const ids = [...engine.tok.encode(text, { disallowedSpecial: 'plain' }), engine.tok.specialId('<|assistant_end|>')];
  return { messages: [{ role: 'assistant', content: text }], text, ids, sampled: ids.map(() => 0), finishReason: 'stop', stopReason: 'end', toolCalls: 0, ...(chat.constraint ? { constraintComplete: false } : {}) };
}

/** A chunk's label in the context block: the file's name (a built-in corpus's name) and its line. */
export function passageSource(c: Pick<StoredChunk, 'path' | 'line'>): string {
  const name =
    c.path
      .replace(/^builtin:/, '')
      .split(/[\\/]/)
      .pop() || c.path;
  return c.line !== undefined ? `${name}:${c.line}` : name;
}

/** `StoreMeta.titles` of a store of the built-in dictionary's entries (rag/effect.ts `indexDictionaryEntries` sets it). */
export const DICTIONARY_TITLES = 'dictionary-entries';

/**
 * A chunk's title in the context block (context.ts `Passage.title`), given its store: in a
 * store flagged as the built-in dictionary's entries (`store.meta.titles` is
 * {@link DICTIONARY_TITLES}: one entry a chunk, `line` the entry's number, set only by rag/effect.ts
 * `indexDictionaryEntries`) the entry's word, which is what the `passages` family heads its
 * passages with; undefined for any other chunk or store — a user's file has no such word, and
 * its passages are shown as before, untitled, whatever its path, source or line (the flag is
 * the store's, which indexing files never sets; keying on the path "dictionary" titled a
 * user's file of that name).
 */
export function passageTitle(c: Pick<StoredChunk, 'path' | 'line'>, store: { meta: Pick<StoreMeta, 'titles'> }): string | undefined {
  if (store.meta.titles !== DICTIONARY_TITLES || c.line === undefined) return undefined;
  return dictionaryEntries()[c.line - 1]?.word;
}

/** The titler of a store's chunks ({@link passageTitle} bound to it), for {@link chunkPassage}'s `titleOf`. */
export function passageTitles(store: { meta: Pick<StoreMeta, 'titles'> }): (c: Pick<StoredChunk, 'path' | 'line'>) => string | undefined {
  return (c) => passageTitle(c, store);
}

/** A retrieved chunk as the context block shows it: its text, source label and title (when `titleOf` gives one; default none: see {@link passageTitles}). */
export function chunkPassage(c: StoredChunk, sourceLabel: (c: StoredChunk) => string = passageSource, titleOf: (c: StoredChunk) => string | undefined = () => undefined): Passage {
  const title = titleOf(c);
  return { text: c.text, source: sourceLabel(c), ...(title !== undefined ? { title } : {}) };
}

/** Resolve an answer's "[n]" citations against the passages the prompt showed (1-based). */
export function resolveCitations<T>(answer: string, shown: readonly T[]): { cited: { n: number; item: T }[]; unresolved: number[] } {
  const cited: { n: number; item: T }[] = [];
  const unresolved: number[] = [];
  for (const n of citedNumbers(answer)) {
    if (Number.isInteger(n) && n >= 1 && n <= shown.length) cited.push({ n, item: shown[n - 1] });
    else unresolved.push(n);
  }
  return { cited, unresolved };
}

/**
 * The passages, best first, cut to what fits: the prompt of the system message (if any)
 * and the question with its context block, plus room for the reply, within the model's
 * context. Older turns are the engine's to drop (ChatEngine.fitPrompt), after the passages
 * have been kept. Returns the user message and how many passages it holds.
 */
export function fitPassages(engine: Pick<ChatEngine, 'tok' | 'model'>, system: Message[], question: string, passages: readonly Passage[], room: number): { content: string; count: number } {
  const ctx = engine.model.config.blockSize;
  for (let count = passages.length; count >= 0; count--) {
    const content = passagePrompt(question, passages.slice(0, count));
    if (renderPrompt(engine.tok, { messages: [...system, { role: 'user', content }] }).length + room <= ctx) return { content, count };
  }
  return { content: question, count: 0 };
}

/**
 * Why no retrieved passage fit, and what would let one in (for `chat --rag`'s and the server's
 * note): `need` is the prompt's length in tokens with the smallest passage alone beside the
 * question (and `before`); `replyTokens` the most reply room that still lets it in (undefined
 * when even the smallest reply, 8 tokens, leaves no room: the chunk itself is too large for
 * the context); `chunkSize` the most tokens a chunk could have to fit beside the question and
 * `room` tokens of reply (the room asked: a request's max_tokens, else {@link defaultReplyTokens}),
 * the size to re-index with; `history` the tokens the earlier messages of `before` take when
 * they are what leaves no chunk room (a conversation's later turn: a new conversation fits one).
 */
export interface NoneFit {
  context: number;
  room: number;
  need: number;
  replyTokens?: number;
  chunkSize: number;
  history?: number;
}

/** {@link NoneFit} for passages of which none fit `room` tokens of reply; undefined when there are none or one fits. */
export function noneFit(engine: Pick<ChatEngine, 'tok' | 'model'>, before: Message[], question: string, passages: readonly Passage[], room: number): NoneFit | undefined {
  if (passages.length === 0) return undefined;
  const ctx = engine.model.config.blockSize;
  const length = (ps: readonly Passage[]): number => renderPrompt(engine.tok, { messages: [...before, { role: 'user', content: passagePrompt(question, ps) }] }).length;
  const sizes = passages.map((p) => length([p]));
  const need = Math.min(...sizes);
  if (need + room <= ctx) return undefined;
  const p = passages[sizes.indexOf(need)];
  // the block's own tokens (header, number, source, question label) beside the passage's text
  const overhead = length([{ ...p, text: '' }]);
  const chunkSize = Math.max(0, ctx - room - overhead);
  // no chunk fits beside the conversation so far, one would without it (the system message kept): the history is what fills the context
  const kept = before.filter((m) => m.role === 'system');
  const alone = renderPrompt(engine.tok, { messages: [...kept, { role: 'user', content: passagePrompt(question, [{ ...p, text: '' }]) }] }).length;
  const history = chunkSize === 0 && ctx - room - alone > 0 ? { history: overhead - alone } : {};
  // the chunk size is figured for the reply room asked (a request's max_tokens), not the default
  return { context: ctx, room, need, ...(need + 8 <= ctx ? { replyTokens: ctx - need } : {}), chunkSize, ...history };
}

/**
 * A {@link NoneFit} in words, with the face's own names for the reply's length and the chunk
 * size: "none fit the 128-token context beside the question and 24 tokens for the reply: the
 * smallest passage needs 210 tokens with the question, too many for the context even with a
 * short reply — re-index with smaller chunks (rag index --rebuild --chunk-size 70 or less …)".
 */
export function describeNoneFit(f: NoneFit, names: { reply: string; chunkSize: string }): string {
  const head = `none fit the ${f.context}-token context beside the question and ${f.room} tokens for the reply`;
  const chunks =
    f.chunkSize > 0
      ? `re-index with smaller chunks (${names.chunkSize} ${f.chunkSize} or less fits one passage beside this question and a ${f.room}-token reply)`
      : f.history !== undefined
        ? `start a new conversation or shorten this one (its earlier messages take ${f.history} tokens of the context)`
        : 'shorten the question';
  if (f.replyTokens === undefined) return `${head}: the smallest passage needs ${f.need} tokens with the question, too many for the context even with a short reply — ${chunks}, or use a model with a longer context`;
  return `${head}: the smallest passage needs ${f.need} tokens with the question — lower ${names.reply} to ${f.replyTokens} or less, or ${chunks}`;
}

/**
 * The prompt of a question answered with retrieval, shared by {@link answerWithRetrieval} and
 * the server's chat route (src/server/rag.ts): the retrieved passages, best first, cut to what
 * fits beside `before` (the messages rendered with the question) and `room` tokens of reply, and
 * whether the model is to be called. With no passage shown (none retrieved, or none fits) the
 * reply is NO_ANSWER without the model unless `emptyContext` is `'generate'` (LlamaIndex's
 * rule: `BaseSynthesizer.synthesize` returns its empty response for an empty node list without
 * calling the LLM, llama-index-core/llama_index/core/response_synthesizers/base.py).
 */
export function retrievalPrompt(engine: Pick<ChatEngine, 'tok' | 'model'>, before: Message[], question: string, passages: readonly Passage[], room: number, emptyContext: 'no-answer' | 'generate' = 'no-answer'): { content: string; count: number; generate: boolean; noneFit?: NoneFit } {
  const { content, count } = fitPassages(engine, before, question, passages, room);
  const unfit = count === 0 ? noneFit(engine, before, question, passages, room) : undefined;
  // nothing to read: the passages don't say, whatever the model would make of the bare question
  return { content, count, generate: count > 0 || emptyContext === 'generate', ...(unfit ? { noneFit: unfit } : {}) };
}

/**
 * The reply room with retrieval: `maxTokens` when given, else {@link defaultReplyTokens}, at
 * most half the context (so passages always get the other half).
 */
export function replyRoom(blockSize: number, maxTokens?: number): number {
  return Math.min(maxTokens ?? defaultReplyTokens(blockSize), Math.floor(blockSize / 2));
}

/**
 * Answer the conversation's last user message from retrieved passages.
 *
 * `conv` ends with a user message (or is the question itself). Its text is the retrieval
 * query; the best `k` chunks (fewer when they do not fit the context with `maxTokens` of
 * room — default {@link defaultReplyTokens}, 3/16 of the context; at most half of it) become
 * the numbered context block of that message, and the engine replies. Earlier turns are sent
 * as they are (without their passages). When no passage is shown (none retrieved, or none
 * fits), the reply is NO_ANSWER without calling the model, unless `emptyContext: 'generate'`.
 *
 * @throws GptforgeError when the conversation does not end with a user message, or as the
 *   retriever and engine do (a store built with another embedder, a prompt that cannot fit).
 */
export function answerWithRetrieval(engine: ChatEngine, retriever: Retriever, conv: Conversation | string, opts: RagAnswerOptions = {}): RagAnswer {
  const conversation: Conversation = typeof conv === 'string' ? { messages: [{ role: 'user', content: conv }] } : conv;
  const msgs = conversation.messages;
  const last = msgs[msgs.length - 1];
  if (!last || last.role !== 'user') throw new GptforgeError('answerWithRetrieval: the conversation must end with a user message');
  const { k = 3, mode, filter, nprobe, dropFrameWords, sourceLabel = passageSource, titleOf = passageTitles(retriever.store), rerank, emptyContext = 'no-answer', extractive = false, minScore, refusal = 'model', ...chat } = opts;
  if (refusal === 'cutoff' && (minScore === undefined || !extractive)) throw new GptforgeError("answerWithRetrieval: refusal 'cutoff' needs minScore (the relevance cutoff that refuses instead of the model) and extractive (the grammar that makes the model quote)", { field: 'refusal' });
  const maxTokens = chat.maxTokens ?? defaultReplyTokens(engine.model.config.blockSize);
  const retrieved = rerank ? rerank.reranker.rerank(last.content, retriever.retrieve(last.content, { k: Math.max(k, rerank.candidates ?? 10), mode, filter, nprobe, dropFrameWords }), titleOf).slice(0, k) : retriever.retrieve(last.content, { k, mode, filter, nprobe, dropFrameWords });
  // the relevance postprocessor: chunks below the cutoff are not shown; none left → the passages don't say
  const hits = applyRelevanceCutoff(retrieved, minScore);
  const belowCutoff = retrieved.length - hits.length;
  const labelled = hits.map((c) => ({ chunk: c, passage: chunkPassage(c, sourceLabel, titleOf) }));
  const system = msgs[0]?.role === 'system' ? [msgs[0]] : [];
  const {
    content,
    count,
    generate: generated,
    noneFit: unfit,
  } = retrievalPrompt(
    engine,
    system,
    last.content,
    labelled.map((l) => l.passage),
    replyRoom(engine.model.config.blockSize, maxTokens),
    hits.length === 0 && belowCutoff > 0 ? 'no-answer' : emptyContext,
  );
  const shown = labelled.slice(0, count);
  const passagesShown = shown.map((l) => l.passage);
  const constraint = chat.constraint ?? (extractive && count > 0 ? extractiveConstraint(engine.tok, passagesShown, { noAnswer: refusal !== 'cutoff' }) : undefined);
  const reply = generated ? engine.reply({ messages: [...msgs.slice(0, -1), { role: 'user', content }] }, { ...chat, maxTokens, ...(constraint ? { constraint } : {}) }) : fixedReply(engine, NO_ANSWER, chat);
  const { cited, unresolved } = resolveCitations(reply.text, shown);
  return {
    reply,
    text: reply.text,
    passages: shown.map((s) => s.chunk),
    retrieved: retrieved.length,
    citations: cited.map(({ n, item }) => ({ n, source: item.passage.source, chunk: item.chunk })),
    unresolved,
    prompt: content,
    conversation: { messages: [...msgs, ...reply.messages] },
    generated,
    ...(generated ? {} : { abstained: hits.length === 0 && belowCutoff > 0 ? ('below-cutoff' as const) : ('no-passage' as const) }),
    belowCutoff,
    ...(unfit ? { noneFit: unfit } : {}),
  };
}

/** Sources of an answer, one line per citation: "[1] notes/pets.md:3 (chars 120–310)". */
export function formatCitations(a: Pick<RagAnswer, 'citations' | 'unresolved'>): string[] {
  const lines = a.citations.map((c) => `[${c.n}] ${c.chunk.path}${c.chunk.line !== undefined ? `:${c.chunk.line}` : ''} (chars ${c.chunk.charStart}–${c.chunk.charEnd})`);
  for (const n of a.unresolved) lines.push(`[${n}] (no such passage: the answer cites a number the prompt did not show)`);
  return lines;
}
