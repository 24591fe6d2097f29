import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { ChatEngine } from '../../src/infer/engine.js';
import { formatTot, treeOfThoughts, type ValueContext } from '../../src/assist/tot.js';
import { labelledChildren, puzzlesOf, rewardValue, scoreThoughts, separation, valueRankings } from '../../src/assist/tot-value.js';
import { numbersOf, proposePrompt, solve, stepText, steps } from '../../src/data/synthetic/countdown.js';
import { splitOf } from '../../src/data/synthetic/split.js';
import { GPT } from '../../src/model/gpt.js';
import { makeConfig } from '../../src/model/config.js';
import { PolicyModel, peak } from '../infer/scripted.js';

const tok = trainTokenizer(['Numbers: 1 2 3 4 5 6 7 8 9 10 11 12 13. Possible next steps? Can they still reach 24? sure impossible 4+9=13 (left: 10 13 13) - * / '.repeat(20)], { vocabSize: 330, pattern: 'gpt4-digits' });
const V = tok.vocabSize;

test('value rankings: train-split puzzles only, solvable children above unsolvable siblings by the solver, one ranking per parent', () => {
  const train = puzzlesOf('train');
  const testSplit = puzzlesOf('test');
  assert.equal(train.length + testSplit.length, 1820); // multisets of four numbers 1–13
  assert.ok(testSplit.length > 100 && testSplit.length < 300);
  const d = valueRankings({ perTier: 3, level2: 2, level3: 1 });
  assert.equal(d.puzzles, train.length);
  const prompts = new Set<string>();
  for (const r of d.rankings) {
    assert.ok(!prompts.has(r.prompt), `parent written twice: ${r.prompt}`);
    prompts.add(r.prompt);
    const parent = numbersOf(r.prompt)!;
    assert.equal(r.prompt, proposePrompt(parent));
    // four-number parents are train-split puzzles: no test puzzle is ever a training parent
    if (parent.length === 4) assert.equal(splitOf(`24:${parent.join(' ')}`), 'train');
    const good = r.tiers!.filter((t) => t === 0).length;
    assert.ok(good >= 1 && good <= 3 && r.tiers!.length - good >= 1 && r.tiers!.length - good <= 3);
    r.completions.forEach((c, i) => {
      const step = steps(parent).find((s) => stepText(s) === c);
      assert.ok(step, `not a valid step from ${parent}: ${String(c)}`);
      assert.equal(solve(step.left) !== null, r.tiers![i] === 0, `${r.prompt} ${String(c)} tier ${r.tiers![i]}`);
    });
  }
  assert.ok(d.byLevel[4] > 0 && d.byLevel[3] > 0 && d.byLevel[2] > 0, JSON.stringify(d.byLevel));
  // a two-number parent's solvable child is 24 itself
  const two = d.rankings.find((r) => numbersOf(r.prompt)!.length === 2)!;
  assert.match(String(two.completions[0]), /\(left: 24\)$/);
  assert.throws(() => valueRankings({ perTier: 0 }), /perTier/);
  // children: one per distinct numbers-left
  const kids = labelledChildren([4, 4, 10]);
  assert.equal(new Set(kids.map((k) => k.step.left.join(' '))).size, kids.length);
  assert.ok(kids.some((k) => k.solvable) && kids.some((k) => !k.solvable));
});

