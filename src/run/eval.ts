import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { TASKS, taskByName } from '../data/synthetic/tasks.js';
import { compareChart, compareMarkdown, compareModels, type CompareRow, type Contender } from '../eval/compare.js';
import { structuredEffect, structuredMarkdown } from '../eval/structured.js';
import { evalAnswerCount, evalMarkdown, evaluateTasks, type EvalRow, type EvalSubject, type EvalTable } from '../eval/tasks.js';
import { defaultTools } from '../infer/tools/registry.js';
import { latestCheckpoint, loadCheckpoint, readNewestCheckpoint, selectedCheckpoint } from '../model/checkpoint.js';
import { ADAPTER_CONFIG, type PeftAdapterConfig } from '../model/export/peft.js';
import { taskPrompts } from '../train/comparisons.js';
import { atomicWriteFile } from '../util/atomic.js';
import { GptforgeError } from '../util/errors.js';
import { holdRunLock } from '../util/lock.js';
import { Progress } from '../util/progress.js';
import { requireRunDir, runLayout } from './layout.js';
import { type LoadedModel, loadModel } from './models.js';
import { runPreset, runPresetFile, type PretrainPreset } from './preset.js';
import { readRmEval, rmEvalMarkdown } from './rm-summary.js';
import { selectedStageDir } from './rl-validation.js';

/** The stages after SFT, by directory, and their names in the tables. */
export const LATER_STAGES: readonly [string, string][] = [
  ['rl', 'PPO'],
  ['rl-grpo', 'GRPO'],
  ['rl-reinforce', 'REINFORCE'],
  ['dpo', 'DPO'],
];

/** Every family, plus the multiplication row the arithmetic target is stated on. */
export function defaultEvalRows(names?: string[]): EvalRow[] {
  const tasks = names ? names.map((n) => taskByName(n)) : [...TASKS];
  const rows: EvalRow[] = tasks.map((task) => ({ label: task.name, task }));
  if (tasks.some((t) => t.name === 'arithmetic')) rows.push({ label: 'arithmetic: 3–4 digit ×', task: taskByName('arithmetic'), variant: { ops: ['*'], minDigits: 3, maxDigits: 4 } });
  return rows;
}

/** How a stage's model was trained, when its checkpoint is a LoRA adapter (docs/lora.md). */
export interface AdapterSummary {
  stage: string;
  r: number;
  lora_alpha: number;
  target_modules: string[];
  use_rslora: boolean;
  /** The frozen base's precision while the adapter trained: f32, q8_0 or q4_0. */
  basePrecision: string;
  /** How many token rows of the embedding (and tied head) trained too (PEFT's trainable_token_indices). */
  trainable_tokens: number;
}

/**
 * The adapter behind the checkpoint a stage is evaluated from (its `best/` when early stopping
 * kept one, as `runEval` loads it), or null for a full checkpoint. An adapter
 * stage is evaluated merged into its fp32 base (what `gptforge merge` writes and what serve and
 * export use), so with a quantized base the evaluated weights differ from the trained ones by
 * the quantization's rounding — the row says so.
 */
export function stageAdapter(runDir: string, stage: string): AdapterSummary | null {
  const stageDir = runLayout(runDir).stage(stage);
  const first = selectedCheckpoint(stageDir);
  if (!first) return null;
  // a stage training beside the eval may prune the checkpoint resolved before it is read
  return readNewestCheckpoint(
    first,
    () => selectedCheckpoint(stageDir) ?? first,
    (dir) => {
      const meta = loadCheckpoint(dir, { weights: false }).meta;
      if (!meta.adapter) return null;
      const cfg = JSON.parse(readFileSync(join(dir, ADAPTER_CONFIG), 'utf8')) as PeftAdapterConfig;
      return { stage, r: cfg.r, lora_alpha: cfg.lora_alpha, target_modules: cfg.target_modules, use_rslora: cfg.use_rslora === true, basePrecision: meta.adapter.basePrecision, trainable_tokens: tokenCount(cfg.trainable_token_indices) };
    },
    stageDir,
  );
}

function tokenCount(v: PeftAdapterConfig['trainable_token_indices']): number {
  if (!v) return 0;
  return Array.isArray(v) ? v.length : Object.values(v).reduce((s, ids) => s + ids.length, 0);
}

