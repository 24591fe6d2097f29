import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { ChatEngine } from '../../src/infer/engine.js';
import { reflect } from '../../src/assist/reflect.js';
import { ask, formatTrace } from '../../src/assist/ask.js';
import { reflection, CHECK_REQUEST, FEEDBACK_SOURCES } from '../../src/data/synthetic/reflect.js';
import { forgetCarries, skillLevels, SKILL_PROMPTS } from '../../src/data/synthetic/skill.js';
import { longResult, scratchpad, THINK_TRIGGER } from '../../src/data/synthetic/longarith.js';
import { PolicyModel, peak } from '../infer/scripted.js';

const tok = trainTokenizer(['What is 12 plus 39? 12 + 39 = 41. Answer: 51 The calculator says reviewer marked right wrong. Did the answer meet the requirements? Check it. '.repeat(20)], { vocabSize: 320 });
const V = tok.vocabSize;
const sp = (name: string): number => tok.specialId(name);

/** Replies "12 + 39 = 41." to the question; in a review, "Answer: 51" when it was given the calculator's result, told "wrong", or is reviewing 51 already, else "Answer: 41". */
const reviewer = (): PolicyModel =>
  new PolicyModel(V, (h) => {
    const start = h.lastIndexOf(sp('<|assistant_start|>'));
    const context = tok.decode(h.slice(0, start).filter((id) => id < sp('<|bos|>')));
    const review = context.includes('Check it.');
    const fixes = context.includes('calculator says') || context.includes('as wrong') || context.includes('= 51.');
    const text = review ? `Answer: ${fixes ? 51 : 41}` : '12 + 39 = 41.';
    const ids = tok.encode(text);
    const reply = h.slice(start + 1);
    return peak(V, ids[reply.length] ?? sp('<|assistant_end|>'));
  });

test('reflect: the tool and the verdict fix a wrong answer; self-review without feedback keeps it; rounds stop once the answer holds', () => {
  const q = 'What is 12 plus 39?';
  const tool = reflect(new ChatEngine(reviewer(), tok), q, { source: 'tool', rounds: 3 });
  assert.equal(tool.initial, '41');
  assert.equal(tool.answer, '51');
  assert.equal(tool.rounds[0].feedback, `The calculator says 12+39 = 51. ${CHECK_REQUEST}`);
  assert.equal(tool.rounds.length, 2, 'round 2 keeps 51, so the loop stops');
  const seen: string[] = [];
  const verdict = reflect(new ChatEngine(reviewer(), tok), q, { source: 'verdict', rounds: 2, verify: (_question, a) => (seen.push(a), a.endsWith('= 51.')) });
  assert.equal(verdict.answer, '51');
  assert.deepEqual(seen, ['12 + 39 = 41.', '12 + 39 = 51.']);
  assert.match(verdict.rounds[0].feedback, /marked the answer as wrong/);
  assert.match(verdict.rounds[1].feedback, /marked the answer as right/);
  const self = reflect(new ChatEngine(reviewer(), tok), q, { source: 'self' });
  assert.equal(self.answer, '41');
  assert.equal(self.rounds.length, 1);
  assert.throws(() => reflect(new ChatEngine(reviewer(), tok), q, { source: 'verdict' }), /needs a verifier/);
  assert.throws(() => reflect(new ChatEngine(reviewer(), tok), 'hello', { source: 'self' }), /two operands and an operation/);
});

