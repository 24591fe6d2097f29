import { GptforgeError } from '../util/errors.js';
import type { SamplingOptions } from './processors.js';

/**
 * The generation options' ranges and their checks: one table for the library's entry points,
 * the CLI's sampling flags and the processors' constructors (processors.ts re-exports all of
 * it). A module of its own so that checking flags loads no kernels.
 */

/**
 * One generation option's valid values. `ok`/`want`: the option's range as its docs give it
 * (OpenAI's for the penalties), where the value that turns a step off is allowed (`topK` 0, `topP`
 * 1). `processor`: where the step's own constructor needs more, because it is only built when the
 * option is on (a `TopK` keeping 0 tokens, a `Temperature` of 0, which is the sampler's greedy
 * pick rather than a warper).
 */
export interface GenerationOptionRule {
  ok(v: number): boolean;
  want: string;
  processor?: { ok(v: number): boolean; want: string };
}

/**
 * The generation options' rules: the one table `checkGenerationOptions` (the library's entry
 * points and the CLI's flags) and the processors' and warpers' constructors (for direct users
 * of them) read, so the two never state different ranges.
 */
export const GENERATION_OPTION_RULES = {
  maxTokens: { ok: (v) => Number.isInteger(v) && v >= 0, want: 'an integer ≥ 0' },
  temperature: { ok: (v) => v >= 0, want: 'a number ≥ 0', processor: { ok: (v) => v > 0, want: "a positive number (0 = greedy is the sampler's, not a warper)" } },
  topK: { ok: (v) => Number.isInteger(v) && v >= 0, want: 'an integer ≥ 0 (0 = off)', processor: { ok: (v) => Number.isInteger(v) && v >= 1, want: 'a positive integer (0 = off: no warper)' } },
  // 0 keeps only the most likely token, as OpenAI and Hugging Face take it (vLLM refuses 0)
  topP: { ok: (v) => v >= 0 && v <= 1, want: 'a number in [0, 1] (1 = off, 0 = only the most likely token)' },
  minP: { ok: (v) => v >= 0 && v <= 1, want: 'a number in [0, 1] (0 = off)' },
  repetitionPenalty: { ok: (v) => v > 0, want: 'a positive number (1 = off)' },
  presencePenalty: { ok: (v) => v >= -2 && v <= 2, want: 'a number in [-2, 2] (0 = off)' },
  frequencyPenalty: { ok: (v) => v >= -2 && v <= 2, want: 'a number in [-2, 2] (0 = off)' },
  seed: { ok: (v) => Number.isInteger(v), want: 'an integer' },
} as const satisfies Record<string, GenerationOptionRule>;

export type GenerationOption = keyof typeof GENERATION_OPTION_RULES;

/**
 * Check one option's value against its rule in GENERATION_OPTION_RULES (`processor`: the stricter
 * rule of the step's constructor, where it has one). Values arrive untyped from JavaScript callers
 * and JSON (`{maxTokens: 'x'}`), so each is checked to be a finite number first.
 * @throws GptforgeError whose `field` is the option's name, its detail in the same words, e.g. `topP: expects a number in [0, 1] (1 = off, 0 = only the most likely token), got 3`
 *   (the CLI prints `--top-p: expects …`: formatError renames the leading option name).
 */
export function checkGenerationOption(field: GenerationOption, v: unknown, processor = false): void {
  const rule: GenerationOptionRule = GENERATION_OPTION_RULES[field];
  // the option's own range first (the same message as checkGenerationOptions), then the constructor's need
  for (const r of processor && rule.processor ? [rule, rule.processor] : [rule]) {
    if (typeof v !== 'number' || !Number.isFinite(v) || !r.ok(v)) throw new GptforgeError(`${field}: expects ${r.want}, got ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`, { field });
  }
}

/**
 * Check generation options before any work: the one validator the library's entry points
 * (`generateText`, so `sampleFromRun`/`sampleFromModel`; `ChatEngine`) and the CLI's sampling
 * flags (`checkSamplingFlags`) share, over GENERATION_OPTION_RULES (the table the processors'
 * constructors read too). `maxTokens` 0 is allowed (an empty completion, finish reason 'length').
 * @throws GptforgeError whose `field` is the option's name (`maxTokens`, `topP`, …; the CLI prints
 *   the flag), e.g. `maxTokens: expects an integer ≥ 0, got -1` (the CLI: `--max-tokens: expects …`).
 */
export function checkGenerationOptions(opts: SamplingOptions & { maxTokens?: number; seed?: number }): void {
  for (const field of Object.keys(GENERATION_OPTION_RULES) as GenerationOption[]) if (opts[field] !== undefined) checkGenerationOption(field, opts[field]);
}
