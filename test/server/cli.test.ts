import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startCli, startServe, waitFor } from '../cli/fixture.js';
import { tinyRun } from './fixture.js';

test('gptforge serve: binds loopback on a free port, serves the run, serves a stage trained since on SIGHUP, stops on SIGINT with a line saying so', { timeout: 60_000 }, async () => {
  const { dir } = tinyRun();
  const { child, done, addr, err } = await startServe(['--run', dir, '--port', '0', '--api-key', 'secret', '--parallel', '2']);
  try {
    assert.match(addr, /^http:\/\/127\.0\.0\.1:\d+$/);
    const client = new OpenAI({ baseURL: `${addr}/v1`, apiKey: 'secret', maxRetries: 0 });
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.deepEqual(ids.sort(), ['base', 'rm', 'sft']);
    const r = await client.chat.completions.create({ model: 'sft', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4, seed: 1 });
    assert.ok(r.usage!.completion_tokens <= 4);
    // a stage trained from the command line meanwhile (what `sft --into sft-mine` leaves): served after SIGHUP
    cpSync(join(dir, 'sft'), join(dir, 'sft-mine'), { recursive: true });
    child.kill('SIGHUP');
    await waitFor(() => /SIGHUP — serving .*sft-mine/.test(err()), 20_000, 'the SIGHUP reload');
    const after = [];
    for await (const m of client.models.list()) after.push(m.id);
    assert.ok(after.includes('sft-mine'), after.join(', '));
    // the HTTP reload says the same as SIGHUP's: what it serves now
    assert.equal((await fetch(`${addr}/v1/gptforge/reload`, { method: 'POST', headers: { authorization: 'Bearer secret' } })).status, 200);
    await waitFor(() => /POST \/v1\/gptforge\/reload — serving/.test(err()), 10_000, 'the HTTP reload line');
    const served = (cause: string) => new RegExp(`^gptforge serve: ${cause} — serving (.*)$`, 'm').exec(err())?.[1];
    assert.equal(served('POST /v1/gptforge/reload'), served('SIGHUP'));
    assert.deepEqual(served('SIGHUP')?.split(', ').sort(), [...after].sort());
    child.kill('SIGINT');
    const res = await done;
    assert.equal(res.code, 0, res.stderr);
    // a graceful close says so: the signal, then that it closed
    assert.match(res.stderr, /SIGINT — closing[^\n]*\n(.*\n)*gptforge serve: closed/, res.stderr);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('gptforge serve refuses a run without models, naming it, and a run directory that does not exist before listening', { timeout: 30_000 }, async () => {
  const empty = mkdtempSync(join(tmpdir(), 'gf-serve-empty-'));
  try {
    const { child, done } = startCli(['serve', '--run', empty, '--port', '0']);
    const res = await done;
    assert.equal(child.exitCode, 1);
    assert.match(res.stderr, /no model to serve/);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
  const { child, done } = startCli(['serve', '--run', '/nonexistent-run', '--port', '0']);
  const res = await done;
  assert.equal(child.exitCode, 1);
  assert.match(res.stderr, /\/nonexistent-run: no such run directory/);
  assert.doesNotMatch(res.stderr, /listening/);
});
