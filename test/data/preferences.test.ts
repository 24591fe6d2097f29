import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/engine/rng.js';
import {
  appendRankingLine,
  completionKey,
  completionText,
  rankingConversation,
  rankingToPairs,
  readPreferencesJSONL,
  type Completion,
  type Ranking,
} from '../../src/data/preferences.js';
import { applyAdjacentErrors, rubricPrefers, rubricScore, simulatedRanking } from '../../src/data/labelers.js';
import { taskByName } from '../../src/data/synthetic/tasks.js';
import type { Message } from '../../src/data/conversation.js';
import { KeyQueue, RankingSession, runLabeling, skippedFile } from '../../src/cli/label.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'gf-prefs-'));
const line = (o: unknown): string => JSON.stringify(o);

// a real held-out arithmetic problem, its exact answer from the generated tool output
const arith = taskByName('arithmetic').generate('test', 1, 1)[0];
const P = arith.prompt;
const R = Number(arith.conversation.messages.find((m) => m.role === 'tool')!.content);
const call = arith.conversation.messages.find((m) => m.tool_call)!.tool_call!;
const toolMsgs: Message[] = [
  { role: 'assistant', content: 'Let me calculate that. ', tool_call: call },
  { role: 'tool', content: String(R) },
  { role: 'assistant', content: `The answer is ${R}.` },
];
const withTool: Completion = { messages: toolMsgs };

test('completions: visible text leaves tool calls out; pairs are every K(K−1)/2 with the better one chosen', () => {
  assert.equal(completionText(withTool), `Let me calculate that. The answer is ${R}.`);
  assert.equal(completionText('  plain  '), 'plain');
  assert.deepEqual(rankingConversation('q?', 'a.').messages, [{ role: 'user', content: 'q?' }, { role: 'assistant', content: 'a.' }]);
  assert.equal(completionKey('x'), completionKey({ messages: [{ role: 'assistant', content: 'x' }] }));
  for (const k of [2, 3, 4, 6]) {
    const r: Ranking = { prompt: 'p', completions: Array.from({ length: k }, (_, i) => `c${i}`), task: 'chat' };
    const pairs = rankingToPairs(r);
    assert.equal(pairs.length, (k * (k - 1)) / 2);
    for (const p of pairs) {
      assert.ok(Number((p.chosen as string).slice(1)) < Number((p.rejected as string).slice(1)), 'the better-ranked one is chosen');
      assert.equal(p.task, 'chat');
    }
    assert.equal(new Set(pairs.map((p) => `${p.chosen}|${p.rejected}`)).size, pairs.length);
  }
});

