import type { Conversation } from '../data/conversation.js';
import { ChatEngine } from '../infer/engine.js';
import type { DecodingModel } from '../infer/pipeline.js';
import { fitPassages, passageSource, resolveCitations } from '../rag/generate.js';
import { Retriever, type RetrievedChunk } from '../rag/retrieve.js';
import { chunkLines } from '../rag/lines.js';
import { RagStore, type StoredChunk } from '../rag/store.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { ApiError, badRequest } from './errors.js';
import type { Body } from './validate.js';

/**
 * Retrieval for the chat route (docs/server.md, "RAG"): a server started with a RAG store
 * (`gptforge serve --rag kb.db`, a store `gptforge rag index` built) answers a chat request
 * that carries the gptforge extension field `rag` from retrieved passages, as `gptforge chat
 * --rag` does (src/rag/generate.ts: BM25 over the store, the best passages that fit the
 * context rendered into the last user message as a numbered block, the "[n]" citations of the
 * reply resolved back to the chunks). Here the reply is decoded by the server's scheduler like
 * any other (streamed, stoppable), so this module does the two ends: the prompt before, the
 * citations after. Passages are fetched by id for a reader (`GET /v1/gptforge/passages/:id`).
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
  score: number;
}

export interface ApiCitation {
  n: number;
  id: number;
  source: string;
}

/** What a request's retrieval put in the prompt: the shown chunks, best first (how many were retrieved: json.retrieved). */
export interface RagContext {
  shown: RetrievedChunk[];
  /** The `rag` object of the response: the passages shown and the retrieval's numbers. */
  json: { passages: ApiPassage[]; retrieved: number; k: number; note?: string };
}

/** The `rag` field of a chat request: true, or {k}. Undefined when absent or false. */
export function ragRequest(b: Body): { k: number } | undefined {
  const v = b.rag;
  if (v === undefined || v === null || v === false) return undefined;
  if (v === true) return { k: DEFAULT_RAG_K };
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest('\'rag\' must be true or an object {"k": n}', 'rag');
  const k = (v as { k?: unknown }).k;
  if (k === undefined) return { k: DEFAULT_RAG_K };
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > MAX_RAG_K) throw badRequest(`'rag.k' must be an integer between 1 and ${MAX_RAG_K}`, 'rag');
  const extra = Object.keys(v).filter((x) => x !== 'k');
  if (extra.length > 0) throw badRequest(`'rag' has unknown field ${JSON.stringify(extra[0])} (only k)`, 'rag');
  return { k };
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

  /** `GET /v1/gptforge/rag`: whether retrieval is on, and the store's size. */
  info(): unknown {
    return { object: 'gptforge.rag', enabled: true, chunks: this.store.count(), files: this.store.files().length, embedding_model: this.store.meta.embeddingModel, chunk_size: this.store.meta.chunkSize };
  }

  /** `GET /v1/gptforge/passages/:id`: a chunk with its file, first and last line, offsets and text. */
  passage(rawId: string): unknown {
    if (!/^\d{1,15}$/.test(rawId)) throw badRequest(`passage id must be a non-negative integer, got ${JSON.stringify(rawId)}`, 'id');
    const [c] = this.store.chunks([Number(rawId)]);
    if (!c) throw new ApiError(404, `no passage ${rawId} in the RAG store`, 'not_found_error', 'id', 'passage_not_found');
    return passageJSON(c);
  }

  /**
   * Retrieve for the conversation's last user message and put the passages that fit (with
   * `room` tokens left for the reply; none when even one does not) into it. Returns the conversation to decode and what was shown.
   */
  prepare(conv: Conversation, model: DecodingModel, tok: Tokenizer, k: number, room: number): { conv: Conversation; ctx: RagContext } {
    const msgs = conv.messages;
    const last = msgs[msgs.length - 1];
    if (last.role !== 'user') throw badRequest("'rag' needs the last of 'messages' to be a user message (the question)", 'messages');
    const hits = this.retriever.retrieve(last.content, { k });
    // the passages fit beside the whole conversation: the server sends every turn (it drops none, as OpenAI's API does not)
    const { content, count } = fitPassages(
      new ChatEngine(model, tok),
      msgs.slice(0, -1),
      last.content,
      hits.map((c) => ({ text: c.text, source: passageSource(c) })),
      room,
    );
    const shown = hits.slice(0, count);
    const passages = shown.map((c, i): ApiPassage => ({ n: i + 1, id: c.id, source: passageSource(c), path: c.path, ...chunkLines(c), char_start: c.charStart, char_end: c.charEnd, score: c.score }));
    // passages retrieved but none fit: said, with what to change (a small model's context is short)
    const note = hits.length > 0 && shown.length === 0 ? `${hits.length} passage${hits.length > 1 ? 's' : ''} retrieved, none fit the ${model.config.blockSize}-token context beside the conversation and ${room} tokens for the reply: lower max_tokens (or index smaller chunks)` : undefined;
    return { conv: { messages: [...msgs.slice(0, -1), { role: 'user', content }] }, ctx: { shown, json: { passages, retrieved: hits.length, k, ...(note ? { note } : {}) } } };
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
