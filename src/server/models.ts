import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isRewardModel, latestCheckpoint, loadCheckpoint, missingCheckpointFile, modelFromCheckpoint, readNewestCheckpoint, selectedCheckpoint } from '../model/checkpoint.js';
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
  /** The API's model id: the stage name (base, sft, rl, dpo, rm, sft-lora …; a run inside the run's as `techniques/sft`). */
  id: string;
  model: GPT;
  tok: Tokenizer;
  /** The checkpoint directory. */
  dir: string;
  /** A reward model (served on /v1/rewards, not for generation): the run's `rm` and any stage trained with `rm --into`. */
  reward?: boolean;
  /** Seconds since the epoch of when the checkpoint was saved (OpenAI's `created`: when the model was made; the directory's mtime, a checkpoint being written whole and renamed into place). */
  created: number;
}

/**
 * The stages of `runDir` that hold a checkpoint, in listing order: GENERATION_STAGES, then every
 * other stage directory (`sft-lora`, `rl-grpo`, `dpo-lora`, `sft-lora-merged` …: what
 * `--into` and the RL algorithms name) sorted by name, then — with `nested` — the stages of a
 * run inside the run, as `<dir>/<stage>` (npm start's techniques model, `techniques/sft`: a run
 * of its own with a preset.json), then the reward model.
 * @example runStages('runs/small') // ['base', 'sft', 'rl', 'rl-grpo', 'sft-lora', 'techniques/sft', 'rm']
 */
export function runStages(runDir: string, opts: { nested?: boolean } = {}): string[] {
  const named = new Set([...GENERATION_STAGES, REWARD_STAGE]);
  const dirs = existsSync(runDir) ? readdirSync(runDir, { withFileTypes: true }).filter((e) => e.isDirectory() && !named.has(e.name)) : [];
  const others = dirs
    .filter((e) => latestCheckpoint(join(runDir, e.name)) !== null)
    .map((e) => e.name)
    .sort();
  const nested =
    (opts.nested ?? true)
      ? dirs
          .filter((e) => existsSync(join(runDir, e.name, 'preset.json')))
          .flatMap((e) =>
            readdirSync(join(runDir, e.name), { withFileTypes: true })
              .filter((s) => s.isDirectory() && latestCheckpoint(join(runDir, e.name, s.name)) !== null)
              .map((s) => `${e.name}/${s.name}`),
          )
          .sort()
      : [];
  return [...GENERATION_STAGES, ...others, ...nested, REWARD_STAGE];
}

/**
 * A run's models: each present stage's newest checkpoint (`<run>/<stage>/latest.json`),
 * as `modelFromCheckpoint` builds it — by default every stage `runStages` finds, reward models
 * (`rm`, and stages trained with `rm --into`) marked `reward`; `precision` q8_0 / q4_0 decodes the generation stages on
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
    const first = selectedCheckpoint(stageDir);
    if (!first) continue;
    let served: ServedModel;
    try {
      // a stage training beside the server may prune the checkpoint resolved before it is read
      served = readNewestCheckpoint(
        first,
        () => selectedCheckpoint(stageDir) ?? first,
        (dir) => {
          const created = Math.floor(statSync(dir).mtimeMs / 1000);
          const ck = loadCheckpoint(dir);
          if (!ck.tokenizerJSON) throw missingCheckpointFile('checkpoint has no tokenizer.json', dir);
          const model = modelFromCheckpoint(ck);
          // a reward model scores replies (/v1/rewards) and stays f32; PPO's policy (a value head) generates
          const reward = isRewardModel(ck.meta);
          if (!reward) setInferencePrecision(model, opts.precision ?? 'f32');
          return { id: stage, model, tok: Tokenizer.fromJSON(ck.tokenizerJSON, join(dir, 'tokenizer.json')), dir, created, reward };
        },
        stageDir,
      );
    } catch (e) {
      const reason = (e as Error).message;
      failed.push(`${stage}: ${reason}`);
      opts.onSkip?.(stage, reason);
      continue;
    }
    out.set(stage, served);
  }
  if (![...out.values()].some((m) => !m.reward)) throw new GptforgeError(`no model to serve: none of the stages ${GENERATION_STAGES.join(', ')} has a checkpoint${failed.length ? ` that loads (${failed.join('; ')})` : ''}`, { file: runDir });
  return out;
}