test('read: errors name file, line and field; skip mode counts and keeps going; ranks reorder; pairs become 2-item rankings', () => {
  const file = join(tmp(), 'prefs.jsonl');
  const lines = [
    line({ prompt: 'Hi!', completions: ['Hello!', 'Go away.'] }), // 1 ok
    '{not json', // 2
    line({ completions: ['a', 'b'] }), // 3 missing prompt
    line({ prompt: 'q', completions: ['only one'] }), // 4 too few
    line({ prompt: 'q', completions: ['a', '   '] }), // 5 empty
    line({ prompt: 'q', completions: ['same', { messages: [{ role: 'assistant', content: 'same' }] }] }), // 6 duplicate
    line({ prompt: 'q', completions: ['a', 'b', 'c'], ranks: [2, 1, 2] }), // 7 tie
    line({ prompt: 'q', completions: ['a', { messages: [{ role: 'tool', content: '1' }] }] }), // 8 bad messages
    line({ prompt: 'q', completions: ['a', { messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: 'y' }] }] }), // 9 user in reply
    '',
    line({ prompt: 'q', completions: ['second.', 'third.', 'first.'], ranks: [2, 3, 1], task: 'chat' }), // 11 ok, reordered
    line({ prompt: 'q', chosen: withTool, rejected: 'No idea.' }), // 12 ok pair
    line({ prompt: 'q', completions: ['a', 'b'], task: 'poetry' }), // 13 unknown task
  ];
  writeFileSync(file, lines.join('\n') + '\n');
  const expect: [number, RegExp][] = [
    [2, /not valid JSON/],
    [3, /field "prompt".*missing prompt/],
    [4, /field "completions".*at least two completions, got 1/],
    [5, /field "completions\[1\]".*empty completion/],
    [6, /field "completions\[1\]".*same reply/],
    [7, /field "ranks".*tie between completions 0 and 2; rankings need a strict order/],
    [8, /field "completions\[1\]\.messages\[0\]\.role".*must follow an assistant message with a tool_call/],
    [9, /field "completions\[1\]\.messages\[0\]\.role".*not a user message/],
    [13, /field "task".*unknown task "poetry"/],
  ];
  assert.throws(() => readPreferencesJSONL(file), (e: Error) => e.message.startsWith(`${file}:2: `) && /not valid JSON/.test(e.message));
  const r = readPreferencesJSONL(file, { onBad: 'skip' });
  assert.deepEqual(r.skipped.map((s) => s.line), expect.map(([l]) => l));
  r.skipped.forEach((s, i) => {
    assert.ok(s.reason.startsWith(`${file}:${s.line}`), s.reason);
    assert.match(s.reason, expect[i][1]);
  });
  assert.equal(r.rankings.length, 3);
  assert.deepEqual(r.rankings[1], { prompt: 'q', completions: ['first.', 'second.', 'third.'], task: 'chat' });
  assert.deepEqual(r.rankings[2].completions, [withTool, 'No idea.']);
  assert.throws(() => readPreferencesJSONL(join(tmp(), 'missing.jsonl')), /cannot read preferences/);
});

test('append: durable whole lines, existing lines kept (even without a final newline), invalid rankings refused', () => {
  const dir = tmp();
  const file = join(dir, 'rankings.jsonl');
  writeFileSync(file, line({ prompt: 'old', completions: ['a.', 'b.'] })); // hand-written, no final newline
  appendRankingLine(file, { prompt: 'new', completions: [withTool, 'x.'], task: 'arithmetic' });
  appendRankingLine(file, { prompt: 'newer', completions: ['y.', 'z.', 'w.'] });
  const text = readFileSync(file, 'utf8');
  assert.ok(text.endsWith('\n'));
  assert.equal(text.split('\n').filter((l) => l !== '').length, 3);
  const r = readPreferencesJSONL(file);
  assert.deepEqual(r.rankings.map((x) => x.prompt), ['old', 'new', 'newer']);
  assert.deepEqual(r.rankings[1], { prompt: 'new', completions: [withTool, 'x.'], task: 'arithmetic' });
  assert.throws(() => appendRankingLine(file, { prompt: 'bad', completions: ['same', 'same'] }), /same reply/);
  assert.equal(readFileSync(file, 'utf8'), text, 'a refused ranking leaves the file as it was');
  assert.deepEqual(readdirSync(dir), ['rankings.jsonl'], 'no temp files left behind');
});

