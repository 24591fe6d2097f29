import { join } from 'node:path';
import { checkSettings, trainingStart } from './stage-options.js';
import { readJSONL } from '../data/jsonl.js';
import { PackedLoader } from '../data/sft.js';
import { taskByName } from '../data/synthetic/tasks.js';
import { lossCurveSVG } from '../eval/plot.js';
import { defaultTools } from '../infer/tools/registry.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { taskPrompts, type TaskPrompt } from '../train/comparisons.js';
import type { TrainResult } from '../train/loop.js';
import { MetricsLog, type MetricRecord } from '../train/metrics.js';
import { describeAdapter, prepareAdapter } from '../train/adapter.js';
import type { StageRunOptions } from './stage-options.js';
import { DEFAULT_RL, trainRL, validateRL, type RLAlgo, type RLConfig } from '../train/rl.js';
import { atomicWriteFile } from '../util/atomic.js';
import { GptforgeError } from '../util/errors.js';
import { holdRunLock } from '../util/lock.js';
import { runLayout } from './layout.js';
import { loadModel, loadRewardModel } from './models.js';
import { runPreset, type RunPreset, runPresetFile } from './preset.js';
import { sftRows } from './sft.js';
import { CheckpointSelector, isValidationPrompt, validationCurveSVG, validationPrompts } from './rl-validation.js';
import { latestCheckpoint } from '../model/checkpoint.js';

/** Options of `runRl`; every field optional (the run preset's `rl` section fills the rest). */
/** With `lora` (and `basePrecision`) an adapter trains on the frozen SFT model, and the reference is that base with the adapter disabled (docs/lora.md). */
export interface RunRlOptions extends StageRunOptions {
  /** ppo (default: the preset's), grpo or reinforce. */
  algo?: RLAlgo;
  /** Your prompts JSONL files ({"prompt": "…", "task"?: family}), added to the task families' prompts. */
  prompts?: readonly string[];
  /** Use the `prompts` files alone. */
  onlyPrompts?: boolean;
  /** Added to the RM score when the task checker accepts the reply. */
  checkerBonus?: number;
  /** β, the KL penalty to the SFT model. */
  klCoef?: number;
  /** γ, weight of the SFT loss mixed into every update (PPO-ptx; 0 = off). */
  ptxCoef?: number;
  /** Early stopping: validation prompts (default the preset's `rl.validation.prompts`; 0 = keep the last update). */
  valPrompts?: number;
  /** Validate every N updates (default the preset's `rl.train.evalEvery`; 0 = only at the end). */
  evalEvery?: number;
  /** The stage the policy starts from and the KL reference, `<run>/<from>` (default `sft`): e.g. `sft-lora`. */
  from?: string;
  /** The stage to train into, `<run>/<into>` and its name in metrics.jsonl (default by algorithm: `rl`, `rl-grpo`, `rl-reinforce`): e.g. `rl-lora` keeps a LoRA policy beside the full one. */
  into?: string;
  /** The reward model's stage, `<run>/<rewardModel>` (default `rm`). */
  rewardModel?: string;
}

/** What `runRl` did. */
export interface RunRlResult extends TrainResult {
  runDir: string;
  /** The stage it trained: rl (PPO), rl-grpo, rl-reinforce. */
  stage: string;
  algo: RLAlgo;
  /** This stage's metric history (TRL's names: PPOTrainer's objective/scores, objective/kl, … for PPO and REINFORCE; GRPOTrainer's reward, reward_std, kl, … for GRPO). */
  history: MetricRecord[];
  /** The update early stopping kept (`<stage>/best/`), with its validation scores; absent without validation. */
  best?: { step: number; 'val/rubric': number; 'val/accuracy': number };
  /** Whether `best` was saved to `<stage>/best/` (not for a LoRA adapter, which keeps its last update). */
  bestSaved?: boolean;
}

