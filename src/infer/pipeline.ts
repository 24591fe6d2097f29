import { Rng } from '../engine/rng.js';
import type { GPT } from '../model/gpt.js';
import type { KVCache } from '../model/kvcache.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { GptforgeError } from '../util/errors.js';
import type { TokenConstraint } from './constraint.js';
import type { ForwardThread } from './forward-thread.js';
import { buildProcessors, ConstraintProcessor, DrawCache, Sampler, type LogitsProcessor, type SamplingOptions } from './processors.js';
import { ConstraintEnd, ContextLimit, MaxTokens, StopStrings, TextStream, type Finish, type FinishReason, type RowProgress, type StoppingCriterion } from './stopping.js';

/**
 * The decoding pipeline: every way gptforge samples from a model (base-model completion, the
 * chat engine and its tools, RL rollouts, comparisons, eval) is a batch of rows decoded here.
 *
 * Each row brings its own prompt, sampling settings (its logits processors and warpers,
 * processors.ts), stopping criteria (stopping.ts), Rng seed, constraint, AbortSignal and an
 * optional controller (the chat's tool state machine: it masks, forces tokens, runs tools).
 * A seeded row gives the same tokens alone or batched with others, as far as the model's
 * logits agree at the two batch sizes (the rows share nothing but the forward pass).
 *
 * Cache: one row → the prompt is prefilled, then each step feeds the sampled token and any
 * forced tokens in one pass. Several rows with one prompt → prefilled once at batch 1 and the
 * cache row copied (the first logits are bit-for-bit the single row's). Different prompts →
 * left-padded to the longest and prefilled together, the padding masked out of attention
 * (KVCache.starts). Rows then move in lockstep: each step every unfinished row feeds exactly
 * one token (its next forced token, else a fresh sample); finished rows feed `padId`, whose
 * logits are ignored. The context limit is the shared cache's.
 *
 * Continuous batching (an open decoder, `slots`): rows join with `add()` between steps. Each
 * is prefilled alone into a free cache row (so its logits are bit-for-bit those it would have
 * alone; rows with one prompt admitted together share one prefill through KVCache.copyRow),
 * then decodes with the running rows, each at its own position (KVCache.lengths); only
 * running rows are fed, and a finished row's slot is reused by the next waiting row.
 *
 * The core (`BatchDecoder.step`) is synchronous CPU work (an open batch may hand its forward to
 * a decode thread, BatchOptions.forwardThread, and `settle()` it later); `generate()` is an async iterator on
 * top that yields between steps, so an AbortSignal fired by an event (a client hanging up)
 * ends its row within one step while the other rows go on.
 */

/** What decoding needs of a model (tests substitute a scripted one); `seedPositions` where it draws position ids (GPT.seedPositions). */
export type DecodingModel = Pick<GPT, 'config' | 'createCache' | 'nextLogits'> & Partial<Pick<GPT, 'seedPositions'>>;

/**
 * A row's controller: a per-row record that consumes the pipeline's tokens (the chat
 * engine's tool state machine). It may also be one of the row's logits processors (masks).
 */
export interface RowController {
  /**
   * A sampled token that is not an end token was just appended. Answers whether it is
   * visible text (hidden tokens end a stretch of text: see TextStream.interrupt) and which
   * tokens to force after it (fed to the model, appended with sampled = 0).
   */
  onSampled(token: number): { visible: boolean; forced?: readonly number[] };
  /** The reason the row ends with, given the pipeline's (e.g. inside a tool call: 'unclosed_tool_call'). */
  finishReason?(reason: FinishReason): FinishReason;
}

/** One row of a batch. */
export interface RowRequest extends SamplingOptions {
  /** Prompt ids, at least one and at most the context length (callers truncate). */
  prompt: readonly number[];
  /** Most tokens to sample (forced ones not counted); ≤ 0 ends the row at once with 'length'. */
  maxTokens: number;
  /** Seed of the row's own Rng (default 1). */
  seed?: number;
  /**
   * Sampled ids that end the row (not part of its text; kept in `ids`): end of turn, eos.
   * Default (undefined): the tokenizer's `defaultEndIds` (<|eos|> and <|assistant_end|>, the
   * ones it has), as HF `generate` defaults to the model's `eos_token_id`; `[]` for none.
   */
  endIds?: readonly number[];
  /** Strings that end the row; the text from the first one on is never released. */
  stop?: readonly string[];
  /** Constrained decoding: the row's tokens must satisfy it (see constraint.ts). */
  constraint?: TokenConstraint;
  /** Ends this row ('abort') at the next step once fired. */
  signal?: AbortSignal;
  controller?: RowController;
  /** More processors, run after those the sampling options ask for (and before the constraint). */
  processors?: readonly LogitsProcessor[];
  /** More stopping criteria, checked after the built-in ones. */
  stopping?: readonly StoppingCriterion[];
  /** Every sampled token with the processed logits it was drawn from (before temperature and the warpers); the array is reused, valid during the call only. */
  onStep?(logits: Float32Array, token: number): void;
  /** Each piece of visible text as it is released. */
  onText?(delta: string): void;
  /**
   * Report each sampled token's log-probability on its token event, with this many most likely
   * alternatives (0–20, OpenAI's top_logprobs); under the model's own distribution (the raw
   * logits' log-softmax, as vLLM reports by default), not the processed one.
   */
  logprobs?: number;
}

