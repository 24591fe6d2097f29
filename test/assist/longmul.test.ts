import { test } from 'node:test';
import assert from 'node:assert/strict';
import { longMultiplicationMulti, partialProducts } from '../../src/data/synthetic/longmul.js';
import { longResult, scratchpad, THINK_TRIGGER } from '../../src/data/synthetic/longarith.js';
import { GptforgeError } from '../../src/util/errors.js';

/** Every line of a partial-products scratchpad re-derived from the line structure alone. */
function verify(a: string, b: string, pad: string): void {
  const lines = pad.split('\n');
  assert.equal(lines[0], `${a}*${b}`);
  assert.equal(lines[lines.length - 1], `Answer: ${longResult(a, '*', b)}`);
  let i = 1;
  const partials: string[] = [];
  for (let k = 0; k < b.length; k++) {
    const d = b[b.length - 1 - k];
    // the pass is longarith's one-digit scratchpad, its answer line replaced by the shifted partial product
    const pass = scratchpad(a, '*', d).split('\n');
    assert.deepEqual(lines.slice(i, i + pass.length - 1), pass.slice(0, -1));
    i += pass.length - 1;
    const p = BigInt(longResult(a, '*', d)) * 10n ** BigInt(k);
    assert.equal(lines[i++], `=${p}`);
    partials.push(String(p));
  }
  let acc = partials[0];
  for (let k = 1; k < partials.length; k++) {
    const pass = scratchpad(acc, '+', partials[k]).split('\n');
    assert.deepEqual(lines.slice(i, i + pass.length - 1), pass.slice(0, -1));
    i += pass.length - 1;
    acc = longResult(acc, '+', partials[k]);
    if (k < partials.length - 1) assert.equal(lines[i++], `=${acc}`);
  }
  assert.equal(i, lines.length - 1, 'nothing else in the scratchpad');
}

test('partial products: the school method from longarith passes, right for every multiplier digit including 0', () => {
  assert.equal(partialProducts('456', '78').split('\n').slice(-7).join('\n'), '3648+31920\n364+3192|8+0+0=8|8\n36+319|4+2+0=6|68\n3+31|6+9+0=15|568\n+3|3+1+1=5|5568\n+|0+3+0=3|35568\nAnswer: 35568');
  for (const [a, b] of [
    ['456', '78'],
    ['120', '305'],
    ['7', '9'],
    ['99', '99'],
    ['1000', '10'],
    ['31', '4005'],
  ])
    verify(a, b, partialProducts(a, b));
  assert.throws(
    () => partialProducts('12', '3x'),
    (e: unknown) => e instanceof GptforgeError && /digit strings/.test(e.message),
  );
});

test('long-multiplication-multi: held-out split, both modes, checker, and the default fits a 384-token context', () => {
  const train = longMultiplicationMulti.generate('train', 300, 1);
  const test_ = longMultiplicationMulti.generate('test', 100, 1);
  const item = (p: string): string => p.match(/\d+/g)!.slice(0, 2).join('*');
  const seen = new Set(train.map((e) => item(e.prompt)));
  assert.ok(
    test_.every((e) => !seen.has(item(e.prompt))),
    'no test item is a training item',
  );
  let cot = 0;
  for (const e of train) {
    const [a, b] = e.prompt.match(/\d+/g)!;
    assert.ok(a.length >= 2 && a.length <= 3 && b.length === 2, e.prompt);
    const reply = e.conversation.messages[e.conversation.messages.length - 1].content;
    if (e.prompt.endsWith(THINK_TRIGGER)) {
      cot++;
      verify(a, b, reply);
      // characters bound byte-level BPE tokens: the reply and its prompt fit the context with room for the chat tokens
      assert.ok(reply.length + e.prompt.length < 384 - 16, `${reply.length} + ${e.prompt.length}`);
    } else assert.equal(reply, `${a} × ${b} = ${longResult(a, '*', b)}.`);
    assert.ok(longMultiplicationMulti.check(e.prompt, reply));
    assert.ok(!longMultiplicationMulti.check(e.prompt, `Answer: ${BigInt(longResult(a, '*', b)) + 1n}`));
  }
  assert.ok(cot > 100 && cot < 200, `${cot} of 300 step by step`);
  const big = longMultiplicationMulti.generate('train', 20, 2, { variant: { minDigits: 4, maxDigits: 4, minMultiplierDigits: 3, maxMultiplierDigits: 3, mode: 'cot' } });
  assert.ok(big.every((e) => e.prompt.endsWith(THINK_TRIGGER) && /^\d{4}\*\d{3}$/.test(e.conversation.messages[1].content.split('\n')[0])));
  assert.throws(() => longMultiplicationMulti.generate('train', 1, 1, { variant: { minMultiplierDigits: 3, maxMultiplierDigits: 2 } }), /minMultiplierDigits/);
  assert.throws(() => longMultiplicationMulti.generate('train', 1, 1, { variant: { mode: 'sometimes' } }), /mode must be/);
});
