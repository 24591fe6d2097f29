import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extractAnswer, softmaxWeights, vote } from '../../src/assist/vote.js';

test('extractAnswer: the number after the last "Answer:", else the last number, else the last line', () => {
  assert.equal(extractAnswer('4567+891\n456+89|7+1+0=8|8\nAnswer: 5458'), '5458');
  assert.equal(extractAnswer('Answer: 12\nno wait\nAnswer: 1,234'), '1234');
  assert.equal(extractAnswer('4567 + 891 = 5458.'), '5458');
  assert.equal(extractAnswer('It is 007'), '7');
  assert.equal(extractAnswer('It is −3.50'), '-3.5');
  assert.equal(extractAnswer('Answer: 123456789012345678901'), '123456789012345678901'); // past 2^53, exactly
  assert.equal(extractAnswer('first line\nThe Star.'), 'the star');
  assert.equal(extractAnswer('   '), undefined);
});

test('vote: majority, ties to the earliest, unanswered samples abstain', () => {
  assert.deepEqual(vote(['5', '7', '7', undefined, '5', '7']).answer, '7');
  const tie = vote(['9', '4', '4', '9']);
  assert.equal(tie.answer, '9');
  assert.deepEqual(
    tie.tally.map((t) => [t.answer, t.count, t.first]),
    [
      ['9', 2, 0],
      ['4', 2, 1],
    ],
  );
  assert.equal(vote([undefined, undefined]).answer, undefined);
  assert.deepEqual(vote([]).tally, []);
});

test('vote: weights can overturn the majority; bad weights are refused', () => {
  const r = vote(['1', '1', '2'], [0.2, 0.3, 1]);
  assert.equal(r.answer, '2');
  assert.equal(r.tally[1].count, 2);
  assert.ok(Math.abs(r.tally[1].weight - 0.5) < 1e-12);
  assert.throws(() => vote(['1'], [1, 2]), /1 answers but 2 weights/);
  assert.throws(() => vote(['1'], [-1]), /finite and ≥ 0/);
  assert.throws(() => vote(['1'], [NaN]), /finite and ≥ 0/);
});

test('softmaxWeights: exp(s − max), order kept', () => {
  const w = softmaxWeights([-1, 0, -Math.log(4)]);
  assert.deepEqual(
    w.map((x) => +x.toFixed(6)),
    [+Math.exp(-1).toFixed(6), 1, 0.25],
  );
});