test('separation: accuracy at a threshold, balanced threshold choice, sibling-pair accuracy and AUC agree with brute force', () => {
  assert.deepEqual((({ accuracy, auc, pairAccuracy }) => ({ accuracy, auc, pairAccuracy }))(separation([3, 2, 1, 0], [true, true, false, false], [0, 0, 0, 0])), { accuracy: 1, auc: 1, pairAccuracy: 1 });
  assert.equal(separation([0, 1], [true, false], [0, 0]).pairAccuracy, 0);
  // random scores with ties: compare with direct counting
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const scores = Array.from({ length: 200 }, () => Math.round(rnd() * 20) / 4);
  const positive = scores.map((s) => rnd() < 0.2 + s / 10);
  const group = scores.map((_, i) => i % 7);
  const s = separation(scores, positive, group, 2);
  let pairs = 0;
  let wins = 0;
  let all = 0;
  let allWins = 0;
  for (let i = 0; i < 200; i++)
    for (let j = 0; j < 200; j++) {
      if (!positive[i] || positive[j]) continue;
      const w = scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
      all++;
      allWins += w;
      if (group[i] === group[j]) {
        pairs++;
        wins += w;
      }
    }
  assert.equal(s.pairs, pairs);
  assert.ok(Math.abs(s.pairAccuracy - wins / pairs) < 1e-12);
  assert.ok(Math.abs(s.auc - allWins / all) < 1e-12);
  const right = scores.filter((x, i) => x > 2 === positive[i]).length;
  assert.ok(Math.abs(s.accuracy - right / 200) < 1e-12);
  // the chosen threshold's balanced accuracy is at least any other candidate's
  const fit = separation(scores, positive, group);
  const balanced = (t: number): number => {
    const r = separation(scores, positive, group, t);
    return r.accuracySolvable + r.accuracyUnsolvable;
  };
  for (const t of [-1, ...scores]) assert.ok(balanced(fit.threshold) >= balanced(t) - 1e-12);
  assert.throws(() => separation([1], [true, false], [0]), /1 scores, 2 labels/);
});

test("a reward model as tree of thoughts' value: each state scored with its parent and thought, σ(score − threshold), nothing pruned with likely 0", () => {
  const rm = new GPT(makeConfig({ vocabSize: V, blockSize: 96, nLayer: 1, nHead: 1, nEmbd: 16 }), { seed: 5, scalarHead: true });
  const vm = { model: rm, tok };
  // a proposer that writes every valid step of the state
  const proposer = new PolicyModel(
    V,
    (h) => {
      const start = h.lastIndexOf(tok.specialId('<|assistant_start|>'));
      const prompt = tok.decode(h.slice(0, start).filter((id) => id < tok.specialId('<|bos|>')));
      const ids = tok.encode(steps(numbersOf(prompt)!).map(stepText).join('\n'));
      return peak(V, ids[h.length - start - 1] ?? tok.specialId('<|assistant_end|>'));
    },
    1024,
  );
  const seen: Array<{ states: number[][]; context: ValueContext[]; values: number[] }> = [];
  const value = rewardValue(vm, 0.25);
  const t = treeOfThoughts(new ChatEngine(proposer, tok), [4, 9, 10, 13], {
    breadth: 3,
    proposals: 50,
    maxTokens: 600,
    toolResults: true,
    likely: 0,
    value: (states, context) => {
      const values = value(states, context);
      seen.push({ states: states.map((x) => [...x]), context: [...context!], values });
      return values;
    },
  });
  assert.equal(seen.length, t.levels.length);
  seen.forEach((call, d) => {
    const scores = scoreThoughts(vm, call.context);
    call.context.forEach((c, i) => {
      // the context is the state's own parent and step
      assert.deepEqual(c.step.left, call.states[i]);
      assert.ok(steps(c.parent).some((s) => stepText(s) === stepText(c.step)));
      assert.ok(Math.abs(call.values[i] - 1 / (1 + Math.exp(-(scores[i] - 0.25)))) < 1e-6);
    });
    // rank only: the breadth best kept, whatever their values
    const l = t.levels[d];
    assert.equal(l.kept.length, Math.min(3, l.candidates.length), formatTot(t));
    assert.ok(l.kept.every((k) => l.candidates.every((c) => l.kept.includes(c) || c.value <= k.value)));
  });
  assert.equal(t.levels.length, 3);
  assert.throws(() => value([[1, 2]]), /parent and step/);
  assert.throws(() => scoreThoughts({ model: new GPT(makeConfig({ vocabSize: V, blockSize: 96, nLayer: 1, nHead: 1, nEmbd: 16 }), { seed: 5 }), tok }, []), /no reward head/);
});
