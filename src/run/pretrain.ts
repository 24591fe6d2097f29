import { existsSync } from 'node:fs';
import { checkSettings, type StageLoopOptions } from './stage-options.js';
import { join } from 'node:path';
import { getKernels } from '../engine/backend.js';
import { BatchLoader, ValLoader } from '../data/loader.js';
import { loadMixtureConfig } from '../data/mixture.js';
import { mixtureTable, prepareData } from '../data/prepare.js';
import { lossCurveSVG } from '../eval/plot.js';
import { countParams, makeConfig } from '../model/config.js';
import { configDiff, latestCheckpoint, loadCheckpoint } from '../model/checkpoint.js';
import { GPT } from '../model/gpt.js';
import type { TrainResult } from '../train/loop.js';
import { MetricsLog, type MetricRecord } from '../train/metrics.js';
import { pretrain } from '../train/pretrain.js';
import { atomicWriteFile } from '../util/atomic.js';
import { GptforgeError } from '../util/errors.js';
import { holdRunLock } from '../util/lock.js';
import { prepareTokenizer } from './data.js';
import { runLayout } from './layout.js';
import { lossCurves } from './plots.js';
import { loadPreset, resolveMixturePath, type PretrainPreset } from './presets.js';
import { checkPresetName } from './preset.js';

/** Overrides of the preset's pretraining section (each optional). */
export interface PretrainOverrides {
  /** Optimizer steps (a positive whole number). */
  maxSteps?: number;
  batchSize?: number;
  gradAccum?: number;
  lr?: number;
  evalEvery?: number;
  checkpointEvery?: number;
  logEvery?: number;
}

/**
 * A preset (name `tiny`/`small` or a JSON file) with overrides applied, and the run directory
 * it names (`runs/<preset name>` unless `run` is given).
 * @throws GptforgeError for an unknown preset or a `maxSteps` that is not a positive whole number.
 */
export function resolvePreset(name: string, o: PretrainOverrides & { run?: string } = {}): { runDir: string; preset: PretrainPreset; file: string } {
  if (o.maxSteps !== undefined && !(Number.isInteger(o.maxSteps) && o.maxSteps >= 1)) throw new GptforgeError(`maxSteps: expects a whole number of optimizer steps ≥ 1, got ${o.maxSteps}`, { field: 'maxSteps' });
  checkPresetName(name);
  const { preset: base, file } = loadPreset(name);
  const p: PretrainPreset = { ...base, train: { ...base.train } };
  if (o.maxSteps !== undefined) p.train.maxSteps = o.maxSteps;
  if (o.batchSize !== undefined) p.batchSize = o.batchSize;
  if (o.gradAccum !== undefined) p.train.gradAccum = o.gradAccum;
  if (o.lr !== undefined) p.train.lr = o.lr;
  if (o.evalEvery !== undefined) p.train.evalEvery = o.evalEvery;
  if (o.checkpointEvery !== undefined) p.train.checkpointEvery = o.checkpointEvery;
  if (o.logEvery !== undefined) p.train.logEvery = o.logEvery;
  checkSettings(o, file, [
    ['maxSteps', p.train.maxSteps, 'positive integer', 'train.maxSteps'],
    ['batchSize', p.batchSize, 'positive integer', 'batchSize'],
    ['seqLen', p.seqLen, 'positive integer', 'seqLen'],
    ['gradAccum', p.train.gradAccum, 'positive integer', 'train.gradAccum'],
    ['lr', p.train.lr, 'positive number', 'train.lr'],
    ['evalEvery', p.train.evalEvery ?? 0, 'non-negative integer', 'train.evalEvery'],
    ['checkpointEvery', p.train.checkpointEvery ?? 0, 'non-negative integer', 'train.checkpointEvery'],
    ['logEvery', p.train.logEvery ?? 1, 'positive integer', 'train.logEvery'],
  ]);
  return { runDir: o.run ?? join('runs', p.name), preset: p, file };
}

/**
 * Load `from`'s weights into `model` (a curriculum phase starting where another run stopped).
 * @throws GptforgeError when `from` holds no checkpoint, holds an adapter, or its model config or
 * tokenizer differs from this run's (naming the field).
 */
