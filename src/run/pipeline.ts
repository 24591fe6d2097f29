import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { HEADLINE_STEPS, techniquesHeadline } from '../assist/headline.js';
import { loadMixtureConfig } from '../data/mixture.js';
import { Tokenizer } from '../tokenizer/index.js';
import { atomicWriteFile } from '../util/atomic.js';
import { GptforgeError } from '../util/errors.js';
import { holdRunLock } from '../util/lock.js';
import { latestCheckpoint, readTrainerStateSummary, selectedCheckpoint } from '../model/checkpoint.js';
import { staleStart } from '../train/loop.js';
import { evalSettings, runEval, type EvalSettings } from './eval.js';
import { estimatePipeline, estimateText, formatDuration, stepsDone, timingTable, type PipelineEstimate } from './estimate.js';
import { engineSummary } from '../engine/backend.js';
import { runLayout } from './layout.js';
import { resolveMixturePath, type PretrainPreset } from './presets.js';
import { runPretrain } from './pretrain.js';
import { pretrainReport, pretrainSamples, rlReport, rmReport, sftReport } from './report.js';
import { runRl } from './rl.js';
import { runRm } from './rm.js';
import { scriptedChat } from './sample.js';
import { runSft } from './sft.js';

/** Options of `runPipeline`. */
export interface RunPipelineOptions {
  /** The preset file it came from (relative mixture paths resolve against it). */
  presetFile: string;
  /** Mixture config JSON overriding the preset's. */
  mixture?: string;
  /** Ignore every stage's checkpoints and start over. */
  fresh?: boolean;
  /**
   * No progress bars and no per-stage reports; a line as each stage starts (stage 1's tokenizer,
   * data and training each: RunPretrainOptions.onPart), the measured times, the samples and the
   * results still go to `log` and `print`.
   */
  quiet?: boolean;
  /** Print the base model's samples after pretraining (default true). */
  samples?: boolean;
  /**
   * Train the techniques model in <run>/techniques and print the tokens-to-think headline rows
   * (model AB5's recipe, ≈ 4.9 M training tokens more; docs/techniques.md). Default: when the preset has a
   * `techniques` section (the small preset, npm start); false skips it, true runs it for any preset.
   */
  techniques?: boolean;
  /** Stops the stage in progress after its step (it saves); later stages do not start. */
  signal?: AbortSignal;
  /**
   * When the work began, on performance.now()'s clock: the CLI passes 0 (Node's clock starts with
   * the process), so the times it prints include start-up (loading the modules and the native
   * addon). Default: when runPipeline is called.
   */
  startedAt?: number;
  /** Progress (the estimate, stage headers, times): stderr for the CLI. */
  log?(text: string): void;
  /** Results (stage reports, samples, the chat, the evaluation tables): stdout for the CLI. */
  print?(text: string): void;
}

/** One stage's measured wall time beside its estimate, seconds. */
export interface StageTiming {
  stage: string;
  measured: number;
  estimate?: number;
}

/** What `runPipeline` did. */
export interface RunPipelineResult {
  runDir: string;
  /** A stage stopped on the signal; the stages after it did not run. */
  interrupted: boolean;
  estimate: PipelineEstimate;
  timings: StageTiming[];
  /** The evaluation report (eval.md) and the scripted chat, when the pipeline got that far. */
  markdown?: string;
  transcript?: string;
}

/** Per-stage step budgets for `withStageSteps`: each replaces its section's `train.maxSteps`. */
export interface StageSteps {
  sft?: number;
  rm?: number;
  rl?: number;
  /** The techniques model's optimizer steps (`--techniques-max-steps`): the preset's `techniques.steps`, the section made when the preset has none (which turns the stage on). */
  techniques?: number;
}

/**
 * The preset with the later stages' step budgets replaced (`pipeline --sft-max-steps`,
 * `--rm-max-steps`, `--rl-max-steps`, `--techniques-max-steps`; pretraining's is `--max-steps`, resolvePreset): a copy, the
 * sections it changes copied too. The run's preset.json records them, as the stages read it.
 * @throws GptforgeError for a budget that is not a positive whole number, or a stage the preset has no section for (naming the option)
 */
