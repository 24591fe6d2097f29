import type { Tokenizer } from '../tokenizer/index.js';
import { chatTokenIds, renderPrompt, turnEndIds, type ChatSpecial } from '../data/chat.js';
import type { Conversation, Message } from '../data/conversation.js';
import { GptforgeError } from '../util/errors.js';
import type { TokenConstraint } from './constraint.js';
import { decode, generate, type DecodeEvent, type DecodingModel, type RowRequest, type RowResult } from './pipeline.js';
import { checkOptionKeys } from './option-keys.js';
import { checkGenerationOptions, type SamplingOptions } from './processors.js';
import type { FinishReason } from './stopping.js';
import type { ToolRegistry, ToolResult } from './tools/registry.js';
import { toolCallConstraint } from './constrain/toolcall.js';
import { splitToolCall, ToolCallRow, type ToolCallSetup } from './tools-state.js';
import { DEFAULT_MAX_TOOL_CALLS, MAX_TOOL_CALLS_LIMIT } from './tool-limits.js';

export type { DecodingModel } from './pipeline.js';

/**
 * The chat engine: assistant replies decoded by the decoding pipeline (pipeline.ts), one row
 * per reply, with the tool state machine as a per-row record that the pipeline consults
 * (ToolCallState on tools-state.ts's ToolCallRow, the machine the server's rows share: it masks,
 * forces tokens and runs tools) rather than a loop of its own.
 *
 *   prompt ← render(conversation) + <|assistant_start|>          (chat.ts: the training layout)
 *   each sampled token:
 *     text mode:  <|assistant_end|> ends the reply; <|tool_start|> opens a call; else visible text
 *     call mode:  collect tokens until <|tool_end|>, run the tool, then force
 *                 <|output_start|> result <|output_end|> into the cache and return to text mode
 *
 * Tokens the model must never produce inside a reply (turn and system markers, tool outputs,
 * which only the engine writes) are masked out before sampling. Without tools, <|tool_start|>
 * is masked too, so the model answers directly (the eval's "no calculator" column).
 * A call that grows past maxCallTokens is closed by the engine and run (the tool's error goes
 * back to the model). The end of turn is masked inside an open call, so a model that would end its
 * turn there writes on until <|tool_end|> or maxCallTokens rather than drop the call ('unclosed_tool_call'
 * stays as a guard; the token budget or the context running out inside one gives 'max_tokens' / 'context').
 * Every sampling setting of the pipeline applies (penalties, logit bias, min-p, stop strings,
 * a constraint, an AbortSignal).
 */
export interface ChatOptions extends SamplingOptions {
  /** New tokens for the reply, tool outputs not counted (default 128). */
  maxTokens?: number;
  /**
   * The sampler's seed (an integer; default 1, fixed: the same reply every call, at any
   * temperature; replies() row i uses seed + i). Pass a fresh one per call for varied replies.
   */
  seed?: number;
  /** The tools the model may call; null or undefined: none. */
  tools?: ToolRegistry | null;
  /** Longest tool call, in tokens (default 48). */
  maxCallTokens?: number;
  /** Most tool calls in one reply (default DEFAULT_MAX_TOOL_CALLS, 4); after that <|tool_start|> is masked. */
  maxToolCalls?: number;
  /** Strings that end the reply; the visible text from the first one on is left out. */
  stop?: readonly string[];
  /** Constrained decoding (constraint.ts); each reply gets its own clone. No tool calls under a constraint. */
  constraint?: TokenConstraint;
  /** Ends the reply ('abort') at the next token. */
  signal?: AbortSignal;
  /** Visible text as it is decoded; `row`: which reply of replies() (0 for reply()). */
  onText?(delta: string, row?: number): void;
  /** Each completed tool call and its result; `row` as for onText. */
  onToolCall?(call: string, result: ToolResult, row?: number): void;
  /** Error instead of dropping old turns when the conversation does not fit the context. */
  strict?: boolean;
  /** Every sampled token with the logits it was drawn from (after masking): entropy and diversity metrics; `row` as for onText. */
  onStep?(logits: Float32Array, token: number, row?: number): void;
  /** replies()/repliesTo(): rows with identical tokens so far share one forward row (pipeline.ts's BatchOptions.shareHistories). */
  shareHistories?: boolean;
  /** With shareHistories: rows share only within their stream, row i in stream i mod historyStreams (pipeline.ts's BatchOptions.historyStreams). */
  historyStreams?: number;
}

/** DEFAULT_MAX_TOOL_CALLS (4) and MAX_TOOL_CALLS_LIMIT (64): tool-limits.ts. */
export { DEFAULT_MAX_TOOL_CALLS, MAX_TOOL_CALLS_LIMIT };

