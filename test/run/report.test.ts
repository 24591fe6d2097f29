import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rlReport, rmReport, sftReport } from '../../src/run/report.js';
import type { RunRmResult } from '../../src/run/rm.js';
import type { RunRlResult } from '../../src/run/rl.js';
import type { RunSftResult } from '../../src/run/sft.js';

test('report: a finished stage run again (no step left) says so instead of "train loss NaN"', () => {
  const base = { step: 150, checkpoint: 'runs/tiny/sft-mine/step-0000150', stageDir: 'runs/tiny/sft-mine', lastEval: { 'val/loss': 1.75 }, history: [] } as unknown as RunSftResult;
  const again = sftReport({ ...base, lastLoss: Number.NaN }, { chart: false });
  assert.doesNotMatch(again, /NaN/);
  assert.match(again, /no step left to run/);
  assert.match(again, /^sft-mine: /, 'named by its stage (sft --into sft-mine)');
  assert.match(again, /held-out loss 1\.750/);
  assert.match(sftReport({ ...base, lastLoss: 2.5 }, { chart: false }), /train loss 2\.500/);
});

test("report: RL's summary reads the last update's RM score and KL, not the validation record after it", () => {
  const r = {
    step: 8,
    checkpoint: 'runs/tiny/rl/step-0000008',
    stage: 'rl',
    history: [
      { step: 7, 'objective/scores': 0.1, 'objective/kl': 0.01 },
      { step: 8, 'objective/scores': 0.25, 'objective/kl': 0.04 },
      { step: 8, 'val/rubric': 2.1, 'val/accuracy': 0.3 },
    ],
    best: { step: 6, 'val/rubric': 2.3, 'val/accuracy': 0.35 },
  } as unknown as RunRlResult;
  const line = rlReport(r);
  assert.doesNotMatch(line, /NaN/);
  assert.match(line, /RM score 0\.250, KL 0\.040/);
  assert.match(line, /early stopping kept update 6/);
  // GRPO logs TRL GRPOTrainer's names: reward, and its per-reply KL as rollout/kl
  const grpo = { ...r, history: [{ step: 8, reward: 0.5, kl: 0.001, 'rollout/kl': 0.07 }] } as unknown as RunRlResult;
  assert.match(rlReport(grpo), /RM score 0\.500, KL 0\.070/);
});

test('report: a reward model whose held-out pairs are all tied says there is nothing to measure (not NaN%)', () => {
  const r = { stage: 'rm-lora', step: 4, checkpoint: 'runs/tiny/rm-lora/step-0000004', interrupted: false, lastEval: { 'val/pairs': 0, 'val/tied': 48 }, accuracy: Number.NaN, accuracyCleanBy: {}, accuracyCleanByContext: {} } as unknown as RunRmResult;
  const line = rmReport(r);
  assert.doesNotMatch(line, /NaN/);
  assert.equal(line, 'rm-lora: done at step 4; no held-out pair has a preference (48 tied), so there is no accuracy to report; checkpoint runs/tiny/rm-lora/step-0000004');
});

test("report: rm names whose rankings its accuracy is on — the simulated labelers' or yours", () => {
  const base = { stage: 'rm', step: 40, accuracy: 0.75, checkpoint: 'runs/tiny/rm/step-0000040', lastEval: { 'val/pairs': 12, 'val/margin': 0.5 }, history: [] } as unknown as RunRmResult;
  const yours = rmReport(base);
  assert.match(yours, /75\.0% on your held-out rankings \(the ~10% of prompts a hash of the prompt text sets aside\) \(12 pairs/);
  assert.doesNotMatch(yours, /labelers/);
  assert.match(rmReport({ ...base, accuracyClean: 0.8 }), /75\.0% on the simulated labelers' \(noisy\) rankings .*80\.0% on noise-free rankings/);
});
