import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contrastReply } from '../../src/data/contrast.js';
import type { Completion } from '../../src/data/preferences.js';
import { taskByName } from '../../src/data/synthetic/tasks.js';
import { Rng } from '../../src/engine/rng.js';
import { GptforgeError, winTally } from '../../src/index.js';
import { taskExamples } from '../../src/train/comparisons.js';

// issue #24 / closing16 "Left": SFT against its own fresh samples read 59% (52% another time).
// Two samplings of one policy must read 50% within the interval the tally reports, and a
// better policy must read above it; swapping the sides gives the complement (position-free).
test('winTally: identical policies read ~50% (inside the 95% interval), a better one reads higher; sides swap to the complement', () => {
  const items = taskExamples('test', 400, 11);
  const rng = new Rng(5);
  // each prompt's pool: its demonstration, the same reply made wrong, and an empty reply
  const pools = items.map((it) => {
    const demo: Completion = { messages: it.example.conversation.messages.slice(1) };
    const wrong = contrastReply(it.prompt, taskByName(it.task), demo, rng)?.reply;
    return [demo, ...(wrong ? [wrong] : []), ''];
  });
  const prompts = items.map((it) => ({ prompt: it.prompt, task: it.task }));
  const draw = (r: Rng, best: boolean): Completion[] => pools.map((pool) => (best ? pool[0] : pool[r.int(pool.length)]));
  const a = draw(new Rng(1), false);
  const b = draw(new Rng(2), false);
  const same = winTally(prompts, a, b);
  assert.equal(same.wins + same.ties + same.losses, prompts.length);
  assert.ok(same.wins > 50 && same.losses > 50, JSON.stringify(same));
  assert.ok(same.winRateCi95 > 0.01 && same.winRateCi95 < 0.07, JSON.stringify(same));
  assert.ok(Math.abs(same.winRate - 0.5) < same.winRateCi95, `identical policies: ${JSON.stringify(same)}`);
  const swapped = winTally(prompts, b, a);
  assert.ok(Math.abs(swapped.winRate - (1 - same.winRate)) < 1e-12);
  assert.deepEqual([swapped.wins, swapped.ties, swapped.losses], [same.losses, same.ties, same.wins]);
  const better = winTally(prompts, draw(new Rng(3), true), b);
  assert.ok(better.winRate - better.winRateCi95 > 0.6, `the demonstrations against random pool replies: ${JSON.stringify(better)}`);
  assert.throws(
    () => winTally(prompts, a.slice(1), b),
    (e: unknown) => e instanceof GptforgeError && e.field === 'replies' && /400 prompts, 399 replies/.test(e.message),
  );
});

// the docstring's example, as the public index exports it: a right answer against a wrong one
test('winTally (public): a right answer beats a wrong one in both orders; one prompt has a half-width of 0', () => {
  assert.deepEqual(winTally([{ prompt: 'What is 2+2?', task: 'arithmetic' }], ['4'], ['5']), { winRate: 1, winRateCi95: 0, wins: 1, ties: 0, losses: 0 });
  // a tie is half a win: the same reply on both sides
  assert.equal(winTally([{ prompt: 'What is 2+2?', task: 'arithmetic' }], ['4'], ['4']).winRate, 0.5);
});
