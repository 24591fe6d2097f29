import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, writeTinyPreset } from './fixture.js';

const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

test('pipeline re-run: a stage already at its steps gets one "done" line, not its data table, progress bar, loss chart and samples again', { timeout: 180_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-done-'));
  try {
    const preset = writeTinyPreset(join(root, 'in'), { maxSteps: 3 });
    // with the base model's samples after pretraining, as the shipped presets have
    writeFileSync(preset, JSON.stringify({ ...JSON.parse(readFileSync(preset, 'utf8')), samples: { prompts: ['the whale'], maxTokens: 6 } }));
    const runDir = join(root, 'run');
    const first = run(['pipeline', '--preset', preset, '--run', runDir]);
    assert.equal(first.status, 0, first.stderr);
    // the first run shows them (so their absence below is the fix, not a quiet preset)
    assert.match(first.stdout, /loss \(█ train/);
    assert.match(first.stdout, /--- sample: "the whale"/);
    assert.match(first.stderr, /^pretrain \[/m);
    const again = run(['pipeline', '--preset', preset, '--run', runDir]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, new RegExp(`^pretrain: done at step 3 \\(${join(runDir, 'base', 'step-0000003').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\); nothing to do$`, 'm'));
    assert.ok(!/^pretrain \[|nothing to train|^source +proportion/m.test(again.stderr), again.stderr);
    assert.ok(!/loss \(█ train|--- sample/.test(again.stdout), again.stdout);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
