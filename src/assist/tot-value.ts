import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderForReward } from '../data/chat.js';
import type { Ranking } from '../data/preferences.js';
import { rankingConversation } from '../data/preferences.js';
import { proposePrompt, solve, steps, stepText, type Step } from '../data/synthetic/countdown.js';
import { splitOf } from '../data/synthetic/split.js';
import { Rng } from '../engine/rng.js';
import type { GPT } from '../model/gpt.js';
import { loadRewardModel } from '../run/models.js';
import { runLayout } from '../run/layout.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { scoreSequences } from '../train/reward.js';
import { GptforgeError } from '../util/errors.js';
import type { TotOptions } from './tot.js';

/**
 * A learned state value for tree of thoughts on the game of 24: a reward model that scores a
 * thought — the step line a proposer writes, "13-9=4 (left: 4 4 10)", as the reply to its
 * parent's "Numbers: 4 9 10 13. Possible next steps?" — higher when the numbers it leaves can
 * still reach 24. Trained by the project's reward-model stage (`gptforge rm --rankings`,
 * src/train/reward.ts: −log σ(r_better − r_worse)) on rankings whose labels come from the exact
 * solver (countdown.ts's `solve`, the game's ground truth — the same labels as the family's
 * value conversations): per parent state, its solvable children (tier 0) above its unsolvable
 * ones (tier 1). That is how the breadth-first search uses a value: it compares the children
 * of a level and keeps the best (Yao et al. 2023, §4.1's value prompt, here learned).
 *
 * Only train-split puzzles (countdown.ts's split of the sorted four numbers) and the states
 * reached from them are used; held-out accuracy is measured on the test split's.
 */

export interface ValueDataOptions {
  /** Which puzzles the states come from (default train). */
  split?: 'train' | 'test';
  /** At most this many solvable and this many unsolvable children per ranking (default 6: ≤ 36 pairs). */
  perTier?: number;
  /** Three-number parent states per puzzle (default 30: all) and two-number ones (default 20), drawn among those with both kinds of child. */
  level2?: number;
  level3?: number;
  seed?: number;
}

export interface ValueData {
  rankings: Ranking[];
  /** Puzzles whose states were used (solvable or not). */
  puzzles: number;
  /** Rankings per parent size (4, 3, 2 numbers). */
  byLevel: Record<number, number>;
}

/** Every sorted multiset of four numbers 1–13 (1,820 puzzles) of one split. */
export function puzzlesOf(split: 'train' | 'test'): number[][] {
  const out: number[][] = [];
  for (let a = 1; a <= 13; a++) for (let b = a; b <= 13; b++) for (let c = b; c <= 13; c++) for (let d = c; d <= 13; d++) if (splitOf(`24:${a} ${b} ${c} ${d}`) === split) out.push([a, b, c, d]);
  return out;
}

/** The children of a state, one per distinct numbers-left (the search merges the same state reached twice), with the solver's verdict. */
export function labelledChildren(nums: readonly number[]): Array<{ step: Step; solvable: boolean }> {
  const seen = new Set<string>();
  const out: Array<{ step: Step; solvable: boolean }> = [];
  for (const s of steps(nums)) {
    const key = s.left.join(' ');
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ step: s, solvable: solve(s.left) !== null });
  }
  return out;
}

function shuffle<T>(xs: T[], rng: Rng): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/**
 * The value model's rankings (see the module comment): for each puzzle of the split, the
 * puzzle itself and up to `level2` three-number and `level3` two-number states reached from
 * it, each as a parent whose children have both verdicts; a parent state shared by two
 * puzzles is written once.
 *
 * @throws GptforgeError for perTier < 1 or a negative level count.
 */