/** @deprecated The older names of `ChatReply.stopReason`; use `ChatReply.finishReason` (FinishReason). */
export type ChatStopReason = 'end' | 'max_tokens' | 'context' | 'unclosed_tool_call' | 'abort';

/** One reply of `ChatEngine`: its messages (tool calls and outputs included), visible text, tokens and why it ended. */
export interface ChatReply {
  /** The assistant (and tool) messages of this reply, ready to append to the conversation. */
  messages: Message[];
  /**
   * The visible text (tool calls and outputs left out), trimmed: the `onText` deltas joined are
   * the same text before trimming (a stream cannot take back a leading space it already sent).
   */
  text: string;
  /** Every token of the reply after <|assistant_start|>, forced tool outputs included. */
  ids: number[];
  /** 1 for tokens the model sampled, 0 for tokens the engine forced (RL needs this). */
  sampled: number[];
  /**
   * Why the reply ended, in OpenAI's `finish_reason` vocabulary (stopping.ts FinishReason),
   * the same as `GenerateResult.finishReason` and the server's: 'stop' (the end of the turn, a
   * stop string or a finished constraint), 'length' (maxTokens), 'context', 'unclosed_tool_call'
   * (the turn ended inside a tool call), 'abort'.
   */
  finishReason: FinishReason;
  /**
   * @deprecated Use `finishReason`; the older names: 'end' ('stop'), 'max_tokens' ('length'),
   * the others the same.
   */
  stopReason: ChatStopReason;
  /**
   * How many tool calls the reply made (each ran, its output forced into the reply): the calls
   * themselves are in `messages` (an assistant message with `tool_call: {name, input}` and the
   * `tool` message with the output), and `ChatOptions.onToolCall` sees each as it completes.
   */
  toolCalls: number;
  /** Set when old turns were dropped to fit the context. */
  notice?: string;
  /**
   * Under `constraint` only: whether the text is a complete value of it. True after finish reason
   * 'stop'; also after 'length' when the text already matches in full (`[0-9]+` cut after
   * "406422": complete, though the model might have gone on); false when the value is unfinished.
   */
  constraintComplete?: boolean;
}

const STOP_REASON: Record<FinishReason, ChatStopReason> = { stop: 'end', length: 'max_tokens', context: 'context', unclosed_tool_call: 'unclosed_tool_call', abort: 'abort' };

/**
 * Rows the batch jobs decode together on one KV cache, ChatEngine.repliesTo: the comparisons'
 * ⌊64 / K⌋ prompts × K replies, the eval's answers, a compared model's samples. Measured at the
 * small preset's shape with its SFT model (docs/decoding.md, "Batched comparisons"): more rows
 * spread each step's fixed cost (the weights read once per step) over more tokens, but a batch
 * takes as many steps as its longest reply, so past a few dozen rows the gain flattens.
 */
export const DECODE_BATCH_ROWS = 64;

