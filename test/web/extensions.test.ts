import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import OpenAI from 'openai';
import { RagStore } from '../../src/rag/store.js';
import { GptforgeServer, loadRunModels } from '../../src/server/index.js';
import { GptforgeError } from '../../src/util/errors.js';
import { defaultReplyTokens } from '../../src/rag/generate.js';
import type { ServedModel } from '../../src/server/index.js';
import type { PolicyModel } from '../infer/scripted.js';
import { citerModel, reviewerModel, VOTER_ANSWERS, voterModel, webServer, type WebServer } from './fixtures.js';

/**
 * The gptforge extension routes the web UI's techniques and RAG use, without a browser:
 * POST /v1/gptforge/assist (self-consistency's samples and votes, reflection's rounds),
 * the chat route's `rag` field (passages in the prompt, citations resolved), GET
 * /v1/gptforge/rag and /v1/gptforge/passages/:id — and bad input as OpenAI-shaped errors.
 */
type ApiErr = { error: { message: string; type: string; param: string | null; code: string | null } };

async function call(base: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(base + path, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: await r.json() };
}

function assertBadRequest(r: { status: number; json: ApiErr }, param: string, what: string): void {
  assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.json)}`);
  assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'message', 'param', 'type'], what);
  assert.equal(r.json.error.type, 'invalid_request_error', what);
  assert.equal(r.json.error.param, param, what);
  assert.ok(r.json.error.message.length > 10, what);
}

const user = (content: string) => [{ role: 'user', content }];

describe('assist route', () => {
  let s: WebServer;
  before(async () => {
    s = await webServer({ models: (tok) => [voterModel(tok), reviewerModel(tok)] });
  });
  after(async () => s.close());

  test('self-consistency: k samples, each with its extracted answer, votes that sum to k and a winner with the most', async () => {
    const k = 9;
    const r = await call(s.base, '/v1/gptforge/assist', { model: 'voter', messages: user('What is 2 plus 3?'), technique: 'self-consistency', k, temperature: 1, seed: 5 });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const sc = r.json.consistency;
    assert.equal(sc.k, k);
    assert.equal(sc.samples.length, k);
    assert.match(r.json.prompt, /step by step/);
    const counts = new Map<string, number>();
    for (const x of sc.samples) {
      assert.ok(VOTER_ANSWERS.includes(x.answer), x.text);
      assert.equal(x.text.trim(), x.answer);
      assert.ok(x.mean_logprob < 0 && x.tokens >= 1);
      counts.set(x.answer, (counts.get(x.answer) ?? 0) + 1);
    }
    const tally = sc.votes.majority.tally as Array<{ answer: string; count: number; weight: number }>;
    assert.equal(
      tally.reduce((a, t) => a + t.count, 0),
      k,
    );
    for (const t of tally) assert.equal(t.count, counts.get(t.answer), t.answer);
    assert.equal(r.json.answer, sc.votes.majority.answer);
    assert.equal(tally[0].answer, r.json.answer);
    assert.equal(tally[0].count, Math.max(...counts.values()));
    assert.ok(counts.size >= 2, 'the samples should disagree (different seeds at temperature 1)');
    // the run's reward model weighs the votes too when asked
    const rw = await call(s.base, '/v1/gptforge/assist', { model: 'voter', messages: user('What is 2 plus 3?'), technique: 'self-consistency', k: 4, reward_votes: true });
    assert.equal(rw.status, 200, JSON.stringify(rw.json));
    assert.ok(rw.json.consistency.samples.every((x: { reward?: number }) => Number.isFinite(x.reward)));
    assert.equal(
      rw.json.consistency.votes.reward.tally.reduce((a: number, t: { count: number }) => a + t.count, 0),
      4,
    );
  });

  test('reflection: the first answer, then each round with its feedback and revised answer', async () => {
    const r = await call(s.base, '/v1/gptforge/assist', { model: 'reviewer', messages: user('What is 12 plus 39?'), technique: 'reflect', feedback: 'tool', rounds: 3 });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const f = r.json.reflection;
    assert.equal(f.first, '12 + 39 = 41.');
    assert.equal(f.initial, '41');
    assert.equal(f.rounds.length, 2, 'round 2 keeps 51: the loop stops');
    assert.match(f.rounds[0].feedback, /^The calculator says 12\+39 = 51\./);
    assert.equal(f.rounds[0].answer, '51');
    assert.equal(r.json.answer, '51');
    const self = await call(s.base, '/v1/gptforge/assist', { model: 'reviewer', messages: user('What is 12 plus 39?'), technique: 'reflect' });
    assert.equal(self.json.reflection.rounds.length, 1);
    assert.equal(self.json.answer, '41');
  });

  test('bad input: 400 in OpenAI shape naming the field; unknown model 404', async () => {
    const ask = (extra: Record<string, unknown>) => call(s.base, '/v1/gptforge/assist', { model: 'voter', messages: user('What is 2 plus 3?'), ...extra });
    assertBadRequest(await ask({ technique: 'nope' }), 'technique', 'unknown technique');
    assertBadRequest(await ask({ technique: 'self-consistency', k: 0 }), 'k', 'k = 0');
    assertBadRequest(await ask({ technique: 'self-consistency', k: 1000 }), 'k', 'k too large');
    assertBadRequest(await ask({ technique: 'self-consistency', k: 2.5 }), 'k', 'k not an integer');
    assertBadRequest(await ask({ technique: 'reflect', feedback: 'oracle' }), 'feedback', 'unknown feedback');
    assertBadRequest(await ask({ technique: 'reflect', rounds: -1 }), 'rounds', 'negative rounds');
    assertBadRequest(await ask({ temperature: 'hot' }), 'temperature', 'temperature not a number');
    assertBadRequest(await ask({ messages: [] }), 'messages', 'no messages');
    assertBadRequest(await ask({ messages: [...user('hi'), { role: 'assistant', content: 'hello' }] }), 'messages', 'last message not the user');
    assertBadRequest(await ask({ technique: 'self-consistency', value_model: 'rm' }), 'value_model', 'a value model for another technique');
    assertBadRequest(await ask({ technique: 'tot', value_model: 'voter', messages: user('4 9 10 13') }), 'value_model', 'a value model that is no reward model');
    assertBadRequest(await ask({ technique: 'tot', proposal_samples: 99, messages: user('4 9 10 13') }), 'proposal_samples', 'too many proposal samples');
    // the tree with calculator-checked thoughts and the run's reward model as the state value
    const tot = await ask({ technique: 'tot', value_model: 'rm', calculator: true, proposal_samples: 1, breadth: 2, messages: user('4 9 10 13') });
    assert.equal(tot.status, 200, JSON.stringify(tot.json));
    assert.ok(tot.json.tree, 'the tree is returned');
    const noOperands = await ask({ model: 'reviewer', technique: 'reflect', messages: user('hello there') });
    assert.equal(noOperands.status, 400);
    assert.match(noOperands.json.error.message, /two operands/);
    // the request field the question came in, and the form a reflection needs
    assert.equal(noOperands.json.error.param, 'messages'); // the request field, as test/server/openai.test.ts pins it
    assert.match(noOperands.json.error.message, /e\.g\. "What is 345 plus 67\?"/);
    const missing = await ask({ model: 'nope' });
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.code, 'model_not_found');
    const notJson = await fetch(s.base + '/v1/gptforge/assist', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[1]' });
    assert.equal(notJson.status, 400);
    // no RAG store on this server
    assert.deepEqual((await call(s.base, '/v1/gptforge/rag')).json, { object: 'gptforge.rag', enabled: false });
    const p = await call(s.base, '/v1/gptforge/passages/1');
    assert.equal(p.status, 404);
    assert.equal(p.json.error.code, 'no_rag');
    assert.equal(p.json.error.type, 'invalid_request_error');
    assertBadRequest(await call(s.base, '/v1/chat/completions', { model: 'sft', messages: user('hi'), rag: true }), 'rag', 'rag without a store');
  });

  test("reward-weighted votes take the run's reward model by kind (an rm trained --into another name), or the one reward_model names", async () => {
    const vote = (extra: Record<string, unknown>) => call(s.base, '/v1/gptforge/assist', { model: 'voter', messages: user('What is 2 plus 3?'), technique: 'self-consistency', k: 3, seed: 2, ...extra });
    const weighed = (r: { status: number; json: any }) => {
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.ok(r.json.consistency.samples.every((x: { reward?: number }) => Number.isFinite(x.reward)));
    };
    const models = new Map(loadRunModels(s.dir));
    const rm = models.get('rm')!;
    models.delete('rm');
    models.set('verifier', { ...rm, id: 'verifier' });
    models.set('voter', voterModel(s.tok));
    s.server.setModels(models);
    try {
      weighed(await vote({ reward_votes: true }));
      weighed(await vote({ reward_model: 'verifier' }));
      assertBadRequest(await vote({ reward_model: 'voter' }), 'reward_model', 'a votes model that is no reward model');
      assertBadRequest(await vote({ technique: 'cot', reward_model: 'verifier' }), 'reward_model', 'reward_model for another technique');
      models.delete('verifier');
      s.server.setModels(new Map(models));
      assertBadRequest(await vote({ reward_votes: true }), 'reward_votes', 'no reward model served');
    } finally {
      s.server.setModels(new Map([...loadRunModels(s.dir), ['voter', voterModel(s.tok)], ['reviewer', reviewerModel(s.tok)]]));
    }
  });
});

describe('RAG on the chat route', () => {
  let s: WebServer;
  const served = new Map<string, ServedModel>();
  /** Forward passes the scripted model has run (PolicyModel records each batch). */
  const passes = (id: string): number => (served.get(id)!.model as unknown as PolicyModel).batches.length;
  before(async () => {
    s = await webServer({
      withRag: true,
      models: (tok) => {
        for (const m of [citerModel(tok), citerModel(tok, 'citer128', 128)]) served.set(m.id, m);
        return [...served.values()];
      },
    });
  });
  after(async () => s.close());

  test('passages go into the prompt, the reply cites one, the citation resolves to the chunk, and the passage route returns its text', async () => {
    const info = await call(s.base, '/v1/gptforge/rag');
    assert.equal(info.json.enabled, true);
    assert.equal(info.json.files, 3);
    const r = await call(s.base, '/v1/chat/completions', { model: 'citer', messages: user('What is the weather in Paris?'), rag: { k: 2 }, max_tokens: 24 });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const { passages, retrieved } = r.json.rag;
    assert.ok(passages.length >= 1 && passages.length <= 2 && retrieved >= passages.length);
    assert.match(passages[0].path, /weather\.md$/);
    assert.equal(passages[0].n, 1);
    assert.equal(r.json.choices[0].message.content, 'It says: sunny [1].');
    assert.deepEqual(r.json.choices[0].citations, [{ n: 1, id: passages[0].id, source: passages[0].source }]);
    assert.deepEqual(r.json.choices[0].unresolved_citations, []);
    // the passage as stored: same text, file and offsets
    const p = await call(s.base, `/v1/gptforge/passages/${passages[0].id}`);
    assert.equal(p.status, 200);
    const store = RagStore.open(s.ragDb!, { readonly: true });
    try {
      const [chunk] = store.chunks([passages[0].id]);
      assert.equal(p.json.text, chunk.text);
      assert.match(p.json.text, /The weather in Paris is sunny today\./);
      assert.equal(p.json.path, chunk.path);
      assert.equal(p.json.char_start, chunk.charStart);
      // its lines, counted in the file
      const file = readFileSync(chunk.path, 'utf8');
      assert.equal(p.json.line, file.slice(0, chunk.charStart).split('\n').length);
      assert.ok(p.json.line_end > p.json.line);
      assert.match(file.split('\n')[p.json.line_end - 1], /\S/);
      // the chat response's passage says the same lines as the passage route
      assert.equal(passages[0].line, p.json.line);
      assert.equal(passages[0].line_end, p.json.line_end);
    } finally {
      store.close();
    }
    // the passages leave the room asked for: with nearly the whole context asked, none fits, and the request still holds
    const before = passes('citer');
    const full = await call(s.base, '/v1/chat/completions', { model: 'citer', messages: user('What is the weather in Paris?'), rag: true, max_tokens: 240 });
    assert.equal(full.status, 200, JSON.stringify(full.json));
    assert.deepEqual(full.json.rag.passages, []);
    assert.ok(full.json.rag.retrieved >= 1);
    // said, with what to change
    assert.match(full.json.rag.note, /^\d+ passages? retrieved, none fit the 256-token context beside the question and 240 tokens for the reply: the smallest passage needs \d+ tokens with the question — lower max_tokens to \d+ or less/);
    // nothing shown: the library's rule (answerWithRetrieval), "The passages don't say." with no model call
    assert.equal(full.json.choices[0].message.content, "The passages don't say.");
    assert.equal(full.json.choices[0].finish_reason, 'stop');
    assert.equal(full.json.rag.generated, false);
    assert.equal(full.json.usage.completion_tokens, 0);
    assert.equal(passes('citer'), before, 'no forward pass');
    // empty_context "generate" opts out: the model answers the bare question
    const gen = await call(s.base, '/v1/chat/completions', { model: 'citer', messages: user('What is the weather in Paris?'), rag: { empty_context: 'generate' }, max_tokens: 240 });
    assert.equal(gen.status, 200, JSON.stringify(gen.json));
    assert.equal(gen.json.choices[0].message.content, 'I do not know.');
    assert.equal(gen.json.rag.generated, true);
    assert.ok(passes('citer') > before);
    // nothing retrieved: the same rule
    const nothing = await call(s.base, '/v1/chat/completions', { model: 'citer', messages: user('xylophone quartz zebra?'), rag: true, max_tokens: 24 });
    assert.equal(nothing.json.rag.retrieved, 0);
    assert.equal(nothing.json.choices[0].message.content, "The passages don't say.");
    assert.equal(nothing.json.rag.note, undefined);
    // …and beside the earlier turns, which the server sends as they are
    const history = [...user('Tell me a story.'), { role: 'assistant', content: 'Once upon a time there was a dog. '.repeat(5) }, ...user('What is the weather in Paris?')];
    const long = await call(s.base, '/v1/chat/completions', { model: 'citer', messages: history, rag: true, max_tokens: 24 });
    assert.equal(long.status, 200, JSON.stringify(long.json));
    assert.ok(long.json.usage.prompt_tokens + 24 <= 256);
    const bare = await call(s.base, '/tokenize', { model: 'citer', messages: history });
    assert.ok(bare.json.count + 24 < 256 && bare.json.count > 100, `the history is ${bare.json.count} tokens`);
    // without rag the same model gets the bare question
    const plain = await call(s.base, '/v1/chat/completions', { model: 'citer', messages: user('What is the weather in Paris?'), max_tokens: 24 });
    assert.equal(plain.json.choices[0].message.content, 'I do not know.');
    assert.equal(plain.json.rag, undefined);
  });

  test('rag.min_score: passages below the relevance cutoff are not shown; none left → "The passages don\'t say." without a forward pass (abstained below_cutoff); a bad value is a 400', async () => {
    const q = user('What is the weather in Paris?');
    const kept = await call(s.base, '/v1/chat/completions', { model: 'citer', messages: q, rag: { k: 2, min_score: 0 }, max_tokens: 24 });
    assert.equal(kept.status, 200, JSON.stringify(kept.json));
    assert.equal(kept.json.rag.below_cutoff, 0);
    assert.ok(kept.json.rag.passages.length >= 1);
    assert.equal(kept.json.rag.abstained, undefined);
    const before = passes('citer');
    const cut = await call(s.base, '/v1/chat/completions', { model: 'citer', messages: q, rag: { k: 2, min_score: 1, empty_context: 'generate' }, max_tokens: 24 });
    assert.equal(cut.status, 200, JSON.stringify(cut.json));
    assert.equal(cut.json.choices[0].message.content, "The passages don't say.");
    assert.deepEqual([cut.json.rag.generated, cut.json.rag.abstained, cut.json.rag.below_cutoff, cut.json.rag.retrieved, cut.json.rag.passages.length], [false, 'below_cutoff', kept.json.rag.retrieved, kept.json.rag.retrieved, 0]);
    assert.equal(passes('citer'), before, 'no forward pass');
    assertBadRequest(await call(s.base, '/v1/chat/completions', { model: 'citer', messages: q, rag: { min_score: 'high' } }), 'rag', 'min_score not a number');
  });

  test('streamed: the first chunk carries the passages, the finishing chunk the citations; the official client passes the field through', async () => {
    const client = new OpenAI({ baseURL: `${s.base}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'citer', messages: [{ role: 'user', content: 'weather in Paris?' }], stream: true, max_tokens: 24, rag: true } as OpenAI.ChatCompletionCreateParamsStreaming);
    let text = '';
    let rag: any;
    let finish: any;
    for await (const ch of stream) {
      const c = ch as any;
      if (c.rag) rag = c.rag;
      text += c.choices[0]?.delta?.content ?? '';
      if (c.choices[0]?.finish_reason) finish = c.choices[0];
    }
    assert.equal(text, 'It says: sunny [1].');
    assert.match(rag.passages[0].path, /weather\.md$/);
    assert.equal(finish.finish_reason, 'stop');
    assert.deepEqual(
      finish.citations.map((c: { n: number; id: number }) => [c.n, c.id]),
      [[1, rag.passages[0].id]],
    );
  });

  test("the reply's default room is the library's (3/16 of the context: 24 at 128, not 48), so a passage it leaves room for is shown", async () => {
    // a history grown until one passage no longer fits beside 48 tokens of reply
    const ask = (n: number, max?: number) =>
      call(s.base, '/v1/chat/completions', {
        model: 'citer128',
        messages: [...user('Tell me a story.'), { role: 'assistant', content: 'dog '.repeat(n) }, ...user('What is the weather in Paris?')],
        rag: { k: 1 },
        ...(max !== undefined ? { max_tokens: max } : {}),
      });
    let n = 0;
    while ((await ask(n, 48)).json.rag.passages.length > 0) assert.ok(++n < 60, 'the passage kept fitting');
    const r = await ask(n);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.rag.passages.length, 1, `with no max_tokens the room is ${defaultReplyTokens(128)} tokens: ${JSON.stringify(r.json.rag)}`);
    assert.equal(r.json.choices[0].message.content, 'It says: sunny [1].');
  });

  test('streamed with nothing shown: the fixed reply, its finish and [DONE], no model call', async () => {
    const before = passes('citer');
    const res = await fetch(`${s.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'citer', messages: user('xylophone quartz?'), rag: true, stream: true, stream_options: { include_usage: true } }) });
    assert.equal(res.status, 200);
    const events = (await res.text())
      .split('\n\n')
      .filter((e) => e.startsWith('data: '))
      .map((e) => e.slice(6));
    assert.equal(events.at(-1), '[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    assert.equal(chunks[0].rag.retrieved, 0);
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), "The passages don't say.");
    assert.equal(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason, 'stop');
    assert.equal(chunks.at(-1).usage.completion_tokens, 0);
    assert.equal(passes('citer'), before);
  });

  test('bad input: rag fields and passage ids', async () => {
    const chat = (rag: unknown) => call(s.base, '/v1/chat/completions', { model: 'citer', messages: user('weather?'), rag });
    assertBadRequest(await chat({ k: 0 }), 'rag', 'k = 0');
    assertBadRequest(await chat({ k: 2, mode: 'magic' }), 'rag', 'unknown field');
    assertBadRequest(await chat('yes'), 'rag', 'a string');
    assertBadRequest(await chat({ empty_context: 'skip' }), 'rag', 'empty_context not a choice');
    assertBadRequest(await call(s.base, '/v1/gptforge/passages/abc'), 'id', 'id not a number');
    const none = await call(s.base, '/v1/gptforge/passages/999999');
    assert.equal(none.status, 404);
    assert.equal(none.json.error.code, 'passage_not_found');
    assert.equal(none.json.error.type, 'invalid_request_error', "OpenAI's type for its own 404s");
  });
});

test('a server given a path that is no RAG store refuses to start, naming the file', () => {
  assert.throws(
    () => new GptforgeServer({ ragStore: '/nonexistent/dir/kb.db' }),
    (e: Error) => e instanceof GptforgeError && /no RAG store here/.test(e.message) && e.message.includes('/nonexistent/dir/kb.db'),
  );
  const dir = mkdtempSync(join(tmpdir(), 'gf-notstore-'));
  try {
    const db = new Database(join(dir, 'other.db'));
    db.exec('CREATE TABLE t (x)');
    db.close();
    assert.throws(
      () => new GptforgeServer({ ragStore: join(dir, 'other.db') }),
      (e: Error) => e instanceof GptforgeError && /not a RAG store/.test(e.message) && e.message.includes('other.db'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
