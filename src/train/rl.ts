import { Rng } from '../engine/rng.js';
import { fromArray } from '../engine/tensor.js';
import * as op from '../engine/ops.js';
import { ChatEngine } from '../infer/engine.js';
import { GptforgeError } from '../util/errors.js';
import type { PackedBatch, PackedLoaderState } from '../data/sft.js';
import { train, type MicroBatchResult, type TrainConfig, type TrainOptions, type TrainResult } from './loop.js';
import { rlAlgorithm } from './rl/algorithms.js';
import type { RLConfig, RLSetup } from './rl/config.js';
import { mean, ppoValueLoss } from './rl/math.js';
import { forwardActions, minibatches, sampleRollouts, scoreRollouts, type Rollout } from './rl/rollout.js';

export { DEFAULT_RL, type RLAlgo, type RLConfig, type RLPrompt, type RLSetup } from './rl/config.js';
export { gae, grpoAdvantages, klK3, ppoPolicyLoss, ppoValueLoss, whiten } from './rl/math.js';
export { actionLogProbs } from './rl/rollout.js';

export function validateRL(rl: RLConfig, setup: Pick<RLSetup, 'policy' | 'rm' | 'reward' | 'prompts' | 'ptx'>, rmSource = 'reward model'): void {
  if (!setup.rm && !setup.reward) throw new Error('rl: give a reward model or a reward function');
  if (setup.rm && !setup.rm.hasScalarHead) throw new GptforgeError(`${rmSource} has no reward head (score.weight): train one with "gptforge rm" first`);
  if (setup.prompts.length === 0) throw new GptforgeError('rl: no prompts');
  rlAlgorithm(rl.algo).validate(rl, setup.policy);
  if (!(rl.ptxCoef >= 0)) throw new GptforgeError(`rl: ptxCoef must be ≥ 0, got ${rl.ptxCoef}`, { field: 'ptxCoef' });
  if (rl.ptxCoef > 0 && !setup.ptx) throw new Error('rl: ptxCoef > 0 needs SFT rows (setup.ptx)');
}

/** Optimizer steps per rollout batch. */
export function updatesPerRollout(rl: RLConfig): number {
  return rlAlgorithm(rl.algo).epochs(rl) * rl.minibatches;
}

interface RLState {
  rng: ReturnType<Rng['state']>;
  iteration: number;
  /** Minibatches of this rollout batch not yet trained on. */
  queue: Rollout[][];
  stats: Record<string, number>;
  scoreMean: number;
  scoreVar: number;
  scoreCount: number;
  baseline: number;
  /** Where the ptx loader is (absent without ptx; filled in when the state is saved). */
  ptx?: PackedLoaderState;
}

/**
 * Stage 4: reinforcement learning against the reward model. Each iteration runs five named
 * steps (rl/rollout.ts, rl/algorithms.ts), the same for every algorithm:
 *
 *   sample       replies from the policy on the KV-cache engine (tools run as in chat)
 *   score        RM(prompt, reply) [+ checker bonus] [− penalty if the reply never ended];
 *                log-probs of every sampled token under the policy (old) and the frozen SFT model (ref)
 *   advantages   per token, by the algorithm (below)
 *   minibatches  several epochs of minibatches over the rollout batch, a fresh order each
 *   update       one optimizer step per minibatch (gradAccum splits a minibatch into
 *                micro-batches; the loss is its mean either way):
 *     ppo        per-token reward −β·(old − ref), the score on the last token; GAE (γ, λ) on a
 *                value head that shares the policy's trunk; clipped ratio; clipped value loss
 *     grpo       G replies per prompt; advantage = (score − group mean) / group std; KL to ref
 *                (k3 estimator) in the loss, not the reward; no value head
 *     reinforce  the talk's plain form: Σ (reward − baseline)·log p(token), reward with −β·KL
 *     + ptx      (optional, any algorithm) γ × the SFT loss on a few packed rows of SFT data
 *                per update: InstructGPT's "PPO-ptx", which mixes the earlier stage's
 *                objective back in so RL does not unlearn what the reward model cannot see
 *                (the "alignment tax"). InstructGPT mixed pretraining data; here it is the
 *                SFT mixture, because what we must not lose is the tasks SFT taught.
 *
 * Only tokens the policy sampled are actions: tool outputs the engine forced are context.
 * Every objective is computed in plain numbers per token, and the model backpropagates the
 * surrogate Σ_t (∂L/∂(−log p_t))·(−log p_t) [+ Σ ∂L/∂V·V]: the same gradient as the objective,
 * through the same cross-entropy kernel as every other stage.
 */
