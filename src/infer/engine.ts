import { Rng } from '../engine/rng.js';
import type { GPT } from '../model/gpt.js';
import type { KVCache } from '../model/kvcache.js';
import type { StreamDecoder, Tokenizer } from '../tokenizer/index.js';
import { chatTokenIds, renderPrompt, type ChatSpecial } from '../data/chat.js';
import type { Conversation, Message } from '../data/conversation.js';
import { GptforgeError } from '../util/errors.js';
import { sampleToken, type SamplingOptions } from './sampler.js';
import type { ToolRegistry, ToolResult } from './tools/registry.js';

/**
 * The chat engine: an assistant reply to a conversation, generated on the KV cache and
 * streamed, with the tool state machine inside decoding; or several independent replies to one
 * conversation decoded together, one batch row each (replies()).
 *
 *   prompt ← render(conversation) + <|assistant_start|>          (chat.ts: the training layout)
 *   loop: sample a token
 *     text mode:  <|assistant_end|> ends the reply; <|tool_start|> opens a call; else stream text
 *     call mode:  collect tokens until <|tool_end|>, run the tool, then force
 *                 <|output_start|> result <|output_end|> into the cache and return to text mode
 *
 * Tokens the model must never produce inside a reply (turn and system markers, tool outputs,
 * which only the engine writes) are masked out before sampling. Without tools, <|tool_start|>
 * is masked too, so the model answers directly (the eval's "no calculator" column).
 * A call that grows past maxCallTokens is closed by the engine and run (the tool's error goes
 * back to the model); a reply that ends inside an open call stops with 'unclosed_tool_call'.
 */
export interface ChatOptions extends SamplingOptions {
  /** New tokens for the reply, tool outputs not counted (default 128). */
  maxTokens?: number;
  seed?: number;
  /** The tools the model may call; null or undefined: none. */
  tools?: ToolRegistry | null;
  /** Longest tool call, in tokens (default 48). */
  maxCallTokens?: number;
  /** Most tool calls in one reply (default 4); after that <|tool_start|> is masked. */
  maxToolCalls?: number;
  /** Visible text as it is decoded; `row`: which reply of replies() (0 for reply()). */
  onText?(delta: string, row?: number): void;
  /** Each completed tool call and its result; `row` as for onText. */
  onToolCall?(call: string, result: ToolResult, row?: number): void;
  /** Error instead of dropping old turns when the conversation does not fit the context. */
  strict?: boolean;
  /** Every sampled token with the logits it was drawn from (after masking): entropy and diversity metrics; `row` as for onText. */
  onStep?(logits: Float32Array, token: number, row?: number): void;
}

export type ChatStopReason = 'end' | 'max_tokens' | 'context' | 'unclosed_tool_call';

export interface ChatReply {
  /** The assistant (and tool) messages of this reply, ready to append to the conversation. */
  messages: Message[];
  /** The visible text (tool calls and outputs left out). */
  text: string;
  /** Every token of the reply after <|assistant_start|>, forced tool outputs included. */
  ids: number[];
  /** 1 for tokens the model sampled, 0 for tokens the engine forced (RL needs this). */
  sampled: number[];
  stopReason: ChatStopReason;
  toolCalls: number;
  /** Set when old turns were dropped to fit the context. */
  notice?: string;
}

/** What decoding needs of a model (tests substitute a scripted one). */
export type DecodingModel = Pick<GPT, 'config' | 'createCache' | 'nextLogits'>;

export class ChatEngine {
  private readonly sp: Record<ChatSpecial, number>;
  /** Never sampled in a reply: the engine or the user writes these. */
  private readonly banned: number[];

  constructor(
    readonly model: DecodingModel,
    readonly tok: Tokenizer,
  ) {
    this.sp = chatTokenIds(tok);
    const s = this.sp;
    this.banned = [s['<|bos|>'], s['<|user_start|>'], s['<|user_end|>'], s['<|assistant_start|>'], s['<|system_start|>'], s['<|system_end|>'], s['<|output_start|>'], s['<|output_end|>']];
    for (const name of ['<|pad|>', '<|reward|>']) if (tok.hasSpecial(name)) this.banned.push(tok.specialId(name));
  }

