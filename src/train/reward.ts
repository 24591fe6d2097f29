import { Rng, streamSeed } from '../engine/rng.js';
import { fromArray, noGradStep, type Tensor } from '../engine/tensor.js';
import * as op from '../engine/ops.js';
import type { GPT } from '../model/gpt.js';
import { padRows } from './batch.js';
import type { AdapterTraining } from './adapter.js';
import { train, type TrainConfig, type TrainOptions, type TrainResult } from './loop.js';
import { renderForReward } from '../data/chat.js';
import { pairCounts, rankingConversation, tierCount, type Ranking } from '../data/preferences.js';
import type { Tokenizer } from '../tokenizer/index.js';
import type { Conversation } from '../data/conversation.js';

/**
 * Stage 3: reward modeling. Each completion of a ranked prompt is rendered as a conversation
 * with <|reward|> appended; the scalar head reads the hidden state at that token. The K
 * completions of a ranking run through the trunk together (one row each), and the loss is
 * binary classification over every pair of the ranking that has a preference (InstructGPT;
 * pairs from the same tier are ties and carry no label, so they are left out):
 *
 *   loss = mean over rankings with a pair of  mean over pairs i better than j of  −log σ(r_i − r_j)
 *
 * optionally with the labelers' preference strength per pair (StrengthUse: a margin inside the
 * σ, or a weight on the pair; issue #24's thirteenth pass, docs/journal/rlhf.md).
 *
 * (the mean over rankings is over the whole optimizer step, however it is split into micro-batches)
 *
 * The loss is computed in plain numbers; the model backpropagates Σ ∂loss/∂r_k · r_k, whose
 * gradient is exactly the loss's (the surrogate trick every later stage uses too).
 */

/** A ranking rendered for the reward model: token ids per completion (each ending with <|reward|>), best first. */
export interface RenderedRanking {
  completions: number[][];
  /** The ranking's tiers (equal = tied; see data/preferences.ts); absent: strict order. */
  tiers?: number[];
  /**
   * The labelers' preference strength per pair i < j, row-major (Ranking.margin,
   * data/preferences.ts; tied pairs' entries unused); absent: 0 for every pair.
   */
  margin?: number[];
}

/**
 * How the labelers' preference strength enters the pairwise loss (preset `rm.train`):
 * `marginScale` s subtracts s · strength from the reward difference (Llama 2, Touvron et al.
 * 2023 §3.2.2: −log σ(r_c − r_r − m); TRL RewardTrainer's `margin` column), `strengthWeight` w
 * weights a pair's loss by 1 + w · strength within its ranking (the ranking's pairs still
 * average to one ranking's share). Both 0 (default): the plain InstructGPT loss.
 */
export interface StrengthUse {
  marginScale?: number;
  strengthWeight?: number;
}

