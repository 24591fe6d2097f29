import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rubricScore } from '../../src/data/labelers.js';
import { promptRepliesBatched, rightFirst, rightWrongPairs, sampledContrasts, simulatedComparisons, taskExamples, taskPrompts, writtenDemonstrations } from '../../src/train/comparisons.js';
import { ChatEngine } from '../../src/infer/engine.js';
import { renderPrompt } from '../../src/data/chat.js';
import { contrastReply } from '../../src/data/contrast.js';
import { taskByName } from '../../src/data/synthetic/tasks.js';
import { Rng } from '../../src/engine/rng.js';
import type { Completion } from '../../src/data/preferences.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';

test('comparisons: taskExamples gives taskPrompts’ prompts in the same order, each with its own example', () => {
  const prompts = taskPrompts('train', 40, 4242);
  const items = taskExamples('train', 40, 4242);
  assert.deepEqual(
    items.map(({ prompt, task }) => ({ prompt, task })),
    prompts,
  );
  for (const it of items) assert.equal(it.example.prompt, it.prompt);
});

test('comparisons: the writers’ demonstrations answer their own prompt; at e_w = 0 all are correct, at e_w = 0.5 about half are spoilt', () => {
  const items = taskExamples('train', 400, 7);
  const perfect = writtenDemonstrations(items, { writerErrorRate: 0 }, 1);
  assert.equal(perfect.length, items.length);
  items.forEach((it, i) => assert.equal(rubricScore(it.prompt, perfect[i], it.task).correct, true, `${it.task}: ${JSON.stringify(perfect[i])}`));
  const written = writtenDemonstrations(items, { writerErrorRate: 0.5 }, 1);
  // deterministic in the seed
  assert.deepEqual(writtenDemonstrations(items, { writerErrorRate: 0.5 }, 1), written);
  let worse = 0;
  items.forEach((it, i) => {
    const a = rubricScore(it.prompt, perfect[i], it.task).score;
    const b = rubricScore(it.prompt, written[i], it.task).score;
    assert.ok(b <= a + 1e-9, `a spoilt demonstration never scores above the perfect one (${it.task})`);
    if (b < a - 0.1) worse++;
  });
  // 400 draws at 0.5: σ = 0.025; 0.12 is about five σ (a few mistakes may not apply and fall back)
  assert.ok(Math.abs(worse / items.length - 0.5) < 0.12, `spoilt share ${worse / items.length}`);
});

test('comparisons: the writers’ demonstration is ranked with the samples, and replies cut at maxTokens are counted', () => {
  const items = taskExamples('train', 6, 11, ['syllables', 'chat']);
  const corpus = items.map((it) => `${it.prompt} ${JSON.stringify(it.example.conversation)}`).join(' ');
  const tok = trainTokenizer([corpus.repeat(4)], { vocabSize: 320 });
  const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 96, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 3 });
  const demonstrations = writtenDemonstrations(items, { writerErrorRate: 0 }, 1);
  const r = simulatedComparisons(model, tok, items, { k: 2, temperature: 1, maxTokens: 3, tools: null, seed: 5, noise: 0, demonstrations });
  assert.equal(r.sampled, items.length * 2);
  // an untrained model almost never ends a reply within 3 tokens
  assert.ok(r.cut > 0 && r.cut <= r.sampled, `cut ${r.cut} of ${r.sampled}`);
  assert.ok(r.clean.length > 0);
  for (const ranking of r.clean) {
    const i = items.findIndex((it) => it.prompt === ranking.prompt);
    // the demonstration is a candidate, and (correct, finished) the labelers rank it first
    assert.deepEqual(ranking.completions[0], demonstrations[i]);
  }
});