export function withStageSteps(preset: PretrainPreset, steps: StageSteps): PretrainPreset {
  const limit = <T extends { train: { maxSteps: number } }>(key: keyof StageSteps, section: T | undefined): T | undefined => {
    const n = steps[key];
    if (n === undefined) return section;
    const option = `--${key}-max-steps`;
    const field = `${key}MaxSteps`; // the pipeline command's option (commander's name for the flag), so the CLI names the flag once
    if (!(Number.isInteger(n) && n >= 1)) throw new GptforgeError(`${option}: expects a whole number of optimizer steps ≥ 1, got ${n}`, { field });
    if (!section) throw new GptforgeError(`${option}: preset "${preset.name}" has no "${key}" section, so the pipeline has no ${key} stage to limit`, { field });
    return { ...section, train: { ...section.train, maxSteps: n } };
  };
  const out = { ...preset, sft: limit('sft', preset.sft), rm: limit('rm', preset.rm), rl: limit('rl', preset.rl) };
  const t = steps.techniques;
  if (t === undefined) return out;
  if (!(Number.isInteger(t) && t >= 1)) throw new GptforgeError(`--techniques-max-steps: expects a whole number of optimizer steps ≥ 1, got ${t}`, { field: 'techniquesMaxSteps' });
  return { ...out, techniques: { ...preset.techniques, steps: t } };
}

/** A training stage of the pipeline: its directory, the steps the preset gives it, and the stages its model was trained from. */
interface PipelineStage {
  /** The directory under the run (`base`, `sft`, `rm`, `rl`, `techniques/sft`). */
  stage: string;
  /** The name its own lines use (`pretrain` for `base`). */
  name: string;
  steps: number;
  /** The stage whose model it started from (its trainer state records which checkpoint): a checkpoint of that stage saved since makes this one out of date, as make's prerequisites. */
  from?: string;
}

/** The preset's training stages in the order the pipeline runs them (the techniques model last). */
function pipelineStages(preset: PretrainPreset, techniques: boolean): PipelineStage[] {
  const stages: PipelineStage[] = [{ stage: 'base', name: 'pretrain', steps: preset.train.maxSteps }];
  if (!preset.sft) return stages;
  stages.push({ stage: 'sft', name: 'sft', steps: preset.sft.train.maxSteps, from: 'base' });
  if (preset.rm) stages.push({ stage: 'rm', name: 'rm', steps: preset.rm.train.maxSteps, from: 'sft' });
  if (preset.rm && preset.rl) stages.push({ stage: 'rl', name: 'rl', steps: preset.rl.train.maxSteps, from: 'sft' });
  if (techniques) stages.push({ stage: join('techniques', 'sft'), name: 'techniques', steps: preset.techniques?.steps ?? HEADLINE_STEPS.abacus });
  return stages;
}

const mtime = (f: string): number => (existsSync(f) ? statSync(f).mtimeMs : -1);

/**
 * Whether a stage of the pipeline is done, as make decides a target is up to date: its newest
 * checkpoint is at (or past) the preset's steps and started from the checkpoint its `from` stage
 * stands for now (the trainer state's startedFrom; staleStart, which a copied or moved run passes):
 * an SFT model retrained since makes the reward model built on the old one out of date — the
 * runner then resumes it and warns. A checkpoint that records no start counts as done.
 * @returns the checkpoint and its step, or null when the stage has work (or no checkpoint)
 */
export function stageDone(runDir: string, stage: { stage: string; steps: number; from?: string }): { checkpoint: string; step: number } | null {
  const checkpoint = latestCheckpoint(join(runDir, stage.stage));
  if (checkpoint === null) return null;
  const state = readTrainerStateSummary(checkpoint);
  if (state === null) return null; // no trainer state (or a damaged one): the runner says what is wrong
  const step = state.step ?? stepsDone(runDir, stage.stage);
  if (step < stage.steps) return null;
  if (stage.from !== undefined && state.startedFrom !== undefined) {
    const now = selectedCheckpoint(join(runDir, stage.from));
    if (now === null || staleStart(stage.stage, state.startedFrom, now, runDir) !== null) return null;
  }
  return { checkpoint, step };
}

/** The line a done stage gets instead of its run: `sft: done at step 150 (runs/x/sft/step-0000150); nothing to do`. */
export function doneLine(name: string, done: { checkpoint: string; step: number }): string {
  return `${name}: done at step ${done.step} (${done.checkpoint}); nothing to do`;
}

