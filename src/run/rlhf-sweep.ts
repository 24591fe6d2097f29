import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DECIDABLE_FAMILIES } from '../data/decidable.js';
import { barChartSVG } from '../eval/chart.js';
import type { CompareRow } from '../eval/compare.js';
import { bestOfNKL, sampledKL } from '../eval/kl.js';
import type { EvalTable } from '../eval/tasks.js';
import { defaultTools } from '../infer/tools/registry.js';
import { latestCheckpoint } from '../model/checkpoint.js';
import { taskPrompts } from '../train/comparisons.js';
import { atomicWriteFile } from '../util/atomic.js';
import { GptforgeError } from '../util/errors.js';
import { Tokenizer } from '../tokenizer/index.js';
import { runDpo } from './dpo.js';
import { estimatePipeline, formatDuration } from './estimate.js';
import { LATER_STAGES, runEval } from './eval.js';
import { runLayout } from './layout.js';
import { loadModel } from './models.js';
import { runPreset } from './preset.js';
import { readRmEval } from './rm-summary.js';
import { dpoReport, rlReport, rmReport, sftReport } from './report.js';
import { selectedStageDir } from './rl-validation.js';
import { runRl } from './rl.js';
import { runRm } from './rm.js';
import { runSft } from './sft.js';

/**
 * The RLHF sweep (issue #24), `gptforge eval --rlhf-sweep`: does RLHF's advantage over SFT grow
 * as the demonstration writers get worse? For each writer error rate e_w (default 0, 0.1, 0.25,
 * 0.5) one cell, a sub-run `<run>/rlhf-sweep/ew-<e_w>/` sharing the run's base model and
 * tokenizer (a symlink and a copy) with the run's preset, e_w set: SFT on the writers'
 * demonstrations → simulated comparisons and the RM → PPO and GRPO (no SFT loss mixed in; early stopping on the
 * validation split) → DPO → the eval (held-out accuracy, rubric win rate against SFT, diversity;
 * SFT best-of-N by the RM) → the KL of each policy to SFT on held-out prompts. Each step of a
 * cell is recorded in the cell's `sweep-state.json` once done and every runner resumes its own
 * checkpoints, so a killed sweep continues where it stopped. Writes `rlhf-sweep.md`,
 * `rlhf-sweep.json` and `rlhf-sweep.svg` into the run.
 */
export interface RlhfSweepOptions {
  /** Writer error rates e_w (default 0, 0.1, 0.25, 0.5). */
  rates?: readonly number[];
  /** Held-out prompts per family in each cell's eval (default the preset's). */
  perTask?: number;
  /** Held-out prompts in each cell's comparison (default the preset's). */
  comparePrompts?: number;
  /** Held-out prompts the KL to SFT is estimated on (default 32). */
  klPrompts?: number;
  quiet?: boolean;
  signal?: AbortSignal;
  /** Progress lines (stage headers, times). */
  log?(line: string): void;
}

/** One method in one cell. */
export interface SweepRow {
  writerErrorRate: number;
  /** SFT, SFT best-of-N (RM), PPO, GRPO, DPO. */
  method: string;
  /** Greedy held-out accuracy on the families correctness is decidable from the context (arithmetic, rhymes, syllables, chat); NaN for best-of-N. */
  accuracyDecidable: number;
  /** Greedy held-out accuracy on every default family. */
  accuracyAll: number;
  /** Accuracy of sampled replies on the comparison's held-out prompts. */
  accuracySampled: number;
  /** Rubric win rate against fresh SFT samples, ties half. */
  winRate: number;
  /**
   * winRate minus the SFT row's own win rate against the same reference samples: SFT against
   * fresh SFT samples is 50% only in expectation (32 prompts: ±9 points, one σ), and every
   * method of a cell is judged against the same reference samples, so the difference cancels
   * the reference draw's luck.
   */
  winRateOverSft: number;
  /** The cell's RM: noise-free held-out pairwise accuracy on decidable / knowledge pairs. */
  rmDecidable: number;
  rmKnowledge: number;
  /** KL to the SFT model per reply, nats (best-of-N: log N − (N−1)/N). */
  kl: number;
  /** Diversity over N samples per prompt (src/eval/diversity.ts): distinct-2 and self-BLEU-4. */
  distinct2: number;
  selfBleu: number;
}

