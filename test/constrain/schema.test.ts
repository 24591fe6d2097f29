import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/rng.js';
import { Automaton, lowerSchema, schemaConstraint } from '../../src/infer/constrain/index.js';
import { accepts, randomWalk, testTokenizer } from './helpers.js';
import { ajvValidator } from './ajv.js';
import { GptforgeError } from '../../src/util/errors.js';

interface Case {
  name: string;
  schema: unknown;
  valid: unknown[];
  invalid: unknown[];
}

const CASES: Case[] = [
  {
    name: 'object with required, optional and closed members',
    schema: { type: 'object', properties: { name: { type: 'string', minLength: 1, maxLength: 12 }, age: { type: 'integer', minimum: 0, maximum: 150 }, email: { type: 'string', format: 'email' } }, required: ['name', 'age'], additionalProperties: false },
    valid: [
      { name: 'Alice', age: 30 },
      { name: 'B', age: 0, email: 'b@x.org' },
      { name: 'héllo wörld', age: 150 },
    ],
    invalid: [{ name: '', age: 3 }, { name: 'A', age: 151 }, { name: 'A' }, { name: 'A', age: 1, x: 1 }, { name: 'A', age: -1 }, { name: 'A', age: 1.5 }, { name: 'A', age: 2, email: 'nope' }],
  },
  {
    name: 'arrays: items, prefixItems, bounds',
    schema: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }], items: { type: 'boolean' }, minItems: 1, maxItems: 4 },
    valid: [['a'], ['a', 1.5], ['a', -2e-3, true, false]],
    invalid: [[], [1], ['a', 'b'], ['a', 1, true, false, true], ['a', 1, null]],
  },
  {
    name: 'enum, const, nullable types, anyOf',
    schema: {
      type: 'object',
      properties: {
        kind: { enum: ['noun', 'verb', 'adjective'] },
        n: { type: ['integer', 'null'] },
        v: { const: { a: [1, 'x'] } },
        u: {
          anyOf: [
            { type: 'string', pattern: '^[A-Z]{2}\\d$' },
            { type: 'number', exclusiveMinimum: 0, maximum: 10 },
          ],
        },
      },
      required: ['kind'],
    },
    valid: [{ kind: 'noun' }, { kind: 'verb', n: null, v: { a: [1, 'x'] } }, { kind: 'adjective', n: -7, u: 'AB1' }, { kind: 'noun', u: 0.5 }, { kind: 'noun', u: 10 }, { kind: 'noun', extra: [1, { b: null }] }],
    invalid: [{ kind: 'pronoun' }, { n: 1 }, { kind: 'noun', n: 1.5 }, { kind: 'noun', v: { a: [1] } }, { kind: 'noun', u: 'ab1' }, { kind: 'noun', u: 0 }, { kind: 'noun', u: 10.5 }, { kind: 'noun', kind2: 1, n: 'x' }],
  },
  {
    name: 'recursive $ref through $defs',
    schema: { $defs: { node: { type: 'object', properties: { value: { type: 'integer' }, children: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 3 } }, required: ['value'], additionalProperties: false } }, $ref: '#/$defs/node' },
    valid: [{ value: 1 }, { value: 1, children: [{ value: 2 }, { value: 3, children: [{ value: -4 }] }] }],
    invalid: [{ value: 1, children: [{}] }, { value: 1, children: [{ value: 1 }, { value: 1 }, { value: 1 }, { value: 1 }] }, { value: 'x' }],
  },
  {
    name: 'formats and patterns',
    schema: {
      type: 'object',
      properties: { d: { type: 'string', format: 'date' }, t: { type: 'string', format: 'date-time' }, id: { type: 'string', format: 'uuid' }, tm: { type: 'string', format: 'time' }, code: { type: 'string', pattern: 'x[0-9]+' }, ip: { type: 'string', format: 'ipv4' } },
      additionalProperties: false,
    },
    valid: [{ d: '2024-02-29', t: '2024-01-31T12:30:00Z' }, { id: '123e4567-e89b-12d3-a456-426614174000', tm: '23:59:59.5+01:00' }, { code: 'abc x12 "quoted"\n' }, { ip: '192.168.0.255' }],
    invalid: [{ d: '2023-02-29' }, { d: '2024-13-01' }, { t: '2024-01-31 25:00:00Z' }, { id: '123e4567e89b12d3a456426614174000' }, { code: 'xx' }, { ip: '256.1.1.1' }, { tm: '12:00:00' }],
  },
  {
    // the format's automaton times a length counter (lengthbound.ts): both must hold
    name: 'formats with minLength/maxLength',
    schema: {
      type: 'object',
      properties: {
        e: { type: 'string', format: 'email', minLength: 6, maxLength: 9 },
        u: { type: 'string', format: 'uuid', maxLength: 36 },
        t: { type: 'string', format: 'time', minLength: 12 },
        dt: { type: 'string', format: 'date-time', maxLength: 20 },
        d: { type: 'string', format: 'date', minLength: 10, maxLength: 10 },
      },
      additionalProperties: false,
    },
    valid: [{ e: 'ab@c.de' }, { e: 'a@b.co' }, { e: 'abc@d.efg' }, { u: '123e4567-e89b-12d3-a456-426614174000' }, { t: '23:59:59.5+01' }, { t: '12:00:00.123Z', dt: '2024-01-31T12:30:00Z', d: '2024-02-29' }],
    invalid: [{ e: 'a@b.c' }, { e: 'abcd@e.fgh' }, { e: 'abcdefghij' }, { u: 'urn:uuid:123e4567-e89b-12d3-a456-426614174000' }, { t: '23:59:59Z' }, { t: '23:59:59+01' }, { dt: '2024-01-31T12:30:00.5Z' }, { dt: '2024-01-31T12:30:00+01:00' }, { d: '2023-02-29' }],
  },
  {
    name: 'allOf of objects, oneOf with a discriminator, number bounds',
    schema: {
      allOf: [
        { type: 'object', properties: { id: { type: 'integer', exclusiveMinimum: -3, maximum: 1000 } }, required: ['id'] },
        {
          properties: {
            shape: {
              oneOf: [
                { type: 'object', properties: { kind: { const: 'circle' }, r: { type: 'number', minimum: 0 } }, required: ['kind', 'r'] },
                { type: 'object', properties: { kind: { const: 'square' }, side: { type: 'number', minimum: -1, exclusiveMaximum: 5 } }, required: ['kind', 'side'] },
              ],
            },
          },
        },
      ],
    },
    valid: [{ id: -2 }, { id: 1000, shape: { kind: 'circle', r: 0 } }, { id: 5, shape: { kind: 'square', side: 4.999 } }, { id: 5, shape: { kind: 'square', side: -1 } }],
    invalid: [{ id: -3 }, { id: 1001 }, { id: 1, shape: { kind: 'circle', r: -0.5 } }, { id: 1, shape: { kind: 'square', side: 5 } }, { id: 1, shape: { kind: 'square', side: -1.01 } }, { id: 1, shape: { kind: 'triangle' } }],
  },
  {
    name: 'strings with escapes and unicode; additionalProperties schema',
    schema: { type: 'object', properties: { s: { type: 'string', maxLength: 6 } }, additionalProperties: { type: 'string', enum: ['x', 'y\n"'] } },
    valid: [{ s: 'a"b\\c' }, { s: '中文✓😀' }, { s: 'tab\tx', k: 'x' }, { other: 'y\n"' }],
    invalid: [{ s: 'too long!' }, { s: 1 }, { k: 'z' }],
  },
  {
    // 2019-09 on: $ref and its siblings both apply
    name: '2020-12 $ref with siblings is a conjunction',
    schema: { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', properties: { s: { $ref: '#/$defs/num', maximum: 5 } }, $defs: { num: { type: 'integer', minimum: 0 } } },
    valid: [{ s: 0 }, { s: 5 }],
    invalid: [{ s: 6 }, { s: -1 }, { s: 'x' }],
  },
];

