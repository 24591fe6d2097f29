import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { atomicReplaceDir, atomicWriteFile } from '../util/atomic.js';
import { parseJsonFile } from '../util/json.js';
import { GptforgeError } from '../util/errors.js';
import type { AdamWState } from '../engine/optim.js';
import { type GPTConfig, validateConfig } from './config.js';
import { GPT, type ScorePool } from './gpt.js';
import { readSafetensors, writeSafetensors, type NamedTensor } from './safetensors.js';
import { baseWeightsFingerprint } from './fingerprint.js';
import { ADAPTER_CONFIG, checkAdapterBase, linearShapes, mergeAdapterWeights, readAdapter } from './export/peft.js';

/**
 * A checkpoint is a directory: model.safetensors, config.json, tokenizer.json, and for
 * training trainer_state.json + optimizer.safetensors. A stage directory (runs/x/base)
 * holds step-NNNNNNN/ checkpoints and latest.json naming the newest complete one.
 * Every checkpoint is built under a temp name and renamed into place, so a kill at any
 * moment leaves the previous checkpoint intact.
 */
export interface CheckpointMeta {
  /** The stage that wrote it: pretrain, sft, rm, rl, dpo. */
  stage: string;
  step: number;
  model: GPTConfig;
  /** Hash of the tokenizer the model was trained with. */
  tokenizerHash?: string;
  hasScalarHead?: boolean;
  /** What the scalar head scores, when there is one: `reward` (a reward model, `gptforge rm`) or `value` (PPO's value head on a policy, `gptforge rl`). Older checkpoints leave it out: see isRewardModel. */
  scalarHead?: ScalarHeadKind;
  /** How the reward head pools the hidden states (GPT.scorePool); absent: the last token's. */
  scorePool?: ScorePool;
  createdAt: string;
  /**
   * Set for an adapter checkpoint: no model.safetensors, but a PEFT adapter
   * (adapter_config.json + adapter_model.safetensors) over the base checkpoint `base`
   * (a path relative to this checkpoint's directory). Loading one merges the adapter into
   * the base's fp32 weights.
   */
  adapter?: { base: string; name: string; basePrecision: string };
}

/** What a model's scalar head scores: a reward model's reward, or PPO's value estimate on a policy. */
export type ScalarHeadKind = 'reward' | 'value';

/**
 * Whether a checkpoint is a reward model: a scalar head that scores replies (`gptforge rm`),
 * not PPO's value head on a policy (`gptforge rl`), which has the same shape. Checkpoints
 * from before `scalarHead` was recorded are told apart by the stage that wrote them (rl, rl-*).
 * @example isRewardModel({ stage: 'rl', hasScalarHead: true }) // false: PPO's value head
 */
export function isRewardModel(meta: Pick<CheckpointMeta, 'stage' | 'hasScalarHead' | 'scalarHead'>): boolean {
  if (!meta.hasScalarHead) return false;
  return meta.scalarHead !== undefined ? meta.scalarHead === 'reward' : !/^rl(-|$)/.test(meta.stage);
}

/** What `saveCheckpoint` writes besides the weights: the stage and step (the directory is `step-NNNNNNN`), the tokenizer, the trainer and optimizer state for resuming, how many to keep. */
export interface SaveOptions {
  stage: string;
  /** What the model's scalar head scores (recorded when it has one). */
  scalarHead?: ScalarHeadKind;
  step: number;
  tokenizerJSON?: string;
  tokenizerHash?: string;
  /** Anything JSON-serialisable: data position, RNG state, step counters, metrics so far. */
  trainerState?: unknown;
  optimizer?: AdamWState;
  /** Keep only this many step-* checkpoints (default 3; 0 keeps all). */
  keepLast?: number;
  /** Write an adapter checkpoint instead of model.safetensors: `write` puts the PEFT files into the directory being built. */
  adapter?: { meta: NonNullable<CheckpointMeta['adapter']>; write(dir: string): void };
  /**
   * Told of each checkpoint past this step removed as another run's (a --fresh start or a restart
   * with fewer steps, see below), after it is gone: the training loop prints it, so a model
   * is never deleted silently. Routine pruning to `keepLast` is not reported.
   */
  onReplaced?(dir: string, step: number): void;
}

const STEP_RE = /^step-(\d+)$/;