/** Where each algorithm's checkpoints go: rl/ (PPO, the pipeline's), rl-grpo/, rl-reinforce/. */
export function rlStage(algo: RLAlgo): string {
  return algo === 'ppo' ? 'rl' : `rl-${algo}`;
}

/** Prompts JSONL: {"prompt": "…", "task"?: family} per line. @throws GptforgeError naming file, line and field. */
export function readRlPrompts(file: string): TaskPrompt[] {
  const out: TaskPrompt[] = [];
  readJSONL(file, 'prompts', (obj, where) => {
    const o = (typeof obj === 'object' && obj !== null ? obj : {}) as { prompt?: unknown; task?: unknown };
    if (typeof o.prompt !== 'string' || o.prompt.trim() === '') throw new GptforgeError('expected a non-empty string', { ...where, field: 'prompt' });
    if (o.task !== undefined) {
      if (typeof o.task !== 'string') throw new GptforgeError('expected a task family name', { ...where, field: 'task' });
      taskByName(o.task);
    }
    out.push({ prompt: o.prompt, task: o.task as string | undefined });
  });
  if (out.length === 0) throw new GptforgeError('no prompts', { file });
  return out;
}

/** The SFT mixture of the run's preset, packed ptxRows rows at a time, for the PPO-ptx loss. */
function ptxLoader(runDir: string, preset: RunPreset, tok: Tokenizer, blockSize: number, rows: number): PackedLoader {
  if (!preset.sft) throw new GptforgeError(`ptxCoef > 0 mixes in the SFT loss, but preset "${preset.name}" has no "sft" section`, { field: 'ptxCoef' });
  if (!(Number.isInteger(rows) && rows >= 1)) throw new GptforgeError(`ptxRows must be a whole number ≥ 1, got ${rows}`, { field: 'ptxRows' });
  const { T, data } = sftRows(tok, preset.sft, blockSize, join(runDir, 'preset.json'));
  // its own seed, so the rows differ from the order SFT read them in
  return new PackedLoader(data.train, rows, T, tok.specialId('<|pad|>'), (preset.sft.mixture.seed ?? 1337) + 1);
}

/**
 * Stage 4, reinforcement learning against the reward model (src/train/rl.ts): the SFT model
 * samples replies (tools work), the RM scores them at <|reward|>, the sampled tokens are
 * reinforced with a KL leash to the frozen SFT model — PPO, GRPO or REINFORCE — into
 * `<run>/rl` (PPO), `rl-grpo` or `rl-reinforce` (or `<run>/<into>`, starting from `<run>/<from>`
 * against `<run>/<rewardModel>`), plotting `<stage>-curves.svg`. Resumes unless
 * `fresh`; holds the run's lock; never exits the process or installs a signal handler.
 *
 * @throws GptforgeError for a preset without an `rl` section, an RM without a reward head or
 *   with another tokenizer, a bad prompt (file, line, field), bad settings, `into` equal to
 *   `from`, a missing stage, or a locked run.
 */
