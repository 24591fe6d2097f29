import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstWrongStep, HINT_FILLERS, HINT_LABELS, hintedScratchpad, hintedSum, hintLabel, longAdditionHinted } from '../../src/data/synthetic/longadd-hints.js';
import { finalNumber, parseLong, THINK_TRIGGER } from '../../src/data/synthetic/longarith.js';
import { splitOf } from '../../src/data/synthetic/tasks.js';
import { Rng } from '../../src/engine/rng.js';

/**
 * An independent checker of a hinted scratchpad: parses the text line by line and checks
 * every step against the operands with BigInt / digit arithmetic of its own (not the
 * generator's loop). Returns the first problem found, or undefined.
 */
function checkHinted(a: string, b: string, text: string): string | undefined {
  const lines = text.split('\n');
  const letter = (i: number): number => HINT_LABELS.indexOf(lines[i]?.[0] ?? '?');
  const readLine = (line: string | undefined, name: string): Array<[string, string]> | string => {
    const m = new RegExp(`^${name}:((?:[a-z]\\d)+)$`).exec(line ?? '');
    if (!m) return `${name} line malformed: ${line}`;
    return [...m[1].matchAll(/([a-z])(\d)/g)].map((x) => [x[1], x[2]]);
  };
  const ra = readLine(lines[0], 'A');
  const rb = readLine(lines[1], 'B');
  if (typeof ra === 'string') return ra;
  if (typeof rb === 'string') return rb;
  if (ra.map((x) => x[1]).join('') !== [...a].reverse().join('')) return `A read is not ${a} reversed`;
  if (rb.map((x) => x[1]).join('') !== [...b].reverse().join('')) return `B read is not ${b} reversed`;
  const start = HINT_LABELS.indexOf(ra[0][0]);
  if (rb[0][0] !== ra[0][0]) return 'A and B start at different labels';
  const next = (l: string): string => HINT_LABELS[(HINT_LABELS.indexOf(l) + 1) % 26];
  for (const r of [ra, rb]) for (let k = 1; k < r.length; k++) if (r[k][0] !== next(r[k - 1][0])) return `labels not consecutive at ${k}`;
  const sum = String(BigInt(a) + BigInt(b));
  const columns = Math.max(a.length, b.length, sum.length);
  let carry = 0;
  const ones: string[] = [];
  for (let k = 0; k < columns; k++) {
    const line = lines[2 + k];
    const m = /^([a-z]):(\d)\+(\d)\+(\d)=(\d+)([a-z])$/.exec(line ?? '');
    if (!m) return `column ${k} malformed: ${line}`;
    const label = hintLabel(start, k);
    if (m[1] !== label || m[6] !== label || letter(2 + k) !== HINT_LABELS.indexOf(label)) return `column ${k} label ${m[1]}/${m[6]}, expected ${label}`;
    const x = k < a.length ? a[a.length - 1 - k] : '0';
    const y = k < b.length ? b[b.length - 1 - k] : '0';
    if (m[2] !== x || m[3] !== y) return `column ${k} reads ${m[2]},${m[3]}, expected ${x},${y}`;
    if (Number(m[4]) !== carry) return `column ${k} carry ${m[4]}, expected ${carry}`;
    const s = Number(m[2]) + Number(m[3]) + Number(m[4]);
    if (m[5] !== String(s)) return `column ${k} sum ${m[5]}, expected ${s}`;
    carry = s >= 10 ? 1 : 0;
    ones.push(label + String(s % 10));
  }
  if (carry !== 0) return 'a carry is left after the last column';
  if (lines[2 + columns] !== `Sum:${ones.reverse().join('')}`) return `Sum line ${lines[2 + columns]}`;
  if (lines[3 + columns] !== `Answer: ${sum}`) return `Answer line ${lines[3 + columns]}, expected ${sum}`;
  if (lines.length !== 4 + columns) return 'trailing lines';
  return undefined;
}

test('hinted scratchpad: the worked example, a final carry, label wrap-around, and every step right for 1–12 digits', () => {
  const k = HINT_LABELS.indexOf('k');
  assert.equal(hintedScratchpad('4567', '891', k), 'A:k7l6m5n4\nB:k1l9m8\nk:7+1+0=8k\nl:6+9+0=15l\nm:5+8+1=14m\nn:4+0+1=5n\nSum:n5m4l5k8\nAnswer: 5458');
  assert.equal(hintedScratchpad('99', '1', 24), 'A:y9z9\nB:y1\ny:9+1+0=10y\nz:9+0+1=10z\na:0+0+1=1a\nSum:a1z0y0\nAnswer: 100');
  assert.equal(hintedScratchpad('0', '0', 0), 'A:a0\nB:a0\na:0+0+0=0a\nSum:a0\nAnswer: 0');
  assert.equal(checkHinted('99', '1', hintedScratchpad('99', '1', 24)), undefined);
  const rng = new Rng(11);
  const num = (d: number): string => String(1 + rng.int(9)) + Array.from({ length: d - 1 }, () => rng.int(10)).join('');
  const lengths = new Set<number>();
  for (let i = 0; i < 600; i++) {
    const a = num(1 + rng.int(12));
    const b = num(1 + rng.int(12));
    lengths.add(a.length);
    const pad = hintedScratchpad(a, b, rng.int(26));
    assert.equal(checkHinted(a, b, pad), undefined, `${a}+${b}:\n${pad}`);
    assert.equal(finalNumber(pad), String(BigInt(a) + BigInt(b)));
    assert.equal(hintedSum(pad), String(BigInt(a) + BigInt(b)));
  }
  assert.equal(lengths.size, 12);
  // the independent checker is not a rubber stamp: a dropped carry and a misread digit are caught
  const good = hintedScratchpad('4567', '891', k);
  assert.match(checkHinted('4567', '891', good.replace('m:5+8+1=14m', 'm:5+8+0=13m')) ?? '', /carry/);
  assert.match(checkHinted('4567', '891', good.replace('A:k7l6m5n4', 'A:k7l6m5n3')) ?? '', /A read/);
  assert.throws(() => hintedScratchpad('1'.repeat(26), '1', 0), /at most 25 digits/);
  assert.throws(() => hintedScratchpad('12', '3', 26), /label index/);
  assert.throws(() => hintedScratchpad('1x', '3', 0), /digit strings/);
});