test('drafts 3–7: keywords beside $ref are ignored, as the spec says (draft-07 §8.3; ajv 8 applies them, so no ajv cross-check here)', () => {
  const tok = testTokenizer();
  for (const draft of ['http://json-schema.org/draft-04/schema#', 'http://json-schema.org/draft-07/schema#']) {
    const schema = { $schema: draft, type: 'object', properties: { s: { type: 'string', $ref: '#/definitions/obj' } }, definitions: { obj: { type: 'object', properties: { a: { type: 'integer' } }, required: ['a'] } } };
    const c = schemaConstraint(schema, tok);
    for (const x of [{ s: { a: 1 } }, {}]) assert.ok(accepts(c.clone(), tok, JSON.stringify(x)), `${draft}: refuses ${JSON.stringify(x)}`);
    for (const x of [{ s: 'text' }, { s: {} }]) assert.ok(!accepts(c.clone(), tok, JSON.stringify(x)), `${draft}: accepts ${JSON.stringify(x)}`);
  }
});

test('fixtures: ajv agrees with the valid/invalid labels', () => {
  for (const c of CASES) {
    const v = ajvValidator(c.schema);
    for (const x of c.valid) assert.ok(v(x), `${c.name}: ajv rejects ${JSON.stringify(x)}`);
    for (const x of c.invalid) assert.ok(!v(x), `${c.name}: ajv accepts ${JSON.stringify(x)}`);
  }
});

