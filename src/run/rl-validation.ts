import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { rubricScore } from '../data/labelers.js';
import { isValidation } from '../data/synthetic/split.js';
import { promptItem, taskByName } from '../data/synthetic/tasks.js';
import { lossCurveSVG } from '../eval/plot.js';
import { ChatEngine } from '../infer/engine.js';
import type { ToolRegistry } from '../infer/tools/registry.js';
import { latestCheckpoint, saveCheckpoint } from '../model/checkpoint.js';
import type { GPT } from '../model/gpt.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { taskPrompts, type TaskPrompt } from '../train/comparisons.js';
import type { MetricRecord } from '../train/metrics.js';
import { atomicWriteFile } from '../util/atomic.js';

/**
 * Early stopping for RL (issue #24): the checkpoint is chosen on a validation split, never on
 * the eval's test split. Validation prompts are train-split items whose hash falls in the
 * validation band (split.ts isValidation: disjoint from the test split by construction); RL
 * trains on the other train-split prompts. Every `evalEvery` updates (and at the end) the
 * policy samples one reply per validation prompt at the RL temperature, with the same seeds
 * each time (paired comparisons), and the simulated labelers' rubric scores them — the judge a
 * person at the keyboard would be, not the reward model being optimised. The update with the
 * best mean rubric score is kept as `<stage>/best/` (the eval uses it), the curve goes to
 * `<stage>-validation.svg`. The SFT model (update 0) is measured for the curve but is not a
 * candidate: the stage's result is an RL checkpoint.
 */
export interface RlValidationConfig {
  /** Validation prompts, spread over the task families (0: no early stopping). */
  prompts: number;
}

/** The key of a prompt's item (its word, problem or chat phrasing), or the prompt itself. */
const keyOf = (p: TaskPrompt): string => (p.task ? (promptItem(p.task, p.prompt) ?? p.prompt) : p.prompt);

/** Whether a train-split prompt belongs to the validation split. */
export function isValidationPrompt(p: TaskPrompt): boolean {
  return isValidation(keyOf(p));
}

/** n validation prompts (train-split items in the validation band), spread over the families, deterministic in the seed. */
export function validationPrompts(n: number, seed: number): TaskPrompt[] {
  // about a tenth of train items are validation items; draw generously, keep distinct prompts
  const seen = new Set<string>();
  const out: TaskPrompt[] = [];
  for (let round = 0; out.length < n && round < 8; round++) {
    for (const p of taskPrompts('train', 12 * n, seed + 7919 * round)) {
      if (out.length >= n) break;
      if (!isValidationPrompt(p) || seen.has(p.prompt)) continue;
      seen.add(p.prompt);
      out.push(p);
    }
  }
  return out;
}

/** The best update so far: `<stage>/best/best.json`. */
export interface BestCheckpoint {
  step: number;
  'val/rubric': number;
  'val/accuracy': number;
}

export interface SelectorSetup {
  stageDir: string;
  stage: string;
  policy: GPT;
  tok: Tokenizer;
  tools: ToolRegistry | null;
  prompts: readonly TaskPrompt[];
  temperature: number;
  maxTokens: number;
  /** Start over: forget an earlier run's best. */
  fresh: boolean;
  /** Save the best checkpoint (false with a LoRA adapter: the eval then uses the last). */
  save: boolean;
}

/** Scores the policy on the validation prompts and keeps the best update's weights. */
export class CheckpointSelector {
  private best: BestCheckpoint | null = null;
  readonly bestDir: string;

  constructor(private readonly s: SelectorSetup) {
    this.bestDir = join(s.stageDir, 'best');
    if (s.fresh) rmSync(this.bestDir, { recursive: true, force: true });
    else if (existsSync(join(this.bestDir, 'best.json')) && latestCheckpoint(this.bestDir)) this.best = JSON.parse(readFileSync(join(this.bestDir, 'best.json'), 'utf8')) as BestCheckpoint;
  }

  /** Mean rubric score and checker accuracy of one sampled reply per validation prompt. */
  measure(): { 'val/rubric': number; 'val/accuracy': number } {
    const engine = new ChatEngine(this.s.policy, this.s.tok);
    const replies = engine.repliesTo(
      this.s.prompts.map((p) => ({ messages: [{ role: 'user' as const, content: p.prompt }] })),
      this.s.prompts.map((_, i) => 90001 + i),
      { temperature: this.s.temperature, maxTokens: this.s.maxTokens, tools: this.s.tools },
    );
    let rubric = 0;
    let correct = 0;
    replies.forEach((r, i) => {
      const p = this.s.prompts[i];
      rubric += rubricScore(p.prompt, { messages: r.messages }, p.task).score;
      if (p.task && taskByName(p.task).check(p.prompt, r.text)) correct++;
    });
    const n = Math.max(1, replies.length);
    return { 'val/rubric': rubric / n, 'val/accuracy': correct / n };
  }

  /** The train loop's evaluate hook: measure at `step`; a new best (step ≥ 1) is saved to `<stage>/best/`. */
  evaluate(step: number): Record<string, number> {
    const m = this.measure();
    if (step >= 1 && (this.best === null || m['val/rubric'] > this.best['val/rubric'])) {
      this.best = { step, ...m };
      if (this.s.save) {
        saveCheckpoint(this.bestDir, this.s.policy, { stage: this.s.stage, scalarHead: 'value', step, tokenizerJSON: this.s.tok.toJSON(), tokenizerHash: this.s.tok.hash(), keepLast: 1 });
        atomicWriteFile(join(this.bestDir, 'best.json'), JSON.stringify(this.best, null, 2) + '\n');
      }
    }
    return { ...m, 'val/best_step': this.best?.step ?? 0 };
  }

  bestSoFar(): BestCheckpoint | null {
    return this.best;
  }
}

/** The validation curve (rubric score and accuracy per update) as an SVG, from the stage's metric history. */
export function validationCurveSVG(history: readonly MetricRecord[], algo: string, best: BestCheckpoint | null): string {
  const series = (key: string, name: string): { name: string; points: [number, number][] } => ({ name, points: history.filter((r) => typeof r[key] === 'number').map((r) => [r.step, r[key] as number]) });
  const rubric = series('val/rubric', 'mean rubric score / 10');
  rubric.points = rubric.points.map(([x, y]) => [x, y / 10]);
  return lossCurveSVG([rubric, series('val/accuracy', 'sampled accuracy')], {
    title: `${algo.toUpperCase()} on the validation split${best ? ` (kept: update ${best.step})` : ''}`,
    xLabel: 'update',
    yLabel: 'score',
  });
}

/** The `best/` checkpoint directory of a stage when early stopping kept one, else the stage directory. */
export function selectedStageDir(stageDir: string): string {
  const best = join(stageDir, 'best');
  return latestCheckpoint(best) ? best : stageDir;
}
