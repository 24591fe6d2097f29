/**
 * How often a scorer's best-of-n pick is correct, against what a random pick of the same
 * candidates gives (issue #24; docs/rlhf.md, "Where the targets stand"). This is the number
 * that decides whether best-of-n, rejection-sampling fine-tuning or RL against a reward model
 * can raise accuracy at all: a reward model whose pick is correct no more often than a random
 * sample cannot teach correctness, whatever its pairwise accuracy on form.
 *
 * The chance rate is the expected correctness of a uniform pick (each prompt's share of correct
 * candidates), not one sample's, so it carries no sampling noise of its own; the gain is paired
 * per prompt (picked − share) with a normal 95% interval over prompts. Prompts whose candidates
 * are all right or all wrong cannot be picked well or badly; `mixed` counts the ones that can,
 * and the gain is all theirs.
 */

/** One prompt's candidates: their scorer scores (higher is preferred) and whether each is correct. */
export interface PickGroup {
  /** The prompt's family (a task name); rates are also reported per family. */
  family: string;
  /** Per candidate, `scores[i]` is the scorer's score of candidate i. */
  scores: readonly number[];
  /** Per candidate, whether the checker finds it correct. Same length as `scores`. */
  correct: readonly boolean[];
}

/** Pick rates over a set of prompts (one family, or all). Rates are fractions in [0, 1]. */
export interface PickRates {
  /** Prompts with at least one candidate. */
  prompts: number;
  /** Prompts with at least one right and one wrong candidate: the only ones a pick can change. */
  mixed: number;
  /** Share of prompts whose pick (the highest score; ties go to the first) is correct. */
  pickedCorrect: number;
  /** Expected share for a uniformly random pick: the mean over prompts of the correct candidates' share. */
  chanceCorrect: number;
  /** Share of prompts with any correct candidate: what a perfect scorer picks. */
  oracleCorrect: number;
  /** pickedCorrect − chanceCorrect, paired per prompt. */
  gain: number;
  /** Half-width of the gain's 95% interval (1.96 · standard error of the per-prompt differences). */
  gainCi95: number;
  /** Among the `mixed` prompts only: the share picked correct and the chance share. */
  mixedPicked: number;
  mixedChance: number;
}

/**
 * The index of the highest score (the first on ties).
 * @throws Error when `scores` is empty
 */
export function argmax(scores: readonly number[]): number {
  if (scores.length === 0) throw new Error('argmax of no scores');
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i] > scores[best]) best = i;
  return best;
}

/**
 * Pick rates of `groups` (all of them, and per family under `byFamily`).
 * @throws Error naming the group when a group's scores and correct flags differ in length, or a group is empty
 */
export function pickRates(groups: readonly PickGroup[]): { all: PickRates; byFamily: Record<string, PickRates> } {
  groups.forEach((g, i) => {
    if (g.scores.length === 0) throw new Error(`pickRates: group ${i} (${g.family}) has no candidates`);
    if (g.scores.length !== g.correct.length) throw new Error(`pickRates: group ${i} (${g.family}) has ${g.scores.length} scores but ${g.correct.length} correct flags`);
  });
  const families = [...new Set(groups.map((g) => g.family))].sort();
  const byFamily: Record<string, PickRates> = {};
  for (const f of families) byFamily[f] = rates(groups.filter((g) => g.family === f));
  return { all: rates(groups), byFamily };
}

function rates(groups: readonly PickGroup[]): PickRates {
  const m = groups.length;
  const diffs: number[] = [];
  let picked = 0;
  let chance = 0;
  let oracle = 0;
  let mixed = 0;
  let mixedPicked = 0;
  let mixedChance = 0;
  for (const g of groups) {
    const p = g.correct[argmax(g.scores)] ? 1 : 0;
    const share = g.correct.filter(Boolean).length / g.correct.length;
    picked += p;
    chance += share;
    if (share > 0) oracle++;
    if (share > 0 && share < 1) {
      mixed++;
      mixedPicked += p;
      mixedChance += share;
    }
    diffs.push(p - share);
  }
  const gain = m > 0 ? (picked - chance) / m : 0;
  const variance = m > 1 ? diffs.reduce((a, d) => a + (d - gain) ** 2, 0) / (m - 1) : 0;
  return {
    prompts: m,
    mixed,
    pickedCorrect: m > 0 ? picked / m : 0,
    chanceCorrect: m > 0 ? chance / m : 0,
    oracleCorrect: m > 0 ? oracle / m : 0,
    gain,
    gainCi95: m > 1 ? 1.96 * Math.sqrt(variance / m) : 0,
    mixedPicked: mixed > 0 ? mixedPicked / mixed : 0,
    mixedChance: mixed > 0 ? mixedChance / mixed : 0,
  };
}