/** The eval report's line for an adapter stage, e.g. "SFT is a LoRA adapter (r = 16, α = 32, …) trained over a Q4_0 base, evaluated merged into the fp32 base." */
export function adapterMarkdown(name: string, a: AdapterSummary): string {
  const base = a.basePrecision === 'f32' ? 'an fp32 base' : `a ${a.basePrecision.toUpperCase()} base (evaluated merged into the fp32 base)`;
  return `"${name}" is a LoRA adapter (r = ${a.r}, α = ${a.lora_alpha}${a.use_rslora ? ', rsLoRA' : ''}, on ${a.target_modules.join(', ')}${a.trainable_tokens > 0 ? `, and ${a.trainable_tokens} token embedding row${a.trainable_tokens > 1 ? 's' : ''}` : ''}) trained over ${base}, not a full fine-tune: see docs/lora.md.`;
}

/** The checkpoint behind a column of the evaluation (eval.json's `checkpoints`, one per stage evaluated). */
export interface EvaluatedCheckpoint {
  /** The column's name in the tables (`base (few-shot)`, `SFT`, `PPO`, …; "SFT, no tool" is the SFT checkpoint). */
  name: string;
  /** The stage directory (`base`, `sft`, `rl`, `sft-lora` …). */
  stage: string;
  /** The checkpoint directory, relative to the run (`rl/best/step-0000002` where early stopping kept one). */
  checkpoint: string;
  /** The optimizer step it was saved at (an RL stage's: its update). */
  step: number;
}

/** Options of `runEval`; defaults from the run preset's `sft.eval` section. */
export interface RunEvalOptions {
  /** Different held-out prompts per task family, at most (default: the preset's, else 50). */
  perTask?: number;
  /** Solved examples in the base model's prompt (default: the preset's, else 3). */
  fewShot?: number;
  /** Task families to score (default: all). */
  tasks?: string[];
  /** Skip the base/SFT/RLHF comparison (RM reward, win rates, diversity). */
  noCompare?: boolean;
  /** Held-out prompts in the comparison (default: the preset's, else 48). */
  comparePrompts?: number;
  /** More stages to score beside the standard ones, by directory name (`sft-lora`, `rl-lora` …: what `--into` trained); each is a row of both tables under its own name. */
  stages?: string[];
  /** The reward model the comparison scores with (default `rm`): e.g. one trained with `rm --into`. */
  rewardModel?: string;
  /**
   * The directory eval.md, eval.json and eval-chart.svg are written to (created if missing;
   * default: the run directory, where `gptforge pipeline` reads them). A quick check
   * (`--per-task 3`) written elsewhere leaves the run's own report in place, as
   * lm-evaluation-harness's `--output_path` keeps results apart from the model.
   */
  out?: string;
  quiet?: boolean;
}

/**
 * The settings of an evaluation that a run's preset controls (its `sft.eval` section, with the
 * defaults filled in), as eval.json records them under `settings`: `gptforge pipeline` compares
 * them with the preset's to know whether the stored evaluation is still the preset's (pipelineWork).
 * `compare` is null where the comparison does not run (no reward model, or noCompare).
 */
export interface EvalSettings {
  perTask: number;
  fewShot: number;
  compare: { prompts: number; samplesPerPrompt: number; bestOfN: number; oracleBestOfN: number; temperature: number; maxTokens: number } | null;
}

/** The EvalSettings of the preset's `sft.eval` section under `o`'s overrides; `compare`: whether the comparison runs. */
export function evalSettings(presetEval: NonNullable<PretrainPreset['sft']>['eval'] | undefined, o: Pick<RunEvalOptions, 'perTask' | 'fewShot' | 'comparePrompts'>, compare: boolean): EvalSettings {
  const c = { prompts: 48, samplesPerPrompt: 8, bestOfN: 4, oracleBestOfN: 0, temperature: 1, maxTokens: 48, ...presetEval?.compare };
  if (o.comparePrompts !== undefined) c.prompts = o.comparePrompts;
  return { perTask: o.perTask ?? presetEval?.perTask ?? 50, fewShot: o.fewShot ?? presetEval?.fewShot ?? 3, compare: compare ? c : null };
}

/**
 * The evaluation: each task family's held-out split scored with its checker — the base model
 * few-shot prompted with a fake conversation, the SFT model with and without the calculator,
 * every later stage present — and, with a reward model, base vs SFT vs SFT best-of-N vs the
 * RLHF models on held-out prompts (src/eval/). Writes `eval.md`, `eval.json` and
 * `eval-chart.svg` into the run (or into `o.out`); holds `<run>/eval.lock` (training stages may run beside it).
 *
 * @throws GptforgeError when the run has no base or SFT checkpoint, or for an unknown task family.
 */
