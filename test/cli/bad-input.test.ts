import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, writeTinyPreset } from './fixture.js';

/** Bad input a newcomer tried: each refused in one line naming what is wrong, before any work. */
const run = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });

test('an unknown GPTFORGE_BACKEND and a non-positive --max-steps are refused by name, with no stack trace and nothing written', () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-bad-'));
  try {
    const preset = writeTinyPreset(join(root, 'in'));
    const backend = run(['pretrain', '--preset', preset, '--run', join(root, 'a'), '--max-steps', '2'], { GPTFORGE_BACKEND: 'cuda' });
    assert.equal(backend.status, 1);
    assert.match(backend.stderr, /^gptforge: .*GPTFORGE_BACKEND must be "native" or "reference", got "cuda"/m);
    assert.doesNotMatch(backend.stderr, /\n\s+at /, 'no stack trace');
    for (const steps of ['-5', '0', '2.5']) {
      const r = run(['pretrain', '--preset', preset, '--run', join(root, 'b'), '--max-steps', steps]);
      assert.equal(r.status, 1, steps);
      assert.match(r.stderr, new RegExp(`--max-steps must be a positive whole number of optimizer steps, got ${steps.replace('.', '\\.')}`));
    }
    assert.equal(existsSync(join(root, 'b')), false, 'refused before the run directory is made');
    const threads = run(['pretrain', '--preset', preset, '--run', join(root, 'c'), '--max-steps', '2'], { GPTFORGE_THREADS: 'abc' });
    assert.equal(threads.status, 1);
    assert.match(threads.stderr, /GPTFORGE_THREADS must be a positive whole number of threads, got "abc"/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('serve on a port already in use says so in one line (no stack trace)', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as { port: number }).port;
  const root = mkdtempSync(join(tmpdir(), 'gf-bad-serve-'));
  try {
    const preset = writeTinyPreset(join(root, 'in'), { maxSteps: 1 });
    const runDir = join(root, 'run');
    assert.equal(run(['pretrain', '--preset', preset, '--run', runDir, '--quiet', '--no-samples']).status, 0);
    const none = run(['sample', '--run', runDir, '--prompt', 'the', '-n', '0']);
    assert.equal(none.status, 1);
    assert.match(none.stderr, /-n\/--num-samples must be a positive whole number, got 0/);
    const r = run(['serve', '--run', runDir, '--port', String(port)]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^gptforge: .*port ${port} on 127\\.0\\.0\\.1 is already in use`, 'm'));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  } finally {
    busy.close();
    rmSync(root, { recursive: true, force: true });
  }
});
