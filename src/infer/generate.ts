import { Rng } from '../engine/rng.js';
import type { GPT } from '../model/gpt.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { GptforgeError } from '../util/errors.js';
import { sampleToken, type SamplingOptions } from './sampler.js';

/**
 * Generation on the KV cache: the prompt is prefilled in one forward pass, then one token
 * at a time reuses every earlier key and value. Text is streamed through the tokenizer's
 * stream decoder (never half a UTF-8 character) and stops at a stop sequence, an end token,
 * the token limit, or the context length.
 */
export interface GenerateOptions extends SamplingOptions {
  maxTokens: number;
  seed?: number;
  /** Token ids that end generation (not emitted), e.g. <|eos|>. */
  stopIds?: readonly number[];
  /** Strings that end generation; text from the stop sequence on is not emitted. */
  stopSequences?: readonly string[];
  /** Called with each piece of new text as it is decoded. */
  onText?(delta: string): void;
  /** Error instead of truncating a prompt longer than the context allows. */
  strict?: boolean;
  /** Every sampled token with the logits it was drawn from (entropy metrics). */
  onStep?(logits: Float32Array, token: number): void;
}

export interface GenerateResult {
  text: string;
  ids: number[];
  stopReason: 'max_tokens' | 'stop' | 'eos' | 'context';
  /** Set when the prompt was cut from the left to fit the context. */
  warning?: string;
}

export function generateText(model: GPT, tok: Tokenizer, promptIds: readonly number[], opts: GenerateOptions): GenerateResult {
  const ctx = model.config.blockSize;
  let ids = [...promptIds];
  let warning: string | undefined;
  // leave room for at least a quarter of the context (or maxTokens) of new tokens
  const room = Math.min(opts.maxTokens, Math.floor(ctx / 4));
  if (ids.length + room > ctx) {
    const keep = Math.max(1, ctx - room);
    if (opts.strict) throw new GptforgeError(`the prompt has ${ids.length} tokens; with ${room} new tokens it exceeds the context of ${ctx} (drop --strict to truncate from the left)`);
    warning = `prompt of ${ids.length} tokens truncated from the left to ${keep} to fit the context of ${ctx}`;
    ids = ids.slice(ids.length - keep);
  }
  if (ids.length === 0) throw new GptforgeError('empty prompt');
  const rng = new Rng(opts.seed ?? 1);
  const cache = model.createCache(1);
  const stopIds = new Set(opts.stopIds ?? []);
  const stops = opts.stopSequences ?? [];
  const decoder = tok.createStreamDecoder();
  const out: number[] = [];
  let text = '';
  let emitted = 0;
  let logits = model.nextLogits(Int32Array.from(ids), cache);
  let stopReason: GenerateResult['stopReason'] = 'max_tokens';
  // Hold back text that could be the start of a stop sequence until we know it is not.
  const holdBack = stops.reduce((m, s) => Math.max(m, s.length - 1), 0);
  const flushSafe = (final: boolean): boolean => {
    for (const s of stops) {
      const at = text.indexOf(s);
      if (at >= 0) {
        if (at > emitted) opts.onText?.(text.slice(emitted, at));
        text = text.slice(0, at);
        emitted = at;
        return true;
      }
    }
    const upto = final ? text.length : Math.max(emitted, text.length - holdBack);
    if (upto > emitted) {
      opts.onText?.(text.slice(emitted, upto));
      emitted = upto;
    }
    return false;
  };
  for (let step = 0; step < opts.maxTokens; step++) {
    const next = sampleToken(logits, opts, rng);
    opts.onStep?.(logits, next);
    if (stopIds.has(next)) {
      stopReason = 'eos';
      break;
    }
    out.push(next);
    text += decoder.push(next);
    if (flushSafe(false)) {
      stopReason = 'stop';
      break;
    }
    if (cache.length >= ctx) {
      stopReason = 'context';
      break;
    }
    logits = model.nextLogits(Int32Array.of(next), cache);
  }
  if (stopReason !== 'stop') {
    text += decoder.flush();
    if (flushSafe(true)) stopReason = 'stop';
  }
  return { text, ids: out, stopReason, warning };
}
