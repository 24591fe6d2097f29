import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AbacusConfig, abacusConfigFor, abacusIds, offsetAbacusIds } from '../../src/model/abacus.js';
import { makeConfig, validateConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { configDiff, loadCheckpoint, modelFromCheckpoint, saveCheckpoint } from '../../src/model/checkpoint.js';
import { unsupportedFeatures } from '../../src/model/export/layout.js';
import { noGrad } from '../../src/engine/tensor.js';
import { Rng } from '../../src/engine/rng.js';
import { renderConversation, renderPrompt } from '../../src/data/chat.js';
import { ChatEngine } from '../../src/infer/engine.js';
import { abacusCarries, abacusFirstWrong, abacusScratchpad, abacusSumFirstWrong, abacusSumItems, abacusSumScratchpad, longAdditionAbacus } from '../../src/data/synthetic/longadd-abacus.js';
import { SPECIAL_TOKENS, trainTokenizer } from '../../src/tokenizer/index.js';
import { GptforgeError } from '../../src/util/errors.js';

// Abacus embeddings (McLeish et al. 2024): digit column ids (src/model/abacus.ts), the table
// in GPT.hidden (its gradient, the KV-cache decode, off = unchanged), and the carry scratchpad
// they are measured on (src/data/synthetic/longadd-abacus.ts).

// a toy vocabulary: digits 0–9 are ids 10–19; 1 opens a reply, 2 ends it; "Answer: " is 5 6 7
const D = (s: string): number[] => [...s].map((c) => 10 + Number(c));
const spec: AbacusConfig = { digitTokens: D('0123456789'), replyStart: [1], replyEnd: [2], countdownAfter: [5, 6, 7], maxId: 20, maxOffset: 3 };

test('abacusIds, a worked example: prompt runs from their end, reply runs from their start, the answer counts down from the carry run', () => {
  // "4567 + 891 ?" <reply> "Carry:" 0011 "\n" "Answer: " 5458 <end>
  const toks = [...D('4567'), 30, ...D('891'), 31, 1, 40, ...D('0011'), 41, 5, 6, 7, ...D('5458'), 2];
  const want = [4, 3, 2, 1, 0, 3, 2, 1, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 4, 3, 2, 1, 0];
  assert.deepEqual([...abacusIds(toks, spec)], want);
  // the same digits on the prompt side of a second conversation in the row count from the end again
  assert.deepEqual([...abacusIds([...toks, ...D('12'), 1, ...D('12')], spec)].slice(-5), [2, 1, 0, 1, 2]);
  // a reply run after the marker with no earlier run in the reply counts up; ids are clamped to maxId
  assert.deepEqual([...abacusIds([1, 5, 6, 7, ...D('987')], spec)], [0, 0, 0, 0, 1, 2, 3]);
  assert.equal(abacusIds(D('1'.repeat(25)), spec)[0], 20);
  // countdownIds 'next': the marker's last token and each answer digit carry the column of the digit after it
  assert.deepEqual([...abacusIds(toks, { ...spec, countdownIds: 'next' })].slice(15), [0, 0, 0, 4, 3, 2, 1, 0, 0]);
  assert.deepEqual([...abacusIds(toks, { ...spec, countdownIds: 'next' })].slice(0, 15), want.slice(0, 15));
});

test('offsetAbacusIds: one offset per row, digits only, clamped', () => {
  const ids = Int32Array.from([0, 1, 2, 0, 20, 0, 1, 2, 3, 0]);
  const out = offsetAbacusIds(Int32Array.from(ids), 2, 5, spec, new Rng(3));
  for (let b = 0; b < 2; b++) {
    const r = new Set<number>();
    for (let t = b * 5; t < b * 5 + 5; t++) {
      if (ids[t] === 0) assert.equal(out[t], 0);
      else if (out[t] < spec.maxId) r.add(out[t] - ids[t]);
    }
    assert.ok(r.size <= 1, `row ${b}: one offset, got ${[...r]}`);
    for (const x of r) assert.ok(x >= 0 && x <= spec.maxOffset);
  }
});

test('offsetAbacusIds with stretch (model AB5): a random increasing map of column values per row — banks, zeros and equal ids kept, far columns brought together', () => {
  const W = 16;
  const items: AbacusConfig = { ...spec, maxId: 3 * W, items: { after: [8], bank: W }, stretch: 1 };
  // one row: column values 1..8 in each of the three banks, and zeros
  const row1 = [0, ...[1, 2, 3, 4, 5, 6, 7, 8].flatMap((v) => [v, W + v, 2 * W + v, 0])];
  const T = row1.length;
  const B = 300;
  const ids = new Int32Array(B * T);
  for (let b = 0; b < B; b++) ids.set(row1, b * T);
  offsetAbacusIds(ids, B, T, items, new Rng(3));
  let farApart = 0;
  let changed = 0;
  for (let b = 0; b < B; b++) {
    const r = ids.subarray(b * T, (b + 1) * T);
    const g = (v: number, bank: number): number => r[1 + 4 * (v - 1) + bank];
    for (let t = 0; t < T; t++) if (row1[t] === 0) assert.equal(r[t], 0);
    for (let v = 1; v <= 8; v++) {
      for (let bank = 0; bank < 3; bank++) {
        const id = g(v, bank);
        assert.ok(id > bank * W && id <= (bank + 1) * W, `row ${b}: value ${v} of bank ${bank} stays in its bank, got ${id}`);
        assert.equal(id - bank * W, g(v, 0), 'one map for every bank');
      }
      if (v > 1) assert.ok(g(v, 0) > g(v - 1, 0), `row ${b}: increasing`);
    }
    if (g(8, 0) - g(2, 0) >= 10) farApart++;
    if (g(1, 0) !== 1 || g(8, 0) !== 8) changed++;
  }
  // the shift keeps g(8) − g(2) = 6; the map spreads columns 2 and 8 up to 14 apart
  assert.ok(farApart > 10, `rows with columns 2 and 8 ≥ 10 apart: ${farApart}`);
  assert.ok(changed > B * 0.9);
  // stretch 0 of the rows: the plain shift (ids − row1 is one r per row)
  const plain = Int32Array.from(row1);
  offsetAbacusIds(plain, 1, T, { ...items, stretch: 0, maxOffset: 3 }, new Rng(4));
  const shifts = new Set(row1.map((v, t) => (v ? plain[t] - v : -1)).filter((d) => d >= 0));
  assert.equal(shifts.size, 1);
  // validated: a share in [0, 1], with items
  const cfgBase = { vocabSize: 40, blockSize: 32, nLayer: 1, nHead: 1, nEmbd: 8 };
  assert.throws(() => makeConfig({ ...cfgBase, abacus: { ...items, stretch: 1.5 } }), /abacus.stretch/);
  assert.throws(() => makeConfig({ ...cfgBase, abacus: { ...spec, stretch: 0.5 } }), /abacus.stretch/);
  assert.doesNotThrow(() => makeConfig({ ...cfgBase, abacus: { ...items, stretch: 0.5 } }));
});

test('with a real tokenizer every digit of the carry scratchpad has its column as id (prompt, carries, answer)', () => {
  const exs = longAdditionAbacus.generate('train', 60, 5, { variant: { minDigits: 1, maxDigits: 8, mode: 'cot' } });
  const tok = trainTokenizer(
    exs.flatMap((e) => [e.prompt, e.conversation.messages[1].content]),
    { vocabSize: 300, pattern: 'gpt4-digits' },
  );
  const a = abacusConfigFor(tok, { maxId: 40, maxOffset: 0 });
  for (const e of exs) {
    const { ids } = renderConversation(tok, { messages: [{ role: 'user', content: e.prompt }, ...e.conversation.messages.slice(1)] });
    const col = abacusIds(ids, a);
    // the digits with their ids, in order, as "digit:id"
    const got = ids.flatMap((t, i) => (col[i] > 0 ? [`${tok.decode([t])}:${col[i]}`] : []));
    const [x, y] = e.prompt.match(/\d+/g)!;
    const sig = (s: string): string[] => [...s].map((d, i) => `${d}:${s.length - i}`);
    const carries = abacusCarries(x, y);
    const sum = String(BigInt(x) + BigInt(y));
    assert.equal(sum.length, carries.length, `${x}+${y}: the answer is as long as the carry run`);
    const want = [...sig(x), ...sig(y), ...[...carries].map((c, i) => `${c}:${i + 1}`), ...sig(sum)];
    assert.deepEqual(got, want, `${x}+${y}`);
  }
  assert.throws(() => abacusConfigFor({ encode: (s: string) => (s === '7' ? [1, 2] : [3]), specialId: () => 0 }), /one token per digit/);
});

test('the carry scratchpad and its first-wrong-step reader', () => {
  assert.equal(abacusScratchpad('4567', '891'), 'Carry:0011\nAnswer: 5458');
  assert.equal(abacusCarries('95', '7'), '011');
  assert.equal(abacusCarries('0', '0'), '0');
  assert.deepEqual(abacusFirstWrong('Carry:0011\nAnswer: 5458', '4567', '891'), { step: 'none' });
  assert.deepEqual(abacusFirstWrong('Carry:0111\nAnswer: 5558', '4567', '891'), { step: 'carry', column: 2 });
  assert.deepEqual(abacusFirstWrong('Carry:0011\nAnswer: 5448', '4567', '891'), { step: 'answer', column: 2 });
  assert.deepEqual(abacusFirstWrong('5458', '4567', '891'), { step: 'format' });
  assert.ok(longAdditionAbacus.check('What is 4567 plus 891?', 'Carry:0011\nAnswer: 5458'));
});

const V = 40;
const base = { vocabSize: V, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 16, position: 'rope' as const };

function row(seed: number, T: number): Int32Array {
  // a prompt with two numbers, a reply with a carry run and a marked answer, random elsewhere
  const rng = new Rng(seed);
  const dig = (n: number): number[] => Array.from({ length: n }, () => 10 + rng.int(10));
  const t = [30, ...dig(3), 31, ...dig(2), 32, 1, 33, ...dig(3), 34, 5, 6, 7, ...dig(3), 2];
  while (t.length < T) t.push(20 + rng.int(20));
  return Int32Array.from(t.slice(0, T));
}

test('the abacus table gets the gradient of the loss (central differences)', () => {
  const m = new GPT(makeConfig({ ...base, abacus: { ...spec, maxOffset: 0 } }), { seed: 2 });
  const table = m.params.get('transformer.abacus.weight')!;
  assert.deepEqual(table.shape, [spec.maxId + 1, 16]);
  const B = 2;
  const T = 24;
  const ids = Int32Array.from([...row(1, T), ...row(2, T)]);
  const targets = Int32Array.from([...ids.subarray(1), 3]);
  const loss = m.loss(ids, targets, B, T, undefined, 'sum');
  loss.backward();
  const g = Float32Array.from(table.grad!);
  const f = (): number => noGrad(() => m.loss(ids, targets, B, T, undefined, 'sum')).data[0];
  let checked = 0;
  // rows 0 (non-digits) to 3 occur; a row past the longest run gets no gradient
  for (const r of [0, 1, 2, 3, 15]) {
    for (const c of [0, 5, 11]) {
      const i = r * 16 + c;
      const x = table.data[i];
      const eps = 1e-2;
      table.data[i] = x + eps;
      const up = f();
      table.data[i] = x - eps;
      const down = f();
      table.data[i] = x;
      const num = (up - down) / (2 * eps);
      if (r === 15) assert.equal(g[i], 0);
      else assert.ok(Math.abs(num - g[i]) <= 2e-2 * Math.max(1, Math.abs(num)), `row ${r} col ${c}: numeric ${num}, analytic ${g[i]}`);
      checked++;
    }
  }
  assert.equal(checked, 15);
  assert.ok(Math.abs(g[16]) > 1e-4, 'a digit row has a nonzero gradient');
});

test('abacus off is bit-identical: no table; with the table zeroed, the same logits as a model without it', () => {
  const off = new GPT(makeConfig(base), { seed: 6 });
  assert.ok(![...off.params.keys()].some((k) => k.includes('abacus')));
  const on = new GPT(makeConfig({ ...base, abacus: spec }), { seed: 6 });
  for (const [k, p] of on.params) p.data.set(k === 'transformer.abacus.weight' ? new Float32Array(p.size) : off.params.get(k)!.data);
  const ids = Int32Array.from([...row(3, 20), ...row(4, 20)]);
  const a = noGrad(() => off.forward(ids, 2, 20)).data;
  assert.deepEqual(noGrad(() => on.forward(ids, 2, 20)).data, a);
  // and the table matters once it is not zero
  on.params.get('transformer.abacus.weight')!.data.forEach((_, i, d) => (d[i] = Math.sin(i) * 0.5));
  const b = noGrad(() => on.forward(ids, 2, 20)).data;
  assert.ok(a.some((v, i) => Math.abs(v - b[i]) > 1e-3));
});

/** Largest absolute difference of two arrays. */
const diff = (x: Float32Array, y: Float32Array): number => x.reduce((mx, v, i) => Math.max(mx, Math.abs(v - y[i])), 0);

/** Decode `seq` (one row) through a KV cache in chunks that split digit runs; the logits of every position. */
function decodeChunks(m: GPT, seq: Int32Array): { out: Float32Array; cache: ReturnType<GPT['createCache']> } {
  const cache = m.createCache(1);
  const out = new Float32Array(seq.length * V);
  let t0 = 0;
  for (const n of [10, 1, 1, 3, 1, 1, 7]) {
    out.set(noGrad(() => m.forward(seq.subarray(t0, t0 + n), 1, n, cache)).data, t0 * V);
    t0 += n;
  }
  return { out, cache };
}

test('a KV-cache decode computes the same ids as the full forward (chunks, left padding, copyRow, expand)', () => {
  const m = new GPT(makeConfig({ ...base, abacus: spec }), { seed: 8 });
  m.params.get('transformer.abacus.weight')!.data.forEach((_, i, d) => (d[i] = Math.sin(i) * 0.5));
  const T = 24;
  const seq = row(5, T);
  const full = noGrad(() => m.forward(seq, 1, T)).data;
  // decode in chunks that split digit runs (prompt run ends are known at the chunk that closes them: prefill the prompt whole)
  const { out } = decodeChunks(m, seq);
  assert.ok(diff(out, full) < 1e-4, `cached vs full: ${diff(out, full)}`);
  // a left-padded row (3 pads before start) gives the same last logits
  const padded = m.createCache(1);
  padded.starts[0] = 3;
  const withPad = Int32Array.from([0, 0, 0, ...seq.subarray(0, T - 4)]);
  const p = noGrad(() => m.forward(withPad, 1, T - 1, padded)).data;
  const want = noGrad(() => m.forward(seq.subarray(0, T - 4), 1, T - 4)).data;
  assert.ok(diff(p.subarray((T - 2) * V), want.subarray((T - 5) * V)) < 1e-4);
  // copies carry the row's tokens, so the next token's id continues the row
  const c2 = m.createCache(2);
  noGrad(() => m.forward(seq.subarray(0, T - 1), 1, T - 1, c2, Int32Array.from([0])));
  c2.copyRow(0, [1]);
  const wide = c2.expand(3, 0);
  const last = seq.subarray(T - 1);
  const wantLast = full.subarray((T - 1) * V);
  assert.ok(diff(noGrad(() => m.forward(last, 1, 1, c2, Int32Array.from([1]))).data, wantLast) < 1e-4);
  assert.ok(diff(noGrad(() => m.forward(last, 1, 1, wide, Int32Array.from([2]))).data, wantLast) < 1e-4);
});

test('abacus ids with randomized position ids (model AB5): a KV-cache decode in chunks equals the full forward at the drawn ids, and the ids change the output', () => {
  const m = new GPT(makeConfig({ ...base, abacus: spec, randomPositions: 48 }), { seed: 9 });
  m.params.get('transformer.abacus.weight')!.data.forEach((_, i, d) => (d[i] = Math.sin(i) * 0.5));
  // sharper attention than the initial weights give, so positions visibly matter
  for (const [name, t] of m.params) if (name.includes('attn')) t.data.forEach((_, i, d) => (d[i] = Math.sin(7 * i + 1) * 0.4));
  const T = 24;
  const seq = row(6, T);
  const { out, cache } = decodeChunks(m, seq);
  const drawn = cache.positionIds!.slice(0, T);
  for (let t = 1; t < T; t++) assert.ok(drawn[t] > drawn[t - 1], `ids increase at ${t}: ${drawn.join(' ')}`);
  assert.ok(drawn[T - 1] - drawn[0] > T - 1, `some gap > 1: ${drawn.join(' ')}`);
  const full = noGrad(() => m.forward(seq, 1, T, undefined, undefined, drawn)).data;
  assert.ok(diff(out, full) < 1e-4, `cached vs full at the drawn ids: ${diff(out, full)}`);
  const consecutive = noGrad(() =>
    m.forward(
      seq,
      1,
      T,
      undefined,
      undefined,
      Int32Array.from({ length: T }, (_, i) => i),
    ),
  ).data;
  assert.ok(diff(full, consecutive) > 1e-4, 'the drawn ids are used');
});

test('config.abacus is validated, survives a checkpoint, and export refuses it', () => {
  assert.throws(
    () => makeConfig({ ...base, abacus: { ...spec, digitTokens: [10, 99] } }),
    (e: unknown) => e instanceof GptforgeError && /abacus.digitTokens/.test(String(e)),
  );
  assert.throws(() => validateConfig(makeConfig({ ...base, abacus: { ...spec, maxId: 0 } })), /maxId/);
  assert.throws(() => makeConfig({ ...base, abacus: { ...spec, initStd: -1 } }), /initStd/);
  assert.throws(() => makeConfig({ ...base, abacus: { ...spec, countdownIds: 'last' as 'next' } }), /countdownIds/);
  // initStd sets the table's spread
  const wide = new GPT(makeConfig({ ...base, abacus: { ...spec, initStd: 0.5 } }), { seed: 1 }).params.get('transformer.abacus.weight')!.data;
  const rms = Math.sqrt(wide.reduce((t, v) => t + v * v, 0) / wide.length);
  assert.ok(rms > 0.4 && rms < 0.6, `rms ${rms}`);
  const cfg = makeConfig({ ...base, abacus: spec });
  assert.ok(unsupportedFeatures(cfg).some((s) => s.startsWith('abacus')));
  assert.deepEqual(unsupportedFeatures(makeConfig(base)), []);
  const dir = mkdtempSync(join(tmpdir(), 'gptforge-abacus-'));
  try {
    const m = new GPT(cfg, { seed: 2 });
    const ck = saveCheckpoint(dir, m, { step: 1, stage: 'sft' });
    const back = modelFromCheckpoint(loadCheckpoint(ck));
    assert.deepEqual(back.config.abacus, spec);
    // a resume compares the checkpoint's config with the run's by value (an abacus model can resume), and still sees a change
    const loaded = loadCheckpoint(ck).meta.model;
    assert.equal(configDiff(loaded, makeConfig({ ...base, abacus: { ...spec } })), null);
    assert.equal(configDiff(loaded, makeConfig({ ...base, abacus: { ...spec, maxOffset: 4 } }))?.field, 'abacus');
    assert.deepEqual(back.params.get('transformer.abacus.weight')!.data, m.params.get('transformer.abacus.weight')!.data);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the chat engine's batched greedy decode (left-padded prompts, KV cache) equals a greedy decode by full forwards", () => {
  const texts = longAdditionAbacus.generate('train', 40, 9, { variant: { minDigits: 1, maxDigits: 6, mode: 'cot' } }).flatMap((e) => [e.prompt, e.conversation.messages[1].content]);
  const tok = trainTokenizer(texts, { vocabSize: 300, pattern: 'gpt4-digits' });
  const m = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 96, nLayer: 2, nHead: 2, nEmbd: 16, position: 'rope', abacus: abacusConfigFor(tok, { maxId: 12, initStd: 0.5 }) }), { seed: 4 });
  // sharper attention than the initialisation's, so the ids move the greedy choices
  for (const [name, p] of m.params) if (name.endsWith('attn.c_attn.weight')) for (let i = 0; i < p.size; i++) p.data[i] *= 15;
  const convs = ["What is 4567 plus 891? Let's think step by step.", 'Add 12 and 9.'].map((content) => ({ messages: [{ role: 'user' as const, content }] }));
  const end = tok.specialId('<|assistant_end|>');
  const banned = new Set(SPECIAL_TOKENS.filter((n) => n !== '<|assistant_end|>' && tok.hasSpecial(n)).map((n) => tok.specialId(n)));
  const replies = new ChatEngine(m, tok).repliesTo(convs, [1, 1], { temperature: 0, maxTokens: 12 });
  convs.forEach((c, i) => {
    const seq = renderPrompt(tok, c);
    const out: number[] = [];
    let exact = true; // false after a near tie: another kernel path's rounding may pick the other token
    for (let s = 0; s < 12 && exact; s++) {
      const logits = noGrad(() => m.forward(Int32Array.from(seq), 1, seq.length)).data.subarray((seq.length - 1) * tok.vocabSize);
      let best = -1;
      let second = -Infinity;
      for (let v = 0; v < tok.vocabSize; v++) {
        if (banned.has(v)) continue; // the engine never samples these
        if (best < 0 || logits[v] > logits[best]) {
          if (best >= 0) second = logits[best];
          best = v;
        } else if (logits[v] > second) second = logits[v];
      }
      if (logits[best] - second < 1e-3) exact = false;
      out.push(best);
      if (best === end) break;
      seq.push(best);
    }
    const n = exact ? out.length : out.length - 1;
    assert.ok(n >= 3, `conversation ${i}: a near tie at token ${n}, too early to compare`);
    assert.deepEqual(replies[i].ids.slice(0, n), out.slice(0, n), `conversation ${i}`);
  });
});

