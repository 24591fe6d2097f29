import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chatTokenIds } from '../../src/data/chat.js';
import type { GPT } from '../../src/model/gpt.js';
import { NO_ANSWER } from '../../src/rag/context.js';
import { ragIndex } from '../../src/run/rag.js';
import { ApiError } from '../../src/server/errors.js';
import { GptforgeServer, type ServedModel } from '../../src/server/index.js';
import { ragRequest } from '../../src/server/rag.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { PolicyModel, peak } from '../infer/scripted.js';

// rag19 #1: the server's RAG lacked the CLI's extractive answer and refusal-by-cutoff
test('ragRequest: rag.extractive and rag.refusal default as the CLI (off, "model"); "cutoff" needs min_score and extractive; bad values are 400s naming the field', () => {
  assert.deepEqual(ragRequest({ rag: true }), { k: 3, emptyContext: 'no-answer', extractive: false, refusal: 'model' });
  assert.deepEqual(ragRequest({ rag: { k: 2 } }), { k: 2, emptyContext: 'no-answer', extractive: false, refusal: 'model' });
  assert.deepEqual(ragRequest({ rag: { min_score: 0.5, extractive: true, refusal: 'cutoff' } }), { k: 3, emptyContext: 'no-answer', minScore: 0.5, extractive: true, refusal: 'cutoff' });
  const bad = (rag: unknown, re: RegExp): void =>
    assert.throws(
      () => ragRequest({ rag }),
      (e: unknown) => e instanceof ApiError && e.status === 400 && re.test(e.message),
      JSON.stringify(rag),
    );
  bad({ extractive: 'yes' }, /'rag\.extractive' must be true or false, got "yes"/);
  bad({ refusal: 'never' }, /'rag\.refusal' must be "model" or "cutoff", got "never"/);
  bad({ refusal: 'cutoff', extractive: true }, /"cutoff" needs 'rag\.min_score'.*'rag\.extractive': true/);
  bad({ refusal: 'cutoff', min_score: 0.5 }, /"cutoff" needs 'rag\.min_score'.*'rag\.extractive': true/);
  bad({ extractive: true, quote: 1 }, /unknown field "quote" \(only k, empty_context, min_score, extractive, refusal\)/);
});

test('server: rag.extractive holds the reply to a quote of a shown passage (or NO_ANSWER); with rag.refusal "cutoff" the model cannot refuse and must quote', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-rag-extractive-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const passage = 'Cats purr and chase mice';
  const tok = trainTokenizer([`Passages: Question: ${passage}. What do cats do? Dogs bark loudly [1]. ${NO_ANSWER} `.repeat(30)], { vocabSize: 300 });
  const sp = chatTokenIds(tok);
  // a model that writes one fixed reply token by token, whatever the prompt: a refusal, or words no passage has
  const scripted = (text: string): ServedModel => {
    const reply = [...tok.encode(text, { disallowedSpecial: 'plain' }), sp['<|assistant_end|>']];
    const model = new PolicyModel(tok.vocabSize, (h) => peak(tok.vocabSize, reply[h.length - h.lastIndexOf(sp['<|assistant_start|>']) - 1] ?? sp['<|assistant_end|>']));
    return { id: text, model: model as unknown as GPT, tok, dir: '(scripted)', created: 0 };
  };
  mkdirSync(join(dir, 'kb'));
  writeFileSync(join(dir, 'kb', 'pets.md'), `${passage}.\n`);
  const db = join(dir, 'kb.db');
  await ragIndex(db, { inputs: [join(dir, 'kb')] });
  const server = new GptforgeServer({ parallel: 1, ragStore: db });
  t.after(() => server.close());
  const refuser = scripted(NO_ANSWER);
  const inventor = scripted(' Dogs bark loudly [1].');
  server.setModels(new Map([refuser, inventor].map((m) => [m.id, m])));
  const base = await server.listen(0, '127.0.0.1');
  const ask = async (model: string, rag: unknown): Promise<{ content: string; cited: number[]; finish: string }> => {
    const body = { model, messages: [{ role: 'user', content: 'What do cats do?' }], temperature: 0, max_tokens: 80, rag };
    const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.status, 200, await res.clone().text());
    const j = (await res.json()) as { choices: { message: { content: string }; citations: { n: number }[]; finish_reason: string }[]; rag: { passages: { score: number; scores: { bm25?: number; bm25_relative?: number } }[] } };
    assert.equal(j.rag.passages.length, 1, 'the passage is shown');
    // rag19 #2: the score min_score compares with, beside the raw one
    const p = j.rag.passages[0];
    assert.equal(p.scores.bm25, p.score);
    assert.ok(p.scores.bm25_relative !== undefined && p.scores.bm25_relative > 0 && p.scores.bm25_relative <= 1, JSON.stringify(p));
    return { content: j.choices[0].message.content, cited: j.choices[0].citations.map((c) => c.n), finish: j.choices[0].finish_reason };
  };
  const isQuote = (s: string): boolean => /^\S.* \[1\]\.$/.test(s) && passage.endsWith(s.slice(0, -' [1].'.length));

  // without the options (the CLI's defaults): the model's own reply, whatever it is
  assert.equal((await ask(inventor.id, true)).content, 'Dogs bark loudly [1].');
  assert.equal((await ask(refuser.id, { min_score: 0.01 })).content, NO_ANSWER);
  // extractive: words no passage has are ruled out; the refusal stays the model's to make
  const held = await ask(inventor.id, { extractive: true });
  assert.ok(held.content === NO_ANSWER || isQuote(held.content), JSON.stringify(held));
  assert.equal(held.finish, 'stop');
  assert.equal((await ask(refuser.id, { extractive: true })).content, NO_ANSWER);
  // refusal by the cutoff: passages the cutoff let through must be quoted, with their [n]
  const quoted = await ask(refuser.id, { min_score: 0.01, extractive: true, refusal: 'cutoff' });
  assert.ok(isQuote(quoted.content), JSON.stringify(quoted));
  assert.deepEqual(quoted.cited, [1]);
  // a 400 from the route too
  const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: refuser.id, messages: [{ role: 'user', content: 'What do cats do?' }], rag: { refusal: 'cutoff' } }) });
  assert.equal(res.status, 400);
});