export function checkpointName(step: number): string {
  return `step-${String(step).padStart(7, '0')}`;
}

/** Write a checkpoint for `model` into stageDir/step-NNNNNNN and point latest.json at it. Returns its path. */
export function saveCheckpoint(stageDir: string, model: GPT, opts: SaveOptions): string {
  if (!opts.adapter && model.linearSites().some((s) => s.weight.size === 0)) {
    throw new GptforgeError("this model's base is quantized (its fp32 block weights were dropped): save its LoRA adapter (SaveOptions.adapter) or merge onto the fp32 base instead", { field: 'basePrecision' });
  }
  const dir = join(stageDir, checkpointName(opts.step));
  atomicReplaceDir(dir, (tmp) => {
    if (opts.adapter) opts.adapter.write(tmp);
    else {
      const tensors = new Map<string, NamedTensor>();
      for (const [name, t] of model.params) tensors.set(name, { shape: t.shape, data: t.data });
      writeSafetensors(join(tmp, 'model.safetensors'), tensors, { format: 'pt', producer: 'gptforge' });
    }
    const meta: CheckpointMeta = {
      stage: opts.stage,
      step: opts.step,
      model: model.config,
      tokenizerHash: opts.tokenizerHash,
      hasScalarHead: model.hasScalarHead,
      ...(model.hasScalarHead && opts.scalarHead ? { scalarHead: opts.scalarHead } : {}),
      ...(model.hasScalarHead && model.scorePool ? { scorePool: model.scorePool } : {}),
      createdAt: new Date().toISOString(),
      ...(opts.adapter ? { adapter: opts.adapter.meta } : {}),
    };
    writeFileSync(join(tmp, 'config.json'), JSON.stringify(meta, null, 2));
    if (opts.tokenizerJSON !== undefined) writeFileSync(join(tmp, 'tokenizer.json'), opts.tokenizerJSON);
    if (opts.trainerState !== undefined) writeFileSync(join(tmp, 'trainer_state.json'), JSON.stringify(opts.trainerState));
    if (opts.optimizer) {
      const o = new Map<string, NamedTensor>();
      for (const [name, m] of opts.optimizer.m) o.set(`${name}.exp_avg`, { shape: [m.length], data: m });
      for (const [name, v] of opts.optimizer.v) o.set(`${name}.exp_avg_sq`, { shape: [v.length], data: v });
      writeSafetensors(join(tmp, 'optimizer.safetensors'), o, { step: String(opts.optimizer.step) });
    }
  });
  atomicWriteFile(join(stageDir, 'latest.json'), JSON.stringify({ checkpoint: checkpointName(opts.step), step: opts.step }) + '\n');
  // Checkpoints past this step belong to a run this one replaced (a --fresh start, or a restart
  // with fewer steps): left in place they would pass for the newest by step number, and the
  // pruning below would delete the checkpoint just written in their favour.
  for (const stale of listCheckpoints(stageDir).filter((d) => checkpointStep(d) > opts.step)) {
    rmSync(stale, { recursive: true, force: true });
    opts.onReplaced?.(stale, checkpointStep(stale));
  }
  const keep = opts.keepLast ?? 3;
  if (keep > 0) {
    const all = listCheckpoints(stageDir);
    const old = all.slice(0, Math.max(0, all.length - keep));
    // an adapter checkpoint of another stage (a DPO adapter over this LoRA SFT) names its base
    // by path: keep that base, or the other stage would no longer load
    const needed = old.length > 0 ? adapterBases(dirname(resolve(stageDir))) : new Set<string>();
    for (const d of old) if (!needed.has(resolve(d))) rmSync(d, { recursive: true, force: true });
  }
  return dir;
}

/**
 * The checkpoint directories that adapter checkpoints in `runDir`'s stages (`<run>/<stage>/step-N`
 * and `best/`) name as their base, resolved to absolute paths: what pruning must keep.
 * @example adapterBases('runs/tiny') // Set { '/…/runs/tiny/sft-lora/step-0000040' } when dpo-lora sits on it
 */
