import { existsSync, readFileSync } from 'node:fs';
import type { PairTally } from '../train/reward.js';
import { runLayout } from './layout.js';

/** `rm-eval.json` as runRm writes it (the fields the reports read). */
export interface RmEvalFile {
  step: number;
  /** Held-out pairwise accuracy on the labelers' noisy rankings. */
  accuracy: number;
  /** … on the noise-free rankings. */
  accuracyClean?: number;
  pairs?: number;
  accuracyCleanBy?: Record<string, PairTally & { accuracy: number }>;
  /** Noise-free pairs whose correctness is decidable from the context vs knowledge pairs (src/data/decidable.ts). */
  accuracyCleanByContext?: Record<string, PairTally & { accuracy: number }>;
  /** Both crossed ("decidable/correctness", "decidable/preferences", …). */
  accuracyCleanByContextAndTerm?: Record<string, PairTally & { accuracy: number }>;
}

/** The run's `rm-eval.json`, or null when there is none (or it cannot be read: the report just leaves it out). */
export function readRmEval(runDir: string): RmEvalFile | null {
  const file = runLayout(runDir).rmEval;
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RmEvalFile;
  } catch {
    return null;
  }
}

const pct = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(1)}%`);

/** The reward model's held-out accuracy as a short markdown table: overall, by deciding term, decidable vs knowledge pairs. */
export function rmEvalMarkdown(e: RmEvalFile): string {
  const rows: [string, number | undefined, number | string][] = [
    ['all pairs, noisy labels', e.accuracy, e.pairs ?? '–'],
    ['all pairs, noise-free', e.accuracyClean, Object.values(e.accuracyCleanBy ?? {}).reduce((n, t) => n + t.pairs, 0) || '–'],
  ];
  for (const [k, t] of Object.entries(e.accuracyCleanBy ?? {})) rows.push([`decided by ${k}`, t.accuracy, t.pairs]);
  for (const [k, t] of Object.entries(e.accuracyCleanByContext ?? {})) rows.push([`${k} pairs (correctness ${k === 'decidable' ? 'readable from the context' : k === 'knowledge' ? 'needs the fact' : 'of unknown family'})`, t.accuracy, t.pairs]);
  // the pairs the context decides, split: does the RM read the fact, or only the form?
  for (const term of ['correctness', 'preferences'] as const) {
    const t = e.accuracyCleanByContextAndTerm?.[`decidable/${term}`];
    if (t) rows.push([`decidable pairs decided by ${term === 'correctness' ? 'correctness' : 'form (tools, length, repetition, manners)'}`, t.accuracy, t.pairs]);
  }
  return ['### Reward model (held-out pairwise accuracy, rm-eval.json)', '', '| pairs | accuracy | n |', '| --- | ---: | ---: |', ...rows.map(([k, a, n]) => `| ${k} | ${pct(a)} | ${n} |`)].join('\n');
}
