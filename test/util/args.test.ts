import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '@commander-js/extra-typings';
import { collect, number, positiveInteger } from '../../src/util/args.js';

test("option-argument parsers: numbers refused by value with commander's InvalidArgumentError; repeatable options collect", () => {
  assert.equal(number('5'), 5);
  assert.equal(number('-5'), -5);
  assert.equal(number('1e-4'), 1e-4);
  for (const bad of ['abc', '', ' ', 'NaN', 'Infinity', '3x'])
    assert.throws(
      () => number(bad),
      (e: unknown) => e instanceof InvalidArgumentError && /expects a number/.test((e as Error).message),
      bad,
    );
  assert.deepEqual(collect('b', collect('a', [])), ['a', 'b']);
});

test('positiveInteger: whole numbers ≥ 1 (token counts, passages); 0, negatives and fractions refused', () => {
  assert.equal(positiveInteger('48'), 48);
  for (const bad of ['0', '-5', '2.5', 'abc', ''])
    assert.throws(
      () => positiveInteger(bad),
      (e: unknown) => e instanceof InvalidArgumentError && /expects a (whole number ≥ 1|number)/.test((e as Error).message),
      bad,
    );
});
