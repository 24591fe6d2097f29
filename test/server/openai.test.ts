import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { saveCheckpoint, selectedCheckpoint } from '../../src/model/checkpoint.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import OpenAI, { APIError, AuthenticationError, BadRequestError, InternalServerError, NotFoundError, RateLimitError } from 'openai';
import { ajvValidator } from '../constrain/ajv.js';
import { GptforgeServer, loadRunModels, runStages, type ServedModel } from '../../src/server/index.js';
import { DEFAULT_MAX_TOOL_CALLS } from '../../src/infer/engine.js';
import type { Tokenizer } from '../../src/tokenizer/index.js';
import { BYTE_REPLY, scriptedModel, tinyRun } from './fixture.js';

/**
 * The server against the official `openai` client (pinned in devDependencies), on a tiny run's
 * models (base, sft, rm: randomly initialised, saved and loaded with the run layout) and a
 * scripted chat model for exact greedy replies and tool calls. Loopback only, ephemeral ports.
 */
let dir: string;
let tok: Tokenizer;
let server: GptforgeServer;
let client: OpenAI;
let base: string;
const txt = (s: string): number[] => tok.encode(s, { disallowedSpecial: 'plain' });
const post = async (path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: Headers }> => {
  const r = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: r.status, json: await r.json(), headers: r.headers };
};

before(async () => {
  ({ dir, tok } = tinyRun());
  const sftCheckpoint = selectedCheckpoint(join(dir, 'sft'))!;
  utimesSync(sftCheckpoint, new Date('2020-01-01T00:00:00Z'), new Date('2020-01-01T00:00:00Z'));
  server = new GptforgeServer({ parallel: 4 });
  const models = new Map<string, ServedModel>(loadRunModels(dir));
  models.set('scripted', scriptedModel(tok));
  server.setModels(models);
  base = await server.listen(0, '127.0.0.1');
  client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const user = (content: string) => [{ role: 'user' as const, content }];

describe('models and health', () => {
  test('GET /v1/models lists the run stages and the reward model', async () => {
    const ids = [];
    const kinds: Record<string, unknown> = {};
    for await (const m of client.models.list()) {
      ids.push(m.id);
      kinds[m.id] = (m as unknown as { kind: unknown }).kind;
    }
    assert.deepEqual(ids.sort(), ['base', 'rm', 'scripted', 'sft']);
    // gptforge's kind: the reward model is served on /v1/rewards, not for generation
    assert.deepEqual(kinds, { base: 'generation', rm: 'reward', scripted: 'generation', sft: 'generation' });
  });
  test('GET /v1/models/:id retrieves one; an unknown one is NotFoundError', async () => {
    const sft = await client.models.retrieve('sft');
    assert.equal(sft.id, 'sft');
    // created: when the checkpoint was saved (its mtime, set to 2020-01-01 before loading), not when the server loaded it
    assert.equal(sft.created, 1577836800);
    await assert.rejects(client.models.retrieve('gpt-4'), NotFoundError);
  });
  test("a run inside the run (npm start's techniques model) is served as <dir>/<stage>; its id retrieves with the slash", async () => {
    const { dir: run, tok: t } = tinyRun();
    const config = makeConfig({ vocabSize: t.vocabSize, blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 32, position: 'rope' });
    writeFileSync(join(run, 'techniques-preset.json'), '{}');
    saveCheckpoint(join(run, 'techniques', 'sft'), new GPT(config, { seed: 9 }), { stage: 'sft', step: 1, tokenizerJSON: t.toJSON(), tokenizerHash: t.hash() });
    // no preset.json: a directory of checkpoints, not a run — not listed
    assert.deepEqual(runStages(run), ['base', 'sft', 'rl', 'dpo', 'rm']);
    renameSync(join(run, 'techniques-preset.json'), join(run, 'techniques', 'preset.json'));
    assert.deepEqual(runStages(run), ['base', 'sft', 'rl', 'dpo', 'techniques/sft', 'rm']);
    assert.deepEqual(runStages(run, { nested: false }), ['base', 'sft', 'rl', 'dpo', 'rm']);
    const s = new GptforgeServer({ parallel: 2 });
    s.setModels(loadRunModels(run));
    try {
      const c = new OpenAI({ baseURL: `${await s.listen(0, '127.0.0.1')}/v1`, apiKey: 'x', maxRetries: 0 });
      const ids: string[] = [];
      for await (const m of c.models.list()) ids.push(m.id);
      assert.deepEqual(ids, ['base', 'sft', 'techniques/sft', 'rm']);
      assert.equal((await c.models.retrieve('techniques/sft')).id, 'techniques/sft');
      // a trailing slash is the list, not a model named ''
      const slash = (await (await fetch(`${c.baseURL}/models/`)).json()) as { data: { id: string }[] };
      assert.deepEqual(
        slash.data.map((m) => m.id),
        ids,
      );
      const r = await c.chat.completions.create({ model: 'techniques/sft', messages: user('hi'), max_tokens: 3 });
      assert.equal(r.model, 'techniques/sft');
    } finally {
      await s.close();
      rmSync(run, { recursive: true, force: true });
    }
  });
  test('GET /health is 200 once loaded, 503 while loading (and model routes answer 503)', async () => {
    assert.equal((await fetch(`${base}/health`)).status, 200);
    const loading = new GptforgeServer();
    const addr = await loading.listen(0);
    try {
      const r = await fetch(`${addr}/health`);
      assert.equal(r.status, 503);
      assert.equal(((await r.json()) as { status: string }).status, 'loading');
      const c = new OpenAI({ baseURL: `${addr}/v1`, apiKey: 'x', maxRetries: 0 });
      await assert.rejects(c.chat.completions.create({ model: 'sft', messages: user('hi') }), InternalServerError);
    } finally {
      await loading.close();
    }
  });
  test('GET /metrics is Prometheus text with request and token counters', async () => {
    await client.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0 });
    const r = await fetch(`${base}/metrics`);
    assert.match(r.headers.get('content-type') ?? '', /text\/plain/);
    const body = await r.text();
    assert.match(body, /gptforge_requests_total\{route="\/v1\/chat\/completions",status="200"\} [1-9]/);
    assert.match(body, /gptforge_generation_tokens_total\{model="scripted"\} [1-9]/);
    assert.match(body, /# TYPE gptforge_time_to_first_token_seconds histogram/);
  });
  test('GET /metrics: gptforge_batch_rows counts each sampled token once, one observation per step, as gptforge_step_seconds', async () => {
    const read = async (): Promise<(name: string) => number> => {
      const body = await (await fetch(`${base}/metrics`)).text();
      return (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(body)?.[1] ?? Number.NaN);
    };
    const m0 = await read();
    const r = await client.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0, max_tokens: 5 });
    const m1 = await read();
    const delta = (name: string): number => m1(name) - m0(name);
    assert.equal(r.usage?.completion_tokens, 5);
    assert.equal(delta('gptforge_batch_rows_sum'), 5);
    assert.equal(delta('gptforge_batch_rows_count'), 5); // one row: one token per step
    assert.equal(delta('gptforge_step_seconds_count'), 5);
    assert.ok(delta('gptforge_step_seconds_sum') > 0);
  });
  test("GET /metrics: prefix-cache queries and hits in prompt tokens (vLLM's pair); a streamed chat counts its tokens without include_usage", async () => {
    const read = async (): Promise<(name: string) => number> => {
      const body = await (await fetch(`${base}/metrics`)).text();
      return (name) => Number(new RegExp(`^${name}\\{model="scripted"\\} (\\S+)$`, 'm').exec(body)?.[1] ?? 0);
    };
    const m0 = await read();
    const first = await client.chat.completions.create({ model: 'scripted', messages: user('prefix cache'), temperature: 0 });
    // the next turn begins with the first turn's prompt and reply: the cache holds them
    const next = await client.chat.completions.create({ model: 'scripted', messages: [...user('prefix cache'), { role: 'assistant', content: first.choices[0].message.content }, ...user('again')], temperature: 0 });
    const m1 = await read();
    const cached = (r: OpenAI.Chat.Completions.ChatCompletion): number => r.usage?.prompt_tokens_details?.cached_tokens ?? 0;
    assert.ok(cached(next) > 0, 'the second turn reused the first from the cache');
    assert.equal(m1('gptforge_prefix_cache_hits_total') - m0('gptforge_prefix_cache_hits_total'), cached(first) + cached(next));
    assert.equal(m1('gptforge_prefix_cache_queries_total') - m0('gptforge_prefix_cache_queries_total'), first.usage!.prompt_tokens + next.usage!.prompt_tokens);
    // streamed, no usage asked for: its tokens still reach the counters
    const stream = await client.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0, stream: true });
    for await (const _ of stream);
    const m2 = await read();
    const plain = await client.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0 });
    assert.equal(m2('gptforge_generation_tokens_total') - m1('gptforge_generation_tokens_total'), plain.usage!.completion_tokens);
  });
  test('--log: a generation\'s "request completed" line carries its prompt, completion and cached token counts, streamed or not', async () => {
    const lines: string[] = [];
    const s = new GptforgeServer({ parallel: 2, log: { write: (l: string) => void lines.push(l) } });
    s.setModels(new Map([['scripted', scriptedModel(tok)]]));
    const addr = await s.listen(0);
    const c = new OpenAI({ baseURL: `${addr}/v1`, apiKey: 'x', maxRetries: 0 });
    try {
      const r = await c.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0 });
      const stream = await c.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0, stream: true, max_tokens: 4 });
      for await (const _ of stream);
      await new Promise((res) => setTimeout(res, 50)); // the streamed reply's completion line follows its last byte
      const done = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((o) => o.msg === 'request completed' && typeof o.prompt_tokens === 'number');
      assert.equal(done.length, 2, lines.join(''));
      assert.deepEqual(
        done.map((o) => [o.model, o.prompt_tokens, o.completion_tokens, o.cached_tokens]),
        [
          ['scripted', r.usage!.prompt_tokens, r.usage!.completion_tokens, 0],
          ['scripted', r.usage!.prompt_tokens, 4, r.usage!.prompt_tokens - 1], // the same prompt again: all but its last token from the cache
        ],
      );
    } finally {
      await s.close();
    }
  });
});

