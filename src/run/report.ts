import { basename } from 'node:path';
import type { MetricRecord } from '../train/metrics.js';
import { terminalChart } from '../eval/plot.js';
import type { PretrainPreset } from './presets.js';
import { lossCurves } from './plots.js';
import type { RunDpoResult } from './dpo.js';
import type { RunPretrainResult } from './pretrain.js';
import type { RunRlResult } from './rl.js';
import type { RunRmResult } from './rm.js';
import type { RunSftResult } from './sft.js';
import { sampleFromRun } from './sample.js';

/**
 * What each stage runner's result says, as the text a face prints (the CLI to stdout, the
 * pipeline between stages): a terminal chart of the losses and one summary line. Pure
 * formatting — the runners return the numbers; a server can show them its own way.
 */
const stopped = (r: { interrupted: boolean }): string => (r.interrupted ? 'stopped' : 'done');

/** What a report holds besides its summary line: the terminal loss chart (default on; `--quiet` drops it). */
export interface ReportOptions {
  chart?: boolean;
}

/** ", train loss 1.234", or nothing when no step ran (a finished stage run again has no loss to report). */
function trainLoss(loss: number): string {
  return Number.isFinite(loss) ? `, train loss ${loss.toFixed(3)}` : ' (no step left to run)';
}

export function pretrainReport(r: RunPretrainResult, lossPlot: string, o: ReportOptions = {}): string {
  return [
    ...(o.chart === false ? [] : [terminalChart(lossCurves(r.history), { title: 'loss (█ train, others: validation per source)', width: 64, height: 12 })]),
    `pretrain: ${stopped(r)} at step ${r.step}${trainLoss(r.lastLoss)}${r.lastEval['val/loss'] !== undefined ? `, val loss ${r.lastEval['val/loss'].toFixed(3)}` : ''}; checkpoint ${r.checkpoint}; curves in ${lossPlot}`,
  ].join('\n');
}

export function sftReport(r: RunSftResult, o: ReportOptions = {}): string {
  return [
    ...(o.chart === false ? [] : [terminalChart(lossCurves(r.history), { title: 'SFT loss (█ train, others: held-out per task)', width: 64, height: 10 })]),
    `${basename(r.stageDir)}: ${stopped(r)} at step ${r.step}${trainLoss(r.lastLoss)}${r.lastEval['val/loss'] !== undefined ? `, held-out loss ${r.lastEval['val/loss'].toFixed(3)}` : ''}; checkpoint ${r.checkpoint}`,
  ].join('\n');
}

export function rmReport(r: RunRmResult): string {
  // every held-out pair tied: nothing to measure, said plainly (not NaN%)
  if (!((r.lastEval['val/pairs'] ?? 0) > 0)) return `${r.stage}: ${stopped(r)} at step ${r.step}; no held-out pair has a preference (${r.lastEval['val/tied'] ?? 0} tied), so there is no accuracy to report; checkpoint ${r.checkpoint}`;
  const clean = r.accuracyClean;
  const lines = [
    `${r.stage}: ${stopped(r)} at step ${r.step}; held-out pairwise accuracy ${(100 * r.accuracy).toFixed(1)}% on ${clean !== undefined ? "the simulated labelers' (noisy) rankings" : 'your held-out rankings (the ~10% of prompts a hash of the prompt text sets aside)'} (${r.lastEval['val/pairs'] ?? 0} pairs with a preference)${clean !== undefined ? `, ${(100 * clean).toFixed(1)}% on noise-free rankings` : ''}; margin ${(r.lastEval['val/margin'] ?? NaN).toFixed(2)}; checkpoint ${r.checkpoint}`,
  ];
  if (r.accuracyCleanBy && Object.keys(r.accuracyCleanBy).length > 0)
    lines.push(
      `${r.stage}: noise-free pairs by what decided them: ${Object.entries(r.accuracyCleanBy)
        .map(([k, t]) => `${k} ${(100 * t.accuracy).toFixed(1)}% (${t.pairs} pairs)`)
        .join(', ')}`,
    );
  if (r.accuracyCleanByContext && Object.keys(r.accuracyCleanByContext).length > 0)
    lines.push(
      `${r.stage}: noise-free pairs by where correctness is read: ${Object.entries(r.accuracyCleanByContext)
        .map(([k, t]) => `${k} ${(100 * t.accuracy).toFixed(1)}% (${t.pairs} pairs)`)
        .join(', ')}`,
    );
  return lines.join('\n');
}

export function rlReport(r: RunRlResult): string {
  // the last update's record: validation records (early stopping) come after it and carry no scores
  // PPO/REINFORCE log TRL PPOTrainer's names, GRPO TRL GRPOTrainer's (reward; its per-reply KL is rollout/kl)
  const found: Partial<MetricRecord> = [...r.history].reverse().find((h) => h['objective/scores'] !== undefined || h.reward !== undefined) ?? {};
  const last = { ...found, 'objective/scores': found['objective/scores'] ?? found.reward, 'objective/kl': found['objective/kl'] ?? found['rollout/kl'] };
  const best = r.best && `update ${r.best.step} (validation rubric ${r.best['val/rubric'].toFixed(2)}, sampled accuracy ${(100 * r.best['val/accuracy']).toFixed(1)}%)`;
  // a LoRA stage keeps no best/ copy (rl-validation.ts): the last update is what it stands for
  const kept = !best ? '' : r.bestSaved === false ? `; the best validation was at ${best}, but a LoRA stage keeps its last update (no ${r.stage}/best)` : `; early stopping kept ${best} in ${r.stage}/best`;
  return `${r.stage}: ${stopped(r)} at update ${r.step}; RM score ${Number(last['objective/scores']).toFixed(3)}, KL ${Number(last['objective/kl']).toFixed(3)}; checkpoint ${r.checkpoint}${kept}`;
}

export function dpoReport(r: RunDpoResult): string {
  const acc = r.lastEval['val/rewards/accuracies'];
  // with no held-out pair (a file of a few prompts, 10% held out by hash) there is no accuracy to print
  const held = r.valPairs === 0 || acc === undefined || !Number.isFinite(acc) ? 'no held-out pairs to measure preference accuracy on' : `held-out preference accuracy ${(100 * acc).toFixed(1)}%, margin ${(r.lastEval['val/rewards/margins'] ?? NaN).toFixed(3)}`;
  return `${r.stage}: ${stopped(r)} at step ${r.step}; ${held}; checkpoint ${r.checkpoint}`;
}

/** The preset's pretraining samples from the run's base model (seed 1), one block per prompt — the base, even when later stages exist. */
export function pretrainSamples(runDir: string, preset: PretrainPreset): string[] {
  const s = preset.samples;
  if (!s) return [];
  return s.prompts.map((prompt) => {
    const { text } = sampleFromRun(runDir, prompt, { maxTokens: s.maxTokens, temperature: s.temperature ?? 0.8, topK: s.topK, topP: s.topP, seed: 1 }, 'base');
    return `\n--- sample: ${JSON.stringify(prompt)}\n${prompt}${text}`;
  });
}
