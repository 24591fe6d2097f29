import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../src/engine/rng.js';
import { appendRankingLine, completionKey, completionText, rankingConversation, pairCounts, rankingTiers, rankingToPairs, readPreferencesJSONL, tierCount, type Completion, type Ranking } from '../../src/data/preferences.js';
import { applyAdjacentErrors, rubricPrefers, rubricScore, simulatedRanking, TIE_MARGIN, tiersOfSorted } from '../../src/data/labelers.js';
import { trlDpoLines } from '../../src/data/export.js';
import { KeyQueue, LABEL_HELP, RankingSession, runLabeling, skippedFile } from '../../src/run/label.js';
import { tempDir } from '../util/tmp.js';
import { P, R, toolMsgs, withTool } from './arith-fixture.js';

const tmp = (): string => tempDir('gf-prefs-');
const line = (o: unknown): string => JSON.stringify(o);

test('completions: visible text leaves tool calls out; pairs are every K(K−1)/2 with the better one chosen', () => {
  assert.equal(completionText(withTool), `Let me calculate that. The answer is ${R}.`);
  assert.equal(completionText('  plain  '), 'plain');
  assert.deepEqual(rankingConversation('q?', 'a.').messages, [
    { role: 'user', content: 'q?' },
    { role: 'assistant', content: 'a.' },
  ]);
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
    line({
      prompt: 'q',
      completions: [
        'a',
        {
          messages: [
            { role: 'user', content: 'x' },
            { role: 'assistant', content: 'y' },
          ],
        },
      ],
    }), // 9 user in reply
    '',
    line({ prompt: 'q', completions: ['second.', 'third.', 'first.'], ranks: [2, 3, 1], task: 'chat' }), // 11 ok, reordered
    line({ prompt: 'q', chosen: withTool, rejected: 'No idea.' }), // 12 ok pair
    line({ prompt: 'q', completions: ['a', 'b'], task: 'poetry' }), // 13 unknown task
    line({ prompt: 'q', completions: ['a', 'b'], task: 'passages' }), // 14 ok: an opt-in family
    line({ prompt: 'q', completions: 'not a list' }), // 15 not a list (newcomer29: read as "missing")
    line({ prompt: 'q' }), // 16 missing completions
  ];
  writeFileSync(file, lines.join('\n') + '\n');
  const expect: [number, RegExp][] = [
    [2, /not valid JSON/],
    [3, /field "prompt".*missing prompt/],
    [4, /field "completions".*at least two completions, got 1/],
    [5, /field "completions\[1\]".*empty completion/],
    [6, /field "completions\[1\]".*same reply/],
    [7, /field "ranks".*tie between completions 0 and 2; ranks must be distinct \(to mark ties, list the completions best first with "tiers"\)/],
    [8, /field "completions\[1\]\.messages\[0\]\.role".*must follow an assistant message with a tool_call/],
    [9, /field "completions\[1\]\.messages\[0\]\.role".*not a user message/],
    [13, /field "task".*unknown task "poetry" \(one of: .*chat, passages, .*; or leave "task" out\)/],
    [15, /field "completions": completions must be a list \(best first\), got a string$/],
    [16, /field "completions": missing completions \(a list, best first\)$/],
  ];
  assert.throws(
    () => readPreferencesJSONL(file),
    (e: Error) => e.message.startsWith(`${file}:2: `) && /not valid JSON/.test(e.message),
  );
  const r = readPreferencesJSONL(file, { onBad: 'skip' });
  assert.deepEqual(
    r.skipped.map((s) => s.line),
    expect.map(([l]) => l),
  );
  r.skipped.forEach((s, i) => {
    assert.ok(s.reason.startsWith(`${file}:${s.line}`), s.reason);
    assert.match(s.reason, expect[i][1]);
  });
  assert.equal(r.rankings.length, 4);
  assert.deepEqual(r.rankings[1], { prompt: 'q', completions: ['first.', 'second.', 'third.'], task: 'chat' });
  assert.equal(r.rankings[3].task, 'passages');
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
  assert.deepEqual(
    r.rankings.map((x) => x.prompt),
    ['old', 'new', 'newer'],
  );
  assert.deepEqual(r.rankings[1], { prompt: 'new', completions: [withTool, 'x.'], task: 'arithmetic' });
  assert.throws(() => appendRankingLine(file, { prompt: 'bad', completions: ['same', 'same'] }), /same reply/);
  assert.equal(readFileSync(file, 'utf8'), text, 'a refused ranking leaves the file as it was');
  assert.deepEqual(readdirSync(dir), ['rankings.jsonl'], 'no temp files left behind');
});

