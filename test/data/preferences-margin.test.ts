import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../src/engine/rng.js';
import { appendRankingLine, rankingToPairs, readPreferencesJSONL, type Completion } from '../../src/data/preferences.js';
import { pairStrength, rankingStrengths, rubricScore, simulatedRanking } from '../../src/data/labelers.js';
import { trlDpoLines } from '../../src/data/export.js';
import { tempDir } from '../util/tmp.js';
import { P, R, toolMsgs, withTool } from './arith-fixture.js';

const line = (o: unknown): string => JSON.stringify(o);

test("labelers' strength: right over wrong is 1 whatever the form; form gaps ⅔ / ⅓ / 0; ties and reversed pairs 0", () => {
  const s = (a: Completion, b: Completion): number => pairStrength(rubricScore(P, a, 'arithmetic'), rubricScore(P, b, 'arithmetic'));
  // correctness decides: 1, even when the right reply is the worse-formed one (no punctuation, long)
  const rightButRambling = `the answer is ${R} ${'and so on '.repeat(8)}`;
  const wrongButNeat = { messages: [toolMsgs[0], toolMsgs[1], { role: 'assistant', content: `The answer is ${R + 1}.` }] } as Completion;
  assert.equal(s(rightButRambling, wrongButNeat), 1);
  assert.equal(s(withTool, `It is ${R + 7000}.`), 1);
  // both right, the calculator's +2 apart: "better" (⅔); +1 for form only: "slightly better" (⅓)
  assert.equal(s(withTool, `The answer is ${R}.`), 2 / 3);
  assert.equal(s(`The answer is ${R}.`, `The answer is ${R}`), 1 / 3);
  // a tie (term 7 only) and the wrong way round: 0
  assert.equal(s(`The answer is ${R}.`, `It is ${R}.`), 0);
  assert.equal(s(`It is ${R + 7000}.`, withTool), 0);
  // strengths per pair, row-major; a tied pair 0
  const cs = [withTool, `The answer is ${R}.`, `It is ${R}.`, `It is ${R + 7000}.`];
  assert.deepEqual(rankingStrengths(P, cs, [0, 1, 1, 2], 'arithmetic'), [2 / 3, 2 / 3, 1, 0, 1, 1]);
});

test('simulated labeler: the ranking carries a strength per pair; the noise-reversed pairs get 0; the order and tiers are as before', () => {
  const replies: Completion[] = [`It is ${R + 5000}.`, withTool, `The answer is ${R + 1}.`, `The answer is ${R}.`];
  const clean = simulatedRanking(P, replies, 'arithmetic', { noise: 0, seed: 1 });
  assert.deepEqual(clean.completions, [replies[1], replies[3], replies[2], replies[0]]);
  assert.equal(clean.margin!.length, 6);
  // (tool, right) ⅔; every right-over-wrong pair 1; the two wrong answers by their near-miss gap
  assert.deepEqual(clean.margin!.slice(0, 5), [2 / 3, 1, 1, 1, 1]);
  assert.equal(clean.margin![5], pairStrength(rubricScore(P, replies[2], 'arithmetic'), rubricScore(P, replies[0], 'arithmetic')));
  const rng = new Rng(3);
  let reversed = 0;
  for (let n = 0; n < 200; n++) {
    const r = simulatedRanking(P, replies, 'arithmetic', { noise: 0.3, seed: 0 }, rng);
    assert.deepEqual(r.margin, rankingStrengths(P, r.completions, r.tiers, 'arithmetic'));
    // the right reply put below a wrong one by the noise: that pair's strength is 0
    const iWrong = r.completions.indexOf(replies[2]);
    const iRight = r.completions.indexOf(replies[3]);
    if (iWrong < iRight) {
      reversed++;
      const k = r.completions.length;
      const p = iWrong * k - (iWrong * (iWrong + 1)) / 2 + (iRight - iWrong - 1);
      assert.equal(r.margin![p], 0);
    }
  }
  assert.ok(reversed > 0, 'noise 0.3 reversed some right/wrong pair');
});

test("margin in the data: TRL's column on a pair, a list per ranking; checked; kept on append, by rankingToPairs and the TRL export; absent on old lines", () => {
  const dir = tempDir('gf-margin-');
  const f = join(dir, 'p.jsonl');
  writeFileSync(f, [line({ prompt: 'q?', chosen: 'Yes.', rejected: 'No.', margin: 1 }), line({ prompt: 'q?', completions: ['A.', 'B.', 'C.'], tiers: [0, 1, 1], margin: [1, 0.5, 0] }), line({ prompt: 'q?', completions: ['A.', 'B.'] })].join('\n'));
  const [pair, ranking, old] = readPreferencesJSONL(f).rankings;
  assert.deepEqual(pair.margin, [1]);
  assert.deepEqual(ranking.margin, [1, 0.5, 0]);
  assert.equal(old.margin, undefined, 'a line without margin (older caches, people) has none: margin 0 in the loss');
  assert.deepEqual(
    rankingToPairs(ranking).map((p) => [p.chosen, p.rejected, p.margin]),
    [
      ['A.', 'B.', 1],
      ['A.', 'C.', 0.5],
    ],
  );
  assert.equal(rankingToPairs(old)[0].margin, undefined);
  assert.equal(JSON.parse(trlDpoLines(pair)[0]).margin, 1);
  assert.equal('margin' in JSON.parse(trlDpoLines(old)[0]), false);
  const out = join(dir, 'out.jsonl');
  appendRankingLine(out, ranking);
  assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')).margin, [1, 0.5, 0]);

  const bad = (o: unknown, re: RegExp): void => {
    writeFileSync(f, line(o));
    assert.throws(() => readPreferencesJSONL(f), re);
  };
  bad({ prompt: 'q?', completions: ['A.', 'B.', 'C.'], margin: [1, 0] }, /margin must be .*3 numbers/);
  bad({ prompt: 'q?', completions: ['A.', 'B.', 'C.'], margin: [1, -1, 0] }, /margin\[1\].*finite number ≥ 0|finite number ≥ 0/);
  bad({ prompt: 'q?', chosen: 'A.', rejected: 'B.', margin: 'big' }, /margin/);
  bad({ prompt: 'q?', completions: ['A.', 'B.'], ranks: [2, 1], margin: [1] }, /"margin" goes with/);
});

// newcomer49: `gptforge rm` on a finished run refused to resume ("data hash 171e… but this run
// trains it on … 243d…"): the RM stage hashes its rankings by JSON.stringify, and a cache read
// back put `margin` before `task` where the sampler had put it after
test('a simulated ranking written as the comparisons cache and read back serializes exactly as sampled (the RM stage hashes it)', () => {
  const replies: Completion[] = [withTool, { messages: [{ role: 'assistant', content: `It is ${R + 1}.` }] }, { messages: [{ role: 'assistant', content: 'I do not know.' }] }];
  const sampled = simulatedRanking(P, replies, 'arithmetic', { noise: 0.1, seed: 3 }, new Rng(3));
  assert.ok(sampled.margin !== undefined && sampled.task === 'arithmetic', 'the sampler sets both task and margin');
  const f = join(tempDir('gf-margin-order-'), 'train.jsonl');
  writeFileSync(f, `${JSON.stringify(sampled)}\n`); // as rm.ts writes the cache
  const [back] = readPreferencesJSONL(f).rankings;
  assert.equal(JSON.stringify(back), JSON.stringify(sampled));
});