describe('chat completions', () => {
  test('a non-streamed chat: the reply, finish reason and usage', async () => {
    const r = await client.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0 });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.content, 'Hello there. How are you? Bye.');
    assert.equal(r.choices[0].finish_reason, 'stop');
    const prompt = (await post('/tokenize', { model: 'scripted', messages: user('hi') })).json.count;
    assert.equal(r.usage!.prompt_tokens, prompt);
    assert.equal(r.usage!.completion_tokens, txt('Hello there. How are you? Bye.').length + 1); // and the end token
  });
  test("an assistant message with a refusal part (as OpenAI models send one back) is read as that reply's text; a user's refusal part is a 400", async () => {
    const said = 'I cannot help with that.';
    const history = (assistant: OpenAI.Chat.ChatCompletionAssistantMessageParam): OpenAI.Chat.ChatCompletionMessageParam[] => [{ role: 'user', content: 'hack it' }, assistant, { role: 'user', content: 'ok, hi' }];
    const asked = async (assistant: OpenAI.Chat.ChatCompletionAssistantMessageParam) => (await client.chat.completions.create({ model: 'scripted', messages: history(assistant), temperature: 0, max_tokens: 1 })).usage!.prompt_tokens;
    const asText = await asked({ role: 'assistant', content: said });
    assert.equal(await asked({ role: 'assistant', content: [{ type: 'refusal', refusal: said }] }), asText);
    assert.equal(
      await asked({
        role: 'assistant',
        content: [
          { type: 'text', text: 'I cannot ' },
          { type: 'refusal', refusal: 'help with that.' },
        ],
      }),
      asText,
    );
    // the message a reply returns, sent back as it came: content null, refusal set
    assert.equal(await asked({ role: 'assistant', content: null, refusal: said }), asText);
    assert.notEqual(await asked({ role: 'assistant', content: 'Sure.' }), asText, 'the count tells the texts apart');
    const userRefusal = [{ role: 'user', content: [{ type: 'refusal', refusal: said }] }] as unknown as OpenAI.Chat.ChatCompletionMessageParam[];
    await assert.rejects(client.chat.completions.create({ model: 'scripted', messages: userRefusal }), (e: unknown) => e instanceof BadRequestError && /messages\[0\]\.content\[0\]: only text parts are supported/.test(e.message));
  });
  test('a real model (sft) replies within max_tokens; finish length when cut', async () => {
    const r = await client.chat.completions.create({ model: 'sft', messages: user('Hello'), max_tokens: 5, seed: 3 });
    assert.ok(r.usage!.completion_tokens <= 5);
    assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
    const s = await client.chat.completions.create({ model: 'scripted', messages: user('hi'), max_tokens: 3, temperature: 0 });
    assert.equal(s.choices[0].finish_reason, 'length');
    assert.equal(s.usage!.completion_tokens, 3);
    assert.equal(s.choices[0].message.content, tok.decode(txt('Hello there. How are you? Bye.').slice(0, 3)));
  });
  test('max_completion_tokens wins over max_tokens', async () => {
    const s = await client.chat.completions.create({ model: 'scripted', messages: user('hi'), max_tokens: 10, max_completion_tokens: 2, temperature: 0 });
    assert.equal(s.usage!.completion_tokens, 2);
  });
  test('stop strings end the reply and never appear', async () => {
    for (const stop of ['How', 'e t', ['?', 'Bye']]) {
      const r = await client.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0, stop });
      const c = r.choices[0].message.content!;
      const full = 'Hello there. How are you? Bye.';
      const first = Math.min(...[stop].flat().map((s) => (full.indexOf(s) < 0 ? Infinity : full.indexOf(s))));
      assert.equal(c, full.slice(0, first));
      assert.equal(r.choices[0].finish_reason, 'stop');
    }
  });
  test('more than 4 stop strings is a BadRequestError naming "stop"', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'scripted', messages: user('hi'), stop: ['a', 'b', 'c', 'd', 'e'] }), (e: unknown) => e instanceof BadRequestError && e.param === 'stop');
  });
  test('streamed chat accumulated by chat.completions.stream() equals the non-streamed reply (same seed)', async () => {
    const params = { model: 'sft', messages: user('Hello'), max_tokens: 12, seed: 11, temperature: 1 };
    const whole = await client.chat.completions.create(params);
    let deltas = '';
    const stream = client.chat.completions.stream(params);
    stream.on('content', (d) => (deltas += d));
    const final = await stream.finalChatCompletion();
    assert.equal(final.choices[0].message.content, whole.choices[0].message.content);
    assert.equal(deltas, whole.choices[0].message.content);
    assert.equal(final.choices[0].finish_reason, whole.choices[0].finish_reason);
  });
  test('streamed stop strings never appear in any delta', async () => {
    const stream = client.chat.completions.stream({ model: 'scripted', messages: user('hi'), temperature: 0, stop: ['are'] });
    const final = await stream.finalChatCompletion();
    assert.equal(final.choices[0].message.content, 'Hello there. How ');
  });
  test('stream_options.include_usage: a last chunk with usage and no choices', async () => {
    const chunks = [];
    for await (const c of await client.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0, stream: true, stream_options: { include_usage: true } })) chunks.push(c);
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last.choices, []);
    assert.equal(last.usage!.completion_tokens, txt('Hello there. How are you? Bye.').length + 1);
    assert.ok(chunks.slice(0, -1).every((c) => c.usage === null));
  });
  test('n choices: each equals the single request with seed + i', async () => {
    const r = await client.chat.completions.create({ model: 'sft', messages: user('Hello'), n: 3, max_tokens: 8, seed: 40 });
    assert.deepEqual(
      r.choices.map((c) => c.index),
      [0, 1, 2],
    );
    for (let i = 0; i < 3; i++) {
      const one = await client.chat.completions.create({ model: 'sft', messages: user('Hello'), max_tokens: 8, seed: 40 + i });
      assert.equal(r.choices[i].message.content, one.choices[0].message.content);
    }
  });
  test('n > 1 streamed: the accumulator builds every choice', async () => {
    const final = await client.chat.completions.stream({ model: 'scripted', messages: user('hi'), temperature: 0, n: 2 }).finalChatCompletion();
    assert.equal(final.choices.length, 2);
    for (const c of final.choices) assert.equal(c.message.content, 'Hello there. How are you? Bye.');
  });
  test('the same seed gives the same reply; temperature 0 is deterministic', async () => {
    const a = await client.chat.completions.create({ model: 'sft', messages: user('Hello'), max_tokens: 10, seed: 7 });
    const b = await client.chat.completions.create({ model: 'sft', messages: user('Hello'), max_tokens: 10, seed: 7 });
    const c = await client.chat.completions.create({ model: 'sft', messages: user('Hello'), max_tokens: 10, seed: 8 });
    assert.equal(a.choices[0].message.content, b.choices[0].message.content);
    assert.notEqual(a.choices[0].message.content, c.choices[0].message.content);
  });
  test('a seeded request gives the same reply alone or batched with others', async () => {
    const seeds = [101, 102, 103, 104];
    const alone = [];
    for (const seed of seeds) alone.push((await client.chat.completions.create({ model: 'sft', messages: user(`Hi ${seed}`), max_tokens: 10, seed })).choices[0].message.content);
    const together = await Promise.all(seeds.map((seed) => client.chat.completions.create({ model: 'sft', messages: user(`Hi ${seed}`), max_tokens: 10, seed })));
    assert.deepEqual(
      together.map((r) => r.choices[0].message.content),
      alone,
    );
  });
  test('logprobs with top_logprobs: one entry per visible token, alternatives sorted, bytes rebuild the text', async () => {
    const r = await client.chat.completions.create({ model: 'sft', messages: user('Hello'), max_tokens: 8, seed: 5, logprobs: true, top_logprobs: 3 });
    const content = r.choices[0].logprobs!.content!;
    const ended = r.choices[0].finish_reason === 'stop' ? 1 : 0;
    assert.equal(content.length, r.usage!.completion_tokens - ended);
    for (const e of content) {
      assert.ok(e.logprob <= 0);
      assert.equal(e.top_logprobs.length, 3);
      for (let k = 1; k < 3; k++) assert.ok(e.top_logprobs[k - 1].logprob >= e.top_logprobs[k].logprob);
      assert.ok(e.logprob <= e.top_logprobs[0].logprob + 1e-6);
    }
    assert.equal(Buffer.from(content.flatMap((e) => e.bytes!)).toString('utf8'), r.choices[0].message.content);
  });
  test('logprobs while streaming equal the non-streamed ones', async () => {
    const params = { model: 'sft', messages: user('Hello'), max_tokens: 8, seed: 6, logprobs: true, top_logprobs: 2 };
    const whole = await client.chat.completions.create(params);
    const final = await client.chat.completions.stream(params).finalChatCompletion();
    assert.deepEqual(
      final.choices[0].logprobs!.content!.map((e) => [e.token, e.logprob]),
      whole.choices[0].logprobs!.content!.map((e) => [e.token, e.logprob]),
    );
  });
  test('top_logprobs above 20 or without logprobs is a BadRequestError', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'sft', messages: user('x'), logprobs: true, top_logprobs: 21 }), BadRequestError);
    await assert.rejects(client.chat.completions.create({ model: 'sft', messages: user('x'), top_logprobs: 2 }), BadRequestError);
  });
  test('logit_bias +100 makes a token the only one sampled; -100 bans it', async () => {
    const a = txt('a')[0];
    const r = await client.chat.completions.create({ model: 'sft', messages: user('Hello'), max_tokens: 6, seed: 1, logit_bias: { [a]: 100 } });
    assert.equal(r.choices[0].message.content, 'a'.repeat(6));
    const first = txt('Hello')[0];
    const banned = await client.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0, max_tokens: 3, logit_bias: { [first]: -100 } });
    assert.ok(!banned.choices[0].message.content!.startsWith('Hello'));
    await assert.rejects(client.chat.completions.create({ model: 'sft', messages: user('x'), logit_bias: { '99999': 1 } }), BadRequestError);
  });
  test('frequency and presence penalties push a favoured token out after a few repeats', async () => {
    const a = txt('a')[0];
    const plain = await client.chat.completions.create({ model: 'sft', messages: user('Hello'), max_tokens: 8, temperature: 0, logit_bias: { [a]: 5 } });
    assert.equal(plain.choices[0].message.content, 'a'.repeat(8));
    const freq = await client.chat.completions.create({ model: 'sft', messages: user('Hello'), max_tokens: 8, temperature: 0, logit_bias: { [a]: 5 }, frequency_penalty: 2 });
    const f = freq.choices[0].message.content!;
    assert.ok(f.startsWith('aa') && f !== 'a'.repeat(8) && f.split('a').length - 1 <= 4, f);
    const pres = await client.chat.completions.create({ model: 'sft', messages: user('Hello'), max_tokens: 8, temperature: 0, logit_bias: { [a]: 1.5 }, presence_penalty: 2 });
    assert.ok(pres.choices[0].message.content!.startsWith('a') && !pres.choices[0].message.content!.startsWith('aa'), pres.choices[0].message.content!);
  });
  test("max_tokens below 1 is refused with the model's context as its limit, as the web pages say it", async () => {
    for (const key of ['max_tokens', 'max_completion_tokens']) await assert.rejects(client.chat.completions.create({ model: 'sft', messages: user('x'), [key]: 0 }), (e: unknown) => e instanceof BadRequestError && e.param === key && e.message.includes(`'${key}' must be between 1 and 64, got 0`));
  });
  test('temperature out of range is a BadRequestError with param', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'sft', messages: user('x'), temperature: 3 }), (e: unknown) => e instanceof BadRequestError && e.param === 'temperature');
  });
  test('top_p 0 is accepted, as OpenAI does: only the most likely token stays, so a sampled reply is the greedy one; outside [0, 1] is a BadRequestError naming top_p', async () => {
    const greedy = await client.chat.completions.create({ model: 'sft', messages: user('Hello there.'), temperature: 0, max_tokens: 12 });
    for (const seed of [1, 2]) {
      const r = await client.chat.completions.create({ model: 'sft', messages: user('Hello there.'), temperature: 1, top_p: 0, seed, max_tokens: 12 });
      assert.equal(r.choices[0].message.content, greedy.choices[0].message.content);
    }
    // a real model's sampled reply at top_p 1 differs from the greedy one for some seed (else the check above proves nothing)
    const free = await Promise.all([1, 2, 3].map((seed) => client.chat.completions.create({ model: 'sft', messages: user('Hello there.'), temperature: 1, seed, max_tokens: 12 })));
    assert.ok(free.some((r) => r.choices[0].message.content !== greedy.choices[0].message.content));
    await assert.rejects(client.chat.completions.create({ model: 'sft', messages: user('x'), top_p: 1.5 }), (e: unknown) => e instanceof BadRequestError && e.param === 'top_p');
  });
  test('context overflow is a BadRequestError with the token counts', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'sft', messages: user('Hello'), max_tokens: 1000 }), (e: unknown) => e instanceof BadRequestError && e.code === 'context_length_exceeded' && /maximum context length is 64 tokens/.test(e.message) && /1000 in the completion/.test(e.message));
    await assert.rejects(client.chat.completions.create({ model: 'sft', messages: user('Hello there. '.repeat(30)) }), (e: unknown) => e instanceof BadRequestError && e.code === 'context_length_exceeded');
  });
  test('response_format json_schema (strict): 100 seeds, every reply complete and valid under ajv; an unsupported keyword is a BadRequestError naming it', async () => {
    const schema = { type: 'object', properties: { answer: { type: 'integer', minimum: 0, maximum: 99 }, sure: { type: 'boolean' }, kind: { enum: ['noun', 'verb'] } }, required: ['answer', 'sure', 'kind'], additionalProperties: false };
    const validate = ajvValidator(schema);
    for (let s0 = 0; s0 < 100; s0 += 20) {
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => client.chat.completions.create({ model: 'sft', messages: user('Answer in JSON.'), seed: s0 + i, max_tokens: 40, response_format: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } } })));
      for (const r of replies) {
        // the schema is bounded and whitespace compact: 40 tokens always suffice, so every reply completes
        assert.equal(r.choices[0].finish_reason, 'stop', `seed reply ${r.choices[0].message.content}`);
        const value = JSON.parse(r.choices[0].message.content ?? '') as unknown;
        assert.ok(validate(value), r.choices[0].message.content ?? '');
      }
    }
    await assert.rejects(
      client.chat.completions.create({ model: 'sft', messages: user('x'), response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', not: { const: 'a' } }, strict: true } } }),
      (e: unknown) => e instanceof BadRequestError && e.param === 'response_format' && /not/.test(e.message),
    );
    const ok = await client.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0, response_format: { type: 'text' } });
    assert.equal(ok.choices[0].finish_reason, 'stop');
  });
  test('OpenAI edges: a chat ending with an assistant message is continued (a prefill), not refused; stream_options without stream is a BadRequestError naming it', async () => {
    const r = await client.chat.completions.create({ model: 'scripted', messages: [...user('hi'), { role: 'assistant', content: 'Hello there.' }], temperature: 0, max_tokens: 8 });
    const plain = await client.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0, max_tokens: 8 });
    // the prompt is the open turn: the user prompt plus the assistant's words, without its end of turn
    assert.equal(r.usage!.prompt_tokens, plain.usage!.prompt_tokens + tok.encode('Hello there.', { disallowedSpecial: 'plain' }).length);
    await assert.rejects(client.chat.completions.create({ model: 'scripted', messages: user('hi'), max_tokens: 2, stream_options: { include_usage: true } }), (e: unknown) => e instanceof BadRequestError && e.param === 'stream_options');
    await assert.rejects(client.completions.create({ model: 'base', prompt: 'hi', max_tokens: 2, stream_options: { include_usage: true } }), (e: unknown) => e instanceof BadRequestError && e.param === 'stream_options');
  });
  test('error texts name the thing: a schema error is prefixed once; an out-of-range prompt token id is named', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'sft', messages: user('x'), response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', not: { const: 'a' } }, strict: true } } }),
      (e: unknown) => e instanceof BadRequestError && /^400 response_format\.json_schema\.schema/.test(e.message) && !/response_format: response_format/.test(e.message),
    );
    const V = tok.vocabSize;
    for (const prompt of [
      [99999],
      [
        [1, 2],
        [3, -1],
      ],
    ])
      await assert.rejects(client.completions.create({ model: 'base', prompt, max_tokens: 2 }), (e: unknown) => e instanceof BadRequestError && e.param === 'prompt' && new RegExp(`token id (99999|-1) is out of range: this model's ids are 0–${V - 1}`).test(e.message));
  });
  test('response_format json_object: a complete reply is a JSON object; one cut by max_tokens says length', async () => {
    for (let seed = 0; seed < 10; seed++) {
      const r = await client.chat.completions.create({ model: 'sft', messages: user('JSON please'), seed, max_tokens: 30, response_format: { type: 'json_object' } });
      const c = r.choices[0];
      assert.ok(c.finish_reason === 'stop' || c.finish_reason === 'length', String(c.finish_reason));
      assert.ok((c.message.content ?? '').startsWith('{'), c.message.content ?? '');
      if (c.finish_reason === 'stop') assert.equal(typeof JSON.parse(c.message.content ?? ''), 'object');
    }
  });
  test('malformed messages are BadRequestErrors', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'sft', messages: [] }), BadRequestError);
    await assert.rejects(client.chat.completions.create({ model: 'sft', messages: [{ role: 'tool', content: 'x', tool_call_id: 'a' }] }), BadRequestError);
    // (a chat ending with an assistant message is continued, as OpenAI accepts it: see "OpenAI edges")
    await assert.rejects(client.chat.completions.create({ model: 'sft', messages: [{ role: 'narrator', content: 'x' } as never] }), BadRequestError);
  });
});