/**
 * What a re-run of the pipeline on `runDir` would do, or null when nothing: every stage of the
 * preset has its checkpoint at the preset's `maxSteps` (the techniques model at its steps), and
 * the outputs after them — eval.md, chat-transcript.txt (and techniques/techniques.md) — are newer
 * than every checkpoint (their `latest.json`, rewritten with each save), and eval.json was made
 * with the preset's `sft.eval` settings (perTask, fewShot, compare: a changed one evaluates
 * again; the stages resume at their steps, so only the evaluation and the chat run). A preset without an `sft`
 * section has no evaluation to mark the run finished: it always has work (pretraining's samples).
 * @returns the first reason there is work, naming the stage or file; null when the run is finished
 */
export function pipelineWork(runDir: string, preset: PretrainPreset, o: { techniques?: boolean } = {}): string | null {
  const l = runLayout(runDir);
  if (!preset.sft) return 'the preset has no sft section (nothing marks the run finished)';
  const techniques = o.techniques ?? preset.techniques !== undefined;
  let newest = -1;
  for (const { stage, steps } of pipelineStages(preset, techniques)) {
    const done = stepsDone(runDir, stage);
    if (done < steps) return `${stage} is at step ${done} of ${steps}`;
    newest = Math.max(newest, mtime(join(runDir, stage, 'latest.json')));
  }
  const outputs = [l.evalMarkdown, l.chatTranscript, ...(techniques ? [join(runDir, 'techniques', 'techniques.md')] : [])];
  for (const f of outputs) {
    const t = mtime(f);
    if (t < 0) return `${f} is missing`;
    if (t <= newest) return `${f} is older than a checkpoint`;
  }
  return evalSettingsChange(l.evalJson, evalSettings(preset.sft.eval, {}, preset.rm !== undefined));
}

/**
 * Why the evaluation in `file` (eval.json) is not the one `want` asks for: the first setting that
 * differs, named by its preset path; null when they agree, or where eval.json cannot tell (none or
 * damaged: eval.md's time decides; one written before `settings` was recorded: its perTask and fewShot).
 */
function evalSettingsChange(file: string, want: EvalSettings): string | null {
  let had: { perTask?: unknown; fewShot?: unknown; settings?: EvalSettings };
  try {
    had = JSON.parse(readFileSync(file, 'utf8')) as typeof had;
  } catch {
    return null;
  }
  const was = had.settings;
  const pairs: Array<[string, unknown, unknown]> = [
    ['perTask', was?.perTask ?? had.perTask, want.perTask],
    ['fewShot', was?.fewShot ?? had.fewShot, want.fewShot],
  ];
  if (was !== undefined) {
    if (was.compare === null || want.compare === null) pairs.push(['compare', was.compare, want.compare]);
    else for (const [k, v] of Object.entries(want.compare)) pairs.push([`compare.${k}`, (was.compare as Record<string, unknown>)[k], v]);
  }
  for (const [path, a, b] of pairs) if (JSON.stringify(a) !== JSON.stringify(b)) return `${file} was made with sft.eval.${path} ${JSON.stringify(a ?? null)}, the preset now asks for ${JSON.stringify(b)}`;
  return null;
}

/**
 * The main command (npm start): the whole recipe from one preset, each stage a runner of this
 * layer — data → tokenizer → pretrain (base model, samples) → SFT → simulated comparisons → RM
 * → PPO → evaluation (task accuracy; base vs SFT vs RLHF quality and diversity) → a scripted
 * chat. Each stage resumes from its own checkpoints; a preset without a later stage's section
 * stops before it. First an estimate of the whole run from timed work on this machine
 * (estimate.ts); after each stage its measured wall time; at the end a table of both.
 */