  /**
   * Fit the conversation into the context, leaving `room` tokens for the reply: the oldest
   * turns go first (a system message stays). Returns the prompt ids and a notice if anything
   * was dropped.
   */
  fitPrompt(conv: Conversation, room: number, strict = false): { ids: number[]; dropped: number; notice?: string } {
    const ctx = this.model.config.blockSize;
    const msgs = conv.messages;
    const system = msgs[0]?.role === 'system' ? [msgs[0]] : [];
    let start = system.length;
    for (;;) {
      const ids = renderPrompt(this.tok, { messages: [...system, ...msgs.slice(start)] });
      if (ids.length + room <= ctx) {
        const dropped = start - system.length;
        return { ids, dropped, notice: dropped > 0 ? `dropped the ${dropped} oldest message${dropped > 1 ? 's' : ''} to fit the context of ${ctx} tokens` : undefined };
      }
      if (strict) throw new GptforgeError(`the conversation is ${ids.length} tokens; with ${room} tokens for the reply it exceeds the context of ${ctx}`);
      // drop through the next user message so the conversation still starts with a user turn
      let next = start + 1;
      while (next < msgs.length && msgs[next].role !== 'user') next++;
      if (next >= msgs.length) {
        throw new GptforgeError(`the last message alone is ${ids.length} tokens; with ${room} tokens for the reply it does not fit the context of ${ctx}`);
      }
      start = next;
    }
  }

  /** One reply to the conversation, on a cache of batch 1. */
  reply(conv: Conversation, opts: ChatOptions = {}): ChatReply {
    const { prompt, notice, setup } = this.prepare(conv, opts);
    const row = new ReplyDecoder(setup, new Rng(opts.seed ?? 1), 0);
    const cache = this.model.createCache(1);
    let logits = this.model.nextLogits(Int32Array.from(prompt), cache);
    while (!row.done) {
      const toks = row.advance(logits, cache.length);
      // one forward pass for the sampled token and everything forced after it
      if (toks) logits = this.model.nextLogits(Int32Array.from(toks), cache);
    }
    return row.finish(notice);
  }

  /**
   * n independent replies to one conversation, decoded together on one KV cache of batch n.
   * Row i is exactly `reply(conv, { ...opts, seed: seed + i })` (seed = opts.seed ?? 1) as far
   * as the model's logits are the same at batch n as at batch 1: same masks, tool handling,
   * stop reasons and result fields. maxTokens counts each row's own sampled tokens; the
   * context limit is the shared cache's.
   *
   * The cache has one `length` for all rows, so the rows move in lockstep: every step each
   * unfinished row consumes exactly one token, the next of its forced tokens (the sampled token
   * that closed a tool call, then <|tool_end|>? <|output_start|> result <|output_end|>) if it
   * has any, else a freshly sampled one. Forced tokens thus go in one per step rather than in
   * one pass as in reply(); under causal attention the logits are the same. Finished rows feed
   * a pad token whose logits are ignored.
   *
   * onStep, onText and onToolCall are called for every row, with the row index as their last
   * argument; the rows' text deltas interleave.
   */
  replies(conv: Conversation, n: number, opts: ChatOptions = {}): ChatReply[] {
    if (!Number.isInteger(n) || n < 1) throw new GptforgeError(`ChatEngine.replies: n must be a positive integer, got ${n}`);
    // the same tokens either way; reply() skips the lockstep's one-forced-token-per-step passes
    if (n === 1) return [this.reply(conv, opts)];
    const { prompt, notice, setup } = this.prepare(conv, opts);
    const seed = opts.seed ?? 1;
    const rows = Array.from({ length: n }, (_, i) => new ReplyDecoder(setup, new Rng(seed + i), i));
    // Prefill at batch 1 and copy the row n times rather than prefilling at batch n: the prompt
    // is computed once instead of n times, and the first logits are bit-for-bit those of reply().
    const prefill = this.model.createCache(1);
    const logits = this.model.nextLogits(Int32Array.from(prompt), prefill);
    // 0: one row of logits (the prefill's) serves every row
    this.lockstep(rows, prefill.expand(n), logits, 0);
    return rows.map((r) => r.finish(notice));
  }

