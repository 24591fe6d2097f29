import { noGrad } from '../engine/tensor.js';
import * as op from '../engine/ops.js';
import type { GPT } from '../model/gpt.js';
import { flopsPerToken } from '../model/config.js';
import type { PackedLoader } from '../data/sft.js';
import type { AdapterTraining } from './adapter.js';
import { train, type TrainConfig, type TrainOptions, type TrainResult } from './loop.js';

/**
 * Stage 2: supervised fine-tuning. The base model reads packed rows of conversations and
 * learns the same next-token objective as in pretraining, but the loss counts only the
 * assistant's tokens (its text, tool calls and <|assistant_end|>; chat.ts sets the mask):
 * the model learns to answer, not to imitate users or tools.
 *
 *   for each step: inputs, targets ← packed rows (targets −1 outside the mask)
 *                  loss ← mean CE over the assistant's tokens of the whole step (all its micro-batches)
 *   every evalEvery steps: the same loss on each task family's held-out conversations
 *
 * Initialisation from the base checkpoint is the caller's (run/sft.ts); the loop, checkpoints
 * (in sft/) and resume are the shared ones in loop.ts.
 */
export interface SftSetup {
  model: GPT;
  train: PackedLoader;
  /** Held-out conversations per source; each loader is a fixed single pass. */
  val: Map<string, () => PackedLoader>;
  batchSize: number;
  seqLen: number;
  tokenizerJSON: string;
  tokenizerHash: string;
  /** The stage name in checkpoints and metrics.jsonl (default `sft`; a second fine-tune of the same run names its own). */
  stage?: string;
  /** LoRA: train this adapter on the frozen base (src/train/adapter.ts). */
  adapter?: AdapterTraining | null;
}

/**
 * Supervised fine-tuning (stage 2; InstructGPT's SFT, Ouyang et al. 2022): cross-entropy on the
 * assistant's tokens only (the mask of each packed row), through `train`, with held-out loss per
 * source; LoRA when `setup.adapter` is given. The run layer's `runSft` builds the setup.
 */
export async function sft(setup: SftSetup, cfg: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  const { model, batchSize: B, seqLen: T } = setup;
  if (T > model.config.blockSize) throw new Error(`sft: sequence length ${T} exceeds the model's context ${model.config.blockSize}`);
  return train(
    {
      stage: setup.stage ?? 'sft',
      model,
      adapter: setup.adapter,
      tokenizerJSON: setup.tokenizerJSON,
      tokenizerHash: setup.tokenizerHash,
      flopsPerToken: 3 * flopsPerToken(model.config, T),
      nextMicroBatch: () => setup.train.next(),
      weight: (mb) => mb.lossTokens,
      forwardMicroBatch: ({ inputs, targets }, total) => ({ loss: op.scale(model.loss(inputs, targets, B, T, undefined, 'sum'), 1 / total), tokens: B * T }),
      evaluate: () => evaluateHeldOut(model, setup.val, B, T),
      state: () => setup.train.state(),
      restore: (s) => setup.train.restore(s),
    },
    cfg,
    opts,
  );
}

/** Masked loss per held-out source (val/loss/<name>) and over all of them (val/loss), token-weighted. */
export function evaluateHeldOut(model: GPT, val: ReadonlyMap<string, () => PackedLoader>, B: number, T: number): Record<string, number> {
  const out: Record<string, number> = {};
  let total = 0;
  let count = 0;
  noGrad(() => {
    for (const [name, open] of val) {
      const loader = open();
      const batches = Math.ceil(loader.rowsPerEpoch / B);
      let sum = 0;
      let n = 0;
      for (let i = 0; i < batches; i++) {
        const { inputs, targets, lossTokens } = loader.next();
        if (lossTokens === 0) continue;
        sum += model.loss(inputs, targets, B, T, undefined, 'sum').item();
        n += lossTokens;
      }
      if (n > 0) out[`val/loss/${name}`] = sum / n;
      total += sum;
      count += n;
    }
  });
  if (count > 0) out['val/loss'] = total / count;
  return out;
}