export function valueRankings(o: ValueDataOptions = {}): ValueData {
  const perTier = o.perTier ?? 6;
  const level2 = o.level2 ?? 30;
  const level3 = o.level3 ?? 20;
  if (!Number.isInteger(perTier) || perTier < 1) throw new GptforgeError(`value data: perTier must be a positive integer, got ${perTier}`, { field: 'perTier' });
  if (![level2, level3].every((x) => Number.isInteger(x) && x >= 0)) throw new GptforgeError('value data: level2 and level3 must be whole numbers ≥ 0', { field: 'level2' });
  const rng = new Rng(o.seed ?? 2024);
  const puzzles = puzzlesOf(o.split ?? 'train');
  const done = new Set<string>();
  const out: ValueData = { rankings: [], puzzles: puzzles.length, byLevel: { 4: 0, 3: 0, 2: 0 } };
  const mixed = (nums: readonly number[]): boolean => {
    const c = labelledChildren(nums);
    return c.some((x) => x.solvable) && c.some((x) => !x.solvable);
  };
  const add = (nums: readonly number[]): void => {
    const key = nums.join(' ');
    if (done.has(key)) return;
    done.add(key);
    const c = labelledChildren(nums);
    const good = shuffle(
      c.filter((x) => x.solvable),
      rng,
    ).slice(0, perTier);
    const bad = shuffle(
      c.filter((x) => !x.solvable),
      rng,
    ).slice(0, perTier);
    if (good.length === 0 || bad.length === 0) return;
    out.rankings.push({ prompt: proposePrompt(nums), completions: [...good, ...bad].map((x) => stepText(x.step)), tiers: [...good.map(() => 0), ...bad.map(() => 1)] });
    out.byLevel[nums.length]++;
  };
  for (const p of puzzles) {
    add(p);
    const l2 = shuffle(
      labelledChildren(p)
        .map((x) => x.step.left)
        .filter(mixed),
      rng,
    );
    for (const s of l2.slice(0, level2)) add(s);
    // two-number parents with a child of 24 are rare among random states: draw them from the three-number states' children
    const l3 = shuffle(
      labelledChildren(p).flatMap((x) =>
        labelledChildren(x.step.left)
          .map((y) => y.step.left)
          .filter(mixed),
      ),
      rng,
    );
    for (const s of l3.slice(0, level3)) add(s);
  }
  return out;
}

/** A reward model and the tokenizer it reads. */
export interface ValueModel {
  model: GPT;
  tok: Tokenizer;
}

/**
 * A value model from disk: `path` is a run directory with an `rm` stage (its newest or best
 * checkpoint) or a reward checkpoint; the threshold is `<run>/tot-value.json`'s when
 * `tot-value-eval` wrote one (else 0).
 * @throws GptforgeError when the checkpoint has no reward head, or from loadModel.
 */
export function loadValueModel(path: string): ValueModel & { threshold: number; dir: string } {
  const isRun = existsSync(runLayout(path).stage('rm'));
  const vm = loadRewardModel(path);
  const meta = join(path, 'tot-value.json');
  const threshold = isRun && existsSync(meta) ? Number((JSON.parse(readFileSync(meta, 'utf8')) as { threshold?: unknown }).threshold) : 0;
  if (!Number.isFinite(threshold)) throw new GptforgeError('tot-value.json: threshold must be a number', { file: meta, field: 'threshold' });
  return { model: vm.model, tok: vm.tok, threshold, dir: vm.dir };
}

/** The reward model's score of each child (its step line as the reply to its parent's proposal prompt), in the order given. */
export function scoreThoughts(vm: ValueModel, children: readonly { parent: readonly number[]; step: Step }[]): number[] {
  if (!vm.model.hasScalarHead) throw new GptforgeError('the value model has no reward head (score.weight); train one with "gptforge rm"');
  if (children.length === 0) return [];
  const L = vm.model.config.blockSize;
  const seqs = children.map((c) => {
    const ids = renderForReward(vm.tok, rankingConversation(proposePrompt(c.parent), stepText(c.step)));
    if (ids.length > L) throw new GptforgeError(`value model: the thought "${stepText(c.step)}" is ${ids.length} tokens with its prompt, more than the model's context of ${L}`);
    return ids;
  });
  return scoreSequences(vm.model, seqs, vm.tok.hasSpecial('<|pad|>') ? vm.tok.specialId('<|pad|>') : 0);
}

/**
 * Tree of thoughts' `value` hook from a reward model: P(sure) = σ(score − threshold), so a
 * state at the threshold is 0.5 (`threshold`: the score that best separates solvable from
 * unsolvable states on training states, `valueAccuracy`; default 0).
 */
export function rewardValue(vm: ValueModel, threshold = 0): NonNullable<TotOptions['value']> {
  return (_states, context) => {
    if (!context) throw new GptforgeError('value model: the search must pass each state with its parent and step');
    return scoreThoughts(vm, context).map((s) => 1 / (1 + Math.exp(-(s - threshold))));
  };
}

