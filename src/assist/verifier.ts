import type { Ranking } from '../data/preferences.js';
import { longAddition } from '../data/synthetic/longarith.js';
import type { SyntheticTask } from '../data/synthetic/task.js';
import type { ChatEngine } from '../infer/engine.js';
import { GptforgeError } from '../util/errors.js';
import type { SamplingSetting } from './consistency-curve.js';

/**
 * A verifier's training data (Cobbe et al. 2021, "Training verifiers to solve math word
 * problems"): the model's OWN sampled step-by-step replies to training problems, each labelled
 * right or wrong by the family's checker. Cobbe et al. train a per-token value head on the
 * binary labels; here the labels become rankings with two tiers (right = 0, wrong = 1) per
 * problem (no "task" field: the rankings reader knows only the default families), so the project's reward-model stage (`gptforge rm --rankings`, src/train/reward.ts)
 * trains the verifier as it trains any RM: −log σ(r_right − r_wrong) over the pairs of one
 * problem. A problem whose samples are all right or all wrong makes no pair and is counted, not
 * written. The problems come from the family's train split only, so a verifier trained on
 * them never sees a test problem (measureConsistencyCurve asks the test split).
 */

export interface VerifierDataOptions {
  /** The family (default long addition, step by step). */
  task?: SyntheticTask;
  /** Distinct training problems to sample. */
  problems: number;
  minDigits: number;
  maxDigits: number;
  /** Samples per problem. */
  k: number;
  sampling: SamplingSetting;
  /** Seed of the problems; the samples use seed … seed + k − 1 per problem. */
  seed?: number;
  maxTokens?: number;
  /** At most this many distinct right and this many distinct wrong replies per ranking (default 4: ≤ 16 pairs). */
  perTier?: number;
  onProblem?(done: number): void;
}

export interface VerifierData {
  /** One per problem with both a right and a wrong reply: right ones first (tier 0), then wrong (tier 1). */
  rankings: Ranking[];
  problems: number;
  samples: number;
  /** Samples the checker accepts. */
  right: number;
  /** Problems whose samples were all right / all wrong (no pair, not written). */
  allRight: number;
  allWrong: number;
}

/**
 * Samples `k` step-by-step replies to each of `problems` distinct train-split problems and
 * labels each with the family's checker (see the module comment).
 *
 * @throws GptforgeError for k < 2 or perTier < 1.
 */
export function verifierRankings(engine: ChatEngine, o: VerifierDataOptions): VerifierData {
  const task = o.task ?? longAddition;
  const perTier = o.perTier ?? 4;
  if (!Number.isInteger(o.k) || o.k < 2) throw new GptforgeError(`verifier data: k must be an integer ≥ 2 (a pair needs two samples), got ${o.k}`, { field: 'k' });
  if (!Number.isInteger(perTier) || perTier < 1) throw new GptforgeError(`verifier data: perTier must be a positive integer, got ${perTier}`, { field: 'perTier' });
  const seen = new Set<string>();
  const prompts: string[] = [];
  // distinct problems: the generator can repeat an item (few 1–2-digit sums exist)
  for (const e of task.generate('train', o.problems * 4, o.seed ?? 2024, { variant: { minDigits: o.minDigits, maxDigits: o.maxDigits, mode: 'cot' } })) {
    if (seen.has(e.prompt)) continue;
    seen.add(e.prompt);
    prompts.push(e.prompt);
    if (prompts.length === o.problems) break;
  }
  const out: VerifierData = { rankings: [], problems: prompts.length, samples: 0, right: 0, allRight: 0, allWrong: 0 };
  prompts.forEach((prompt, i) => {
    const replies = engine.replies({ messages: [{ role: 'user', content: prompt }] }, o.k, { ...o.sampling, seed: (o.seed ?? 2024) + i * o.k, maxTokens: o.maxTokens ?? 320, shareHistories: true });
    const right: string[] = [];
    const wrong: string[] = [];
    for (const r of replies) {
      const ok = task.check(prompt, r.text);
      out.samples++;
      if (ok) out.right++;
      const tier = ok ? right : wrong;
      // distinct replies only: a duplicate adds the same pairs again
      if (!tier.includes(r.text) && tier.length < perTier) tier.push(r.text);
    }
    o.onProblem?.(i + 1);
    if (wrong.length === 0) out.allRight++;
    else if (right.length === 0) out.allWrong++;
    else out.rankings.push({ prompt, completions: [...right, ...wrong], tiers: [...right.map(() => 0), ...wrong.map(() => 1)] });
  });
  return out;
}
