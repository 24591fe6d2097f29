import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { type BenchEval, benchTrain, rightAbove } from '../../bench/rm-train.js';
import { renderForReward } from '../../src/data/chat.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import type { RenderedRanking } from '../../src/train/reward.js';

// bench/rm-train.ts is the set-up bench/rm-overfit.ts and bench/rm-calc-synth.ts share: a toy
// preference (earlier words are better) must be learnt through it, the loss it reports must be
// the running mean it says, and its temporary run directory must go.

const tok = trainTokenizer(['Say something nice. good great fine bad awful poor '.repeat(20)], { vocabSize: 300 });
const pad = tok.specialId('<|pad|>');
const words = ['great', 'good', 'fine', 'poor', 'bad', 'awful'];
const reply = (w: string): number[] =>
  renderForReward(tok, {
    messages: [
      { role: 'user', content: 'Say something nice.' },
      { role: 'assistant', content: `${w} ${w}` },
    ],
  });
const pairs: RenderedRanking[] = [];
for (let i = 0; i < words.length; i++) for (let j = i + 1; j < words.length; j++) pairs.push({ completions: [reply(words[i]), reply(words[j])] });

test('bench/rm-train: benchTrain learns a toy preference; rightAbove reads it; the temporary run is removed', async () => {
  const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 48, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 3, scalarHead: true });
  // the head starts at zero: every pair ties, so none is "right above"
  assert.equal(rightAbove(model, pad, pairs).filter(Boolean).length, 0);
  const gone = (): string[] => readdirSync(tmpdir()).filter((f) => f.startsWith('gf-rm-bench-'));
  const before = new Set(gone());
  const evals: BenchEval[] = [];
  await benchTrain({ model, tok, pad, train: pairs, val: pairs, batch: 4, seed: 1, steps: 120, lr: 1e-2, warmup: 5, weightDecay: 0, evalEvery: 40, onEval: (e) => evals.push(e) });
  assert.deepEqual(
    evals.map((e) => e.step),
    [40, 80, 120],
  );
  for (const e of evals) assert.ok(Number.isFinite(e.meanLoss) && e.meanLoss >= 0, `loss ${e.meanLoss}`);
  // a mean over 40 steps each: the first window starts at ln 2 and the last is far below it
  assert.ok(evals[0].meanLoss > 2 * evals[2].meanLoss, `${evals[0].meanLoss} → ${evals[2].meanLoss}`);
  const right = rightAbove(model, pad, pairs).filter(Boolean).length;
  assert.ok(right >= 13, `${right}/15 pairs`);
  assert.equal(Number(evals[2].record['val/accuracy']), right / pairs.length);
  assert.deepEqual(
    gone().filter((f) => !before.has(f)),
    [],
  );
});
