import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT } from '../../src/model/gpt.js';
import { makeConfig } from '../../src/model/config.js';
import { loadCheckpoint, modelFromCheckpoint, saveCheckpoint } from '../../src/model/checkpoint.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { renderForReward } from '../../src/data/chat.js';
import { fromArray, noGrad } from '../../src/engine/tensor.js';
import * as op from '../../src/engine/ops.js';
import { MixedLoader, pairwiseLoss, poolWeights, rewardsOf, scoreSequences, ShuffledLoader } from '../../src/train/reward.js';

const tok = trainTokenizer(['What is 12 plus 30? It is 42. The answer is 41. '.repeat(20)], { vocabSize: 300 });
const pad = tok.specialId('<|pad|>');
const userEnd = tok.specialId('<|user_end|>');
const conv = (answer: string): number[] =>
  renderForReward(tok, {
    messages: [
      { role: 'user', content: 'What is 12 plus 30?' },
      { role: 'assistant', content: `It is ${answer}.` },
    ],
  });

function model(pool: boolean, seed = 5): GPT {
  const m = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 48, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed, scalarHead: true, scorePool: pool ? { mode: 'last+mean', afterToken: userEnd } : undefined });
  // zero-initialised head: give it values so the rewards differ
  m.params.get('score.weight')!.data.forEach((_, i, a) => (a[i] = Math.sin(i + 1) * 0.5));
  return m;
}

test('poolWeights: ½ on the last token, ½ spread over the reply after the last <|user_end|>; rows sum to 1; no reply keeps it all on the last token', () => {
  const a = conv('42');
  const b = [1, 2, 3];
  const T = a.length + 2;
  const P = poolWeights([a, b], T, userEnd);
  const from = a.lastIndexOf(userEnd) + 1;
  const last = a.length - 1;
  const n = last - from;
  assert.ok(n >= 3, `reply of ${n} tokens`);
  const row0 = P.subarray(0, 2 * T);
  assert.equal(row0[last], 0.5);
  for (let t = 0; t < 2 * T; t++) {
    const want = t === last ? 0.5 : t >= from && t < last ? 0.5 / n : 0;
    assert.ok(Math.abs(row0[t] - want) < 1e-7, `row 0, column ${t}: ${row0[t]} vs ${want}`);
  }
  // row 1 has no <|user_end|>: its reply is everything after its first token, in its own block of columns
  const row1 = P.subarray(2 * T, 4 * T);
  assert.deepEqual([...row1.subarray(0, T)], new Array(T).fill(0));
  assert.deepEqual([...row1.subarray(T, T + 3)], [0, 0.5, 0.5]);
  for (const row of [row0, row1]) assert.ok(Math.abs(row.reduce((s, x) => s + x, 0) - 1) < 1e-6);
  // a reply of no tokens (<|user_end|> right before the last token): all on the last token
  const c = [1, userEnd, 7];
  assert.deepEqual([...poolWeights([c], 3, userEnd)], [0, 0, 1]);
});