for (const marker of ['Sum:', 'Sum,'])
  test(`the Sum-line layout (abacus.items, marker ${marker}): with a real tokenizer, every token of 60 rendered replies gets the id of the lookup it drives`, () => {
    const exs = longAdditionAbacus.generate('train', 60, 5, { variant: { minDigits: 1, maxDigits: 8, mode: 'cot', layout: 'sum', filler: 0.5, sumMarker: marker } });
    const tok = trainTokenizer(
      exs.flatMap((e) => [e.prompt, e.conversation.messages[1].content]),
      { vocabSize: 300, pattern: 'gpt4-digits' },
    );
    const W = 16;
    const a = abacusConfigFor(tok, { maxOffset: 0, sumMarker: marker });
    assert.equal(a.maxId, 3 * W);
    assert.deepEqual(a.items, { after: tok.encode(marker), bank: W });
    assert.equal(tok.decode(a.items!.after), marker);
    for (const e of exs) {
      const { ids } = renderConversation(tok, { messages: [{ role: 'user', content: e.prompt }, ...e.conversation.messages.slice(1)] });
      const col = abacusIds(ids, a);
      const got = ids.flatMap((t, i) => (col[i] > 0 ? [`${tok.decode([t])}:${col[i]}`] : []));
      const [x, y] = e.prompt.match(/\d+/g)!;
      const sig = (s: string, bank: number): string[] => [...s].map((d, i) => `${d}:${bank + s.length - i}`);
      const items = abacusSumItems(x, y);
      const sum = String(BigInt(x) + BigInt(y));
      assert.equal(sum.length, items.length, `${x}+${y}: one item per answer digit`);
      // the prompt: the first operand in bank 0, the second in bank 1; the Sum line: ':' → 1, each
      // item's first '+' → W + k (look up y), D → 2W + k, the ',' after it → k + 1 (the next x);
      // "Answer: "'s last token → 2W + m, answer digit of column k → 2W + k − 1 (units: none)
      const line: string[] = [`${tok.decode(a.items!.after.slice(-1))}:1`, ...items.flatMap((it, k) => [`+:${W + k + 1}`, `${it.d}:${2 * W + k + 1}`, `,:${k + 2}`])];
      const answer = [...sum].slice(0, -1).map((d, i) => `${d}:${2 * W + sum.length - 1 - i}`);
      const want: string[] = [...sig(x, 0), ...sig(y, W), ...line, `${tok.decode(a.countdownAfter.slice(-1))}:${2 * W + items.length}`, ...answer];
      assert.deepEqual(got, want, `${x}+${y}`);
    }
    // a direct reply keeps the from-start rule; a prompt's third number goes back to bank 0
    const { ids } = renderConversation(tok, {
      messages: [
        { role: 'user', content: 'Add 12, 345 and 6.' },
        { role: 'assistant', content: '12 + 345 = 357.' },
      ],
    });
    const got = Array.from(abacusIds(ids, a)).filter((v) => v > 0);
    assert.deepEqual(got, [2, 1, W + 3, W + 2, W + 1, 1, 1, 2, 1, 2, 3, 1, 2, 3]);
  });

