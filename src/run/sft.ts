import { getKernels } from '../engine/backend.js';
import { checkOnBad } from '../data/jsonl.js';
import { checkSetting, checkSettings, trainingStart, warnSkips, type StageLoopOptions } from './stage-options.js';
import type { Conversation } from '../data/conversation.js';
import type { OnBad } from '../data/chat.js';
import { buildSftDataset, PackedLoader, sftTable, writerSummary, type SftDataset, type SftMixtureConfig, type SftSourceReport } from '../data/sft.js';
import type { SftPreset } from './presets.js';
import { lossCurveSVG } from '../eval/plot.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { dataHash, type TrainResult } from '../train/loop.js';
import { MetricsLog, type MetricRecord } from '../train/metrics.js';
import { sft } from '../train/sft.js';
import { describeAdapter, prepareAdapter, type AdapterOptions } from '../train/adapter.js';
import { defaultTools } from '../infer/tools/registry.js';
import { latestCheckpoint } from '../model/checkpoint.js';
import { LATER_STAGES } from './eval.js';
import { atomicWriteFile } from '../util/atomic.js';
import { GptforgeError } from '../util/errors.js';
import { holdRunLock } from '../util/lock.js';
import { existsSync, readFileSync } from 'node:fs';
import { runLayout } from './layout.js';
import { loadModel } from './models.js';
import { lossCurves } from './plots.js';
import { runPreset, runPresetFile } from './preset.js';

/**
 * What `runSft` trains on and for how long; every field optional (the run preset's `sft` section fills the rest).
 * `lora` (a config or `r=8,alpha=16,targets=qkv,proj`) trains an adapter instead of the whole
 * model, on a base held in `basePrecision` (f32, q8_0, q4_0; docs/lora.md).
 */
export interface RunSftOptions extends AdapterOptions, StageLoopOptions {
  /** Preset (name or path) whose `sft` section to use; default the run's preset.json, else `small`. */
  preset?: string;
  /** A whole SFT mixture replacing the preset's, or the path of its JSON file. */
  mixture?: SftMixtureConfig | string;
  /** Conversations in memory, added to the mixture as one source (weight `dataWeight`); read as a file's lines are (OpenAI's text parts and tool calls converted, readConversation in src/data/chat.ts). */
  conversations?: readonly Conversation[];
  /** Conversations JSONL files ({"messages": [...]} per line), each added as a source (weight `dataWeight`). */
  dataFiles?: readonly string[];
  /** Mixture weight of each of `conversations` / `dataFiles`, relative to the preset's task weights (tiny's sum to 7.6, small's to 8.6); default 1. */
  dataWeight?: number;
  /** Train on `conversations` / `dataFiles` alone, no synthetic tasks. */
  onlyData?: boolean;
  /** A malformed conversation, or one longer than a training row (seqLen + 1 tokens): an error naming it or a counted skip; default the mixture's `onBad`, else error. */
  onBad?: OnBad;
  /** e_w, the simulated demonstration writers' error rate (0..1) on the synthetic families (src/data/writers.ts); default the mixture's, else 0. */
  writerErrorRate?: number;
  /** Checkpoint to start from: a stage of this run (`base`, `sft`, …) or a checkpoint/run path; default `base`. */
  from?: string;
  /** Stage name: its checkpoint directory `<run>/<into>` and its name in metrics.jsonl; default `sft`. */
  into?: string;
  /** @deprecated use `maxSteps` (the same budget; given both, they must agree). */
  steps?: number;
  /** The step budget's name in messages (default the option given: `maxSteps`, or `steps`; the CLI passes `--max-steps`). */
  stepsOption?: string;
  /** Peak learning rate. */
  lr?: number;
  /** Rows per micro-batch. */
  batchSize?: number;
  /** Held-out loss every N steps (0: never). */
  evalEvery?: number;
  /** Ignore existing checkpoints of this stage and start over from `from`. */
  fresh?: boolean;
  /** Resume a checkpoint trained on other conversations than these (a warning); default: refused, naming --fresh, --into and this (src/train/loop.ts dataChanged). */
  allowDataChange?: boolean;
  /** No progress bars. */
  quiet?: boolean;
  /** Progress lines before training (the mixture table, the data and batch shape); default none. */
  log?(line: string): void;
  /** Warnings: each conversation skipped (onBad skip) with its file, line and reason; default `log`. */
  onWarning?(line: string): void;
}

