import { closestKey } from '../util/closest.js';
import { GptforgeError } from '../util/errors.js';
import type { ChatOptions } from './engine.js';
import type { GenerateOptions } from './generate.js';
import type { SamplingOptions } from './processors.js';

/**
 * The option objects' keys, for a check at run time: from JavaScript (or a spread of a wider
 * object) a misspelt or foreign key — `stopSequence`, or `stop` before it was a GenerateOptions
 * key — would otherwise be ignored without a word. Each table is a `Record` over the interface's
 * keys, so the compiler refuses a table that misses a key or names one the interface lacks.
 */
const SAMPLING: Record<keyof SamplingOptions, true> = { temperature: true, topK: true, topP: true, minP: true, repetitionPenalty: true, presencePenalty: true, frequencyPenalty: true, logitBias: true, bannedIds: true };

const GENERATE: Record<keyof GenerateOptions, true> = { ...SAMPLING, maxTokens: true, seed: true, stopIds: true, stop: true, stopSequences: true, onText: true, strict: true, onStep: true, constraint: true, signal: true };

const CHAT: Record<keyof ChatOptions, true> = {
  ...SAMPLING,
  maxTokens: true,
  seed: true,
  tools: true,
  maxCallTokens: true,
  maxToolCalls: true,
  stop: true,
  constraint: true,
  signal: true,
  onText: true,
  onToolCall: true,
  strict: true,
  onStep: true,
  shareHistories: true,
  historyStreams: true,
};

/** Other APIs' names for our options (Hugging Face's, OpenAI's wire names, our deprecated ones), too far from ours for an edit-distance hint. */
const OTHER_NAMES: Record<string, string> = {
  stopSequences: 'stop',
  stop_sequences: 'stop',
  max_new_tokens: 'maxTokens',
  maxNewTokens: 'maxTokens',
  max_tokens: 'maxTokens',
  top_p: 'topP',
  top_k: 'topK',
  min_p: 'minP',
  repetition_penalty: 'repetitionPenalty',
  presence_penalty: 'presencePenalty',
  frequency_penalty: 'frequencyPenalty',
  logit_bias: 'logitBias',
  do_sample: 'temperature',
};

/** The keys `generateText` (so `sampleFromRun`, `sampleFromModel`) and `ChatEngine` accept. */
export const OPTION_KEYS = { generate: Object.keys(GENERATE), chat: Object.keys(CHAT) } as const;

/**
 * Refuse a key of `opts` that `what`'s options do not have (an `undefined` value included: it is
 * still a misspelling), naming it and the nearest known key.
 * @throws GptforgeError `unknown option "stopSequence" of generateText; did you mean "stopSequences"?` at field = the key.
 */
export function checkOptionKeys(opts: object, kind: keyof typeof OPTION_KEYS, what: string): void {
  const known = OPTION_KEYS[kind];
  for (const key of Object.keys(opts)) {
    if (known.includes(key)) continue;
    const other = OTHER_NAMES[key];
    const near = other !== undefined && known.includes(other) ? other : closestKey(key, known);
    throw new GptforgeError(`unknown option "${key}" of ${what}${near ? `; did you mean "${near}"?` : ` (its options: ${known.join(', ')})`}`, { field: key });
  }
}
