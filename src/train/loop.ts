import { createHash } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { AdamW, clipScale, decayGroups, gradNorm } from '../engine/optim.js';
import { engineSummary, machinePeakGflops } from '../engine/backend.js';
import type { Tensor } from '../engine/tensor.js';
import { clearTape, resetArena, setArenaEnabled } from '../engine/tensor.js';
import type { GPT } from '../model/gpt.js';
import { latestCheckpoint, listCheckpoints, loadCheckpoint, saveCheckpoint, configDiff, type ScalarHeadKind } from '../model/checkpoint.js';
import { GptforgeError } from '../util/errors.js';
import type { KeyTree } from '../util/key-tree.js';
import { Progress, formatCount } from '../util/progress.js';
import { extendSchedule, learningRate, type LrSchedule } from './schedule.js';
import { MetricsLog, type MetricRecord } from './metrics.js';
import { adapterSaveOptions, restoreAdapter, type AdapterTraining } from './adapter.js';

/**
 * The training loop every stage shares. A stage supplies a `TrainTask` (how to compute one
 * micro-batch loss, how to evaluate, and its own resumable state, e.g. the data position);
 * the loop owns everything else: AdamW with warmup + cosine, gradient accumulation,
 * global-norm clipping, metrics.jsonl, the progress bar, periodic evaluation, atomic
 * checkpoints, exact resume, NaN stops and a clean Ctrl-C.
 *
 *   for step in [start, maxSteps):
 *     lr ← schedule(step)
 *     data ← the step's gradAccum micro-batches;  N ← Σ weight(micro-batch)
 *     for each micro-batch: (summed loss / N).backward()   (gradients accumulate)
 *     norm ← ‖g‖;  stop if not finite
 *     AdamW step with gradScale = clip(norm)
 *     log; maybe evaluate; maybe checkpoint; stop cleanly on Ctrl-C
 *
 * Normalisation: an optimizer step's loss is the mean over the whole step — over its
 * supervised tokens (pretraining, SFT), preference pairs (reward model, DPO) or action
 * tokens (RL) — so the loss and gradient do not depend on how the step is split into
 * micro-batches (B × accum = 8 × 1, 4 × 2 and 2 × 4 give the same step). Averaging each
 * micro-batch over its own tokens and then averaging micro-batches equally would weigh a
 * micro-batch with few supervised tokens as much as one with many. This is the fix
 * Hugging Face made to gradient accumulation in transformers 4.46 ("num_items_in_batch").
 */
export interface TrainConfig {
  maxSteps: number;
  lr: number;
  minLr: number;
  warmupSteps: number;
  /** Step at which cosine decay reaches minLr (default maxSteps). */
  decaySteps?: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps?: number;
  /** Clip the global gradient norm to this (0 = off). */
  gradClip: number;
  /** Micro-batches per optimizer step. */
  gradAccum: number;
  /** Evaluate every N steps (0 = only at the end). */
  evalEvery: number;
  /** Checkpoint every N steps (0 = only at the end). */
  checkpointEvery: number;
  /** Keep this many checkpoints. */
  keepLast: number;
  /** Log metrics every N steps (default 1). */
  logEvery?: number;
}

/** The keys a `train` section of a preset may hold: TrainConfig's, checked by the compiler (a field added above fails `tsc` until listed here). */
export const TRAIN_CONFIG_KEYS: KeyTree<TrainConfig> = {
  maxSteps: null,
  lr: null,
  minLr: null,
  warmupSteps: null,
  decaySteps: null,
  weightDecay: null,
  beta1: null,
  beta2: null,
  eps: null,
  gradClip: null,
  gradAccum: null,
  evalEvery: null,
  checkpointEvery: null,
  keepLast: null,
  logEvery: null,
};

