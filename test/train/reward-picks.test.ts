import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/rng.js';
import { argmax, type PickGroup, pickRates } from '../../src/train/reward-picks.js';

/** 400 prompts of two families, 8 candidates each, each correct with probability 0.3, scored by `score`. */
function draw(score: (correct: boolean, rng: Rng) => number, seed = 3): PickGroup[] {
  const rng = new Rng(seed);
  return Array.from({ length: 400 }, (_, i) => {
    const correct = Array.from({ length: 8 }, () => rng.random() < 0.3);
    return { family: i % 2 === 0 ? 'chat' : 'syllables', correct, scores: correct.map((c) => score(c, rng)) };
  });
}

test('pickRates: a scorer that reads correctness picks as the oracle does, far above chance', () => {
  const r = pickRates(draw((c, rng) => (c ? 1 : 0) + 0.01 * rng.random()));
  assert.equal(r.all.pickedCorrect, r.all.oracleCorrect);
  // chance is the mean correct share, ≈ 0.3; the oracle with 8 candidates ≈ 1 − 0.7^8 ≈ 0.94
  assert.ok(Math.abs(r.all.chanceCorrect - 0.3) < 0.05, `chance ${r.all.chanceCorrect}`);
  assert.ok(r.all.gain - r.all.gainCi95 > 0.5, `gain ${r.all.gain} ± ${r.all.gainCi95}`);
  assert.equal(r.all.mixedPicked, 1);
  assert.deepEqual(Object.keys(r.byFamily), ['chat', 'syllables']);
  assert.equal(r.byFamily.chat.prompts + r.byFamily.syllables.prompts, 400);
});

test('pickRates: a scorer blind to correctness picks at chance, inside its interval', () => {
  const r = pickRates(draw((_, rng) => rng.random()));
  assert.ok(Math.abs(r.all.gain) < r.all.gainCi95, `gain ${r.all.gain} ± ${r.all.gainCi95}`);
  assert.ok(r.all.gainCi95 > 0.02 && r.all.gainCi95 < 0.12, `interval ${r.all.gainCi95}`);
  assert.ok(Math.abs(r.all.pickedCorrect - r.all.chanceCorrect) < 0.08);
});

test('pickRates: a scorer that prefers wrong answers picks below chance; all-wrong or all-right prompts are not mixed', () => {
  const r = pickRates(draw((c, rng) => (c ? 0 : 1) + 0.01 * rng.random()));
  assert.ok(r.all.gain + r.all.gainCi95 < 0, `gain ${r.all.gain} ± ${r.all.gainCi95}`);
  assert.equal(r.all.mixedPicked, 0);
  const fixed = pickRates([
    { family: 'a', scores: [1, 2], correct: [true, true] },
    { family: 'a', scores: [1, 2], correct: [false, false] },
    { family: 'a', scores: [2, 1, 0], correct: [false, true, true] },
  ]);
  assert.equal(fixed.all.mixed, 1);
  assert.equal(fixed.all.pickedCorrect, 1 / 3);
  assert.equal(fixed.all.chanceCorrect, (1 + 0 + 2 / 3) / 3);
  assert.equal(fixed.all.oracleCorrect, 2 / 3);
  assert.equal(fixed.all.mixedChance, 2 / 3);
});

test('pickRates and argmax: ties go to the first; mismatched or empty groups are refused by name', () => {
  assert.equal(argmax([3, 5, 5, 1]), 1);
  assert.throws(() => argmax([]), /no scores/);
  assert.throws(() => pickRates([{ family: 'chat', scores: [1, 2], correct: [true] }]), /group 0 \(chat\) has 2 scores but 1 correct flags/);
  assert.throws(() => pickRates([{ family: 'rhymes', scores: [], correct: [] }]), /group 0 \(rhymes\) has no candidates/);
});
