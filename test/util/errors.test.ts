import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatError, GptforgeError } from '../../src/util/errors.js';

test('GptforgeError keeps the location (file, line, field) apart from the detail; message is the full text', () => {
  const e = new GptforgeError('must be in (0, 1], got 3', { file: 'sft.json', line: 4, field: 'topP' });
  assert.equal(e.detail, 'must be in (0, 1], got 3');
  assert.deepEqual(e.where, { file: 'sft.json', line: 4, field: 'topP' });
  assert.equal(e.message, 'sft.json:4, field "topP": must be in (0, 1], got 3');
  assert.equal(e.format(), e.message);
  const bare = new GptforgeError('no checkpoint found');
  assert.equal(bare.message, 'no checkpoint found');
  assert.deepEqual(bare.where, {});
  // a detail that happens to look like a location is not taken apart
  const odd = new GptforgeError('field "x": literally', { field: 'y' });
  assert.equal(odd.detail, 'field "x": literally');
  assert.equal(odd.format({ fieldName: (f) => (f === 'y' ? '--y' : undefined) }), '--y: field "x": literally');
});

test("format names a field the caller's way: a flag leads bare, or merges with a detail that names it already", () => {
  const flags: Record<string, string> = { topP: '--top-p', k: '--k' };
  const fieldName = (f: string): string | undefined => flags[f];
  assert.equal(new GptforgeError('must be in (0, 1], got 3', { field: 'topP' }).format({ fieldName }), '--top-p: must be in (0, 1], got 3');
  assert.equal(new GptforgeError('top-p 3: must be in (0, 1]', { field: 'topP' }).format({ fieldName }), '--top-p 3: must be in (0, 1]');
  // a library detail naming the option its own way (library callers read "topP 3"): the CLI still says --top-p
  assert.equal(new GptforgeError('topP 3: must be in (0, 1]', { field: 'topP' }).format({ fieldName }), '--top-p 3: must be in (0, 1]');
  // the library's form, "<option>: expects …, got <value>", leads with the flag
  assert.equal(new GptforgeError('topP: expects a number in [0, 1], got 3', { field: 'topP' }).format({ fieldName }), '--top-p: expects a number in [0, 1], got 3');
  assert.equal(new GptforgeError('topP 3: must be in (0, 1]', { field: 'topP' }).message, 'field "topP": topP 3: must be in (0, 1]');
  assert.equal(new GptforgeError('--k must be a whole number ≥ 1, got 0', { field: 'k' }).format({ fieldName }), '--k must be a whole number ≥ 1, got 0');
  // a field the caller has no name for keeps the library's name
  assert.equal(new GptforgeError('unknown', { field: 'seed' }).format({ fieldName }), 'field "seed": unknown');
  // with a file, the renamed field follows it
  assert.equal(formatError('bad', { file: 'a.json', field: 'topP' }, { fieldName }), 'a.json, --top-p: bad');
});

test('a JSON Pointer into a document is its own part of the location (pointer), apart from the option in field', () => {
  const e = new GptforgeError('minimum must be a number', { file: 'person.schema.json', pointer: '/properties/age/minimum', field: 'jsonSchema' });
  assert.equal(e.pointer, '/properties/age/minimum');
  assert.equal(e.field, 'jsonSchema');
  assert.deepEqual(e.where, { file: 'person.schema.json', field: 'jsonSchema', pointer: '/properties/age/minimum' });
  assert.equal(e.message, 'person.schema.json, at /properties/age/minimum, field "jsonSchema": minimum must be a number');
  assert.equal(new GptforgeError('not an object', { pointer: '' }).message, 'at the root (""): not an object');
  assert.equal(new GptforgeError('x', { field: 'topP' }).pointer, undefined);
});
