import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChatEngine } from '../../src/infer/engine.js';
import { selfConsistency } from '../../src/assist/consistency.js';
import { extractAnswer, vote } from '../../src/assist/vote.js';
import { formatTrace } from '../../src/assist/ask.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { renderForReward } from '../../src/data/chat.js';
import { scoreSequences } from '../../src/train/reward.js';
import { policy, question, tok, V } from './consistency-fixture.js';

// the shared scripted setting (consistency-fixture.ts)

test('self-consistency: one prefill at batch 1 shared by k rows; sample i equals an independent reply with seed + i', () => {
  const model = policy();
  const k = 16;
  const r = selfConsistency(new ChatEngine(model, tok), question, { k, temperature: 1, seed: 40 });
  // the prompt pass ran once, at batch 1; then one row per distinct sample so far (shared histories), not k
  assert.equal(model.batches[0], 1);
  assert.deepEqual(model.batches.slice(1), [new Set(r.samples.map((s) => s.text)).size]);
  // without sharing: every later pass carries the k rows, with the same samples
  const unshared = policy();
  const u = selfConsistency(new ChatEngine(unshared, tok), question, { k, temperature: 1, seed: 40, shareHistories: false });
  assert.equal(unshared.batches[0], 1);
  assert.ok(
    unshared.batches.slice(1).every((b) => b === k),
    unshared.batches.join(','),
  );
  assert.deepEqual(u.samples, r.samples);
  const alone = new ChatEngine(policy(), tok);
  const independent = Array.from({ length: k }, (_, i) => alone.reply(question, { temperature: 1, seed: 40 + i }).text);
  assert.deepEqual(
    r.samples.map((s) => s.text),
    independent,
  );
  // the draws are not all alike (the test would pass vacuously otherwise), and the vote counts them
  assert.ok(new Set(independent).size >= 2, independent.join(' '));
  assert.deepEqual(r.majority, vote(independent));
  // mean log-probability of a one-token reply: log softmax of the scripted logits at that digit (+ the end token's ≈ 0)
  const lse = Math.log(Math.exp(2) + Math.exp(1) + Math.exp(0) + (V - 3) * Math.exp(-30));
  for (const s of r.samples) {
    const d = ['1', '2', '3'].indexOf(s.text);
    assert.ok(Math.abs(s.meanLogprob - (2 - d - lse) / 2) < 1e-3, `${s.text}: ${s.meanLogprob}`);
  }
  assert.equal(r.logprob.answer, '1');
});

test('self-consistency: k = 1 at temperature 0 is the greedy reply; bad k is refused', () => {
  const r = selfConsistency(new ChatEngine(policy(), tok), question, { k: 1, temperature: 0 });
  assert.deepEqual(
    r.samples.map((s) => s.text),
    ['1'],
  );
  assert.equal(r.majority.answer, '1');
  assert.throws(() => selfConsistency(new ChatEngine(policy(), tok), question, { k: 0 }), /k must be a positive integer/);
});

test("self-consistency: the reward vote weighs each sample by softmax of the reward model's scores", () => {
  const rm = new GPT(makeConfig({ vocabSize: V, blockSize: 32, nLayer: 1, nHead: 1, nEmbd: 8 }), { seed: 3, scalarHead: true });
  // a head that separates the replies: random trunk, then a large head weight
  const r = selfConsistency(new ChatEngine(policy(), tok), question, { k: 8, temperature: 1, seed: 2, rewardModel: { model: rm, tok } });
  const seqs = r.samples.map((s) => renderForReward(tok, { messages: [...question.messages, { role: 'assistant', content: s.text }] }));
  const scores = scoreSequences(rm, seqs, tok.specialId('<|pad|>'));
  r.samples.forEach((s, i) => assert.ok(Math.abs(s.reward! - scores[i]) < 1e-5));
  const mx = Math.max(...scores);
  assert.deepEqual(
    r.reward,
    vote(
      r.samples.map((s) => s.answer),
      scores.map((x) => Math.exp(x - mx)),
    ),
  );
  // best-of-k: the answer of the top-scored sample
  const top = scores.indexOf(mx);
  assert.deepEqual(r.rewardBest, { answer: r.samples[top].answer, index: top });
  // the trace names it
  const trace = formatTrace({ technique: 'self-consistency', prompt: 'What is it?', reply: '', answer: r.majority.answer, consistency: r, tokens: 0, ms: 0 });
  assert.ok(trace.includes(`reward best-of-8: ${r.samples[top].answer} (sample ${top + 1})`), trace);
});

test('formatTrace says when a vote is a tie and which sample broke it', () => {
  const answers = ['7', '9', '9', '7', undefined];
  const samples = answers.map((answer, i) => ({ text: `reply ${i}`, answer, meanLogprob: -1, tokens: 3 }));
  const majority = vote(answers);
  const logprob = vote(answers, [1, 1, 2, 1, 1]);
  const trace = formatTrace({ technique: 'self-consistency', prompt: 'q', reply: '', answer: majority.answer, consistency: { samples, majority, logprob, ms: 0 }, tokens: 0, ms: 0 });
  assert.match(trace, /^majority: 7 ×2, 9 ×2 — a tie, broken by the earliest sample \(1\)$/m);
  // a weighted vote that is not tied says nothing of ties
  assert.match(trace, /^logprob-weighted: 9 ×2 \(3\.000\), 7 ×2 \(2\.000\)$/m);
});

test('formatTrace lists the ten best answers of a vote and counts the rest (k = 100 stays readable)', () => {
  const answers = Array.from({ length: 30 }, (_, i) => String(i % 15)); // 15 answers, ×2 each
  const samples = answers.map((answer, i) => ({ text: `reply ${i}`, answer, meanLogprob: -1, tokens: 3 }));
  const majority = vote(answers);
  const logprob = vote(
    answers,
    answers.map((_, i) => 1 + i / 100),
  );
  const trace = formatTrace({ technique: 'self-consistency', prompt: 'q', reply: '', answer: majority.answer, consistency: { samples, majority, logprob, ms: 0 }, tokens: 0, ms: 0 });
  const line = trace.split('\n').find((l) => l.startsWith('logprob-weighted: '))!;
  assert.equal((line.match(/ ×2 /g) ?? []).length, 10, line);
  assert.match(line, /, … 5 more answers$/);
  assert.match(trace, /^majority: 0 ×2, 1 ×2, .*9 ×2, … 5 more answers — a tie, broken by the earliest sample \(1\)$/m);
});

test('free-text answers vote normalised (case, whitespace, a closing full stop) and the answer line says how many agreed', () => {
  const texts = ['Let me think.\nThe  Blue Whale.', 'hmm\nthe blue whale', 'A shark!', 'the blue   whale ?', ''];
  const answers = texts.map((t) => extractAnswer(t));
  assert.deepEqual(answers, ['the blue whale', 'the blue whale', 'a shark', 'the blue whale', undefined]);
  const samples = texts.map((text, i) => ({ text, answer: answers[i], meanLogprob: -1, tokens: 3 }));
  const majority = vote(answers);
  const trace = formatTrace({ technique: 'self-consistency', prompt: 'q', reply: texts[0], answer: majority.answer, consistency: { samples, majority, logprob: vote(answers), ms: 0 }, tokens: 15, ms: 0 });
  assert.match(trace, /^majority: the blue whale ×3, a shark ×1$/m);
  assert.match(trace, /^answer: the blue whale — 3 of 5 samples agreed {2}\(15 tokens sampled, 0\.00 s\)$/m);
});
