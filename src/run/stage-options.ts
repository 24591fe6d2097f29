import { dirname } from 'node:path';
import { latestCheckpoint, readTrainerStateSummary } from '../model/checkpoint.js';
import type { AdapterOptions } from '../train/adapter.js';
import type { MetricRecord } from '../train/metrics.js';
import { movedLegacyStart, pastEnd, recordedStart } from '../train/loop.js';
import { GptforgeError } from '../util/errors.js';

/**
 * What every training stage runner after SFT takes besides its own options (`runRm`, `runRl`,
 * `runDpo`): how long, how fast, whether to start over, where progress goes, when to stop,
 * and — through `AdapterOptions` — LoRA on a frozen, possibly quantized base (docs/lora.md).
 * `maxSteps`, `logEvery`, `onStep` and `signal` mean the same in every stage runner
 * (`runPretrain` and `runSft` too: `StageLoopOptions`).
 */
export interface StageRunOptions extends AdapterOptions, StageLoopOptions {
  /**
   * The step budget's name in messages ("give maxSteps > N to train on"): default `maxSteps`, this
   * option's own name; the CLI passes `--max-steps`.
   */
  stepsOption?: string;
  /** Peak learning rate (the preset's otherwise). */
  lr?: number;
  /** Start over from the SFT model instead of resuming this stage's checkpoints. */
  fresh?: boolean;
  /** No progress bars. */
  quiet?: boolean;
  /** Progress lines (the setup, the data); default none. */
  log?(line: string): void;
}

/** The training-loop options every stage runner takes (`runPretrain`, `runSft`, `runRm`, `runRl`, `runDpo`). */
export interface StageLoopOptions {
  /** Optimizer steps, a positive whole number (the preset's `<stage>.train.maxSteps` otherwise; the CLI's `--max-steps`). */
  maxSteps?: number;
  /** Log a metric record (and call `onStep`) every this many steps, and at the last (the preset's `train.logEvery` otherwise, else 1). */
  logEvery?: number;
  /** Called with each logged step's record (every `logEvery` steps and the last): loss, learning_rate, grad_norm, tokens_per_sec, the stage's own metrics. */
  onStep?(rec: MetricRecord): void;
  /**
   * Stops training after the step in progress; a checkpoint is saved and the result says
   * `interrupted`. A signal already aborted when the runner is called: it rejects with the
   * signal's reason (an `AbortError`, as `fetch` does) before any work — nothing is trained or written.
   */
  signal?: AbortSignal;
}

/** What a numeric stage setting must be. */
export type SettingRule = 'positive integer' | 'non-negative integer' | 'positive number' | 'non-negative number' | 'probability';

const RULES: Record<SettingRule, (v: number) => boolean> = {
  'positive integer': (v) => Number.isInteger(v) && v >= 1,
  'non-negative integer': (v) => Number.isInteger(v) && v >= 0,
  'positive number': (v) => Number.isFinite(v) && v > 0,
  'non-negative number': (v) => Number.isFinite(v) && v >= 0,
  probability: (v) => Number.isFinite(v) && v >= 0 && v <= 1,
};

/**
 * Where a stage setting came from: an option with no preset field behind it (a flag-only
 * setting such as sft's `dataWeight`, checked only when given), or an option over a preset
 * file's field (`given`: whether the option was set, else the value is the preset's).
 */
export type SettingSource = { option: string } | { option: string; given: boolean; preset: { file: string; field: string } };

/**
 * Refuses a stage setting out of range before anything is loaded or trained (a batch size of 0
 * would otherwise spin forever, a negative learning rate train backwards), naming where the value
 * came from: the runner's option (`field` is the option's name, which the CLI prints as the flag
 * typed, `--batch-size`) when it was given or has no preset field, else the preset file's field
 * (`sft.batchSize`).
 *
 * @throws GptforgeError "expects a positive integer, got 0" at that field (the CLI: `--batch-size: expects …`).
 */
export function checkSetting(value: unknown, rule: SettingRule, from: SettingSource): void {
  if (typeof value === 'number' && RULES[rule](value)) return;
  const what = rule === 'probability' ? 'a probability in [0, 1]' : `a ${rule}`;
  const detail = `expects ${what}, got ${JSON.stringify(value)}`;
  throw new GptforgeError(detail, 'preset' in from && !from.given ? { file: from.preset.file, field: from.preset.field } : { field: from.option });
}

/**
 * `checkSetting` for each of `settings` ([option name, value, rule, preset field]), each over
 * its field of the preset `file`; an option counts as given when `opts[option]` is set.
 */
export function checkSettings(opts: object, file: string, settings: readonly (readonly [option: string, value: unknown, rule: SettingRule, presetField: string])[]): void {
  const given = opts as Record<string, unknown>;
  for (const [option, value, rule, field] of settings) checkSetting(value, rule, { option, given: given[option] !== undefined, preset: { file, field } });
}

/**
 * Warns that a stage skipped input (onBad 'skip'): `header` (the count and why), then each skip's
 * location and reason — the first 10, then how many more — so a skip is named, never silent.
 * E.g. `sft: warning: data.jsonl:2, field "messages": conversation is 807 tokens, … — skipped`.
 */
export function warnSkips(stage: string, header: string, reasons: readonly string[], warn: (line: string) => void): void {
  const SHOWN = 10;
  warn(`${stage}: warning: ${header}`);
  for (const r of reasons.slice(0, SHOWN)) warn(`${stage}: warning: ${r} — skipped`);
  if (reasons.length > SHOWN) warn(`${stage}: warning: … and ${reasons.length - SHOWN} more`);
}

/**
 * Where a stage's training starts, for the runner's setup line: `from <start>` on a fresh start;
 * `resuming <checkpoint> at step N of M (the stage started from <start>)` where the stage
 * directory holds a checkpoint that the training loop resumes (src/train/loop.ts) — what the
 * stage continues is its own checkpoint, not the starting model loaded beside it.
 *
 * @param startDir the checkpoint a fresh start trains from (the `--from` model)
 * @param o.fresh the runner's `fresh` (no resume); o.maxSteps the stage's step budget, named `o.stepsOption` (pastEnd)
 * @returns the words after `<stage>: `; the step and the recorded start come from the
 *   checkpoint's trainer_state.json, and are left out where it cannot be read (the loop names that error)
 */
export function trainingStart(stageDir: string, startDir: string, o: { fresh?: boolean; maxSteps: number; stepsOption?: string }): string {
  const ck = o.fresh ? null : latestCheckpoint(stageDir);
  if (!ck) return `from ${startDir}`;
  // no or a damaged trainer state reads as {}: the loop refuses it with the file's name
  const state = readTrainerStateSummary(ck) ?? {};
  // an older gptforge's absolute record of this run's own start, in a run moved since, names the
  // old place: shown as the start's place now (the loop takes it for the same start, too)
  const rec = state.startedFrom;
  const from = `the stage started from ${rec === undefined || movedLegacyStart(dirname(stageDir), rec, startDir) ? startDir : recordedStart(dirname(stageDir), rec)}`;
  if (state.step !== undefined && state.step >= o.maxSteps) return `${pastEnd(ck, state.step, o.maxSteps, o.stepsOption)} (${from})`;
  const at = state.step !== undefined ? ` at step ${state.step} of ${o.maxSteps}` : '';
  return `resuming ${ck}${at} (${from})`;
}
