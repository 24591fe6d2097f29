import type { Conversation } from '../data/conversation.js';
import { ChatEngine } from '../infer/engine.js';
import type { DecodingModel } from '../infer/pipeline.js';
import { NO_ANSWER, type Passage } from '../rag/context.js';
import { chunkPassage, describeNoneFit, extractiveConstraint, passageSource, passageTitles, replyRoom, resolveCitations, retrievalPrompt } from '../rag/generate.js';
import type { GrammarConstraint } from '../infer/constrain/matcher.js';
import { applyRelevanceCutoff, smallStoreCutoffWarning } from '../rag/relevance.js';
import { Retriever, type RetrievedChunk } from '../rag/retrieve.js';
import { chunkLines } from '../rag/lines.js';
import { RagStore, type StoredChunk } from '../rag/store.js';
import type { Tokenizer } from '../tokenizer/index.js';
import type { FastifyReply } from 'fastify';
import { ApiError, badRequest } from './errors.js';
import { SSE_HEADERS, sseLine } from './sse.js';
import type { Body } from './validate.js';

/**
 * Retrieval for the chat route (docs/server.md, "RAG"): a server started with a RAG store
 * (`gptforge serve --rag kb.db`, a store `gptforge rag index` built) answers a chat request
 * that carries the gptforge extension field `rag` from retrieved passages, as `gptforge chat
 * --rag` does (src/rag/generate.ts: BM25 over the store, the best passages that fit the
 * context rendered into the last user message as a numbered block, the "[n]" citations of the
 * reply resolved back to the chunks). Here the reply is decoded by the server's scheduler like
 * any other (streamed, stoppable), so this module does the two ends: the prompt before, the
 * citations after. The prompt is the library's (`retrievalPrompt`, shared with
 * `answerWithRetrieval`): the same fitting, the same reply room by default (`defaultReplyTokens`)
 * and the same rule for an empty context — no passage shown, the reply is "The passages don't
 * say." without a model call (`rag.empty_context: "generate"` decodes the bare question instead).
 * Passages are fetched by id for a reader (`GET /v1/gptforge/passages/:id`).
 */

/** Most passages per request. */
export const MAX_RAG_K = 16;
/** Passages retrieved when the request does not say (generate.ts's default: what fits 256 tokens). */
export const DEFAULT_RAG_K = 3;

/** A shown passage in the API's field names (no text: fetch it by id). */
export interface ApiPassage {
  /** The number the prompt gave it ([1] first). */
  n: number;
  /** The chunk's id in the store (`GET /v1/gptforge/passages/:id`). */
  id: number;
  /** The label the prompt showed: "file.md:12". */
  source: string;
  path: string;
  /** The lines the chunk spans in its file, as `GET /v1/gptforge/passages/:id` counts them (chunkLines); null when the file no longer holds it. */
  line: number | null;
  line_end: number | null;
  char_start: number;
  char_end: number;
  /** The retrieval mode's score (raw BM25, −bm25(): higher is better, not comparable across queries). */
  score: number;
  /** Its score in each list: `bm25` (as `score`), `bm25_relative` — BM25 over the most the query's terms could score (store.ts bm25Ceiling), 0…1, what `min_score` compares with. */
  scores: { bm25?: number; bm25_relative?: number };
}

export interface ApiCitation {
  n: number;
  id: number;
  source: string;
}

/** What a request's retrieval put in the prompt: the shown chunks, best first (how many were retrieved: json.retrieved). */
export interface RagContext {
  shown: RetrievedChunk[];
  /** The passages as the prompt showed them (title, source label, text), `shown`'s order: what the extractive grammar quotes from. */
  passages: Passage[];
  /** False when no passage is shown and the reply is NO_ANSWER without the model (`empty_context` "no_answer", the default). */
  generate: boolean;
  /** The `rag` object of the response: the passages shown and the retrieval's numbers. */
  /** `warning`: the request's `min_score` on a store too small for it (relevance.ts smallStoreCutoffWarning); the server also logs it once. */
  json: { passages: ApiPassage[]; retrieved: number; k: number; generated: boolean; note?: string; below_cutoff?: number; abstained?: 'below_cutoff' | 'no_passage'; warning?: string };
}

