import type { GPT } from '../../model/gpt.js';
import { GptforgeError } from '../../util/errors.js';
import type { RLAlgo, RLConfig } from './config.js';
import { gae, grpoAdvantages, klK3, mean, ppoPolicyLoss, whiten, type PolicyLoss } from './math.js';
import type { Rollout } from './rollout.js';

/**
 * What sets PPO, GRPO and REINFORCE apart, one object each, so the stage (../rl.ts) runs the
 * same steps — sample, score, advantages, minibatches, update — for all three:
 *
 *   ppo        per-token reward −β·(old − ref), the score on the last token; GAE (γ, λ) on a
 *              value head that shares the policy's trunk; clipped ratio; clipped value loss
 *              (Schulman et al. 2017; Ouyang et al. 2022, InstructGPT; TRL's PPOTrainer)
 *   grpo       G replies per prompt; advantage = (score − group mean) / group std; KL to ref
 *              (k3 estimator) in the loss, not the reward; no value head (Shao et al. 2024)
 *   reinforce  the plain form: Σ (reward − baseline)·log p(token), reward with −β·KL, the
 *              baseline a running mean of the reward (Williams 1992)
 */
export interface RLAlgorithm {
  readonly name: RLAlgo;
  /** Whether the policy's scalar head is a value function: values at rollout, a clipped value loss in the update. */
  readonly usesValues: boolean;
  /** Replies sampled per prompt. */
  groupSize(rl: RLConfig): number;
  /** Passes over each rollout batch. */
  epochs(rl: RLConfig): number;
  /** Refuse a configuration or a policy this algorithm cannot train. */
  validate(rl: RLConfig, policy: GPT): void;
  /**
   * Step 3, advantages: every rollout's per-token `advantages` (and `returns` where there is
   * a value function). `norm` is the score normalisation (running whitening, or identity);
   * `state` is the stage's resumable state, for algorithms that keep a baseline.
   */
  advantages(batch: readonly Rollout[], rl: RLConfig, norm: (score: number) => number, state: { baseline: number; iteration: number }): void;
  /**
   * The policy part of step 5, update: the loss over a minibatch's action tokens (`logp`: their
   * log-probs under the current policy, in the minibatch's order) and its ∂/∂log p in `pl.dlogp`;
   * `loss` adds terms beyond `pl.loss` (GRPO's KL).
   */
  /** `kl`: the per-token KL term the loss holds (GRPO's k3 to the reference), where it has one. */
  policyLoss(logp: readonly number[], mb: readonly Rollout[], rl: RLConfig): { pl: PolicyLoss; loss: number; kl?: number };
}

/** PPO's clipped surrogate over a minibatch's actions (the old log-probs and advantages of its rollouts); PPO and GRPO share it. */
function clippedPolicyLoss(logp: readonly number[], mb: readonly Rollout[], rl: RLConfig): PolicyLoss {
  return ppoPolicyLoss(
    logp,
    mb.flatMap((r) => r.old),
    mb.flatMap((r) => r.advantages),
    rl.clipRange,
  );
}

const PPO: RLAlgorithm = {
  name: 'ppo',
  usesValues: true,
  groupSize: () => 1,
  epochs: (rl) => rl.epochs,
  validate(_rl, policy) {
    if (!policy.hasScalarHead) throw new Error('rl: PPO needs a value head on the policy (addScalarHead)');
  },
  advantages(batch, rl, norm) {
    const all: number[] = [];
    for (const r of batch) {
      const rewards = r.old.map((o, t) => -rl.klCoef * (o - r.ref[t]));
      rewards[rewards.length - 1] += norm(r.score);
      const g = gae(rewards, r.values, rl.gamma, rl.lam);
      r.advantages = g.advantages;
      r.returns = g.returns;
      all.push(...g.advantages);
    }
    const w = whiten(all);
    let k = 0;
    for (const r of batch) r.advantages = r.advantages.map(() => w[k++]);
  },
  policyLoss(logp, mb, rl) {
    const pl = clippedPolicyLoss(logp, mb, rl);
    return { pl, loss: pl.loss };
  },
};

const GRPO: RLAlgorithm = {
  name: 'grpo',
  usesValues: false,
  groupSize: (rl) => rl.groupSize,
  epochs: (rl) => rl.epochs,
  validate(rl) {
    if (rl.groupSize < 2) throw new GptforgeError('rl: GRPO needs groupSize ≥ 2', { field: 'groupSize' });
  },
  advantages(batch, rl) {
    const adv = grpoAdvantages(
      batch.map((r) => r.score),
      rl.groupSize,
    );
    batch.forEach((r, i) => (r.advantages = r.old.map(() => adv[i])));
  },
  policyLoss(logp, mb, rl) {
    const pl = clippedPolicyLoss(logp, mb, rl);
    const ref = mb.flatMap((r) => r.ref);
    const n = logp.length;
    let kl = 0;
    for (let t = 0; t < n; t++) {
      const k3 = klK3(logp[t], ref[t]);
      kl += k3.kl / n;
      pl.dlogp[t] += (rl.klCoef * k3.dlogp) / n;
    }
    return { pl, loss: pl.loss + rl.klCoef * kl, kl };
  },
};

const REINFORCE: RLAlgorithm = {
  name: 'reinforce',
  usesValues: false,
  groupSize: () => 1,
  epochs: () => 1,
  validate() {},
  advantages(batch, rl, norm, state) {
    // reward = normalised score − β·KL, baseline = running mean of it
    const rewards = batch.map((r) => norm(r.score) - rl.klCoef * r.old.reduce((s, o, t) => s + o - r.ref[t], 0));
    const m = rewards.reduce((s, x) => s + x, 0) / Math.max(1, rewards.length);
    batch.forEach((r, i) => (r.advantages = r.old.map(() => rewards[i] - state.baseline)));
    state.baseline = state.iteration === 0 ? m : 0.9 * state.baseline + 0.1 * m;
  },
  policyLoss(logp, mb) {
    const old = mb.flatMap((r) => r.old);
    const adv = mb.flatMap((r) => r.advantages);
    const n = logp.length;
    const dlogp = new Float64Array(n);
    let loss = 0;
    for (let t = 0; t < n; t++) {
      loss -= (adv[t] * logp[t]) / n;
      dlogp[t] = -adv[t] / n;
    }
    const pl = { loss, dlogp, clipfrac: 0, approxkl: 0.5 * mean(logp.map((l, t) => (l - old[t]) ** 2)), ratio: mean(logp.map((l, t) => Math.exp(l - old[t]))) };
    return { pl, loss };
  },
};

const ALGORITHMS: Record<RLAlgo, RLAlgorithm> = { ppo: PPO, grpo: GRPO, reinforce: REINFORCE };

/** The algorithm object for a name; an unknown name is refused by name. */
export function rlAlgorithm(name: string): RLAlgorithm {
  const algo = Object.hasOwn(ALGORITHMS, name) ? ALGORITHMS[name as RLAlgo] : undefined;
  if (!algo) throw new GptforgeError(`rl: unknown algorithm "${name}" (ppo, grpo, reinforce)`, { field: 'algo' });
  return algo;
}
