import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gbnfConstraint, regexConstraint, schemaConstraint } from '../../src/infer/constrain/index.js';
import { decode } from '../../src/infer/pipeline.js';
import { GptforgeError } from '../../src/util/errors.js';
import { PolicyModel } from '../infer/scripted.js';
import { testTokenizer } from './helpers.js';

// Issue #17 "bad input": an error names the source and what is wrong; a constraint nothing
// satisfies is refused before decoding; a value cut by the token limit ends with 'length'.

test('a constraint no string satisfies is refused before decoding, naming the pattern, file or pointer', () => {
  const tok = testTokenizer();
  const is =
    (re: RegExp) =>
    (e: unknown): boolean =>
      e instanceof GptforgeError && re.test(e.message);
  assert.throws(() => regexConstraint('[^\\s\\S]', tok, { field: '--regex' }), is(/--regex.*no string matches the regular expression/));
  assert.throws(() => gbnfConstraint('root ::= "a" root\n', tok, 'loop.gbnf'), is(/loop\.gbnf.*no string satisfies/));
  assert.throws(() => schemaConstraint({ type: 'object', properties: { a: { enum: [] } }, required: ['a'] }, tok, { file: 's.json' }), is(/s\.json.*no JSON value satisfies this schema/));
  assert.throws(() => regexConstraint('a(b', tok, { field: '--regex' }), is(/--regex.*missing \)/));
});

test('regexConstraint called without a location names the field regex', () => {
  const tok = testTokenizer();
  const field =
    (name: string | undefined, re: RegExp) =>
    (e: unknown): boolean =>
      e instanceof GptforgeError && e.field === name && re.test(e.message);
  assert.throws(() => regexConstraint('a(b', tok), field('regex', /missing \)/));
  assert.throws(() => regexConstraint('[^\\s\\S]', tok), field('regex', /no string matches the regular expression/));
  assert.throws(() => regexConstraint('(a)\\1', tok, {}), field('regex', /backreferences/));
  // a location the caller gives is kept as given
  assert.throws(() => regexConstraint('a(b', tok, { file: 'p.txt' }), field(undefined, /p\.txt.*missing \)/));
  assert.throws(() => regexConstraint('a(b', tok, { field: 'pattern' }), field('pattern', /missing \)/));
});

test('a schema value that cannot complete within the token limit ends with finish reason length, as a valid prefix', () => {
  const tok = testTokenizer();
  const V = tok.vocabSize;
  const schema = { type: 'object', properties: { items: { type: 'array', items: { type: 'string' }, minItems: 30 } }, required: ['items'] };
  const base = schemaConstraint(schema, tok);
  const model = new PolicyModel(V, () => {
    const l = new Float32Array(V);
    for (let i = 0; i < V; i++) l[i] = (i * 7919) % 13;
    return l;
  });
  for (const maxTokens of [3, 12, 25]) {
    const c = base.clone();
    const [r] = decode(model, tok, [{ prompt: [0], maxTokens, temperature: 1, seed: maxTokens, constraint: c }]);
    assert.equal(r.finishReason, 'length', `maxTokens ${maxTokens}`);
    assert.ok(!c.isComplete());
    assert.throws(() => JSON.parse(r.text)); // incomplete, and never reported as complete
    // …yet a valid prefix: the constraint fed the same tokens from scratch accepts every one
    const again = base.clone();
    for (const id of r.ids) assert.ok(again.advance(id), `token ${id} of ${JSON.stringify(r.text)}`);
  }
});
