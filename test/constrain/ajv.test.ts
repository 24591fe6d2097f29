import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileInputSchema, compileJsonSchema } from '../../src/infer/tools/schema.js';
import { ajvValidator } from './ajv.js';

/**
 * The tests' validator of constrained output is the product's (compileJsonSchema): on schemas where
 * the ajv set-up decides the verdict — a format, an unknown keyword, draft 2020-12's prefixItems, a
 * `$schema` ajv does not know, a Unicode pattern — it agrees with the tool-input check instance by
 * instance, and each verdict is the one JSON Schema gives.
 */
const CASES: { name: string; schema: unknown; valid: unknown[]; invalid: unknown[] }[] = [
  { name: 'format (ajv-formats)', schema: { type: 'string', format: 'email' }, valid: ['a@b.co'], invalid: ['not an email'] },
  { name: 'unknown keyword (strict: false)', schema: { type: 'integer', 'x-unit': 'cm' }, valid: [3], invalid: [3.5] },
  {
    name: 'prefixItems (draft 2020-12)',
    schema: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }], items: false },
    valid: [['a', 1]],
    invalid: [
      [1, 'a'],
      ['a', 1, 2],
    ],
  },
  { name: 'another draft named ($schema dropped)', schema: { $schema: 'http://json-schema.org/draft-06/schema#', type: 'object', required: ['a'] }, valid: [{ a: 1 }], invalid: [{}] },
  { name: 'Unicode pattern (unicodeRegExp)', schema: { type: 'string', pattern: '^\\p{L}+$' }, valid: ['héllo'], invalid: ['h3llo'] },
];

test('ajvValidator (tests) and compileInputSchema (product) are one ajv set-up: the same verdict on every instance', () => {
  for (const c of CASES) {
    const tests = ajvValidator(c.schema);
    const product = compileInputSchema(c.schema);
    const raw = compileJsonSchema(c.schema);
    for (const [data, want] of [...c.valid.map((d) => [d, true] as const), ...c.invalid.map((d) => [d, false] as const)]) {
      const what = `${c.name}: ${JSON.stringify(data)}`;
      assert.equal(tests(data), want, what);
      assert.equal(product(JSON.stringify(data)) === null, want, what);
      assert.equal(raw(data), want, what);
    }
  }
});