/** A token's log-probability and the most likely alternatives (OpenAI's logprobs content). */
export interface TokenLogprob {
  logprob: number;
  top: Array<{ token: number; logprob: number }>;
}

/** A finished row. */
export interface RowResult {
  /** Every token after the prompt: sampled, forced, and a final end token. */
  ids: number[];
  /** 1 for tokens the model sampled, 0 for tokens forced (RL needs this). */
  sampled: number[];
  /** The visible text (stop string excluded). */
  text: string;
  finishReason: FinishReason;
  /** The end token id or stop string that ended the row (vLLM's stop_reason), else null. */
  matchedStop: number | string | null;
  /** Prompt tokens and sampled tokens (OpenAI's usage). */
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens whose keys and values were reused from the cache, not computed (BatchOptions.prefixCache; OpenAI's usage.prompt_tokens_details.cached_tokens). */
  cachedTokens: number;
}

/** What a step reports: each appended token with the text it released, and each row that finished. */
export type DecodeEvent = { type: 'token'; row: number; token: number; sampled: boolean; text: string; logprob?: TokenLogprob } | { type: 'finish'; row: number; text: string; result: RowResult };

export interface BatchOptions {
  /** Fires 'abort' on every row. */
  signal?: AbortSignal;
  /** Token fed at padding and finished-row positions (never attended to / logits ignored); default 0. */
  padId?: number;
  /**
   * Continuous batching: a cache of this many rows (slots), and rows may join with `add()`
   * between steps. Each row is prefilled alone into a free slot at the next step and then
   * decodes with the others, each at its own position (KVCache.lengths); a finished row's
   * slot is reused; rows beyond the slots wait in arrival order. The model's `nextLogits`
   * must take the cache rows to feed (GPT's does). Results come with the 'finish' events
   * (`results()` is for fixed batches).
   */
  slots?: number;
  /**
   * Continuous batching (`slots`): reuse cached prompt prefixes, as vLLM's automatic prefix
   * caching and llama.cpp's server (`cache_prompt`, its slots keep their prompt) do. A finished
   * row's slot keeps its keys and values until another row takes it, and each slot remembers
   * the tokens it holds; a joining row takes the free slot holding the longest prefix of its
   * prompt (or copies that prefix from a running row's slot, KVCache.copyRow, when one holds
   * more) and is prefilled from there on — at least its last prompt token, whose logits it
   * needs. Keys and values depend only on the tokens before them and every kernel computes a
   * position alone (row-independent matmuls, per-query attention), so its logits are bit for bit
   * those of a full prefill; tested. Off for models with randomized position ids
   * (config.randomPositions): the prefix's ids were another row's draws. Default false.
   */
  prefixCache?: boolean;
  /**
   * Continuous batching (`slots`): run each step's batched forward on another thread
   * (ForwardThread, src/infer/forward-thread.ts) instead of the model's nextLogits on this
   * one. The cache is the thread's (shared memory); `step()` then returns once the forward
   * has started, with the step's events, so the caller handles them (writes them to sockets)
   * while the model computes, and must `await settle()` before the next step. Joining rows are
   * still prefilled here, on `model`, which must hold the same weights. Logits, and so every
   * row's tokens, are the same bit for bit.
   */
  forwardThread?: Pick<ForwardThread, 'createCache' | 'nextLogits'>;
  /**
   * A row whose sampling throws (e.g. every token masked) ends with 'abort' and its error
   * goes here, while the other rows go on; without it the error propagates out of step().
   */
  onRowError?(row: number, error: unknown): void;
  /**
   * Fixed batch: rows whose tokens so far are identical (one prompt, the same tokens fed
   * since) run as one row of the forward pass — identical histories have identical logits —
   * and a row leaves its group, taking a copy of the group's cache (KVCache.copyRow), at the
   * step it feeds a different token; finished rows are not fed at all. The parallel sampling
   * of self-consistency or RL groups: k samples that mostly agree cost about as much as the
   * distinct histories among them, not k rows (the same idea as vLLM's copy-on-write
   * sharing of a prompt's KV blocks between parallel samples, carried on into the decode).
   * Each row still samples from its own logits with its own Rng, processors and stopping, so
   * a row's tokens are those it would have without sharing as far as the model's logits agree
   * at the two batch sizes. The model's `nextLogits` must take the cache rows to feed (GPT's does).
   */
  shareHistories?: boolean;
  /**
   * With shareHistories: rows share a forward row only within their stream, row b in stream
   * b mod historyStreams (default 1: one stream). On a model with randomized position ids
   * (config.randomPositions) each stream then draws its own reply position ids after one
   * shared prefill, so s streams give s distinct decodes even at temperature 0 at the cost of
   * about s rows a step (self-consistency's position streams, src/assist/consistency.ts).
   */
  historyStreams?: number;
}

/** The special tokens that end a completion by default (`defaultEndIds`). */
export const DEFAULT_END_TOKENS: readonly string[] = ['<|eos|>', '<|assistant_end|>'];

/**
 * The ids a row ends at when its request names none: <|eos|> (end of a document) and
 * <|assistant_end|> (end of a chat model's turn; past it a chat model writes the next turn's
 * markers), those of them the tokenizer has. The library's analogue of HF `generate`'s
 * default `eos_token_id` (a list for chat models, e.g. Llama 3's end_of_text and eot_id). A
 * tokenizer stand-in without `hasSpecial` (tests) gets none.
 */
export function defaultEndIds(tok: Partial<Pick<Tokenizer, 'hasSpecial' | 'specialId'>>): number[] {
  const { hasSpecial, specialId } = tok;
  if (typeof hasSpecial !== 'function' || typeof specialId !== 'function') return [];
  return DEFAULT_END_TOKENS.filter((s) => hasSpecial.call(tok, s)).map((s) => specialId.call(tok, s));
}

class Row implements RowProgress {
  readonly ids: number[] = [];
  readonly sampledMask: number[] = [];
  readonly sampledCounts = new Map<number, number>();
  readonly contextIds: Set<number>;
  readonly text: TextStream;
  readonly sampler: Sampler;
  readonly criteria: StoppingCriterion[];
  readonly endIds: ReadonlySet<number>;
  sampledCount = 0;
  contextNeeded = 0;
  /** Tokens waiting to be fed (lockstep). */
  queue: number[] = [];
  finish: Finish | null = null;
  result: RowResult | null = null;
  /** The cache row it decodes in (-1: not yet prefilled, or released). */
  slot = -1;
  /** Its next-token logits (V), once prefilled. */
  logits: Float32Array | null = null;
  /** Prompt tokens reused from the cache when it joined (BatchOptions.prefixCache). */
  cachedTokens = 0;

