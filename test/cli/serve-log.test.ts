import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import Fastify from 'fastify';
import { logFormatFor, logStream } from '../../src/cli/log-format.js';
import { CLI, startServe, waitFor } from './fixture.js';
import { tinyRun } from '../server/fixture.js';

/** fastify's own request log lines (pino JSON, as `serve --log` gets them) for a 200, a 404 and a route that throws. */
async function fastifyLines(): Promise<string[]> {
  const lines: string[] = [];
  const app = Fastify({ logger: { stream: { write: (s: string) => void lines.push(s) } } });
  app.get('/ok', async () => ({ ok: true }));
  app.get('/boom', async () => {
    throw new Error('kaput');
  });
  await app.inject({ method: 'GET', url: '/ok' });
  await app.inject({ method: 'POST', url: '/missing' });
  await app.inject({ method: 'GET', url: '/boom' });
  await app.close();
  return lines;
}

test('serve --log: pino JSON lines made readable (method, URL, status, time; the error), or passed through as JSON', async () => {
  const raw = await fastifyLines();
  assert.ok(raw.length >= 6, `fastify logged ${raw.length} lines`);
  const pretty: string[] = [];
  const sink = logStream('pretty', { write: (s: string) => pretty.push(s) });
  for (const l of raw) sink.write(l);
  const text = pretty.join('');
  assert.doesNotMatch(text, /\{"level"/, 'no JSON left');
  assert.match(text, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}req-\w+ → GET \/ok \(127\.0\.0\.1\)$/m);
  assert.match(text, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}req-\w+ ← 200 GET \/ok \d+\.\d ms$/m);
  assert.match(text, /← 404 POST \/missing \d+\.\d ms$/m);
  assert.match(text, /^\S+ ERROR req-\w+ ← 500 GET \/boom kaput \(Error\)$/m);
  assert.match(text, /← 500 GET \/boom \d+\.\d ms$/m, 'the completion after the error still names the request');
  assert.equal(pretty.length, raw.length, 'one readable line per JSON line');
  // a line split across writes is joined before it is read
  const split: string[] = [];
  const s2 = logStream('pretty', { write: (s: string) => split.push(s) });
  s2.write(raw[0].slice(0, 10));
  assert.equal(split.length, 0);
  s2.write(raw[0].slice(10));
  assert.equal(split.length, 1);
  assert.match(split[0], /→ GET \/ok/);
  // json: the lines as pino wrote them
  const json: string[] = [];
  const sj = logStream('json', { write: (s: string) => json.push(s) });
  for (const l of raw) sj.write(l);
  assert.deepEqual(json, raw);
  for (const l of json) assert.equal(typeof (JSON.parse(l) as { level: number }).level, 'number');
});

test('serve --log-format: pretty on a terminal, JSON when piped, as given when given; refused without --log', () => {
  assert.equal(logFormatFor(undefined, true), 'pretty');
  assert.equal(logFormatFor(undefined, false), 'json');
  assert.equal(logFormatFor(undefined, undefined), 'json');
  assert.equal(logFormatFor('json', true), 'json');
  assert.equal(logFormatFor('pretty', false), 'pretty');
  const r = spawnSync(process.execPath, [CLI, 'serve', '--run', '/nonexistent-run', '--port', '0', '--log-format', 'json'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'gptforge: --log-format shapes the lines of --log: give --log too, or drop --log-format\n');
});

test('gptforge serve --log --log-format pretty prints a readable line per request on stderr', { timeout: 60_000 }, async () => {
  const { dir } = tinyRun();
  const { child, done, err, addr } = await startServe(['--run', dir, '--port', '0', '--log', '--log-format', 'pretty']);
  try {
    assert.equal((await fetch(`${addr}/health`)).status, 200);
    await waitFor(() => /← 200 GET \/health/.test(err()), 10_000, 'the log line');
    // a 4xx carries its reason: the message and the error's code, then the completion line
    assert.equal((await fetch(`${addr}/nope`)).status, 404);
    const bad = await fetch(`${addr}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'sft', messages: [] }) });
    assert.equal(bad.status, 400);
    const { error } = (await bad.json()) as { error: { message: string; code: string | null; type: string; param: string | null } };
    await waitFor(() => (err().match(/← 400 POST \/v1\/chat\/completions \d/g) ?? []).length === 1, 10_000, 'the 400 lines');
    assert.match(err(), /^\S+ INFO {2}req-\w+ ← 404 GET \/nope Unknown request URL: GET \/nope\. .*\(unknown_url\)$/m);
    assert.ok(err().includes(`← 400 POST /v1/chat/completions ${error.message} (${[error.code ?? error.type, error.param ? `param ${error.param}` : ''].filter((x) => x).join(', ')})\n`), err());
    child.kill('SIGINT');
    const res = await done;
    assert.equal(res.code, 0, res.stderr);
    assert.match(err(), /^\d\d:\d\d:\d\d\.\d{3} INFO {2}req-\w+ → GET \/health \(127\.0\.0\.1\)$/m);
    assert.doesNotMatch(err(), /\{"level"/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
