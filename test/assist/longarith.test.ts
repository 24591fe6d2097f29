import { test } from 'node:test';
import assert from 'node:assert/strict';
import { finalNumber, longAddition, longMultiplication, longResult, scratchpad, THINK_TRIGGER } from '../../src/data/synthetic/longarith.js';
import { Rng } from '../../src/engine/rng.js';

test('scratchpad: the worked example, and its answer is exact for random operands up to 12 digits', () => {
  assert.equal(scratchpad('4567', '+', '891'), '4567+891\n456+89|7+1+0=8|8\n45+8|6+9+0=15|58\n4+|5+8+1=14|458\n+|4+0+1=5|5458\nAnswer: 5458');
  assert.equal(scratchpad('4567', '*', '8'), '4567*8\n456|7*8+0=56|6\n45|6*8+5=53|36\n4|5*8+5=45|536\n|4*8+4=36|6536\nAnswer: 36536');
  assert.equal(finalNumber(scratchpad('99', '+', '1')), '100');
  assert.equal(finalNumber(scratchpad('9914', '*', '0')), '0');
  const rng = new Rng(3);
  const num = (d: number): string => String(1 + rng.int(9)) + Array.from({ length: d - 1 }, () => rng.int(10)).join('');
  for (let i = 0; i < 300; i++) {
    const a = num(1 + rng.int(12));
    const b = num(1 + rng.int(12));
    assert.equal(finalNumber(scratchpad(a, '+', b)), String(BigInt(a) + BigInt(b)), `${a}+${b}`);
    const d = String(rng.int(10));
    assert.equal(finalNumber(scratchpad(a, '*', d)), String(BigInt(a) * BigInt(d)), `${a}*${d}`);
  }
  assert.throws(() => scratchpad('12', '*', '34'), /one-digit multiplier/);
  assert.throws(() => scratchpad('1a', '+', '3'), /digit strings/);
});

test('long arithmetic families: the trigger chooses the answer form; the checker accepts them and rejects off-by-one', () => {
  for (const task of [longAddition, longMultiplication]) {
    const exs = task.generate('train', 200, 5);
    let cot = 0;
    for (const e of exs) {
      const reply = e.conversation.messages[1].content;
      const withTrigger = e.prompt.endsWith(THINK_TRIGGER);
      if (withTrigger) cot++;
      assert.equal(reply.includes('Answer:'), withTrigger, e.prompt);
      assert.ok(task.check(e.prompt, reply), `${e.prompt} → ${reply}`);
      const r = BigInt(finalNumber(reply)!);
      assert.equal(task.check(e.prompt, `Answer: ${r + 1n}`), false);
    }
    assert.ok(cot > 60 && cot < 140, `${task.name}: ${cot} of 200 step by step`);
  }
});

test('long arithmetic families: train and test items are disjoint; the digit range holds; modes are forced by the variant', () => {
  const items = (split: 'train' | 'test'): Set<string> => new Set(longAddition.generate(split, 400, 9, { variant: { minDigits: 2, maxDigits: 3 } }).map((e) => /(\d+)\D+(\d+)/.exec(e.prompt)!.slice(1).join('+')));
  const train = items('train');
  for (const t of items('test')) assert.ok(!train.has(t), t);
  for (const e of longAddition.generate('test', 20, 1, { variant: { minDigits: 8, maxDigits: 8, mode: 'cot' } })) {
    const [a, b] = /(\d+)\D+(\d+)/.exec(e.prompt)!.slice(1);
    assert.equal(a.length, 8);
    assert.equal(b.length, 8);
    assert.ok(e.prompt.endsWith(THINK_TRIGGER));
    assert.equal(finalNumber(e.conversation.messages[1].content), longResult(a, '+', b));
  }
  assert.ok(longMultiplication.generate('test', 20, 1, { variant: { mode: 'direct' } }).every((e) => !e.prompt.includes(THINK_TRIGGER)));
  assert.throws(() => longAddition.generate('train', 1, 1, { variant: { minDigits: 0 } }), /minDigits/);
  assert.throws(() => longAddition.generate('train', 1, 1, { variant: { mode: 'loud' } }), /mode/);
});
