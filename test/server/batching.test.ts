import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import OpenAI, { APIError, InternalServerError, RateLimitError } from 'openai';
import { decode, type RowRequest, type RowResult } from '../../src/infer/pipeline.js';
import { GptforgeServer, loadRunModels, Scheduler, type ServedModel } from '../../src/server/index.js';
import { chatPrompt, toConversation } from '../../src/server/chat.js';
import type { Tokenizer } from '../../src/tokenizer/index.js';
import { scriptedModel, tinyRun } from './fixture.js';
import { PolicyModel, peak } from '../infer/scripted.js';
import type { GPT } from '../../src/model/gpt.js';

/**
 * Continuous batching in the server: requests join a running batch at the next step, a
 * seeded request is bit-for-bit the same alone or joined with others (token ids at the
 * scheduler, text and logprobs through the official client), a client that hangs up stops
 * its row within a step while the others go on, and a full queue answers 429.
 */
let dir: string;
let tok: Tokenizer;
let models: Map<string, ServedModel>;
before(() => {
  ({ dir, tok } = tinyRun());
  models = loadRunModels(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const user = (content: string) => [{ role: 'user' as const, content }];
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('scheduler: requests submitted while others decode join at the next step; each seeded row gives exactly its token ids alone', async () => {
  const sft = models.get('sft')!;
  const rows: RowRequest[] = [11, 12, 13, 14, 15].map((seed, i) => ({
    prompt: chatPrompt(sft.tok, toConversation(user(`Hi ${seed}`))),
    maxTokens: 12 + 3 * i,
    seed,
    temperature: 1,
    topP: i % 2 ? 0.9 : undefined,
    presencePenalty: i === 2 ? 0.5 : undefined,
    logprobs: 2,
    // no end ids: every row runs its full maxTokens, so the joins below meet a running batch
    // whatever the tiny model (trained on this machine's kernel path) happens to sample
    endIds: [],
  }));
  const alone = rows.map((r) => decode(sft.model, sft.tok, [r])[0]);
  const steps: number[] = [];
  const s = new Scheduler(sft.model, sft.tok, { parallel: 3, maxQueue: 8, padId: 0, onStep: (n) => steps.push(n) });
  const tokens: number[][] = rows.map(() => []);
  const pending: Array<Promise<RowResult[]>> = [];
  let started = 0;
  // one request at first; the others arrive while it decodes, two and four steps later
  pending.push(s.submit([rows[0]], (e) => e.type === 'token' && tokens[0].push(e.token)));
  for (const [at, idx] of [
    [2, [1, 2]],
    [4, [3, 4]],
  ] as const) {
    while (steps.length < at) await tick();
    assert.ok(s.runningRows > 0, 'joins a running batch');
    for (const i of idx) pending.push(s.submit([rows[i]], (e) => e.type === 'token' && tokens[i].push(e.token)));
    started++;
  }
  const results = (await Promise.all(pending)).map((r) => r[0]);
  assert.equal(started, 2);
  results.forEach((r, i) => {
    assert.deepEqual(r.ids, alone[i].ids, `row ${i}: token ids alone vs batched`);
    assert.equal(r.text, alone[i].text, `row ${i}: text`);
    assert.deepEqual(tokens[i], alone[i].ids);
  });
  assert.ok(Math.max(...steps) === 3, `at most parallel rows per step, and the batch filled: ${steps.join(',')}`);
  assert.equal(s.runningRows + s.queuedRows, 0);
});

test('seeded requests through the client: byte-identical text and logprobs alone (each prompt prefilled in full) and joined into a running batch (prompt prefixes reused from the cache)', async () => {
  const seeds = [201, 202, 203];
  const params = (seed: number) => ({ model: 'sft', messages: user(`Tell me ${seed}`), max_tokens: 14, seed, temperature: 1.1, logprobs: true, top_logprobs: 3 });
  const alone: OpenAI.Chat.Completions.ChatCompletion[] = [];
  const plain = new GptforgeServer({ parallel: 4, prefixCache: false });
  plain.setModels(models);
  try {
    const client = new OpenAI({ baseURL: `${await plain.listen(0, '127.0.0.1')}/v1`, apiKey: 'x', maxRetries: 0 });
    for (const seed of seeds) alone.push(await client.chat.completions.create(params(seed)));
  } finally {
    await plain.close();
  }
  const server = new GptforgeServer({ parallel: 4 });
  server.setModels(models);
  const base = await server.listen(0, '127.0.0.1');
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'x', maxRetries: 0 });
  try {
    // a long stream is decoding; the seeded requests arrive one by one while it runs
    const long = client.chat.completions.stream({ model: 'sft', messages: user('a long one'), max_tokens: 45, seed: 1, stream_options: { include_usage: true }, logit_bias: { [String(tok.specialId('<|assistant_end|>'))]: -100 } });
    let chunks = 0;
    const joined: Array<Promise<OpenAI.Chat.Completions.ChatCompletion>> = [];
    long.on('chunk', () => {
      chunks++;
      if (chunks === 2 || chunks === 4 || chunks === 6) joined.push(client.chat.completions.create(params(seeds[joined.length])));
    });
    const longDone = await long.finalChatCompletion();
    const together = await Promise.all(joined);
    assert.equal(together.length, 3);
    assert.equal(longDone.usage?.completion_tokens, 45);
    together.forEach((r, i) => {
      const a = alone[i].choices[0];
      const b = r.choices[0];
      assert.equal(Buffer.compare(Buffer.from(b.message.content ?? ''), Buffer.from(a.message.content ?? '')), 0, `seed ${seeds[i]}: text`);
      assert.deepEqual(b.logprobs, a.logprobs, `seed ${seeds[i]}: every token, its bytes and log-probability`);
      assert.deepEqual(alone[i].usage?.prompt_tokens_details, { cached_tokens: 0 });
      // the chat template's opening came from the long stream's cache row, and "Tell me " too from an earlier seeded request's
      const cached = (x: OpenAI.Chat.Completions.ChatCompletion): number => x.usage?.prompt_tokens_details?.cached_tokens ?? 0;
      assert.ok(i === 0 ? cached(r) >= 2 : cached(r) > cached(together[0]), `seed ${seeds[i]}: prompt tokens reused (${cached(r)})`);
      assert.deepEqual({ ...r.usage, prompt_tokens_details: null }, { ...alone[i].usage, prompt_tokens_details: null });
    });
  } finally {
    await server.close();
  }
});

test('a client that disconnects stops its row within one step while the others go on (rows per pass fall at once)', async () => {
  const server = new GptforgeServer({ parallel: 4 });
  const m = scriptedModel(tok, { slowMs: 1, repeat: 4 });
  server.setModels(new Map([['scripted', m]]));
  const base = await server.listen(0, '127.0.0.1');
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'x', maxRetries: 0 });
  const batches = (m.model as unknown as { batches: number[] }).batches;
  try {
    const stay = client.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0 });
    const ac = new AbortController();
    const leaving = await client.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0, stream: true }, { signal: ac.signal });
    let got = 0;
    let at = -1;
    for await (const _ of leaving) {
      if (++got === 4) {
        at = batches.length;
        ac.abort();
        break;
      }
    }
    const kept = await stay;
    assert.equal(kept.choices[0].message.content, 'Hello there. How are you? Bye.'.repeat(4), 'the other request completes');
    const after = batches.slice(at);
    // the server learns of the hang-up on its next I/O poll (one pass may already be under
    // way); the row is dropped at the start of the step after that
    const two = after.filter((b) => b === 2).length;
    assert.ok(two <= 2, `passes with both rows after the client left: ${two} (${after.join(',')})`);
    assert.ok(after.length > 5 && after.slice(2).every((b) => b === 1), 'the remaining row decodes alone');
  } finally {
    await server.close();
  }
});