const STEPS = ['sft', 'rm', 'ppo', 'grpo', 'dpo', 'eval', 'kl'] as const;
type Step = (typeof STEPS)[number];

interface CellState {
  writerErrorRate: number;
  done: Step[];
  kl?: Record<string, number>;
}

/** The preset paths (`rm.comparisons.prompts`, …) whose values differ between two JSON values. */
function differingKeys(a: unknown, b: unknown, path = ''): string[] {
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!isObj(a) || !isObj(b)) return JSON.stringify(a) === JSON.stringify(b) ? [] : [path || '(the whole preset)'];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return keys.flatMap((k) => differingKeys(a[k], b[k], path ? `${path}.${k}` : k));
}

/**
 * The sub-run of one cell: the run's preset with e_w set, its tokenizer, its base model linked.
 * A cell's preset is written once, when the cell is made; where the run's preset has changed
 * since, the cell keeps its own (its finished steps were made with it) and `log` names the keys.
 */
function prepareCell(runDir: string, cellDir: string, rate: number, log: (line: string) => void): void {
  mkdirSync(cellDir, { recursive: true });
  const layout = runLayout(runDir);
  const cell = runLayout(cellDir);
  if (!existsSync(cell.preset)) atomicWriteFile(cell.preset, JSON.stringify(cellPreset(runDir, rate), null, 2) + '\n');
  else {
    // a run preset that can no longer make a cell (a section removed) does not stop the made ones
    let now: ReturnType<typeof runPreset> | null = null;
    try {
      now = cellPreset(runDir, rate);
    } catch {
      now = null;
    }
    const keys = now ? differingKeys(JSON.parse(readFileSync(cell.preset, 'utf8')), now) : [];
    if (keys.length > 0) log(`rlhf-sweep: warning: the run's preset has changed since cell ${cellDir} was made (${keys.join(', ')}); the cell keeps its own ${cell.preset} — edit that, or remove ${cellDir} to remake the cell from the run's preset`);
  }
  if (!existsSync(cell.tokenizer)) atomicWriteFile(cell.tokenizer, readFileSync(layout.tokenizer, 'utf8'));
  if (!existsSync(cell.stage('base'))) symlinkSync(resolve(layout.stage('base')), cell.stage('base'), 'dir');
}

/** A cell's preset: the run's, with e_w set, RL early stopping on and no SFT loss mixed into RL. */
function cellPreset(runDir: string, rate: number): ReturnType<typeof runPreset> {
  const layout = runLayout(runDir);
  const preset = runPreset(runDir);
  if (!preset.sft || !preset.rm || !preset.rl || !preset.dpo) throw new GptforgeError(`the RLHF sweep needs a preset with sft, rm, rl and dpo sections ("${preset.name}" lacks one)`, { file: layout.preset });
  preset.sft.mixture = { ...preset.sft.mixture, writerErrorRate: rate };
  // early stopping in every cell, on the preset's validation split or a small one
  preset.rl.validation ??= { prompts: 16 };
  if (!(preset.rl.train.evalEvery > 0)) preset.rl.train = { ...preset.rl.train, evalEvery: Math.max(1, Math.floor(preset.rl.train.maxSteps / 4)) };
  // no SFT loss mixed into RL (PPO-ptx): in a cell the SFT data are the writers' demonstrations,
  // a share e_w of them spoilt, so the mix would train the policy back towards the very
  // mistakes the comparisons teach it to avoid (measured at e_w = 0.25: RM score 0.37 → 1.11
  // over 32 updates without it; docs/rlhf.md)
  preset.rl.config = { ...preset.rl.config, ptxCoef: 0 };
  return preset;
}

function readState(file: string, rate: number): CellState {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as CellState) : { writerErrorRate: rate, done: [] };
}

/**
 * The e_w of every finished cell under `<run>/rlhf-sweep/` (all steps done, eval.json written):
 * a sweep given some rates still tables the cells an earlier sweep finished.
 */
function finishedRates(runDir: string): number[] {
  const dir = join(runDir, 'rlhf-sweep');
  if (!existsSync(dir)) return [];
  const out: number[] = [];
  for (const name of readdirSync(dir)) {
    const m = /^ew-(.+)$/.exec(name);
    if (!m) continue;
    const rate = Number(m[1]);
    const cellDir = join(dir, name);
    if (!Number.isFinite(rate) || !existsSync(runLayout(cellDir).evalJson)) continue;
    if (readState(join(cellDir, 'sweep-state.json'), rate).done.length === STEPS.length) out.push(rate);
  }
  return out;
}

