import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constraintFromOptions } from '../../src/infer/constrain/index.js';
import { accepts, testTokenizer } from './helpers.js';

// The files docs/constrain.md's commands name (examples/constrain/) compile, and accept and
// refuse what they say they do: a newcomer copying the doc's command gets a working constraint.

test('examples/constrain: person.json and yes-no.gbnf compile and decide their language', () => {
  const tok = testTokenizer();
  const person = constraintFromOptions({ jsonSchema: 'examples/constrain/person.json' }, tok);
  assert.ok(person);
  assert.equal(accepts(person.clone(), tok, '{"name": "Ada", "age": 36, "pets": ["cat"]}'), true);
  assert.equal(accepts(person.clone(), tok, '{"name": "Ada"}'), false); // age is required
  assert.equal(accepts(person.clone(), tok, '{"name": "Ada", "age": 121}'), false); // maximum 120
  // email's pattern is bounded (at most 41 characters), so a small model cannot wander in it to the end of its context
  assert.equal(accepts(person.clone(), tok, `{"name": "Ada", "age": 36, "email": "${'a'.repeat(24)}@example.com"}`), true);
  assert.equal(accepts(person.clone(), tok, `{"name": "Ada", "age": 36, "email": "${'a'.repeat(25)}@example.com"}`), false);
  const yesNo = constraintFromOptions({ grammar: 'examples/constrain/yes-no.gbnf' }, tok);
  assert.ok(yesNo);
  assert.equal(accepts(yesNo.clone(), tok, 'Yes, because 7 has no divisors.'), true);
  assert.equal(accepts(yesNo.clone(), tok, 'No.'), true);
  assert.equal(accepts(yesNo.clone(), tok, 'Maybe.'), false);
});
