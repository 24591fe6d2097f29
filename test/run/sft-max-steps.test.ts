import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSft } from '../../src/index.js';
import { sftConfig } from '../../src/run/sft.js';
import { loadPreset } from '../../src/run/presets.js';
import { GptforgeError } from '../../src/util/errors.js';

// every run-layer stage takes its step budget as `maxSteps` (docs/library.md: the CLI's flags in
// camelCase, no exception); runSft keeps `steps` as a deprecated alias
test('runSft takes maxSteps, as runPretrain/runRm/runRl/runDpo do; steps stays an alias', async () => {
  const sft = loadPreset('tiny').preset.sft;
  assert.ok(sft);
  assert.equal(sftConfig(sft, { maxSteps: 7 }).train.maxSteps, 7);
  assert.equal(sftConfig(sft, { steps: 5 }).train.maxSteps, 5);
  assert.equal(sftConfig(sft, { steps: 5, maxSteps: 5 }).train.maxSteps, 5);
  assert.throws(
    () => sftConfig(sft, { steps: 5, maxSteps: 6 }),
    (e: unknown) => e instanceof GptforgeError && e.field === 'maxSteps',
  );
  const dir = mkdtempSync(join(tmpdir(), 'gf-sft-maxsteps-'));
  try {
    // refused before any model or data work, naming the option the caller gave
    await assert.rejects(runSft(dir, { preset: 'tiny', maxSteps: -3 }), (e: unknown) => e instanceof GptforgeError && e.field === 'maxSteps' && /expects a positive integer, got -3/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