test('rubric: correct beats wrong, the calculator beats no tool, concise beats rambling, repetition costs', () => {
  const right = `The answer is ${R}.`;
  const wrong = `The answer is ${R + 1}.`;
  const sr = rubricScore(P, right, 'arithmetic');
  const sw = rubricScore(P, wrong, 'arithmetic');
  assert.equal(sr.correct, true);
  assert.equal(sw.correct, false);
  assert.ok(sr.score - sw.score > 9, `${sr.score} vs ${sw.score}`);
  assert.equal(rubricPrefers(P, right, wrong, 'arithmetic'), 1);
  // the family is guessed from the prompt when no task is given
  assert.equal(rubricScore(P, right).correct, true);
  // even a wrong answer that used the calculator loses to a correct one without it
  const wrongWithTool: Completion = { messages: [...toolMsgs.slice(0, 2), { role: 'assistant', content: wrong }] };
  assert.equal(rubricPrefers(P, right, wrongWithTool, 'arithmetic'), 1);
  const st = rubricScore(P, withTool, 'arithmetic');
  assert.ok(st.score > sr.score + 1.5, `${st.score} vs ${sr.score}`);
  assert.ok(st.reasons.some((x) => /calculator/.test(x)));
  assert.equal(rubricPrefers(P, right, withTool, 'arithmetic'), -1);
  // a failed tool call costs
  const failed: Completion = { messages: [{ role: 'assistant', content: '', tool_call: { name: 'calculator', input: '1/0' } }, { role: 'tool', content: 'error: division by zero' }, { role: 'assistant', content: right }] };
  assert.ok(rubricScore(P, failed, 'arithmetic').score < sr.score);

  const concise = "You're welcome!";
  const rambling = "You're welcome! I am always very happy to help you with anything that you might need at any time of the day, whether it is words, rhymes, synonyms, numbers or anything else at all.";
  assert.equal(rubricScore('Thanks!', rambling, 'chat').correct, true);
  assert.equal(rubricPrefers('Thanks!', concise, rambling, 'chat'), 1);
  assert.ok(rubricScore('Thanks!', rambling, 'chat').reasons.some((x) => /long/.test(x)));

  // same length, same form; only the repeated 3-grams differ. Unknown family → correct null.
  const rep = rubricScore('Tell me a story.', 'The cat sat on the mat and the cat sat on the mat.');
  const fresh = rubricScore('Tell me a story.', 'The cat sat on the mat and the dog lay by the door.');
  assert.equal(rep.correct, null);
  assert.ok(fresh.score - rep.score > 1.5, `${fresh.score} vs ${rep.score}`);
  assert.ok(rep.reasons.some((x) => /repetitive/.test(x)));

  // polite refusals: an apology earns a little over a bare refusal
  const weather = "What's the weather like in Paris?";
  assert.equal(rubricPrefers(weather, "Sorry, I can't check the weather.", 'I cannot check the weather.', 'chat'), 1);
  assert.equal(rubricPrefers(P, right, right, 'arithmetic'), 0);
});

/** Arithmetic replies with four clearly different rubric scores. */
function fourReplies(): Completion[] {
  return [`It is ${R + 5000}.`, withTool, `The answer is ${R + 1}.`, `The answer is ${R}.`];
}

test('simulated labeler: noise 0 orders by the rubric; noise 0.1 flips ≈10% of adjacent pairs; deterministic in seed', () => {
  const replies = fourReplies();
  const clean = simulatedRanking(P, replies, 'arithmetic', { noise: 0, seed: 1 });
  assert.deepEqual(clean.completions, [replies[1], replies[3], replies[2], replies[0]]);
  assert.equal(clean.task, 'arithmetic');
  for (let i = 0; i + 1 < clean.completions.length; i++) assert.equal(rubricPrefers(P, clean.completions[i], clean.completions[i + 1], 'arithmetic'), 1);

  const rank = new Map(clean.completions.map((c, i) => [c, i]));
  const rng = new Rng(7);
  let flipped = 0;
  let pairs = 0;
  for (let n = 0; n < 1500; n++) {
    const r = simulatedRanking(P, replies, 'arithmetic', { noise: 0.1, seed: 0 }, rng);
    for (let i = 0; i + 1 < r.completions.length; i++) {
      pairs++;
      if (rank.get(r.completions[i])! > rank.get(r.completions[i + 1])!) flipped++;
    }
  }
  assert.ok(Math.abs(flipped / pairs - 0.1) < 0.03, `flipped ${flipped}/${pairs}`);

  const a = Array.from({ length: 30 }, (_, s) => simulatedRanking(P, replies, 'arithmetic', { noise: 0.3, seed: s }).completions);
  const b = Array.from({ length: 30 }, (_, s) => simulatedRanking(P, replies, 'arithmetic', { noise: 0.3, seed: s }).completions);
  assert.deepEqual(a, b);
  assert.ok(new Set(a.map((cs) => cs.map((c) => rank.get(c)).join())).size > 1, 'different seeds give different errors');
  assert.throws(() => simulatedRanking(P, replies, 'arithmetic', { noise: 1.5, seed: 1 }), /noise/);
  // a run of errors reverses the run: exactly the flagged adjacent pairs come out inverted
  assert.deepEqual(applyAdjacentErrors([0, 1, 2, 3, 4], [true, true, false, true]), [2, 1, 0, 4, 3]);
});