export interface TrainTask<M = unknown> {
  stage: string;
  /** What the model's scalar head scores, recorded in its checkpoints (reward models: 'reward'; PPO's policy: 'value'). */
  scalarHead?: ScalarHeadKind;
  model: GPT;
  /** Parameters to train (default: all of the model's, or the adapter's). */
  trainable?: Tensor[];
  /** LoRA: train this adapter on a frozen base; checkpoints hold the adapter only (src/train/adapter.ts). */
  adapter?: AdapterTraining | null;
  /**
   * The data of micro-batch `index` (0-based) of the `count` that make the next optimizer
   * step; advances the data position. The loop fetches all of a step's micro-batches before
   * running any, so that it knows the step's normaliser. Keep it to plain data: no tensors.
   * (Computing it under noGrad is fine — RL samples its rollouts here: the step arena never
   * serves no-grad work, see allocBuffer in engine/tensor.ts.)
   */
  nextMicroBatch(index: number, count: number): M;
  /**
   * What a micro-batch counts toward the step's normaliser: its supervised (non-ignored)
   * target tokens for pretraining and SFT, its preference pairs (or rankings) for the reward
   * model and DPO, its action tokens for RL. A micro-batch of weight 0 is not run.
   */
  weight(mb: M): number;
  /**
   * Forward one micro-batch. `total` (> 0) is the step's normaliser, Σ weight over all its
   * micro-batches: `loss` (and `value`) must be this micro-batch's summed loss divided by
   * `total`, so that the step's accumulated gradient is the gradient of the step's mean.
   * Tensors made by ops are recycled before the next call (the step arena): keep numbers, not tensors.
   */
  forwardMicroBatch(mb: M, total: number): MicroBatchResult;
  /** Evaluation metrics after optimizer step `step`, e.g. {"val/loss": 2.1, "val/loss/books": 2.3}. Runs without grad. */
  evaluate?(step: number): Record<string, number>;
  /** JSON-serialisable state that makes the next micro-batches reproducible (data position, RNG). */
  state(): unknown;
  restore(state: unknown): void;
  tokenizerJSON?: string;
  tokenizerHash?: string;
  /** Training FLOPs per token (forward + backward), for MFU. */
  flopsPerToken?: number;
}

export interface MicroBatchResult {
  /** The tensor to backpropagate: this micro-batch's share of the step's mean loss (summed loss / total). */
  loss: Tensor;
  /** Tokens the micro-batch ran through the model (for throughput; not the normaliser). */
  tokens: number;
  /**
   * The loss to log, when `loss` is a surrogate with the right gradient but another value
   * (reward modeling, RL and DPO compute their objectives in plain numbers and backpropagate
   * Σ ∂L/∂x · x through the model's outputs x). Like `loss`, this micro-batch's share of the step's mean.
   */
  value?: number;
  /** Extra metrics, as means over this micro-batch (averaged over the step's micro-batches, weighted by `metricsWeight`, and logged). */
  metrics?: Record<string, number>;
  /** What `metrics` are means over, e.g. pairs for an accuracy (default: the micro-batch's `weight`). */
  metricsWeight?: number;
  /** Figures of the whole step rather than of this micro-batch (e.g. rollout statistics): logged as given, not averaged. */
  stepMetrics?: Record<string, number>;
}

