import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isRewardModel, loadCheckpoint, modelFromCheckpoint, resolveCheckpoint } from '../model/checkpoint.js';
import type { GPT } from '../model/gpt.js';
import { setInferencePrecision } from '../model/inference-precision.js';
import type { BasePrecision } from '../model/quantize.js';
import { Tokenizer } from '../tokenizer/index.js';
import { GptforgeError } from '../util/errors.js';

/** A checkpoint's model with the tokenizer it was trained with. */
export interface LoadedModel {
  model: GPT;
  tok: Tokenizer;
  /** The checkpoint directory it came from. */
  dir: string;
  /** The stage that wrote it (pretrain, sft, …). */
  stage: string;
  /** A reward model (its scalar head scores replies), not a policy — PPO's value head does not count (isRewardModel). */
  reward: boolean;
}

const cache = new Map<string, LoadedModel>();

/**
 * A run's model and tokenizer: `path` is a run dir (+ `stage`: `base`, `sft`, `rl`, …), a stage
 * dir or a checkpoint dir; without a stage the newest of rl → sft → base. Cached per
 * checkpoint (the CLI's pipeline and eval load the same model several times); `fresh` loads a
 * private copy, for a stage that trains it in place. `precision` q8_0 / q4_0: a decoding-only
 * copy on ggml blocks with int8 activations (src/model/inference-precision.ts), cached apart.
 *
 * @throws GptforgeError when no checkpoint is found or it carries no tokenizer.json.
 */
export function loadModel(path: string, stage?: string, opts: { fresh?: boolean; precision?: BasePrecision } = {}): LoadedModel {
  const dir = resolveCheckpoint(path, stage);
  const precision = opts.precision ?? 'f32';
  const key = precision === 'f32' ? dir : `${dir}#${precision}`;
  const hit = cache.get(key);
  if (hit && !opts.fresh) return hit;
  const ck = loadCheckpoint(dir);
  if (!ck.tokenizerJSON) throw new GptforgeError('checkpoint has no tokenizer.json', { file: dir });
  const model = modelFromCheckpoint(ck);
  setInferencePrecision(model, precision);
  const loaded: LoadedModel = { model, tok: Tokenizer.fromJSON(ck.tokenizerJSON, `${dir}/tokenizer.json`), dir, stage: ck.meta.stage, reward: isRewardModel(ck.meta) };
  if (!opts.fresh) cache.set(key, loaded);
  return loaded;
}

/**
 * `loadModel` for a command that generates (sample, chat, ask): a reward model scores replies
 * and does not generate (its head reads one scalar at <|reward|>; decoding from its trunk gives
 * text without a word), so it is refused as `serve` refuses it, and an unknown stage lists only
 * the stages that generate.
 * @throws GptforgeError for a reward model (naming it and `gptforge rm score`), or as loadModel does.
 */
export function loadGenerationModel(path: string, stage?: string, opts: { precision?: BasePrecision } = {}): LoadedModel {
  const generates = (ck: string): boolean => {
    try {
      return !isRewardModel(loadCheckpoint(ck, { weights: false }).meta);
    } catch {
      return true; // a broken checkpoint elsewhere in the run is still listed (loading it says what is wrong)
    }
  };
  const dir = resolveCheckpoint(path, stage, generates);
  if (isRewardModel(loadCheckpoint(dir, { weights: false }).meta)) {
    throw new GptforgeError(`${stage !== undefined ? `stage "${stage}" holds` : 'this is'} a reward model: it scores replies (gptforge rm score) and does not generate; give a chat or base stage (sft, rl, dpo, base …)`, { file: dir });
  }
  return loadModel(dir, undefined, opts);
}

/**
 * A reward model from `path`: a run directory (its `rm` stage, or `stage`), a stage directory
 * (`runs/x/rm2`, what `rm --into` wrote) or a checkpoint directory.
 * @throws GptforgeError when the checkpoint is not a reward model (a policy, or PPO's value head),
 *   or as loadModel does (a stage that does not exist lists those that do).
 */
export function loadRewardModel(path: string, stage?: string): LoadedModel {
  const rm = loadModel(path, stage ?? (existsSync(join(path, 'rm')) ? 'rm' : undefined));
  if (!rm.reward) throw new GptforgeError(`this checkpoint is not a reward model (${rm.model.hasScalarHead ? "its scalar head is PPO's value head" : 'no reward head, score.weight'}); train one with "gptforge rm"`, { file: rm.dir });
  return rm;
}