export interface PairwiseResult {
  loss: number;
  /** ∂loss/∂r for every reward in the batch, in the same order. */
  grad: Float64Array;
  /** Pairs with a preference (different tiers): the only ones the loss and the counts below see. */
  pairs: number;
  /** Rankings with at least one such pair: the loss is the mean over these. */
  rankings: number;
  /** Tied pairs (same tier), left out. */
  tied: number;
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
 * back to back (best first), `sizes` how many completions each ranking has, and `tiers`
 * (optional, per ranking; undefined = strict order) each ranking's tiers: only pairs from
 * different tiers count. A ranking without such a pair (all tied) contributes nothing: it
 * is left out of the mean over rankings too, so ties never dilute the others' gradient.
 * A batch with no pair at all has loss 0 and a zero gradient.
 */
export function pairwiseLoss(rewards: ArrayLike<number>, sizes: readonly number[], tiers?: readonly (readonly number[] | undefined)[], margins?: readonly (readonly number[] | undefined)[], use: StrengthUse = {}): PairwiseResult {
  const s = use.marginScale ?? 0;
  const w = use.strengthWeight ?? 0;
  const grad = new Float64Array(rewards.length);
  // first pass: which rankings have a pair, so every gradient term can carry the final 1/rankings
  const counts = sizes.map((k, r) => {
    const t = tiers?.[r];
    if (t !== undefined && t.length !== k) throw new Error(`pairwiseLoss: ranking ${r} has ${k} rewards but ${t.length} tiers`);
    const m = margins?.[r];
    if (m !== undefined && m.length !== (k * (k - 1)) / 2) throw new Error(`pairwiseLoss: ranking ${r} has ${k} rewards but ${m.length} pair margins (want ${(k * (k - 1)) / 2})`);
    // with strengthWeight, n is the ranking's total pair weight (each pair 1 + w · strength)
    let n = 0;
    let p = 0;
    for (let i = 0; i < k; i++) for (let j = i + 1; j < k; j++, p++) if (t === undefined || t[i] !== t[j]) n += 1 + w * (m?.[p] ?? 0);
    return n;
  });
  const used = counts.filter((n) => n > 0).length;
  let loss = 0;
  let pairs = 0;
  let tied = 0;
  let correct = 0;
  let margin = 0;
  let off = 0;
  sizes.forEach((k, r) => {
    const n = counts[r];
    const t = tiers?.[r];
    const m = margins?.[r];
    let l = 0;
    let p = -1;
    for (let i = 0; i < k; i++) {
      for (let j = i + 1; j < k; j++) {
        p++;
        if (t !== undefined && t[i] === t[j]) {
          tied++;
          continue;
        }
        const d = rewards[off + i] - rewards[off + j];
        const strength = m?.[p] ?? 0;
        const x = d - s * strength;
        const weight = 1 + w * strength;
        l += weight * softplus(-x);
        // ∂/∂d of −log σ(d − s·m) is −σ(−(d − s·m))
        const g = (-weight * sigmoid(-x)) / n / used;
        grad[off + i] += g;
        grad[off + j] -= g;
        if (d > 0) correct++;
        margin += d;
        pairs++;
      }
    }
    if (n > 0) loss += l / n;
    off += k;
  });
  return { loss: used > 0 ? loss / used : 0, grad, pairs, rankings: used, tied, correct, margin: pairs > 0 ? margin / pairs : 0 };
}

/** Whether a ranking has at least one pair from different tiers (a preference to learn from). */
function hasPreference(r: RenderedRanking): boolean {
  const k = r.completions.length;
  if (k < 2) return false;
  return r.tiers === undefined || r.tiers.some((t) => t !== r.tiers![0]);
}

/**
 * Rewards for a batch of rendered sequences (each ending with <|reward|>): the rows are
 * right-padded to the longest, and the scalar head is read at each row's last token — or,
 * with `model.scorePool` ('last+mean'), at ½·h_last + ½·mean of the reply's hidden states
 * (poolWeights). Causal attention means padding after a row's end never changes its reward.
 * `padMultiple` rounds the padded length T up to a multiple (capped at the context), so that
 * batches of similar lengths have the same shapes and can reuse each other's op buffers.
 * Returns a [B, 1] tensor.
 */
export function rewardsOf(model: GPT, seqs: readonly number[][], padId: number, padMultiple = 1): Tensor {
  const B = seqs.length;
  const longest = Math.max(...seqs.map((s) => s.length));
  if (longest > model.config.blockSize) throw new Error(`reward model: a sequence of ${longest} tokens exceeds the context ${model.config.blockSize}`);
  const T = Math.min(model.config.blockSize, Math.ceil(longest / padMultiple) * padMultiple);
  const ids = padRows(seqs, T, padId);
  const hidden = model.hidden(ids, B, T);
  if (model.scorePool) {
    const C = model.config.nEmbd;
    const pooled = op.matmul(fromArray(poolWeights(seqs, T, model.scorePool.afterToken), [B, B * T]), op.reshape(hidden, [B * T, C]));
    return model.scoreRows(pooled);
  }
  const at = Int32Array.from(seqs, (s, b) => b * T + s.length - 1);
  return model.scalar(hidden, at);
}

/**
 * The pooling matrix [B, B·T] of GPT.scorePool 'last+mean': row b puts ½ on its last token and
 * ½ spread evenly over its reply — the tokens after the last `afterToken` before the last
 * token (no such token: the whole row after its first token, <|bos|>); a reply of no tokens
 * leaves the whole weight on the last token. Each row sums to 1.
 */
export function poolWeights(seqs: readonly (readonly number[])[], T: number, afterToken: number): Float32Array {
  const B = seqs.length;
  const P = new Float32Array(B * B * T);
  seqs.forEach((s, b) => {
    const last = s.length - 1;
    const from = Math.max(1, s.lastIndexOf(afterToken, last - 1) + 1);
    const n = last - from;
    const row = b * B * T + b * T;
    P[row + last] = n > 0 ? 0.5 : 1;
    for (let t = from; t < last; t++) P[row + t] = 0.5 / n;
  });
  return P;
}

/**
 * Scores of token sequences from something other than one reward model, e.g. an ensemble's
 * mean of standardized scores (bench/rm-second-draw.ts): one number per sequence, higher better.
 */
export type SequenceScorer = (seqs: readonly number[][]) => number[];

/**
 * Rewards as plain numbers (no gradient), one per sequence, in the input order.
 *
 * The sequences are scored longest first, `batch` rows at a time, so a batch's rows have
 * similar lengths (little padding) and each batch is padded to a multiple of 8 tokens: batches
 * of one padded length then share shapes, and their op buffers are recycled (noGradStep)
 * instead of allocated and garbage-collected afresh — scoring the small preset's held-out
 * rankings one ranking at a time spent a third of its time allocating and collecting
 * (docs/journal/rlhf.md). A row's reward does not depend on the other rows of its batch or on
 * padding after its end (causal attention), up to the kernels' rounding.
 */
export function scoreSequences(model: GPT, seqs: readonly number[][], padId: number, batch = 32): number[] {
  const order = seqs.map((_, i) => i).sort((a, b) => seqs[b].length - seqs[a].length || a - b);
  const out = new Array<number>(seqs.length);
  for (let i = 0; i < order.length; i += batch) {
    const rows = order.slice(i, i + batch);
    // a copy made inside the scope: the scope's buffers are reused once it ends
    const r = noGradStep(() =>
      rewardsOf(
        model,
        rows.map((j) => seqs[j]),
        padId,
        8,
      ).data.slice(),
    );
    rows.forEach((j, k) => (out[j] = r[k]));
  }
  return out;
}

/**
 * Reward-model scores of conversations (the reply last), rendered as the reward model was
 * trained (renderForReward: … <|reward|>). One longer than the model's context keeps its
 * <|bos|> and its end (the reward token): the oldest tokens after <|bos|> are dropped.
 */
export function scoreConversations(rm: GPT, tok: Tokenizer, convs: readonly Conversation[]): number[] {
  const L = rm.config.blockSize;
  const seqs = convs.map((c) => {
    const s = renderForReward(tok, c);
    return s.length > L ? [s[0], ...s.slice(s.length - L + 1)] : s;
  });
  return scoreSequences(rm, seqs, tok.specialId('<|pad|>'));
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
    this.order = new Rng(streamSeed(this.seed, this.st.epoch)).permutation(this.items.length);
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

/**
 * Several item streams mixed at a fixed count per micro-batch: `parts[i].count` items from
 * `parts[i].loader` each time, in order (issue #24: a fixed half of each RM batch kept for the
 * sampled rankings while the contrast pairs grow, so neither crowds the other out). Each
 * stream is shuffled and cycled on its own, so the small one repeats and the large one is
 * seen once — like HF datasets' `interleave_datasets(probabilities, stopping_strategy=
 * "all_exhausted")`, but with a fixed count per batch instead of a draw. The state is every
 * stream's {epoch, index}.
 */
export class MixedLoader<T> {
  /** Each loader gives its own number of items per micro-batch (its `perBatch`). */
  constructor(private readonly parts: readonly ShuffledLoader<T>[]) {
    if (parts.length === 0) throw new Error('MixedLoader: no streams');
  }

  next(): T[] {
    return this.parts.flatMap((p) => p.next());
  }

  state(): { parts: { epoch: number; index: number }[] } {
    return { parts: this.parts.map((p) => p.state()) };
  }

  restore(s: unknown): void {
    const st = s as { parts?: unknown[] };
    if (!Array.isArray(st?.parts) || st.parts.length !== this.parts.length) throw new Error(`bad loader state in trainer_state.json: expected ${this.parts.length} mixed streams (was rm.contrastFraction changed on resume?)`);
    this.parts.forEach((p, i) => p.restore(st.parts![i]));
  }
}

export interface RewardSetup {
  /** The SFT model with a scalar head added (zero-initialised: every reward starts at 0). */
  model: GPT;
  /** LoRA: train this adapter (and the scalar head) on the frozen SFT model (src/train/adapter.ts). */
  adapter?: AdapterTraining | null;
  train: ShuffledLoader<RenderedRanking> | MixedLoader<RenderedRanking>;
  val: readonly RenderedRanking[];
  padId: number;
  tokenizerJSON: string;
  tokenizerHash: string;
  /** The stage name in metrics.jsonl and the checkpoints (default `rm`). */
  stage?: string;
  /** The labelers' preference strength in the training loss (default: unused); held-out loss stays plain. */
  strength?: StrengthUse;
}

/**
 * Pairwise accuracy, loss and margin of the model on held-out rankings, over the pairs with
 * a preference (tied pairs have no right answer; 'val/tied' counts them). Empty when there
 * is no such pair.
 */
export function evaluateRankings(model: GPT, rankings: readonly RenderedRanking[], padId: number): Record<string, number> {
  // all-tied rankings (tiers never decrease: first tier = last) would be scored for nothing; only their tied pairs are counted
  const useful: RenderedRanking[] = [];
  let allTied = 0;
  for (const r of rankings) {
    const k = r.completions.length;
    if (r.tiers !== undefined && k > 0 && r.tiers[k - 1] === r.tiers[0]) allTied += (k * (k - 1)) / 2;
    else useful.push(r);
  }
  if (useful.length === 0) return {};
  // every completion scored in one pass (length-sorted batches), then split back by ranking
  const rewards = scoreSequences(
    model,
    useful.flatMap((r) => r.completions),
    padId,
  );
  const sizes = useful.map((r) => r.completions.length);
  const r = pairwiseLoss(
    rewards,
    sizes,
    useful.map((x) => x.tiers),
  );
  return { 'val/loss': r.loss, 'val/accuracy': r.correct / r.pairs, 'val/margin': r.margin, 'val/pairs': r.pairs, 'val/tied': r.tied + allTied };
}

/** Pairs with a preference of one kind, and how many of them the model orders right. */
export interface PairTally {
  pairs: number;
  correct: number;
}

/**
 * Pairwise accuracy split by a kind each pair is given, e.g. by which rubric term decided
 * it: a reward model can be near-perfect on form and at chance on facts, and the overall
 * figure hides which. `kindOf(r, better, worse)` names the kind of ranking r's pair
 * (indices into its completions, better first). Tied pairs are left out, as in
 * evaluateRankings.
 */
export function pairAccuracyByKind(model: GPT | SequenceScorer, rankings: readonly RenderedRanking[], padId: number, kindOf: (ranking: number, better: number, worse: number) => string): Record<string, PairTally> {
  const out: Record<string, PairTally> = {};
  // a model scores every completion in one pass (length-sorted batches); a scorer function is
  // called per ranking, as it may standardize over what it is given (an ensemble's mean)
  const flat =
    typeof model === 'function'
      ? null
      : scoreSequences(
          model,
          rankings.flatMap((r) => r.completions),
          padId,
        );
  let offset = 0;
  rankings.forEach((r, ri) => {
    const rewards = flat ? flat.slice(offset, offset + r.completions.length) : (model as SequenceScorer)(r.completions);
    offset += r.completions.length;
    for (let i = 0; i < rewards.length; i++) {
      for (let j = i + 1; j < rewards.length; j++) {
        if (r.tiers !== undefined && r.tiers[i] === r.tiers[j]) continue;
        const tally = (out[kindOf(ri, i, j)] ??= { pairs: 0, correct: 0 });
        tally.pairs++;
        if (rewards[i] > rewards[j]) tally.correct++;
      }
    }
  });
  return out;
}

export async function trainRewardModel(setup: RewardSetup, cfg: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  const { model, padId } = setup;
  if (!model.hasScalarHead) throw new Error('trainRewardModel: the model has no scalar head');
  return train(
    {
      stage: setup.stage ?? 'rm',
      scalarHead: 'reward',
      adapter: setup.adapter,
      model,
      tokenizerJSON: setup.tokenizerJSON,
      tokenizerHash: setup.tokenizerHash,
      nextMicroBatch: () => setup.train.next(),
      // the loss is a mean over rankings (each ranking's pairs averaged first, InstructGPT): the step's normaliser counts the rankings that have a pair
      weight: (batch) => batch.filter(hasPreference).length,
      forwardMicroBatch: (batch, total) => {
        const seqs = batch.flatMap((r) => r.completions);
        // padded to a multiple of 16 tokens: batches then share a few shapes whose buffers the step arena keeps (ARENA_KEEP_BYTES)
        const rewards = rewardsOf(model, seqs, padId, 16);
        const res = pairwiseLoss(
          rewards.data,
          batch.map((r) => r.completions.length),
          batch.map((r) => r.tiers),
          batch.map((r) => r.margin),
          setup.strength,
        );
        // pairwiseLoss averages over this micro-batch's rankings; rescale to its share of the step's mean
        const share = res.rankings / total;
        const surrogate = op.sum(op.mul(rewards, fromArray(Float32Array.from(res.grad, (g) => g * share))));
        // a batch of only all-tied rankings has no pair (run/rm.ts drops those rankings, so it is rare): no accuracy to log
        const metrics: Record<string, number> = res.pairs > 0 ? { 'train/accuracy': res.correct / res.pairs, 'train/margin': res.margin } : {};
        return {
          loss: surrogate,
          value: res.loss * share,
          tokens: seqs.reduce((n, s) => n + s.length, 0),
          metrics,
          metricsWeight: res.pairs,
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

export interface RenderedRankings {
  rendered: RenderedRanking[];
  /** For each rendered ranking, its index in the input. */
  sources: number[];
  /** Rankings dropped because a completion is longer than the context. */
  dropped: number;
  /** Rankings dropped because all their completions are tied (one tier: no pair to learn from). */
  tied: number;
  /** Pairs with a preference in `rendered` (what the loss sees). */
  pairs: number;
  /** Tied pairs left out: those in `rendered` plus those of the all-tied rankings. */
  tiedPairs: number;
}

/**
 * Render rankings for the reward model, tiers carried along (a ranking without tiers is a
 * strict order, as the files older versions wrote). Rankings with fewer than two tiers and
 * rankings with a completion longer than the context are dropped, each counted.
 */
export function renderRankings(tok: Tokenizer, rankings: readonly Ranking[], maxLen: number): RenderedRankings {
  const out: RenderedRankings = { rendered: [], sources: [], dropped: 0, tied: 0, pairs: 0, tiedPairs: 0 };
  for (const [index, r] of rankings.entries()) {
    const counts = pairCounts(r);
    if (tierCount(r) < 2) {
      out.tied++;
      out.tiedPairs += counts.tied;
      continue;
    }
    const seqs = r.completions.map((c) => renderForReward(tok, rankingConversation(r.prompt, c)));
    if (seqs.some((s) => s.length > maxLen)) {
      out.dropped++;
      continue;
    }
    const rendered: RenderedRanking = r.tiers !== undefined ? { completions: seqs, tiers: r.tiers } : { completions: seqs };
    if (r.margin !== undefined) rendered.margin = r.margin;
    out.rendered.push(rendered);
    out.sources.push(index);
    out.pairs += counts.preferred;
    out.tiedPairs += counts.tied;
  }
  return out;
}