// issue #24: correctness pairs from the model's own samples — right against wrong of one prompt
test('comparisons: rightWrongPairs pairs right replies with wrong ones of the same prompt only, capped, right first at noise 0; edits pair each reply with its changed copy', () => {
  const [it] = taskExamples('train', 1, 31, ['syllables']);
  const task = taskByName('syllables');
  const demo: Completion = { messages: it.example.conversation.messages.slice(1) };
  const rng = new Rng(9);
  const wrongs: Completion[] = [];
  // a small count moves by one either way: two wrong numbers at most
  for (let i = 0; wrongs.length < 2 && i < 50; i++) {
    const c = contrastReply(it.prompt, task, demo, rng);
    if (c && !c.correct && !wrongs.some((w) => JSON.stringify(w) === JSON.stringify(c.reply))) wrongs.push(c.reply);
  }
  assert.equal(wrongs.length, 2);
  const msgs = (demo as { messages: { role: string; content: string }[] }).messages;
  const withAnswer = (f: (s: string) => string): Completion => ({ messages: msgs.map((m, i) => (i === msgs.length - 1 ? { ...m, content: f(m.content) } : m)) }) as Completion;
  // a second right reply (a sentence before the answer) and a third wrong one (no number: no edit applies)
  const right2 = withAnswer((a) => `Let me count. ${a}`);
  wrongs.push(withAnswer(() => 'I am not sure.'));
  const replies = [wrongs[0], demo, wrongs[1], right2, wrongs[2]];
  const verdict = (c: Completion) => rubricScore(it.prompt, c, 'syllables').correct;
  assert.deepEqual(replies.map(verdict), [false, true, false, true, false]);
  const key = (c: Completion) => JSON.stringify(c);
  const all = rightWrongPairs(it.prompt, 'syllables', replies, { noise: 0, seed: 1, maxPairsPerPrompt: 100 }, new Rng(2));
  assert.deepEqual([all.right, all.wrong, all.natural, all.edited], [2, 3, 6, 0]);
  // every right × wrong combination once, the right reply ranked first
  assert.deepEqual(new Set(all.rankings.map((r) => r.completions.map(key).join('|'))).size, 6);
  for (const r of all.rankings) {
    assert.equal(r.completions.length, 2);
    assert.deepEqual(r.completions.map(verdict), [true, false]);
    assert.equal(r.task, 'syllables');
  }
  const capped = rightWrongPairs(it.prompt, 'syllables', replies, { noise: 0, seed: 1, maxPairsPerPrompt: 4 }, new Rng(2));
  assert.equal(capped.rankings.length, 4);
  assert.deepEqual(rightWrongPairs(it.prompt, 'syllables', replies, { noise: 0, seed: 1, maxPairsPerPrompt: 4 }, new Rng(2)), capped, 'deterministic in the rng');
  // all right, or all wrong: nothing to pair
  assert.equal(rightWrongPairs(it.prompt, 'syllables', [demo, right2], { noise: 0, seed: 1, maxPairsPerPrompt: 4 }, new Rng(2)).rankings.length, 0);
  assert.equal(rightWrongPairs(it.prompt, 'syllables', wrongs, { noise: 0, seed: 1, maxPairsPerPrompt: 4 }, new Rng(2)).rankings.length, 0);
  // edits: each reply with a number against itself with the number changed (four of the five), verdicts differing
  const edited = rightWrongPairs(it.prompt, 'syllables', replies, { noise: 0, seed: 1, maxPairsPerPrompt: 2, edits: true }, new Rng(2));
  assert.deepEqual([edited.natural, edited.edited], [2, 4]);
  for (const r of edited.rankings) assert.deepEqual(r.completions.map(verdict), [true, false]);
  // with noise 1 every pair across tiers is flipped: wrong first
  for (const r of rightWrongPairs(it.prompt, 'syllables', replies, { noise: 1, seed: 1, maxPairsPerPrompt: 100 }, new Rng(2)).rankings) assert.deepEqual(r.completions.map(verdict), [false, true]);
  // rightFirst undoes the labelers' flips: the noisy order back to the checker's, right first
  for (const r of rightWrongPairs(it.prompt, 'syllables', replies, { noise: 1, seed: 1, maxPairsPerPrompt: 100 }, new Rng(2)).rankings) {
    const back = rightFirst(r);
    assert.ok(back);
    assert.deepEqual(back.map(verdict), [true, false]);
    assert.deepEqual(back, [r.completions[1], r.completions[0]]);
  }
  // both right, both wrong, or not a pair: nothing to order
  assert.equal(rightFirst({ prompt: it.prompt, completions: [demo, right2], task: 'syllables' }), undefined);
  assert.equal(rightFirst({ prompt: it.prompt, completions: wrongs.slice(0, 2), task: 'syllables' }), undefined);
  assert.equal(rightFirst({ prompt: it.prompt, completions: [demo, wrongs[0], wrongs[1]], task: 'syllables' }), undefined);
});

test('comparisons: sampledContrasts samples K replies of the decidable prompts only, tallies them, and pairs only right with wrong; deterministic in the seed', () => {
  const items = [...taskExamples('train', 4, 11, ['syllables', 'chat']), ...taskExamples('train', 2, 11, ['definitions'])];
  const corpus = items.map((it) => `${it.prompt} ${JSON.stringify(it.example.conversation)}`).join(' ');
  const tok = trainTokenizer([corpus.repeat(4)], { vocabSize: 320 });
  const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 96, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 3 });
  const opts = { k: 3, temperature: 1, maxTokens: 6, tools: null, seed: 5, noise: 0, maxPairsPerPrompt: 2, edits: true };
  const r = sampledContrasts(model, tok, items, opts);
  // the knowledge family (definitions) is not sampled
  assert.equal(r.tally.prompts, 4);
  assert.ok(r.tally.samples > 0 && r.tally.samples <= 12, JSON.stringify(r.tally));
  assert.equal(r.tally.right + r.tally.wrong, r.tally.samples);
  assert.equal(r.rankings.length, r.tally.natural + r.tally.edited);
  assert.ok(r.tally.natural <= 2 * r.tally.mixedPrompts);
  for (const k of r.rankings) {
    assert.notEqual(k.task, 'definitions');
    assert.deepEqual(
      k.completions.map((c) => rubricScore(k.prompt, c, k.task).correct),
      [true, false],
    );
  }
  assert.deepEqual(sampledContrasts(model, tok, items, opts), r);
  assert.throws(
    () => sampledContrasts(model, tok, items, { ...opts, maxPairsPerPrompt: 0 }),
    (e: Error & { field?: string }) => e.field === 'rm.comparisons.sampledContrasts.maxPairsPerPrompt',
  );
});