/** What a chat request's `rag` field asks: passages to retrieve, and what an empty context gets. */
export interface RagAsk {
  k: number;
  /** `"no_answer"` (default): no passage shown → "The passages don't say." without the model; `"generate"`: the model answers the bare question. */
  emptyContext: 'no-answer' | 'generate';
  /** The relevance cutoff on each chunk's relative BM25 score (relevance.ts `bm25Relative`, 0…1): chunks below it are not shown; none left → "The passages don't say." without the model. Absent: none. */
  minScore?: number;
  /** Extractive decoding (`rag.extractive`, default false; `chat --rag-extractive`, the library's `extractive`): the reply held to "The passages don't say." or a quote of one shown passage with its "[n].". */
  extractive: boolean;
  /** Who refuses when passages are shown (`rag.refusal`, default `"model"`; `"cutoff"`: `chat --rag-refusal-by-cutoff`, the library's `refusal: 'cutoff'`): with `"cutoff"` the extractive grammar leaves "The passages don't say." out — only the cutoff refuses. Needs `minScore` and `extractive`. */
  refusal: 'model' | 'cutoff';
}

/** The fields a request's `rag` object may carry. */
const RAG_FIELDS = ['k', 'empty_context', 'min_score', 'extractive', 'refusal'] as const;

/** The `rag` field of a chat request: true, or {k, empty_context, min_score, extractive, refusal}. Undefined when absent or false. @throws ApiError 400 naming the field at fault. */
export function ragRequest(b: Body): RagAsk | undefined {
  const v = b.rag;
  if (v === undefined || v === null || v === false) return undefined;
  if (v === true) return { k: DEFAULT_RAG_K, emptyContext: 'no-answer', extractive: false, refusal: 'model' };
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest('\'rag\' must be true or an object {"k": n, "empty_context": "no_answer" | "generate", "min_score": x, "extractive": bool, "refusal": "model" | "cutoff"}', 'rag');
  const { k = DEFAULT_RAG_K, empty_context: empty = 'no_answer', min_score: minScore, extractive = false, refusal = 'model' } = v as { k?: unknown; empty_context?: unknown; min_score?: unknown; extractive?: unknown; refusal?: unknown };
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > MAX_RAG_K) throw badRequest(`'rag.k' must be an integer between 1 and ${MAX_RAG_K}`, 'rag');
  if (empty !== 'no_answer' && empty !== 'generate') throw badRequest(`'rag.empty_context' must be "no_answer" or "generate", got ${JSON.stringify(empty)}`, 'rag');
  // outside 0…1 the cutoff would refuse every answer (or none) without a word
  if (minScore !== undefined && (typeof minScore !== 'number' || !(minScore >= 0 && minScore <= 1))) throw badRequest(`'rag.min_score' must be a number from 0 to 1 (the relative BM25 score a passage needs), got ${JSON.stringify(minScore)}`, 'rag');
  if (typeof extractive !== 'boolean') throw badRequest(`'rag.extractive' must be true or false, got ${JSON.stringify(extractive)}`, 'rag');
  if (refusal !== 'model' && refusal !== 'cutoff') throw badRequest(`'rag.refusal' must be "model" or "cutoff", got ${JSON.stringify(refusal)}`, 'rag');
  // as the CLI's --rag-refusal-by-cutoff and the library: without both nothing would keep the model from quoting an unrelated passage, or make it quote
  if (refusal === 'cutoff' && (minScore === undefined || !extractive)) throw badRequest("'rag.refusal' \"cutoff\" needs 'rag.min_score' (the cutoff that refuses instead of the model) and 'rag.extractive': true (the grammar that makes the model quote)", 'rag');
  const extra = Object.keys(v).filter((x) => !(RAG_FIELDS as readonly string[]).includes(x));
  if (extra.length > 0) throw badRequest(`'rag' has unknown field ${JSON.stringify(extra[0])} (only ${RAG_FIELDS.join(', ')})`, 'rag');
  return { k, emptyContext: empty === 'generate' ? 'generate' : 'no-answer', ...(minScore !== undefined ? { minScore: minScore as number } : {}), extractive, refusal };
}

/** The reply room a request with retrieval leaves: its max_tokens when given, whole (so the route's budget holds), else the library's default (`replyRoom`: 3/16 of the context). */
export function ragReplyRoom(blockSize: number, asked: number | undefined): number {
  return asked ?? replyRoom(blockSize);
}

/** The store behind a server's retrieval, read-only, BM25 (as `gptforge chat --rag`). */
export class ServerRag {
  readonly retriever: Retriever;

  constructor(readonly store: RagStore) {
    this.retriever = new Retriever(store);
  }