export function adapterBases(runDir: string): Set<string> {
  const out = new Set<string>();
  if (!existsSync(runDir)) return out;
  for (const stage of readdirSync(runDir, { withFileTypes: true })) {
    if (!stage.isDirectory() || stage.name.startsWith('.')) continue;
    const stageDir = join(runDir, stage.name);
    const cks = [...listCheckpoints(stageDir), join(stageDir, 'best')];
    for (const ck of cks) {
      const cfg = join(ck, 'config.json');
      if (!existsSync(cfg)) continue;
      try {
        const base = (JSON.parse(readFileSync(cfg, 'utf8')) as CheckpointMeta).adapter?.base;
        if (typeof base === 'string') out.add(resolve(ck, base));
      } catch {
        // a config being rewritten or not ours: it names no base we know of
      }
    }
  }
  return out;
}

/** The step a `listCheckpoints` directory (`…/step-0000300`) names, from its name: 300. */
export function checkpointStep(dir: string): number {
  return Number(STEP_RE.exec(basename(dir))![1]);
}

/** step-* checkpoint directories in stageDir, oldest first. */
export function listCheckpoints(stageDir: string): string[] {
  if (!existsSync(stageDir)) return [];
  // a directory pruned between the listing and its stat (a training run saving beside a reader) is not listed
  return readdirSync(stageDir)
    .filter((n) => STEP_RE.test(n) && statSync(join(stageDir, n), { throwIfNoEntry: false })?.isDirectory() === true)
    .sort((a, b) => Number(STEP_RE.exec(a)![1]) - Number(STEP_RE.exec(b)![1]))
    .map((n) => join(stageDir, n));
}

/** The fields of a checkpoint's trainer_state.json that the run layer reads without loading the model. */
export interface TrainerStateSummary {
  /** Optimizer steps done, when recorded as a number. */
  step?: number;
  /** The checkpoint the stage started from, as recorded (src/train/loop.ts recordStart). */
  startedFrom?: string;
  /** The step budget of the invocation that wrote it (`config.maxSteps`). */
  maxSteps?: number;
}

/**
 * A checkpoint's trainer_state.json, only the fields above, or null when it is missing or unreadable
 * (the training loop is what refuses a damaged one, naming the file). One reader for the run layer's
 * "is this stage done / finished / resuming" questions (pipeline stageDone, chat's defaultChatStage,
 * trainingStart's resume line).
 * @example readTrainerStateSummary('runs/tiny/sft/step-0000150') // { step: 150, startedFrom: 'base/step-0001200', maxSteps: 150 }
 */
export function readTrainerStateSummary(checkpoint: string): TrainerStateSummary | null {
  let raw: { step?: unknown; startedFrom?: unknown; config?: { maxSteps?: unknown } };
  try {
    raw = JSON.parse(readFileSync(join(checkpoint, 'trainer_state.json'), 'utf8')) as typeof raw;
  } catch {
    return null;
  }
  if (raw === null || typeof raw !== 'object') return null;
  const out: TrainerStateSummary = {};
  if (typeof raw.step === 'number') out.step = raw.step;
  if (typeof raw.startedFrom === 'string') out.startedFrom = raw.startedFrom;
  if (typeof raw.config?.maxSteps === 'number') out.maxSteps = raw.config.maxSteps;
  return out;
}

/** The newest complete checkpoint of a stage (latest.json, else the highest step), or null. */
export function latestCheckpoint(stageDir: string): string | null {
  const pointer = join(stageDir, 'latest.json');
  if (existsSync(pointer)) {
    try {
      const { checkpoint } = JSON.parse(readFileSync(pointer, 'utf8')) as { checkpoint: string };
      const dir = join(stageDir, checkpoint);
      if (existsSync(join(dir, 'config.json'))) return dir;
    } catch {
      // fall through to scanning
    }
  }
  const all = listCheckpoints(stageDir);
  return all.length > 0 ? all[all.length - 1] : null;
}

/** A checkpoint read by `loadCheckpoint`: its directory, its config.json (model config, stage, step, tokenizer, trainer state) and its weights by name. */
export interface LoadedCheckpoint {
  dir: string;
  meta: CheckpointMeta;
  weights: Map<string, Float32Array>;
  tokenizerJSON: string | null;
  trainerState: unknown;
  optimizer: AdamWState | null;
}

/**
 * Read and verify a checkpoint directory. Errors name the file and what is wrong with it.
 * `weights: false` skips the model's tensors (a resume that restores an adapter instead).
 */
