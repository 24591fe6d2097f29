import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './fixture.js';

/** The sweep's flags without --techniques are refused by name before any work: a plain eval would run and overwrite eval.md. */
test('eval: --addition-only, --parts, --tot-run and --tot-value without --techniques are refused before anything is written', { timeout: 60_000 }, () => {
  const run = mkdtempSync(join(tmpdir(), 'gf-eval-flags-'));
  writeFileSync(join(run, 'preset.json'), '{}'); // a run directory: the normal eval would start on it
  for (const args of [['--addition-only'], ['--parts', 'cot'], ['--tot-run', run], ['--tot-value', run]]) {
    const r = spawnSync(process.execPath, [CLI, 'eval', '--run', run, ...args], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^gptforge: ${args[0]} is a flag of the prompting-techniques sweep: it needs --techniques`, 'm'));
  }
  assert.deepEqual(readdirSync(run), ['preset.json']);
  rmSync(run, { recursive: true, force: true });
});

// fixes46 #7: eval --techniques had no quick path; --per-task caps every measurement's problems
test('eval --techniques --per-task n: every measurement capped at n problems; a bad n refused before any work; pipeline --techniques-max-steps with --no-techniques refused', async () => {
  const { techniqueSweepSizes } = await import('../../src/cli/eval.js');
  assert.deepEqual(techniqueSweepSizes(5), { perCell: 5, skillProblems: 5, reflectProblems: 5, scProblems: 5, totProblems: 5 });
  assert.throws(() => techniqueSweepSizes(0), /--per-task: expects a whole number of problems ≥ 1, got 0/);
  const run = mkdtempSync(join(tmpdir(), 'gf-eval-flags-'));
  try {
    let r = spawnSync(process.execPath, [CLI, 'eval', '--run', run, '--techniques', '--per-task', '0'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /--per-task: expects a whole number of problems ≥ 1, got 0/);
    r = spawnSync(process.execPath, [CLI, 'pipeline', '--run', run, '--techniques-max-steps', '50', '--no-techniques'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /--techniques-max-steps sets the steps of the techniques stage, which --no-techniques skips/);
    r = spawnSync(process.execPath, [CLI, 'eval', '--help'], { encoding: 'utf8' });
    assert.match(r.stdout.replace(/\s+/g, ' '), /with --techniques: problems per measurement .* the quick path/);
    assert.deepEqual(readdirSync(run), [], 'nothing written');
  } finally {
    rmSync(run, { recursive: true, force: true });
  }
});