  /** Open a store `gptforge rag index` built (read-only). @throws GptforgeError naming the file when it is not one. */
  static open(path: string): ServerRag {
    return new ServerRag(RagStore.open(path, { readonly: true }));
  }

  close(): void {
    this.store.close();
  }

  private readonly warned = new Set<string>();
  /** Whether `warning` is new to this server (true the first time only): what the log says once. */
  firstWarning(warning: string): boolean {
    if (this.warned.has(warning)) return false;
    this.warned.add(warning);
    return true;
  }

  /** `GET /v1/gptforge/rag`: whether retrieval is on, and the store's size. */
  info(): unknown {
    return { object: 'gptforge.rag', enabled: true, chunks: this.store.count(), files: this.store.files().length, embedding_model: this.store.meta.embeddingModel, chunk_size: this.store.meta.chunkSize };
  }

  /** `GET /v1/gptforge/passages/:id`: a chunk with its file, first and last line, offsets and text. */
  passage(rawId: string): unknown {
    if (!/^\d{1,15}$/.test(rawId)) throw badRequest(`passage id must be a non-negative integer, got ${JSON.stringify(rawId)}`, 'id');
    const [c] = this.store.chunks([Number(rawId)]);
    if (!c) throw new ApiError(404, `no passage ${rawId} in the RAG store`, 'invalid_request_error', 'id', 'passage_not_found');
    return passageJSON(c);
  }

  /**
   * Retrieve for the conversation's last user message and put the passages that fit (with
   * `room` tokens left for the reply; none when even one does not) into it, by the library's
   * rule (`retrievalPrompt`). Returns the conversation to decode and what was shown; with no
   * passage shown `ctx.generate` is false unless the request asked `empty_context: "generate"`.
   */
  prepare(conv: Conversation, model: DecodingModel, tok: Tokenizer, ask: RagAsk, room: number): { conv: Conversation; ctx: RagContext } {
    const msgs = conv.messages;
    const last = msgs[msgs.length - 1];
    if (last.role !== 'user') throw badRequest("'rag' needs the last of 'messages' to be a user message (the question)", 'messages');
    const retrieved = this.retriever.retrieve(last.content, { k: ask.k });
    // the relevance cutoff (relevance.ts): what falls below it is not shown; none left → the passages don't say, without the model
    const hits = applyRelevanceCutoff(retrieved, ask.minScore !== undefined ? { bm25Relative: ask.minScore } : undefined);
    const belowCutoff = retrieved.length - hits.length;
    const cutAll = hits.length === 0 && belowCutoff > 0;
    // the passages fit beside the whole conversation: the server sends every turn (it drops none, as OpenAI's API does not)
    const labelled = hits.map((c) => chunkPassage(c, passageSource, passageTitles(this.store)));
    const { content, count, generate, noneFit } = retrievalPrompt(new ChatEngine(model, tok), msgs.slice(0, -1), last.content, labelled, room, cutAll ? 'no-answer' : ask.emptyContext);
    const shown = hits.slice(0, count);
    const passages = shown.map((c, i): ApiPassage => ({ n: i + 1, id: c.id, source: passageSource(c), path: c.path, ...chunkLines(c), char_start: c.charStart, char_end: c.charEnd, score: c.score, scores: { bm25: c.scores.bm25, bm25_relative: c.scores.bm25Relative } }));
    // passages retrieved but none fit: said, with what to change (a small model's context is short)
    const note = noneFit ? `${hits.length} passage${hits.length > 1 ? 's' : ''} retrieved, ${describeNoneFit(noneFit, { reply: 'max_tokens', chunkSize: 'gptforge rag index --rebuild --chunk-size' })}` : undefined;
    const cut = ask.minScore !== undefined ? { below_cutoff: belowCutoff } : {};
    const abstained = generate ? {} : { abstained: cutAll ? ('below_cutoff' as const) : ('no_passage' as const) };
    // a cutoff on a store of a few chunks refuses nearly everything (relevance.ts MIN_CUTOFF_CHUNKS): said in every such response, not left silent
    const warning = ask.minScore !== undefined ? smallStoreCutoffWarning(this.store.count(), "'rag.min_score'") : undefined;
    const json = { passages, retrieved: retrieved.length, k: ask.k, generated: generate, ...cut, ...abstained, ...(note ? { note } : {}), ...(warning ? { warning } : {}) };
    return { conv: { messages: [...msgs.slice(0, -1), { role: 'user', content }] }, ctx: { shown, passages: labelled.slice(0, count), generate, json } };
  }
}

