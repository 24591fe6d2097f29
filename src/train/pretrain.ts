import { noGrad } from '../engine/tensor.js';
import * as op from '../engine/ops.js';
import { GPT } from '../model/gpt.js';
import { flopsPerToken } from '../model/config.js';
import { train, type TrainConfig, type TrainOptions, type TrainResult } from './loop.js';

/**
 * Stage 1: pretraining. The model reads packed (B, T) rows of the data mixture and learns
 * to predict the next token; the result is a base model — a document completer.
 *
 *   for each step: inputs, targets ← loader.next() per micro-batch
 *                  loss ← Σ CE(model(inputs), targets) / (the step's target tokens)
 *   every evalEvery steps: loss (and bits per byte) on each source's validation split
 *
 * The loop itself (optimizer, schedule, checkpoints, resume) is the shared one in loop.ts.
 */

/** What pretraining needs from a data loader (src/data/loader.ts provides it). */
export interface BatchSource {
  next(): { inputs: Int32Array; targets: Int32Array };
  state(): unknown;
  restore(state: unknown): void;
}

export interface ValSplit {
  /** Source name, e.g. "books". */
  name: string;
  /** A fresh loader over this source's validation tokens (re-created for every evaluation so each eval sees the same batches). */
  open(): BatchSource;
  /** UTF-8 bytes per token in this split, for bits per byte. */
  bytesPerToken?: number;
}

/** `pretrain`'s model and data: batches of `batchSize` rows of `seqLen` tokens, held-out splits, the tokenizer saved with each checkpoint. */
export interface PretrainSetup {
  model: GPT;
  train: BatchSource;
  val: ValSplit[];
  batchSize: number;
  seqLen: number;
  /** Validation batches per source per evaluation. */
  evalBatches: number;
  tokenizerJSON: string;
  tokenizerHash: string;
}

/**
 * Pretraining (stage 1): next-token cross-entropy on packed (B, T) rows of the token shards,
 * through `train`; evaluates on each source's held-out split (loss in nats/token and bits per
 * byte). The run layer's `runPretrain` builds the setup from a preset.
 */
export async function pretrain(setup: PretrainSetup, cfg: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  const { model, batchSize: B, seqLen: T } = setup;
  if (T > model.config.blockSize) throw new Error(`pretrain: sequence length ${T} exceeds the model's context ${model.config.blockSize}`);
  return train(
    {
      stage: 'pretrain',
      model,
      tokenizerJSON: setup.tokenizerJSON,
      tokenizerHash: setup.tokenizerHash,
      flopsPerToken: 3 * flopsPerToken(model.config, T),
      nextMicroBatch: () => setup.train.next(),
      weight: ({ targets }) => supervisedTokens(targets),
      forwardMicroBatch: ({ inputs, targets }, total) => ({ loss: op.scale(model.loss(inputs, targets, B, T, undefined, 'sum'), 1 / total), tokens: B * T }),
      evaluate: () => evaluateSplits(model, setup.val, B, T, setup.evalBatches),
      state: () => setup.train.state(),
      restore: (s) => setup.train.restore(s),
    },
    cfg,
    opts,
  );
}

/** Targets that carry a loss (not the ignore index −1): the normaliser of a pretraining or SFT step. */
function supervisedTokens(targets: Int32Array): number {
  let n = 0;
  for (let i = 0; i < targets.length; i++) if (targets[i] !== -1) n++;
  return n;
}

/** Mean loss per validation source (and bits per byte where known), plus the token-weighted overall loss. */
export function evaluateSplits(model: GPT, splits: readonly ValSplit[], B: number, T: number, batches: number): Record<string, number> {
  const out: Record<string, number> = {};
  let total = 0;
  let count = 0;
  noGrad(() => {
    for (const split of splits) {
      const loader = split.open();
      let sum = 0;
      for (let i = 0; i < batches; i++) {
        const { inputs, targets } = loader.next();
        sum += model.loss(inputs, targets, B, T).item();
      }
      const loss = sum / batches;
      out[`val/loss/${split.name}`] = loss;
      if (split.bytesPerToken) out[`val/bpb/${split.name}`] = loss / Math.LN2 / split.bytesPerToken;
      total += sum;
      count += batches;
    }
  });
  if (count > 0) out['val/loss'] = total / count;
  return out;
}
