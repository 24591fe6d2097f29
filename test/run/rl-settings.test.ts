import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runRl } from '../../src/run/rl.js';
import { loadPreset } from '../../src/run/presets.js';

/**
 * Every rl.config field of a run's preset.json out of range is refused before anything loads,
 * naming the file and the field's full path (as klCoef always was), not the sampler's bare name.
 */
test('rl: a bad rl.config value in the run preset names the file and "rl.config.<field>" for every field', async () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-rl-settings-'));
  try {
    const { preset } = loadPreset('tiny');
    const file = join(root, 'preset.json');
    const cases: [string, unknown, RegExp][] = [
      ['temperature', -1, /expects a non-negative number, got -1$/],
      ['klCoef', 'big', /expects a non-negative number, got "big"$/],
      ['epochs', 0, /expects a positive integer, got 0$/],
      ['gamma', 1.5, /expects a probability in \[0, 1\], got 1\.5$/],
      ['maxNewTokens', 2.5, /expects a positive integer, got 2\.5$/],
      ['algo', 'dpo', /must be "ppo", "grpo" or "reinforce", got "dpo"$/],
      ['whitenRewards', 'yes', /must be true or false, got "yes"$/],
    ];
    for (const [field, value, detail] of cases) {
      const p = structuredClone(preset) as unknown as { rl: { config: Record<string, unknown> } };
      p.rl.config[field] = value;
      writeFileSync(file, JSON.stringify(p));
      await assert.rejects(
        () => runRl(root, { quiet: true }),
        (e: Error) => e.message.startsWith(`${file}, field "rl.config.${field}": `) && detail.test(e.message),
        field,
      );
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