/**
 * Chat with a model in the training's chat layout (src/data/chat.ts), with tool calls run by the
 * engine (the interface ChatOptions above describes the loop). `reply` decodes one reply on a
 * batch-1 cache; `replies` n samples of one conversation on one shared prefill; `repliesTo` one
 * per conversation (RL rollouts); `stream` the same as an async iterator of token events.
 * Options are checked before any work (checkGenerationOptions; an unknown key is refused).
 * @throws GptforgeError for a tokenizer without the chat special tokens, a bad option, or a
 *   conversation over the context with `strict`.
 * @example new gf.ChatEngine(model, tok).reply({ messages: [{ role: 'user', content: 'What is 12 times 7?' }] }, { tools: gf.defaultTools() }).text
 */
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

  /**
   * Restart the model's draws of randomized position ids (config.randomPositions, AB5) from
   * `seed` (GPT.seedPositions): what decodes next draws the same ids whatever ran before, so a
   * technique given a seed (ask) is reproducible. ChatOptions.seed seeds only the token
   * sampling; the position draws are the model's, shared by every reply decoded on it.
   * A model without randomized positions: nothing changes.
   * @throws GptforgeError when the model draws position ids but cannot be seeded (a wrapper
   * that does not pass seedPositions on).
   */
  seedPositions(seed: number): void {
    if (this.model.seedPositions) this.model.seedPositions(seed);
    else if (this.model.config.randomPositions !== undefined) throw new GptforgeError('this model draws randomized position ids (config.randomPositions) but has no seedPositions to seed them', { field: 'seedPositions' });
  }

  /** One reply to the conversation, on a cache of batch 1. */
  reply(conv: Conversation, opts: ChatOptions = {}): ChatReply {
    return this.decodeRows([conv], [opts.seed ?? 1], opts)[0];
  }

  /**
   * n independent replies to one conversation, decoded together on one KV cache of batch n
   * (the prompt prefilled once and copied). Row i is exactly `reply(conv, { ...opts, seed:
   * seed + i })` (seed = opts.seed ?? 1) as far as the model's logits are the same at batch n
   * as at batch 1: same masks, tool handling, stop reasons and result fields. maxTokens counts
   * each row's own sampled tokens; the context limit is the shared cache's.
   *
   * The rows move in lockstep (pipeline.ts): forced tokens go in one per step rather than in
   * one pass as in reply(); under causal attention the logits are the same.
   *
   * onStep, onText and onToolCall are called for every row, with the row index as their last
   * argument; the rows' text deltas interleave.
   */
  replies(conv: Conversation, n: number, opts: ChatOptions = {}): ChatReply[] {
    if (!Number.isInteger(n) || n < 1) throw new GptforgeError(`ChatEngine.replies: n must be a positive integer, got ${n}`);
    const seed = opts.seed ?? 1;
    return this.decodeRows(
      new Array<Conversation>(n).fill(conv),
      Array.from({ length: n }, (_, i) => seed + i),
      opts,
    );
  }

  /**
   * One reply to each conversation, decoded together on one KV cache of batch n: RL's batched
   * rollouts. The prompts are left-padded to the longest, and the padding is masked out of
   * attention (KVCache.starts), so row i is `reply(convs[i], { ...opts, seed: seeds[i] })` as
   * far as the model's logits agree: learned positions count from each row's first real
   * token; rotary positions are shifted by the row's padding, which rotary attention is
   * invariant to up to rounding. The context limit is the shared cache's.
   */
  repliesTo(convs: readonly Conversation[], seeds: readonly number[], opts: ChatOptions = {}): ChatReply[] {
    if (convs.length !== seeds.length) throw new GptforgeError(`ChatEngine.repliesTo: ${convs.length} conversations but ${seeds.length} seeds`);
    if (convs.length === 0) return [];
    return this.decodeRows(convs, seeds, opts);
  }

  /**
   * As repliesTo, as an async iterator of the pipeline's events (each token with the visible
   * text it released; `row` indexes `convs`), returning the replies. Yields between steps, so
   * `opts.signal` (or a row's AbortSignal in `signals`) stops decoding within one step.
   */
  async *stream(convs: readonly Conversation[], seeds: readonly number[], opts: ChatOptions = {}, signals?: readonly (AbortSignal | undefined)[]): AsyncGenerator<DecodeEvent, ChatReply[], void> {
    if (convs.length !== seeds.length) throw new GptforgeError(`ChatEngine.stream: ${convs.length} conversations but ${seeds.length} seeds`);
    if (convs.length === 0) return [];
    const { requests, states, notices } = this.rows(convs, seeds, opts);
    if (signals) requests.forEach((r, i) => (r.signal = signals[i] ?? r.signal));
    const results = yield* generate(this.model, this.tok, requests, { padId: this.sp['<|assistant_end|>'] });
    return results.map((r, i) => states[i].reply(r, notices[i], requests[i].constraint));
  }

  private decodeRows(convs: readonly Conversation[], seeds: readonly number[], opts: ChatOptions): ChatReply[] {
    const { requests, states, notices } = this.rows(convs, seeds, opts);
    // any id would do for padding: it is never attended to, and a finished row's logits are never read
    const results = decode(this.model, this.tok, requests, { padId: this.sp['<|assistant_end|>'], shareHistories: opts.shareHistories, historyStreams: opts.historyStreams });
    return results.map((r, i) => states[i].reply(r, notices[i], requests[i].constraint));
  }

  /** One pipeline row per conversation, each with its tool state. A prompt shared by several rows is rendered once. */
  private rows(convs: readonly Conversation[], seeds: readonly number[], opts: ChatOptions): { requests: RowRequest[]; states: ToolCallState[]; notices: (string | undefined)[] } {
    checkOptionKeys(opts, 'chat', 'ChatEngine');
    checkGenerationOptions(opts);
    const ctx = this.model.config.blockSize;
    const maxTokens = opts.maxTokens ?? 128;
    const room = Math.min(maxTokens, Math.floor(ctx / 2));
    const ends = turnEndIds(this.tok);
    const tools = opts.tools ?? null;
    const callConstraint = tools ? toolCallConstraint(tools, this.tok) : null;
    const setup: ToolSetup = { tok: this.tok, maxCallTokens: opts.maxCallTokens ?? 48, maxCalls: opts.maxToolCalls ?? DEFAULT_MAX_TOOL_CALLS, tools, opts, callConstraint };
    const fitted = new Map<Conversation, { ids: number[]; notice?: string }>();
    const requests: RowRequest[] = [];
    const states: ToolCallState[] = [];
    const notices: (string | undefined)[] = [];
    convs.forEach((conv, i) => {
      let fit = fitted.get(conv);
      if (!fit) fitted.set(conv, (fit = this.fitPrompt(conv, room, opts.strict)));
      const state = new ToolCallState(setup, i);
      const { onText, onStep, constraint, shareHistories: _, historyStreams: __, ...sampling } = opts;
      requests.push({
        ...sampling,
        prompt: fit.ids,
        maxTokens,
        seed: seeds[i],
        endIds: ends,
        stop: opts.stop,
        constraint: constraint?.clone(),
        bannedIds: [...this.banned, ...(opts.bannedIds ?? [])],
        processors: [state],
        controller: state,
        onText: (d) => {
          state.emit(d);
          onText?.(d, i);
        },
        onStep: onStep ? (l, t) => onStep(l, t, i) : undefined,
      });
      states.push(state);
      notices.push(fit.notice);
    });
    return { requests, states, notices };
  }
}