test('a full queue answers RateLimitError with Retry-After while rows decode; a slot freed lets the next request in', async () => {
  const server = new GptforgeServer({ parallel: 2, maxQueue: 1 });
  server.setModels(new Map([['scripted', scriptedModel(tok, { slowMs: 2, repeat: 3 })]]));
  const base = await server.listen(0, '127.0.0.1');
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'x', maxRetries: 0 });
  try {
    const req = () => client.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0 });
    // 2 slots + 1 waiting are admitted; the fourth is refused at once
    const admitted = [req(), req(), req()];
    await new Promise((r) => setTimeout(r, 20));
    await assert.rejects(req(), (e: unknown) => e instanceof RateLimitError && e.headers.get('retry-after') === '1' && e.code === 'queue_full');
    for (const r of await Promise.all(admitted)) assert.equal(r.choices[0].message.content, 'Hello there. How are you? Bye.'.repeat(3));
    assert.equal((await req()).choices[0].finish_reason, 'stop');
  } finally {
    await server.close();
  }
});

test('one request whose sampling fails (every token banned) gets a 400; the requests batched with it complete', async () => {
  const server = new GptforgeServer({ parallel: 4 });
  server.setModels(new Map([['scripted', scriptedModel(tok, { slowMs: 1, repeat: 2 })]]));
  const base = await server.listen(0, '127.0.0.1');
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'x', maxRetries: 0 });
  try {
    const all = Object.fromEntries(Array.from({ length: tok.vocabSize }, (_, id) => [String(id), -100]));
    const ok = [0, 1].map(() => client.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0 }));
    await assert.rejects(client.chat.completions.create({ model: 'scripted', messages: user('hi'), temperature: 0, logit_bias: all }), (e: unknown) => e instanceof APIError && e.status === 400 && /every logit is masked/.test(e.message));
    for (const r of await Promise.all(ok)) assert.equal(r.choices[0].message.content, 'Hello there. How are you? Bye.'.repeat(2));
  } finally {
    await server.close();
  }
});

