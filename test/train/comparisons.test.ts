import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rubricScore } from '../../src/data/labelers.js';
import { simulatedComparisons, taskExamples, taskPrompts, writtenDemonstrations } from '../../src/train/comparisons.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';

test('comparisons: taskExamples gives taskPrompts’ prompts in the same order, each with its own example', () => {
  const prompts = taskPrompts('train', 40, 4242);
  const items = taskExamples('train', 40, 4242);
  assert.deepEqual(
    items.map(({ prompt, task }) => ({ prompt, task })),
    prompts,
  );
  for (const it of items) assert.equal(it.example.prompt, it.prompt);
});

test('comparisons: the writers’ demonstrations answer their own prompt; at e_w = 0 all are correct, at e_w = 0.5 about half are spoilt', () => {
  const items = taskExamples('train', 400, 7);
  const perfect = writtenDemonstrations(items, { writerErrorRate: 0 }, 1);
  assert.equal(perfect.length, items.length);
  items.forEach((it, i) => assert.equal(rubricScore(it.prompt, perfect[i], it.task).correct, true, `${it.task}: ${JSON.stringify(perfect[i])}`));
  const written = writtenDemonstrations(items, { writerErrorRate: 0.5 }, 1);
  // deterministic in the seed
  assert.deepEqual(writtenDemonstrations(items, { writerErrorRate: 0.5 }, 1), written);
  let worse = 0;
  items.forEach((it, i) => {
    const a = rubricScore(it.prompt, perfect[i], it.task).score;
    const b = rubricScore(it.prompt, written[i], it.task).score;
    assert.ok(b <= a + 1e-9, `a spoilt demonstration never scores above the perfect one (${it.task})`);
    if (b < a - 0.1) worse++;
  });
  // 400 draws at 0.5: σ = 0.025; 0.12 is about five σ (a few mistakes may not apply and fall back)
  assert.ok(Math.abs(worse / items.length - 0.5) < 0.12, `spoilt share ${worse / items.length}`);
});

test('comparisons: the writers’ demonstration is ranked with the samples, and replies cut at maxTokens are counted', () => {
  const items = taskExamples('train', 6, 11, ['syllables', 'chat']);
  const corpus = items.map((it) => `${it.prompt} ${JSON.stringify(it.example.conversation)}`).join(' ');
  const tok = trainTokenizer([corpus.repeat(4)], { vocabSize: 320 });
  const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 96, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 3 });
  const demonstrations = writtenDemonstrations(items, { writerErrorRate: 0 }, 1);
  const r = simulatedComparisons(model, tok, items, { k: 2, temperature: 1, maxTokens: 3, tools: null, seed: 5, noise: 0, demonstrations });
  assert.equal(r.sampled, items.length * 2);
  // an untrained model almost never ends a reply within 3 tokens
  assert.ok(r.cut > 0 && r.cut <= r.sampled, `cut ${r.cut} of ${r.sampled}`);
  assert.ok(r.clean.length > 0);
  for (const ranking of r.clean) {
    const i = items.findIndex((it) => it.prompt === ranking.prompt);
    // the demonstration is a candidate, and (correct, finished) the labelers rank it first
    assert.deepEqual(ranking.completions[0], demonstrations[i]);
  }
});