export interface TrainOptions {
  runDir: string;
  /** Where this stage's checkpoints go (e.g. runs/x/base). */
  stageDir: string;
  /** Continue from the stage's latest checkpoint when there is one (default true). */
  resume?: boolean;
  quiet?: boolean;
  /** The step budget's name in messages, as the caller's face spells it (default `--max-steps`; runSft's is `steps`). */
  stepsOption?: string;
  /**
   * The caller's setup line already said which checkpoint resumes at which step (trainingStart,
   * src/run/stage-options.ts): the loop then adds only where the learning rate goes on from,
   * instead of a second "resuming" line.
   */
  resumeAnnounced?: boolean;
  /** Machine peak in FLOP/s for MFU (default: measured by the native backend, or GPTFORGE_PEAK_GFLOPS). */
  peakFlops?: number;
  /** Called after each evaluation with this stage's metric history (the CLI draws plots). */
  onEval?(history: MetricRecord[]): void;
  /** Called after each logged step (tests observe losses). */
  onStep?(rec: MetricRecord): void;
  /** Stop after this many steps of this invocation (tests simulate interruptions). */
  stopAfter?: number;
  /**
   * Stops the stage cleanly: after the step in progress a checkpoint is saved and the result
   * says `interrupted`. The library installs no signal handler of its own; the CLI wires
   * Ctrl-C to this (src/cli/interrupt.ts), a server its cancel button.
   */
  signal?: AbortSignal;
  /**
   * The checkpoint the stage's model started from (SFT's base, RL's and DPO's SFT model),
   * recorded in the trainer state. Resuming a checkpoint that started from another one warns:
   * the stage would continue a model trained from an earlier SFT (say), against today's.
   */
  startedFrom?: string;
  /**
   * What the stage trains on, in words (SFT: its mixture's sources with weights, conversations
   * and tokens), recorded in the trainer state. Resuming a checkpoint recorded with other data
   * warns (dataChanged): the resume would go on training on this data, not the checkpoint's.
   */
  data?: string;
  /**
   * A content hash of what the stage trains on (dataHash: SFT's tokenized conversations, the
   * reward model's rankings), recorded beside `data`: a changed file whose counts stay the same
   * still differs.
   */
  dataHash?: string;
  /**
   * Resume a checkpoint recorded with other data than this invocation's, with a warning (the CLI's
   * `--allow-data-change`). Default false: such a resume is refused, saying how to go on
   * (dataChanged). nanoGPT and TRL do not check; a silent resume mixes two datasets in one model.
   */
  allowDataChange?: boolean;
}

interface TrainerState {
  stage: string;
  step: number;
  tokensSeen: number;
  elapsedSeconds: number;
  task: unknown;
  config: TrainConfig;
  /**
   * The checkpoint the stage's first step started from (TrainOptions.startedFrom), as recordStart
   * writes it: relative to the run directory where it lies inside it, else absolute. Checkpoints
   * written before 2026-11-30 hold an absolute path either way (read by recordedStart/staleStart).
   */
  startedFrom?: string;
  /** The learning-rate schedule in force (absent in older checkpoints: derived from `config`). */
  schedule?: LrSchedule;
  /** What the last invocation trained on (TrainOptions.data; absent in checkpoints before 2026-11-30). */
  data?: string;
  /** Its content hash (TrainOptions.dataHash; absent in checkpoints before 2026-12-02). */
  dataHash?: string;
}

/**
 * How a trainer state records the checkpoint its stage started from: relative to the run
 * directory where it lies inside it (`sft/step-0000100`), so a copied or moved run still names
 * its own parent; absolute where it lies outside (another run's model given with --from).
 * @example recordStart('/r', '/r/sft/step-0000100') // 'sft/step-0000100'
 */
export function recordStart(runDir: string, start: string): string {
  const abs = resolve(start);
  const rel = relative(resolve(runDir), abs);
  return rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel) ? abs : rel;
}

/** The absolute path of a recorded start (recordStart's inverse; an absolute record is kept as is). */
export function recordedStart(runDir: string, recorded: string): string {
  return isAbsolute(recorded) ? recorded : resolve(runDir, recorded);
}

/**
 * Whether an absolute start recorded before starts were stored relative (a checkpoint of an older
 * gptforge) names `now` in a run that was copied or moved since: `now` lies in this run at
 * `<run>/sft/step-0000100` and the record ends with the same `sft/step-0000100` under another
 * directory. A parent retrained since ends at another step and still differs.
 */
export function movedLegacyStart(runDir: string, recorded: string, now: string): boolean {
  if (!isAbsolute(recorded)) return false;
  const rel = recordStart(runDir, now);
  if (isAbsolute(rel)) return false;
  const tail = rel.split(sep);
  const parts = resolve(recorded).split(sep);
  return parts.length > tail.length && tail.every((p, i) => parts[parts.length - tail.length + i] === p);
}