test('streamed content deltas never carry half a character: a reply whose 2-, 3- and 4-byte characters arrive one byte token at a time (no U+FFFD, the emoji whole in one delta)', async () => {
  const deltas: string[] = [];
  for await (const ch of await client.chat.completions.create({ model: 'scripted', messages: user('bytes please'), temperature: 0, stream: true })) {
    const d = ch.choices[0]?.delta.content;
    if (d) deltas.push(d);
  }
  assert.equal(deltas.join(''), BYTE_REPLY);
  for (const d of deltas) assert.ok(!d.includes('\uFFFD') && !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(d), JSON.stringify(d));
  assert.ok(deltas.includes('😀') && deltas.includes('中'), JSON.stringify(deltas));
  const plain = await client.chat.completions.create({ model: 'scripted', messages: user('bytes please'), temperature: 0 });
  assert.equal(plain.choices[0].message.content, BYTE_REPLY);
});

describe('tools', () => {
  const weather = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  test("the model's tool call comes back as tool_calls, and the client's result goes back in", async () => {
    const r = await client.chat.completions.create({ model: 'scripted', messages: user('weather?'), temperature: 0, tools: weather });
    const msg = r.choices[0].message;
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.equal(msg.content, null);
    assert.equal(msg.tool_calls!.length, 1);
    const call = msg.tool_calls![0] as { id: string; function: { name: string; arguments: string } };
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
    const next = await client.chat.completions.create({
      model: 'scripted',
      temperature: 0,
      tools: weather,
      messages: [...user('weather?'), msg, { role: 'tool', tool_call_id: call.id, content: '22C and sunny' }],
    });
    assert.equal(next.choices[0].message.content, ' It says: 22C and sunny.');
    assert.equal(next.choices[0].finish_reason, 'stop');
  });
  test('a call cut by max_tokens is returned as far as it got, finish_reason length (as OpenAI does), plain and streamed', async () => {
    const full = '{"city": "Paris"}';
    const strictWeather = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, strict: true } }];
    let seen = 0;
    for (const [tools, max] of [
      [weather, 6],
      [strictWeather, 7],
      [weather, 8],
    ] as const) {
      const r = await client.chat.completions.create({ model: 'scripted', messages: user('weather?'), temperature: 0, tools, max_tokens: max });
      const c = r.choices[0];
      if (c.finish_reason === 'tool_calls') continue; // the budget sufficed
      seen++;
      assert.equal(c.finish_reason, 'length');
      assert.equal(c.message.content, null);
      const call = c.message.tool_calls![0] as { id: string; function: { name: string; arguments: string } };
      assert.equal(call.function.name, 'get_weather');
      assert.ok(call.function.arguments.length < full.length, call.function.arguments);
      if (tools === weather) assert.ok(full.startsWith(call.function.arguments), call.function.arguments);
      // (the SDK's stream helper refuses a 'length' finish: accumulate the chunks by hand)
      let args = '';
      let finish: string | null = null;
      for await (const ch of await client.chat.completions.create({ model: 'scripted', messages: user('weather?'), temperature: 0, tools, max_tokens: max, stream: true })) {
        for (const tc of ch.choices[0]?.delta.tool_calls ?? []) args += tc.function?.arguments ?? '';
        finish = ch.choices[0]?.finish_reason ?? finish;
      }
      assert.equal(finish, 'length');
      assert.equal(args, call.function.arguments);
    }
    assert.ok(seen >= 2, `${seen} cut calls`);
  });
  test('tools with response_format (OpenAI allows both): the reply is a tool call, or content under the format; built-in calls may run before that content', async () => {
    const schema = { type: 'object', properties: { a: { enum: ['x', 'y'] } }, required: ['a'], additionalProperties: false };
    const response_format = { type: 'json_schema' as const, json_schema: { name: 'answer', schema, strict: true } };
    const valid = (content: string | null | undefined): boolean => {
      const v = JSON.parse(content ?? 'null') as { a?: unknown } | null;
      return v !== null && ['x', 'y'].includes(v.a as string) && Object.keys(v).length === 1;
    };
    // the model calls the client's tool: the reply is that call, its arguments the model's
    const called = await client.chat.completions.create({ model: 'scripted', messages: user('weather?'), temperature: 0, tools: weather, response_format });
    assert.equal(called.choices[0].finish_reason, 'tool_calls');
    assert.deepEqual(JSON.parse((called.choices[0].message.tool_calls![0] as { function: { arguments: string } }).function.arguments), { city: 'Paris' });
    // no call: the content is under response_format (the model's own "Hello there." is masked)
    const plain = await client.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0, tools: weather, response_format, max_tokens: 30 });
    assert.equal(plain.choices[0].finish_reason, 'stop');
    assert.ok(valid(plain.choices[0].message.content), String(plain.choices[0].message.content));
    // the built-in calculator runs first, then the value is written under the format (plain and streamed)
    type Builtin = { builtin_tool_calls?: Array<{ name: string; output: string }> };
    const calc = { model: 'scripted', messages: user('calc please'), temperature: 0, builtin_tools: ['calculator'], response_format, max_tokens: 40 };
    const ran = await client.chat.completions.create(calc as OpenAI.ChatCompletionCreateParamsNonStreaming);
    assert.deepEqual(
      (ran.choices[0].message as Builtin).builtin_tool_calls?.map((c) => `${c.name} ${c.output}`),
      ['calculator 36'],
    );
    assert.ok(valid(ran.choices[0].message.content), String(ran.choices[0].message.content));
    let streamed = '';
    for await (const ch of await client.chat.completions.create({ ...calc, stream: true } as OpenAI.ChatCompletionCreateParamsStreaming)) streamed += ch.choices[0]?.delta.content ?? '';
    assert.equal(streamed, ran.choices[0].message.content);
    // a model that would call forever: one call before the content by default, `max_tool_calls` when the request sets it
    const calls = async (extra: Record<string, unknown>): Promise<number> => {
      const r = await client.chat.completions.create({ ...calc, messages: user('calc forever'), max_tokens: 100, ...extra } as OpenAI.ChatCompletionCreateParamsNonStreaming);
      return ((r.choices[0].message as Builtin).builtin_tool_calls ?? []).length;
    };
    assert.equal(await calls({}), 1);
    assert.equal(await calls({ max_tool_calls: 3 }), 3);
  });
  test('tool calls are accumulated from a stream', async () => {
    const final = await client.chat.completions.stream({ model: 'scripted', messages: user('weather?'), temperature: 0, tools: weather }).finalChatCompletion();
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    assert.equal(final.choices[0].message.tool_calls![0].function.name, 'get_weather');
    assert.deepEqual(JSON.parse(final.choices[0].message.tool_calls![0].function.arguments), { city: 'Paris' });
  });
  test('tool calls with logprobs: only the visible text has entries', async () => {
    const r = await client.chat.completions.create({ model: 'scripted', messages: user('weather?'), temperature: 0, tools: weather, logprobs: true });
    assert.deepEqual(r.choices[0].logprobs!.content, []);
  });
  test('the built-in calculator runs server-side (builtin_tools) and the model reads its output', async () => {
    const r = await client.chat.completions.create({ model: 'scripted', messages: user('calc please'), temperature: 0, builtin_tools: ['calculator'] } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    assert.equal(r.choices[0].message.content, ' It says: 36.');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.choices[0].message.tool_calls, undefined);
  });
  test("the built-in calls in one reply stop at max_tool_calls (OpenAI's name), by default the library's ChatOptions.maxToolCalls default", async () => {
    type Builtin = { builtin_tool_calls?: unknown[] };
    const ask = async (extra: Record<string, unknown>) => {
      const r = await client.chat.completions.create({ model: 'scripted', messages: user('calc forever'), temperature: 0, max_tokens: 100, builtin_tools: ['calculator'], ...extra } as OpenAI.ChatCompletionCreateParamsNonStreaming);
      return ((r.choices[0].message as Builtin).builtin_tool_calls ?? []).length;
    };
    assert.equal(await ask({}), DEFAULT_MAX_TOOL_CALLS);
    assert.equal(await ask({ max_tool_calls: 6 }), 6);
    assert.equal(await ask({ max_tool_calls: 1 }), 1);
    assert.equal(await ask({ max_tool_calls: 0 }), 0);
    // the cap reached while the model wanted another call: the choice's hint says so, as when no tool is enabled
    const capped = await client.chat.completions.create({ model: 'scripted', messages: user('calc forever'), temperature: 0, max_tokens: 100, builtin_tools: ['calculator'], max_tool_calls: 0 } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    assert.match((capped.choices[0] as { hint?: string }).hint ?? '', /"max_tool_calls" \(0\) built-in calls had run: raise "max_tool_calls"/);
    const cappedHints: string[] = [];
    for await (const ch of await client.chat.completions.create({ model: 'scripted', messages: user('calc forever'), temperature: 0, max_tokens: 100, builtin_tools: ['calculator'], max_tool_calls: 1, stream: true } as OpenAI.ChatCompletionCreateParamsStreaming)) {
      const h = (ch.choices[0] as { hint?: string } | undefined)?.hint;
      if (h) cappedHints.push(h);
    }
    assert.deepEqual(
      cappedHints.map((h) => /\(1\) built-in calls/.test(h)),
      [true],
    );
    const bad = await post('/v1/chat/completions', { model: 'scripted', messages: user('hi'), max_tool_calls: -1 });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.param, 'max_tool_calls');
  });
  test("assist reports each reply's built-in calls as chat does (builtin_tool_calls: name, input, output, ok): on self-consistency's samples, reflection's first reply and rounds, a direct reply; none without builtin_tools", async () => {
    const call = { name: 'calculator', input: '12*3', output: '36', ok: true };
    const assist = async (extra: Record<string, unknown>) => (await post('/v1/gptforge/assist', { model: 'scripted', messages: user('calc 12 plus 3?'), max_tokens: 40, builtin_tools: ['calculator'], ...extra })).json;
    const sc = await assist({ technique: 'self-consistency', k: 2, temperature: 0 });
    assert.deepEqual(
      sc.consistency.samples.map((s: { builtin_tool_calls?: unknown }) => s.builtin_tool_calls),
      [[call], [call]],
    );
    assert.equal(sc.answer, '36');
    const rf = await assist({ technique: 'reflect', rounds: 2 });
    assert.deepEqual(rf.reflection.first_builtin_tool_calls, [call]);
    assert.ok(rf.reflection.rounds.length >= 1);
    for (const round of rf.reflection.rounds) assert.deepEqual(round.builtin_tool_calls, [call]);
    const direct = await assist({ technique: 'direct' });
    assert.deepEqual(direct.builtin_tool_calls, [call]);
    // without the calculator no call runs, and no field is there (as on chat)
    const off = await assist({ technique: 'self-consistency', k: 2, temperature: 0, builtin_tools: undefined });
    assert.deepEqual(
      off.consistency.samples.map((s: { builtin_tool_calls?: unknown }) => s.builtin_tool_calls),
      [undefined, undefined],
    );
  });
  test('rag.empty_context in the library\'s spelling ("no-answer") is a 400 naming the API\'s values ("no_answer" or "generate")', async () => {
    const r = await post('/v1/chat/completions', { model: 'scripted', messages: user('hi'), rag: { empty_context: 'no-answer' } });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.param, 'rag');
    assert.match(r.json.error.message, /'rag\.empty_context' must be "no_answer" or "generate", got "no-answer"/);
  });
  test('a built-in call that ran is shown on the message (builtin_tool_calls: name, input, output), streamed as its own delta between the text before and after it', async () => {
    type Builtin = { builtin_tool_calls?: Array<{ index?: number; name: string; input: string; output: string; ok: boolean }> };
    const calc = { model: 'scripted', messages: user('calc please'), temperature: 0, builtin_tools: ['calculator'] };
    const r = await client.chat.completions.create(calc as OpenAI.ChatCompletionCreateParamsNonStreaming);
    // offset: where it ran in the content (code points before it), so the message can go back as history (docs/server.md)
    assert.deepEqual((r.choices[0].message as Builtin).builtin_tool_calls, [{ name: 'calculator', input: '12*3', output: '36', ok: true, offset: 0 }]);
    // streamed: the call's delta comes before the text the model wrote after reading its output
    const seen: string[] = [];
    for await (const ch of await client.chat.completions.create({ ...calc, stream: true } as OpenAI.ChatCompletionCreateParamsStreaming)) {
      const d = ch.choices[0]?.delta as (Builtin & { content?: string | null }) | undefined;
      for (const c of d?.builtin_tool_calls ?? []) seen.push(`[${c.index} ${c.name}: ${c.input} → ${c.output}]`);
      if (d?.content) seen.push(d.content);
    }
    assert.equal(seen.join(''), '[0 calculator: 12*3 → 36] It says: 36.');
    // no built-in call, no field
    const plain = await client.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0, builtin_tools: ['calculator'] } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    assert.equal((plain.choices[0].message as Builtin).builtin_tool_calls, undefined);
  });
  test("a reply sent back as history keeps its built-in calls where they ran: the message as it came (builtin_tool_calls with offsets) or OpenAI's form (assistant tool_calls, tool messages, then the rest of the reply) render the turn the model wrote", async () => {
    const calc = { model: 'scripted', messages: user('calc please'), temperature: 0, builtin_tools: ['calculator'] };
    const r = await client.chat.completions.create(calc as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const msg = r.choices[0].message;
    assert.equal(msg.content, ' It says: 36.');
    const turn = '<|assistant_start|><|tool_start|>calculator: 12*3<|tool_end|><|output_start|>36<|output_end|> It says: 36.<|assistant_end|><|user_start|>and now?<|user_end|>';
    const rendered = async (messages: unknown[]): Promise<string> => {
      const t = await post('/tokenize', { model: 'scripted', messages });
      assert.equal(t.status, 200, JSON.stringify(t.json));
      return tok.decode(t.json.tokens);
    };
    // the message as the client got it (the usual `messages.push(message)`), sent back through the client
    const echoed = [...user('calc please'), msg, ...user('and now?')];
    assert.ok((await rendered(echoed)).includes(turn), await rendered(echoed));
    const next = await client.chat.completions.create({ model: 'scripted', messages: echoed as OpenAI.ChatCompletionMessageParam[], temperature: 0, max_tokens: 12 });
    assert.equal(next.choices.length, 1);
    // OpenAI's form of the same turn: the call as tool_calls, its output as a tool message, the text after it as the next assistant message
    const openai: OpenAI.ChatCompletionMessageParam[] = [
      ...user('calc please'),
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'calculator', arguments: '{"input":"12*3"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '36' },
      { role: 'assistant', content: ' It says: 36.' },
      ...user('and now?'),
    ];
    assert.equal(await rendered(openai), await rendered(echoed));
    // a call in the middle of the text: the text before it, the call, the rest
    const mid = { role: 'assistant', content: 'Let me see. It is 36.', builtin_tool_calls: [{ name: 'calculator', input: '12*3', output: '36', ok: true, offset: 11 }] };
    assert.ok((await rendered([...user('calc please'), mid, ...user('and now?')])).includes('<|assistant_start|>Let me see.<|tool_start|>calculator: 12*3<|tool_end|><|output_start|>36<|output_end|> It is 36.<|assistant_end|>'));
    // an offset past the content is a 400 naming the message
    const bad = await post('/v1/chat/completions', { model: 'scripted', messages: [...user('calc please'), { ...mid, builtin_tool_calls: [{ ...mid.builtin_tool_calls[0], offset: 99 }] }, ...user('and now?')] });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.param, 'messages');
    assert.match(bad.json.error.message, /messages\[1\]\.builtin_tool_calls\[0\]\.offset must be an integer from 0 to 21/);
  });
  test('a reply whose model wanted a tool the request did not enable carries a hint saying so (plain and streamed); with the tool on, none', async () => {
    type Hinted = { hint?: string };
    const r = await client.chat.completions.create({ model: 'scripted', messages: user('calc please'), temperature: 0, max_tokens: 8 });
    assert.match((r.choices[0] as Hinted).hint ?? '', /tried to call a tool this request did not enable: send "builtin_tools": \["calculator"\]/);
    const hints: string[] = [];
    for await (const ch of await client.chat.completions.create({ model: 'scripted', messages: user('calc please'), temperature: 0, max_tokens: 8, stream: true })) {
      const h = (ch.choices[0] as Hinted | undefined)?.hint;
      if (h) hints.push(h);
    }
    assert.equal(hints.length, 1);
    const on = await client.chat.completions.create({ model: 'scripted', messages: user('calc please'), temperature: 0, builtin_tools: ['calculator'] } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    assert.equal((on.choices[0] as Hinted).hint, undefined);
    const plain = await client.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0 });
    assert.equal((plain.choices[0] as Hinted).hint, undefined);
  });
  test('a call only ever names a declared function: "required" with non-strict tools writes a declared name where the model wanted the undeclared calculator (plain and streamed, scripted and random models); under "auto" that call is dropped with the hint', async () => {
    type Hinted = { hint?: string };
    const end = tok.specialId('<|tool_end|>');
    const names: string[] = [];
    const r = await client.chat.completions.create({ model: 'scripted', messages: user('calc please'), temperature: 0, tools: weather, tool_choice: 'required', logit_bias: { [end]: 50 }, max_tokens: 30 });
    for (const c of r.choices[0].message.tool_calls ?? []) names.push((c as { function: { name: string } }).function.name);
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    for await (const ch of await client.chat.completions.create({ model: 'scripted', messages: user('calc please'), temperature: 0, tools: weather, tool_choice: 'required', logit_bias: { [end]: 50 }, max_tokens: 30, stream: true }))
      for (const tc of ch.choices[0]?.delta.tool_calls ?? []) if (tc.function?.name) names.push(tc.function.name);
    for (let seed = 0; seed < 6; seed++) {
      const rr = await client.chat.completions.create({ model: 'sft', messages: user('Hello'), seed, tools: weather, tool_choice: 'required', logit_bias: { [end]: 50 }, max_tokens: 30 });
      for (const c of rr.choices[0].message.tool_calls ?? []) names.push((c as { function: { name: string } }).function.name);
    }
    assert.ok(names.length >= 6, `${names.length} calls`);
    assert.deepEqual([...new Set(names)], ['get_weather']);
    const auto = await client.chat.completions.create({ model: 'scripted', messages: user('calc please'), temperature: 0, tools: weather, max_tokens: 30 });
    assert.equal(auto.choices[0].message.tool_calls, undefined);
    assert.equal(auto.choices[0].finish_reason, 'stop');
    assert.match((auto.choices[0] as Hinted).hint ?? '', /did not enable/);
    // the declared tool is still called under "auto"
    const weatherCall = await client.chat.completions.create({ model: 'scripted', messages: user('weather?'), temperature: 0, tools: weather, tool_choice: 'auto' });
    assert.equal((weatherCall.choices[0].message.tool_calls![0] as { function: { name: string } }).function.name, 'get_weather');
  });
  test('a model that would end its turn inside a call cannot: the end of turn is masked there, the call closes and comes back as tool_calls (plain and streamed)', async () => {
    const calc = [{ type: 'function' as const, function: { name: 'calculator', parameters: { type: 'object' } } }];
    const r = await client.chat.completions.create({ model: 'scripted', messages: user('unclosed calc'), temperature: 0, tools: calc, max_tokens: 40 });
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.equal((r.choices[0].message.tool_calls![0] as { function: { name: string } }).function.name, 'calculator');
    const names: string[] = [];
    let finish: string | null = null;
    for await (const ch of await client.chat.completions.create({ model: 'scripted', messages: user('unclosed calc'), temperature: 0, tools: calc, max_tokens: 40, stream: true })) {
      for (const tc of ch.choices[0]?.delta.tool_calls ?? []) if (tc.function?.name) names.push(tc.function.name);
      finish = ch.choices[0]?.finish_reason ?? finish;
    }
    assert.deepEqual(names, ['calculator']);
    assert.equal(finish, 'tool_calls');
  });
  test('tool_choice "none" masks calls; without tools the model cannot call', async () => {
    const r = await client.chat.completions.create({ model: 'scripted', messages: user('weather?'), temperature: 0, tools: weather, tool_choice: 'none', max_tokens: 4 });
    assert.notEqual(r.choices[0].finish_reason, 'tool_calls');
    const r2 = await client.chat.completions.create({ model: 'scripted', messages: user('weather?'), temperature: 0, max_tokens: 4 });
    assert.equal(r2.choices[0].message.tool_calls, undefined);
  });
  test('tool_choice naming a function makes even a random model call it', async () => {
    const end = tok.specialId('<|tool_end|>');
    const r = await client.chat.completions.create({ model: 'sft', messages: user('Hello'), seed: 2, tools: weather, tool_choice: { type: 'function', function: { name: 'get_weather' } }, logit_bias: { [end]: 100 }, max_tokens: 30 });
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    const call = r.choices[0].message.tool_calls![0] as { function: { name: string; arguments: string } };
    assert.equal(call.function.name, 'get_weather');
    assert.equal(typeof JSON.parse(call.function.arguments), 'object');
  });
  test("with strict: true a call's arguments are decoded under the tool's declared parameters: valid under ajv for 12 seeds of a random model; an unenforceable schema is a BadRequestError", async () => {
    const parameters = { type: 'object', properties: { city: { type: 'string', maxLength: 8 }, days: { type: 'integer', minimum: 1, maximum: 7 } }, required: ['city', 'days'], additionalProperties: false };
    const validate = ajvValidator(parameters);
    const forecast = [{ type: 'function' as const, function: { name: 'forecast', parameters, strict: true } }];
    let calls = 0;
    for (let seed = 0; seed < 12; seed++) {
      const r = await client.chat.completions.create({ model: 'sft', messages: user('Weather in Paris?'), seed, tools: forecast, tool_choice: { type: 'function', function: { name: 'forecast' } }, max_tokens: 50 });
      const c = r.choices[0];
      // a call cut before its arguments were complete ends as 'length', never as an invalid call
      assert.ok(c.finish_reason === 'tool_calls' || c.finish_reason === 'length', `seed ${seed}: ${c.finish_reason}`);
      if (c.finish_reason !== 'tool_calls') continue;
      calls++;
      const call = c.message.tool_calls![0] as { function: { name: string; arguments: string } };
      assert.equal(call.function.name, 'forecast');
      const args: unknown = JSON.parse(call.function.arguments);
      assert.ok(validate(args), `seed ${seed}: ${call.function.arguments}`);
    }
    assert.ok(calls >= 9, `${calls} of 12 seeds completed their call`);
    const bad = [{ type: 'function' as const, function: { name: 'f', strict: true, parameters: { type: 'object', properties: { x: { type: 'string', not: { const: 'a' } } } } } }];
    await assert.rejects(client.chat.completions.create({ model: 'sft', messages: user('x'), tools: bad }), BadRequestError);
  });
  test('a tool_choice naming an unknown function, or tool results without a call, are BadRequestErrors', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'sft', messages: user('x'), tools: weather, tool_choice: { type: 'function', function: { name: 'nope' } } }), BadRequestError);
    await assert.rejects(client.chat.completions.create({ model: 'sft', messages: [...user('x'), { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] }] }), BadRequestError);
  });
});