  constructor(
    readonly index: number,
    readonly req: RowRequest,
    readonly prompt: readonly number[],
    readonly contextSize: number,
    tok: Pick<Tokenizer, 'createStreamDecoder'> & Partial<Pick<Tokenizer, 'hasSpecial' | 'specialId'>>,
    vocabSize: number,
    draws: DrawCache | null,
  ) {
    this.contextIds = new Set(prompt);
    this.text = new TextStream(tok.createStreamDecoder(), req.stop ?? []);
    this.endIds = new Set(req.endIds ?? defaultEndIds(tok));
    const procs = [...buildProcessors(req, vocabSize), ...(req.processors ?? [])];
    if (req.constraint) procs.push(new ConstraintProcessor(req.constraint, vocabSize, [...this.endIds]));
    this.sampler = new Sampler(procs, req, new Rng(req.seed ?? 1), draws);
    this.criteria = [...(req.constraint ? [new ConstraintEnd(req.constraint)] : []), new StopStrings(), new ContextLimit(), new MaxTokens(req.maxTokens), ...(req.stopping ?? [])];
  }

  get done(): boolean {
    return this.finish !== null;
  }

  append(token: number, sampled: boolean): void {
    this.ids.push(token);
    this.sampledMask.push(sampled ? 1 : 0);
    this.contextIds.add(token);
    if (sampled) {
      this.sampledCount++;
      this.sampledCounts.set(token, (this.sampledCounts.get(token) ?? 0) + 1);
    }
  }
}

/**
 * The synchronous core: `step()` samples (or forces) one token per unfinished row and feeds
 * the model once; `run()` steps to the end. A fixed batch (the requests given to the
 * constructor) returns its results in request order; an open one (`slots`) takes rows with
 * `add()` at any step boundary (continuous batching).
 */
export class BatchDecoder {
  /** Rows not yet closed (finished rows are closed in the step they finish), by index. */
  private readonly live = new Map<number, Row>();
  /** Fixed batch: every row in request order (finished ones feed padId). */
  private readonly fixed: Row[] = [];
  /** Fixed batch: results by index. */
  private readonly finished: Array<RowResult | null> = [];
  /** Open batch: rows waiting for a slot, in arrival order. */
  private readonly waiting: Row[] = [];
  private readonly freeSlots: number[] = [];
  /**
   * Open batch with prefixCache: the tokens each free cache row holds (its first
   * cache.lengths[slot] are valid), written once when a row leaves the slot (its prompt and
   * ids), not per step; a busy slot's tokens are its row's (busyTokens). Null when off.
   */
  private readonly held: Array<readonly number[]> | null;
  private readonly V: number;
  private readonly ctx: number;
  private readonly padId: number;
  private readonly open: boolean;
  private cache: KVCache | null = null;
  /** BatchOptions.forwardThread: the forward started by the last step, until settle(). */
  private inFlight: Promise<void> | null = null;
  private nextIndex = 0;
  /** Fixed batch with shareHistories: each row's group, named by the row whose cache holds the group's history (its lowest index). */
  private groupOf: Int32Array | null = null;
  /** shareHistories: the rows' shared exponentials (rows of one group draw from the same logits). */
  private readonly draws: DrawCache | null;