/**
 * The warning for a resume whose checkpoint started from another model than this run's, or null.
 * `recorded` is the trainer state's startedFrom (relative to `runDir`, or absolute); `now` the
 * start this invocation was given. Without `runDir` both are compared as absolute paths.
 * @example staleStart('rl', 'sft/step-0000100', '/r/sft/step-0000150', '/r') // 'rl: warning: resuming a run that started from /r/sft/step-0000100, …'
 */
export function staleStart(stage: string, recorded: string | undefined, now: string | undefined, runDir?: string): string | null {
  if (recorded === undefined || now === undefined) return null;
  const was = runDir === undefined ? resolve(recorded) : recordedStart(runDir, recorded);
  if (was === resolve(now) || (runDir !== undefined && movedLegacyStart(runDir, recorded, now))) return null;
  return `${stage}: warning: resuming a run that started from ${was}, but this run starts from ${now} (retrained since, or another --from?): its updates continue the older model; --fresh starts over from the new one, --into another stage keeps both`;
}

/**
 * What the data a stage trains on is, to tell a resume on other data (TrainOptions.data and dataHash): SHA-256 of `parts` in order, the first 16 hex digits.
 * @example dataHash([JSON.stringify(rows)]) // '3f2a…' (16 hex digits)
 */
export function dataHash(parts: Iterable<string | ArrayBufferView>): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(typeof p === 'string' ? p : new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
  return h.digest('hex').slice(0, 16);
}

/**
 * The message for a resume whose checkpoint was trained on other data than this invocation's, or
 * null: the same data, or no record to compare (a checkpoint of an older gptforge). The data
 * differs when both hashes are recorded and differ, or, without them, both descriptions are and
 * differ. `allowed` (--allow-data-change) makes it a warning; without it the caller refuses the
 * resume with it (the safer default: nanoGPT and TRL resume on whatever data they are given).
 * @example dataChanged('sft-mine', { data: 'mine.jsonl×1', hash: 'a1' }, { data: 'chat×2', hash: 'b2' }, true) // 'sft-mine: warning: resuming a stage trained on mine.jsonl×1, …'
 */
export function dataChanged(stage: string, recorded: { data?: string; hash?: string }, now: { data?: string; hash?: string }, allowed = false): string | null {
  const byHash = recorded.hash !== undefined && now.hash !== undefined;
  if (byHash ? recorded.hash === now.hash : recorded.data === undefined || now.data === undefined || recorded.data === now.data) return null;
  const what = (d: { data?: string; hash?: string }): string => `${d.data ?? 'unrecorded data'}${byHash ? ` (data hash ${d.hash})` : ''}`;
  const both = `${stage}'s checkpoint was trained on ${what(recorded)}, but this run trains it on ${what(now)} (other --data, --mixture, rankings or preset?)`;
  if (allowed) return `${stage}: warning: ${both}; resuming anyway (--allow-data-change): its updates go on from the model trained on the former`;
  return `cannot resume: ${both}. Resuming would train one model on two datasets. To go on: --fresh starts this stage over on this data; --into <another stage> trains a new one from the same start (--from), keeping this one; --allow-data-change resumes this checkpoint on the new data`;
}

/**
 * The resume line for a checkpoint already at or past the steps asked (`step >= maxSteps`):
 * nothing is trained, and a larger step budget is the way to train on. `option` is the budget's
 * name on the caller's face: `--max-steps` on the command line (the default), `steps` for runSft.
 * @example pastEnd('/r/sft/step-0000190', 190, 150) // 'resuming /r/sft/step-0000190: already at step 190, past --max-steps 150: nothing to train; give --max-steps > 190 to train on'
 */
export function pastEnd(ck: string, step: number, maxSteps: number, option = '--max-steps'): string {
  return `resuming ${ck}: already at step ${step}, ${step > maxSteps ? 'past' : 'the end of'} ${option} ${maxSteps}: nothing to train; give ${option} > ${step} to train on`;
}