describe('completions, embeddings, scoring, tokenizer routes', () => {
  test('completions on the base model: text, usage, finish reason', async () => {
    const r = await client.completions.create({ model: 'base', prompt: 'the weather', max_tokens: 6, seed: 1 });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.usage!.prompt_tokens, 1 + txt('the weather').length);
    assert.ok(r.usage!.completion_tokens <= 6);
    assert.equal(typeof r.choices[0].text, 'string');
  });
  test('completions streamed concatenate to the non-streamed text', async () => {
    const whole = await client.completions.create({ model: 'base', prompt: 'the weather', max_tokens: 10, seed: 9 });
    let text = '';
    for await (const c of await client.completions.create({ model: 'base', prompt: 'the weather', max_tokens: 10, seed: 9, stream: true })) text += c.choices[0]?.text ?? '';
    assert.equal(text, whole.choices[0].text);
  });
  test('completions: several prompts × n choices, and logprobs', async () => {
    const r = await client.completions.create({ model: 'base', prompt: ['a', 'b'], n: 2, max_tokens: 3, seed: 1, logprobs: 2 });
    assert.equal(r.choices.length, 4);
    assert.deepEqual(
      r.choices.map((c) => c.index),
      [0, 1, 2, 3],
    );
    const lp = r.choices[0].logprobs!;
    assert.equal(lp.tokens!.length, lp.token_logprobs!.length);
    assert.ok(lp.top_logprobs!.every((t) => Object.keys(t).length <= 2 && Object.keys(t).length >= 1));
  });
  test('embeddings with the client default encoding (base64) decode to unit vectors of the model width', async () => {
    const r = await client.embeddings.create({ model: 'sft', input: ['the weather in Paris', 'Bye'] });
    assert.equal(r.data.length, 2);
    for (const d of r.data) {
      assert.equal(d.embedding.length, 32);
      assert.ok(Math.abs(Math.hypot(...d.embedding) - 1) < 1e-5);
    }
    assert.notDeepEqual(r.data[0].embedding, r.data[1].embedding);
    assert.equal(r.usage.prompt_tokens, txt('the weather in Paris').length + txt('Bye').length);
  });
  test('embeddings as floats equal the base64 ones exactly', async () => {
    const f = await client.embeddings.create({ model: 'sft', input: 'Hello there', encoding_format: 'float' });
    const b = await client.embeddings.create({ model: 'sft', input: 'Hello there' });
    assert.deepEqual(b.data[0].embedding, f.data[0].embedding);
    // a reward model is not an embedding model: said so for embeddings, not "does not generate"
    await assert.rejects(client.embeddings.create({ model: 'rm', input: 'x' }), (e: unknown) => e instanceof NotFoundError && /embeddings come from the language models/.test(e.message));
  });
  test('rewards: the reward model scores (prompt, reply) pairs deterministically', async () => {
    const r = await post('/v1/rewards', {
      input: [
        { prompt: 'What is 12*3?', reply: '36' },
        { prompt: 'What is 12*3?', reply: 'Hello there.' },
        { prompt: 'What is 12*3?', reply: '36' },
      ],
    });
    assert.equal(r.status, 200);
    const s = r.json.data.map((d: { score: number }) => d.score);
    assert.ok(s.every((x: number) => Number.isFinite(x)));
    assert.equal(s[0], s[2]);
    assert.notEqual(s[0], s[1]);
    const bad = await post('/v1/rewards', { model: 'sft', input: [{ prompt: 'x', reply: 'y' }] });
    assert.equal(bad.status, 404);
  });
  test('tokenize and detokenize round-trip', async () => {
    const t = await post('/tokenize', { model: 'sft', prompt: 'Hello there', add_special_tokens: false });
    assert.deepEqual(t.json.tokens, txt('Hello there'));
    assert.equal(t.json.max_model_len, 64);
    const d = await post('/detokenize', { model: 'sft', tokens: t.json.tokens });
    assert.equal(d.json.prompt, 'Hello there');
    assert.equal((await post('/detokenize', { model: 'sft', tokens: [-1] })).status, 400);
  });
});