  constructor(
    private readonly model: DecodingModel,
    private readonly tok: Pick<Tokenizer, 'createStreamDecoder'>,
    requests: readonly RowRequest[],
    private readonly opts: BatchOptions = {},
  ) {
    this.V = model.config.vocabSize;
    this.ctx = model.config.blockSize;
    this.padId = opts.padId ?? 0;
    this.open = opts.slots !== undefined;
    this.draws = opts.shareHistories && !this.open ? new DrawCache() : null;
    this.held = this.open && opts.prefixCache && model.config.randomPositions === undefined ? Array.from({ length: opts.slots ?? 0 }, () => []) : null;
    if (this.open) {
      const n = opts.slots!;
      if (!Number.isInteger(n) || n < 1) throw new GptforgeError(`slots must be a positive integer, got ${n}`, { field: 'slots' });
      this.cache = opts.forwardThread ? opts.forwardThread.createCache(n) : model.createCache(n);
      for (let r = n - 1; r >= 0; r--) this.freeSlots.push(r);
      for (const req of requests) this.add(req);
      return;
    }
    if (requests.length === 0) throw new GptforgeError('decoding needs at least one row');
    for (const req of requests) {
      const row = this.newRow(req);
      this.fixed.push(row);
      this.finished.push(null);
    }
  }

  private newRow(req: RowRequest): Row {
    const b = this.nextIndex;
    if (req.prompt.length === 0) throw new GptforgeError(`row ${b}: empty prompt`);
    if (req.prompt.length > this.ctx) throw new GptforgeError(`row ${b}: the prompt has ${req.prompt.length} tokens, more than the context of ${this.ctx}`);
    for (const id of req.prompt) if (!(Number.isInteger(id) && id >= 0 && id < this.V)) throw new GptforgeError(`row ${b}: prompt token ${id} is not an id of the vocabulary of ${this.V}`);
    if (req.logprobs !== undefined) logprobOf([0], 0, req.logprobs); // validates the count up front
    const row = new Row(b, req, req.prompt, this.ctx, this.tok, this.V, this.draws);
    if (!(req.maxTokens > 0)) row.finish = { reason: 'length', matched: null };
    this.nextIndex++;
    this.live.set(b, row);
    return row;
  }

  /**
   * Open batch: queue a row; it is prefilled and joins the batch at the next step with a free
   * slot. Returns its index (the `row` of its events). Throws (GptforgeError) on a bad prompt.
   */
  add(req: RowRequest): number {
    if (!this.open) throw new GptforgeError('BatchDecoder.add: only an open decoder (options.slots) takes rows after it starts');
    const row = this.newRow(req);
    this.waiting.push(row);
    return row.index;
  }

  /** Every row is finished (an open decoder: none running or waiting; more may be added). */
  get done(): boolean {
    return this.live.size === 0;
  }

  /** Rows decoding (holding a cache slot). */
  get activeRows(): number {
    return this.live.size - this.waiting.length;
  }

  /** Rows waiting for a slot (open batch). */
  get waitingRows(): number {
    return this.waiting.length;
  }

  /** Slots free now (open batch). */
  get freeSlotCount(): number {
    return this.freeSlots.length;
  }

