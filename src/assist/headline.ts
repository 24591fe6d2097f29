import { runTechniqueSweep } from './sweep.js';
import { ADDITION_MIXTURE, trainThinking, type ThinkingTrainOptions } from './thinking.js';

/** Options of `techniquesHeadline`. */
export interface HeadlineOptions {
  /** Optimizer steps of the addition model (default 1200 at 8 rows of 256 tokens: ≈ 2.5 M tokens). */
  steps?: number;
  /** Problems per (digits, mode) cell (default 20). */
  perCell?: number;
  quiet?: boolean;
  signal?: AbortSignal;
  /** Overrides of the training recipe (tests: a tiny model, few examples). */
  train?: Partial<ThinkingTrainOptions>;
}

/**
 * The headline rows of docs/techniques.md, for the pipeline's opt-in `--techniques`: trains
 * (or resumes) the addition techniques model in `dir` (ADDITION_MIXTURE, the recipe of
 * docs/techniques.md) and measures direct vs "Let's think step by step." on 5–8 digit
 * additions; returns the technique × family table (and writes techniques.md / .json in `dir`).
 * Returns undefined when training was interrupted.
 */
export async function techniquesHeadline(dir: string, o: HeadlineOptions = {}): Promise<string | undefined> {
  const r = await trainThinking(dir, { mixture: ADDITION_MIXTURE, steps: o.steps ?? 1200, batchSize: 8, ...o.train, quiet: o.quiet, signal: o.signal });
  if (r.interrupted) return undefined;
  const { markdown } = runTechniqueSweep(dir, { parts: ['cot'], digits: [5, 6, 7, 8], perCell: o.perCell ?? 20, cotFamilies: 'addition' });
  // the first section is the technique × family table
  const start = markdown.indexOf('## Technique × family');
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end < 0 ? undefined : end).trim();
}
