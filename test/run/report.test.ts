import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sftReport } from '../../src/run/report.js';
import type { RunSftResult } from '../../src/run/sft.js';

test('report: a finished stage run again (no step left) says so instead of "train loss NaN"', () => {
  const base = { step: 150, checkpoint: 'runs/tiny/sft/step-0000150', lastEval: { 'val/loss': 1.75 }, history: [] } as unknown as RunSftResult;
  const again = sftReport({ ...base, lastLoss: Number.NaN }, { chart: false });
  assert.doesNotMatch(again, /NaN/);
  assert.match(again, /no step left to run/);
  assert.match(again, /held-out loss 1\.750/);
  assert.match(sftReport({ ...base, lastLoss: 2.5 }, { chart: false }), /train loss 2\.500/);
});
