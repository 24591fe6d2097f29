import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chatTokenIds } from '../../src/data/chat.js';
import type { GPT } from '../../src/model/gpt.js';
import { ragIndex } from '../../src/run/rag.js';
import { GptforgeServer, type ServedModel } from '../../src/server/index.js';
import { RagReplyStream, ragReplyText } from '../../src/server/rag.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { PolicyModel, peak } from '../infer/scripted.js';

test("RagReplyStream: deltas lose the reply's leading whitespace only (per choice); joined they are ragReplyText of the reply", () => {
  const s = new RagReplyStream();
  assert.deepEqual(
    [' ', ' Cats', ' purr', ' [1].'].map((d) => s.delta(0, d)),
    ['', 'Cats', ' purr', ' [1].'],
  );
  assert.equal(s.delta(1, ' Dogs'), 'Dogs', 'another choice starts afresh');
  assert.equal(ragReplyText('  Cats purr [1].'), 'Cats purr [1].');
});

test("server: a RAG reply (the passages family's quote, with its leading space) comes back without the space, plain and streamed", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-rag-space-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const quote = ' Cats purr and chase mice [1].';
  const tok = trainTokenizer([`Passages: Question: Cats purr and chase mice. What do cats do? Hello. [1].${quote}`.repeat(30)], { vocabSize: 300 });
  const sp = chatTokenIds(tok);
  const reply = [...tok.encode(quote, { disallowedSpecial: 'plain' }), sp['<|assistant_end|>']];
  assert.ok(tok.decode(reply.slice(0, 1)).startsWith(' '), 'the first token carries the space');
  // a model that, after a prompt with passages, writes the quote token by token (leading space first)
  const model = new PolicyModel(tok.vocabSize, (h) => {
    const a = h.lastIndexOf(sp['<|assistant_start|>']);
    const at = h.length - a - 1;
    return peak(tok.vocabSize, reply[at] ?? sp['<|assistant_end|>']);
  });
  const served: ServedModel = { id: 'quoting', model: model as unknown as GPT, tok, dir: '(scripted)', created: 0 };
  mkdirSync(join(dir, 'kb'));
  writeFileSync(join(dir, 'kb', 'pets.md'), 'Cats purr and chase mice.\n');
  const db = join(dir, 'kb.db');
  await ragIndex(db, { inputs: [join(dir, 'kb')] });
  const server = new GptforgeServer({ parallel: 1, ragStore: db });
  t.after(() => server.close());
  server.setModels(new Map([['quoting', served]]));
  const base = await server.listen(0, '127.0.0.1');
  const body = { model: 'quoting', messages: [{ role: 'user', content: 'What do cats do?' }], temperature: 0, rag: true };
  const plain = (await (await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as { choices: { message: { content: string }; citations: { n: number }[] }[]; rag: { passages: unknown[] } };
  assert.equal(plain.rag.passages.length, 1);
  assert.equal(plain.choices[0].message.content, quote.trimStart());
  assert.deepEqual(
    plain.choices[0].citations.map((c) => c.n),
    [1],
  );
  const sse = await (await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) })).text();
  const deltas = sse
    .split('\n')
    .filter((l) => l.startsWith('data: {'))
    .map((l) => (JSON.parse(l.slice(6)) as { choices: { delta?: { content?: string } }[] }).choices[0]?.delta?.content)
    .filter((c): c is string => c !== undefined && c !== '');
  assert.ok(deltas.length > 1, `streamed in ${deltas.length} deltas`);
  assert.equal(deltas.join(''), quote.trimStart());
  assert.ok(!deltas[0].startsWith(' '), JSON.stringify(deltas[0]));
});
