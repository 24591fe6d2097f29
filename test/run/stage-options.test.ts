import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkSetting, checkSettings } from '../../src/run/stage-options.js';
import { GptforgeError } from '../../src/util/errors.js';

/** Where a refused setting is said to come from: the option typed, or the preset file's field. */
function whereRefused(f: () => void): { file?: string; field?: string; detail: string } {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof GptforgeError);
    return { file: e.file, field: e.field, detail: e.detail };
  }
  assert.fail('expected a refusal');
}

test('a flag-only setting (no preset field) is refused naming its option, with no file', () => {
  checkSetting(0.5, 'probability', { option: 'writerErrorRate' });
  assert.deepEqual(
    whereRefused(() => checkSetting(1.5, 'probability', { option: 'writerErrorRate' })),
    { file: undefined, field: 'writerErrorRate', detail: 'expects a probability in [0, 1], got 1.5' },
  );
  assert.deepEqual(
    whereRefused(() => checkSetting(-2, 'positive number', { option: 'dataWeight' })),
    { file: undefined, field: 'dataWeight', detail: 'expects a positive number, got -2' },
  );
});

test('a preset-backed setting names the option when given, else the preset file and field', () => {
  const preset = { file: 'presets/small.json', field: 'sft.batchSize' };
  assert.deepEqual(
    whereRefused(() => checkSetting(0, 'positive integer', { option: 'batchSize', given: true, preset })),
    { file: undefined, field: 'batchSize', detail: 'expects a positive integer, got 0' },
  );
  assert.deepEqual(
    whereRefused(() => checkSetting(0, 'positive integer', { option: 'batchSize', given: false, preset })),
    { file: 'presets/small.json', field: 'sft.batchSize', detail: 'expects a positive integer, got 0' },
  );
  // checkSettings decides `given` from the options object
  assert.equal(whereRefused(() => checkSettings({ lr: -1 }, 'p.json', [['lr', -1, 'positive number', 'train.lr']])).field, 'lr');
  assert.deepEqual(
    whereRefused(() => checkSettings({}, 'p.json', [['lr', -1, 'positive number', 'train.lr']])),
    { file: 'p.json', field: 'train.lr', detail: 'expects a positive number, got -1' },
  );
});

test('runSft names its own option: steps, not maxSteps', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { runSft } = await import('../../src/run/sft.js');
  const dir = mkdtempSync(join(tmpdir(), 'gf-sft-steps-'));
  try {
    await assert.rejects(runSft(dir, { preset: 'tiny', steps: -3 }), (e: unknown) => e instanceof GptforgeError && e.field === 'steps' && /field "steps": expects a positive integer, got -3/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
