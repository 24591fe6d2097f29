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
    // the later stages read the run's preset.json: a skipped pretraining still writes the preset as given now
    writeFileSync(preset, JSON.stringify({ ...JSON.parse(readFileSync(preset, 'utf8')), samples: { prompts: ['the ship'], maxTokens: 6 } }));
    assert.equal(run(['pipeline', '--preset', preset, '--run', runDir, '--quiet']).status, 0);
    assert.deepEqual(JSON.parse(readFileSync(join(runDir, 'preset.json'), 'utf8')).samples.prompts, ['the ship']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("pipeline --help says --max-steps limits pretraining only and names the later stages' own budgets", () => {
  const r = run(['pipeline', '--help']);
  assert.equal(r.status, 0, r.stderr);
  const help = r.stdout.replace(/\s+/g, ' ');
  assert.match(help, /--max-steps <n> pretraining only \(SFT, RM and RL: --sft-max-steps, --rm-max-steps, --rl-max-steps\)/);
  for (const o of ['--sft-max-steps', '--rm-max-steps', '--rl-max-steps']) assert.ok(help.includes(`${o} <n>`), o);
});
