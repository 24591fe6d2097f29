import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { estimatePipeline } from '../../src/run/estimate.js';
import { loadPreset } from '../../src/run/presets.js';

test("estimatePipeline: the techniques stage is estimated only when asked, from its own model's timed steps, resume-aware", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-estimate-'));
  try {
    const { preset } = loadPreset('tiny');
    const tiny = { ...preset, train: { ...preset.train, maxSteps: 2 }, techniques: { steps: 3, perCell: 2 } };
    const without = estimatePipeline(dir, tiny, 512, 1);
    assert.ok(!without.stages.some((s) => s.stage === 'techniques'));
    const withT = estimatePipeline(dir, tiny, 512, 1, { techniques: true });
    const t = withT.stages.find((s) => s.stage === 'techniques');
    assert.ok(t, 'a techniques stage');
    assert.ok(t.seconds > 0);
    assert.match(t.basis, /^the addition model: 3 steps × 8×256 forward\+backward; 4 lengths × 2 problems/);
    assert.ok(Math.abs(withT.total - withT.stages.reduce((s, x) => s + x.seconds, 0)) < 1e-9);
    // the other stages are timed on the run's model, not the techniques one
    assert.match(withT.stages[0].basis, /^2 steps × /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the small preset (npm start) runs the techniques stage by default; the tiny one does not', () => {
  assert.ok(loadPreset('small').preset.techniques);
  assert.equal(loadPreset('tiny').preset.techniques, undefined);
});