test("reflect: the calculator and the restated answer use the question's operation (×, −, +, ÷); a question without one is refused", () => {
  const run = (q: string, source: 'tool' | 'verdict') => {
    const seen: string[] = [];
    const t = reflect(new ChatEngine(reviewer(), tok), q, { source, rounds: 1, verify: (_q, a) => (seen.push(a), false) });
    return { t, seen };
  };
  assert.equal(run('What is 12 times 7?', 'tool').t.rounds[0].feedback, `The calculator says 12*7 = 84. ${CHECK_REQUEST}`);
  assert.deepEqual(run('What is 12 times 7?', 'verdict').seen, ['12 × 7 = 41.']);
  assert.equal(run('Compute 90 - 12.', 'tool').t.rounds[0].feedback, `The calculator says 90-12 = 78. ${CHECK_REQUEST}`);
  assert.deepEqual(run('What is 90 minus 12?', 'verdict').seen, ['90 − 12 = 41.']);
  assert.equal(run('Add 12 and 39.', 'tool').t.rounds[0].feedback, `The calculator says 12+39 = 51. ${CHECK_REQUEST}`);
  assert.deepEqual(run('Add 12 and 39.', 'verdict').seen, ['12 + 39 = 41.']);
  assert.equal(run('What is 84 divided by 7?', 'tool').t.rounds[0].feedback, `The calculator says 84/7 = 12. ${CHECK_REQUEST}`);
  // the operator as a word outside the family's phrasings (the parser's bare form)
  assert.equal(run('Please, 90 minus 12?', 'tool').t.rounds[0].feedback, `The calculator says 90-12 = 78. ${CHECK_REQUEST}`);
  // two numbers but no operation the family knows: refused, not reviewed as a sum
  assert.throws(() => reflect(new ChatEngine(reviewer(), tok), 'What is 12 to the power of 3?', { source: 'tool' }), /two operands and an operation/);
  const viaAsk = ask(new ChatEngine(reviewer(), tok), 'What is 12 times 7?', { technique: 'reflect', feedback: 'tool' });
  assert.match(formatTrace(viaAsk), /The calculator says 12\*7 = 84\./);
});

test('ask: the reflect trace prints the first answer and each round', () => {
  const t = ask(new ChatEngine(reviewer(), tok), 'What is 12 plus 39?', { technique: 'reflect', feedback: 'tool' });
  assert.equal(t.answer, '51');
  const text = formatTrace(t);
  assert.match(text, /── first answer\n12 \+ 39 = 41\./);
  assert.match(text, /── round 1: The calculator says/);
  assert.match(text, /answer: 51/);
  const c = ask(new ChatEngine(reviewer(), tok), 'What is 12 plus 39?', { technique: 'cot' });
  assert.equal(c.prompt, "What is 12 plus 39? Let's think step by step.");
});

test('reflection family: half the first answers are wrong, the review ends in the exact sum, feedback sources are all drawn', () => {
  const exs = reflection.generate('train', 300, 4);
  let wrong = 0;
  const sources = new Set<string>();
  for (const e of exs) {
    const [, first, feedback, review] = e.conversation.messages;
    const [a, b] = e.prompt.match(/\d+/g)!;
    if (!first.content.endsWith(`= ${longResult(a, '+', b)}.`)) wrong++;
    assert.ok(feedback.content.endsWith(CHECK_REQUEST));
    sources.add(feedback.content.startsWith('The calculator') ? 'tool' : feedback.content.startsWith('A reviewer') ? 'verdict' : 'self');
    assert.ok(reflection.check(e.prompt, review.content), review.content);
  }
  assert.ok(wrong > 110 && wrong < 190, `${wrong} of 300 wrong`);
  assert.deepEqual([...sources].sort(), [...FEEDBACK_SOURCES].sort());
});

test('skill levels: the novice forgets carries, the expert never does, unprompted demonstrations are mostly wrong on carries', () => {
  assert.equal(forgetCarries('4567', '891'), '4358');
  assert.equal(forgetCarries('95', '5'), '90');
  const exs = skillLevels.generate('train', 3000, 2);
  const rate = new Map<string, [number, number]>();
  for (const e of exs) {
    const [a, b] = e.prompt.match(/\d+/g)!;
    if (forgetCarries(a, b) === longResult(a, '+', b)) continue; // no carry: every level is right
    const sys = e.conversation.messages[0].role === 'system' ? e.conversation.messages[0].content : '';
    const level = Object.entries(SKILL_PROMPTS).find(([, ps]) => ps.includes(sys))?.[0] ?? 'none';
    const r = rate.get(level) ?? [0, 0];
    const reply = e.conversation.messages[e.conversation.messages.length - 1].content;
    rate.set(level, [r[0] + (skillLevels.check(e.prompt, reply) ? 1 : 0), r[1] + 1]);
  }
  const acc = (l: string): number => rate.get(l)![0] / rate.get(l)![1];
  assert.equal(acc('expert'), 1);
  assert.ok(acc('novice') < 0.2, `novice ${acc('novice')}`);
  assert.ok(acc('none') > 0.3 && acc('none') < 0.5, `none ${acc('none')}`);
  assert.ok(acc('intermediate') > 0.5 && acc('intermediate') < 0.7, `intermediate ${acc('intermediate')}`);
});