export async function runRl(runDir: string, o: RunRlOptions = {}): Promise<RunRlResult> {
  o.signal?.throwIfAborted(); // before any work: nothing trained or written
  holdRunLock(runDir); // one writer per run (src/util/lock.ts)
  const log = o.log ?? (() => undefined);
  const preset = runPreset(runDir);
  if (!preset.rl) throw new GptforgeError(`preset "${preset.name}" has no "rl" section`, { field: 'rl' });
  const rl: RLConfig = { ...DEFAULT_RL, ...preset.rl.config };
  if (o.algo !== undefined) rl.algo = o.algo;
  if (rl.algo === 'grpo' && rl.groupSize < 2) rl.groupSize = 4;
  if (rl.algo !== 'grpo') rl.groupSize = 1;
  if (o.checkerBonus !== undefined) rl.checkerBonus = o.checkerBonus;
  if (o.klCoef !== undefined) rl.klCoef = o.klCoef;
  if (o.ptxCoef !== undefined) rl.ptxCoef = o.ptxCoef;
  const cfg = { ...preset.rl.train };
  if (o.maxSteps !== undefined) cfg.maxSteps = o.maxSteps;
  if (o.logEvery !== undefined) cfg.logEvery = o.logEvery;
  if (o.lr !== undefined) cfg.lr = o.lr;
  if (o.evalEvery !== undefined) cfg.evalEvery = o.evalEvery;
  const valPrompts = o.valPrompts ?? preset.rl.validation?.prompts ?? 0;
  if (o.algo === undefined && !['ppo', 'grpo', 'reinforce'].includes(rl.algo)) throw new GptforgeError(`must be "ppo", "grpo" or "reinforce", got ${JSON.stringify(rl.algo)}`, { file: runPresetFile(runDir), field: 'rl.config.algo' });
  if (typeof rl.whitenRewards !== 'boolean') throw new GptforgeError(`must be true or false, got ${JSON.stringify(rl.whitenRewards)}`, { file: runPresetFile(runDir), field: 'rl.config.whitenRewards' });
  checkSettings(o, runPresetFile(runDir), [
    ['maxSteps', cfg.maxSteps, 'positive integer', 'rl.train.maxSteps'],
    ['logEvery', cfg.logEvery ?? 1, 'positive integer', 'rl.train.logEvery'],
    ['lr', cfg.lr, 'positive number', 'rl.train.lr'],
    ['evalEvery', cfg.evalEvery ?? 0, 'non-negative integer', 'rl.train.evalEvery'],
    ['klCoef', rl.klCoef, 'non-negative number', 'rl.config.klCoef'],
    ['ptxCoef', rl.ptxCoef, 'non-negative number', 'rl.config.ptxCoef'],
    ['checkerBonus', rl.checkerBonus, 'non-negative number', 'rl.config.checkerBonus'],
    // the preset-only fields (no option of their own): each named by its path in the run's preset.json
    ...(
      [
        ['promptsPerRollout', 'positive integer'],
        ['groupSize', 'positive integer'],
        ['epochs', 'positive integer'],
        ['minibatches', 'positive integer'],
        ['maxNewTokens', 'positive integer'],
        ['temperature', 'non-negative number'],
        ['klBound', 'positive number'],
        ['maxRatio', 'positive number'],
        ['clipRange', 'positive number'],
        ['clipRangeValue', 'positive number'],
        ['vfCoef', 'non-negative number'],
        ['gamma', 'probability'],
        ['lam', 'probability'],
        ['missingEosPenalty', 'non-negative number'],
        ['ptxRows', 'positive integer'],
      ] as const
    ).map(([k, rule]) => [`rl.config.${k}`, rl[k], rule, `rl.config.${k}`] as const),
    ['valPrompts', valPrompts, 'non-negative integer', 'rl.validation.prompts'],
  ]);

  const from = o.from ?? 'sft';
  const stage = o.into ?? rlStage(rl.algo);
  if (stage === from) throw new GptforgeError(`rl: --into ${stage} would train over the model it starts from; name another stage`, { field: 'into' });
  const sft = loadModel(runDir, from, { fresh: true });
  if (sft.reward) throw new GptforgeError(`rl: --from ${from} is a reward model, not a policy; start from a generation stage (sft, sft-lora, …)`, { file: sft.dir, field: 'from' });
  // with an adapter the reference is the policy's own base, adapter disabled: no second copy
  const ref = o.lora === undefined ? loadModel(runDir, from) : null;
  const rm = loadRewardModel(runDir, o.rewardModel ?? 'rm');
  if (rm.tok.hash() !== sft.tok.hash()) throw new GptforgeError(`the policy (${sft.dir}) and the reward model (${rm.dir}) use different tokenizers; train the reward model from this SFT model`, { file: rm.dir });
  // with early stopping, the validation items are held out of the training prompts too
  const prompts: TaskPrompt[] = o.onlyPrompts ? [] : taskPrompts('train', preset.rl.prompts, 777).filter((p) => valPrompts === 0 || !isValidationPrompt(p));
  for (const f of o.prompts ?? []) prompts.push(...readRlPrompts(f));
  const policy = sft.model;
  if (rl.algo === 'ppo') policy.addScalarHead(); // the value head, zero-initialised
  const adapter = prepareAdapter(stage, policy, sft.dir, o, { specialTokens: sft.tok.specialTokens });
  if (adapter) log(`${stage}: ${describeAdapter(adapter)}`);
  const ptx = rl.ptxCoef > 0 ? ptxLoader(runDir, preset, sft.tok, policy.config.blockSize, rl.ptxRows) : undefined;
  validateRL(rl, { policy, rm: rm.model, prompts, ptx }, rm.dir);
  const stageDir = runLayout(runDir).stage(stage);
  // a run that starts over (fresh, or no checkpoint to resume) forgets an earlier run's best
  const startsOver = !!o.fresh || !latestCheckpoint(stageDir);
  const selector = valPrompts > 0 ? new CheckpointSelector({ stageDir, stage, policy, tok: sft.tok, tools: defaultTools(), prompts: validationPrompts(valPrompts, 31337), temperature: rl.temperature, maxTokens: rl.maxNewTokens, fresh: startsOver, save: !adapter }) : null;
  if (selector && startsOver) {
    // update 0, the SFT model: the curve's start (not a candidate)
    const metrics = new MetricsLog(runDir);
    metrics.truncateStage(stage, -1);
    metrics.append({ stage, step: 0, tokens: 0, ...selector.evaluate(0) });
  }
  log(
    `${stage}: ${rl.algo} ${trainingStart(stageDir, sft.dir, { fresh: o.fresh, maxSteps: cfg.maxSteps, stepsOption: o.stepsOption ?? 'maxSteps' })} against ${rm.dir}; ${prompts.length} prompts, ${rl.promptsPerRollout}×${rl.groupSize} replies per rollout, ${cfg.maxSteps} updates, β ${rl.klCoef}${ptx ? `, SFT loss mixed in (γ ${rl.ptxCoef}, ${rl.ptxRows} rows of ${ptx.T} per update)` : ''}`,
  );
  const result = await trainRL({ policy, ref: ref?.model ?? policy, adapter, rm: rm.model, tok: sft.tok, prompts, tools: defaultTools(), check: (prompt, task, text) => taskByName(task).check(prompt, text), stage, ptx, evaluate: selector ? (step) => selector.evaluate(step) : undefined }, rl, cfg, {
    runDir,
    stageDir,
    resume: !o.fresh,
    quiet: o.quiet,
    stepsOption: o.stepsOption ?? 'maxSteps',
    resumeAnnounced: o.log !== undefined, // the setup line named the checkpoint and step (trainingStart)
    signal: o.signal,
    onStep: o.onStep,
    startedFrom: sft.dir,
  });
  const history = new MetricsLog(runDir).read(stage);
  const series = (key: string, name: string) => ({ name, points: history.filter((r) => typeof r[key] === 'number').map((r) => [r.step, r[key] as number] as [number, number]) });
  atomicWriteFile(
    runLayout(runDir).curves(stage),
    lossCurveSVG([series(rl.algo === 'grpo' ? 'reward' : 'objective/scores', 'RM score'), series(rl.algo === 'grpo' ? 'rollout/kl' : 'objective/kl', 'KL to SFT'), series('rollout/accuracy', 'task accuracy')], { title: `${rl.algo.toUpperCase()}: reward, KL and accuracy`, xLabel: 'update', yLabel: 'value' }),
  );
  const best = selector?.bestSoFar() ?? undefined;
  if (selector) atomicWriteFile(join(runDir, `${stage}-validation.svg`), validationCurveSVG(history, rl.algo, best ?? null));
  return { ...result, runDir, stage, algo: rl.algo, history, ...(best ? { best, bestSaved: !adapter } : {}) };
}
