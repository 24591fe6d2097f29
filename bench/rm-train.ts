/**
 * The reward-model set-up the RM benches share (bench/rm-overfit.ts, bench/rm-calc-synth.ts):
 * a scalar-head model from a run's stage (or a fresh one of its shape), the right-over-wrong
 * accuracy of a list of two-completion rankings, and a short `trainRewardModel` run in a
 * temporary run directory with the training loss averaged between evaluations.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT } from '../src/model/gpt.js';
import { loadModel } from '../src/run/models.js';
import type { Tokenizer } from '../src/tokenizer/index.js';
import { type RenderedRanking, ShuffledLoader, scoreSequences, trainRewardModel } from '../src/train/reward.js';

/** What a bench RM is made from: the run, its stage, checkpoint weights or a random start of that shape, and the head's pooling. */
export interface BenchRmOptions {
  run: string;
  from: string;
  init: 'ckpt' | 'random' | string;
  pooling: 'last' | 'last+mean' | string;
  /** Seeds the random start (init=random). */
  seed: number;
}

/** A reward model for a bench: `from`'s weights (or, init=random, fresh ones of its shape) with a scalar head; its tokenizer and pad id. */
export function benchRewardModel(o: BenchRmOptions): { model: GPT; tok: Tokenizer; pad: number } {
  const loaded = loadModel(o.run, o.from, { fresh: true });
  const tok = loaded.tok;
  const model = o.init === 'random' ? new GPT(loaded.model.config, { seed: 7 + o.seed }) : loaded.model;
  model.addScalarHead();
  if (o.pooling === 'last+mean') model.scorePool = { mode: 'last+mean', afterToken: tok.specialId('<|user_end|>') };
  return { model, tok, pad: tok.specialId('<|pad|>') };
}

/** For each two-completion ranking (the better first), whether the model scores the first above the second. */
export function rightAbove(model: GPT, pad: number, rs: readonly RenderedRanking[]): boolean[] {
  const s = scoreSequences(
    model,
    rs.flatMap((r) => r.completions),
    pad,
  );
  return rs.map((_, i) => s[2 * i] > s[2 * i + 1]);
}

/** One evaluation point of benchTrain: the step, and the mean training loss over the steps since the last point. */
export interface BenchEval {
  step: number;
  meanLoss: number;
  /** The loop's eval record at this step (`val/accuracy` on `val`). */
  record: Record<string, unknown>;
}

/** The training settings a bench varies; the rest are the stage's (β 0.9/0.95, clip 1, minLr lr/10). */
export interface BenchTrainOptions {
  model: GPT;
  tok: Tokenizer;
  pad: number;
  train: RenderedRanking[];
  val: RenderedRanking[];
  batch: number;
  seed: number;
  steps: number;
  lr: number;
  warmup: number;
  weightDecay: number;
  evalEvery: number;
  onEval: (e: BenchEval) => void;
}

/**
 * Trains the model on `train` (shuffled, `batch` rankings a step) for `steps` steps in a
 * temporary run directory, removed afterwards, and calls `onEval` every `evalEvery` steps
 * with the mean training loss since the previous call.
 */
export async function benchTrain(o: BenchTrainOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gf-rm-bench-'));
  let lossSum = 0;
  let lossN = 0;
  try {
    await trainRewardModel(
      { model: o.model, train: new ShuffledLoader(o.train, o.batch, o.seed), val: o.val, padId: o.pad, tokenizerJSON: o.tok.toJSON(), tokenizerHash: o.tok.hash(), stage: 'rm' },
      { maxSteps: o.steps, lr: o.lr, minLr: o.lr / 10, warmupSteps: Math.min(o.warmup, o.steps), weightDecay: o.weightDecay, beta1: 0.9, beta2: 0.95, gradClip: 1, gradAccum: 1, evalEvery: o.evalEvery, checkpointEvery: o.steps, keepLast: 1, logEvery: 1 },
      {
        runDir: dir,
        stageDir: join(dir, 'rm'),
        resume: false,
        quiet: true,
        onStep: (r) => {
          lossSum += Number(r.loss);
          lossN++;
        },
        onEval: (h) => {
          const record = h[h.length - 1];
          o.onEval({ step: record.step, meanLoss: lossSum / Math.max(1, lossN), record });
          lossSum = 0;
          lossN = 0;
        },
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
