import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tinyRun } from '../run/fixture.js';
import { CLI } from './fixture.js';

/**
 * `dpo --on-bad skip` names each line it skips (as sft does; it used to print nothing), and a
 * file too small to hold out a pair says so instead of "held-out preference accuracy NaN%".
 */
test('dpo --on-bad skip warns with file:line for each skipped line; no held-out pairs is said, not NaN%', { timeout: 120_000 }, () => {
  const runDir = tinyRun();
  try {
    const presetFile = join(runDir, 'preset.json');
    const preset = JSON.parse(readFileSync(presetFile, 'utf8')) as { sft: { train: Record<string, unknown> } };
    writeFileSync(presetFile, JSON.stringify({ ...preset, dpo: { beta: 0.1, train: { ...preset.sft.train, maxSteps: 1 } } }));
    const pairs = join(runDir, 'pairs.jsonl');
    // one prompt that is not held out by hash (10% of prompts are), then a broken line
    writeFileSync(pairs, `${JSON.stringify({ prompt: 'Who are you?', chosen: 'I am Forge.', rejected: 'No.' })}\nnot json\n`);
    const r = spawnSync(process.execPath, [CLI, 'dpo', '--run', runDir, '--pairs', pairs, '--on-bad', 'skip', '--quiet'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, GPTFORGE_THREADS: '1' } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^dpo: warning: skipped 1 line of .*pairs\.jsonl$/m);
    assert.match(r.stderr, /^dpo: warning: .*pairs\.jsonl:2: not valid JSON .* — skipped$/m);
    assert.doesNotMatch(r.stdout, /NaN/);
    assert.match(r.stdout, /dpo: done at step 1; no held-out pairs to measure preference accuracy on; checkpoint /);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
