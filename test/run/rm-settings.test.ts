import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runRm } from '../../src/run/rm.js';
import { loadPreset } from '../../src/run/presets.js';

/** The labelers' strength keys out of range are refused before anything loads, naming the file and "rm.train.<key>" (as every stage setting: checkSettings). */
test('rm: a bad rm.train.marginScale or strengthWeight in the run preset names the file and the field', async () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-rm-settings-'));
  try {
    const { preset } = loadPreset('tiny');
    const file = join(root, 'preset.json');
    const cases: [string, unknown, RegExp][] = [
      ['marginScale', -1, /expects a non-negative number, got -1$/],
      ['strengthWeight', 'big', /expects a non-negative number, got "big"$/],
    ];
    for (const [key, value, detail] of cases) {
      const p = structuredClone(preset) as unknown as { rm: { train: Record<string, unknown> } };
      p.rm.train[key] = value;
      writeFileSync(file, JSON.stringify(p));
      await assert.rejects(
        () => runRm(root, {}),
        (e: Error) => e.message.startsWith(`${file}, field "rm.train.${key}": `) && detail.test(e.message),
        key,
      );
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
