import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT } from '../../src/model/gpt.js';
import { makeConfig } from '../../src/model/config.js';
import { dpoLoss, referenceLogProbs, trainDpo } from '../../src/train/dpo.js';
import { toyDpoPairs } from './fixture.js';
import type { TrainConfig } from '../../src/train/loop.js';

test('DPO loss: a hand-computed pair, its gradient and the metrics', () => {
  // β = 0.1; policy log π: chosen −5, rejected −6; reference: both −5.5
  // chosen reward 0.1·0.5 = 0.05, rejected 0.1·(−0.5) = −0.05, z = 0.1, loss = log(1 + e^−0.1) = 0.6443967
  const r = dpoLoss([-5], [-6], [-5.5], [-5.5], 0.1);
  assert.ok(Math.abs(r.loss - 0.64439666) < 1e-7, `${r.loss}`);
  const s = 1 / (1 + Math.exp(0.1)); // σ(−z)
  assert.ok(Math.abs(r.dChosen[0] - -0.1 * s) < 1e-12);
  assert.ok(Math.abs(r.dRejected[0] - 0.1 * s) < 1e-12);
  assert.ok(Math.abs(r.rewardsChosen - 0.05) < 1e-12 && Math.abs(r.rewardsRejected + 0.05) < 1e-12);
  assert.equal(r.accuracy, 1);
  assert.ok(Math.abs(r.margin - 0.1) < 1e-12);
  // policy = reference: z = 0, loss = log 2 whatever the pair
  assert.ok(Math.abs(dpoLoss([-3, -7], [-4, -1], [-3, -7], [-4, -1], 0.5).loss - Math.LN2) < 1e-12);
});

test('DPO: training on toy pairs makes the policy prefer the chosen replies', async (t) => {
  const { tok, pairs } = toyDpoPairs();
  const config = makeConfig({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16 });
  const model = new GPT(config, { seed: 9 });
  const ref = new GPT(config, { seed: 9 });
  const pad = tok.specialId('<|pad|>');
  const refLp = referenceLogProbs(ref, pairs, pad);
  const cfg: TrainConfig = { maxSteps: 30, lr: 5e-3, minLr: 5e-3, warmupSteps: 0, weightDecay: 0, beta1: 0.9, beta2: 0.99, gradClip: 1, gradAccum: 1, evalEvery: 0, checkpointEvery: 0, keepLast: 1 };
  const dir = mkdtempSync(join(tmpdir(), 'gf-dpo-'));
  try {
    const res = await trainDpo({ model, pairs, ref: refLp, val: pairs, valRef: refLp, pairsPerBatch: 4, beta: 0.1, padId: pad, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() }, cfg, { runDir: dir, stageDir: join(dir, 'dpo'), quiet: true });
    t.diagnostic(`val loss ${res.lastEval['val/loss'].toFixed(4)}, accuracy ${res.lastEval['val/rewards/accuracies']}`);
    assert.equal(res.lastEval['val/rewards/accuracies'], 1);
    assert.ok(res.lastEval['val/loss'] < Math.LN2 - 0.2, `loss ${res.lastEval['val/loss']}`);
    const after = referenceLogProbs(model, pairs.slice(0, 1), pad);
    assert.ok(after.chosen[0] - refLp.chosen[0] > after.rejected[0] - refLp.rejected[0]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