test('logprobs while streaming with tools: the streamed entries equal the non-streamed ones, for visible text and for a call', async () => {
  const server = new GptforgeServer({ parallel: 4 });
  server.setModels(new Map([['scripted', scriptedModel(tok)]]));
  const base = await server.listen(0, '127.0.0.1');
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'x', maxRetries: 0 });
  const weather = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  try {
    for (const content of ['hi', 'weather?']) {
      const params = { model: 'scripted', messages: user(content), temperature: 0, tools: weather, logprobs: true, top_logprobs: 2 };
      const whole = await client.chat.completions.create(params);
      const final = await client.chat.completions.stream(params).finalChatCompletion();
      assert.equal(final.choices[0].finish_reason, whole.choices[0].finish_reason);
      assert.deepEqual(final.choices[0].logprobs?.content ?? [], whole.choices[0].logprobs!.content);
      if (content === 'hi') {
        assert.equal(whole.choices[0].finish_reason, 'stop');
        assert.equal(Buffer.from(whole.choices[0].logprobs!.content!.flatMap((e) => e.bytes!)).toString('utf8'), whole.choices[0].message.content);
      } else {
        assert.equal(whole.choices[0].finish_reason, 'tool_calls');
        assert.equal(final.choices[0].message.tool_calls![0].function.name, 'get_weather');
      }
    }
  } finally {
    await server.close();
  }
});

test('legacy completions: context overflow is a BadRequestError naming prompt, with the token counts', async () => {
  const server = new GptforgeServer({ parallel: 2 });
  server.setModels(models);
  const base = await server.listen(0, '127.0.0.1');
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'x', maxRetries: 0 });
  try {
    await assert.rejects(
      client.completions.create({ model: 'base', prompt: 'Hello there', max_tokens: 100 }),
      (e: unknown) => e instanceof APIError && e.status === 400 && e.code === 'context_length_exceeded' && e.param === 'prompt' && /maximum context length is 64 tokens, however you requested \d+ tokens \(\d+ in your prompt; 100 for the completion\)/.test(e.message),
    );
  } finally {
    await server.close();
  }
});

test('a forward pass that throws: 500 in OpenAI shape with a generic message (no stack), and the next request is served', async () => {
  const V = tok.vocabSize;
  const end = tok.specialId('<|assistant_end|>');
  let boom = true;
  const model = new PolicyModel(V, (h) => {
    if (boom && h.length > 3) throw new Error('kernel exploded at /secret/path.ts:12');
    return peak(V, end);
  });
  const server = new GptforgeServer({ parallel: 2 });
  server.setModels(new Map([['flaky', { id: 'flaky', model: model as unknown as GPT, tok, dir: '(test)', created: 0 }]]));
  const base = await server.listen(0, '127.0.0.1');
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'x', maxRetries: 0 });
  const errWrite = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write; // the server logs the cause to stderr
  try {
    await assert.rejects(client.chat.completions.create({ model: 'flaky', messages: user('hi') }), (e: unknown) => e instanceof InternalServerError && e.message === '500 internal server error' && !/secret|at /.test(JSON.stringify(e.error)));
    boom = false;
    const r = await client.chat.completions.create({ model: 'flaky', messages: user('hi') });
    assert.equal(r.choices[0].finish_reason, 'stop');
  } finally {
    process.stderr.write = errWrite;
    await server.close();
  }
});
