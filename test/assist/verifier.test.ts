import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { ChatEngine } from '../../src/infer/engine.js';
import { longAddition, parseLong } from '../../src/data/synthetic/longarith.js';
import { splitOf } from '../../src/data/synthetic/tasks.js';
import { completionMessages } from '../../src/data/preferences.js';
import { verifierRankings } from '../../src/assist/verifier.js';
import { curveRows, measureConsistencyCurve, type CurveProblem } from '../../src/assist/consistency-curve.js';
import { bestOf } from '../../src/assist/vote.js';
import { GPT } from '../../src/model/gpt.js';
import { makeConfig } from '../../src/model/config.js';
import { PolicyModel } from '../infer/scripted.js';

const tok = trainTokenizer(["A B What is 12 plus 345? Add 6 and 7. Let's think step by step. 0123456789 ".repeat(20)], { vocabSize: 300, pattern: 'gpt4-digits' });
const V = tok.vocabSize;
const A = tok.encode('A')[0];
const B = tok.encode('B')[0];
/**
 * Reads the two operands out of the prompt; the reply's first token is "A" or "B" (equal
 * odds), then "A" is followed by the right sum and "B" by the sum + 1, then the turn ends.
 */
const adder = (): PolicyModel =>
  new PolicyModel(
    V,
    (h) => {
      const start = h.lastIndexOf(tok.specialId('<|assistant_start|>'));
      const reply = h.slice(start + 1);
      const l = new Float32Array(V).fill(-30);
      if (reply.length === 0) {
        l[A] = 0;
        l[B] = 0;
        return l;
      }
      const p = parseLong(tok.decode(h.slice(0, start)))!;
      const sum = BigInt(p.a) + BigInt(p.b) + (reply[0] === B ? 1n : 0n);
      const rest = tok.encode(` ${sum}`);
      l[reply.length - 1 < rest.length ? rest[reply.length - 1] : tok.specialId('<|assistant_end|>')] = 0;
      return l;
    },
    512,
  );

test('verifierRankings: the right tier is what the checker accepts, the wrong tier what it rejects; train-split problems only', () => {
  const d = verifierRankings(new ChatEngine(adder(), tok), { problems: 40, minDigits: 1, maxDigits: 3, k: 3, sampling: { temperature: 1 }, seed: 5 });
  assert.equal(d.problems, 40);
  assert.equal(d.samples, 40 * 3);
  // with k = 3 and even odds, all-right and all-wrong problems occur; each is counted and not written
  assert.ok(d.allRight > 0 && d.allWrong > 0 && d.rankings.length > 0, JSON.stringify({ ...d, rankings: d.rankings.length }));
  assert.equal(d.rankings.length + d.allRight + d.allWrong, d.problems);
  let right = 0;
  for (const r of d.rankings) {
    assert.equal(r.tiers!.length, r.completions.length);
    assert.ok(r.tiers!.includes(0) && r.tiers!.includes(1));
    r.completions.forEach((c, i) => {
      const text = completionMessages(c)[0].content;
      // the label is the family's checker, nothing else
      assert.equal(longAddition.check(r.prompt, text), r.tiers![i] === 0, `${r.prompt} → ${text}`);
      if (r.tiers![i] === 0) right++;
    });
    // right first: tiers never decrease
    assert.deepEqual([...r.tiers!].sort(), r.tiers);
    // distinct replies within a tier: the scripted model has one right and one wrong reply per problem
    assert.equal(r.completions.length, 2);
    const p = parseLong(r.prompt)!;
    assert.equal(splitOf(`${p.a}+${p.b}`), 'train');
  }
  assert.equal(right, d.rankings.length);
  // the right count covers every sample, including those of problems not written
  assert.ok(d.right > right && d.right < d.samples);
  // the test problems of the curve are disjoint from the verifier's training problems
  const curve = measureConsistencyCurve(adder(), tok, { digits: 2, problems: 30, sampling: { temperature: 1 }, ks: [1, 4] });
  const trainPrompts = new Set(d.rankings.map((r) => r.prompt));
  for (const p of curve.perProblem) {
    assert.ok(!trainPrompts.has(p.prompt));
    const o = parseLong(p.prompt)!;
    assert.equal(splitOf(`${o.a}+${o.b}`), 'test');
  }
  assert.throws(() => verifierRankings(new ChatEngine(adder(), tok), { problems: 2, minDigits: 1, maxDigits: 2, k: 1, sampling: { temperature: 1 } }), /k must be an integer ≥ 2/);
});

