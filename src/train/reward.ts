import { Rng } from '../engine/rng.js';
import { fromArray, noGrad, type Tensor } from '../engine/tensor.js';
import * as op from '../engine/ops.js';
import type { GPT } from '../model/gpt.js';
import { train, type TrainConfig, type TrainOptions, type TrainResult } from './loop.js';

/**
 * Stage 3: reward modeling. Each completion of a ranked prompt is rendered as a conversation
 * with <|reward|> appended; the scalar head reads the hidden state at that token. The K
 * completions of a ranking run through the trunk together (one row each), and the loss is
 * binary classification over every pair of the ranking (InstructGPT):
 *
 *   loss = mean over rankings of  mean over pairs i better than j of  −log σ(r_i − r_j)
 *
 * The loss is computed in plain numbers; the model backpropagates Σ ∂loss/∂r_k · r_k, whose
 * gradient is exactly the loss's (the surrogate trick every later stage uses too).
 */

/** A ranking rendered for the reward model: token ids per completion (each ending with <|reward|>), best first. */
export interface RenderedRanking {
  completions: number[][];
}

export interface PairwiseResult {
  loss: number;
  /** ∂loss/∂r for every reward in the batch, in the same order. */
  grad: Float64Array;
  pairs: number;
  /** Pairs where the better completion got the higher reward. */
  correct: number;
  /** Mean of r_better − r_worse over the pairs. */
  margin: number;
}

/** log(1 + e^x) without overflow. */
export function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/**
 * The pairwise loss of a batch of rankings. `rewards` holds every ranking's rewards
 * back to back (best first), `sizes` how many completions each ranking has.
 */
export function pairwiseLoss(rewards: ArrayLike<number>, sizes: readonly number[]): PairwiseResult {
  const grad = new Float64Array(rewards.length);
  let loss = 0;
  let pairs = 0;
  let correct = 0;
  let margin = 0;
  let off = 0;
  for (const k of sizes) {
    const n = (k * (k - 1)) / 2;
    let l = 0;
    for (let i = 0; i < k; i++) {
      for (let j = i + 1; j < k; j++) {
        const d = rewards[off + i] - rewards[off + j];
        l += softplus(-d);
        // ∂/∂d of −log σ(d) is −σ(−d)
        const g = -sigmoid(-d) / n / sizes.length;
        grad[off + i] += g;
        grad[off + j] -= g;
        if (d > 0) correct++;
        margin += d;
        pairs++;
      }
    }
    loss += l / n;
    off += k;
  }
  return { loss: loss / sizes.length, grad, pairs, correct, margin: pairs > 0 ? margin / pairs : 0 };
}

/**
 * Rewards for a batch of rendered sequences (each ending with <|reward|>): the rows are
 * right-padded to the longest, and the scalar head is read at each row's last token.
 * Causal attention means padding after a row's end never changes its reward.
 */
export function rewardsOf(model: GPT, seqs: readonly number[][], padId: number): Tensor {
  const B = seqs.length;
  const T = Math.max(...seqs.map((s) => s.length));
  if (T > model.config.blockSize) throw new Error(`reward model: a sequence of ${T} tokens exceeds the context ${model.config.blockSize}`);
  const ids = new Int32Array(B * T).fill(padId);
  const at = new Int32Array(B);
  seqs.forEach((s, b) => {
    ids.set(s, b * T);
    at[b] = b * T + s.length - 1;
  });
  return model.scalar(model.hidden(ids, B, T), at);
}

/** Rewards as plain numbers, in batches (no gradient). */
export function scoreSequences(model: GPT, seqs: readonly number[][], padId: number, batch = 16): number[] {
  const out: number[] = [];
  noGrad(() => {
    for (let i = 0; i < seqs.length; i += batch) out.push(...rewardsOf(model, seqs.slice(i, i + batch), padId).data);
  });
  return out;
}

/** Items (rankings, DPO pair indices) in a seeded order, a few per micro-batch, epoch after epoch; {epoch, index} is the whole state. */
export class ShuffledLoader<T> {
  private order: number[] = [];
  private st = { epoch: 0, index: 0 };

  constructor(
    private readonly items: readonly T[],
    private readonly perBatch: number,
    private readonly seed = 1337,
  ) {
    if (items.length === 0) throw new Error('ShuffledLoader: no items');
    this.shuffle();
  }

  private shuffle(): void {
    const rng = new Rng(this.seed + 7919 * this.st.epoch);
    const a = this.items.map((_, i) => i);
    for (let i = a.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    this.order = a;
  }

  next(): T[] {
    const out: T[] = [];
    while (out.length < this.perBatch) {
      if (this.st.index >= this.order.length) {
        this.st = { epoch: this.st.epoch + 1, index: 0 };
        this.shuffle();
      }
      out.push(this.items[this.order[this.st.index++]]);
    }
    return out;
  }

  state(): { epoch: number; index: number } {
    return { ...this.st };
  }

  restore(s: unknown): void {
    const st = s as { epoch: number; index: number };
    if (typeof st?.epoch !== 'number' || typeof st.index !== 'number') throw new Error('bad loader state in trainer_state.json');
    this.st = { epoch: st.epoch, index: st.index };
    this.shuffle();
  }
}

export interface RewardSetup {
  /** The SFT model with a scalar head added (zero-initialised: every reward starts at 0). */
  model: GPT;
  train: ShuffledLoader<RenderedRanking>;
  val: readonly RenderedRanking[];
  padId: number;
  tokenizerJSON: string;
  tokenizerHash: string;
}

/** Pairwise accuracy, loss and margin of the model on held-out rankings. */
export function evaluateRankings(model: GPT, rankings: readonly RenderedRanking[], padId: number): Record<string, number> {
  if (rankings.length === 0) return {};
  const rewards: number[] = [];
  const sizes: number[] = [];
  noGrad(() => {
    for (let i = 0; i < rankings.length; i += 4) {
      const group = rankings.slice(i, i + 4);
      rewards.push(...scoreSequences(model, group.flatMap((r) => r.completions), padId));
      sizes.push(...group.map((r) => r.completions.length));
    }
  });
  const r = pairwiseLoss(rewards, sizes);
  return { 'val/loss': r.loss, 'val/accuracy': r.correct / r.pairs, 'val/margin': r.margin, 'val/pairs': r.pairs };
}

export async function trainRewardModel(setup: RewardSetup, cfg: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  const { model, padId } = setup;
  if (!model.hasScalarHead) throw new Error('trainRewardModel: the model has no scalar head');
  return train(
    {
      stage: 'rm',
      model,
      tokenizerJSON: setup.tokenizerJSON,
      tokenizerHash: setup.tokenizerHash,
      forwardMicroBatch: () => {
        const batch = setup.train.next();
        const seqs = batch.flatMap((r) => r.completions);
        const rewards = rewardsOf(model, seqs, padId);
        const res = pairwiseLoss(rewards.data, batch.map((r) => r.completions.length));
        const surrogate = op.sum(op.mul(rewards, fromArray(Float32Array.from(res.grad))));
        return {
          loss: surrogate,
          value: res.loss,
          tokens: seqs.reduce((n, s) => n + s.length, 0),
          metrics: { 'train/accuracy': res.correct / res.pairs, 'train/margin': res.margin },
        };
      },
      evaluate: () => evaluateRankings(model, setup.val, padId),
      state: () => setup.train.state(),
      restore: (s) => setup.train.restore(s),
    },
    cfg,
    opts,
  );
}