  /** The finished rows' results in request order (fixed batch; call when done). */
  results(): RowResult[] {
    if (this.open) throw new GptforgeError('BatchDecoder.results: an open decoder reports each result on its finish event');
    return this.finished.map((r, b) => {
      if (!r) throw new Error(`BatchDecoder.results: row ${b} is not finished`);
      return r;
    });
  }

  /** Step until every row is finished; events go to `onEvent`. Returns the results (fixed batch; an open one: [], its results came with the finish events). */
  run(onEvent?: (e: DecodeEvent) => void): RowResult[] {
    while (!this.done) for (const e of this.step()) onEvent?.(e);
    return this.open ? [] : this.results();
  }

  /**
   * One step: rows that can join are prefilled (open batch), every unfinished row takes one
   * token (forced or sampled), then one forward pass over the rows still running.
   */
  step(): DecodeEvent[] {
    if (this.inFlight) throw new GptforgeError("BatchDecoder.step: the last step's forward is still running on the decode thread; await settle() first");
    const events: DecodeEvent[] = [];
    for (const row of [...this.live.values()]) {
      if (!row.done && (this.opts.signal?.aborted || row.req.signal?.aborted)) row.finish = { reason: 'abort', matched: null };
      // ended before decoding (maxTokens ≤ 0), or aborted (also while waiting: never prefilled)
      if (row.finish && !row.result) this.close(row, events);
    }
    if (this.done) return events;
    // With a decode thread, rows join once the running rows' forward has started: their
    // prefills (on this thread) then overlap it instead of holding every running row up
    // (each joining row's first token comes one step later). With none running, at once.
    const joinLater = this.open && this.opts.forwardThread !== undefined && this.waiting.length > 0 && [...this.live.values()].some((r) => r.slot >= 0 && !r.done);
    if (this.open && !joinLater) this.admit();
    else if (!this.open && !this.cache) this.prefill();
    const cache = this.cache!;
    const running = [...this.live.values()].filter((r) => r.slot >= 0);
    for (const row of running) {
      if (row.queue.length > 0) continue;
      if (!this.opts.onRowError) this.sampleRow(row, row.logits!, cache.lengths[row.slot], events);
      else {
        try {
          this.sampleRow(row, row.logits!, cache.lengths[row.slot], events);
        } catch (e) {
          row.finish = { reason: 'abort', matched: null };
          this.opts.onRowError(row.index, e);
        }
      }
      if (row.done) this.close(row, events);
    }
    if (this.open) this.forwardOpen(running.filter((r) => !r.done));
    else if (!this.done) this.forwardFixed();
    if (joinLater) this.admitBesideForward();
    return events;
  }

  /** Fixed batch: every row feeds a token (finished rows padId); one row feeds its whole queue. */
  private forwardFixed(): void {
    const rows = this.fixed;
    if (this.groupOf && rows.length > 1) return this.forwardShared();
    let ids: Int32Array;
    if (rows.length === 1) {
      ids = Int32Array.from(rows[0].queue); // everything at once: one pass for the sample and what was forced after it
      rows[0].queue = [];
    } else {
      ids = new Int32Array(rows.length);
      // every unfinished row holds at least one token here (it either sampled one or ended)
      for (let b = 0; b < rows.length; b++) ids[b] = rows[b].done ? this.padId : rows[b].queue.shift()!;
    }
    const logits = this.model.nextLogits(ids, this.cache!);
    rows.forEach((r, b) => (r.logits = logits.subarray(b * this.V, (b + 1) * this.V)));
  }

  /**
   * Fixed batch, shareHistories: one token per unfinished row; rows of one group feeding the
   * same token stay one group (its lowest row feeds it), a row feeding another token starts a
   * new group with a copy of its old group's cache (copied before this step appends to it).
   * A finished row is never fed; its cache still holds its group's history up to its last
   * step, so the rows that leave its group copy from it.
   */
  private forwardShared(): void {
    const rows = this.fixed;
    const group = this.groupOf!;
    const cache = this.cache!;
    const leaders = new Map<number, number>(); // old group · V + token → the new group's row (a number key: no string per row and step)
    const fed: number[] = [];
    const tokens: number[] = [];
    const copies: Array<[number, number]> = [];
    for (let b = 0; b < rows.length; b++) {
      const row = rows[b];
      if (row.done) continue;
      const token = row.queue.shift()!;
      const key = group[b] * this.V + token;
      let lead = leaders.get(key);
      if (lead === undefined) {
        leaders.set(key, (lead = b));
        fed.push(b);
        tokens.push(token);
        if (group[b] !== b) copies.push([group[b], b]);
      }
      group[b] = lead;
    }
    for (const [src, dst] of copies) cache.copyRow(src, [dst]);
    const logits = this.model.nextLogits(Int32Array.from(tokens), cache, Int32Array.from(fed));
    const at = new Map<number, number>(fed.map((b, i) => [b, i]));
    for (let b = 0; b < rows.length; b++) {
      if (rows[b].done) continue;
      const i = at.get(group[b])!;
      rows[b].logits = logits.subarray(i * this.V, (i + 1) * this.V);
      cache.lengths[b] = cache.lengths[group[b]]; // the row's position (its own cache row is stale until it leaves the group)
    }
  }