/**
 * TRL GRPOTrainer's reward statistics of one rollout batch, `scores` in groups of `groupSize`
 * replies to one prompt: `reward` (the mean), `reward_std` (the mean over groups of the group's
 * standard deviation, n − 1 as torch's std) and `frac_reward_zero_std` (the share of groups whose
 * replies all scored alike: no advantage, nothing learnt from them).
 */
export function grpoRewardStats(scores: readonly number[], groupSize: number): { reward: number; reward_std: number; frac_reward_zero_std: number } {
  const stds: number[] = [];
  for (let g = 0; g < scores.length; g += groupSize) {
    const grp = scores.slice(g, g + groupSize);
    const m = mean(grp);
    stds.push(Math.sqrt(grp.reduce((s, x) => s + (x - m) ** 2, 0) / Math.max(1, grp.length - 1)));
  }
  return { reward: mean(scores), reward_std: mean(stds), frac_reward_zero_std: mean(stds.map((x) => (x === 0 ? 1 : 0))) };
}

export async function trainRL(setup: RLSetup, rl: RLConfig, cfg: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  validateRL(rl, setup);
  const algo = rlAlgorithm(rl.algo);
  const { policy, tok } = setup;
  const pad = tok.specialId('<|pad|>');
  const engine = new ChatEngine(policy, tok);
  const rng = new Rng(setup.seed ?? 1337);
  let st: RLState = { rng: rng.state(), iteration: 0, queue: [], stats: {}, scoreMean: 0, scoreVar: 1, scoreCount: 0, baseline: 0 };

  /** One iteration's rollout batch: sample, score, advantages, then the queue of minibatches the updates take. */
  const rollout = (): void => {
    const t0 = performance.now();
    rng.restore(st.rng);
    const { batch, replies, sampledTokens } = sampleRollouts(engine, setup, rl, algo.groupSize(rl), rng);
    const tRoll = performance.now();
    const { meanKl, entropy } = scoreRollouts(batch, replies, setup, rl, algo.usesValues);
    algo.advantages(batch, rl, scoreNormalizer(st, batch, rl.whitenRewards), st);
    const scores = batch.map((r) => r.score);
    const known = batch.filter((r) => r.correct !== undefined);
    const ours = {
      'rollout/tokens_per_sec': Math.round(sampledTokens / Math.max(1e-3, (tRoll - t0) / 1000)),
      ...(known.length ? { 'rollout/accuracy': mean(known.map((r) => (r.correct ? 1 : 0))) } : {}),
    };
    st.stats =
      rl.algo === 'grpo'
        ? {
            // TRL GRPOTrainer's names (reward: mean score; reward_std: the mean of the groups' std;
            // entropy: per action token). TRL's `kl` is the loss's per-token k3 term, logged per
            // update; the rollout's per-reply KL to the reference (what PPO logs as objective/kl,
            // and what klBound checks) is our own rollout/kl.
            ...grpoRewardStats(scores, algo.groupSize(rl)),
            entropy,
            'completions/mean_length': mean(batch.map((r) => r.actions.length)),
            'completions/clipped_ratio': mean(batch.map((r) => (r.ended ? 0 : 1))),
            'rollout/kl': meanKl,
            ...ours,
          }
        : {
            // TRL PPOTrainer's names
            'objective/scores': mean(scores),
            'objective/kl': meanKl,
            'objective/rlhf_reward': mean(scores) - rl.klCoef * meanKl,
            'objective/entropy': entropy,
            'rollout/ended': mean(batch.map((r) => (r.ended ? 1 : 0))),
            'rollout/reply_tokens': mean(batch.map((r) => r.actions.length)),
            ...ours,
          };
    if (meanKl > rl.klBound) {
      throw new GptforgeError(`rl: mean KL to the reference is ${meanKl.toFixed(2)} nats per reply, over the bound of ${rl.klBound}; stopping (the last checkpoint is intact). Lower the learning rate or raise klCoef.`);
    }
    st.queue = minibatches(batch, algo.epochs(rl), rl.minibatches, rng);
    st.iteration++;
    st.rng = rng.state();
  };

  /**
   * Step 5, update: one micro-batch of it. The objectives below are means over the
   * micro-batch's n action tokens; `share` = n / total turns each into this micro-batch's part
   * of the mean over the whole minibatch (the optimizer step), so splitting a minibatch into
   * micro-batches (gradAccum) changes neither the loss nor the gradient. The ptx rows are one
   * batch per step (given with the first micro-batch) with their own mean.
   */
  const update = (mb: Rollout[], total: number, ptxRows: PackedBatch | null): MicroBatchResult => {
    const f = forwardActions(policy, mb, pad, algo.usesValues);
    const logp: number[] = [];
    for (let i = 0; i < f.rows.length; i++) logp.push(-f.ce.data[f.rows[i]]);
    const n = logp.length;
    const policyPart = algo.policyLoss(logp, mb, rl);
    const pl = policyPart.pl;
    let loss = policyPart.loss;
    if (pl.ratio > rl.maxRatio) {
      throw new GptforgeError(`rl: the policy ratio averaged ${pl.ratio.toFixed(2)} on a minibatch (limit ${rl.maxRatio}): the update ran away; stopping (the last checkpoint is intact). Lower the learning rate.`);
    }
    const share = n / total;
    // −log p is what the model computes, so its weights are −∂L/∂log p
    const w = new Float32Array(f.ce.size);
    for (let i = 0; i < n; i++) w[f.rows[i]] = -pl.dlogp[i] * share;
    let surrogate = op.sum(op.mul(f.ce, fromArray(w, f.ce.shape)));
    let valueLoss = 0;
    if (algo.usesValues && f.values) {
      const vl = ppoValueLoss(
        f.values.data,
        mb.flatMap((r) => r.values),
        mb.flatMap((r) => r.returns),
        rl.clipRangeValue,
      );
      valueLoss = vl.loss;
      loss += rl.vfCoef * vl.loss;
      const gv = Float32Array.from(vl.dv, (d) => rl.vfCoef * d * share);
      surrogate = op.add(surrogate, op.sum(op.mul(f.values, fromArray(gv))));
    }
    loss *= share;
    let ptxLoss = 0;
    if (ptxRows && setup.ptx && ptxRows.lossTokens > 0) {
      const ce = policy.loss(ptxRows.inputs, ptxRows.targets, setup.ptx.B, setup.ptx.T);
      ptxLoss = ce.item();
      loss += rl.ptxCoef * ptxLoss;
      surrogate = op.add(surrogate, op.scale(ce, rl.ptxCoef));
    }
    return {
      loss: surrogate,
      value: loss,
      tokens: n,
      // GRPO: TRL GRPOTrainer's per-update names (no value head: no value loss to log as 0)
      metrics: rl.algo === 'grpo' ? { kl: policyPart.kl ?? 0, 'clip_ratio/region_mean': pl.clipfrac } : { 'policy/approxkl_avg': pl.approxkl, 'policy/clipfrac_avg': pl.clipfrac, 'val/ratio': pl.ratio, 'loss/policy_avg': pl.loss, 'loss/value_avg': valueLoss },
      stepMetrics: { ...st.stats, ...(ptxRows ? { 'loss/ptx_avg': ptxLoss } : {}), iteration: st.iteration },
    };
  };

  // the micro-batches of the current step: its minibatch split in gradAccum parts (TRL's
  // mini_batch_size = per-device batch × gradient_accumulation_steps)
  let parts: Rollout[][] = [];
  let ptxRows: PackedBatch | null = null;

  return train(
    {
      stage: setup.stage ?? 'rl',
      scalarHead: 'value',
      adapter: setup.adapter,
      model: policy,
      tokenizerJSON: tok.toJSON(),
      tokenizerHash: tok.hash(),
      nextMicroBatch: (index, count) => {
        if (index === 0) {
          if (st.queue.length === 0) rollout();
          const mb = st.queue.shift();
          if (!mb) throw new GptforgeError('rl: a rollout batch gave no minibatch (every reply was empty)');
          const size = Math.ceil(mb.length / count);
          parts = Array.from({ length: count }, (_, i) => mb.slice(i * size, (i + 1) * size));
          ptxRows = rl.ptxCoef > 0 && setup.ptx ? setup.ptx.next() : null;
        }
        return { rollouts: parts[index], ptx: index === 0 ? ptxRows : null };
      },
      weight: ({ rollouts }) => rollouts.reduce((s, r) => s + r.actions.length, 0),
      evaluate: setup.evaluate,
      forwardMicroBatch: ({ rollouts, ptx }, total) => update(rollouts, total, ptx),
      state: () => (setup.ptx ? { ...st, ptx: setup.ptx.state() } : st),
      restore: (s) => {
        st = s as RLState;
        rng.restore(st.rng);
        if (st.ptx && setup.ptx) setup.ptx.restore(st.ptx);
      },
    },
    cfg,
    opts,
  );
}

/**
 * Adds the batch's scores to the running score statistics (Welford) in `st`, and returns the
 * normalisation of a score into a reward: whitened by those statistics, or as is.
 */
function scoreNormalizer(st: RLState, batch: readonly Rollout[], whitenRewards: boolean): (score: number) => number {
  for (const r of batch) {
    st.scoreCount++;
    const d = r.score - st.scoreMean;
    st.scoreMean += d / st.scoreCount;
    st.scoreVar += (d * (r.score - st.scoreMean) - st.scoreVar) / st.scoreCount;
  }
  return (x) => (whitenRewards && st.scoreCount > 1 ? (x - st.scoreMean) / Math.sqrt(st.scoreVar + 1e-8) : x);
}