describe('errors', () => {
  test('an unknown model is a NotFoundError in OpenAI shape', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages: user('x') }), (e: unknown) => e instanceof NotFoundError && e.code === 'model_not_found' && e.type === 'invalid_request_error' && e.param === 'model');
    // the reward model is listed by /v1/models but does not generate: said so, and not offered as a chat model
    await assert.rejects(client.chat.completions.create({ model: 'rm', messages: user('x') }), (e: unknown) => e instanceof NotFoundError && /The model 'rm' is a reward model: it scores replies/.test(e.message) && !/on this server: .*\brm\b/.test(e.message));
  });
  // fixes46 #2: a request without `model` was refused although the server has a default (llama.cpp's server and vLLM's single-model mode take it)
  test("a request without 'model' gets the server's default (/v1/models' `default`), the reward route its rm; an unknown one stays a 404, a non-string a 400", async () => {
    const listed = (await (await fetch(`${base}/v1/models`)).json()) as { data: { id: string; default?: boolean }[] };
    const dflt = listed.data.find((m) => m.default)?.id;
    assert.equal(dflt, 'sft');
    const chat = await post('/v1/chat/completions', { messages: user('hi'), max_tokens: 2 });
    assert.equal(chat.status, 200, JSON.stringify(chat.json));
    assert.equal(chat.json.model, dflt);
    const completion = await post('/v1/completions', { prompt: 'Hello', max_tokens: 2 });
    assert.equal(completion.status, 200, JSON.stringify(completion.json));
    assert.equal(completion.json.model, dflt);
    assert.equal((await post('/tokenize', { prompt: 'Hello there', add_special_tokens: false })).json.tokens.length, txt('Hello there').length);
    const scored = await post('/v1/rewards', { input: [{ prompt: 'x', reply: 'y' }] });
    assert.equal(scored.status, 200, JSON.stringify(scored.json));
    assert.equal(scored.json.model, 'rm');
    const unknown = await post('/v1/chat/completions', { model: 'gpt-4o', messages: user('hi') });
    assert.equal(unknown.status, 404);
    assert.deepEqual([unknown.json.error.type, unknown.json.error.param, unknown.json.error.code], ['invalid_request_error', 'model', 'model_not_found']);
    const notString = await post('/v1/chat/completions', { model: 7, messages: user('hi') });
    assert.equal(notString.status, 400);
    assert.match(notString.json.error.message, /'model' must be a string: one of /);
  });
  test("without a default (several models, no chat stage among them) 'model' is required, naming them; a server of one model uses it", async () => {
    const two = new GptforgeServer({ parallel: 1 });
    two.setModels(new Map(['a', 'b'].map((id): [string, ServedModel] => [id, { ...scriptedModel(tok), id }])));
    const one = new GptforgeServer({ parallel: 1 });
    one.setModels(new Map([['only', { ...scriptedModel(tok), id: 'only' }]]));
    try {
      const ask = async (s: GptforgeServer) => {
        const url = await s.listen(0, '127.0.0.1');
        const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: user('hi'), max_tokens: 2 }) });
        return { status: r.status, json: (await r.json()) as any };
      };
      const refused = await ask(two);
      assert.equal(refused.status, 400);
      assert.equal(refused.json.error.param, 'model');
      assert.match(refused.json.error.message, /'model' is required: this server serves several models and none is its default; one of a, b/);
      const single = await ask(one);
      assert.equal(single.status, 200, JSON.stringify(single.json));
      assert.equal(single.json.model, 'only');
    } finally {
      await two.close();
      await one.close();
    }
  });
  test('assist: a question the technique cannot read is a 400 naming messages (the request field), not the library argument', async () => {
    const r = await post('/v1/gptforge/assist', { model: 'sft', messages: user('hi'), technique: 'reflect' });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.param, 'messages');
    assert.match(r.json.error.message, /reflection reviews an arithmetic answer/);
  });
  test('the Responses API (client.responses.create) is an APIError in OpenAI shape pointing to chat completions', async () => {
    await assert.rejects(client.responses.create({ model: 'sft', input: 'hi' }), (e: unknown) => {
      assert.ok(e instanceof APIError && e.status === 404, String(e));
      assert.deepEqual([e.type, e.param, e.code], ['invalid_request_error', null, 'unknown_url']);
      assert.match(e.message, /The Responses API \(POST \/v1\/responses\) is not implemented by this server: use the Chat Completions API, POST \/v1\/chat\/completions/);
      return true;
    });
    // its other routes too (retrieve a response by id)
    const r = await fetch(`${base}/v1/responses/resp_1?include=x`);
    assert.match(((await r.json()) as { error: { message: string } }).error.message, /^The Responses API \(GET \/v1\/responses\/resp_1\) is not implemented/);
  });
  test('an unknown route is a 404 in OpenAI shape; bad JSON is a 400', async () => {
    const r = await fetch(`${base}/v1/nope`);
    assert.equal(r.status, 404);
    // OpenAI's answer to an unknown URL: invalid_request_error, code unknown_url, the method and path named
    const nope = ((await r.json()) as { error: { message: string; type: string; param: unknown; code: unknown } }).error;
    assert.deepEqual([nope.type, nope.param, nope.code], ['invalid_request_error', null, 'unknown_url']);
    assert.match(nope.message, /^Unknown request URL: GET \/v1\/nope\./);
    const bad = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":' });
    assert.equal(bad.status, 400);
    const j = (await bad.json()) as { error: { message: string; type: string } };
    assert.equal(j.error.type, 'invalid_request_error');
    assert.doesNotMatch(j.error.message, /at .*\.js/);
    assert.match(j.error.message, /^the request body is not valid JSON: .* at line 1, column 10/); // where, as the user's editor counts
    assert.equal((j.error as { code?: unknown }).code, null, 'no fastify-internal code');
    // Fastify's prototype-poisoning check still applies
    const poisoned = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model": "sft", "__proto__": {"x": 1}}' });
    assert.equal(poisoned.status, 400);
    const text = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' }); // what curl -d sends
    assert.equal(text.status, 415);
    assert.match(((await text.json()) as { error: { message: string } }).error.message, /Content-Type: application\/json/);
  });
  test('API keys: a wrong or missing key is AuthenticationError; a right one works; /health stays open', async () => {
    const s = new GptforgeServer({ apiKeys: ['k-one', 'k-two'] });
    s.setModels(new Map([['scripted', scriptedModel(tok)]]));
    const addr = await s.listen(0);
    try {
      // OpenAI's codes: invalid_api_key for a wrong key, null for none at all (both invalid_request_error)
      await assert.rejects(new OpenAI({ baseURL: `${addr}/v1`, apiKey: 'wrong', maxRetries: 0 }).models.list(), (e: unknown) => e instanceof AuthenticationError && e.code === 'invalid_api_key' && e.type === 'invalid_request_error');
      const missing = await fetch(`${addr}/v1/models`);
      assert.equal(missing.status, 401);
      const none = ((await missing.json()) as { error: { message: string; type: string; code: unknown } }).error;
      assert.match(none.message, /didn't provide an API key/);
      assert.deepEqual([none.type, none.code], ['invalid_request_error', null]);
      // the right key without the scheme: told what the header must look like, not that the key is wrong
      const bare = await fetch(`${addr}/v1/models`, { headers: { authorization: 'k-one' } });
      assert.equal(bare.status, 401);
      assert.match(((await bare.json()) as { error: { message: string } }).error.message, /must use Bearer auth: "Authorization: Bearer YOUR_KEY"/);
      // an empty key (what `new OpenAI({apiKey: ''})` sends) is named as empty, not as a missing scheme
      const empty = await fetch(`${addr}/v1/models`, { headers: { authorization: 'Bearer ' } });
      assert.equal(empty.status, 401);
      const emptyMsg = ((await empty.json()) as { error: { message: string } }).error.message;
      assert.match(emptyMsg, /API key is empty/);
      assert.doesNotMatch(emptyMsg, /scheme was missing/);
      // the scheme is case-insensitive (RFC 7235): `bearer KEY` is accepted
      assert.equal((await fetch(`${addr}/v1/models`, { headers: { authorization: 'bearer k-one' } })).status, 200);
      assert.equal((await fetch(`${addr}/v1/models`, { headers: { authorization: 'BEARER k-two' } })).status, 200);
      for (const key of ['k-one', 'k-two']) {
        const r = await new OpenAI({ baseURL: `${addr}/v1`, apiKey: key, maxRetries: 0 }).chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0 });
        assert.equal(r.choices[0].message.content, 'Hello there. How are you? Bye.');
      }
      assert.equal((await fetch(`${addr}/health`)).status, 200);
    } finally {
      await s.close();
    }
  });
  test('an oversized body is a 413 in OpenAI shape', async () => {
    const s = new GptforgeServer({ bodyLimit: 1000 });
    s.setModels(new Map([['scripted', scriptedModel(tok)]]));
    const addr = await s.listen(0);
    try {
      await assert.rejects(new OpenAI({ baseURL: `${addr}/v1`, apiKey: 'x', maxRetries: 0 }).chat.completions.create({ model: 'scripted', messages: user('x'.repeat(2000)) }), (e: unknown) => e instanceof APIError && e.status === 413 && e.code === 'request_too_large');
    } finally {
      await s.close();
    }
  });
  test('a full queue answers RateLimitError with Retry-After; the admitted requests complete', async () => {
    const s = new GptforgeServer({ parallel: 1, maxQueue: 1 });
    s.setModels(new Map([['scripted', scriptedModel(tok, { slowMs: 3, repeat: 4 })]]));
    const addr = await s.listen(0);
    const c = new OpenAI({ baseURL: `${addr}/v1`, apiKey: 'x', maxRetries: 0 });
    try {
      const settled = await Promise.allSettled(Array.from({ length: 4 }, () => c.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0 })));
      const limited = settled.filter((x) => x.status === 'rejected');
      assert.ok(limited.length >= 1, 'some request was refused');
      for (const x of limited) {
        const e = (x as PromiseRejectedResult).reason;
        assert.ok(e instanceof RateLimitError, String(e));
        assert.equal(e.headers.get('retry-after'), '1');
      }
      for (const x of settled) if (x.status === 'fulfilled') assert.equal(x.value.choices[0].message.content, 'Hello there. How are you? Bye.'.repeat(4));
      assert.ok(settled.some((x) => x.status === 'fulfilled'));
    } finally {
      await s.close();
    }
  });
  test('a request with more rows than the server ever holds (n beyond parallel + max-queue) is a BadRequestError naming n, on an idle server (not a 429 forever)', async () => {
    const s = new GptforgeServer({ parallel: 1, maxQueue: 1 });
    s.setModels(new Map([['scripted', scriptedModel(tok)]]));
    const addr = await s.listen(0);
    const c = new OpenAI({ baseURL: `${addr}/v1`, apiKey: 'x', maxRetries: 0 });
    try {
      await assert.rejects(c.chat.completions.create({ model: 'scripted', messages: user('hi'), n: 4, max_tokens: 4 }), (e: unknown) => e instanceof BadRequestError && e.param === 'n' && /needs 4 rows.*1 decoding \+ 1 waiting/.test(e.message));
      const ok = await c.chat.completions.create({ model: 'scripted', messages: user('hi'), n: 2, max_tokens: 4 });
      assert.equal(ok.choices.length, 2);
    } finally {
      await s.close();
    }
  });
  test('a client that disconnects stops its decoding within a step', async () => {
    const s = new GptforgeServer({ parallel: 2 });
    const m = scriptedModel(tok, { slowMs: 5, repeat: 6 });
    s.setModels(new Map([['scripted', m]]));
    const addr = await s.listen(0);
    const c = new OpenAI({ baseURL: `${addr}/v1`, apiKey: 'x', maxRetries: 0 });
    try {
      const ac = new AbortController();
      const stream = await c.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0, stream: true }, { signal: ac.signal });
      let got = 0;
      for await (const _ of stream) {
        if (++got === 3) {
          ac.abort();
          break;
        }
      }
      const passes = (m.model as unknown as { batches: number[] }).batches;
      const at = passes.length;
      await new Promise((r) => setTimeout(r, 150));
      assert.ok(passes.length - at <= 2, `decoding went on for ${passes.length - at} passes after the client left`);
      assert.ok(passes.length < 60, `${passes.length} passes in all`);
      const metrics = await (await fetch(`${addr}/metrics`)).text();
      assert.match(metrics, /gptforge_running_rows\{model="scripted"\} 0/);
    } finally {
      await s.close();
    }
  });
});