/** What every row of one call shares. */
interface ToolSetup extends ToolCallSetup {
  maxCalls: number;
  tools: ToolRegistry | null;
  opts: ChatOptions;
}

/**
 * ChatEngine's layer on the per-row tool state machine (tools-state.ts, which masks by mode and
 * keeps an open call from being dropped by an end of turn): a call may open while tools are given
 * and fewer than maxToolCalls have run; each closed call is run here (one cut at maxCallTokens
 * before its arguments were complete gets an error instead) and its result forced as
 * <|output_start|> result <|output_end|>; an end of turn inside an open call is reported as
 * 'unclosed_tool_call'. It builds the reply's messages from the visible text the pipeline
 * releases (`emit`) and the calls.
 */
class ToolCallState extends ToolCallRow {
  private readonly messages: Message[] = [];
  private segment = ''; // visible text of the current assistant message
  private visible = '';

  constructor(
    private readonly s: ToolSetup,
    /** The row index passed to the callbacks (0 for reply()). */
    private readonly row: number,
  ) {
    super(s);
  }

  protected mayOpen(): boolean {
    return this.s.tools !== null && this.closed < this.s.maxCalls;
  }

  finishReason(reason: FinishReason): FinishReason {
    // an end of turn inside an open call is the model's mistake; a budget (max_tokens, the
    // context) running out inside one is the budget's, and says so like any other cut reply
    return this.inCall && reason === 'stop' ? 'unclosed_tool_call' : reason;
  }

  /** Visible text released by the pipeline. */
  emit(delta: string): void {
    this.segment += delta;
    this.visible += delta;
  }

  /** The reply, from the pipeline's result for this row. */
  reply(r: RowResult, notice: string | undefined, constraint: TokenConstraint | undefined): ChatReply {
    const { messages, segment } = this;
    if (segment !== '' || messages.length === 0 || messages[messages.length - 1].role === 'tool') messages.push({ role: 'assistant', content: segment });
    const out: ChatReply = { messages, text: this.visible.trim(), ids: r.ids, sampled: r.sampled, finishReason: r.finishReason, stopReason: STOP_REASON[r.finishReason], toolCalls: this.closed, notice };
    if (constraint) out.constraintComplete = constraint.isComplete();
    return out;
  }

  /** Run the closed call; returns the tokens to force: <|output_start|> result <|output_end|>. */
  protected closeCall(text: string, complete: boolean): number[] {
    const { tools, opts } = this.s;
    // a call cut at maxCallTokens before its arguments were complete is not run on a partial value
    const result: ToolResult = !complete ? { ok: false, output: `error: the call was cut at ${this.s.maxCallTokens} tokens before its arguments were complete` } : tools ? tools.call(text) : { ok: false, output: 'error: no tools are available' };
    opts.onToolCall?.(text, result, this.row);
    // a call without a name, or with one a conversation cannot hold (chat.ts's identifier), is recorded as `invalid`
    const { name, input } = splitToolCall(text);
    this.messages.push({ role: 'assistant', content: this.segment, tool_call: { name: name !== null && /^[a-z][a-z0-9_]*$/i.test(name) ? name : 'invalid', input } });
    this.messages.push({ role: 'tool', content: result.output });
    this.segment = '';
    return this.outputTokens(result.output);
  }
}