/** Where a training stage ended: the step, tokens seen, last step's loss and evaluation, the last checkpoint, and whether a signal (or stopAfter) cut it short. */
export interface TrainResult {
  step: number;
  tokensSeen: number;
  lastLoss: number;
  lastEval: Record<string, number>;
  checkpoint: string | null;
  interrupted: boolean;
}

/**
 * The training loop every stage shares: per step, `cfg.gradAccum` micro-batches from `task`,
 * their gradients summed with weights normalised over the step, gradient clipping (global
 * L2 norm, `cfg.gradClip`), AdamW (Loshchilov & Hutter 2019) at a warmup + cosine learning rate
 * (learningRate), metric records in `<run>/metrics.jsonl` every `cfg.logEvery` steps, held-out
 * evaluation every `cfg.evalEvery`, atomic checkpoints every `cfg.checkpointEvery` and at the end.
 * Resumes from the stage's latest checkpoint (model, optimizer, schedule, data position) unless
 * `opts.resume` is false.
 * @throws GptforgeError for a bad config, a non-finite loss or gradient norm (naming the last good
 *   checkpoint), or a checkpoint that does not fit the model.
 */
export async function train<M>(task: TrainTask<M>, cfg: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  if (!(Number.isInteger(cfg.gradAccum) && cfg.gradAccum >= 1)) throw new GptforgeError(`${task.stage}: gradAccum must be a positive integer, got ${cfg.gradAccum}`, { field: 'gradAccum' });
  const model = task.model;
  const adapter = task.adapter ?? null;
  const params = task.trainable ?? (adapter ? adapter.lora.trainableParameters(adapter.name) : model.parameters());
  const optimizer = new AdamW(decayGroups(params, cfg.weightDecay), { lr: cfg.lr, beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.eps ?? 1e-8 });
  const metrics = new MetricsLog(opts.runDir);
  let schedule: LrSchedule = { lr: cfg.lr, minLr: cfg.minLr, warmupSteps: cfg.warmupSteps, decaySteps: cfg.decaySteps ?? cfg.maxSteps };
  const peak = opts.peakFlops ?? (task.flopsPerToken ? (machinePeakGflops() ?? 0) * 1e9 : 0);
  const logEvery = cfg.logEvery ?? 1;

  cleanStaleTemps(opts.stageDir);
  let step = 0;
  let tokensSeen = 0;
  let elapsedBefore = 0;
  // a resumed run keeps what its first step started from (unknown for checkpoints older than the field)
  let startedFrom = opts.startedFrom === undefined ? undefined : resolve(opts.startedFrom);
  let lastCheckpoint: string | null = null;
  // a stage directory another stage wrote (rm --into base, rl --into sft) is not this stage's to
  // resume or to replace: refused before anything is written, a fresh start included
  const existing = latestCheckpoint(opts.stageDir);
  if (existing) {
    const owner = loadCheckpoint(existing, { weights: false }).meta.stage;
    if (owner !== task.stage) throw new GptforgeError(`${opts.stageDir} holds checkpoints the ${owner} stage wrote; training ${task.stage} into it would ${opts.resume === false ? 'replace' : 'resume'} them: name another stage (--into), or delete the directory first`, { file: existing, field: 'into' });
  }
  if (opts.resume !== false) {
    const ck = latestCheckpoint(opts.stageDir);
    if (ck) {
      let loaded: ReturnType<typeof loadCheckpoint>;
      try {
        loaded = loadCheckpoint(ck, { optimizer: true, weights: !adapter });
      } catch (e) {
        // a damaged checkpoint (disk full, copied half-way…): point at the one before it
        const all = listCheckpoints(opts.stageDir);
        const prev = all.filter((d) => d !== ck).pop();
        throw new GptforgeError(`${(e as Error).message}. ${prev ? `The previous checkpoint ${prev} is available: delete ${ck} to resume from it, or start over with --fresh.` : 'No earlier checkpoint exists; start over with --fresh.'}`);
      }
      const diff = configDiff(loaded.meta.model, model.config);
      if (diff) throw new GptforgeError(`cannot resume: the checkpoint's model has ${diff.field}=${JSON.stringify(diff.a)}, the configured model has ${JSON.stringify(diff.b)} (use a new run directory or --fresh)`, { file: join(ck, 'config.json'), field: `model.${diff.field}` });
      if (task.tokenizerHash && loaded.meta.tokenizerHash && loaded.meta.tokenizerHash !== task.tokenizerHash) {
        throw new GptforgeError('cannot resume: the checkpoint was trained with a different tokenizer (hash differs)', { file: join(ck, 'config.json'), field: 'tokenizerHash' });
      }
      if (!adapter !== !loaded.meta.adapter)
        throw new GptforgeError(
          `cannot resume: the checkpoint ${loaded.meta.adapter ? 'holds a LoRA adapter' : 'holds the full model'} but this run ${adapter ? 'trains a LoRA adapter' : 'trains the full model'} (use the same options; --fresh replaces it${task.stage === 'sft' ? '; or keep it and train into another stage: sft --into sft-lora' : ''})`,
          { file: join(ck, 'config.json'), field: 'adapter' },
        );
      if (adapter) restoreAdapter(adapter, ck);
      else model.loadState(loaded.weights, join(ck, 'model.safetensors'));
      const ts = loaded.trainerState as TrainerState | null;
      if (!ts || !loaded.optimizer) throw new GptforgeError('checkpoint has no trainer_state.json/optimizer.safetensors; it cannot be resumed', { file: ck });
      optimizer.loadState(loaded.optimizer);
      task.restore(ts.task);
      step = ts.step;
      tokensSeen = ts.tokensSeen;
      elapsedBefore = ts.elapsedSeconds;
      // more (or fewer) steps on resume continue the schedule from the rate reached, no re-warm
      const prevSchedule = ts.schedule ?? { lr: ts.config.lr, minLr: ts.config.minLr, warmupSteps: ts.config.warmupSteps, decaySteps: ts.config.decaySteps ?? ts.config.maxSteps };
      schedule = extendSchedule(prevSchedule, schedule, step);
      const stale = staleStart(task.stage, ts.startedFrom, opts.startedFrom, opts.runDir);
      if (stale) console.error(stale);
      // nothing is written yet: a refusal leaves the run as it was
      const otherData = dataChanged(task.stage, { data: ts.data, hash: ts.dataHash }, { data: opts.data, hash: opts.dataHash }, opts.allowDataChange);
      if (otherData && !opts.allowDataChange) throw new GptforgeError(otherData, { file: join(ck, 'trainer_state.json'), field: 'data' });
      if (otherData) console.error(otherData);
      // the same start (a copied or moved run's included) is recorded afresh, relative to this run;
      // a stale one keeps naming what the checkpoint's updates really continue
      if (stale || ts.startedFrom === undefined || opts.startedFrom === undefined) startedFrom = ts.startedFrom === undefined ? undefined : recordedStart(opts.runDir, ts.startedFrom);
      lastCheckpoint = ck;
      metrics.truncateStage(task.stage, step);
      // a checkpoint at or past the steps asked trains nothing (the loop below is skipped: the
      // held-out evaluation runs, the checkpoint is left as it was): no learning-rate talk then
      const lrOn = schedule.from && schedule.from.step === step ? `the learning rate goes on from ${schedule.from.lr.toExponential(2)}, decaying to ${schedule.minLr.toExponential(2)} at step ${schedule.decaySteps}` : '';
      if (!opts.quiet && opts.resumeAnnounced) {
        if (step < cfg.maxSteps && lrOn) console.error(`${task.stage}: ${lrOn}`);
      } else if (!opts.quiet) console.error(step >= cfg.maxSteps ? `${task.stage}: ${pastEnd(ck, step, cfg.maxSteps, opts.stepsOption)}` : `${task.stage}: resuming from ${ck} (step ${step}/${cfg.maxSteps})${lrOn ? `; ${lrOn}` : ''}`);
    }
  }
  // a run that starts over (--fresh, or nothing to resume) drops an earlier run's records of this
  // stage, so its curves and the dashboard show one run; step 0 is kept (RL's pre-training
  // validation point, written just before this loop; the loop itself logs from step 1)
  if (step === 0) metrics.truncateStage(task.stage, 0);

  let interrupted = false;
  const onAbort = (): void => {
    interrupted = true;
    if (!opts.quiet) console.error(`\n${task.stage}: stopping — saving a checkpoint after this step`);
  };
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  setArenaEnabled(true);

  const save = (): string => {
    const trainerState: TrainerState = {
      stage: task.stage,
      step,
      tokensSeen,
      elapsedSeconds: elapsedBefore + (performance.now() - t0) / 1000,
      task: task.state(),
      config: cfg,
      schedule,
      ...(startedFrom !== undefined ? { startedFrom: recordStart(opts.runDir, startedFrom) } : {}),
      ...(opts.data !== undefined ? { data: opts.data } : {}),
      ...(opts.dataHash !== undefined ? { dataHash: opts.dataHash } : {}),
    };
    lastCheckpoint = saveCheckpoint(opts.stageDir, model, {
      stage: task.stage,
      scalarHead: task.scalarHead,
      step,
      tokenizerJSON: task.tokenizerJSON,
      tokenizerHash: task.tokenizerHash,
      trainerState,
      optimizer: optimizer.state(),
      keepLast: cfg.keepLast,
      adapter: adapter ? adapterSaveOptions(adapter, opts.stageDir, step, task.tokenizerHash) : undefined,
      // even with --quiet: a trained model disappearing is not progress output
      onReplaced: (dir, was) => console.error(`${task.stage}: removed ${dir} (step ${was}, the model of the run this one replaced — --fresh or fewer steps — now that step ${step} is saved)`),
    });
    return lastCheckpoint;
  };

  const runEval = (): Record<string, number> => {
    if (!task.evaluate) return {};
    const ev = task.evaluate(step);
    clearTape();
    // a stage with no held-out data measures nothing: a record of only {stage, step, tokens} would
    // be an evaluation point with no value in it (the curves and `gptforge eval` read it as one)
    if (Object.keys(ev).length === 0) return ev;
    // a resume that trained nothing (at or past --max-steps) evaluates the model the log already
    // has a record of at this step when the run that reached it evaluated there: a second record
    // at the same step would only repeat it (and count twice in the curves), so it is left out
    const logged = stepsThisRun === 0 && metrics.read(task.stage).some((r) => r.step === step && Object.keys(ev).every((k) => k in r));
    if (!logged) metrics.append({ stage: task.stage, step, tokens: tokensSeen, ...ev });
    opts.onEval?.(metrics.read(task.stage));
    return ev;
  };

  if (!opts.quiet) console.error(`${task.stage}: ${engineSummary()}`);
  // a resume at or past the steps asked trains nothing: no bar at all (it would read "160/2",
  // a position past its total), only the line that said so above
  const progress = new Progress({ label: task.stage, total: cfg.maxSteps, unit: 'step', quiet: opts.quiet || step >= cfg.maxSteps, initial: step });
  progress.update(step);
  const t0 = performance.now();
  let lastLoss = NaN;
  let lastEval: Record<string, number> = {};
  let stepsThisRun = 0;
  let windowTokens = 0;
  let windowStart = performance.now();
  try {
    while (step < cfg.maxSteps) {
      const lr = learningRate(step, schedule);
      optimizer.lr = lr;
      optimizer.zeroGrad();
      // fetch the whole step first: its normaliser is the sum over all its micro-batches
      const micro: M[] = [];
      for (let i = 0; i < cfg.gradAccum; i++) micro.push(task.nextMicroBatch(i, cfg.gradAccum));
      const weights = micro.map((mb) => task.weight(mb));
      const total = weights.reduce((a, b) => a + b, 0);
      let loss = 0;
      let tokens = 0;
      const extra: Record<string, number> = {};
      const metricSums: Record<string, [number, number]> = {};
      for (let i = 0; i < micro.length; i++) {
        // a step with nothing to learn from (no supervised token at all) leaves the gradient at zero
        if (!(weights[i] > 0)) continue;
        // Recycle the previous micro-batch's activations and gradients (see tensor.ts).
        resetArena();
        const { loss: l, tokens: n, value, metrics: m, metricsWeight, stepMetrics } = task.forwardMicroBatch(micro[i], total);
        l.backward();
        loss += value ?? l.item();
        tokens += n;
        const mw = metricsWeight ?? weights[i];
        if (m)
          for (const [k, v] of Object.entries(m)) {
            const acc = (metricSums[k] ??= [0, 0]);
            acc[0] += v * mw;
            acc[1] += mw;
          }
        if (stepMetrics) Object.assign(extra, stepMetrics);
      }
      for (const [k, [sum, w]] of Object.entries(metricSums)) if (w > 0) extra[k] = sum / w;
      const norm = gradNorm(params);
      if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
        throw new GptforgeError(
          `${task.stage}: ${!Number.isFinite(loss) ? `loss is ${loss}` : `gradient norm is ${norm}`} at step ${step + 1}; stopping. ${lastCheckpoint ? `The last good checkpoint is intact: ${lastCheckpoint}` : 'No checkpoint was written yet.'} Try a lower learning rate or stronger gradient clipping.`,
        );
      }
      optimizer.step(clipScale(norm, cfg.gradClip));
      step++;
      stepsThisRun++;
      tokensSeen += tokens;
      windowTokens += tokens;
      lastLoss = loss;

      if (step % logEvery === 0 || step === cfg.maxSteps) {
        const now = performance.now();
        const dt = (now - windowStart) / 1000;
        const tps = dt > 0 ? windowTokens / dt : 0;
        const rec: MetricRecord = { stage: task.stage, step, tokens: tokensSeen, loss, learning_rate: lr, grad_norm: norm, tokens_per_sec: Math.round(tps), ...extra };
        if (task.flopsPerToken && peak > 0) rec.mfu = (tps * task.flopsPerToken) / peak;
        metrics.append(rec);
        opts.onStep?.(rec);
        windowTokens = 0;
        windowStart = now;
        progress.update(step, `loss ${loss.toFixed(4)} ${formatCount(tps)} tok/s${rec.mfu !== undefined ? ` MFU ${(100 * (rec.mfu as number)).toFixed(0)}%` : ''}`);
      }
      if (cfg.evalEvery > 0 && step % cfg.evalEvery === 0 && step < cfg.maxSteps) lastEval = runEval();
      if (cfg.checkpointEvery > 0 && step % cfg.checkpointEvery === 0 && step < cfg.maxSteps) save();
      if (interrupted || (opts.stopAfter !== undefined && stepsThisRun >= opts.stopAfter)) {
        save();
        progress.finish();
        return { step, tokensSeen, lastLoss, lastEval, checkpoint: lastCheckpoint, interrupted: true };
      }
      // Let signal handlers run: the loop is otherwise synchronous.
      await new Promise<void>((r) => setImmediate(r));
    }
    lastEval = runEval();
    // a resume already at or past the steps asked trained nothing: its checkpoint stays as it was
    // (re-saving it would store this run's lower horizon as the schedule, and a later, longer run
    // would go on at minLr from there)
    if (stepsThisRun > 0 || lastCheckpoint === null) save();
    progress.finish();
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    setArenaEnabled(false);
  }
  return { step, tokensSeen, lastLoss, lastEval, checkpoint: lastCheckpoint, interrupted: false };
}

/** Remove half-built checkpoint directories left by a kill. */
function cleanStaleTemps(stageDir: string): void {
  if (!existsSync(stageDir)) return;
  for (const n of readdirSync(stageDir)) {
    if (/\.(tmp|old)-\d+-\d+$/.test(n) || n.startsWith('.tmp-')) rmSync(join(stageDir, n), { recursive: true, force: true });
  }
}