/** What `runSft` did. */
export interface RunSftResult extends TrainResult {
  runDir: string;
  /** The stage's checkpoint directory. */
  stageDir: string;
  /** Per-source conversations, tokens and skips of the mixture. */
  report: SftSourceReport[];
  /** Row length T (each row holds T + 1 tokens). */
  seqLen: number;
  /** This stage's metric history (training steps and held-out evaluations). */
  history: MetricRecord[];
}

/** T, the SFT row length: rows hold T + 1 tokens, T = min(seqLen, the model's context). */
export function sftRowLength(cfg: Pick<SftPreset, 'seqLen'>, blockSize: number): number {
  return Math.min(cfg.seqLen, blockSize);
}

/**
 * The SFT conversations and their row length: rows of T + 1 tokens (inputs and shifted
 * targets), T = min(seqLen, the model's context). Shared by SFT and by RL's ptx term, so
 * the two read the same conversations in the same shape.
 */
export function sftRows(tok: Tokenizer, cfg: Pick<SftPreset, 'mixture' | 'seqLen'>, blockSize: number, file: string, fieldPrefix = 'sft.mixture.'): { T: number; data: SftDataset } {
  const T = sftRowLength(cfg, blockSize);
  return { T, data: buildSftDataset(tok, cfg.mixture, T + 1, file, fieldPrefix, { knownTools: defaultTools().names() }) };
}

/** The k most frequent target tokens (mask 1) of the conversations, most frequent first (ties: lower id first). */
export function frequentTargets(items: readonly { ids: readonly number[]; mask: readonly number[] }[], k: number): number[] {
  const count = new Map<number, number>();
  for (const it of items) for (let i = 0; i < it.ids.length; i++) if (it.mask[i]) count.set(it.ids[i], (count.get(it.ids[i]) ?? 0) + 1);
  return [...count]
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, k)
    .map(([id]) => id);
}

/**
 * The SFT data in words, as the trainer state records it (TrainOptions.data): each source's name,
 * weight, conversations and tokens (a changed file changes its counts), and the writers' error
 * rate where set. Resuming a stage recorded with other data is refused unless allowDataChange (src/train/loop.ts dataChanged).
 * @example sftDataSummary([{ name: 'mine.jsonl', weight: 1, conversations: 40, tokens: 2100, skipped: 0 }]) // 'mine.jsonl×1 (40 conversations, 2100 tokens)'
 */
export function sftDataSummary(report: readonly SftSourceReport[], writerErrorRate?: number): string {
  const sources = report.map((r) => `${r.name}×${r.weight} (${r.conversations} conversations, ${r.tokens} tokens)`).join(', ');
  return writerErrorRate ? `${sources}; writer error rate ${writerErrorRate}` : sources;
}

function readMixture(file: string): SftMixtureConfig {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SftMixtureConfig;
  } catch (e) {
    throw new GptforgeError(`cannot read the SFT mixture: ${(e as Error).message}`, { file });
  }
}

/** The preset's sft section with the options applied (a copy). */
export function sftConfig(p: SftPreset, o: RunSftOptions): SftPreset {
  const out: SftPreset = { ...p, mixture: { ...(typeof o.mixture === 'string' ? readMixture(o.mixture) : (o.mixture ?? p.mixture)) }, train: { ...p.train } };
  out.mixture.sources = [...out.mixture.sources];
  const own = (o.conversations ? 1 : 0) + (o.dataFiles?.length ?? 0);
  if (o.onlyData) {
    if (own === 0) throw new GptforgeError('onlyData needs conversations or at least one data file');
    out.mixture.sources = [];
  }
  // options are checked here, under their own names, before they join the mixture (whose errors
  // name the preset's file: "sources[8].weight" would blame it for --data-weight)
  if (o.dataWeight !== undefined) checkSetting(o.dataWeight, 'positive number', { option: 'dataWeight' });
  if (o.writerErrorRate !== undefined) checkSetting(o.writerErrorRate, 'probability', { option: 'writerErrorRate' });
  const weight = o.dataWeight ?? 1;
  if (o.conversations) out.mixture.sources.push({ conversations: o.conversations, weight, name: 'conversations' });
  for (const path of o.dataFiles ?? []) {
    if (!existsSync(path)) throw new GptforgeError('no such file', { file: path });
    out.mixture.sources.push({ path, weight });
  }
  if (o.onBad !== undefined) {
    checkOnBad(o.onBad);
    out.mixture.onBad = o.onBad;
  }
  if (o.writerErrorRate !== undefined) out.mixture.writerErrorRate = o.writerErrorRate;
  if (o.maxSteps !== undefined && o.steps !== undefined && o.maxSteps !== o.steps) throw new GptforgeError(`maxSteps ${o.maxSteps} and its deprecated alias steps ${o.steps} disagree: give maxSteps alone`, { field: 'maxSteps' });
  const maxSteps = o.maxSteps ?? o.steps;
  if (maxSteps !== undefined) out.train.maxSteps = maxSteps;
  if (o.lr !== undefined) out.train.lr = o.lr;
  if (o.batchSize !== undefined) out.batchSize = o.batchSize;
  if (o.evalEvery !== undefined) out.train.evalEvery = o.evalEvery;
  if (o.logEvery !== undefined) out.train.logEvery = o.logEvery;
  return out;
}