export function runEval(runDir: string, o: RunEvalOptions = {}): { table: EvalTable; markdown: string; compare: CompareRow[] | null } {
  requireRunDir(runDir);
  const layout = runLayout(runDir);
  // the report's files: the run's own, or --out's (the run's report left as it was)
  const outLayout = o.out === undefined ? layout : runLayout(o.out);
  if (o.out !== undefined) mkdirSync(o.out, { recursive: true });
  holdRunLock(runDir, 'eval'); // eval.md has one writer; training stages may run beside it
  const presetEval = existsSync(layout.preset) ? runPreset(runDir).sft?.eval : undefined;
  // a named reward model is checked before the (long) accuracy table
  const rewardStage = o.rewardModel ?? 'rm';
  const settings = evalSettings(presetEval, o, latestCheckpoint(layout.stage(rewardStage)) !== null && latestCheckpoint(layout.stage('sft')) !== null && !o.noCompare);
  const { perTask, fewShot } = settings;
  if (o.rewardModel !== undefined) {
    if (!latestCheckpoint(layout.stage(rewardStage))) throw new GptforgeError(`eval: --reward-model ${rewardStage} has no checkpoint`, { file: layout.stage(rewardStage), field: 'rewardModel' });
    const rm = loadModel(runDir, rewardStage);
    if (!rm.reward) throw new GptforgeError(`eval: ${rm.dir} is not a reward model`, { file: rm.dir, field: 'rewardModel' });
  }
  const subjects: EvalSubject[] = [];
  // which checkpoint each column evaluated (eval.json's `checkpoints`, eval.md's line under the table)
  const evaluated: EvaluatedCheckpoint[] = [];
  // the step as loaded: a stage training beside the eval may have pruned the checkpoint since
  const record = (name: string, stage: string, m: LoadedModel): void => void evaluated.push({ name, stage, checkpoint: relative(runDir, m.dir) || '.', step: m.step });
  if (latestCheckpoint(layout.stage('base'))) {
    const b = loadModel(runDir, 'base');
    subjects.push({ name: 'base (few-shot)', kind: 'base', model: b.model, tok: b.tok });
    record('base (few-shot)', 'base', b);
  }
  if (latestCheckpoint(layout.stage('sft'))) {
    const s = loadModel(runDir, 'sft');
    record('SFT', 'sft', s);
    subjects.push({ name: 'SFT, no tool', kind: 'chat', model: s.model, tok: s.tok, tools: null, onlyToolTasks: true });
    subjects.push({ name: 'SFT', kind: 'chat', model: s.model, tok: s.tok, tools: defaultTools() });
  }
  const kept: string[] = [];
  // the later stages present, then the ones --stages names (an absent one is an error)
  const named = (o.stages ?? []).filter((s) => !LATER_STAGES.some(([x]) => x === s) && s !== 'base' && s !== 'sft');
  for (const [stage, name] of [...LATER_STAGES, ...named.map((s) => [s, s] as const)]) {
    const asked = named.includes(stage);
    if (!asked && !latestCheckpoint(layout.stage(stage))) continue;
    const m = loadModel(runDir, stage);
    if (m.reward) throw new GptforgeError(`eval: stage ${stage} is a reward model, not a policy; name it with --reward-model`, { file: m.dir, field: 'stages' });
    // RL's early stopping kept the best update on the validation split: that one is the stage's result
    if (selectedStageDir(layout.stage(stage)) !== layout.stage(stage)) kept.push(`${name}: update ${m.dir.replace(/^.*step-0*/, '')} (${stage}/best, chosen on the validation split; curve ${stage}-validation.svg)`);
    subjects.push({ name, kind: 'chat', model: m.model, tok: m.tok, tools: defaultTools() });
    record(name, stage, m);
  }
  if (subjects.length === 0) throw new GptforgeError('no base or sft checkpoint to evaluate', { file: runDir });
  const rows = defaultEvalRows(o.tasks);
  const bar = new Progress({ label: 'eval', total: evalAnswerCount(rows, subjects, perTask), unit: 'answer', quiet: o.quiet });
  const table = evaluateTasks(rows, subjects, { perTask, fewShot, onAnswer: (d) => bar.update(d) });
  bar.finish();
  const markdown = [
    evalMarkdown(table),
    '',
    `Checkpoints evaluated: ${evaluated.map((e) => `${e.name} ${e.checkpoint} (step ${e.step})`).join('; ')}.`,
    '',
    `Greedy decoding, up to ${perTask} different held-out prompts per family (items never seen in SFT; a family with fewer held-out prompts, like chat, shows its count). The base model is prompted with a fake-conversation document holding ${fewShot} solved example${fewShot === 1 ? '' : 's'} of the same family; "SFT" may call the calculator, "SFT, no tool" has it masked out (tool-using families only).${kept.length ? ` Early stopping kept ${kept.join('; ')}.` : ''}`,
  ].join('\n');
  let compareRows: CompareRow[] | null = null;
  let compareText = '';
  if (settings.compare) {
    const c = settings.compare;
    if (!(Number.isInteger(c.maxTokens) && c.maxTokens > 0)) throw new GptforgeError(`maxTokens must be a positive integer, got ${String(c.maxTokens)}`, { file: runPresetFile(runDir), field: 'sft.eval.compare.maxTokens' });
    const rm = loadModel(runDir, rewardStage);
    const contenders: Contender[] = subjects.filter((s) => s.name !== 'SFT, no tool').map((s) => ({ name: s.name === 'base (few-shot)' ? 'base' : s.name, kind: s.kind, model: s.model, tok: s.tok }));
    const sftC = contenders.find((x) => x.name === 'SFT');
    if (sftC && c.oracleBestOfN > 1) contenders.splice(contenders.indexOf(sftC) + 1, 0, { ...sftC, name: `SFT oracle best-of-${c.oracleBestOfN}`, bestOfN: c.oracleBestOfN, pickBy: 'rubric' });
    if (sftC && c.bestOfN > 1) contenders.splice(contenders.indexOf(sftC) + 1, 0, { ...sftC, name: `SFT best-of-${c.bestOfN}`, bestOfN: c.bestOfN });
    const prompts = taskPrompts('test', c.prompts, 9001);
    const listPrompt = 'Please list some animal names.';
    const diversityPrompts = [{ prompt: listPrompt }, ...taskPrompts('test', 5, 9002, ['chat', 'definitions', 'rhymes', 'kinds', 'synonyms'])];
    const opts = { prompts, diversityPrompts, listPrompt, samplesPerPrompt: c.samplesPerPrompt, rm: rm.model, reference: 'SFT', tools: defaultTools(), temperature: c.temperature, maxTokens: c.maxTokens, fewShot, seed: 77 };
    const bar2 = new Progress({ label: 'compare', total: prompts.length + contenders.reduce((n, x) => n + prompts.length * (x.bestOfN ?? 1) + diversityPrompts.length * c.samplesPerPrompt, 0), unit: 'reply', quiet: o.quiet });
    compareRows = compareModels(contenders, { ...opts, onProgress: (d) => bar2.update(d) });
    bar2.finish();
    compareText = compareMarkdown(compareRows, { ...opts, prompts: prompts.length });
    const rmEval = rewardStage === 'rm' ? readRmEval(runDir) : null;
    if (rmEval) compareText = `${rmEvalMarkdown(rmEval)}\n\n${compareText}`;
    atomicWriteFile(outLayout.evalChart, compareChart(compareRows, 'SFT'));
  }
  // constrained decoding's effect (issue #17): the structured family free and under its schema
  const sftSubject = subjects.find((s) => s.name === 'SFT');
  const structured = sftSubject && rows.some((r) => r.task.name === 'structured') ? structuredEffect(sftSubject.model, sftSubject.tok, { n: Math.min(perTask, 50) }) : null;
  const adapters = [['sft', 'SFT'], ...LATER_STAGES, ...(o.stages ?? []).map((s) => [s, s])].flatMap(([stage, name]) => {
    const a = subjects.some((x) => x.name === name) ? stageAdapter(runDir, stage) : null;
    return a ? [{ name, ...a }] : [];
  });
  const withAdapters = adapters.length > 0 ? `${markdown}\n\n${adapters.map((a) => adapterMarkdown(a.name, a)).join('\n')}` : markdown;
  const withStructured = structured ? `${withAdapters}\n\n${structuredMarkdown(structured)}` : withAdapters;
  const full = compareText ? `${withStructured}\n\n${compareText}\n\nChart: eval-chart.svg` : withStructured;
  atomicWriteFile(outLayout.evalMarkdown, full + '\n');
  atomicWriteFile(outLayout.evalJson, JSON.stringify({ perTask, fewShot, settings, checkpoints: evaluated, ...table, adapters, compare: compareRows, structured }, null, 2) + '\n');
  return { table, markdown: full, compare: compareRows };
}