test('schema constraints accept valid instances token by token (compact and indented) and refuse invalid ones', () => {
  const tok = testTokenizer();
  for (const c of CASES) {
    const fresh = schemaConstraint(c.schema, tok); // compiled once; every instance starts from a clone
    for (const x of c.valid) {
      assert.ok(accepts(fresh.clone(), tok, JSON.stringify(x)), `${c.name}: refuses valid ${JSON.stringify(x)}`);
      assert.ok(accepts(fresh.clone(), tok, JSON.stringify(x, null, 2)), `${c.name}: refuses valid indented ${JSON.stringify(x)}`);
    }
    for (const x of c.invalid) assert.ok(!accepts(fresh.clone(), tok, JSON.stringify(x)), `${c.name}: accepts invalid ${JSON.stringify(x)}`);
    assert.ok(!accepts(schemaConstraint(c.schema, tok, { whitespace: 'compact' }), tok, JSON.stringify(c.valid[0], null, 2)) || !/\n/.test(JSON.stringify(c.valid[0], null, 2)), `${c.name}: compact mode accepts newlines`);
  }
});

test("whitespace 'line': single spaces between tokens, never a newline (JSON Lines for sample -n)", () => {
  const tok = testTokenizer();
  for (const c of CASES) {
    const line = schemaConstraint(c.schema, tok, { whitespace: 'line' });
    const x = c.valid[0];
    assert.ok(accepts(line.clone(), tok, JSON.stringify(x)), `${c.name}: refuses compact ${JSON.stringify(x)}`);
    const spaced = JSON.stringify(x, null, 1)?.replace(/\n */g, ' ');
    if (spaced !== undefined) assert.ok(accepts(line.clone(), tok, spaced), `${c.name}: refuses one-space ${spaced}`);
    const indented = JSON.stringify(x, null, 2);
    if (indented !== undefined && /\n/.test(indented)) assert.ok(!accepts(line.clone(), tok, indented), `${c.name}: line mode accepts a newline`);
  }
});

test('random constrained walks produce JSON that ajv accepts (≥ 200 complete walks)', () => {
  const tok = testTokenizer();
  const rng = new Rng(2024);
  let complete = 0;
  let attempts = 0;
  // one compiled matcher per schema and whitespace policy; each walk starts from a clone
  const compiled = CASES.map((c) => ({ c, v: ajvValidator(c.schema), ws: [schemaConstraint(c.schema, tok, { whitespace: 'compact' }), schemaConstraint(c.schema, tok)] }));
  for (let round = 0; complete < 210 && round < 12; round++) {
    for (const { c, v, ws } of compiled) {
      for (let w = 0; w < 4; w++) {
        attempts++;
        const r = randomWalk(ws[w % 2].clone(), tok, rng, 250, 0.5);
        if (!r.complete) continue;
        complete++;
        let parsed: unknown;
        assert.doesNotThrow(() => (parsed = JSON.parse(r.text)), `${c.name}: not JSON: ${r.text}`);
        assert.ok(v(parsed), `${c.name}: ajv rejects the constrained sample ${r.text}`);
      }
    }
  }
  assert.ok(complete >= 200, `only ${complete} of ${attempts} walks completed`);
});

