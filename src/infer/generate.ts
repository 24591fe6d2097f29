import type { Tokenizer } from '../tokenizer/index.js';
import { GptforgeError } from '../util/errors.js';
import { decode, type DecodingModel } from './pipeline.js';
import { checkGenerationOptions, type SamplingOptions } from './processors.js';
import type { FinishReason } from './stopping.js';
import type { TokenConstraint } from './constraint.js';
import { checkOptionKeys } from './option-keys.js';

/**
 * Base-model completion: one row of the decoding pipeline (pipeline.ts). The prompt is
 * prefilled in one forward pass, then one token at a time reuses every earlier key and value.
 * Text is streamed UTF-8-safe and stops at a stop sequence (never emitted), an end token, the
 * token limit, the context length, or the AbortSignal.
 */
export interface GenerateOptions extends SamplingOptions {
  /** New tokens at most (an integer ≥ 0). */
  maxTokens: number;
  /**
   * The sampler's seed (an integer; default 1, fixed: the same call gives the same text, at any
   * temperature). Pass a fresh one per call for varied samples; the server draws one per request
   * when none is given, as OpenAI does.
   */
  seed?: number;
  /**
   * Token ids that end generation (not emitted). Default: the tokenizer's <|eos|> and
   * <|assistant_end|> (pipeline.ts `defaultEndIds`), so a chat model stops at the end of its
   * turn as `gptforge sample` does (HF `generate` defaults to the model's `eos_token_id` the same
   * way); `[]` generates through them to `maxTokens`.
   */
  stopIds?: readonly number[];
  /** Strings that end generation (OpenAI's `stop`, as `ChatOptions.stop` and the server); text from the stop string on is not emitted. */
  stop?: readonly string[];
  /** @deprecated use `stop` (the same strings; given both, they must be the same). */
  stopSequences?: readonly string[];
  /** Called with each piece of new text as it is decoded. */
  onText?(delta: string): void;
  /** Error instead of truncating a prompt longer than the context allows. */
  strict?: boolean;
  /** Every sampled token with the logits it was drawn from (after any bias, penalties and masks; entropy metrics). */
  onStep?(logits: Float32Array, token: number): void;
  /** Constrained decoding (constraint.ts): the end tokens are allowed only once it is complete. */
  constraint?: TokenConstraint;
  /** Stops generation at the next token ('abort'). */
  signal?: AbortSignal;
}

/** What `generateText` produced: the text (stop string and end token left out), its token ids, and why it ended. */
export interface GenerateResult {
  text: string;
  ids: number[];
  /**
   * Why generation ended, in OpenAI's `finish_reason` vocabulary (stopping.ts FinishReason), as
   * `ChatReply.finishReason` and the server: 'stop' (an end token or a stop sequence: which one
   * is `matchedStop`), 'length' (maxTokens), 'context', 'abort'.
   */
  finishReason: FinishReason;
  /** What ended a 'stop' (vLLM's `stop_reason`): the end token's id, the stop sequence, or null (a complete constraint); undefined otherwise. */
  matchedStop?: number | string | null;
  /**
   * @deprecated Use `finishReason` (and `matchedStop`); the older names: 'eos' (an end token),
   * 'stop' (a stop sequence), 'max_tokens' ('length'), 'context', 'abort'.
   */
  stopReason: 'max_tokens' | 'stop' | 'eos' | 'context' | 'abort';
  /** Set when the prompt was cut from the left to fit the context. */
  warning?: string;
}

/**
 * Complete `promptIds` with `model` (see GenerateOptions), one row of the decoding pipeline.
 * @throws GptforgeError naming the option (`err.field`) for an unknown option key (with the
 *   nearest known one), a value out of range (checkGenerationOptions), `stop` and its deprecated
 *   alias `stopSequences` that differ, a prompt over the context with `strict`, or an empty prompt.
 */
export function generateText(model: DecodingModel, tok: Tokenizer, promptIds: readonly number[], opts: GenerateOptions): GenerateResult {
  // an unknown key (a typo, or another API's name) would otherwise be ignored without a word
  checkOptionKeys(opts, 'generate', 'generateText');
  // a bad option is named (maxTokens -1 would otherwise give an empty completion, silently)
  checkGenerationOptions(opts);
  if (opts.stop !== undefined && opts.stopSequences !== undefined && JSON.stringify(opts.stop) !== JSON.stringify(opts.stopSequences)) throw new GptforgeError('stop and its deprecated alias stopSequences differ: give stop alone', { field: 'stop' });
  const stop = opts.stop ?? opts.stopSequences;
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
  const [r] = decode(model, tok, [{ ...opts, prompt: ids, endIds: opts.stopIds, stop }]);
  // the end token is not part of a base-model completion
  const out = r.finishReason === 'stop' && typeof r.matchedStop === 'number' ? r.ids.slice(0, -1) : r.ids;
  const stopReason = r.finishReason === 'stop' ? (typeof r.matchedStop === 'number' ? 'eos' : 'stop') : r.finishReason === 'length' ? 'max_tokens' : r.finishReason === 'context' ? 'context' : 'abort';
  return { text: r.text, ids: out, finishReason: r.finishReason, ...(r.finishReason === 'stop' ? { matchedStop: r.matchedStop } : {}), stopReason, warning };
}
