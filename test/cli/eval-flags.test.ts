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