export function loadCheckpoint(dir: string, opts: { optimizer?: boolean; weights?: boolean } = {}): LoadedCheckpoint {
  const cfgPath = join(dir, 'config.json');
  if (!existsSync(cfgPath)) throw new GptforgeError('not a checkpoint (no config.json)', { file: dir });
  let meta: CheckpointMeta;
  try {
    meta = parseJsonFile(readFileSync(cfgPath, 'utf8'), cfgPath) as CheckpointMeta; // a syntax error by line and column
  } catch (e) {
    if (e instanceof GptforgeError) throw new GptforgeError(`corrupt checkpoint config: ${e.detail}`, e.where);
    throw e;
  }
  validateConfig(meta.model, cfgPath, 'model.');
  const wantWeights = opts.weights !== false;
  const weights = meta.adapter && wantWeights ? adapterCheckpointWeights(dir, meta) : new Map<string, Float32Array>();
  if (!meta.adapter && wantWeights) for (const [name, t] of readSafetensors(join(dir, 'model.safetensors')).tensors) weights.set(name, t.data);
  const tokPath = join(dir, 'tokenizer.json');
  const tsPath = join(dir, 'trainer_state.json');
  let trainerState: unknown = null;
  if (existsSync(tsPath)) {
    try {
      trainerState = JSON.parse(readFileSync(tsPath, 'utf8'));
    } catch (e) {
      throw new GptforgeError(`corrupt trainer state: ${(e as Error).message}`, { file: tsPath });
    }
  }
  let optimizer: AdamWState | null = null;
  const optPath = join(dir, 'optimizer.safetensors');
  if (opts.optimizer && existsSync(optPath)) {
    const o = readSafetensors(optPath);
    const m = new Map<string, Float32Array>();
    const v = new Map<string, Float32Array>();
    for (const [name, t] of o.tensors) {
      if (name.endsWith('.exp_avg')) m.set(name.slice(0, -'.exp_avg'.length), t.data);
      else if (name.endsWith('.exp_avg_sq')) v.set(name.slice(0, -'.exp_avg_sq'.length), t.data);
    }
    optimizer = { step: Number(o.metadata.step ?? 0), m, v };
  }
  return { dir, meta, weights, tokenizerJSON: existsSync(tokPath) ? readFileSync(tokPath, 'utf8') : null, trainerState, optimizer };
}

/** An adapter checkpoint's full weights: its base checkpoint's, with the adapter merged in. */
function adapterCheckpointWeights(dir: string, meta: CheckpointMeta): Map<string, Float32Array> {
  const ref = meta.adapter!;
  const baseDir = resolve(dir, ref.base);
  if (!existsSync(join(baseDir, 'config.json'))) throw new GptforgeError(`the adapter's base checkpoint ${baseDir} is gone (an adapter checkpoint holds only the adapter)`, { file: join(dir, 'config.json'), field: 'adapter.base' });
  const base = loadCheckpoint(baseDir);
  const ad = readAdapter(dir);
  // the base by path: a base stage retrained in place since would otherwise take the adapter silently
  checkAdapterBase(ad, base.meta.model, base.meta.tokenizerHash, linearShapes(base.meta.model), baseWeightsFingerprint(base.weights), `or retrain this adapter's stage: its base checkpoint ${baseDir} changed since it trained`);
  mergeAdapterWeights(base.weights, ad);
  return base.weights;
}

/** Build the model a checkpoint describes and load its weights. */
export function modelFromCheckpoint(ck: LoadedCheckpoint): GPT {
  const model = new GPT(ck.meta.model, { scalarHead: ck.meta.hasScalarHead === true || ck.weights.has('score.weight'), scorePool: ck.meta.scorePool });
  model.loadState(ck.weights, join(ck.dir, 'model.safetensors')); // its errors name the file once
  return model;
}

/**
 * The checkpoint a stage stands for: the update its early stopping kept (`<stage>/best/`, the
 * RL stages), else its newest; null when it has none. What eval reports and every loader uses.
 */
export function selectedCheckpoint(stageDir: string): string | null {
  return latestCheckpoint(join(stageDir, 'best')) ?? latestCheckpoint(stageDir);
}

