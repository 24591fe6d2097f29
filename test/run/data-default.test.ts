import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultMixtureConfig, loadMixtureConfig } from '../../src/index.js';
import { loadPreset, resolveMixturePath } from '../../src/run/presets.js';

// `data prepare` without --config (runDataPrepare's default) and `pretrain --preset small` (the
// default preset) must build the same shards: one mixture, presets/mixture.default.json.
test("data prepare's default mixture is the small preset's mixture file", () => {
  const { preset, file } = loadPreset('small');
  const small = loadMixtureConfig(resolveMixturePath(preset, file));
  assert.deepEqual(defaultMixtureConfig(), small);
  assert.ok(
    small.sources.some((s) => s.name === 'dictionary'),
    'the default mixture has the dictionary source',
  );
  assert.equal(defaultMixtureConfig(1000).tokenBudget, 1000);
  assert.deepEqual(defaultMixtureConfig(1000).sources, small.sources);
});