// speed46: several prompts decoded together (prompt i's reply j keeps its seed (seed + i)·1000 + j)
test('comparisons: prompts batched together give the replies, rankings and contrasts of one prompt at a time (learned positions: bit for bit)', () => {
  const items = taskExamples('train', 10, 11, ['arithmetic', 'syllables', 'chat']);
  const corpus = items.map((it) => `${it.prompt} ${JSON.stringify(it.example.conversation)}`).join(' ');
  const tok = trainTokenizer([corpus.repeat(4)], { vocabSize: 320 });
  const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 128, nLayer: 1, nHead: 2, nEmbd: 16, position: 'learned' }), { seed: 3 });
  const engine = new ChatEngine(model, tok);
  const prompts = items.map((it) => it.prompt);
  assert.ok(new Set(prompts.map((p) => renderPrompt(tok, { messages: [{ role: 'user', content: p }] }).length)).size > 1, 'prompts of different lengths: the batch is left-padded');
  const seeds = prompts.map((_, i) => (5 + i) * 1000);
  const opts = { temperature: 1, maxTokens: 6 };
  const one = prompts.map((p, i) => engine.replies({ messages: [{ role: 'user', content: p }] }, 3, { ...opts, seed: seeds[i] }).map((r) => r.ids));
  for (const G of [1, 4, 16]) {
    const batched = promptRepliesBatched(engine, prompts, 3, seeds, opts, { group: G }).map((rs) => rs.map((r) => r.ids));
    assert.deepEqual(batched, one, `G = ${G}`);
  }
  const cmp = (G: number) => simulatedComparisons(model, tok, items, { k: 3, temperature: 1, maxTokens: 6, tools: null, seed: 5, noise: 0.1, contrastPairs: 1, promptsPerBatch: G });
  assert.deepEqual(cmp(4), cmp(1));
  const sc = (G: number) => sampledContrasts(model, tok, items, { k: 3, temperature: 1, maxTokens: 6, tools: null, seed: 5, noise: 0.1, maxPairsPerPrompt: 2, edits: true, promptsPerBatch: G });
  assert.deepEqual(sc(3), sc(1));
  assert.throws(() => promptRepliesBatched(engine, prompts, 3, seeds, opts, { group: 0 }), /promptsPerBatch/);
});

test('comparisons: with rotary positions a batched row equals its one-prompt reply wherever the padding leaves the logits the same; the longest prompts bit for bit', () => {
  const items = taskExamples('train', 8, 12, ['arithmetic', 'definitions']);
  const corpus = items.map((it) => `${it.prompt} ${JSON.stringify(it.example.conversation)}`).join(' ');
  const tok = trainTokenizer([corpus.repeat(4)], { vocabSize: 320 });
  const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 128, nLayer: 1, nHead: 2, nEmbd: 16, position: 'rope' }), { seed: 4 });
  const engine = new ChatEngine(model, tok);
  const prompts = items.map((it) => it.prompt);
  const lens = prompts.map((p) => renderPrompt(tok, { messages: [{ role: 'user', content: p }] }).length);
  const seeds = prompts.map((_, i) => (9 + i) * 1000);
  const opts = { temperature: 1, maxTokens: 8 };
  const one = prompts.map((p, i) => engine.replies({ messages: [{ role: 'user', content: p }] }, 2, { ...opts, seed: seeds[i] }).map((r) => r.ids));
  const batched = promptRepliesBatched(engine, prompts, 2, seeds, opts, { group: prompts.length }).map((rs) => rs.map((r) => r.ids));
  const L = Math.max(...lens);
  let same = 0;
  prompts.forEach((_, i) => {
    if (lens[i] === L) assert.deepEqual(batched[i], one[i], `prompt ${i}: not padded, so the same logits and tokens`);
    for (let j = 0; j < 2; j++) if (JSON.stringify(batched[i][j]) === JSON.stringify(one[i][j])) same++;
  });
  // padding shifts rotary positions: rounding only, so a sampled token flips rarely
  assert.ok(same >= 0.75 * prompts.length * 2, `${same} of ${prompts.length * 2} replies identical`);
});
