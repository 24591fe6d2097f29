import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isPublicWebPath } from '../../src/server/web.js';
import { webServer } from './fixtures.js';

/** The web UI's routes without a browser: authentication, assets, the metrics event stream, bad input. */

test('web: a stage the page cannot start says why (no runner; no section in the preset)', async () => {
  const { base, dir, close } = await webServer();
  try {
    type Stage = { name: string; runnable: boolean; noStart: string | null };
    const stages = async (): Promise<Map<string, Stage>> => new Map(((await (await fetch(base + '/web/api/info')).json()) as { stages: Stage[] }).stages.map((s) => [s.name, s]));
    let s = await stages();
    // no preset.json: no section to check
    assert.deepEqual(
      [...s.values()].filter((x) => x.noStart === null).map((x) => x.name),
      ['sft', 'rm', 'rl', 'rl-grpo', 'dpo'],
    );
    assert.match(s.get('base')!.noStart!, new RegExp(`^pretraining runs from the command line: gptforge pretrain --run ${dir}$`));
    assert.match(s.get('rl-reinforce')!.noStart!, /^the page has no runner for REINFORCE: gptforge rl --algo reinforce --run /);
    writeFileSync(join(dir, 'preset.json'), JSON.stringify({ name: 'mine', sft: {}, rm: {} }));
    s = await stages();
    assert.equal(s.get('sft')!.noStart, null);
    assert.equal(s.get('rm')!.noStart, null);
    assert.equal(s.get('rl')!.noStart, `preset "mine" has no "rl" section: add one to ${join(dir, 'preset.json')} to train rl`);
    assert.equal(s.get('rl-grpo')!.noStart, `preset "mine" has no "rl" section: add one to ${join(dir, 'preset.json')} to train rl-grpo`);
    assert.match(s.get('dpo')!.noStart!, /has no "dpo" section/);
    // the API still starts what has a runner (the stage's command then names the missing section)
    assert.ok(s.get('dpo')!.runnable);
  } finally {
    await close();
  }
});

test('web: the page and its assets load without the API key, the run API needs it', async () => {
  const { base, close } = await webServer({ apiKeys: ['sesame'] });
  try {
    for (const p of ['/', '/web/app.js', '/web/vendor/preact-htm.js', '/web/vendor/uplot.js', '/web/vendor/uplot.css', '/web/vendor/markdown-it.js']) {
      const r = await fetch(base + p);
      assert.equal(r.status, 200, p);
      assert.ok((await r.text()).length > 100, p);
    }
    assert.match((await fetch(base + '/web/vendor/preact-htm.js')).headers.get('content-type') ?? '', /javascript/);
    assert.equal((await fetch(base + '/web/api/info')).status, 401);
    assert.equal((await fetch(base + '/web/../v1/models')).status, 401);
    assert.equal((await fetch(base + '/web/nothing.js')).status, 404);
    const info = await fetch(base + '/web/api/info', { headers: { authorization: 'Bearer sesame' } });
    assert.equal(info.status, 200);
    const j = (await info.json()) as { stages: Array<{ name: string; state: string; runnable: boolean }> };
    assert.deepEqual(
      j.stages.filter((s) => s.state === 'trained').map((s) => s.name),
      ['base', 'sft', 'rm'],
    );
    assert.ok(j.stages.find((s) => s.name === 'sft')?.runnable);
    // bad input is a 400 naming the field
    const bad = await fetch(base + '/web/api/jobs', { method: 'POST', headers: { authorization: 'Bearer sesame', 'content-type': 'application/json' }, body: JSON.stringify({ stage: 'nope' }) });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { param: string } }).error.param, 'stage');
    const sub = await fetch(base + '/web/api/rank/submit', { method: 'POST', headers: { authorization: 'Bearer sesame', 'content-type': 'application/json' }, body: JSON.stringify({ id: 'x', order: [0, 1] }) });
    assert.equal(sub.status, 400);
  } finally {
    await close();
  }
  assert.ok(isPublicWebPath('/') && isPublicWebPath('/web/app.js?v=1'));
  assert.ok(!isPublicWebPath('/web/api/info') && !isPublicWebPath('/v1/models') && !isPublicWebPath('/metrics2'));
});

