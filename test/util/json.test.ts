import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJsonFile } from '../../src/util/json.js';
import { GptforgeError } from '../../src/util/errors.js';

test('parseJsonFile: valid JSON parses as JSON.parse does', () => {
  assert.deepEqual(parseJsonFile('{"a": [1, 2, {"b": null}]}', 'x.json'), { a: [1, 2, { b: null }] });
});

test('parseJsonFile: a syntax error names the file, the line and column of the first fault and what was expected (Node gives no position for these)', () => {
  const cases: Array<[string, number, RegExp]> = [
    ['{\n  "a": ,\n}\n', 2, /expected a value at column 8$/],
    ['{\n  "a": 1,\n}', 3, /expected a property name \(in double quotes\) at column 1$/],
    ['{"a" 1}', 1, /expected a colon at column 6$/],
    ['[1, 2', 1, /expected a closing bracket at column 6$/],
    ['{"a": 1}\n// note', 2, /a comment \(JSON has none\) at column 1$/],
    ['', 1, /expected a value at column 1$/],
  ];
  for (const [text, line, re] of cases) {
    assert.throws(
      () => parseJsonFile(text, '/in/x.json'),
      (e: unknown) => e instanceof GptforgeError && e.file === '/in/x.json' && e.line === line && e.message.startsWith(`/in/x.json:${line}: not valid JSON: `) && re.test(e.message),
      JSON.stringify(text),
    );
  }
});