export interface ValueAccuracy {
  /** Child states scored (distinct numbers-left per parent). */
  states: number;
  solvable: number;
  /** The decision threshold used (given, or the one with the best balanced accuracy on these states). */
  threshold: number;
  /** Solvable/unsolvable verdict right at the threshold: all, on solvable states, on unsolvable ones. */
  accuracy: number;
  accuracySolvable: number;
  accuracyUnsolvable: number;
  /** P(a solvable child scores above an unsolvable sibling), over every such sibling pair (ties half). */
  pairAccuracy: number;
  pairs: number;
  /** P(a solvable state scores above an unsolvable one), any two states (the ROC AUC). */
  auc: number;
  meanSolvable: number;
  meanUnsolvable: number;
}

/**
 * How well the value model tells solvable from unsolvable states: every child of the given
 * parent states, scored and checked against the solver. Without `threshold` the accuracy is at
 * the threshold that maximises the balanced accuracy (the mean of the two classes') on these
 * states (use on training states, then pass it for held-out ones).
 */
export function valueAccuracy(vm: ValueModel, parents: readonly (readonly number[])[], threshold?: number): ValueAccuracy {
  const items: Array<{ parent: readonly number[]; step: Step; solvable: boolean; group: number }> = [];
  parents.forEach((p, g) => {
    for (const c of labelledChildren(p)) items.push({ parent: p, step: c.step, solvable: c.solvable, group: g });
  });
  return separation(
    scoreThoughts(vm, items),
    items.map((x) => x.solvable),
    items.map((x) => x.group),
    threshold,
  );
}

/**
 * How well `scores` separate the `positive` items from the others (see ValueAccuracy); pairs
 * are counted within a `group` (the children of one parent). Pure: valueAccuracy's arithmetic.
 * @throws GptforgeError when the three lists differ in length.
 */
export function separation(scores: readonly number[], positive: readonly boolean[], group: readonly number[], threshold?: number): ValueAccuracy {
  if (positive.length !== scores.length || group.length !== scores.length) throw new GptforgeError(`separation: ${scores.length} scores, ${positive.length} labels and ${group.length} groups`);
  const pos = scores.filter((_, i) => positive[i]);
  const neg = scores.filter((_, i) => !positive[i]);
  const accAt = (t: number): [number, number, number] => {
    const tp = pos.filter((s) => s > t).length;
    const tn = neg.filter((s) => s <= t).length;
    return [(tp + tn) / Math.max(1, scores.length), tp / Math.max(1, pos.length), tn / Math.max(1, neg.length)];
  };
  let t = threshold;
  if (t === undefined) {
    // candidate thresholds: every score (and below all of them); the best balanced accuracy
    // wins — three states in four are unsolvable, so plain accuracy would favour "impossible" for all
    let best = -Infinity;
    for (const c of [Math.min(...scores) - 1, ...scores]) {
      const [, p, n] = accAt(c);
      if (p + n > best) [best, t] = [p + n, c];
    }
  }
  const [accuracy, accuracySolvable, accuracyUnsolvable] = accAt(t ?? 0);
  // sibling pairs: solvable vs unsolvable children of one parent
  const byGroup = new Map<number, number[]>();
  scores.forEach((_, i) => byGroup.set(group[i], [...(byGroup.get(group[i]) ?? []), i]));
  let pairs = 0;
  let wins = 0;
  for (const members of byGroup.values())
    for (const i of members) {
      if (!positive[i]) continue;
      for (const j of members) {
        if (positive[j]) continue;
        pairs++;
        wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
      }
    }
  // AUC by ranks (Mann–Whitney U): for each positive, the negatives below it (ties half)
  const sortedNeg = [...neg].sort((x, y) => x - y);
  const firstAtLeast = (s: number, strict: boolean): number => {
    let lo = 0;
    let hi = sortedNeg.length;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (strict ? sortedNeg[m] <= s : sortedNeg[m] < s) lo = m + 1;
      else hi = m;
    }
    return lo;
  };
  let u = 0;
  for (const s of pos) {
    const below = firstAtLeast(s, false);
    u += below + (firstAtLeast(s, true) - below) / 2;
  }
  const mean = (xs: number[]): number => xs.reduce((x, y) => x + y, 0) / Math.max(1, xs.length);
  return {
    states: scores.length,
    solvable: pos.length,
    threshold: t ?? 0,
    accuracy,
    accuracySolvable,
    accuracyUnsolvable,
    pairAccuracy: pairs > 0 ? wins / pairs : NaN,
    pairs,
    auc: pos.length > 0 && neg.length > 0 ? u / (pos.length * neg.length) : NaN,
    meanSolvable: mean(pos),
    meanUnsolvable: mean(neg),
  };
}