/** Greedy accuracy of one eval-table column over some families (the multiplication row left out: it repeats arithmetic). */
function tableAccuracy(table: EvalTable, column: string, families?: readonly string[]): number {
  let correct = 0;
  let total = 0;
  for (const r of table.rows) {
    if (families ? !families.includes(r.label) : r.label.includes(':')) continue;
    const c = r.cells[column];
    if (!c) continue;
    correct += c.correct;
    total += c.total;
  }
  return total > 0 ? correct / total : NaN;
}

/**
 * The sweep's start estimate, as the pipeline prints one (src/run/estimate.ts: this machine's
 * timed forward/backward and decoding at each stage's shape, scaled by the steps left, resume-aware):
 * per cell not yet done, SFT + comparisons and RM + RL twice (PPO, GRPO) + the evaluation. DPO and
 * the KL estimates are not counted, and decoding is a floor, so the sweep takes longer.
 */
function sweepEstimateText(runDir: string, rates: readonly number[]): string {
  const layout = runLayout(runDir);
  let vocab = 4096;
  try {
    vocab = Tokenizer.load(layout.tokenizer).vocabSize;
  } catch {
    // no readable tokenizer yet: the mixture's default size (the timing hardly depends on it)
  }
  const left = rates.filter((rate) => readState(join(runDir, 'rlhf-sweep', `ew-${rate}`, 'sweep-state.json'), rate).done.length < STEPS.length);
  if (left.length === 0) return `rlhf-sweep: all ${rates.length} cells done: reading them back`;
  // one calibration, on the first cell left: the cells differ only in e_w (the same work), and timing each
  // anew under a shared machine's load scattered the same work's estimate by 2× between cells
  const cellDir = join(runDir, 'rlhf-sweep', `ew-${left[0]}`);
  const e = estimatePipeline(cellDir, runPreset(cellDir), vocab, 1);
  const sec = (prefix: string): number => e.stages.find((x) => x.stage.startsWith(prefix))?.seconds ?? 0;
  const cell = sec('2.') + sec('3.') + 2 * sec('4.') + sec('evaluation');
  return [
    `rlhf-sweep: estimate: about ${formatDuration(cell * left.length)} for ${left.length} of ${rates.length} cells (e_w ${left.join(', ')}) on ${e.machine}`,
    `  per cell: ${formatDuration(cell)} (SFT ${formatDuration(sec('2.'))}, comparisons + RM ${formatDuration(sec('3.'))}, PPO and GRPO ${formatDuration(sec('4.'))} each, evaluation ${formatDuration(sec('evaluation'))}), timed as the pipeline's estimate is; DPO and the KL estimates not counted, decoding a floor: expect longer`,
  ].join('\n');
}

/** The cell's rows, from its eval.json, rm-eval.json and KL estimates. */
function cellRows(cellDir: string, st: CellState): SweepRow[] {
  const ev = JSON.parse(readFileSync(runLayout(cellDir).evalJson, 'utf8')) as EvalTable & { compare: CompareRow[] | null };
  const rm = readRmEval(cellDir);
  const decidable = Object.keys(DECIDABLE_FAMILIES);
  const rows: SweepRow[] = [];
  const sftWin = ev.compare?.find((c) => c.name === 'SFT')?.winRate ?? NaN;
  for (const c of ev.compare ?? []) {
    if (c.name === 'base' || c.name.includes('oracle')) continue;
    const bestOfN = /best-of-(\d+)/.exec(c.name);
    const column = bestOfN ? null : c.name;
    rows.push({
      writerErrorRate: st.writerErrorRate,
      method: bestOfN ? `${c.name} (RM)` : c.name,
      accuracyDecidable: column ? tableAccuracy(ev, column, decidable) : NaN,
      accuracyAll: column ? tableAccuracy(ev, column) : NaN,
      accuracySampled: c.accuracy,
      winRate: c.winRate,
      winRateOverSft: c.winRate - sftWin,
      rmDecidable: rm?.accuracyCleanByContext?.decidable?.accuracy ?? NaN,
      rmKnowledge: rm?.accuracyCleanByContext?.knowledge?.accuracy ?? NaN,
      kl: bestOfN ? bestOfNKL(Number(bestOfN[1])) : c.name === 'SFT' ? 0 : (st.kl?.[c.name] ?? NaN),
      distinct2: c.diversity.distinct2,
      selfBleu: c.diversity.selfBleu,
    });
  }
  return rows;
}