  /**
   * One reply to each conversation, decoded together on one KV cache of batch n: RL's batched
   * rollouts. The prompts are left-padded to the longest, and the padding is masked out of
   * attention (KVCache.starts), so row i is `reply(convs[i], { ...opts, seed: seeds[i] })` as
   * far as the model's logits agree: learned positions count from each row's first real
   * token; rotary positions are shifted by the row's padding, which rotary attention is
   * invariant to up to rounding. Rows move in lockstep as in replies(); the context limit
   * is the shared cache's (the longest prompt's).
   */
  repliesTo(convs: readonly Conversation[], seeds: readonly number[], opts: ChatOptions = {}): ChatReply[] {
    if (convs.length !== seeds.length) throw new GptforgeError(`ChatEngine.repliesTo: ${convs.length} conversations but ${seeds.length} seeds`);
    if (convs.length === 0) return [];
    if (convs.length === 1) return [this.reply(convs[0], { ...opts, seed: seeds[0] })];
    const prepared = convs.map((c) => this.prepare(c, opts));
    const n = convs.length;
    const L = Math.max(...prepared.map((p) => p.prompt.length));
    const cache = this.model.createCache(n);
    const ids = new Int32Array(n * L).fill(this.sp['<|assistant_end|>']); // padding: never attended to
    prepared.forEach((p, b) => {
      cache.starts[b] = L - p.prompt.length;
      ids.set(p.prompt, b * L + cache.starts[b]);
    });
    const logits = this.model.nextLogits(ids, cache);
    const rows = prepared.map((p, i) => new ReplyDecoder(p.setup, new Rng(seeds[i]), i));
    this.lockstep(rows, cache, logits, this.model.config.vocabSize);
    return rows.map((r, i) => r.finish(prepared[i].notice));
  }

  /**
   * Decode rows together until all are done: each step every unfinished row feeds one token
   * (its next forced one, else a fresh sample from its logits); finished rows feed a pad token
   * whose logits are ignored. `stride` is the distance between rows in `logits` (0: one row
   * serves all, as after a shared prefill).
   */
  private lockstep(rows: readonly ReplyDecoder[], cache: KVCache, logits: Float32Array, stride: number): void {
    const n = rows.length;
    const V = this.model.config.vocabSize;
    const queues: number[][] = rows.map(() => []);
    const step = new Int32Array(n);
    const pad = this.sp['<|assistant_end|>']; // any id would do: a finished row's logits are never read
    for (;;) {
      for (let b = 0; b < n; b++) {
        if (rows[b].done || queues[b].length > 0) continue;
        queues[b] = rows[b].advance(logits.subarray(b * stride, b * stride + V), cache.length) ?? [];
      }
      if (rows.every((r) => r.done)) break;
      // every unfinished row holds at least one token here (advance either returned some or finished the row)
      for (let b = 0; b < n; b++) step[b] = rows[b].done ? pad : queues[b].shift()!;
      logits = this.model.nextLogits(step, cache);
      stride = V;
    }
  }

  /** The prompt and what every row's state machine needs, resolved once per call. */
  private prepare(conv: Conversation, opts: ChatOptions): { prompt: number[]; notice?: string; setup: DecodeSetup } {
    const ctx = this.model.config.blockSize;
    const maxTokens = opts.maxTokens ?? 128;
    const room = Math.min(maxTokens, Math.floor(ctx / 2));
    const { ids: prompt, notice } = this.fitPrompt(conv, room, opts.strict);
    const ends = [this.sp['<|assistant_end|>']];
    if (this.tok.hasSpecial('<|eos|>')) ends.push(this.tok.specialId('<|eos|>'));
    const setup: DecodeSetup = {
      tok: this.tok,
      sp: this.sp,
      banned: this.banned,
      ends,
      ctx,
      maxTokens,
      maxCall: opts.maxCallTokens ?? 48,
      maxCalls: opts.maxToolCalls ?? 4,
      tools: opts.tools ?? null,
      opts,
    };
    return { prompt, notice, setup };
  }
}

/** What every row of one reply()/replies() call shares. */
interface DecodeSetup {
  tok: Tokenizer;
  sp: Record<ChatSpecial, number>;
  banned: readonly number[];
  /** Tokens that end the reply: <|assistant_end|> (and <|eos|> when the tokenizer has it). */
  ends: readonly number[];
  /** Context length: the cache never holds more. */
  ctx: number;
  maxTokens: number;
  maxCall: number;
  maxCalls: number;
  tools: ToolRegistry | null;
  opts: ChatOptions;
}

/**
 * The tool state machine of one reply, apart from the model: it is handed the logits for its
 * next token and answers with the tokens to feed the cache (the sampled token and whatever the
 * engine forces after it), or null once the reply is over. reply() feeds the answer in one
 * forward pass; replies() feeds it one token per lockstep step.
 */
class ReplyDecoder {
  private readonly ids: number[] = [];
  private readonly sampled: number[] = [];
  private readonly messages: Message[] = [];
  private segment = ''; // visible text of the current assistant message
  private visible = '';
  private decoder: StreamDecoder;
  private mode: 'text' | 'call' = 'text';
  private call: number[] = [];
  private calls = 0;
  private generated = 0;
  /** Set once the reply is over. */
  private stopReason: ChatStopReason | null = null;