test('web: metrics.jsonl as server-sent events — every record first, then new ones, and a reset when the file is rewritten', async () => {
  const { dir, server, base, close } = await webServer({ web: { pollMs: 20 } });
  const file = join(dir, 'metrics.jsonl');
  writeFileSync(file, '{"stage":"sft","step":1,"loss":3}\n{"stage":"sft","step":2,"loss":2.5}\n');
  const ac = new AbortController();
  try {
    const res = await fetch(base + '/web/api/metrics', { signal: ac.signal });
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = '';
    const next = async (): Promise<{ event: string; data: unknown }> => {
      for (;;) {
        const i = buf.indexOf('\n\n');
        if (i >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (event && data && event !== 'job' && event !== 'ping') return { event, data: JSON.parse(data) };
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buf += dec.decode(value, { stream: true });
      }
    };
    const first = await next();
    assert.equal(first.event, 'reset');
    assert.deepEqual(
      (first.data as Array<{ step: number }>).map((r) => r.step),
      [1, 2],
    );
    // a torn line is held back until it is complete
    appendFileSync(file, '{"stage":"sft","step":3,');
    await new Promise((r) => setTimeout(r, 100));
    appendFileSync(file, '"loss":2.2}\n');
    const more = await next();
    assert.equal(more.event, 'append');
    assert.deepEqual(more.data, [{ stage: 'sft', step: 3, loss: 2.2 }]);
    // a resume rewrites the file (truncated to its checkpoint): everything again
    writeFileSync(file + '.tmp', '{"stage":"sft","step":1,"loss":3}\n');
    const { renameSync } = await import('node:fs');
    renameSync(file + '.tmp', file);
    const reset = await next();
    assert.equal(reset.event, 'reset');
    assert.deepEqual(
      (reset.data as Array<{ step: number }>).map((r) => r.step),
      [1],
    );
    // closing the server ends an open stream (fastify would otherwise wait for it)
    const closed = await Promise.race([server.close().then(() => 'closed'), new Promise((r) => setTimeout(() => r('hung'), 3000))]);
    assert.equal(closed, 'closed');
  } finally {
    ac.abort();
    await close();
  }
});

test('web: a stage trained from the command line while the server runs (sft --into sft-mine) is served after POST /v1/gptforge/reload, and listed on the Training page', async () => {
  const { dir, base, close } = await webServer({ apiKeys: ['sesame'] });
  const auth = { authorization: 'Bearer sesame' };
  const ids = async (): Promise<string[]> => ((await (await fetch(base + '/v1/models', { headers: auth })).json()) as { data: Array<{ id: string }> }).data.map((m) => m.id);
  try {
    assert.ok(!(await ids()).includes('sft-mine'));
    // what `sft --into sft-mine` leaves: a stage directory with its checkpoint
    cpSync(join(dir, 'sft'), join(dir, 'sft-mine'), { recursive: true });
    const info = (await (await fetch(base + '/web/api/info', { headers: auth })).json()) as { stages: Array<{ name: string; state: string }> };
    assert.equal(info.stages.find((s) => s.name === 'sft-mine')?.state, 'trained');
    assert.equal((await fetch(base + '/v1/gptforge/reload', { method: 'POST' })).status, 401);
    const r = await fetch(base + '/v1/gptforge/reload', { method: 'POST', headers: auth });
    assert.equal(r.status, 200);
    assert.ok(((await r.json()) as { data: Array<{ id: string }> }).data.some((m) => m.id === 'sft-mine'));
    assert.ok((await ids()).includes('sft-mine'));
    const chat = await fetch(base + '/v1/chat/completions', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'sft-mine', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }) });
    assert.equal(chat.status, 200);
  } finally {
    await close();
  }
});