/**
 * Resolve a user-given path to a checkpoint: a checkpoint dir itself, a stage dir
 * (runs/x/base → its latest), or a run dir plus a stage name. A stage whose early stopping
 * kept an update (`<stage>/best/`, the RL stages) resolves to that one: the model the eval
 * reports is the model chat, ask, serve and export use.
 * @throws GptforgeError naming where it looked, and the run's stages that do have a checkpoint
 *   (those `listed` accepts: a command that generates leaves out the reward models).
 */
export function resolveCheckpoint(path: string, stage?: string, listed: (checkpoint: string) => boolean = () => true): string {
  if (existsSync(join(path, 'config.json')) && (existsSync(join(path, 'model.safetensors')) || existsSync(join(path, ADAPTER_CONFIG)))) return path;
  if (STEP_RE.test(basename(path)) && !existsSync(path)) {
    // a named step-N that is gone: most often pruned by its stage's keepLast rotation
    const newest = latestCheckpoint(dirname(path));
    throw new GptforgeError(`no such checkpoint directory${newest ? ` (its stage keeps only its newest checkpoints; the newest now is ${newest}, or pass the stage directory ${dirname(path)} for its latest)` : ''}`, { file: path });
  }
  const candidates = stage ? [join(path, stage)] : [path, join(path, 'rl'), join(path, 'sft'), join(path, 'base')];
  for (const c of candidates) {
    const ck = selectedCheckpoint(c);
    if (ck) return ck;
  }
  const stages =
    existsSync(path) && statSync(path).isDirectory()
      ? readdirSync(path, { withFileTypes: true })
          .filter((e) => {
            const ck = e.isDirectory() ? latestCheckpoint(join(path, e.name)) : null;
            return ck !== null && listed(ck);
          })
          .map((e) => e.name)
      : [];
  // nothing trained there at all: say how to get a run rather than only where we looked
  const hint = stages.length ? `; stages with a checkpoint: ${stages.sort().join(', ')}` : existsSync(path) ? '' : `; no such directory — ${TRAIN_A_RUN}`;
  throw new GptforgeError(`no checkpoint found${stage ? ` for stage "${stage}"` : ''} (looked in ${candidates.join(', ')})${hint}`, { file: path });
}

/**
 * Hooks into the checkpoint readers, for tests only: `afterResolve` runs after a reader resolved a
 * checkpoint and before it reads it (a test deletes it there and saves a newer one, the race with a
 * training run's keepLast rotation, without timing).
 */
export const checkpointReadHooks: { afterResolve?: (dir: string) => void } = {};

/** How many checkpoints a reader tries when each is replaced by a newer one while it reads it. */
export const REPLACED_CHECKPOINT_ATTEMPTS = 5;

/**
 * Whether an error reading checkpoint `dir` is the race {@link readNewestCheckpoint} exists for —
 * the checkpoint rotated away (or half-deleted) by a training run while read — rather than the
 * checkpoint's own fault: its directory or config.json is gone now, whatever the reader tripped
 * on; a file of it was missing (ENOENT, on the error or its `cause`, or in a wrapped message:
 * readSafetensors' "cannot open: ENOENT…"); or a read came up short (a "truncated" file). A corrupt
 * file, EACCES, a bad config are not: retrying them on a newer checkpoint would hide them.
 */
export function isCheckpointRace(e: unknown, dir: string): boolean {
  if (!existsSync(join(dir, 'config.json'))) return true;
  for (let c: unknown = e, depth = 0; c && depth < 8; c = (c as { cause?: unknown }).cause, depth++) if ((c as { code?: unknown }).code === 'ENOENT') return true;
  if (!(e instanceof Error)) return false;
  return /\bENOENT\b/.test(e.message) || (e instanceof GptforgeError && /^truncated\b/.test(e.detail));
}

/**
 * Run `use` on `first`, the checkpoint `resolveDir` named (a stage's or run's newest), re-resolving when it
 * fails because a newer checkpoint replaced that one meanwhile: a training run saving beside the
 * reader prunes the oldest of its stage (saveCheckpoint's keepLast), so the checkpoint resolved a
 * moment ago can vanish, or be half-deleted, before or while it is read. `use` is retried on the
 * newly resolved checkpoint only when its error is that race ({@link isCheckpointRace}: the
 * checkpoint gone, a file of it missing, a truncated read) and `resolveDir` now names another
 * one, up to REPLACED_CHECKPOINT_ATTEMPTS checkpoints in all. Any other error — a corrupt file,
 * EACCES, a config this reader refuses — is the checkpoint's own and is thrown at once, naming
 * the file (an fs error without a GptforgeError around it becomes one naming its path).
 * @param where what was asked for (a run or stage directory), for the error
 * @throws GptforgeError when every checkpoint tried was replaced while read, naming them; else what `use` threw
 */