  /**
   * BatchOptions.forwardThread: resolves once the last step's forward is done and its logits
   * are in (at once when none is running). Rejects with the forward's error; the decoder is
   * then in no known state (as after a step that threw).
   */
  async settle(): Promise<void> {
    const p = this.inFlight;
    if (!p) return;
    try {
      await p;
    } finally {
      this.inFlight = null;
    }
  }

  /** Open batch: only the running rows, each in its own cache row at its own position. */
  private forwardOpen(rows: Row[]): void {
    if (rows.length === 0) return;
    let ids: Int32Array;
    if (rows.length === 1) {
      ids = Int32Array.from(rows[0].queue);
      rows[0].queue = [];
    } else ids = Int32Array.from(rows, (r) => r.queue.shift()!);
    const slots = Int32Array.from(rows, (r) => r.slot);
    const take = (logits: Float32Array): void => rows.forEach((r, b) => (r.logits = logits.subarray(b * this.V, (b + 1) * this.V)));
    if (this.opts.forwardThread) this.inFlight = this.opts.forwardThread.nextLogits(ids, this.cache!, slots).then(take);
    else take(this.model.nextLogits(ids, this.cache!, slots));
  }

  /**
   * admit() while the decode thread computes the running rows' step (BatchOptions.forwardThread):
   * the joining rows' slots are free, so their prefills, resets and prefix copies touch no cache
   * row the thread reads or writes (a prefix copied from a running row's slot stops before the
   * position the thread is writing: see takeSlotWithPrefix), and the kernels' pool takes one
   * caller at a time (the other runs its tasks alone, same bits). A prefill that throws leaves
   * the decoder in no known state, as a failed step does; the forward's outcome is then moot.
   */
  private admitBesideForward(): void {
    try {
      this.admit();
    } catch (e) {
      this.inFlight?.catch(() => {});
      throw e;
    }
  }

  /**
   * Open batch: waiting rows take free slots in arrival order, each prefilled alone (batch 1,
   * so its logits are those it would have alone); a row with the same prompt as one admitted
   * in this step copies that row's cache instead (n choices share one prefill).
   */
  private admit(): void {
    const cache = this.cache!;
    const admitted: Row[] = [];
    while (this.waiting.length > 0 && this.freeSlots.length > 0) {
      const row = this.waiting.shift()!;
      const twin = admitted.find((a) => a.prompt.length === row.prompt.length && a.prompt.every((id, i) => id === row.prompt[i]));
      if (twin) {
        row.slot = this.freeSlots.pop()!;
        cache.resetRow(row.slot);
        cache.copyRow(twin.slot, [row.slot]);
        row.logits = twin.logits;
        row.cachedTokens = twin.cachedTokens;
      } else {
        const kept = this.held ? this.takeSlotWithPrefix(row) : ((row.slot = this.freeSlots.pop()!), cache.resetRow(row.slot), 0);
        row.cachedTokens = kept;
        row.logits = this.model.nextLogits(Int32Array.from(row.prompt.slice(kept)), cache, Int32Array.of(row.slot));
      }
      admitted.push(row);
    }
  }

