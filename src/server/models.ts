import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { latestCheckpoint, loadCheckpoint, modelFromCheckpoint, selectedCheckpoint } from '../model/checkpoint.js';
import type { GPT } from '../model/gpt.js';
import { setInferencePrecision } from '../model/inference-precision.js';
import type { BasePrecision } from '../model/quantize.js';
import { Tokenizer } from '../tokenizer/index.js';
import { GptforgeError } from '../util/errors.js';

/** The stages of a run that serve as generation models, in listing order. */
export const GENERATION_STAGES: readonly string[] = ['base', 'sft', 'rl', 'dpo'];
/** The reward model's stage (served only by the scoring route). */
export const REWARD_STAGE = 'rm';

export interface ServedModel {
  /** The API's model id: the stage name (base, sft, rl, dpo, rm, sft-lora …). */
  id: string;
  model: GPT;
  tok: Tokenizer;
  /** The checkpoint directory. */
  dir: string;
  /** Seconds since the epoch of when the checkpoint was saved (OpenAI's `created`: when the model was made; the directory's mtime, a checkpoint being written whole and renamed into place). */
  created: number;
}

/**
 * The stages of `runDir` that hold a checkpoint, in listing order: GENERATION_STAGES, then every
 * other stage directory (`sft-lora`, `rl-grpo`, `dpo-lora`, `sft-lora-merged` …: what
 * `--into` and the RL algorithms name) sorted by name, then the reward model.
 * @example runStages('runs/small') // ['base', 'sft', 'rl', 'rl-grpo', 'sft-lora', 'rm']
 */
export function runStages(runDir: string): string[] {
  const named = new Set([...GENERATION_STAGES, REWARD_STAGE]);
  const others = existsSync(runDir)
    ? readdirSync(runDir, { withFileTypes: true })
        .filter((e) => e.isDirectory() && !named.has(e.name) && latestCheckpoint(join(runDir, e.name)) !== null)
        .map((e) => e.name)
        .sort()
    : [];
  return [...GENERATION_STAGES, ...others, REWARD_STAGE];
}

/**
 * A run's models: each present stage's newest checkpoint (`<run>/<stage>/latest.json`),
 * as `modelFromCheckpoint` builds it — by default every stage `runStages` finds, an extra stage
 * holding a scalar-head model (a reward model under another name) skipped; `precision` q8_0 / q4_0 decodes the generation stages on
 * ggml blocks with int8 activations (the reward model stays f32). A stage whose early stopping
 * kept an update serves that one (`<stage>/best/`, as the eval reports it). A stage that fails
 * to load (an adapter whose base checkpoint is gone, a corrupt file) is left out and reported
 * to `onSkip`, so one broken stage does not take the others down. Throws when no generation
 * stage loads, naming why each failed.
 */
export function loadRunModels(runDir: string, stages: readonly string[] = runStages(runDir), opts: { precision?: BasePrecision; onSkip?(stage: string, reason: string): void } = {}): Map<string, ServedModel> {
  const out = new Map<string, ServedModel>();
  const failed: string[] = [];
  for (const stage of stages) {
    const stageDir = join(runDir, stage);
    if (!existsSync(stageDir)) continue;
    const dir = selectedCheckpoint(stageDir);
    if (!dir) continue;
    let served: ServedModel;
    try {
      const ck = loadCheckpoint(dir);
      if (!ck.tokenizerJSON) throw new GptforgeError('checkpoint has no tokenizer.json', { file: dir });
      const model = modelFromCheckpoint(ck);
      if (model.hasScalarHead && stage !== REWARD_STAGE && !GENERATION_STAGES.includes(stage)) continue;
      if (stage !== REWARD_STAGE) setInferencePrecision(model, opts.precision ?? 'f32');
      served = { id: stage, model, tok: Tokenizer.fromJSON(ck.tokenizerJSON, join(dir, 'tokenizer.json')), dir, created: Math.floor(statSync(dir).mtimeMs / 1000) };
    } catch (e) {
      const reason = (e as Error).message;
      failed.push(`${stage}: ${reason}`);
      opts.onSkip?.(stage, reason);
      continue;
    }
    out.set(stage, served);
  }
  if (![...out.keys()].some((k) => k !== REWARD_STAGE)) throw new GptforgeError(`no model to serve: none of the stages ${GENERATION_STAGES.join(', ')} has a checkpoint${failed.length ? ` that loads (${failed.join('; ')})` : ''}`, { file: runDir });
  return out;
}
