import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCli, waitFor, writeTinyPreset } from './fixture.js';

test('pretrain stopped with SIGINT (Ctrl-C) saves a checkpoint and exits 130, not 0', { timeout: 240_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-sigint-'));
  try {
    const preset = writeTinyPreset(join(root, 'in'));
    const run = join(root, 'run');
    const { child, done } = startCli(['pretrain', '--preset', preset, '--run', run, '--quiet', '--no-samples']);
    const metrics = join(run, 'metrics.jsonl');
    await waitFor(() => existsSync(metrics) && readFileSync(metrics, 'utf8').includes('"loss"'), 180_000, 'the first logged step');
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 130, r.stderr);
    const latest = JSON.parse(readFileSync(join(run, 'base', 'latest.json'), 'utf8')) as { checkpoint: string };
    assert.ok(existsSync(join(run, 'base', latest.checkpoint, 'model.safetensors')), `checkpoint ${latest.checkpoint} has no weights`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('pipeline stopped with SIGINT exits 130 and says how to go on: the same command again', { timeout: 240_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-sigint-pipe-'));
  try {
    const preset = writeTinyPreset(join(root, 'in'));
    const run = join(root, 'my run'); // a space: the printed command quotes it
    const { child, done } = startCli(['pipeline', '--preset', preset, '--run', run, '--quiet', '--no-samples']);
    const metrics = join(run, 'metrics.jsonl');
    await waitFor(() => existsSync(metrics) && readFileSync(metrics, 'utf8').includes('"loss"'), 180_000, 'the first logged step');
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 130, r.stderr);
    const last = r.stderr.trim().split('\n').at(-1)!;
    assert.equal(last, `pipeline: stopped; the same command resumes each stage where it stopped: gptforge pipeline --preset ${preset} --run '${run}' --quiet --no-samples`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