test('unsupported keywords are refused with pointer and keyword; invalid and empty schemas are errors', () => {
  const tok = testTokenizer();
  // the place is err.pointer (a JSON Pointer, RFC 6901: "" the root) and the file; the message names both before the detail
  const err = (schema: unknown, re: RegExp, pointer?: string): void =>
    assert.throws(
      () => schemaConstraint(schema, tok, { file: 's.json' }),
      (e: unknown) => {
        assert.ok(e instanceof GptforgeError, String(e));
        assert.match(e.message, re);
        assert.equal(e.file, 's.json');
        assert.equal(e.field, undefined, 'a schema error names its place by pointer, not field');
        if (pointer !== undefined) {
          assert.equal(e.pointer, pointer);
          assert.ok(e.message.startsWith(`s.json, at ${pointer === '' ? 'the root ("")' : pointer}: `), e.message);
        }
        return true;
      },
    );
  err({ type: 'object', properties: { a: { type: 'array', uniqueItems: true } } }, /unsupported JSON Schema keyword "uniqueItems" \(refused/, '/properties/a/uniqueItems');
  err({ properties: { 'x/y': { not: { type: 'string' } } } }, /"not"/, '/properties/x~1y/not');
  err({ type: 'number', multipleOf: 2 }, /"multipleOf"/, '/multipleOf');
  err({ type: 'string', format: 'hostname' }, /format "hostname" is not supported/, '/format');
  err({ type: 'string', pattern: '(a)\\1' }, /backreferences/, '/pattern');
  err({ oneOf: [{ type: 'string' }, { type: 'string', maxLength: 3 }] }, /oneOf.*branches 0 and 1/);
  err({ $ref: 'http://example.com/s.json' }, /only local references/);
  err({ $ref: '#/$defs/missing' }, /invalid JSON Schema: .*does not resolve/, '/$ref');
  err({ properties: { a: { $ref: '#/$defs/missing' } } }, /invalid JSON Schema: .*does not resolve/, '/properties/a/$ref');
  err({ type: 'strng' }, /invalid JSON Schema: unknown type "strng"/, '/type');
  err(3, /invalid JSON Schema: a schema must be an object or a boolean/, '');
  err({ type: 'string', minLength: 5, maxLength: 2 }, /no JSON value satisfies.*minLength 5 > maxLength 2/, '');
  err({ type: 'string', format: 'date', maxLength: 9 }, /no JSON value satisfies.*no "date" string has between 0 and 9 characters/, '');
  err({ type: 'string', format: 'uuid', minLength: 46 }, /no JSON value satisfies.*no "uuid" string has at least 46 characters/, '');
  err({ type: 'string', pattern: 'a+', maxLength: 3 }, /"pattern": together with minLength\/maxLength/, '/pattern');
  err({ type: 'object', properties: { a: { type: 'integer', minimum: 3, maximum: 2 } }, required: ['a'] }, /no JSON value satisfies/, '');
  err({ allOf: [{ type: 'string' }, { type: 'integer' }] }, /no JSON value satisfies/);
  // without a file the message still leads with the pointer
  assert.throws(
    () => schemaConstraint({ type: 'strng' }, tok),
    (e: unknown) => e instanceof GptforgeError && e.pointer === '/type' && e.message.startsWith('at /type: invalid JSON Schema'),
  );
  // an empty optional branch is fine: the rest still has values
  assert.ok(accepts(schemaConstraint({ anyOf: [{ type: 'string', minLength: 3, maxLength: 1 }, { type: 'null' }] }, tok), tok, 'null'));
});

test('schema masks equal a brute-force check of every token at every step (frame split is exact)', () => {
  const tok = testTokenizer();
  const rng = new Rng(77);
  for (const c of [CASES[0], CASES[2], CASES[3], CASES[6]]) {
    const base = schemaConstraint(c.schema, tok);
    const m = base.matcher;
    for (let w = 0; w < 6; w++) {
      const con = base.clone();
      for (let step = 0; step < 40 && !con.mustEnd(); step++) {
        const mask = new Uint32Array(Math.ceil(tok.vocabSize / 32));
        con.fillMask(mask);
        const allowed: number[] = [];
        for (let id = 0; id < tok.vocabSize; id++) {
          const b = m.trie.tokenBytes(id);
          const ok = b !== undefined && m.automaton.run(con.stateId, b) !== 0;
          assert.equal((mask[id >>> 5] >>> (id & 31)) & 1, ok ? 1 : 0, `${c.name}: token ${id} ${JSON.stringify(tok.decode([id]))} at step ${step}`);
          if (ok) allowed.push(id);
        }
        if (allowed.length === 0) break;
        assert.ok(con.advance(allowed[rng.int(allowed.length)]));
      }
    }
  }
});

test('object members: declared ones in order (optional skippable, required present), extras anywhere, never a declared name twice — every sequence of up to 5 members', () => {
  // A brute-force reference for the member grammar (schema.ts objectExpr: rest/after/decl):
  // declared a (required), b, c (optional), extra keys x and y (additionalProperties: true).
  const schema = { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' }, c: { type: 'integer' } }, required: ['a'] };
  const a = new Automaton(lowerSchema(schema, { whitespace: 'compact' }));
  const open = new Automaton(lowerSchema({ ...schema, required: [] }, { whitespace: 'compact' }));
  const closed = new Automaton(lowerSchema({ ...schema, additionalProperties: false }, { whitespace: 'compact' }));
  const names = ['a', 'b', 'c', 'x', 'y'];
  const enc = new TextEncoder();
  const seqs: string[][] = [[]];
  for (let len = 1; len <= 5; len++) for (const s of seqs.filter((q) => q.length === len - 1)) for (const n of names) seqs.push([...s, n]);
  let checked = 0;
  for (const s of seqs) {
    const declared = s.filter((n) => n <= 'c');
    const inOrder = declared.every((n, i) => i === 0 || declared[i - 1] < n); // increasing: each at most once
    const text = enc.encode(`{${s.map((n, i) => `"${n}":${i}`).join(',')}}`);
    const label = `{${s.join(',')}}`;
    assert.equal(a.matches(text), inOrder && declared.includes('a'), `required a: ${label}`);
    assert.equal(open.matches(text), inOrder, `all optional: ${label}`);
    assert.equal(closed.matches(text), inOrder && declared.length === s.length && declared.includes('a'), `closed: ${label}`);
    checked++;
  }
  assert.equal(checked, 3906);
});