test('skill levels, step by step: the same writers as scratchpads; a forgetful one writes every carry as 0 and ends at forgetCarries', () => {
  assert.equal(scratchpad('4567', '+', '891', { forgetCarries: true }), '4567+891\n456+89|7+1+0=8|8\n45+8|6+9+0=15|58\n4+|5+8+0=13|358\n+|4+0+0=4|4358\nAnswer: 4358');
  assert.equal(scratchpad('95', '+', '5', { forgetCarries: true }).split('\n').pop(), `Answer: ${forgetCarries('95', '5')}`);
  const exs = skillLevels.generate('train', 600, 3, { variant: { mode: 'cot' } });
  let expertRight = 0;
  let expertCarry = 0;
  let noviceWrong = 0;
  let noviceCarry = 0;
  for (const e of exs) {
    assert.ok(e.prompt.endsWith(THINK_TRIGGER));
    const [a, b] = e.prompt.match(/\d+/g)!;
    const reply = e.conversation.messages[e.conversation.messages.length - 1].content;
    // every reply is one of the two scratchpads
    assert.ok(reply === scratchpad(a, '+', b) || reply === scratchpad(a, '+', b, { forgetCarries: true }), reply);
    if (forgetCarries(a, b) === longResult(a, '+', b)) continue;
    const sys = e.conversation.messages[0].role === 'system' ? e.conversation.messages[0].content : '';
    if (SKILL_PROMPTS.expert.includes(sys)) {
      expertCarry++;
      if (skillLevels.check(e.prompt, reply)) expertRight++;
    } else if (SKILL_PROMPTS.novice.includes(sys)) {
      noviceCarry++;
      if (!skillLevels.check(e.prompt, reply)) noviceWrong++;
    }
  }
  assert.equal(expertRight, expertCarry);
  assert.ok(expertCarry > 50 && noviceWrong > 0.75 * noviceCarry, `${noviceWrong}/${noviceCarry}`);
  assert.throws(() => skillLevels.generate('train', 1, 1, { variant: { mode: 'both' } }), /mode must be "direct" or "cot"/);
});

test('skill levels: unstatedShare sets the share of demonstrations without a system prompt (the crowd); the default is 0.25', () => {
  const unprompted = (variant?: Record<string, unknown>): number => skillLevels.generate('train', 2000, 4, { variant }).filter((e) => e.conversation.messages[0].role !== 'system').length / 2000;
  assert.ok(Math.abs(unprompted() - 0.25) < 0.04, `${unprompted()}`);
  assert.ok(Math.abs(unprompted({ mode: 'cot', unstatedShare: 0.4 }) - 0.4) < 0.04);
  assert.equal(unprompted({ unstatedShare: 0 }), 0);
  assert.equal(unprompted({ unstatedShare: 1 }), 1);
  // the default keeps the examples the family made before the option existed (same draws)
  assert.deepEqual(skillLevels.generate('train', 50, 9), skillLevels.generate('train', 50, 9, { variant: { unstatedShare: 0.25 } }));
  assert.throws(() => skillLevels.generate('train', 1, 1, { variant: { unstatedShare: 1.5 } }), /unstatedShare must be a number in \[0, 1\]/);
});

test('ask refuses a feedback source it does not know (from JavaScript it ran as self-review)', () => {
  for (const feedback of ['bogus', 'calculator']) {
    assert.throws(
      () => ask(new ChatEngine(reviewer(), tok), 'What is 12 plus 39?', { technique: 'reflect', feedback: feedback as 'self' }),
      (e: unknown) => e instanceof Error && (e as { field?: string }).field === 'feedback' && /feedback must be one of "self", "tool", "verdict".*got "/.test(e.message),
    );
  }
});