test('measureConsistencyCurve: per-problem labels agree with the checker; the k = 1 row is sample 0; a reward model adds its columns', () => {
  const rm = new GPT(makeConfig({ vocabSize: V, blockSize: 64, nLayer: 1, nHead: 1, nEmbd: 8 }), { seed: 3, scalarHead: true });
  const c = measureConsistencyCurve(adder(), tok, { digits: 2, problems: 20, sampling: { temperature: 1 }, ks: [1, 2, 8], rewardModel: { model: rm, tok } });
  assert.equal(c.problems, 20);
  // greedy: the first token is a tie broken to the lower id, whichever it is: every greedy reply is the same letter
  assert.ok(c.greedy === 0 || c.greedy === 20, String(c.greedy));
  for (const p of c.perProblem) {
    assert.equal(p.answers.length, 8);
    p.answers.forEach((a, i) => assert.equal(p.right[i], longAddition.check(p.prompt, `Answer: ${a}`)));
    assert.equal(p.reward!.length, 8);
  }
  const [k1, , k8] = c.rows;
  assert.equal(k1.majority, c.perProblem.filter((p) => p.right[0]).length);
  assert.equal(k1.oracle, k1.majority);
  assert.equal(k8.oracle, c.perProblem.filter((p) => p.right.some(Boolean)).length);
  assert.ok(k8.reward !== undefined && k8.rewardBest !== undefined);
  assert.deepEqual(c.rows, curveRows(c.perProblem, [1, 2, 8]));
});

test('curveRows: each vote at each k from the first k samples', () => {
  const p = (answers: string[], right: boolean[], meanLogprob: number[], reward?: number[]): CurveProblem => ({ prompt: '', greedy: false, answers, right, meanLogprob, reward });
  const problems = [
    // two agreeing wrong samples outvote one right one; the RM ranks the right one first
    p(['5', '6', '6', '7'], [true, false, false, false], [-1, -0.1, -0.1, -5], [3, 0, 0, -1]),
    // every sample right
    p(['9', '9', '9', '9'], [true, true, true, true], [0, 0, 0, 0], [0, 0, 0, 0]),
    // none right
    p(['1', '2', '3', '4'], [false, false, false, false], [0, 0, 0, 0], [0, 1, 2, 3]),
  ];
  const [k1, k3] = curveRows(problems, [1, 3]);
  // greedy was wrong on all three (greedy: false), so each problem the vote gets right is a win
  assert.deepEqual(k1, { k: 1, majority: 2, logprob: 2, reward: 2, rewardBest: 2, oracle: 2, majorityWins: 2, majorityLosses: 0, sampleAccuracy: 2 / 3, total: 3 });
  // k = 3: majority picks "6" (wrong); logprob-weighted too (two samples at e^-0.1 vs one at e^-1);
  // the RM's softmax weight e^3 on "5" beats 2·e^0; best-of-3 is "5"
  assert.equal(k3.majority, 1);
  assert.equal(k3.logprob, 1);
  assert.equal(k3.reward, 2);
  assert.equal(k3.rewardBest, 2);
  assert.equal(k3.oracle, 2);
  assert.ok(Math.abs(k3.sampleAccuracy - (1 / 3 + 1) / 3) < 1e-12);
  // without scores no RM columns; a k past the samples is refused
  assert.equal(curveRows([p(['1'], [true], [0])], [1])[0].reward, undefined);
  assert.throws(() => curveRows(problems, [5]), /k = 5 but a problem has 4 samples/);
});

test('bestOf: the top-scored answered sample, ties to the earliest; agreement does not count', () => {
  assert.deepEqual(bestOf(['3', '4', '4', '4'], [2, 1, 1, 1]), { answer: '3', index: 0 });
  assert.deepEqual(bestOf(['3', undefined, '5'], [0, 9, 1]), { answer: '5', index: 2 });
  assert.deepEqual(bestOf(['3', '5'], [1, 1]), { answer: '3', index: 0 });
  assert.deepEqual(bestOf([undefined], [1]), { answer: undefined, index: -1 });
  assert.throws(() => bestOf(['1'], [1, 2]), /1 answers but 2 scores/);
  assert.throws(() => bestOf(['1'], [Number.NaN]), /NaN/);
});