test('abacusSumScratchpad writes one x+y+c=TD item per column, units first, and abacusSumFirstWrong finds the first wrong field', () => {
  assert.equal(abacusSumScratchpad('4567', '891'), 'Sum:7+1+0=08,6+9+0=15,5+8+1=14,4+0+1=05, \nAnswer: 5458');
  assert.equal(abacusSumScratchpad('95', '7'), 'Sum:5+7+0=12,9+0+1=10,0+0+1=01, \nAnswer: 102');
  assert.equal(abacusSumScratchpad('95', '7', 'Sum,'), 'Sum,5+7+0=12,9+0+1=10,0+0+1=01, \nAnswer: 102');
  assert.deepEqual(abacusSumFirstWrong('Sum,5+7+0=12,9+0+1=10, \nAnswer: 102', '95', '7'), { step: 'count', column: 3 });
  assert.throws(() => longAdditionAbacus.generate('train', 1, 1, { variant: { layout: 'sum', sumMarker: 'Sum=' } }), GptforgeError);
  assert.deepEqual(abacusSumFirstWrong(abacusSumScratchpad('4567', '891'), '4567', '891'), { step: 'none' });
  assert.deepEqual(abacusSumFirstWrong('Sum:7+1+0=08,6+9+0=15,5+8+0=13,4+0+1=05, \nAnswer: 5358', '4567', '891'), { step: 'c', column: 3 });
  assert.deepEqual(abacusSumFirstWrong('Sum:7+1+0=08,6+9+0=15,5+8+1=14, \nAnswer: 458', '4567', '891'), { step: 'count', column: 4 });
  assert.deepEqual(abacusSumFirstWrong('Sum:7+1+0=08,6+9+0=15,5+8+1=14,4+0+1=05, \nAnswer: 5448', '4567', '891'), { step: 'answer', column: 2 });
  assert.deepEqual(abacusSumFirstWrong('Sum:7+1+0=08,6+8+0=15,', '4567', '891'), { step: 'format' });
  assert.throws(() => longAdditionAbacus.generate('train', 1, 1, { variant: { layout: 'column' } }), GptforgeError);
  const check = (seed: number, split: 'train' | 'test') => longAdditionAbacus.generate(split, 20, seed, { variant: { layout: 'sum', mode: 'cot' } });
  assert.deepEqual(check(3, 'train'), check(3, 'train'));
  for (const e of check(3, 'test')) {
    const [x, y] = e.prompt.match(/\d+/g)!;
    assert.equal(e.conversation.messages[1].content, abacusSumScratchpad(x, y));
    assert.equal(longAdditionAbacus.check(e.prompt, e.conversation.messages[1].content), true);
  }
});

