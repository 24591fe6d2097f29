import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import type { Message } from '../../src/data/conversation.js';
import { describeNoneFit, noneFit } from '../../src/rag/generate.js';

const text = 'Glaciers carve valleys slowly as ice grinds the rock beneath them over many thousands of years.';
const tok = trainTokenizer([`${text}\nPassages: Question: how do glaciers carve valleys? [1] (notes.txt:1)`.repeat(20)], { vocabSize: 300 });
const engine = { tok, model: new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 128, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 1 }) };
const passage = { text: `${text} `.repeat(6), source: 'notes.txt:1' };

test("a later turn whose history fills the context: the note says so (start a new conversation), not 'shorten the question' or a chunk size of 0", () => {
  const q = 'how do glaciers carve valleys?';
  const first = noneFit(engine, [], q, [passage], 20);
  assert.ok(first && first.chunkSize > 0 && first.history === undefined, JSON.stringify(first));
  const before: Message[] = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: text },
    { role: 'assistant', content: text },
  ];
  const later = noneFit(engine, before, q, [passage], 20);
  assert.ok(later, 'the passage fits beside the history');
  assert.equal(later.chunkSize, 0);
  assert.ok(later.history !== undefined && later.history > 20, JSON.stringify(later));
  const note = describeNoneFit(later, { reply: 'max_tokens', chunkSize: 'gptforge rag index --chunk-size' });
  assert.match(note, new RegExp(`start a new conversation or shorten this one \\(its earlier messages take ${later.history} tokens of the context\\)`));
  assert.doesNotMatch(note, /shorten the question|--chunk-size 0/);
});
