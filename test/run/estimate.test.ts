import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPreset } from '../../src/run/presets.js';
import { estimatePipeline, estimateText, fastestRun } from '../../src/run/estimate.js';
import { isArenaEnabled, setArenaEnabled } from '../../src/engine/tensor.js';
import { GPT } from '../../src/model/gpt.js';

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

test('estimatePipeline: a finished stage counts as done, unless the run starts over (--fresh)', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-estimate-'));
  try {
    const { preset } = loadPreset('tiny');
    const tiny = { ...preset, train: { ...preset.train, maxSteps: 2 } };
    mkdirSync(join(dir, 'base'), { recursive: true });
    writeFileSync(join(dir, 'base', 'latest.json'), JSON.stringify({ checkpoint: 'step-0000002', step: 2 }));
    const resumed = estimatePipeline(dir, tiny, 512, 1);
    assert.match(resumed.stages[0].basis, /^0 steps × /);
    assert.equal(resumed.stages[0].seconds, 0);
    const fresh = estimatePipeline(dir, tiny, 512, 1, { fresh: true });
    assert.match(fresh.stages[0].basis, /^2 steps × /);
    assert.ok(fresh.stages[0].seconds > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the small preset (npm start) runs the techniques stage by default; the tiny one does not', () => {
  assert.ok(loadPreset('small').preset.techniques);
  assert.equal(loadPreset('tiny').preset.techniques, undefined);
});

test('the unit timing is the fastest of several runs: a burst of other load in one run does not inflate it', () => {
  const busy = (ms: number): void => {
    const until = performance.now() + ms;
    while (performance.now() < until);
  };
  let call = 0;
  // the 2nd of 3 runs is slowed 30× (another process took the core): the estimate must not follow it
  const s = fastestRun(3, () => busy(call++ === 1 ? 300 : 10));
  assert.equal(call, 3);
  assert.ok(s >= 0.01 && s < 0.1, `${s} s`);
  const line = estimateText({ stages: [{ stage: 'pretraining', seconds: 60, basis: 'x' }], total: 60, machine: 'm', calibrationSeconds: 2 });
  assert.match(line, /the fastest of several runs of each/);
  assert.match(line, /once a stage runs, its progress line re-estimates its ETA from the measured rate/);
});

test('the short calls are timed until minSeconds were spent on them (at most maxRuns), the long ones `runs` times', () => {
  let calls = 0;
  const s = fastestRun(3, () => void calls++, { minSeconds: 1e9, maxRuns: 20 });
  assert.equal(calls, 20);
  assert.ok(s >= 0);
  calls = 0;
  fastestRun(3, () => void calls++);
  assert.equal(calls, 3, 'no minSeconds: exactly `runs` calls');
  calls = 0;
  const busy = (): void => {
    calls++;
    const until = performance.now() + 20;
    while (performance.now() < until);
  };
  fastestRun(3, busy, { minSeconds: 0.01 });
  assert.equal(calls, 3, 'minSeconds already spent: no more than `runs` calls');
});

test('estimatePipeline times the training steps with the step arena on, as the training loop runs them, and leaves it as it was', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-estimate-'));
  // each timed training step's loss records whether the arena was on (without it every step
  // allocates its activations and gradients fresh, which timed the small preset ~2× slow)
  const loss = GPT.prototype.loss;
  const arenaAtLoss: boolean[] = [];
  GPT.prototype.loss = function (this: GPT, ...args: Parameters<GPT['loss']>) {
    arenaAtLoss.push(isArenaEnabled());
    return loss.apply(this, args);
  };
  try {
    const { preset } = loadPreset('tiny');
    const tiny = { ...preset, train: { ...preset.train, maxSteps: 2 } };
    for (const before of [false, true]) {
      setArenaEnabled(before);
      arenaAtLoss.length = 0;
      estimatePipeline(dir, tiny, 512, 1);
      assert.equal(isArenaEnabled(), before, `the arena ${before ? 'on' : 'off'} before, the same after`);
      assert.ok(arenaAtLoss.length >= 3, `${arenaAtLoss.length} timed steps`);
      assert.ok(
        arenaAtLoss.every((on) => on),
        'every timed step ran with the arena on',
      );
    }
  } finally {
    GPT.prototype.loss = loss;
    setArenaEnabled(false);
    rmSync(dir, { recursive: true, force: true });
  }
});
