import { fromArray, noGrad } from '../engine/tensor.js';
import * as op from '../engine/ops.js';
import type { GPT } from '../model/gpt.js';
import type { RenderedConversation } from '../data/chat.js';
import { ShuffledLoader, sigmoid, softplus } from './reward.js';
import { nextTokenBatch } from './batch.js';
import type { AdapterTraining } from './adapter.js';
import { train, type TrainConfig, type TrainOptions, type TrainResult } from './loop.js';

/**
 * Direct preference optimisation: the offline alternative to RM + RL. For each pair the
 * policy's log-likelihood of the chosen and rejected replies (assistant tokens only, the
 * SFT mask) is compared with the frozen reference's, computed once up front:
 *
 *   z = β·[(log π(chosen) − log ref(chosen)) − (log π(rejected) − log ref(rejected))]
 *   loss = −log σ(z), averaged over the optimizer step's pairs (all its micro-batches)
 *
 * The gradient reaches every assistant token of the pair through its cross-entropy:
 * ∂loss/∂log π(chosen) = −β·σ(−z), ∂loss/∂log π(rejected) = +β·σ(−z).
 */
export interface DpoPair {
  chosen: RenderedConversation;
  rejected: RenderedConversation;
}

export interface DpoLossResult {
  loss: number;
  /** ∂loss/∂(log π(chosen)) and ∂loss/∂(log π(rejected)) per pair. */
  dChosen: number[];
  dRejected: number[];
  rewardsChosen: number;
  rewardsRejected: number;
  accuracy: number;
  margin: number;
}

/** The DPO loss over a batch of pairs from sequence log-likelihoods (policy and reference). */
export function dpoLoss(piC: readonly number[], piR: readonly number[], refC: readonly number[], refR: readonly number[], beta: number): DpoLossResult {
  const n = piC.length;
  let loss = 0;
  let rc = 0;
  let rr = 0;
  let acc = 0;
  const dChosen: number[] = [];
  const dRejected: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = beta * (piC[i] - refC[i]);
    const r = beta * (piR[i] - refR[i]);
    const z = c - r;
    loss += softplus(-z) / n;
    const g = (beta * sigmoid(-z)) / n;
    dChosen.push(-g);
    dRejected.push(g);
    rc += c / n;
    rr += r / n;
    if (c > r) acc += 1 / n;
  }
  return { loss, dChosen, dRejected, rewardsChosen: rc, rewardsRejected: rr, accuracy: acc, margin: rc - rr };
}

/** Sum of log p over each sequence's masked (assistant) tokens, with the batch's cross-entropy tensor. */
function sequenceLogProbs(model: GPT, seqs: readonly RenderedConversation[], padId: number): { ce: ReturnType<typeof op.crossEntropy>; rowsOf: number[][]; logp: number[] } {
  const B = seqs.length;
  const maskedPositions = function* (b: number): Iterable<number> {
    const s = seqs[b];
    for (let t = 1; t < s.ids.length; t++) if (s.mask[t]) yield t;
  };
  const { ids, targets, T, rowsOf } = nextTokenBatch(seqs, maskedPositions, padId, model.config.blockSize, 'dpo');
  const ce = op.crossEntropy(model.forward(ids, B, T), targets, { reduction: 'none' });
  const logp = rowsOf.map((rows) => -rows.reduce((s, r) => s + ce.data[r], 0));
  return { ce, rowsOf, logp };
}

/** Reference log-likelihoods of every pair's chosen and rejected replies (no gradient). */
export function referenceLogProbs(ref: GPT, pairs: readonly DpoPair[], padId: number, batch = 8): { chosen: number[]; rejected: number[] } {
  const chosen: number[] = [];
  const rejected: number[] = [];
  noGrad(() => {
    for (let i = 0; i < pairs.length; i += batch) {
      const group = pairs.slice(i, i + batch);
      const { logp } = sequenceLogProbs(
        ref,
        group.flatMap((p) => [p.chosen, p.rejected]),
        padId,
      );
      group.forEach((_, k) => {
        chosen.push(logp[2 * k]);
        rejected.push(logp[2 * k + 1]);
      });
    }
  });
  return { chosen, rejected };
}