  constructor(
    private readonly s: DecodeSetup,
    private readonly rng: Rng,
    /** The row index passed to the callbacks (0 for reply()). */
    private readonly row: number,
  ) {
    this.decoder = s.tok.createStreamDecoder();
    if (!(s.maxTokens > 0)) this.stopReason = 'max_tokens';
  }

  get done(): boolean {
    return this.stopReason !== null;
  }

  /**
   * Sample the next token from this row's logits (the cache holding `cacheLength` positions, all
   * of this reply's tokens so far fed) and run the state machine on it. Returns the tokens to
   * feed, or null when the reply ended: on an end token, when the tokens would overflow the
   * context, or at maxTokens (checked in that order, so the stop reason matches the old loop's).
   */
  advance(logits: Float32Array, cacheLength: number): number[] | null {
    const { sp, opts } = this.s;
    const row = logits.slice();
    for (const id of this.s.banned) row[id] = -Infinity;
    if (this.mode === 'text') {
      row[sp['<|tool_end|>']] = -Infinity;
      if (!this.s.tools || this.calls >= this.s.maxCalls) row[sp['<|tool_start|>']] = -Infinity;
    } else {
      row[sp['<|tool_start|>']] = -Infinity;
    }
    const next = sampleToken(row, opts, this.rng);
    opts.onStep?.(row, next, this.row);
    this.ids.push(next);
    this.sampled.push(1);
    this.generated++;
    if (this.s.ends.includes(next)) return this.stop(this.mode === 'call' ? 'unclosed_tool_call' : 'end');
    const toks = this.consume(next);
    if (cacheLength + toks.length > this.s.ctx) return this.stop('context');
    if (!(this.generated < this.s.maxTokens)) return this.stop('max_tokens');
    return toks;
  }

  /** The reply as decoded so far, closed off. */
  finish(notice: string | undefined): ChatReply {
    let stopReason = this.stopReason ?? 'max_tokens';
    if (this.mode === 'call') stopReason = 'unclosed_tool_call';
    this.emit(this.decoder.flush());
    const { messages, segment } = this;
    if (segment !== '' || messages.length === 0 || messages[messages.length - 1].role === 'tool') messages.push({ role: 'assistant', content: segment });
    return { messages, text: this.visible.trim(), ids: this.ids, sampled: this.sampled, stopReason, toolCalls: this.calls, notice };
  }

  private stop(reason: ChatStopReason): null {
    this.stopReason = reason;
    return null;
  }

  /** A sampled token that does not end the reply: stream it or collect it into the call; returns what to feed. */
  private consume(next: number): number[] {
    const { sp, tok } = this.s;
    if (this.mode === 'text') {
      if (next === sp['<|tool_start|>']) {
        this.emit(this.decoder.flush());
        this.decoder = tok.createStreamDecoder();
        this.mode = 'call';
      } else {
        this.emit(this.decoder.push(next));
      }
      return [next];
    }
    if (next !== sp['<|tool_end|>']) this.call.push(next);
    if (next !== sp['<|tool_end|>'] && this.call.length < this.s.maxCall) return [next];
    const forced = next === sp['<|tool_end|>'] ? [] : [sp['<|tool_end|>']]; // the engine closes an over-long call itself
    forced.push(...this.runCall());
    this.ids.push(...forced);
    for (let i = 0; i < forced.length; i++) this.sampled.push(0);
    return [next, ...forced];
  }

  /** Run the collected call; returns the tokens to force: <|output_start|> result <|output_end|>. */
  private runCall(): number[] {
    const { sp, tok, tools, opts } = this.s;
    const text = tok.decode(this.call);
    const result: ToolResult = tools ? tools.call(text) : { ok: false, output: 'error: no tools are available' };
    opts.onToolCall?.(text, result, this.row);
    const colon = text.indexOf(':');
    const name = colon > 0 ? text.slice(0, colon).trim() : '';
    this.messages.push({ role: 'assistant', content: this.segment, tool_call: { name: /^[a-z][a-z0-9_]*$/i.test(name) ? name : 'invalid', input: (colon > 0 ? text.slice(colon + 1) : text).trim() || text } });
    this.messages.push({ role: 'tool', content: result.output });
    this.segment = '';
    this.calls++;
    this.call = [];
    this.mode = 'text';
    return [sp['<|output_start|>'], ...tok.encode(result.output, { disallowedSpecial: 'plain' }), sp['<|output_end|>']];
  }

  private emit(delta: string): void {
    if (delta === '') return;
    this.segment += delta;
    this.visible += delta;
    this.s.opts.onText?.(delta, this.row);
  }
}