function initWeights(model: GPT, from: string, tokenizerHash: string, log: (line: string) => void): void {
  const ck = existsSync(join(from, 'config.json')) ? from : (latestCheckpoint(from) ?? latestCheckpoint(join(from, 'base')));
  if (!ck) throw new GptforgeError('initFrom: no checkpoint here (give a checkpoint, a stage or a run directory)', { file: from });
  const loaded = loadCheckpoint(ck);
  if (loaded.meta.adapter) throw new GptforgeError('initFrom: the checkpoint holds a LoRA adapter, not a full model', { file: ck, field: 'adapter' });
  const diff = configDiff(loaded.meta.model, model.config);
  if (diff) throw new GptforgeError(`initFrom: the checkpoint's model has ${diff.field}=${JSON.stringify(diff.a)}, this run's ${JSON.stringify(diff.b)}`, { file: join(ck, 'config.json'), field: `model.${diff.field}` });
  if (loaded.meta.tokenizerHash && loaded.meta.tokenizerHash !== tokenizerHash) throw new GptforgeError("initFrom: the checkpoint was trained with a different tokenizer (copy its run's tokenizer.json into this run)", { file: join(ck, 'config.json'), field: 'tokenizerHash' });
  model.loadState(loaded.weights, join(ck, 'model.safetensors'));
  log(`pretrain: starting from the weights of ${ck}`);
}

/** Options of `runPretrain` (`maxSteps`, `logEvery`, `onStep`, `signal`: as every stage runner's, over the preset's `train` section). */
export interface RunPretrainOptions extends StageLoopOptions {
  /** The preset file it came from (relative mixture paths resolve against it). */
  presetFile: string;
  /** Mixture config JSON overriding the preset's. */
  mixture?: string;
  /** Ignore existing checkpoints and start over. */
  fresh?: boolean;
  /**
   * A checkpoint directory (or a stage directory: its latest checkpoint) whose weights start this
   * run instead of a random initialisation — a curriculum's next phase: a new run with its own
   * mixture, step count and schedule, and a fresh optimizer. Used only when this run has no
   * checkpoint of its own to resume (or with `fresh`). The model's config and the tokenizer must
   * match the checkpoint's (copy its tokenizer.json into the run first).
   */
  initFrom?: string;
  quiet?: boolean;
  /** Progress lines (tokenizer training, the mixture table, the model's size); default none. */
  log?(line: string): void;
  /** Warnings (e.g. a tokenizer used as is), shown even when `log` is off (`--quiet`); default `log`. */
  onWarning?(line: string): void;
  /**
   * One line as each part of the stage starts — the tokenizer, the data, the training — for a
   * caller that turns `log` and the progress bars off (`--quiet`: no progress bars, not a minute
   * of silence while a tokenizer trains); default none.
   */
  onPart?(line: string): void;
}

/** What `runPretrain` did. */
export interface RunPretrainResult extends TrainResult {
  runDir: string;
  /** This stage's metric history. */
  history: MetricRecord[];
}

/**
 * Stage 1, pretraining: data → tokenizer → model → batches → the training loop. Trains the
 * tokenizer on a sample of the mixture and prepares the token shards when missing (reused when
 * prepared for the same inputs), writes `<run>/preset.json`, trains a GPT of the preset's shape
 * (seed 1337) on packed (B, T) rows — one concat stream per row of a step, so a step reads the
 * same rows however gradAccum splits it — evaluating on every source's held-out split, and
 * plots `loss.svg` after each evaluation. Resumes from `<run>/base` unless `fresh`; holds the
 * run's lock; never exits the process or installs a signal handler.
 *
 * @throws GptforgeError for a bad mixture, source or preset (naming file and field) or a locked run.
 */