const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : '–');
const pts = (x: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(1)}` : '–');
const num = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : '–');

/** The sweep's table (markdown), one row per e_w and method. */
export function sweepMarkdown(rows: readonly SweepRow[]): string {
  return [
    "| e_w | method | held-out acc. (decidable families) | held-out acc. (all) | sampled acc. | win rate vs SFT | − SFT's own | RM acc. decidable | RM acc. knowledge | KL to SFT (nats) | distinct-2 | self-BLEU |",
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.writerErrorRate} | ${r.method} | ${pct(r.accuracyDecidable)} | ${pct(r.accuracyAll)} | ${pct(r.accuracySampled)} | ${pct(r.winRate)} | ${pts(r.winRateOverSft)} | ${pct(r.rmDecidable)} | ${pct(r.rmKnowledge)} | ${num(r.kl)} | ${num(r.distinct2)} | ${num(r.selfBleu)} |`),
  ].join('\n');
}

/** The sweep's chart: win rate against SFT by e_w, one bar per method. */
export function sweepChart(rows: readonly SweepRow[]): string {
  const rates = [...new Set(rows.map((r) => r.writerErrorRate))];
  return barChartSVG(
    rates.map((e) => ({ label: `e_w = ${e}`, values: rows.filter((r) => r.writerErrorRate === e).map((r) => ({ series: r.method, value: r.winRate })) })),
    { title: 'RLHF vs SFT as the demonstration writers get worse: rubric win rate against SFT', yLabel: 'win rate (ties half)', percent: true, yMax: 1 },
  );
}

/** A stopped sweep's result: the table of the cells finished so far, or no table (not an empty one) when none is. */
function interruptedResult(rows: SweepRow[]): { rows: SweepRow[]; markdown: string; interrupted: boolean } {
  return { rows, markdown: rows.length > 0 ? sweepMarkdown(rows) : '', interrupted: true };
}

/**
 * Run (or continue) the sweep. @throws GptforgeError when the run has no base model or its
 * preset lacks a stage; a stage's own errors as its runner throws them.
 * @returns the rows and the markdown table; when `signal` stopped it (`interrupted`), the table
 *   of the cells finished so far, or '' when none is (a rerun continues: `sweep-state.json`).
 */
