import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { CLI } from './fixture.js';

test('a reader that closes the pipe early (gptforge sample --help | true) ends the CLI quietly, not with an EPIPE stack trace', { timeout: 30_000 }, async () => {
  const child = spawn(process.execPath, [CLI, 'sample', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  // closed before the CLI has started, so its help meets a closed pipe, as with `| true`
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  assert.doesNotMatch(stderr, /EPIPE|Error/, stderr);
  assert.equal(code, 0, stderr);
});