/**
 * Stage 2, supervised fine-tuning (InstructGPT's SFT; loss on the assistant's tokens only,
 * see src/train/sft.ts): the run's base model (or `from`) → `<run>/sft` (or `<run>/<into>`).
 * Resumes from the stage's latest checkpoint unless `fresh`; holds the run's lock while it
 * trains; never exits the process or installs a signal handler — pass `signal` to stop it.
 * Writes checkpoints, metrics.jsonl records and `sft-loss.svg` (for the `sft` stage).
 *
 * @throws GptforgeError for a preset without an `sft` section, a bad source or conversation
 *   (naming file, line or field), or a run locked by another process.
 */
export async function runSft(runDir: string, opts: RunSftOptions = {}): Promise<RunSftResult> {
  opts.signal?.throwIfAborted(); // before any work: nothing trained or written
  const layout = runLayout(runDir);
  // one writer per run (src/util/lock.ts): held until the process exits, as the CLI's stages
  // do, so a pipeline's stages keep it between them
  holdRunLock(runDir);
  const preset = runPreset(runDir, opts.preset);
  if (!preset.sft) throw new GptforgeError(`preset "${preset.name}" has no "sft" section`, { field: 'sft' });
  // onBad is the mixture's (it says how the mixture's files are read): not a field of the sft section
  if ((preset.sft as { onBad?: unknown }).onBad !== undefined) throw new GptforgeError('onBad is a field of the SFT mixture: "sft": { "mixture": { "onBad": "skip", "sources": […] } }', { file: opts.preset ?? layout.preset, field: 'sft.onBad' });
  const cfg = sftConfig(preset.sft, opts);
  // before the model loads: a batch size of 0 would spin forever, a negative lr train backwards
  const presetFile = runPresetFile(runDir, opts.preset);
  // the option is `maxSteps` (or its deprecated alias `steps`) here; the command line's --max-steps maps to it
  const stepsName = opts.maxSteps === undefined && opts.steps !== undefined ? 'steps' : 'maxSteps';
  checkSettings(opts, presetFile, [
    ['batchSize', cfg.batchSize, 'positive integer', 'sft.batchSize'],
    ['seqLen', cfg.seqLen, 'positive integer', 'sft.seqLen'],
    [stepsName, cfg.train.maxSteps, 'positive integer', 'sft.train.maxSteps'],
    ['gradAccum', cfg.train.gradAccum, 'positive integer', 'sft.train.gradAccum'],
    ['lr', cfg.train.lr, 'positive number', 'sft.train.lr'],
    ['evalEvery', cfg.train.evalEvery ?? 0, 'non-negative integer', 'sft.train.evalEvery'],
    ['logEvery', cfg.train.logEvery ?? 1, 'positive integer', 'sft.train.logEvery'],
  ]);
  // every line of the run names the stage it trains (the loop's lines do: `sft-mine: …` with --into)
  const stage = opts.into ?? 'sft';
  const stageDir = layout.stage(stage);
  const log = opts.log ?? (() => undefined);
  // the later stages were trained from the SFT model a fresh start replaces: say so
  if (opts.fresh && stage === 'sft') {
    const later = ['rm', ...LATER_STAGES.map(([s]) => s)].filter((s) => latestCheckpoint(layout.stage(s)) !== null);
    if (later.length > 0) log(`sft: warning: --fresh replaces the SFT model that ${later.join(', ')} ${later.length > 1 ? 'were' : 'was'} trained from; eval, chat and serve keep using ${later.length > 1 ? 'them' : 'it'} until ${later.length > 1 ? 'they are' : 'it is'} retrained (--fresh)`);
  }

  // a private copy of the starting model: training it in place would turn the cached base,
  // which later stages of the same process evaluate, into the SFT model; a resumed run
  // overwrites it with its own checkpoint
  const from = opts.from ?? 'base';
  const start = /[\\/]/.test(from) ? loadModel(from, undefined, { fresh: true }) : loadModel(runDir, from, { fresh: true });
  if (start.reward) throw new GptforgeError(`sft: --from ${from} is a reward model, not a language model to fine-tune`, { file: start.dir, field: 'from' });
  const stageName = opts.into ?? 'sft';
  if (!/[\\/]/.test(from) && from === stageName) throw new GptforgeError(`sft: --into ${stageName} would train over the model it starts from; name another stage`, { field: 'into' });
  const { model, tok } = start;
  const { T, data } = sftRows(tok, cfg, model.config.blockSize, typeof opts.mixture === 'string' ? opts.mixture : opts.mixture ? 'sft mixture' : layout.preset, opts.mixture ? '' : 'sft.mixture.');
  const adapter = prepareAdapter('sft', model, start.dir, opts, { specialTokens: tok.specialTokens, frequentTokens: (k) => frequentTargets(data.train, k) });
  const B = cfg.batchSize;
  log(sftTable(data.report));
  const writers = writerSummary(data.report, cfg.mixture.writerErrorRate);
  if (writers) log(`${stage}: ${writers}`);
  const skipped = data.report.reduce((s, r) => s + r.skipped, 0);
  if (skipped > 0) {
    warnSkips(stage, `skipped ${skipped} conversation${skipped === 1 ? '' : 's'}: malformed, or longer than a training row of ${T + 1} tokens (seqLen ${T} + 1)`, data.skips, opts.onWarning ?? log);
  }
  const WARNINGS_SHOWN = 10;
  for (const w of data.warnings.slice(0, WARNINGS_SHOWN)) (opts.onWarning ?? log)(`${stage}: warning: ${w}`);
  if (data.warnings.length > WARNINGS_SHOWN) (opts.onWarning ?? log)(`${stage}: warning: … and ${data.warnings.length - WARNINGS_SHOWN} more`);
  const pad = tok.specialId('<|pad|>');
  const train = new PackedLoader(data.train, B, T, pad, cfg.mixture.seed ?? 1337);
  const val = new Map([...data.val].map(([name, items]) => [name, () => new PackedLoader(items, B, T, pad, 0, false)] as const));
  if (adapter) log(`${stage}: ${describeAdapter(adapter)}`);
  log(
    `${stage}: ${trainingStart(stageDir, start.dir, { fresh: opts.fresh, maxSteps: cfg.train.maxSteps, stepsOption: opts.stepsOption ?? stepsName })}; ${data.train.length} conversations drawn in ${train.rowsPerEpoch} rows of ${T + 1} (${((cfg.train.maxSteps * B * cfg.train.gradAccum) / train.rowsPerEpoch).toFixed(2)} epochs), ${B}×${T} tokens/step, ${getKernels().name} backend`,
  );

  const plot = (h: readonly MetricRecord[]): void => {
    if (stage === 'sft') atomicWriteFile(layout.sftLossPlot, lossCurveSVG(lossCurves(h), { title: 'SFT loss (assistant tokens)', xLabel: 'step', yLabel: 'cross-entropy (nats/token)' }));
  };
  const result = await sft({ model, train, val, batchSize: B, seqLen: T, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash(), stage, adapter }, cfg.train, {
    runDir,
    stageDir,
    resume: !opts.fresh,
    quiet: opts.quiet,
    stepsOption: opts.stepsOption ?? stepsName,
    resumeAnnounced: opts.log !== undefined, // the setup line named the checkpoint and step (trainingStart)
    signal: opts.signal,
    onStep: opts.onStep,
    onEval: plot,
    startedFrom: start.dir,
    data: sftDataSummary(data.report, cfg.mixture.writerErrorRate),
    // the rows as trained (tokens and loss mask, in order): another file of the same size still differs
    dataHash: dataHash(data.train.map((it) => `${it.source}\t${it.ids.join(',')}\t${it.mask.join('')}\n`)),
    allowDataChange: opts.allowDataChange,
  });
  const history = new MetricsLog(runDir).read(stage);
  plot(history);
  return { ...result, runDir, stageDir, report: data.report, seqLen: T, history };
}
