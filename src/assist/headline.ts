import { runTechniqueSweep } from './sweep.js';
import { ABACUS_MIXTURE, abacusModel, ADDITION_MIXTURE, trainThinking, type ThinkingTrainOptions } from './thinking.js';

/** The model the headline rows come from. */
export type HeadlineRecipe = 'abacus' | 'scratchpad';

/** Options of `techniquesHeadline`. */
export interface HeadlineOptions {
  /**
   * 'abacus' (default): model AB5 — the per-column Sum scratchpad on abacus embeddings with
   * randomized position ids, which carries step by step to 7–8 digits (ABACUS_MIXTURE);
   * 'scratchpad': model A — the plain carry scratchpad (ADDITION_MIXTURE), 0% past 6 digits.
   */
  recipe?: HeadlineRecipe;
  /** Optimizer steps at 8 rows of 256 tokens (default 2400 for 'abacus', ≈ 4.9 M tokens; 1200 for 'scratchpad'). */
  steps?: number;
  /** Problems per (digits, mode) cell (default 20). */
  perCell?: number;
  quiet?: boolean;
  signal?: AbortSignal;
  /** Overrides of the training recipe (tests: a tiny model, few examples); a `model` object is merged over the recipe's. */
  train?: Partial<ThinkingTrainOptions>;
}

/** The default optimizer steps of each recipe (the estimate uses them too). */
export const HEADLINE_STEPS: Record<HeadlineRecipe, number> = { abacus: 2400, scratchpad: 1200 };

/**
 * The headline rows of docs/techniques.md for the pipeline's techniques stage: trains (or
 * resumes) the addition model in `dir` — by default model AB5's recipe, trained on 1–6 digits
 * — and measures direct vs "Let's think step by step." on 5–8 digit additions (held out,
 * greedy); returns the technique × family table (and writes techniques.md / .json in `dir`).
 * Returns undefined when training was interrupted.
 */
export async function techniquesHeadline(dir: string, o: HeadlineOptions = {}): Promise<string | undefined> {
  const recipe = o.recipe ?? 'abacus';
  const { model: override, ...train } = o.train ?? {};
  const r = await trainThinking(dir, {
    ...(recipe === 'abacus'
      ? {
          mixture: ABACUS_MIXTURE,
          examples: 110_000,
          model: (tok) => ({ ...abacusModel(tok), ...(typeof override === 'function' ? override(tok) : override) }),
        }
      : { mixture: ADDITION_MIXTURE, model: override }),
    steps: o.steps ?? HEADLINE_STEPS[recipe],
    batchSize: 8,
    ...train,
    quiet: o.quiet,
    signal: o.signal,
  });
  if (r.interrupted) return undefined;
  const { markdown } = runTechniqueSweep(dir, { parts: ['cot'], digits: [5, 6, 7, 8], perCell: o.perCell ?? 20, cotFamilies: recipe === 'abacus' ? 'abacus' : 'addition' });
  // the first section is the technique × family table
  const start = markdown.indexOf('## Technique × family');
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end < 0 ? undefined : end).trim();
}
