import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pairwiseLoss, renderRankings, softplus, sigmoid, type StrengthUse } from '../../src/train/reward.js';
import { readPreferencesJSONL } from '../../src/data/preferences.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { tempDir } from '../util/tmp.js';

test('margin loss: −log σ(r_c − r_r − s·m), hand-computed; s = 0 or no margins is the plain loss exactly', () => {
  // one pair, d = 1, strength 1, scale 2: softplus(−(1 − 2)) = softplus(1)
  const r = pairwiseLoss([1, 0], [2], undefined, [[1]], { marginScale: 2 });
  assert.ok(Math.abs(r.loss - softplus(1)) < 1e-12);
  assert.ok(Math.abs(r.grad[0] - -sigmoid(1)) < 1e-12);
  assert.ok(Math.abs(r.grad[1] - sigmoid(1)) < 1e-12);
  // accuracy and the logged margin stay about the rewards, not the target margin
  assert.equal(r.correct, 1);
  assert.equal(r.margin, 1);
  const plain = pairwiseLoss([2, 0, -1, 0.5], [4], [[0, 1, 1, 2]]);
  const m = [[1, 0.5, 0.2, 1, 0, 0.3]];
  assert.deepEqual(pairwiseLoss([2, 0, -1, 0.5], [4], [[0, 1, 1, 2]], m, {}), plain);
  assert.deepEqual(pairwiseLoss([2, 0, -1, 0.5], [4], [[0, 1, 1, 2]], m, { marginScale: 0, strengthWeight: 0 }), plain);
  assert.deepEqual(pairwiseLoss([2, 0, -1, 0.5], [4], [[0, 1, 1, 2]], [undefined], { marginScale: 3, strengthWeight: 3 }), plain);
  assert.throws(() => pairwiseLoss([1, 2, 3], [3], undefined, [[1]]), /3 rewards but 1 pair margins/);
});

test('strength weight: each pair weighted 1 + w·m within its ranking, the ranking still one share; hand-computed', () => {
  // pairs (0,1) d=2 m=1, (0,2) d=3 m=0, (1,2) d=1 m=0.5; w = 2: weights 3, 1, 2
  const r = pairwiseLoss([2, 0, -1], [3], undefined, [[1, 0, 0.5]], { strengthWeight: 2 });
  const want = (3 * softplus(-2) + softplus(-3) + 2 * softplus(-1)) / 6;
  assert.ok(Math.abs(r.loss - want) < 1e-12);
  assert.ok(Math.abs(r.grad[0] - -(3 * sigmoid(-2) + sigmoid(-3)) / 6) < 1e-12);
});

test('margin and weight: the gradient matches finite differences, ties and rankings without margins in the batch', () => {
  const h = 1e-6;
  const sizes = [4, 3, 2, 3];
  const tiers = [[0, 0, 1, 2], [0, 1, 1], [0, 0], undefined];
  const margins = [[0, 1, 2 / 3, 1, 1 / 3, 0], undefined, [1], [1, 0, 1 / 3]];
  const base = [0.3, -0.2, 0.9, 0.1, 0.4, -0.7, 1.3, 0.2, -0.4, 0.8, 0.05, -0.3];
  const uses: StrengthUse[] = [{ marginScale: 1 }, { marginScale: 3 }, { strengthWeight: 3 }, { marginScale: 2, strengthWeight: 1 }];
  for (const use of uses) {
    const g = pairwiseLoss(base, sizes, tiers, margins, use).grad;
    for (let i = 0; i < base.length; i++) {
      const up = [...base];
      up[i] += h;
      const dn = [...base];
      dn[i] -= h;
      const fd = (pairwiseLoss(up, sizes, tiers, margins, use).loss - pairwiseLoss(dn, sizes, tiers, margins, use).loss) / (2 * h);
      assert.ok(Math.abs(fd - g[i]) < 1e-7, `${JSON.stringify(use)} grad ${i}: ${fd} vs ${g[i]}`);
    }
  }
});

test('an old comparisons cache (no margin) renders without margins: margin 0 for every pair, the loss unchanged at any scale', () => {
  const tok = trainTokenizer(['Say something nice. good great fine bad awful poor '.repeat(20)], { vocabSize: 300 });
  const f = join(tempDir('gf-rm-margin-'), 'train.jsonl');
  writeFileSync(f, `${[JSON.stringify({ prompt: 'Say something nice.', completions: ['good.', 'fine.', 'bad.'], tiers: [0, 1, 2], task: 'chat' }), JSON.stringify({ prompt: 'Say something nice.', completions: ['great.', 'poor.'], margin: [1] })].join('\n')}\n`);
  const { rankings } = readPreferencesJSONL(f);
  const r = renderRankings(tok, rankings, 64);
  assert.equal(r.rendered[0].margin, undefined);
  assert.deepEqual(r.rendered[1].margin, [1]);
  const rewards = [0.5, 0.1, -0.2, 0.3, 0.4];
  const sizes = r.rendered.map((x) => x.completions.length);
  const withScale = pairwiseLoss(
    rewards,
    sizes,
    r.rendered.map((x) => x.tiers),
    r.rendered.map((x) => x.margin),
    { marginScale: 2 },
  );
  // ranking 0 as the plain loss; ranking 1 with its margin
  const plain0 = pairwiseLoss(rewards.slice(0, 3), [3], [[0, 1, 2]]).loss;
  assert.ok(Math.abs(withScale.loss - (plain0 + softplus(-(0.3 - 0.4 - 2))) / 2) < 1e-12);
});
