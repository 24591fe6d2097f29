import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { scoreStructured, structured, structuredAnswer, structuredWord, STRUCTURED_SCHEMA, validStructured } from '../../src/data/synthetic/structured.js';
import { taskByName } from '../../src/data/synthetic/tasks.js';
import { structuredEffect, structuredMarkdown } from '../../src/eval/structured.js';
import { PolicyModel } from '../infer/scripted.js';
import { ajvValidator } from './ajv.js';

test('structured family: registered; ideal answers are schema-valid (ajv and the hand check agree) and fully correct; splits disjoint', () => {
  assert.equal(taskByName('structured'), structured);
  const ajv = ajvValidator(STRUCTURED_SCHEMA);
  const train = structured.generate('train', 300, 1);
  const test_ = structured.generate('test', 60, 1);
  const words = (xs: typeof train): Set<string> => new Set(xs.map((e) => structuredWord(e.prompt)!));
  for (const w of words(test_)) assert.ok(!words(train).has(w), `${w} in both splits`);
  assert.ok(words(test_).size >= 40, `only ${words(test_).size} distinct test words`);
  for (const e of [...train.slice(0, 100), ...test_]) {
    const answer = e.conversation.messages[1].content;
    const v = JSON.parse(answer) as unknown;
    assert.ok(ajv(v) && validStructured(v), answer);
    assert.ok(structured.check(e.prompt, answer), `${e.prompt} → ${answer}`);
  }
  assert.deepEqual(structured.generate('test', 20, 5), structured.generate('test', 20, 5));
});

test('structured family: wrong or malformed answers are scored field by field; ajv agrees on validity', () => {
  const ajv = ajvValidator(STRUCTURED_SCHEMA);
  const e = structured.generate('test', 1, 3)[0];
  const word = structuredWord(e.prompt)!;
  const good = JSON.parse(structuredAnswer(word)!) as Record<string, unknown>;
  const cases: [Record<string, unknown> | string, boolean, Partial<Record<string, boolean>>][] = [
    [{ ...good, syllables: 13 }, false, { syllables: false, word: true }],
    [{ ...good, word: 'zzz' }, true, { word: false, syllables: true }],
    [{ ...good, definition: 'nothing related at all here' }, true, { definition: false }],
    [{ ...good, extra: 1 }, false, { word: true }],
    ['{"word": "x", ', false, { word: false }],
  ];
  for (const [a, valid, fields] of cases) {
    const text = typeof a === 'string' ? a : JSON.stringify(a);
    const s = scoreStructured(e.prompt, text);
    assert.equal(s.valid, valid, text);
    if (typeof a !== 'string') assert.equal(ajv(a), valid, `ajv on ${text}`);
    for (const [k, want] of Object.entries(fields)) assert.equal(s.fields[k as keyof typeof s.fields], want, `${k} of ${text}`);
    assert.equal(structured.check(e.prompt, text), false);
  }
});

test('structured effect on a small random model: under the schema every reply is valid, free replies are not; field accuracy not lower', () => {
  const tok = trainTokenizer(['{"word": "river", "part_of_speech": "noun", "definition": "a large natural stream of water", "syllables": 2}\n'.repeat(20), 'Give me the word as JSON with its definition, part of speech and syllable count. '.repeat(10)], { vocabSize: 420 });
  const V = tok.vocabSize;
  const quote = tok.encode('"', { disallowedSpecial: 'plain' })[0];
  let k = 0;
  // pseudo-random logits, a pull towards '"' so strings close and replies finish within the limit
  const model = new PolicyModel(
    V,
    () => {
      const l = new Float32Array(V);
      for (let i = 0; i < V; i++) l[i] = (((Math.imul(i + 1, 2654435761) ^ Math.imul(++k, 40503)) >>> 0) / 2 ** 32) * 6;
      l[quote] += 4;
      return l;
    },
    512,
  );
  const e = structuredEffect(model, tok, { n: 8, maxTokens: 160 });
  assert.equal(e.constrained.cut, 0, 'constrained replies all finished');
  assert.equal(e.constrained.valid, 1);
  assert.ok(e.free.valid < 1, `free valid ${e.free.valid}`);
  assert.ok(e.constrained.fieldAccuracy >= e.free.fieldAccuracy);
  const md = structuredMarkdown(e);
  assert.match(md, /SFT \+ schema constraint \| 8 \| 100\.0%/);
});