test('ties: tiers are validated with the field named, kept on read and append; rankingToPairs pairs only different tiers', () => {
  const dir = tmp();
  const file = join(dir, 'ties.jsonl');
  const cs = ['a.', 'b.', 'c.', 'd.'];
  const lines = [
    line({ prompt: 'q', completions: cs, tiers: [0, 1, 1, 2] }), // 1 ok
    line({ prompt: 'q', completions: cs, tiers: [0, 1, 2] }), // 2 wrong length
    line({ prompt: 'q', completions: cs, tiers: '0112' }), // 3 not a list
    line({ prompt: 'q', completions: cs, tiers: [0, 1, 1.5, 2] }), // 4 not an integer
    line({ prompt: 'q', completions: cs, tiers: [0, 1, '1', 2] }), // 5 not a number
    line({ prompt: 'q', completions: cs, tiers: [1, 1, 2, 2] }), // 6 not starting at 0
    line({ prompt: 'q', completions: cs, tiers: [0, 1, 0, 1] }), // 7 decreasing
    line({ prompt: 'q', completions: cs, tiers: [0, 0, 2, 3] }), // 8 gap
    line({ prompt: 'q', completions: cs, tiers: [0, 1, -1, 2] }), // 9 negative
    line({ prompt: 'q', chosen: 'a.', rejected: 'b.', tiers: [0, 0] }), // 10 with a pair
    line({ prompt: 'q', completions: ['a.', 'b.'], ranks: [2, 1], tiers: [0, 1] }), // 11 with ranks
    line({ prompt: 'q', completions: ['x.', 'y.', 'z.'], tiers: [0, 0, 0] }), // 12 ok: all tied
    line({ prompt: 'q', completions: ['old.', 'format.'] }), // 13 ok: no tiers, strict
  ];
  writeFileSync(file, lines.join('\n') + '\n');
  const expect: [number, RegExp][] = [
    [2, /:2, field "tiers": tiers has 3 entries for 4 completions/],
    [3, /:3, field "tiers": tiers must be a list of 4 integers/],
    [4, /:4, field "tiers\[2\]": a tier is a non-negative integer, got 1\.5/],
    [5, /:5, field "tiers\[2\]": a tier is a non-negative integer, got "1"/],
    [6, /:6, field "tiers\[0\]": tiers start at 0/],
    [7, /:7, field "tiers\[2\]": tiers must not decrease/],
    [8, /:8, field "tiers\[2\]": tiers are consecutive: 2 after 0 skips 1/],
    [9, /:9, field "tiers\[2\]": a tier is a non-negative integer, got -1/],
    [10, /:10, field "tiers": "tiers" goes with "completions"/],
    [11, /:11, field "tiers": "tiers" goes with completions listed best first, not with "ranks"/],
  ];
  assert.throws(() => readPreferencesJSONL(file), /:2, field "tiers"/, 'onBad error stops at the first bad line');
  const r = readPreferencesJSONL(file, { onBad: 'skip' });
  assert.deepEqual(
    r.skipped.map((s) => s.line),
    expect.map(([l]) => l),
  );
  r.skipped.forEach((s, i) => assert.match(s.reason, expect[i][1]));
  const [tiered, allTied, old] = r.rankings;
  assert.deepEqual(tiered, { prompt: 'q', completions: cs, tiers: [0, 1, 1, 2] });
  // all tied: a valid line (what the labeler said), but no preference in it
  assert.deepEqual(allTied.tiers, [0, 0, 0]);
  assert.equal(tierCount(allTied), 1);
  assert.deepEqual(rankingToPairs(allTied), []);
  assert.deepEqual(pairCounts(allTied), { preferred: 0, tied: 3 });
  // the format before ties: no tiers property, read as a strict order
  assert.deepEqual(old, { prompt: 'q', completions: ['old.', 'format.'] });
  assert.ok(!('tiers' in old));
  assert.deepEqual(rankingTiers(old), [0, 1]);

  // pairs: b and c are tied, every other pair has its better one chosen
  const pairs = rankingToPairs({ ...tiered, task: 'chat' });
  assert.deepEqual(
    pairs.map((p) => `${p.chosen}>${p.rejected}`),
    ['a.>b.', 'a.>c.', 'a.>d.', 'b.>d.', 'c.>d.'],
  );
  assert.ok(pairs.every((p) => p.task === 'chat'));
  assert.deepEqual(pairCounts(tiered), { preferred: 5, tied: 1 });
  // explicit strict tiers mean the same as none
  assert.deepEqual(rankingToPairs({ prompt: 'q', completions: cs, tiers: [0, 1, 2, 3] }), rankingToPairs({ prompt: 'q', completions: cs }));

  // append keeps tiers when present, writes none when absent, refuses bad ones
  const out = join(dir, 'out.jsonl');
  appendRankingLine(out, { prompt: 'p', completions: cs, tiers: [0, 0, 1, 1], task: 'chat' });
  appendRankingLine(out, { prompt: 'p', completions: ['e.', 'f.'] });
  const written = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(written[0].tiers, [0, 0, 1, 1]);
  assert.ok(!('tiers' in written[1]));
  assert.deepEqual(readPreferencesJSONL(out).rankings[0], { prompt: 'p', completions: cs, tiers: [0, 0, 1, 1], task: 'chat' });
  assert.throws(() => appendRankingLine(out, { prompt: 'p', completions: cs, tiers: [0, 2, 2, 3] }), /ranking not appended: .*field "tiers\[1\]"/);
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
  const failed: Completion = {
    messages: [
      { role: 'assistant', content: '', tool_call: { name: 'calculator', input: '1/0' } },
      { role: 'tool', content: 'error: division by zero' },
      { role: 'assistant', content: right },
    ],
  };
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
  // replies that differ only by the small touches (term 7) are ties
  const d = rubricScore(P, `It is ${R}.`, 'arithmetic').score - rubricScore(P, right, 'arithmetic').score;
  assert.ok(d !== 0 && Math.abs(d) < TIE_MARGIN, `${d}`);
  assert.equal(rubricPrefers(P, `It is ${R}.`, right, 'arithmetic'), 0);
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

test('simulated labeler, ties: replies within 0.1 points share a tier (a chain), strict order beyond', () => {
  // the boundary: a new tier starts at a drop of TIE_MARGIN or more between neighbours
  assert.deepEqual(tiersOfSorted([5, 4.95, 4.8, 4.75, 4.7, 4.5]), [0, 0, 1, 1, 1, 2]);
  assert.deepEqual(tiersOfSorted([3, 2.9, 2.8]), [0, 1, 2], 'exactly 0.1 apart is not a tie');
  assert.deepEqual(tiersOfSorted([1, 0.91, 0.82, 0.73]), [0, 0, 0, 0], 'a chain: ends 0.27 apart, neighbours 0.09');
  assert.deepEqual(tiersOfSorted([2]), [0]);

  // three correct plain answers differ only by term 7: one tier; the rest are 0.2 points or more apart
  const replies: Completion[] = [`It is ${R + 5000}.`, `The answer is ${R}.`, withTool, `${R}.`, `The answer is ${R + 1}.`, `It is ${R}.`];
  const r = simulatedRanking(P, replies, 'arithmetic', { noise: 0, seed: 1 });
  assert.deepEqual(r.completions, [withTool, `${R}.`, `It is ${R}.`, `The answer is ${R}.`, `The answer is ${R + 1}.`, `It is ${R + 5000}.`]);
  assert.deepEqual(r.tiers, [0, 1, 1, 1, 2, 3]);
  const scores = r.completions.map((c) => rubricScore(P, c, 'arithmetic').score);
  for (let i = 0; i + 1 < scores.length; i++) assert.equal(scores[i] - scores[i + 1] < TIE_MARGIN, r.tiers![i] === r.tiers![i + 1], `position ${i}`);
  assert.equal(rankingToPairs(r).length, 15 - 3);
  // distinct scores: a strict order, tiers 0..K−1
  assert.deepEqual(simulatedRanking(P, fourReplies(), 'arithmetic', { noise: 0, seed: 1 }).tiers, [0, 1, 2, 3]);
  // all tied: one tier, no pairs, and noise cannot reorder it
  const tiedOnly: Completion[] = [`The answer is ${R}.`, `It is ${R}.`, `${R}.`];
  const t0 = simulatedRanking(P, tiedOnly, 'arithmetic', { noise: 0, seed: 3 });
  const t1 = simulatedRanking(P, tiedOnly, 'arithmetic', { noise: 1, seed: 3 });
  assert.deepEqual(t0.tiers, [0, 0, 0]);
  assert.deepEqual(t1, t0);
  assert.deepEqual(rankingToPairs(t1), []);
});

test('simulated labeler, noise with ties: never within a tier, across a boundary at the noise rate; the random stream is unchanged', () => {
  const replies: Completion[] = [`It is ${R + 5000}.`, `The answer is ${R}.`, withTool, `${R}.`, `The answer is ${R + 1}.`, `It is ${R}.`];
  const clean = simulatedRanking(P, replies, 'arithmetic', { noise: 0, seed: 1 });
  const rank = new Map(clean.completions.map((c, i) => [c, i]));
  const cleanTier = new Map(clean.completions.map((c, i) => [c, clean.tiers![i]]));
  const noise = 0.3;
  const rng = new Rng(11);
  let across = 0;
  let acrossFlipped = 0;
  let withinFlipped = 0;
  for (let n = 0; n < 2000; n++) {
    const r = simulatedRanking(P, replies, 'arithmetic', { noise, seed: 0 }, rng);
    // tiers stay by position
    assert.deepEqual(r.tiers, clean.tiers);
    for (let i = 0; i + 1 < r.completions.length; i++) {
      const inverted = rank.get(r.completions[i])! > rank.get(r.completions[i + 1])!;
      if (r.tiers![i] === r.tiers![i + 1]) withinFlipped += inverted ? 1 : 0;
      else {
        across++;
        acrossFlipped += inverted ? 1 : 0;
      }
    }
    // no preference ever contradicts a tie: two replies the rubric ties keep their order
    for (const p of rankingToPairs(r)) {
      if (cleanTier.get(p.chosen) === cleanTier.get(p.rejected)) assert.ok(rank.get(p.chosen)! < rank.get(p.rejected)!, 'a tied pair reversed');
    }
  }
  assert.equal(withinFlipped, 0);
  assert.equal(across, 2000 * 3);
  // 6000 boundary comparisons at p = 0.3: one standard deviation is 0.006
  assert.ok(Math.abs(acrossFlipped / across - noise) < 0.03, `flipped ${acrossFlipped}/${across}`);

  // one draw per adjacent position, tied or not: the stream after a ranking of K is K−1 draws on
  const a = new Rng(5);
  simulatedRanking(P, replies, 'arithmetic', { noise, seed: 0 }, a);
  const b = new Rng(5);
  for (let i = 0; i < replies.length - 1; i++) b.random();
  assert.equal(a.random(), b.random());
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

test('label session, ties: = ties the next pick with the previous one; undo takes the tie back; bad = presses; no tie, no tiers', () => {
  const s = new RankingSession(5);
  assert.deepEqual(s.press('='), { type: 'invalid', message: '= ties the next pick with the previous one: pick the best completion first' });
  assert.ok(!s.pendingTie);
  assert.deepEqual(s.press('2'), { type: 'pick', choice: 1 });
  assert.deepEqual(s.press('='), { type: 'tie', with: 1 });
  assert.ok(s.pendingTie);
  assert.equal(s.describe(), '2 =');
  const twice = s.press('=');
  assert.equal(twice.type, 'invalid');
  assert.match((twice as { message: string }).message, /already pressed.*ties with 2/);
  // an invalid pick leaves the = waiting
  assert.equal(s.press('2').type, 'invalid');
  assert.ok(s.pendingTie);
  assert.deepEqual(s.press('4'), { type: 'pick', choice: 3, tied: true });
  assert.equal(s.describe(), '2 = 4');
  assert.deepEqual(s.tiers, [0, 0]);
  // undo takes back the pick together with its tie mark: the next pick is strict again
  assert.deepEqual(s.press('u'), { type: 'undo', choice: 3 });
  assert.ok(!s.pendingTie);
  assert.deepEqual(s.picks, [1]);
  assert.deepEqual(s.tiers, [0]);
  assert.deepEqual(s.press('4'), { type: 'pick', choice: 3 });
  assert.equal(s.describe(), '2 > 4');
  // undo of a pending = drops only the =
  s.press('=');
  assert.deepEqual(s.press('u'), { type: 'untie' });
  assert.deepEqual(s.picks, [1, 3]);
  assert.equal(s.describe(), '2 > 4');
  // 2 > 4 = 1 > 3, the implied last (5) below them all, in a tier of its own
  s.press('=');
  s.press('1');
  assert.deepEqual(s.press('3'), { type: 'done', order: [1, 3, 0, 2, 4], tiers: [0, 1, 1, 2, 3] });
  assert.equal(s.describe(), '2 > 4 = 1 > 3 > 5');
  assert.equal(s.press('=').type, 'invalid');

  // = before the second-to-last pick ties that pick; the implied last stays below both
  const t = new RankingSession(3);
  t.press('3');
  t.press('=');
  assert.deepEqual(t.press('1'), { type: 'done', order: [2, 0, 1], tiers: [0, 0, 1] });
  // no tie: no tiers, the format from before ties
  const strict = new RankingSession(3);
  strict.press('2');
  assert.deepEqual(strict.press('3'), { type: 'done', order: [1, 2, 0] });
  assert.match(LABEL_HELP, /= then a number/);
});

test('label loop (scripted), ties: tiers saved only with a tie, valid for the reader; the order shown with =', async () => {
  const out = join(tmp(), 'rankings.jsonl');
  const prompts = [{ prompt: 'Hi!', task: 'chat' }, { prompt: 'Who are you?' }, { prompt: 'Thanks!' }];
  const sample = (p: { prompt: string }): Completion[] => ['A', 'B', 'C', 'D'].map((x) => `${x} ${p.prompt}`);
  const keys = new KeyQueue();
  // "3=12": C = A > B > D; "=" first is refused, then "2 4 u = 4 1": B = D > A > C (the undo
  // took back the strict 4); "4 1 3": strict
  keys.push('3=12\n=2 4 u = 4 1\n4 1 3\n');
  keys.end();
  let shown = '';
  const summary = await runLabeling({ prompts, out, sample, keys, write: (t) => (shown += t) });
  assert.deepEqual(summary, { ranked: 3, skipped: 0, remaining: 0, quit: false });
  assert.match(shown, /saved: 3 = 1 > 2 > 4\n/);
  assert.match(shown, /pick the best completion first/);
  assert.match(shown, /undid 4; so far: 2: /);
  assert.match(shown, /saved: 2 = 4 > 1 > 3\n/);
  assert.match(shown, /saved: 4 > 1 > 3 > 2\n/);
  const lines = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines[0], { prompt: 'Hi!', completions: ['C Hi!', 'A Hi!', 'B Hi!', 'D Hi!'], tiers: [0, 0, 1, 2], task: 'chat' });
  assert.deepEqual(lines[1].tiers, [0, 0, 1, 2]);
  assert.ok(!('tiers' in lines[2]), 'a strict ranking has no tiers field');
  // the reader's validation accepts every line, and the tie makes no pair
  const read = readPreferencesJSONL(out).rankings;
  assert.equal(read.length, 3);
  assert.deepEqual(rankingTiers(read[0]), [0, 0, 1, 2]);
  assert.equal(tierCount(read[0]), 3);
  assert.deepEqual(pairCounts(read[0]), { preferred: 5, tied: 1 });
  assert.ok(!rankingToPairs(read[0]).some((pr) => [pr.chosen, pr.rejected].includes('C Hi!') && [pr.chosen, pr.rejected].includes('A Hi!')));
  assert.deepEqual(read[1].completions, ['B Who are you?', 'D Who are you?', 'A Who are you?', 'C Who are you?']);
  assert.equal(read[2].tiers, undefined);
  assert.equal(tierCount(read[2]), 4);
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
  assert.deepEqual(
    readPreferencesJSONL(out).rankings.map((r) => r.completions),
    [
      ['C Hi!', 'A Hi!', 'B Hi!'],
      ['A Thanks!', 'C Thanks!', 'B Thanks!'],
    ],
  );
  const third = await run('');
  assert.deepEqual(third, { ranked: 0, skipped: 0, remaining: 0, quit: false });
  assert.match(shown, /nothing to label/);
});

test('our own TRL export (conversational prompt/chosen/rejected) reads back as the same pairs; a wrong prompt type names it', () => {
  const dir = tmp();
  const r: Ranking = { prompt: P, completions: [withTool, `It is ${R + 1}.`, 'No idea.'] };
  const file = join(dir, 'train.jsonl');
  writeFileSync(file, trlDpoLines(r).join('\n') + '\n');
  const back = readPreferencesJSONL(file).rankings;
  assert.equal(back.length, 3);
  assert.deepEqual(
    back.map((b) => [b.prompt, completionText(b.completions[0]), completionText(b.completions[1])]),
    rankingToPairs(r).map((p) => [p.prompt, completionText(p.chosen), completionText(p.rejected)]),
  );
  assert.deepEqual(back[0].completions[0], withTool);
  const bad = (o: unknown): string => {
    writeFileSync(file, line(o) + '\n');
    try {
      readPreferencesJSONL(file);
    } catch (e) {
      return (e as Error).message;
    }
    return 'no error';
  };
  assert.match(bad({ prompt: 7, chosen: 'a', rejected: 'b' }), /field "prompt": prompt must be a string .*got a number/);
  assert.match(
    bad({
      prompt: [
        { role: 'system', content: 's' },
        { role: 'user', content: 'q' },
      ],
      chosen: 'a',
      rejected: 'b',
    }),
    /field "prompt": a conversational \(TRL\) prompt is read here as exactly one .*got 2 messages/,
  );
});