export interface DpoSetup {
  model: GPT;
  /** LoRA: train this adapter; compute `ref` with `adapter.lora.withAdaptersDisabled` (the reference is the base, adapter off). */
  adapter?: AdapterTraining | null;
  pairs: readonly DpoPair[];
  /** Reference log-likelihoods, aligned with pairs (computed once: referenceLogProbs). */
  ref: { chosen: number[]; rejected: number[] };
  val: readonly DpoPair[];
  valRef: { chosen: number[]; rejected: number[] };
  pairsPerBatch: number;
  beta: number;
  padId: number;
  tokenizerJSON: string;
  tokenizerHash: string;
  seed?: number;
  /** Stage name in metrics.jsonl and the checkpoints' trainer state (default `dpo`). */
  stage?: string;
}

export function evaluateDpo(model: GPT, pairs: readonly DpoPair[], ref: { chosen: number[]; rejected: number[] }, beta: number, padId: number): Record<string, number> {
  if (pairs.length === 0) return {};
  const pol = referenceLogProbs(model, pairs, padId);
  const r = dpoLoss(pol.chosen, pol.rejected, ref.chosen, ref.rejected, beta);
  return { 'val/loss': r.loss, 'val/rewards/accuracies': r.accuracy, 'val/rewards/margins': r.margin };
}

export async function trainDpo(setup: DpoSetup, cfg: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  const { model, padId, beta } = setup;
  // pairs are served by index, so the loader's state stays a small {epoch, index}
  const loader = new ShuffledLoader(
    setup.pairs.map((_, i) => i),
    setup.pairsPerBatch,
    setup.seed ?? 1337,
  );
  return train(
    {
      stage: setup.stage ?? 'dpo',
      adapter: setup.adapter,
      model,
      tokenizerJSON: setup.tokenizerJSON,
      tokenizerHash: setup.tokenizerHash,
      nextMicroBatch: () => loader.next(),
      weight: (idx) => idx.length,
      forwardMicroBatch: (idx, total) => {
        const seqs = idx.flatMap((i) => [setup.pairs[i].chosen, setup.pairs[i].rejected]);
        const { ce, rowsOf, logp } = sequenceLogProbs(model, seqs, padId);
        const res = dpoLoss(
          idx.map((_, k) => logp[2 * k]),
          idx.map((_, k) => logp[2 * k + 1]),
          idx.map((i) => setup.ref.chosen[i]),
          idx.map((i) => setup.ref.rejected[i]),
          beta,
        );
        // dpoLoss averages over this micro-batch's pairs; the step's loss averages over all its pairs
        const share = idx.length / total;
        // ce = −log p per token: its weight is −∂loss/∂log π of the token's sequence
        const w = new Float32Array(ce.size);
        idx.forEach((_, k) => {
          for (const row of rowsOf[2 * k]) w[row] = -res.dChosen[k] * share;
          for (const row of rowsOf[2 * k + 1]) w[row] = -res.dRejected[k] * share;
        });
        return {
          loss: op.sum(op.mul(ce, fromArray(w, ce.shape))),
          value: res.loss * share,
          tokens: seqs.reduce((s, q) => s + q.ids.length, 0),
          metrics: { 'rewards/chosen': res.rewardsChosen, 'rewards/rejected': res.rewardsRejected, 'rewards/accuracies': res.accuracy, 'rewards/margins': res.margin },
        };
      },
      evaluate: () => evaluateDpo(model, setup.val, setup.valRef, beta, padId),
      state: () => loader.state(),
      restore: (s) => loader.restore(s),
    },
    cfg,
    opts,
  );
}