export async function runPipeline(runDir: string, preset: PretrainPreset, o: RunPipelineOptions): Promise<RunPipelineResult> {
  const log = o.log ?? (() => undefined);
  const print = o.print ?? (() => undefined);
  const layout = runLayout(runDir);
  const called = performance.now();
  const t0 = Math.min(o.startedAt ?? called, called);
  const stamp = (): string => `${((performance.now() - t0) / 60000).toFixed(1)} min`;
  holdRunLock(runDir, 'run', { create: true }); // before the calibration: a busy run is refused at once

  // a finished run (every stage at its steps, the evaluation newer than every checkpoint): nothing
  // to train or evaluate again, so no calibration either — the stored results, at once
  const techniques = o.techniques ?? preset.techniques !== undefined;
  const work = o.fresh ? 'fresh' : pipelineWork(runDir, preset, { techniques });
  if (work === null) {
    // as make's "up to date": a line per stage and where the results are, not the results again
    for (const st of pipelineStages(preset, techniques)) {
      const checkpoint = latestCheckpoint(join(runDir, st.stage));
      if (checkpoint) log(doneLine(st.name, { checkpoint, step: stepsDone(runDir, st.stage) }));
    }
    const files = ['eval.md', 'eval.json', 'eval-chart.svg', 'chat-transcript.txt', ...(techniques ? [join('techniques', 'techniques.md')] : [])];
    print(
      `pipeline: ${runDir} is up to date — every stage at its steps, the evaluation and the chat newer than every checkpoint: nothing to do. Results: ${layout.evalMarkdown} (${files.slice(1).join(', ')} beside it); \`gptforge chat --run ${runDir}\` talks to the assistant, \`gptforge eval --run ${runDir}\` evaluates again (so does this command once the preset's sft.eval settings change), --fresh starts over.`,
    );
    const transcript = readFileSync(layout.chatTranscript, 'utf8');
    const markdown = readFileSync(layout.evalMarkdown, 'utf8');
    return { runDir, interrupted: false, estimate: { stages: [], total: 0, machine: engineSummary(), calibrationSeconds: 0 }, timings: [], markdown, transcript };
  }

  // a run begun before: say what is left (a stage's steps, an output older than a checkpoint, another eval setting)
  if (work !== 'fresh' && preset.sft && latestCheckpoint(layout.stage('base'))) log(`pipeline: not finished: ${work}`);
  const mixture = loadMixtureConfig(o.mixture ?? resolveMixturePath(preset, o.presetFile));
  const vocabSize = existsSync(layout.tokenizer) ? Tokenizer.load(layout.tokenizer).vocabSize : (mixture.tokenizer?.vocabSize ?? 4096);
  const estimate = estimatePipeline(runDir, preset, vocabSize, mixture.sources.length, { techniques: techniques && preset.sft !== undefined, fresh: o.fresh });
  log(estimateText(estimate));
  // the time outside the stages, so that the table's total and "done in" are the whole wall time:
  // start-up before runPipeline (with startedAt), then 'calibration': the lock, the finished-run check and
  // the estimate's timed shapes
  const phases: StageTiming[] = [...(called > t0 ? [{ stage: 'start-up', measured: (called - t0) / 1000 }] : []), { stage: 'calibration', measured: (performance.now() - called) / 1000 }];
  const timings: StageTiming[] = [];
  const result: RunPipelineResult = { runDir, interrupted: false, estimate, timings };
  const estimateOf = (prefix: string): number | undefined => estimate.stages.find((s) => s.stage.startsWith(prefix))?.seconds;
  /** Run one stage, then log its measured wall time; false when it was interrupted. */
  const timed = async (stage: string, est: string, fn: () => Promise<{ interrupted: boolean } | void> | void): Promise<boolean> => {
    const s0 = performance.now();
    const r = await fn();
    const measured = (performance.now() - s0) / 1000;
    timings.push({ stage, measured, estimate: estimateOf(est) });
    log(`${stage}: ${formatDuration(measured)} measured (estimated ${formatDuration(estimateOf(est) ?? 0)})`);
    if (r && r.interrupted) result.interrupted = true;
    return !result.interrupted;
  };
  const finish = (): RunPipelineResult => {
    log(`\n${timingTable([...phases, ...timings], estimate.machine)}`);
    return result;
  };
  const quiet = o.quiet;
  const stageLog = quiet ? undefined : log;
  // --quiet hides the stages' progress, never their warnings
  const common = { quiet, fresh: o.fresh, signal: o.signal, log: stageLog, onWarning: log };

  // a stage already done (at its steps, newer than what it was trained from) is not run again: one
  // line instead of its data tables, progress bar, charts and samples (o.fresh runs every stage)
  const stages = pipelineStages(preset, techniques);
  const skipDone = (stage: string): boolean => {
    const st = stages.find((x) => x.stage === stage);
    const done = st && !o.fresh ? stageDone(runDir, st) : null;
    if (st && done) log(doneLine(st.name, done));
    return done !== null;
  };
  // the later stages read the run's preset.json, which pretraining writes: a skipped pretraining
  // writes it too, so a preset (or --sft-max-steps …) changed since reaches them
  const pretrain = async (): Promise<boolean> => {
    log(`\n== stage 1: data, tokenizer, pretraining (at ${stamp()}) ==`);
    return timed('1. data, tokenizer, pretraining', '1.', async () => {
      // --quiet hides the progress bars, not which part is running: a line as each starts
      const r = await runPretrain(runDir, preset, { presetFile: o.presetFile, mixture: o.mixture, ...common, onPart: quiet ? log : undefined });
      if (!quiet) print(pretrainReport(r, layout.lossPlot));
      if (o.samples !== false && !r.interrupted) for (const s of pretrainSamples(runDir, preset)) print(s);
      return r;
    });
  };
  const pretrained = (skipDone('base') && (atomicWriteFile(layout.preset, JSON.stringify({ ...preset, mixture: o.mixture ?? resolveMixturePath(preset, o.presetFile) }, null, 2)), true)) || (await pretrain());
  if (!pretrained || !preset.sft) return finish();

  /** A stage's header and run, or its done line alone; false when it was interrupted. */
  const stage = async (dir: string, header: string, row: string, est: string, fn: () => Promise<{ interrupted: boolean }>): Promise<boolean> => {
    if (skipDone(dir)) return true;
    log(`\n== ${header} (at ${stamp()}) ==`);
    return timed(row, est, fn);
  };
  const sftDone = await stage('sft', 'stage 2: supervised fine-tuning', '2. SFT', '2.', async () => {
    const r = await runSft(runDir, common);
    if (!quiet) print(sftReport(r));
    return r;
  });
  if (!sftDone) return finish();
  if (preset.rm) {
    const ok = await stage('rm', 'stage 3: comparisons and the reward model', '3. comparisons + RM', '3.', async () => {
      const r = await runRm(runDir, common);
      if (!quiet) print(rmReport(r));
      return r;
    });
    if (!ok) return finish();
  }
  if (preset.rm && preset.rl) {
    const ok = await stage('rl', 'stage 4: reinforcement learning (PPO) against the reward model', '4. RL', '4.', async () => {
      const r = await runRl(runDir, common);
      if (!quiet) print(rlReport(r));
      return r;
    });
    if (!ok) return finish();
  }
  log(`\n== evaluation (at ${stamp()}) ==`);
  let markdown = '';
  let transcript = '';
  const sft = preset.sft;
  await timed('evaluation, chat', 'evaluation', () => {
    markdown = runEval(runDir, { quiet }).markdown;
    transcript = scriptedChat(runDir, sft.chat?.prompts ?? ['Hello!', 'What is 4821 times 37?']);
  });
  atomicWriteFile(layout.chatTranscript, transcript);
  print(`\n== a short chat with the assistant (gptforge chat --run ${runDir}) ==\n\n${transcript}`);
  print(markdown);
  // the techniques model is done when its table is also newer than its checkpoint (techniquesHeadline writes both)
  const techniquesDone = techniques && stageDone(runDir, stages[stages.length - 1]) !== null && mtime(join(runDir, 'techniques', 'techniques.md')) > mtime(join(runDir, 'techniques', 'sft', 'latest.json'));
  if (techniquesDone) skipDone(join('techniques', 'sft'));
  else if (techniques) {
    log(`\n== prompting techniques: the addition model, direct vs step by step (at ${stamp()}; --no-techniques skips it) ==`);
    await timed('techniques', 'techniques', async () => {
      const table = await techniquesHeadline(join(runDir, 'techniques'), { steps: preset.techniques?.steps, perCell: preset.techniques?.perCell, quiet, signal: o.signal });
      if (table === undefined) return { interrupted: true };
      print(`\n${table}`);
    });
  }
  finish();
  const wall = (performance.now() - t0) / 1000;
  const inStages = timings.reduce((a, t) => a + t.measured, 0);
  const split = [...phases.map((p) => `${p.stage} ${formatDuration(p.measured)}`), `stages ${formatDuration(inStages)}`].join(', ');
  print(`\npipeline: done in ${formatDuration(wall)} wall (${split}). Run directory: ${runDir} (eval.md, eval-chart.svg, chat-transcript.txt, loss.svg, sft-loss.svg${techniques ? ', techniques/techniques.md' : ''})`);
  return { ...result, markdown, transcript };
}