test('the Sum-line layout: a reply token’s id depends only on the tokens up to it (what a decode sees), and abacus.items is validated', () => {
  const exs = longAdditionAbacus.generate('train', 20, 8, { variant: { minDigits: 1, maxDigits: 7, mode: 'both', layout: 'sum' } });
  const tok = trainTokenizer(
    exs.flatMap((e) => [e.prompt, e.conversation.messages[1].content]),
    { vocabSize: 300, pattern: 'gpt4-digits' },
  );
  const a = abacusConfigFor(tok, { maxOffset: 0, sumMarker: 'Sum:', bank: 12 });
  assert.equal(a.maxId, 36);
  const start = tok.specialId('<|assistant_start|>');
  for (const e of exs) {
    const { ids } = renderConversation(tok, { messages: [{ role: 'user', content: e.prompt }, ...e.conversation.messages.slice(1)] });
    const full = abacusIds(ids, a);
    for (let i = ids.indexOf(start) + 1; i <= ids.length; i++) {
      const part = abacusIds(ids.slice(0, i), a);
      assert.deepEqual(Array.from(part), Array.from(full.subarray(0, i)), `${e.prompt}: prefix of ${i}`);
    }
  }
  const base = makeConfig({ vocabSize: tok.vocabSize, blockSize: 64, nLayer: 1, nHead: 1, nEmbd: 8, position: 'rope' });
  for (const items of [
    { after: [], bank: 12 },
    { after: a.items!.after, bank: 13 },
    { after: a.items!.after, bank: 1 },
    { after: [tok.vocabSize], bank: 12 },
  ])
    assert.throws(
      () => validateConfig({ ...base, abacus: { ...a, items } }, 'config.json'),
      (e: unknown) => e instanceof GptforgeError && /abacus\.items/.test(e.message),
    );
  validateConfig({ ...base, abacus: a }, 'config.json');
});