/**
 * The extractive constraint of a request (`rag.extractive`, generate.ts extractiveConstraint, as
 * `answerWithRetrieval` builds it): the reply held to "The passages don't say." — left out under
 * `rag.refusal: "cutoff"` — or a quote of one shown passage with its "[n].". Undefined when the
 * request did not ask for it or no passage is shown (the reply is then NO_ANSWER without the model,
 * or the bare question under `empty_context: "generate"`, unconstrained as in the library).
 */
export function ragExtractiveConstraint(tok: Tokenizer, ask: RagAsk, ctx: RagContext): GrammarConstraint | undefined {
  if (!ask.extractive || ctx.passages.length === 0) return undefined;
  return extractiveConstraint(tok, ctx.passages, { noAnswer: ask.refusal !== 'cutoff' });
}

/**
 * The response to a chat request whose retrieval left no passage (RagContext.generate false):
 * every choice NO_ANSWER with finish_reason "stop", no model call (usage counts no tokens: none
 * were processed), the `rag` object as usual; streamed as the chat route streams (a role chunk,
 * the text, the finish, the usage when asked, `[DONE]`).
 */
export function emptyContextReply(reply: FastifyReply, o: { id: string; created: number; model: string; n: number; stream: boolean; includeUsage: boolean; rag: RagContext; usage: unknown }): unknown {
  const head = { id: o.id, created: o.created, model: o.model, system_fingerprint: null };
  const rag = { rag: o.rag.json, citations: [], unresolved_citations: [] };
  if (!o.stream) {
    const choices = Array.from({ length: o.n }, (_, i) => ({ index: i, message: { role: 'assistant', content: NO_ANSWER, refusal: null }, logprobs: null, finish_reason: 'stop', citations: [], unresolved_citations: [] }));
    return { ...head, object: 'chat.completion', choices, usage: o.usage, rag: o.rag.json };
  }
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({ ...head, object: 'chat.completion.chunk', choices, ...(o.includeUsage ? { usage: null } : {}), ...extra });
  const events: unknown[] = [];
  for (let i = 0; i < o.n; i++) events.push(chunk([{ index: i, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }], i === 0 ? { rag: o.rag.json } : {}));
  for (let i = 0; i < o.n; i++) {
    events.push(chunk([{ index: i, delta: { content: NO_ANSWER }, logprobs: null, finish_reason: null }]));
    events.push(chunk([{ index: i, delta: {}, logprobs: null, finish_reason: 'stop', citations: rag.citations, unresolved_citations: rag.unresolved_citations }]));
  }
  if (o.includeUsage) events.push(chunk([], { usage: o.usage }));
  reply.hijack();
  reply.raw.writeHead(200, SSE_HEADERS);
  reply.raw.end(`${events.map(sseLine).join('')}data: [DONE]\n\n`);
  return reply;
}

/**
 * A RAG reply's text as the API shows it: without its leading whitespace. The passages family
 * writes a quote with a leading space (context.ts quotedReply: the quote's first word is then
 * the same token as in the passage); `ChatReply.text` and `chat --rag` drop it, and so does the
 * server: `message.content` here, the streamed deltas through {@link RagReplyStream}.
 */
export function ragReplyText(text: string): string {
  return text.trimStart();
}

/** Streamed deltas of a RAG reply, per choice, with the reply's leading whitespace dropped: a delta of whitespace only before any text becomes "" (the caller skips it), the first with text loses its leading part, later ones pass unchanged. Joined, the deltas are {@link ragReplyText} of the reply. */
export class RagReplyStream {
  private readonly started = new Set<number>();
  delta(row: number, text: string): string {
    if (this.started.has(row)) return text;
    const shown = text.trimStart();
    if (shown !== '') this.started.add(row);
    return shown;
  }
}

/** The "[n]" citations of a reply resolved against the passages shown: {citations, unresolved_citations}. */
export function citationsJSON(text: string, ctx: RagContext): { citations: ApiCitation[]; unresolved_citations: number[] } {
  const { cited, unresolved } = resolveCitations(text, ctx.shown);
  return { citations: cited.map(({ n, item }) => ({ n, id: item.id, source: passageSource(item) })), unresolved_citations: unresolved };
}

/** A stored chunk in the API's field names, with the lines it spans (chunkLines). */
export function passageJSON(c: StoredChunk): unknown {
  return { object: 'gptforge.passage', id: c.id, source: passageSource(c), path: c.path, store_source: c.source, ...chunkLines(c), char_start: c.charStart, char_end: c.charEnd, text: c.text };
}
