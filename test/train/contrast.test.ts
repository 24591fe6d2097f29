import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/rng.js';
import { contrastReply, everyDigitChanged } from '../../src/data/contrast.js';
import { correctnessSource } from '../../src/data/decidable.js';
import { rubricScore } from '../../src/data/labelers.js';
import { completionText, type Completion } from '../../src/data/preferences.js';
import { taskByName } from '../../src/data/synthetic/tasks.js';
import { demonstrationContrasts, simulatedComparisons, taskExamples, writtenDemonstrations } from '../../src/train/comparisons.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';

const DECIDABLE = ['arithmetic', 'syllables', 'rhymes', 'chat'];

test('contrast: a right demonstration made wrong differs only in its answer message, and the checker flips', () => {
  const items = taskExamples('train', 80, 21, DECIDABLE);
  const rng = new Rng(5);
  let made = 0;
  for (const it of items) {
    const reply: Completion = { messages: it.example.conversation.messages.slice(1) };
    const task = taskByName(it.task);
    assert.equal(task.check(it.prompt, completionText(reply)), true);
    const c = contrastReply(it.prompt, task, reply, rng);
    if (!c) continue;
    made++;
    assert.equal(c.correct, false);
    assert.equal(task.check(it.prompt, completionText(c.reply)), false, `${it.task}: ${JSON.stringify(c.reply)}`);
    const a = (reply as { messages: { content: string }[] }).messages;
    const b = (c.reply as { messages: { content: string }[] }).messages;
    assert.equal(b.length, a.length);
    // everything but the answer (tool calls and outputs included) is the same
    assert.equal(a.filter((m, i) => JSON.stringify(m) !== JSON.stringify(b[i])).length, 1);
    // the labelers always prefer the right one: correctness outweighs every other term
    assert.ok(rubricScore(it.prompt, reply, it.task).score > rubricScore(it.prompt, c.reply, it.task).score);
  }
  assert.ok(made >= 0.9 * items.length, `contrasts made for ${made} of ${items.length}`);
});

test('contrast: a wrong arithmetic answer is made right from the calculator output, a wrong syllable count from a small number', () => {
  const rng = new Rng(1);
  const arith = taskExamples('train', 1, 3, ['arithmetic'])[0];
  const msgs = arith.example.conversation.messages.slice(1);
  const result = msgs.find((m) => m.role === 'tool')!.content;
  // the writer mis-copied the calculator's result
  const wrong = { messages: msgs.map((m, i) => (i === msgs.length - 1 ? { ...m, content: `The answer is ${Number(result) + 7}.` } : m)) };
  const fixed = contrastReply(arith.prompt, taskByName('arithmetic'), wrong, rng);
  assert.ok(fixed);
  assert.equal(fixed.correct, true);
  assert.equal(completionText(fixed.reply).endsWith(`The answer is ${result}.`), true, completionText(fixed.reply));

  const syl = taskExamples('train', 1, 3, ['syllables'])[0];
  const s = contrastReply(syl.prompt, taskByName('syllables'), 'There are 0 syllables in it.', rng);
  assert.ok(s);
  assert.equal(s.correct, true);
  assert.equal(taskByName('syllables').check(syl.prompt, completionText(s.reply)), true);
  // a wrong reply with no number to fix has no contrast
  assert.equal(contrastReply(syl.prompt, taskByName('syllables'), 'I do not know.', rng), undefined);
});

