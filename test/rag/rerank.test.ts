import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noGrad } from '../../src/engine/tensor.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { contextBlock, QUESTION_LABEL } from '../../src/rag/context.js';
import { ModelReranker } from '../../src/rag/rerank.js';
import type { RetrievedChunk } from '../../src/rag/retrieve.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';

const tok = trainTokenizer(['Passages: Question: what does a cat mean? cats purr and chase mice; oak trees drop acorns; whales sing in the sea. '.repeat(20)], { vocabSize: 320 });
const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 128, nLayer: 2, nHead: 2, nEmbd: 32, position: 'rope' }), { seed: 5 });
const passages = [
  { text: 'Cats purr and chase mice.', source: 'animals.txt:1' },
  { text: 'Oak trees drop acorns in autumn, and squirrels bury them for the winter months ahead.', source: 'plants.txt:4' },
  { text: 'Whales sing.', source: 'sea.md:2' },
];
const question = 'What does a cat chase?';

/** Reference: the whole text encoded at once, one sequence at a time, log-softmax by hand. */
function reference(p: { text: string; source: string }): number {
  const prefixText = `${contextBlock([p])}\n${QUESTION_LABEL}`;
  const ids = [tok.specialId('<|bos|>'), tok.specialId('<|user_start|>'), ...tok.encode(`${prefixText} ${question}`, { disallowedSpecial: 'plain' })];
  const start = 2 + tok.encode(prefixText, { disallowedSpecial: 'plain' }).length;
  const T = ids.length;
  const logits = noGrad(() => model.forward(Int32Array.from(ids), 1, T)).data;
  const V = tok.vocabSize;
  let s = 0;
  for (let t = start; t < T; t++) {
    const row = logits.subarray((t - 1) * V, t * V);
    const max = Math.max(...row);
    let z = 0;
    for (const x of row) z += Math.exp(x - max);
    s += row[ids[t]] - max - Math.log(z);
  }
  return s;
}

test('ModelReranker: log p(question | passage) as one unpadded sequence scores it, whatever the batch and padding', () => {
  for (const batch of [1, 2, 8]) {
    const got = new ModelReranker(model, tok, batch).scores(question, passages);
    assert.equal(got.length, 3);
    passages.forEach((p, i) => {
      const ref = reference(p);
      assert.ok(got[i] < 0 && Math.abs(got[i] - ref) < 1e-3 * Math.max(1, Math.abs(ref)), `batch ${batch}, passage ${i}: ${got[i]} vs ${ref}`);
    });
  }
});

test('ModelReranker.rerank: chunks ordered by their score, best first; a passage longer than the context is cut, not refused', () => {
  const r = new ModelReranker(model, tok);
  const chunks = passages.map((p, i) => ({ id: i + 1, path: p.source.split(':')[0], line: Number(p.source.split(':')[1]), text: p.text, score: 1 - i / 10 }) as unknown as RetrievedChunk);
  const s = r.scores(question, passages);
  const out = r.rerank(question, chunks);
  assert.deepEqual(
    out.map((c) => c.id),
    [1, 2, 3].sort((a, b) => s[b - 1] - s[a - 1]),
  );
  assert.deepEqual(
    out.map((c) => c.score),
    [...s].sort((a, b) => b - a),
  );
  const long = r.scores(question, [{ text: 'acorns and whales '.repeat(100), source: 'long.txt:1' }]);
  assert.ok(Number.isFinite(long[0]) && long[0] < 0);
});