export async function runPretrain(runDir: string, presetIn: PretrainPreset, opts: RunPretrainOptions): Promise<RunPretrainResult> {
  opts.signal?.throwIfAborted(); // before any work: nothing trained or written
  const preset: PretrainPreset = { ...presetIn, train: { ...presetIn.train } };
  if (opts.maxSteps !== undefined) preset.train.maxSteps = opts.maxSteps;
  if (opts.logEvery !== undefined) preset.train.logEvery = opts.logEvery;
  checkSettings(opts, opts.presetFile, [
    ['maxSteps', preset.train.maxSteps, 'positive integer', 'train.maxSteps'],
    ['logEvery', preset.train.logEvery ?? 1, 'positive integer', 'train.logEvery'],
  ]);
  holdRunLock(runDir, 'run', { create: true }); // one writer per run (src/util/lock.ts)
  const layout = runLayout(runDir);
  const log = opts.log ?? (() => undefined);
  const mixturePath = opts.mixture ?? resolveMixturePath(preset, opts.presetFile);
  const mixture = loadMixtureConfig(mixturePath);

  const part = opts.onPart ?? (() => undefined);

  // 1. tokenizer and data
  part(`pretrain: tokenizer: ${existsSync(layout.tokenizer) ? `checking the run's ${layout.tokenizer}` : `training a ${mixture.tokenizer?.vocabSize ?? 4096}-token BPE on a sample of the mixture`}`);
  const prepared = prepareTokenizer(layout.tokenizer, mixture, { retrain: opts.fresh, quiet: opts.quiet, log, onWarning: opts.onWarning });
  const tok = prepared.tokenizer;
  part(`pretrain: data: the token shards of ${mixture.sources.length} source${mixture.sources.length === 1 ? '' : 's'} in ${layout.data} (reused when up to date)`);
  const index = await prepareData(mixture, layout.data, tok, { quiet: opts.quiet, mixtureFile: mixturePath });
  prepared.commit(); // only now: a failed prepare leaves no tokenizer for the next run to reuse
  log(mixtureTable(index));

  // 2. the model
  const config = makeConfig({ ...preset.model, vocabSize: tok.vocabSize });
  const model = new GPT(config, { seed: 1337 });
  if (opts.initFrom && (opts.fresh || !latestCheckpoint(layout.stage('base')))) initWeights(model, opts.initFrom, tok.hash(), log);
  atomicWriteFile(layout.preset, JSON.stringify({ ...preset, mixture: mixturePath }, null, 2));
  const k = getKernels();
  log(
    `pretrain: ${(countParams(config) / 1e6).toFixed(2)}M parameters (${preset.model.nLayer} layers, ${preset.model.nEmbd} wide, context ${preset.model.blockSize}), vocabulary ${tok.vocabSize}, ${preset.batchSize}×${preset.seqLen}×${preset.train.gradAccum} tokens/step, ${k.name} backend, ${k.threads} thread${k.threads === 1 ? '' : 's'}`,
  );

  // 3. batches
  const B = preset.batchSize;
  const T = preset.seqLen;
  const train = BatchLoader.open(layout.data, { batchSize: B, seqLen: T, mode: preset.loader ?? 'concat', streams: B * preset.train.gradAccum });
  const val = index.sources.map((s) => ({
    name: s.name,
    bytesPerToken: s.val.bytes / Math.max(1, s.val.tokens),
    open: () => new ValLoader(layout.data, index, s.name, B, T),
  }));

  // 4. train, plotting the curves after every evaluation
  part(`pretrain: training to step ${preset.train.maxSteps} (${(countParams(config) / 1e6).toFixed(2)}M parameters)`);
  const plot = (h: readonly MetricRecord[]): void => atomicWriteFile(layout.lossPlot, lossCurveSVG(lossCurves(h), { title: 'pretraining loss', xLabel: 'step', yLabel: 'cross-entropy (nats/token)' }));
  const result = await pretrain({ model, train, val, batchSize: B, seqLen: T, evalBatches: preset.evalBatches, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() }, preset.train, {
    runDir,
    stageDir: layout.stage('base'),
    resume: !opts.fresh,
    quiet: opts.quiet,
    signal: opts.signal,
    onStep: opts.onStep,
    onEval: plot,
  });
  const history = new MetricsLog(runDir).read('pretrain');
  plot(history);
  return { ...result, runDir, history };
}
