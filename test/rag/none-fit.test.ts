import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { describeNoneFit, noneFit } from '../../src/rag/generate.js';

const text = 'Glaciers carve valleys slowly as ice grinds the rock beneath them over many thousands of years.';
const tok = trainTokenizer([`${text}\nPassages: Question: how do glaciers carve valleys? [1] (notes.txt:1)`.repeat(20)], { vocabSize: 300 });
const engine = { tok, model: new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 128, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 1 }) };
const passage = { text: `${text} `.repeat(6), source: 'notes.txt:1' };

test('the note of a passage that does not fit figures the chunk size for the reply room asked (max_tokens 20), not the default reply', () => {
  const q = 'how do glaciers carve valleys?';
  const asked20 = noneFit(engine, [], q, [passage], 20);
  const asked30 = noneFit(engine, [], q, [passage], 30);
  assert.ok(asked20 && asked30);
  assert.equal(asked20.room, 20);
  assert.ok(asked20.chunkSize > 10, JSON.stringify(asked20));
  // ten more tokens of reply leave ten fewer for the chunk
  assert.equal(asked20.chunkSize - asked30.chunkSize, 10);
  const note = describeNoneFit(asked20, { reply: 'max_tokens', chunkSize: 'gptforge rag index --chunk-size' });
  assert.ok(note.includes(`gptforge rag index --chunk-size ${asked20.chunkSize} or less fits one passage beside this question and a 20-token reply`), note);
});
