import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { isRewardModel, latestCheckpoint, loadCheckpoint, missingCheckpointFile, modelFromCheckpoint, readTrainerStateSummary, selectedCheckpoint, withResolvedCheckpoint } from '../model/checkpoint.js';
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
  /** The step it was saved at (its config.json's). */
  step: number;
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
 * A run or stage being trained meanwhile is read at its newest checkpoint even when its keepLast
 * rotation deletes the one resolved before it is read (withResolvedCheckpoint).
 *
 * @throws GptforgeError when no checkpoint is found or it carries no tokenizer.json.
 */
export function loadModel(path: string, stage?: string, opts: { fresh?: boolean; precision?: BasePrecision } = {}): LoadedModel {
  return withResolvedCheckpoint(path, stage, (dir) => loadModelAt(dir, opts));
}

/** loadModel of one checkpoint directory. */
function loadModelAt(dir: string, opts: { fresh?: boolean; precision?: BasePrecision }): LoadedModel {
  const precision = opts.precision ?? 'f32';
  const key = precision === 'f32' ? dir : `${dir}#${precision}`;
  const hit = cache.get(key);
  if (hit && !opts.fresh) return hit;
  const ck = loadCheckpoint(dir);
  if (!ck.tokenizerJSON) throw missingCheckpointFile('checkpoint has no tokenizer.json', dir);
  const model = modelFromCheckpoint(ck);
  setInferencePrecision(model, precision);
  const loaded: LoadedModel = { model, tok: Tokenizer.fromJSON(ck.tokenizerJSON, `${dir}/tokenizer.json`), dir, stage: ck.meta.stage, step: ck.meta.step, reward: isRewardModel(ck.meta) };
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
  return withResolvedCheckpoint(
    path,
    stage,
    (dir) => {
      if (isRewardModel(loadCheckpoint(dir, { weights: false }).meta)) {
        throw new GptforgeError(`${stage !== undefined ? `stage "${stage}" holds` : 'this is'} a reward model: it scores replies (gptforge rm score) and does not generate; give a chat or base stage (sft, rl, dpo, base …)`, { file: dir });
      }
      return loadModelAt(dir, opts);
    },
    generates,
  );
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

/** The assistant stages a chat answers with when none is named, the recipe's latest first: PPO's `rl`, then `sft`. */
export const ASSISTANT_STAGES: readonly string[] = ['rl', 'sft'];

/** Which assistant stage answers by default (defaultChatStage), and why, in words. */
export interface ChatStageChoice {
  stage: string;
  /** The checkpoint it answers with: the stage's early-stopping `best/` when it kept one, else its newest. */
  checkpoint: string;
  /** Its newest checkpoint is at the steps its last invocation asked (not interrupted part-way). */
  finished: boolean;
  /** The reason, for the chat's first line: "the latest finished of rl/best → rl → sft", and what was passed over. */
  why: string;
}

/** Whether a stage's newest checkpoint finished what its invocation asked: trainer_state.json's step ≥ its config.maxSteps (a checkpoint without one counts as finished). */
function finishedStage(stageDir: string): { finished: boolean; step: number; of: number } | null {
  const ck = latestCheckpoint(stageDir);
  if (!ck) return null;
  const ts = readTrainerStateSummary(ck);
  return ts?.step !== undefined && ts.maxSteps !== undefined ? { finished: ts.step >= ts.maxSteps, step: ts.step, of: ts.maxSteps } : { finished: true, step: NaN, of: NaN };
}

/**
 * The one rule for which model a run chats with when none is named — `gptforge chat` and `ask`,
 * and the web UI's Chat page through /v1/models' `default` (defaultChatModel): the latest
 * finished assistant stage, rl/best → rl → sft (an RL stage answers with the update its early
 * stopping kept). A stage stopped part-way (Ctrl-C: its newest checkpoint short of the steps
 * asked) is passed over for a finished one, and said so; with none finished, the latest present.
 * `stageDir` gives a stage's directory, or null where it is not available (the server: a stage it
 * does not serve).
 * @returns null when no assistant stage has a checkpoint (the caller falls back to the base model)
 * @example defaultChatStage((s) => join('runs/tiny', s)) // { stage: 'rl', checkpoint: 'runs/tiny/rl/best/step-0000002', finished: true, why: 'the latest finished of rl/best → rl → sft' }
 */
export function defaultChatStage(stageDir: (stage: string) => string | null): ChatStageChoice | null {
  const present = ASSISTANT_STAGES.flatMap((stage) => {
    const dir = stageDir(stage);
    const state = dir === null ? null : finishedStage(dir);
    const checkpoint = dir === null ? null : selectedCheckpoint(dir);
    return state && checkpoint ? [{ stage, checkpoint, ...state }] : [];
  });
  const rule = 'rl/best → rl → sft';
  const pick = present.find((p) => p.finished) ?? present[0];
  if (!pick) return null;
  const passed = present.slice(0, present.indexOf(pick)).map((p) => `${p.stage} stopped at step ${p.step} of ${p.of}`);
  const why = pick.finished ? `the latest finished of ${rule}${passed.length ? `; ${passed.join(', ')}: --stage ${present[0].stage} chats with it` : ''}` : `the latest of ${rule}, stopped at step ${pick.step} of ${pick.of}: none is finished`;
  return { stage: pick.stage, checkpoint: pick.checkpoint, finished: pick.finished, why };
}

/** A checkpoint directory's stage directory: `runs/x/rl/best/step-0000002` → `runs/x/rl`. */
export function checkpointStageDir(checkpoint: string): string {
  const d = /^step-\d+$/.test(basename(checkpoint)) ? dirname(checkpoint) : checkpoint;
  return basename(d) === 'best' ? dirname(d) : d;
}

/**
 * What defaultChatModel's answer depends on, cheaply: for each assistant stage served, the identity
 * (inode) and mtime of its stage directory, its latest.json, and its `best/` and `best/latest.json`
 * — a saved checkpoint renames a new directory in and rewrites latest.json (a new inode) — read
 * with stat alone, no file read. Equal stamps: the same answer.
 */
export function chatStageStamp(models: ReadonlyMap<string, { dir: string; reward?: boolean }>): string {
  const stamp = (p: string): string => {
    const st = statSync(p, { throwIfNoEntry: false });
    return st ? `${st.ino}:${st.mtimeMs}` : '-';
  };
  return ASSISTANT_STAGES.map((stage) => {
    const m = models.get(stage);
    if (!m || m.reward) return '';
    const dir = checkpointStageDir(m.dir);
    return [dir, join(dir, 'latest.json'), join(dir, 'best'), join(dir, 'best', 'latest.json')].map(stamp).join(',');
  }).join(';');
}

/**
 * defaultChatModel remembered per models map until chatStageStamp changes: /v1/models asks on
 * every request, and with nothing saved meanwhile it reads no file (a stat per stage directory
 * and pointer). `compute` is defaultChatModel (a test counts its calls).
 */
export function cachedDefaultChatModel(compute: typeof defaultChatModel = defaultChatModel): (models: ReadonlyMap<string, { dir: string; reward?: boolean }>) => string | undefined {
  let last: { models: ReadonlyMap<string, unknown>; stamp: string; id: string | undefined } | undefined;
  return (models) => {
    const stamp = chatStageStamp(models);
    if (last && last.models === models && last.stamp === stamp) return last.id;
    const id = compute(models);
    last = { models, stamp, id };
    return id;
  };
}

/** defaultChatStage over a server's models (id = stage name; reward models left out): the id of the one its chat opens with, or undefined. */
export function defaultChatModel(models: ReadonlyMap<string, { dir: string; reward?: boolean }>): string | undefined {
  return defaultChatStage((stage) => {
    const m = models.get(stage);
    return m && !m.reward ? checkpointStageDir(m.dir) : null;
  })?.stage;
}
