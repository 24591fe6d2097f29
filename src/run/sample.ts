import { ChatEngine } from '../infer/engine.js';
import { generateText, type GenerateOptions, type GenerateResult } from '../infer/generate.js';
import type { DecodingModel } from '../infer/pipeline.js';
import type { FinishReason } from '../infer/stopping.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { defaultTools } from '../infer/tools/registry.js';
import { loadModel } from './models.js';
import type { BasePrecision } from '../model/quantize.js';

/**
 * Complete `prompt` with a run's model (`stage`, default the newest): `sampleFromModel` on
 * `loadModel(runDir, stage, { precision })`.
 */
export function sampleFromRun(runDir: string, prompt: string, opts: Omit<GenerateOptions, 'stopIds'>, stage?: string, precision?: BasePrecision): GenerateResult {
  return sampleFromModel(loadModel(runDir, stage, { precision }), prompt, opts);
}

/**
 * Complete `prompt` with a loaded model (a caller that needs the model too, such as `gptforge
 * sample` for its context size, loads it once). The prompt is continued as written (its special
 * token text encoded as plain text): documents in training begin with <|bos|>, so prompts do
 * too. <|eos|> ends the completion; so does <|assistant_end|> for a chat model (any `stage`
 * but `pretrain`: sft, rl, dpo, …) — the end of its turn, where `chat` stops, is the end of
 * what it writes: past it the model writes the next turn's markers as text. (To put the prompt
 * in a user turn instead, use ChatEngine / `gptforge chat --prompt`.)
 */
export function sampleFromModel(loaded: { model: DecodingModel; tok: Tokenizer; stage?: string }, prompt: string, opts: Omit<GenerateOptions, 'stopIds'>): GenerateResult {
  const { model, tok } = loaded;
  const ids = [...(tok.hasSpecial('<|bos|>') ? [tok.specialId('<|bos|>')] : []), ...tok.encode(prompt, { disallowedSpecial: 'plain' })];
  const ends = ['<|eos|>', ...(loaded.stage !== undefined && loaded.stage !== 'pretrain' ? ['<|assistant_end|>'] : [])];
  const stopIds = ends.filter((s) => tok.hasSpecial(s)).map((s) => tok.specialId(s));
  return generateText(model, tok, ids, { ...opts, stopIds });
}

/**
 * Whether a constrained output is a complete value: the one rule `sample` and `chat` both apply.
 * Only an end ('stop': an end token or the constraint's own end; a stop string is refused with
 * a constraint) or the token limit ('length') can leave one, and only in an accepting state
 * (`accepting`: the constraint's isComplete()). Cut at the token limit in an accepting state,
 * the output already matches in full (`[0-9]+` after "406422"): complete, though the model
 * might have gone on (the caller says so). Any other finish ('context', 'abort',
 * 'unclosed_tool_call') leaves it incomplete.
 */
export function constrainedValueComplete(finishReason: FinishReason, accepting: boolean): boolean {
  return (finishReason === 'stop' || finishReason === 'length') && accepting;
}

/**
 * Why a constrained completion is not a complete value (`constrainedValueComplete`), or
 * undefined when it is. Printed so that an incomplete value is never taken for a complete one
 * (issue 17, "Bad input").
 */
export function incompleteReason(res: GenerateResult, constraint: { isComplete(): boolean }): string | undefined {
  if (constrainedValueComplete(res.finishReason, constraint.isComplete())) return undefined;
  return res.finishReason === 'length' ? 'cut at --max-tokens: the constrained value is incomplete' : `ended by ${res.finishReason}: the constrained value is incomplete`;
}

/**
 * A scripted chat with a run's chat model: each prompt as a fresh one-turn conversation (greedy
 * unless `temperature`, calculator on, 96 tokens a reply). @returns the transcript text,
 * tool calls shown as `[calculator: 3*4 → 12]`.
 */
export function scriptedChat(runDir: string, prompts: readonly string[], opts: { stage?: string; temperature?: number; seed?: number } = {}): string {
  const { model, tok } = loadModel(runDir, opts.stage);
  const engine = new ChatEngine(model, tok);
  const tools = defaultTools();
  const lines: string[] = [];
  for (const p of prompts) {
    const r = engine.reply({ messages: [{ role: 'user', content: p }] }, { temperature: opts.temperature ?? 0, seed: opts.seed ?? 1, tools, maxTokens: 96 });
    const shown = r.messages.map((m) => (m.role === 'tool' ? `${m.content}] ` : m.tool_call ? `${m.content}[${m.tool_call.name}: ${m.tool_call.input} → ` : m.content)).join('');
    lines.push(`user> ${p}`, `assistant> ${shown.trim()}`, '');
  }
  return lines.join('\n');
}
