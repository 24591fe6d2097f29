import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/rng.js';
import { Automaton, gbnfConstraint, parseGbnf } from '../../src/infer/constrain/index.js';
import { accepts, randomWalk, testTokenizer } from './helpers.js';

// JSON in GBNF, written the way llama.cpp's grammars/json.gbnf is laid out (multi-line rules,
// nested groups, classes with escapes, bounded repetition, comments).
const JSON_GBNF = String.raw`
# a JSON value
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws

array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws

string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
  )* "\"" ws

number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

# Optional space: by convention, applied in this grammar after literal chars when allowed
ws ::= | " " | "\n" [ \t]{0,20}
`;

test('GBNF: a JSON grammar accepts JSON objects token by token and random walks parse as JSON', () => {
  const tok = testTokenizer();
  const base = gbnfConstraint(JSON_GBNF, tok, 'json.gbnf');
  for (const s of ['{}', '{"a": 1, "b": [true, null, "x\\n\\u00e9"]}', '{\n  "name": "héllo",\n  "n": -12.5e3\n}']) assert.ok(accepts(base.clone(), tok, s), s);
  for (const s of ['[]', '{"a" 1}', '{"a": 01}', '{"a": "\u0001"}', '{"a": tru}']) assert.ok(!accepts(base.clone(), tok, s), s);
  const rng = new Rng(9);
  let complete = 0;
  for (let w = 0; w < 60; w++) {
    const r = randomWalk(base.clone(), tok, rng, 200, 0.6);
    if (!r.complete) continue;
    complete++;
    assert.doesNotThrow(() => JSON.parse(r.text), r.text);
  }
  assert.ok(complete >= 20, `${complete} complete walks`);
});

test('GBNF: operators, repetition forms, classes and negation', () => {
  const g = parseGbnf(String.raw`
root ::= expr
expr ::= term (("+" | "-") term)*
term ::= factor ("*" factor)*
factor ::= num | "(" expr ")"
num ::= [0-9]{1,3} | "x"{2,} | "y"{,2} "z" | [^0-9()+*\-a-z\n]`);
  const a = new Automaton(g);
  const enc = new TextEncoder();
  for (const s of ['1', '12+3*(4-5)', 'xx*xxx', 'z', 'yyz', '(((7)))', 'Q', 'É']) assert.ok(a.matches(enc.encode(s)), s);
  for (const s of ['', '1234', 'x', 'yyyz', '1+', '(1', 'a', '-', '1++2']) assert.ok(!a.matches(enc.encode(s)), s);
});

test('GBNF: errors name the file, line and column', () => {
  const tok = testTokenizer();
  assert.throws(() => parseGbnf('root ::= "a" foo\n', 'g.gbnf'), /g\.gbnf:1.*column 14: undefined rule "foo" \(rules defined: "root"\)/);
  assert.throws(() => parseGbnf('root ::= "a"\nbar ::= [z-a]\n', 'g.gbnf'), /g\.gbnf:2.*column 9: character range out of order/);
  // a range cut by the end of the line is unterminated, not "out of order" (a range up to the newline)
  assert.throws(() => parseGbnf('root ::= foo\nfoo ::= [a-\n', 'g.gbnf'), /g\.gbnf:2.*column 9: unterminated character range/);
  assert.throws(() => parseGbnf('root ::= foo\nfoo ::= [a-', 'g.gbnf'), /g\.gbnf:2.*column 9: unterminated character/);
  assert.throws(() => parseGbnf('root ::= ("a"\n', 'g.gbnf'), /g\.gbnf:1: column 14: expected \) to close the \( at column 10$/);
  assert.throws(() => parseGbnf('start ::= "a"\n', 'g.gbnf'), /no root rule.*rules defined: "start"$/);
  // a rule called `name` is named as a name, not read as a word
  assert.throws(() => parseGbnf('root ::= name "!"\n', 'g.gbnf'), /undefined rule "name" \(rules defined: "root"\)/);
  assert.throws(() => parseGbnf('root ::= "abc\n', 'g.gbnf'), /unterminated string/);
  assert.throws(() => parseGbnf('root ::= <[1000]>\n', 'g.gbnf'), /token references/);
  assert.throws(() => gbnfConstraint('root ::= root "x" | "y"\n', tok, 'g.gbnf'), /g\.gbnf.*left-recursive/);
  assert.throws(() => parseGbnf('root ::= "a"\nroot ::= "b"\n', 'g.gbnf'), /g\.gbnf:2.*defined twice/);
});

test('constraintFromOptions: files, one option only, JSON syntax errors name file and line', async (t) => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { constraintFromOptions } = await import('../../src/infer/constrain/index.js');
  const tok = testTokenizer();
  const dir = mkdtempSync(join(tmpdir(), 'constrain-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 's.json'), '{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}');
  writeFileSync(join(dir, 'bad.json'), '{\n  "type": "object",\n  "properties": {,}\n}');
  writeFileSync(join(dir, 'g.gbnf'), 'root ::= "yes" | "no"\n');
  assert.ok(accepts(constraintFromOptions({ jsonSchema: join(dir, 's.json') }, tok)!, tok, '{"a": 12}'));
  assert.ok(accepts(constraintFromOptions({ grammar: join(dir, 'g.gbnf') }, tok)!, tok, 'no'));
  assert.ok(accepts(constraintFromOptions({ regex: '[0-9]+' }, tok)!, tok, '123'));
  assert.equal(constraintFromOptions({}, tok), undefined);
  assert.throws(() => constraintFromOptions({ regex: 'a', grammar: 'b' }, tok), /at most one/);
  assert.throws(() => constraintFromOptions({ jsonSchema: join(dir, 'bad.json') }, tok), /bad\.json:3.*not valid JSON.* at column \d+/);
  assert.throws(() => constraintFromOptions({ jsonSchema: join(dir, 'missing.json') }, tok), /missing\.json.*cannot read/);
});

test('GBNF: an unclosed ( is reported where the ) is missing, naming the ( it would close', () => {
  assert.throws(
    () => parseGbnf('root ::= ("yes" | "no"', 'g.gbnf'),
    (e: Error) => e.message === 'g.gbnf:1: column 23: expected ) to close the ( at column 10',
  );
  assert.throws(() => parseGbnf('root ::= ("yes"\n  | "no"\nx ::= "a"', 'g.gbnf'), /g\.gbnf:2: column 9: expected \) to close the \( at line 1, column 10$/);
});