  /**
   * prefixCache: give `row` a free slot holding the longest prefix of its prompt that any cache
   * row holds (a free slot's own, else one copied from a busy row's), at most all but its last
   * token (fed to get its logits); the slot is cut to that prefix. Returns the prefix's length
   * (0: the slot is empty, a full prefill).
   */
  private takeSlotWithPrefix(row: Row): number {
    const cache = this.cache!;
    const held = this.held!;
    const p = row.prompt;
    const common = (slot: number, h: readonly number[] = held[slot]): number => {
      const n = Math.min(h.length, cache.lengths[slot], p.length - 1);
      if (cache.starts[slot] !== 0) return 0; // open-batch rows are never left-padded; a padded row's positions are not the prompt's
      let i = 0;
      while (i < n && h[i] === p[i]) i++;
      return i;
    };
    // a free slot of its own: the longest match wins, ties to the slot popped first (the most recently freed)
    let at = this.freeSlots.length - 1;
    let best = common(this.freeSlots[at]);
    for (let i = this.freeSlots.length - 2; i >= 0; i--) {
      const m = common(this.freeSlots[i]);
      if (m > best) [at, best] = [i, m];
    }
    // a busy slot (a running row, or one admitted this step) holding more: copy its prefix into the default free slot
    let src: Row | null = null;
    for (const r of this.live.values()) {
      if (r.slot < 0 || r === row) continue;
      const m = common(r.slot, busyTokens(r));
      if (m > best) [src, best] = [r, m];
    }
    if (src) at = this.freeSlots.length - 1;
    row.slot = this.freeSlots.splice(at, 1)[0];
    // src may be a row the decode thread is feeding right now (admitBesideForward): copyRow copies
    // its first lengths[src] positions, all written before this step's forward, which writes the
    // next one and only then advances lengths[src]; the copy beyond `best` is cut off below
    if (src) cache.copyRow(src.slot, [row.slot]);
    else if (best === 0) cache.resetRow(row.slot);
    cache.lengths[row.slot] = best;
    held[row.slot] = []; // busy now: its tokens are the row's until it leaves (close)
    return best;
  }

  /** Fixed batch: prefill every row together. */
  private prefill(): void {
    const rows = this.fixed;
    const n = rows.length;
    const prompts = rows.map((r) => r.prompt);
    const same = prompts.every((p) => p.length === prompts[0].length && p.every((id, i) => id === prompts[0][i]));
    rows.forEach((r, b) => (r.slot = b));
    if (same) {
      const one = this.model.createCache(1);
      const logits = this.model.nextLogits(Int32Array.from(prompts[0]), one);
      this.cache = n === 1 ? one : one.expand(n);
      for (const r of rows) r.logits = logits;
      if (this.opts.shareHistories) this.groupOf = Int32Array.from({ length: n }, (_, b) => b % this.streams()); // one group per stream, led by its first row
      return;
    }
    const L = Math.max(...prompts.map((p) => p.length));
    const cache = this.model.createCache(n);
    this.cache = cache;
    // rows sharing histories: one group per (prompt, stream), led by its first row (rows with one
    // prompt join the first row with it); without sharing every row is its own
    const s = this.streams();
    const group = this.opts.shareHistories ? Int32Array.from(prompts, (p, b) => prompts.findIndex((q, c) => c % s === b % s && q.length === p.length && q.every((id, i) => id === p[i]))) : null;
    if (group) this.groupOf = group;
    // only each group's lead is prefilled (k replies to each of g prompts: g rows, not g·k, as vLLM
    // prefills a prompt's blocks once for its n parallel samples); the others copy its cache row.
    // Every kernel computes a row alone, so their logits are those of a full prefill.
    const leads = group ? Array.from(group.keys()).filter((b) => group[b] === b) : rows.map((_, b) => b);
    const ids = new Int32Array(leads.length * L).fill(this.padId);
    leads.forEach((b, i) => {
      cache.starts[b] = L - prompts[b].length;
      ids.set(prompts[b], i * L + cache.starts[b]);
    });
    const logits = this.model.nextLogits(ids, cache, group ? Int32Array.from(leads) : undefined);
    const at = new Map<number, number>(leads.map((b, i) => [b, i]));
    if (group)
      for (const b of leads)
        cache.copyRow(
          b,
          Array.from(group.keys()).filter((c) => group[c] === b && c !== b),
        );
    rows.forEach((r, b) => {
      const i = at.get(group ? group[b] : b)!;
      r.logits = logits.subarray(i * this.V, (i + 1) * this.V);
    });
  }

  /** BatchOptions.historyStreams, checked. */
  private streams(): number {
    const s = this.opts.historyStreams ?? 1;
    if (!Number.isInteger(s) || s < 1) throw new GptforgeError(`historyStreams must be a whole number ≥ 1, got ${s}`, { field: 'historyStreams' });
    return s;
  }

  /** Sample the row's next token and run everything that follows from it. */
  private sampleRow(row: Row, logits: Float32Array, cacheLength: number, events: DecodeEvent[]): void {
    const b = row.index;
    const { sampler, req } = row;
    const processed = sampler.processInto(logits, row); // the sampler's scratch: no allocation per step
    const token = sampler.pick(processed);
    req.onStep?.(processed, token);
    row.append(token, true);
    const logprob = req.logprobs !== undefined ? logprobOf(logits, token, req.logprobs) : undefined;
    if (row.endIds.has(token)) {
      events.push({ type: 'token', row: b, token, sampled: true, text: '', logprob });
      row.finish = { reason: 'stop', matched: token };
      return;
    }
    sampler.accept(token, true);
    const said = req.controller?.onSampled(token) ?? { visible: true };
    const text = said.visible ? row.text.push(token) : row.text.interrupt();
    if (text) req.onText?.(text);
    events.push({ type: 'token', row: b, token, sampled: true, text, logprob });
    const forced = said.forced ?? [];
    for (const f of forced) {
      row.append(f, false);
      sampler.accept(f, false);
      events.push({ type: 'token', row: b, token: f, sampled: false, text: '' });
    }
    row.queue = [token, ...forced];
    row.contextNeeded = cacheLength + row.queue.length;
    for (const c of row.criteria) {
      const f = c.check(row);
      if (f) {
        row.finish = f;
        return;
      }
    }
  }