test("long-addition-hints family: the trigger chooses the form, labels start anywhere, the split is long-addition's, the checker rejects off-by-one", () => {
  const exs = longAdditionHinted.generate('train', 300, 5);
  let cot = 0;
  const starts = new Set<string>();
  for (const e of exs) {
    const reply = e.conversation.messages[1].content;
    const withTrigger = e.prompt.endsWith(THINK_TRIGGER);
    const { a, b } = parseLong(e.prompt)!;
    assert.ok(a.length >= 1 && a.length <= 6 && b.length >= 1 && b.length <= 6);
    assert.equal(splitOf(`${a}+${b}`), 'train');
    if (withTrigger) {
      cot++;
      assert.equal(checkHinted(a, b, reply), undefined, `${e.prompt} → ${reply}`);
      starts.add(reply[2]);
    } else assert.equal(reply, `${a} + ${b} = ${BigInt(a) + BigInt(b)}.`);
    assert.ok(longAdditionHinted.check(e.prompt, reply), `${e.prompt} → ${reply}`);
    assert.equal(longAdditionHinted.check(e.prompt, `Answer: ${BigInt(finalNumber(reply)!) + 1n}`), false);
  }
  assert.ok(cot > 100 && cot < 200, `${cot} of 300 step by step`);
  assert.ok(starts.size >= 20, `only ${starts.size} start labels`);
  const long = longAdditionHinted.generate('test', 20, 7, { variant: { minDigits: 8, maxDigits: 8, mode: 'cot' } });
  for (const e of long) {
    const { a, b } = parseLong(e.prompt)!;
    assert.equal(a.length, 8);
    assert.equal(splitOf(`${a}+${b}`), 'test');
    assert.equal(checkHinted(a, b, e.conversation.messages[1].content), undefined);
  }
  assert.throws(() => longAdditionHinted.generate('train', 1, 1, { variant: { maxDigits: 13 } }), /maxDigits/);
});

test('firstWrongStep: names the first step a reply gets wrong, whatever start label it chose', () => {
  const right = hintedScratchpad('4567', '891', 3);
  assert.deepEqual(firstWrongStep(right, '4567', '891'), { step: 'none' });
  assert.deepEqual(firstWrongStep(hintedScratchpad('4567', '891', 20), '4567', '891'), { step: 'none' });
  const lines = right.split('\n');
  const edit = (i: number, s: string): string => lines.map((l, j) => (j === i ? s : l)).join('\n');
  assert.deepEqual(firstWrongStep(edit(0, 'A:d7e6f5'), '4567', '891'), { step: 'A' });
  assert.deepEqual(firstWrongStep(edit(1, 'B:d1e9'), '4567', '891'), { step: 'B' });
  assert.deepEqual(firstWrongStep(edit(3, 'e:6+9+0=16e'), '4567', '891'), { step: 'column', column: 1 });
  assert.deepEqual(firstWrongStep([...lines.slice(0, 5), ...lines.slice(6)].join('\n'), '4567', '891'), { step: 'columns-end', column: 3 });
  assert.deepEqual(firstWrongStep(edit(6, 'Sum:g5f4e5'), '4567', '891'), { step: 'Sum' });
  assert.deepEqual(firstWrongStep(edit(7, 'Answer: 545'), '4567', '891'), { step: 'Answer' });
  assert.deepEqual(firstWrongStep('4567 + 891 = 5458.', '4567', '891'), { step: 'A' });
});

test('long-addition-hints variant: filler sentences move the operands back, cotShare sets the step-by-step share, the default draws the same problems', () => {
  const plain = longAdditionHinted.generate('train', 200, 3);
  const withZero = longAdditionHinted.generate('train', 200, 3, { variant: { filler: 0, cotShare: 0.5 } });
  assert.deepEqual(withZero, plain);
  const varied = longAdditionHinted.generate('train', 400, 3, { variant: { filler: 0.5, cotShare: 0.75 } });
  const filled = varied.filter((e) => HINT_FILLERS.some((f) => e.prompt.includes(f)));
  const cot = varied.filter((e) => e.prompt.endsWith(THINK_TRIGGER));
  assert.ok(filled.length > 150 && filled.length < 250, `${filled.length} of 400 with a filler`);
  assert.ok(cot.length > 260 && cot.length < 340, `${cot.length} of 400 step by step`);
  for (const e of varied) {
    assert.ok(longAdditionHinted.check(e.prompt, e.conversation.messages[1].content));
    const { a, b } = parseLong(e.prompt)!;
    if (e.prompt.endsWith(THINK_TRIGGER)) assert.equal(checkHinted(a, b, e.conversation.messages[1].content), undefined);
  }
  assert.throws(() => longAdditionHinted.generate('train', 1, 1, { variant: { filler: 2 } }), /filler/);
  assert.throws(() => longAdditionHinted.generate('train', 1, 1, { variant: { cotShare: -1 } }), /cotShare/);
});