test('label session: picks in order, undo, the last one implied, skip, quit and bad keys', () => {
  const s = new RankingSession(4);
  assert.deepEqual(s.press('3'), { type: 'pick', choice: 2 });
  assert.deepEqual(s.press('3'), { type: 'invalid', message: '3 is already ranked' });
  assert.deepEqual(s.press('7'), { type: 'invalid', message: 'there are only 4 completions' });
  assert.deepEqual(s.press('1'), { type: 'pick', choice: 0 });
  assert.deepEqual(s.press('u'), { type: 'undo', choice: 0 });
  assert.deepEqual(s.picks, [2]);
  assert.deepEqual(s.press(' '), { type: 'ignored' });
  assert.equal(s.press('?').type, 'help');
  assert.equal(s.press('x').type, 'invalid');
  assert.deepEqual(s.press('4'), { type: 'pick', choice: 3 });
  assert.deepEqual(s.press('1'), { type: 'done', order: [2, 3, 0, 1] });
  assert.ok(s.complete);
  assert.equal(s.press('2').type, 'invalid');
  assert.equal(new RankingSession(2).press('2').type, 'done');
  assert.deepEqual(new RankingSession(3).press('u'), { type: 'invalid', message: 'nothing to undo' });
  assert.equal(new RankingSession(3).press('s').type, 'skip');
  assert.equal(new RankingSession(3).press('q').type, 'quit');
  assert.throws(() => new RankingSession(10), /2 to 9/);
});

test('label loop (scripted): one line per prompt, rankings and skips saved, resume asks only what is left', async () => {
  const out = join(tmp(), 'rankings.jsonl');
  const prompts = [{ prompt: 'Hi!', task: 'chat' }, { prompt: 'Who are you?' }, { prompt: 'Thanks!' }, { prompt: 'Help' }];
  const sample = (p: { prompt: string }): Completion[] => (p.prompt === 'Help' ? ['Only one.'] : [`A ${p.prompt}`, `B ${p.prompt}`, `C ${p.prompt}`]);
  let shown = '';
  const run = async (input: string): Promise<Awaited<ReturnType<typeof runLabeling>>> => {
    const keys = new KeyQueue();
    keys.push(input);
    keys.end();
    shown = '';
    return runLabeling({ prompts, out, sample, keys, write: (t) => (shown += t) });
  };
  // "312": 3 then 1, the 2 is implied (typed anyway, dropped with the rest of its line); then a skip; then quit
  const first = await run('312\ns\nq\n');
  assert.deepEqual(first, { ranked: 1, skipped: 1, remaining: 2, quit: true });
  assert.match(shown, /prompt 1\/4: Hi!/);
  assert.match(shown, /\[3\] C Hi!/);
  const r1 = readPreferencesJSONL(out).rankings;
  assert.deepEqual(r1, [{ prompt: 'Hi!', completions: ['C Hi!', 'A Hi!', 'B Hi!'], task: 'chat' }]);
  assert.match(readFileSync(skippedFile(out), 'utf8'), /"Who are you\?"/);
  // resume: only "Thanks!" and "Help" are left; "Help" has one distinct completion and is skipped by itself
  const second = await run('2\nu\n1 3\n');
  assert.deepEqual(second, { ranked: 1, skipped: 1, remaining: 0, quit: false });
  assert.match(shown, /resuming: 2 of 4/);
  assert.match(shown, /prompt 2\/2: Help/);
  assert.deepEqual(readPreferencesJSONL(out).rankings.map((r) => r.completions), [['C Hi!', 'A Hi!', 'B Hi!'], ['A Thanks!', 'C Thanks!', 'B Thanks!']]);
  const third = await run('');
  assert.deepEqual(third, { ranked: 0, skipped: 0, remaining: 0, quit: false });
  assert.match(shown, /nothing to label/);
});
