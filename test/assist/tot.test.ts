import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { ChatEngine } from '../../src/infer/engine.js';
import { formatTot, treeOfThoughts } from '../../src/assist/tot.js';
import { countdown, numbersOf, parseOperation, parseStep, reaches24, solve, stepText, steps } from '../../src/data/synthetic/countdown.js';
import { PolicyModel, peak } from '../infer/scripted.js';

const tok = trainTokenizer(['Numbers: 1 2 3 4 5 6 7 8 9 10 11 12 13. Possible next steps? Can they still reach 24? sure impossible 4+9=13 (left: 10 13 13) - * / '.repeat(20)], { vocabSize: 330, pattern: 'gpt4-digits' });
const V = tok.vocabSize;
const sp = (name: string): number => tok.specialId(name);

/**
 * A scripted game-of-24 player: it proposes every valid step plus a wrong one, and values a
 * state `p` if solvable, `1 − p` if not (or by `value` when given).
 */
function player(o: { p?: number; value?: (nums: number[]) => number } = {}): PolicyModel {
  const sure = tok.encode('sure')[0];
  const impossible = tok.encode('impossible')[0];
  return new PolicyModel(
    V,
    (h) => {
      const start = h.lastIndexOf(sp('<|assistant_start|>'));
      const prompt = tok.decode(h.slice(0, start).filter((id) => id < sp('<|bos|>')));
      const nums = numbersOf(prompt)!;
      const reply = h.slice(start + 1);
      if (prompt.includes('still reach')) {
        const v = o.value ? o.value(nums) : solve(nums) ? (o.p ?? 0.9) : 1 - (o.p ?? 0.9);
        const l = new Float32Array(V).fill(-30);
        l[sure] = Math.log(v);
        l[impossible] = Math.log(1 - v);
        return l;
      }
      const ids = tok.encode(['1+1=3 (left: 3)', ...steps(nums).map(stepText)].join('\n'));
      return peak(V, ids[reply.length] ?? sp('<|assistant_end|>'));
    },
    1024,
  );
}

test('tree of thoughts: BFS keeps the breadth best non-impossible states, drops invalid thoughts, and solves with a sound value', () => {
  const t = treeOfThoughts(new ChatEngine(player(), tok), [4, 9, 10, 13], { breadth: 3, proposals: 50, maxTokens: 600 });
  assert.ok(t.solved, formatTot(t));
  assert.deepEqual(t.best!.nums, [24]);
  assert.ok(reaches24([4, 9, 10, 13], t.best!.steps.map(stepText).join('\n')));
  for (const level of t.levels) {
    assert.ok(level.kept.length <= 3);
    for (const k of level.kept) assert.ok(solve(k.nums), `kept an unsolvable state ${k.nums}`);
    // pruning: every candidate judged impossible stays out
    for (const c of level.candidates) if (c.judgement === 'impossible') assert.ok(!level.kept.includes(c));
    // the wrong line "1+1=3" never becomes a state: every thought is a valid step from its parent
    for (const c of level.candidates) {
      const parent = c.steps.length === 1 ? [4, 9, 10, 13] : c.steps[c.steps.length - 2].left;
      assert.notEqual(parseStep(stepText(c.steps[c.steps.length - 1]), parent), null);
    }
  }
  assert.match(formatTot(t), /level 1: \d+ thoughts, 3 kept/);
});

test('tree of thoughts: a value that calls everything impossible prunes the whole tree; proposals caps the thoughts per state', () => {
  const none = treeOfThoughts(new ChatEngine(player({ value: () => 0.05 }), tok), [4, 9, 10, 13]);
  assert.equal(none.best, null);
  assert.equal(none.solved, false);
  assert.equal(none.levels.length, 1);
  assert.ok(none.levels[0].candidates.length > 0);
  // the player's wrong proposal is kept in the trace, so a reader sees why a level is thin
  assert.equal(none.levels[0].rejected?.[0], '1+1=3 (left: 3)');
  assert.match(formatTot(none), /✗ 1\+1=3 \(left: 3\) {2}\(not a valid step from this state\)/);
  const capped = treeOfThoughts(new ChatEngine(player({ value: () => 0.9 }), tok), [4, 9, 10, 13], { breadth: 2, proposals: 2 });
  assert.ok(capped.levels[0].candidates.length <= 2);
  assert.ok(capped.levels[1].candidates.length <= 4);
  // the middle band is "likely": kept, but after the sure ones
  const likely = treeOfThoughts(new ChatEngine(player({ value: (n) => (solve(n) ? 0.5 : 0.1) }), tok), [4, 9, 10, 13], { breadth: 5, proposals: 50, maxTokens: 600 });
  assert.ok(likely.levels[0].kept.every((k) => k.judgement === 'likely'));
  assert.ok(likely.solved);
  assert.throws(() => treeOfThoughts(new ChatEngine(player(), tok), [5]), /2–6 whole numbers/);
});