export async function runRlhfSweep(runDir: string, o: RlhfSweepOptions = {}): Promise<{ rows: SweepRow[]; markdown: string; interrupted: boolean }> {
  const rates = o.rates ?? [0, 0.1, 0.25, 0.5];
  for (const r of rates) if (!(r >= 0 && r <= 1)) throw new GptforgeError(`a writer error rate must be between 0 and 1, got ${r}`, { field: 'rates' });
  if (!latestCheckpoint(runLayout(runDir).stage('base'))) throw new GptforgeError('the RLHF sweep needs a pretrained base model (gptforge pretrain)', { file: runDir });
  const log = o.log ?? (() => undefined);
  const rows: SweepRow[] = [];
  const common = { quiet: o.quiet, signal: o.signal, log: o.log };
  for (const rate of rates) prepareCell(runDir, join(runDir, 'rlhf-sweep', `ew-${rate}`), rate, log);
  log(sweepEstimateText(runDir, rates));
  for (const [i, rate] of rates.entries()) {
    const cellDir = join(runDir, 'rlhf-sweep', `ew-${rate}`);
    const stateFile = join(cellDir, 'sweep-state.json');
    const st = readState(stateFile, rate);
    log(`rlhf-sweep: cell ${i + 1}/${rates.length} (e_w = ${rate})${st.done.length === STEPS.length ? ': done, read back' : st.done.length > 0 ? `: resuming after ${st.done.join(', ')}` : ''}`);
    for (const step of STEPS) {
      if (st.done.includes(step)) continue;
      if (o.signal?.aborted) return interruptedResult(rows);
      const t0 = performance.now();
      let r: { interrupted?: boolean } | undefined;
      if (step === 'sft') log(sftReport((r = await runSft(cellDir, common)), { chart: false }));
      else if (step === 'rm') log(rmReport((r = await runRm(cellDir, common))));
      else if (step === 'ppo') log(rlReport((r = await runRl(cellDir, { ...common, algo: 'ppo' }))));
      else if (step === 'grpo') log(rlReport((r = await runRl(cellDir, { ...common, algo: 'grpo' }))));
      else if (step === 'dpo') log(dpoReport((r = await runDpo(cellDir, common))));
      else if (step === 'eval') runEval(cellDir, { quiet: o.quiet, perTask: o.perTask, comparePrompts: o.comparePrompts });
      else {
        const sft = loadModel(cellDir, 'sft');
        const prompts = taskPrompts('test', o.klPrompts ?? 32, 9003).map((p) => p.prompt);
        const maxTokens = runPreset(cellDir).rl?.config.maxNewTokens ?? 48;
        st.kl = {};
        for (const [stage, name] of LATER_STAGES.filter(([s]) => s !== 'rl-reinforce')) {
          const m = loadModel(selectedStageDir(runLayout(cellDir).stage(stage)));
          st.kl[name] = sampledKL(m.model, sft.model, sft.tok, prompts, { tools: defaultTools(), maxTokens, seed: 4711 });
        }
      }
      if (r && r.interrupted) return interruptedResult(rows);
      st.done.push(step);
      atomicWriteFile(stateFile, JSON.stringify(st, null, 2) + '\n');
      log(`rlhf-sweep: e_w ${rate}: ${step} done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
    rows.push(...cellRows(cellDir, st));
    // the table so far, after every cell: a long sweep shows its progress
    atomicWriteFile(join(runDir, 'rlhf-sweep.json'), JSON.stringify({ rates, rows }, null, 2) + '\n');
  }
  // cells an earlier sweep finished (other --sweep-rates) are tabled too, read back and named as such
  const given = new Set(rates);
  const earlierRates = finishedRates(runDir)
    .filter((r) => !given.has(r))
    .sort((a, b) => a - b);
  for (const rate of earlierRates) {
    const cellDir = join(runDir, 'rlhf-sweep', `ew-${rate}`);
    rows.push(...cellRows(cellDir, readState(join(cellDir, 'sweep-state.json'), rate)));
  }
  if (earlierRates.length > 0) log(`rlhf-sweep: also tabling the cells an earlier sweep finished: e_w ${earlierRates.join(', ')}`);
  // cells run in the order given (the defaults' cell first, say); the table reads by e_w
  rows.sort((a, b) => a.writerErrorRate - b.writerErrorRate);
  atomicWriteFile(join(runDir, 'rlhf-sweep.json'), JSON.stringify({ rates, earlierRates, rows }, null, 2) + '\n');
  const markdown = [
    `## RLHF sweep: demonstration writers' error rate e_w (run ${runDir})`,
    '',
    sweepMarkdown(rows),
    '',
    ...(earlierRates.length > 0 ? [`Cells: e_w ${[...rates].sort((a, b) => a - b).join(', ')} from this sweep's --sweep-rates; e_w ${earlierRates.join(', ')} finished by an earlier sweep, read back from rlhf-sweep/ew-<e_w>/.`, ''] : []),
    'Held-out accuracy: greedy, the eval split. Win rate: rubric-judged against fresh SFT samples, ties half; "− SFT\'s own" subtracts the SFT row\'s win rate against the same reference samples (points), the paired comparison. RM accuracy: noise-free held-out pairs (src/data/decidable.ts). KL: Σ log π − log π_SFT over sampled tokens per reply on held-out prompts (best-of-N: log N − (N−1)/N). Diversity: distinct-2 (higher is more diverse) and self-BLEU-4 (lower is more diverse) over N samples per prompt. PPO and GRPO are the updates kept by early stopping on the validation split. Chart: rlhf-sweep.svg.',
  ].join('\n');
  atomicWriteFile(join(runDir, 'rlhf-sweep.md'), markdown + '\n');
  atomicWriteFile(join(runDir, 'rlhf-sweep.svg'), sweepChart(rows));
  return { rows, markdown, interrupted: false };
}
