import { Rng } from '../engine/rng.js';
import type { GPT } from '../model/gpt.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { chatTokenIds, renderPrompt, type ChatSpecial } from '../data/chat.js';
import type { Conversation, Message } from '../data/conversation.js';
import { GptforgeError } from '../util/errors.js';
import { sampleToken, type SamplingOptions } from './sampler.js';
import type { ToolRegistry, ToolResult } from './tools/registry.js';

/**
 * The chat engine: one assistant reply to a conversation, generated on the KV cache and
 * streamed, with the tool state machine inside decoding.
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
  /** Visible text as it is decoded. */
  onText?(delta: string): void;
  /** Each completed tool call and its result. */
  onToolCall?(call: string, result: ToolResult): void;
  /** Error instead of dropping old turns when the conversation does not fit the context. */
  strict?: boolean;
  /** Every sampled token with the logits it was drawn from (after masking): entropy and diversity metrics. */
  onStep?(logits: Float32Array, token: number): void;
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

  reply(conv: Conversation, opts: ChatOptions = {}): ChatReply {
    const s = this.sp;
    const ctx = this.model.config.blockSize;
    const maxTokens = opts.maxTokens ?? 128;
    const maxCall = opts.maxCallTokens ?? 48;
    const maxCalls = opts.maxToolCalls ?? 4;
    const tools = opts.tools ?? null;
    const room = Math.min(maxTokens, Math.floor(ctx / 2));
    const { ids: prompt, notice } = this.fitPrompt(conv, room, opts.strict);
    const rng = new Rng(opts.seed ?? 1);
    const cache = this.model.createCache(1);
    let logits = this.model.nextLogits(Int32Array.from(prompt), cache);

    const out: number[] = [];
    const sampled: number[] = [];
    const messages: Message[] = [];
    let segment = ''; // visible text of the current assistant message
    let visible = '';
    let decoder = this.tok.createStreamDecoder();
    let mode: 'text' | 'call' = 'text';
    let call: number[] = [];
    let calls = 0;
    let generated = 0;
    let stopReason: ChatStopReason = 'max_tokens';

    const emit = (delta: string): void => {
      if (delta === '') return;
      segment += delta;
      visible += delta;
      opts.onText?.(delta);
    };
    /** Feed tokens into the cache; false when the context is full. */
    const feed = (toks: number[]): boolean => {
      if (cache.length + toks.length > ctx) return false;
      logits = this.model.nextLogits(Int32Array.from(toks), cache);
      return true;
    };
    /** Run the collected call; returns the tokens to force: <|output_start|> result <|output_end|>. */
    const runCall = (): number[] => {
      const text = this.tok.decode(call);
      const result: ToolResult = tools ? tools.call(text) : { ok: false, output: 'error: no tools are available' };
      opts.onToolCall?.(text, result);
      const colon = text.indexOf(':');
      const name = colon > 0 ? text.slice(0, colon).trim() : '';
      messages.push({ role: 'assistant', content: segment, tool_call: { name: /^[a-z][a-z0-9_]*$/i.test(name) ? name : 'invalid', input: (colon > 0 ? text.slice(colon + 1) : text).trim() || text } });
      messages.push({ role: 'tool', content: result.output });
      segment = '';
      calls++;
      call = [];
      mode = 'text';
      return [s['<|output_start|>'], ...this.tok.encode(result.output, { disallowedSpecial: 'plain' }), s['<|output_end|>']];
    };

    while (generated < maxTokens) {
      const row = logits.slice();
      for (const id of this.banned) row[id] = -Infinity;
      if (mode === 'text') {
        row[s['<|tool_end|>']] = -Infinity;
        if (!tools || calls >= maxCalls) row[s['<|tool_start|>']] = -Infinity;
      } else {
        row[s['<|tool_start|>']] = -Infinity;
      }
      const next = sampleToken(row, opts, rng);
      opts.onStep?.(row, next);
      out.push(next);
      sampled.push(1);
      generated++;
      const isEnd = next === s['<|assistant_end|>'] || (this.tok.hasSpecial('<|eos|>') && next === this.tok.specialId('<|eos|>'));
      if (isEnd) {
        stopReason = mode === 'call' ? 'unclosed_tool_call' : 'end';
        break;
      }
      if (mode === 'text') {
        if (next === s['<|tool_start|>']) {
          emit(decoder.flush());
          decoder = this.tok.createStreamDecoder();
          mode = 'call';
        } else {
          emit(decoder.push(next));
        }
        if (!feed([next])) {
          stopReason = 'context';
          break;
        }
        continue;
      }
      // call mode
      if (next !== s['<|tool_end|>']) call.push(next);
      const closeNow = next === s['<|tool_end|>'] || call.length >= maxCall;
      if (!closeNow) {
        if (!feed([next])) {
          stopReason = 'context';
          break;
        }
        continue;
      }
      const forced = next === s['<|tool_end|>'] ? [] : [s['<|tool_end|>']]; // the engine closes an over-long call itself
      forced.push(...runCall());
      out.push(...forced);
      for (let i = 0; i < forced.length; i++) sampled.push(0);
      // one forward pass for the sampled token and everything forced after it
      if (!feed([next, ...forced])) {
        stopReason = 'context';
        break;
      }
    }
    if (mode === 'call' && stopReason !== 'unclosed_tool_call') stopReason = 'unclosed_tool_call';
    emit(decoder.flush());
    if (segment !== '' || messages.length === 0 || messages[messages.length - 1].role === 'tool') messages.push({ role: 'assistant', content: segment });
    return { messages, text: visible.trim(), ids: out, sampled, stopReason, toolCalls: calls, notice };
  }
}