test('comparisons: contrastPairs adds two-reply rankings on decidable prompts only, leaves the sampled rankings as they were, and rejects a negative rate', () => {
  const items = taskExamples('train', 8, 11, ['syllables', 'chat', 'kinds']);
  const corpus = items.map((it) => `${it.prompt} ${JSON.stringify(it.example.conversation)}`).join(' ');
  const tok = trainTokenizer([corpus.repeat(4)], { vocabSize: 320 });
  const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 96, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 3 });
  const demos = writtenDemonstrations(items, { writerErrorRate: 0 }, 1);
  const opts = { k: 2, temperature: 1, maxTokens: 4, tools: null, seed: 5, noise: 0 };
  const base = simulatedComparisons(model, tok, items, opts);
  const r = simulatedComparisons(model, tok, items, { ...opts, contrastPairs: 1, contrastDemonstrations: demos });
  const decidable = items.filter((it) => correctnessSource(it.task) === 'decidable').length;
  assert.equal(r.contrast.pairs, decidable, JSON.stringify(r.contrast));
  assert.equal(r.clean.length, base.clean.length + r.contrast.pairs);
  // the sampled rankings are unchanged: the contrast has its own random stream
  const extra = r.clean.filter((x) => !base.clean.some((b) => JSON.stringify(b) === JSON.stringify(x)));
  assert.equal(extra.length, r.contrast.pairs);
  for (const x of extra) {
    const it = items.find((i) => i.prompt === x.prompt)!;
    assert.equal(correctnessSource(it.task), 'decidable');
    assert.equal(x.completions.length, 2);
    // noise 0: the right reply first
    assert.deepEqual(
      x.completions.map((c) => taskByName(it.task).check(it.prompt, completionText(c))),
      [true, false],
    );
  }
  assert.throws(() => simulatedComparisons(model, tok, items, { ...opts, contrastPairs: -1 }), /contrastPairs/);
});

test('comparisons: demonstrationContrasts ranks each demonstration against its wrong copy, with the labelers’ noise', () => {
  const items = taskExamples('train', 200, 9, DECIDABLE);
  const clean = demonstrationContrasts(items, 0, 3);
  assert.ok(clean.length >= 0.9 * items.length, `${clean.length} of ${items.length}`);
  assert.deepEqual(demonstrationContrasts(items, 0, 3), clean, 'deterministic in the seed');
  for (const r of clean) {
    // a prompt may recur (chat's "Hello!"), each time with its own demonstration
    const demos = items.filter((i) => i.prompt === r.prompt).map((i) => JSON.stringify({ messages: i.example.conversation.messages.slice(1) }));
    assert.ok(demos.includes(JSON.stringify(r.completions[0])));
    const task = taskByName(r.task!);
    assert.deepEqual(
      r.completions.map((c) => task.check(r.prompt, completionText(c))),
      [true, false],
    );
  }
  // e_j = 0.5: about half the pairs come out reversed (200 draws: σ ≈ 0.035)
  const noisy = demonstrationContrasts(items, 0.5, 3);
  const reversed = noisy.filter((r, i) => JSON.stringify(r.completions[0]) !== JSON.stringify(clean[i].completions[0])).length / noisy.length;
  assert.ok(Math.abs(reversed - 0.5) < 0.15, `reversed share ${reversed}`);
});

// issue #24: the every-digit probe needs a wrong number of the same length sharing no digit
// position with the right one (a slip of 1..20% often keeps the leading digits)
test('everyDigitChanged: same length and separators, every digit different, no leading zero, deterministic', () => {
  const rng = new Rng(3);
  for (const v of ['7', '0', '302', '88970', '1,024', '12.5', '100000']) {
    for (let k = 0; k < 50; k++) {
      const w = everyDigitChanged(v, rng);
      assert.equal(w.length, v.length, `${v} → ${w}`);
      for (let i = 0; i < v.length; i++) {
        if (/\d/.test(v[i])) assert.notEqual(w[i], v[i], `${v} → ${w} keeps digit ${i}`);
        else assert.equal(w[i], v[i], `${v} → ${w} changes the separator at ${i}`);
      }
      if (v.length > 1) assert.notEqual(w[0], '0', `${v} → ${w} has a leading zero`);
    }
  }
  assert.equal(everyDigitChanged('4821', new Rng(9)), everyDigitChanged('4821', new Rng(9)));
  assert.throws(() => everyDigitChanged('none', new Rng(1)), /has no digit/);
});