test('pooled reward head: equals the head on ½·h_last + ½·mean(reply) computed by hand; padding-invariant; the gradient matches finite differences; off reads the last token', () => {
  const seqs = [conv('42'), conv('41'), conv('1234')];
  const m = model(true);
  const T = Math.max(...seqs.map((s) => s.length));
  const C = m.config.nEmbd;
  const w = m.params.get('score.weight')!.data;
  const bias = m.params.get('score.bias')!.data[0];
  const pooled = scoreSequences(m, seqs, pad);
  noGrad(() => {
    const ids = new Int32Array(seqs.length * T).fill(pad);
    seqs.forEach((s, b) => ids.set(s, b * T));
    const h = m.hidden(ids, seqs.length, T).data;
    seqs.forEach((s, b) => {
      const last = s.length - 1;
      const from = s.lastIndexOf(userEnd) + 1;
      let want = bias;
      for (let c = 0; c < C; c++) {
        let mean = 0;
        for (let t = from; t < last; t++) mean += h[(b * T + t) * C + c];
        mean /= last - from;
        want += w[c] * (0.5 * h[(b * T + last) * C + c] + 0.5 * mean);
      }
      assert.ok(Math.abs(pooled[b] - want) < 1e-4, `row ${b}: ${pooled[b]} vs ${want}`);
    });
  });
  // a row scored alone or beside a longer one (more padding) gets the same reward
  const alone = scoreSequences(m, [seqs[0]], pad)[0];
  const padded = scoreSequences(m, [seqs[0], [...seqs[2], ...seqs[2].slice(1)]], pad)[0];
  assert.ok(Math.abs(alone - padded) < 1e-5, `${alone} vs ${padded}`);
  // the same weights without pooling read the last token only: another reward
  const lastOnly = model(false);
  const plain = scoreSequences(lastOnly, seqs, pad);
  assert.ok(
    plain.some((r, i) => Math.abs(r - pooled[i]) > 1e-3),
    `${plain} vs ${pooled}`,
  );

  // the surrogate's backward through the pooling vs finite differences, on the head and on a token embedding the reply uses
  const sizes = [3];
  const lossAt = (): number => pairwiseLoss(scoreSequences(m, seqs, pad), sizes).loss;
  const rewards = rewardsOf(m, seqs, pad);
  const res = pairwiseLoss(rewards.data, sizes);
  op.sum(op.mul(rewards, fromArray(Float32Array.from(res.grad)))).backward();
  const wte = m.params.get('transformer.wte.weight')!;
  const digit = seqs[0][seqs[0].length - 3];
  const checks: [Float32Array, number, Float32Array][] = [
    [w, 0, m.params.get('score.weight')!.grad!],
    [w, 7, m.params.get('score.weight')!.grad!],
    [wte.data, digit * C + 3, wte.grad!],
    [wte.data, digit * C + 11, wte.grad!],
  ];
  for (const [data, i, grad] of checks) {
    const v = data[i];
    data[i] = v + 1e-2;
    const up = lossAt();
    data[i] = v - 1e-2;
    const dn = lossAt();
    data[i] = v;
    const fd = (up - dn) / 2e-2;
    assert.ok(Math.abs(fd - grad[i]) < 2e-3 + 0.03 * Math.abs(fd), `[${i}]: fd ${fd} vs backward ${grad[i]}`);
  }
});

test('a pooled reward model round-trips through its checkpoint: scorePool recorded, the same scores; a last-token one records none', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-pool-'));
  try {
    const seqs = [conv('42'), conv('41')];
    for (const pool of [true, false]) {
      const m = model(pool);
      const stageDir = join(dir, pool ? 'pooled' : 'last');
      const path = saveCheckpoint(stageDir, m, { stage: 'rm', scalarHead: 'reward', step: 1 });
      const ck = loadCheckpoint(path);
      assert.deepEqual(ck.meta.scorePool, pool ? { mode: 'last+mean', afterToken: userEnd } : undefined);
      const back = modelFromCheckpoint(ck);
      assert.deepEqual(back.scorePool, m.scorePool);
      assert.deepEqual(scoreSequences(back, seqs, pad), scoreSequences(m, seqs, pad));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('MixedLoader: a fixed count from each stream in every batch, each stream cycled on its own; state round-trips', () => {
  const sampled = ['s0', 's1', 's2'];
  const contrast = Array.from({ length: 50 }, (_, i) => `c${i}`);
  const mk = (): MixedLoader<string> => new MixedLoader([new ShuffledLoader(sampled, 2, 1), new ShuffledLoader(contrast, 2, 2)]);
  const a = mk();
  const seenC = new Set<string>();
  const countS = new Map<string, number>();
  for (let i = 0; i < 24; i++) {
    const b = a.next();
    assert.equal(b.length, 4);
    assert.ok(b.slice(0, 2).every((x) => x.startsWith('s')) && b.slice(2).every((x) => x.startsWith('c')), b.join());
    for (const x of b.slice(0, 2)) countS.set(x, (countS.get(x) ?? 0) + 1);
    for (const x of b.slice(2)) seenC.add(x);
  }
  // 48 sampled draws over 3 items: each exactly 16 times (whole epochs); 48 contrast draws: no repeat in the first epoch
  assert.deepEqual([...countS.values()].sort(), [16, 16, 16]);
  assert.equal(seenC.size, 48);
  const st = a.state();
  const next = a.next();
  const b = mk();
  b.restore(JSON.parse(JSON.stringify(st)));
  assert.deepEqual(b.next(), next);
  assert.throws(() => b.restore({ epoch: 0, index: 0 }), /expected 2 mixed streams/);
});