test('countdown family: every conversation passes its checker; solutions reach 24; values are exact; train/test puzzles are disjoint', () => {
  const train = countdown.generate('train', 600, 3);
  for (const e of train) assert.ok(countdown.check(e.prompt, e.conversation.messages[1].content), `${e.prompt} → ${e.conversation.messages[1].content}`);
  const kinds = new Set(train.map((e) => (e.prompt.includes('Possible') ? 'propose' : e.prompt.includes('still') ? 'value' : 'solve')));
  assert.equal(kinds.size, 3);
  assert.equal(countdown.check('Numbers: 4 4 10. Can they still reach 24?', 'sure'), true); // 4*(10-4)
  assert.equal(countdown.check('Numbers: 1 1 1. Can they still reach 24?', 'sure'), false);
  assert.equal(countdown.check("Use 4 9 10 13 to make 24. Let's think step by step.", '13-9=4 (left: 4 4 10)\n10-4=6 (left: 4 6)\n4*6=24 (left: 24)'), true);
  assert.equal(countdown.check("Use 4 9 10 13 to make 24. Let's think step by step.", '13-9=4 (left: 4 4 10)\n10-4=6 (left: 4 6)\n4*6=25 (left: 25)'), false);
  assert.equal(reaches24([4, 9, 10, 13], '13-9=4\n13-9=4\n4*6=24'), false, 'a number used twice');
  const key = (e: { prompt: string }): string => numbersOf(e.prompt)!.join(' ');
  const test = new Set(countdown.generate('test', 200, 3, { variant: { kind: 'solve' } }).map(key));
  for (const e of countdown.generate('train', 600, 5, { variant: { kind: 'solve' } })) assert.ok(!test.has(key(e)));
});

test('tree of thoughts, calculator-checked thoughts: the tool computes each proposed operation, so a proposer that cannot do the arithmetic still searches', () => {
  assert.deepEqual(
    parseOperation('4*13=49 (left: 9 10 49)', [4, 9, 10, 13]),
    steps([4, 9, 10, 13]).find((s) => s.op === '*' && s.c === 52),
  );
  assert.equal(parseOperation('4*13=49', [4, 9, 10, 13])!.left.join(' '), '9 10 52');
  assert.equal(parseOperation('13*13=169', [4, 9, 10, 13]), null, 'one 13 only');
  assert.equal(parseOperation('9/4=2', [4, 9, 10, 13]), null, 'not a whole number');
  assert.equal(parseStep('4*13=49', [4, 9, 10, 13]), null, 'the strict parser drops the wrong result');
  // a proposer that gets every result wrong by one
  const sloppy = new PolicyModel(
    V,
    (h) => {
      const start = h.lastIndexOf(sp('<|assistant_start|>'));
      const prompt = tok.decode(h.slice(0, start).filter((id) => id < sp('<|bos|>')));
      const nums = numbersOf(prompt)!;
      if (prompt.includes('still reach')) {
        const l = new Float32Array(V).fill(-30);
        l[tok.encode('sure')[0]] = solve(nums) ? 3 : -3;
        l[tok.encode('impossible')[0]] = 0;
        return l;
      }
      const ids = tok.encode(
        steps(nums)
          .map((s) => `${s.a}${s.op}${s.b}=${s.c + 1}`)
          .join('\n'),
      );
      return peak(V, ids[h.length - start - 1] ?? sp('<|assistant_end|>'));
    },
    1024,
  );
  const strict = treeOfThoughts(new ChatEngine(sloppy, tok), [4, 9, 10, 13], { breadth: 3, proposals: 50, maxTokens: 600 });
  assert.ok(!strict.solved && strict.levels[0].candidates.length === 0, formatTot(strict));
  const tool = treeOfThoughts(new ChatEngine(sloppy, tok), [4, 9, 10, 13], { breadth: 3, proposals: 50, maxTokens: 600, toolResults: true });
  assert.ok(tool.solved, formatTot(tool));
  assert.ok(reaches24([4, 9, 10, 13], tool.best!.steps.map(stepText).join('\n')));
  // a value function in place of the model's judgement: called on every level's new states, and its values are the states'
  const asked: string[] = [];
  const exact = treeOfThoughts(new ChatEngine(sloppy, tok), [4, 9, 10, 13], {
    breadth: 3,
    proposals: 50,
    maxTokens: 600,
    toolResults: true,
    value: (states) => states.map((st) => (asked.push(st.join(' ')), solve(st) ? 0.8 : 0.1)),
  });
  assert.ok(exact.solved, formatTot(exact));
  assert.equal(
    asked.length,
    exact.levels.reduce((n, l) => n + l.candidates.length, 0),
  );
  for (const l of exact.levels) for (const c of l.candidates) assert.equal(c.value, solve(c.nums) ? 0.8 : 0.1);
});

test('tree of thoughts, sampled proposals: n more replies per state, the same numbers left merged into one state', () => {
  const base = treeOfThoughts(new ChatEngine(player(), tok), [4, 9, 10, 13], { breadth: 2, proposals: 4, maxTokens: 600 });
  const more = treeOfThoughts(new ChatEngine(player(), tok), [4, 9, 10, 13], { breadth: 2, proposals: 4, maxTokens: 600, proposalSamples: 2 });
  // the scripted proposer writes the same list at any temperature: three times the proposal tokens, the same states
  assert.equal(more.tokens - more.levels.reduce((n, l) => n + l.candidates.length, 0), 3 * (base.tokens - base.levels.reduce((n, l) => n + l.candidates.length, 0)));
  assert.deepEqual(
    more.levels.map((l) => l.candidates.map((c) => c.nums.join(' '))),
    base.levels.map((l) => l.candidates.map((c) => c.nums.join(' '))),
  );
  assert.throws(() => treeOfThoughts(new ChatEngine(player(), tok), [4, 9, 10, 13], { proposalSamples: -1 }), /proposalSamples/);
});