  /** Close a finished row: release the held text, settle the reason, build its result, free its slot. */
  private close(row: Row, events: DecodeEvent[]): void {
    const finish = row.finish!;
    row.queue = [];
    const text = row.text.interrupt();
    if (text) row.req.onText?.(text);
    // a stop string completed by the final flush (an incomplete character) still stops the row
    if (row.text.matched !== null && finish.reason !== 'abort' && finish.reason !== 'stop') Object.assign(finish, { reason: 'stop', matched: row.text.matched });
    const reason = row.req.controller?.finishReason?.(finish.reason) ?? finish.reason;
    row.result = {
      ids: row.ids,
      sampled: row.sampledMask,
      text: row.text.text,
      finishReason: reason,
      matchedStop: reason === 'stop' ? finish.matched : null,
      promptTokens: row.prompt.length,
      completionTokens: row.sampledCount,
      cachedTokens: row.cachedTokens,
    };
    events.push({ type: 'finish', row: row.index, text, result: row.result });
    this.live.delete(row.index);
    if (this.open) {
      const w = this.waiting.indexOf(row);
      if (w >= 0) this.waiting.splice(w, 1);
      if (row.slot >= 0) {
        this.freeSlots.push(row.slot);
        // what the slot's cache now holds (its first cache.lengths[slot] tokens), for the next prompt that shares a prefix
        if (this.held) this.held[row.slot] = busyTokens(row);
      }
      row.slot = -1;
      row.logits = null;
    } else this.finished[row.index] = row.result;
  }
}

/** The tokens a busy slot's row has put in its cache row, in order: its prompt, then its ids (the last few may not be fed yet; cache.lengths bounds them). */
function busyTokens(row: Row): readonly number[] {
  return row.ids.length === 0 ? row.prompt : row.prompt.concat(row.ids);
}

/** log softmax(logits)[token] and the `top` most likely ids (ties: lower id), in float64. */
export function logprobOf(logits: ArrayLike<number>, token: number, top: number): TokenLogprob {
  if (!Number.isInteger(top) || top < 0 || top > 20) throw new GptforgeError(`logprobs ${top}: must be an integer in [0, 20]`, { field: 'top_logprobs' });
  let mx = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > mx) mx = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - mx);
  const lse = mx + Math.log(sum);
  const best: number[] = [];
  for (let i = 0; i < logits.length && top > 0; i++) {
    if (best.length === top && !(logits[i] > logits[best[top - 1]])) continue;
    let j = best.length < top ? best.length : top - 1;
    best[j] = i;
    while (j > 0 && logits[best[j - 1]] < logits[i]) {
      best[j] = best[j - 1];
      best[--j] = i;
    }
  }
  return { logprob: logits[token] - lse, top: best.map((id) => ({ token: id, logprob: logits[id] - lse })) };
}

/** Decode a batch synchronously to the end (the core, without the async iterator). */
export function decode(model: DecodingModel, tok: Pick<Tokenizer, 'createStreamDecoder'>, requests: readonly RowRequest[], opts: BatchOptions = {}): RowResult[] {
  return new BatchDecoder(model, tok, requests, opts).run();
}

/**
 * Decode a batch as an async iterator of events: each token (with the UTF-8-safe text it
 * released) and each finished row; returns the results in request order. It yields to the
 * event loop between steps, so AbortSignals fired by I/O end their rows within one step.
 * Leaving the loop early (break) stops decoding.
 *
 *   for await (const e of generate(model, tok, [{ prompt, maxTokens: 64, seed: 1 }]))
 *     if (e.type === 'token') process.stdout.write(e.text);
 */
export async function* generate(model: DecodingModel, tok: Pick<Tokenizer, 'createStreamDecoder'>, requests: readonly RowRequest[], opts: BatchOptions = {}): AsyncGenerator<DecodeEvent, RowResult[], void> {
  const dec = new BatchDecoder(model, tok, requests, opts);
  while (!dec.done) {
    for (const e of dec.step()) yield e;
    if (!dec.done) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return dec.results();
}