export function readNewestCheckpoint<T>(first: string, resolveDir: () => string, use: (dir: string) => T, where: string): T {
  const tried: string[] = [];
  let dir = first;
  for (;;) {
    tried.push(dir);
    checkpointReadHooks.afterResolve?.(dir);
    try {
      return use(dir);
    } catch (e) {
      if (!isCheckpointRace(e, dir)) throw namedReadError(e, dir);
      let next: string;
      try {
        next = resolveDir();
      } catch {
        throw e; // nothing newer to read: the first failure says what went wrong
      }
      if (next === dir) throw e;
      if (tried.length >= REPLACED_CHECKPOINT_ATTEMPTS) {
        throw new GptforgeError(
          `its newest checkpoint was replaced by a newer one while being read, ${tried.length} times (${[...tried, next].map((d) => basename(d)).join(' → ')}; a training run saving checkpoints faster than they load): try again, or name one step-N directory (last failure: ${(e as Error).message})`,
          { file: where },
        );
      }
      dir = next;
    }
  }
}

/** A GptforgeError for a file a checkpoint lacks (`detail` names it), coded ENOENT: a reader of a stage's newest checkpoint takes it for the rotation race ({@link isCheckpointRace}) and re-resolves. */
export function missingCheckpointFile(detail: string, dir: string): GptforgeError {
  return Object.assign(new GptforgeError(detail, { file: dir }), { code: 'ENOENT' });
}

/** An fs error (one with an errno `code`, e.g. EACCES) as a GptforgeError naming its file (its `path`, else the checkpoint `dir`), code kept; anything else as it is. */
function namedReadError(e: unknown, dir: string): unknown {
  if (e instanceof GptforgeError || !(e instanceof Error)) return e;
  const { code, path } = e as NodeJS.ErrnoException;
  if (typeof code !== 'string') return e; // a programming error: its stack matters more
  return Object.assign(new GptforgeError(`cannot read the checkpoint: ${e.message}`, { file: path ?? dir }), { code, cause: e });
}

/**
 * `use(resolveCheckpoint(path, stage, listed))`, safe against a training run replacing the
 * checkpoint meanwhile: a run or stage directory is re-resolved to its newest checkpoint and `use`
 * retried when the one resolved vanished while read (readNewestCheckpoint); an explicit checkpoint
 * directory (step-N) is read once, and a missing one fails at once, naming it.
 * @example withResolvedCheckpoint('runs/tiny', 'sft', (dir) => loadCheckpoint(dir)) // sft's newest, even with sft training
 * @throws GptforgeError as resolveCheckpoint and readNewestCheckpoint do, or what `use` threw
 */
export function withResolvedCheckpoint<T>(path: string, stage: string | undefined, use: (dir: string) => T, listed?: (checkpoint: string) => boolean): T {
  const first = resolveCheckpoint(path, stage, listed);
  if (first === path) {
    checkpointReadHooks.afterResolve?.(first);
    return use(first);
  }
  return readNewestCheckpoint(first, () => resolveCheckpoint(path, stage, listed), use, stage !== undefined ? join(path, stage) : path);
}

/** How to get a run, for errors about a run directory that does not exist. */
export const TRAIN_A_RUN = "train a run first (the default run: npx gptforge pipeline; a few minutes' tiny one: npx gptforge pipeline --preset tiny --run runs/tiny, then pass --run runs/tiny), or name an existing run directory (the CLI's --run)";

/** Compare two model configs; returns the first differing field, or null. Object fields (abacus) compare by value. */
export function configDiff(a: GPTConfig, b: GPTConfig): { field: keyof GPTConfig; a: unknown; b: unknown } | null {
  for (const key of Object.keys(a) as (keyof GPTConfig)[]) {
    const same = typeof a[key] === 'object' && a[key] !== null ? JSON.stringify(a[key]) === JSON.stringify(b[key]) : a[key] === b[key];
    if (!same) return { field: key, a: a[key], b: b[key] };
  }
  return null;
}
