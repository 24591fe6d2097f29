import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT } from '../../src/model/gpt.js';
import { makeConfig } from '../../src/model/config.js';
import { saveCheckpoint } from '../../src/model/checkpoint.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { referenceLogProbs, trainDpo } from '../../src/train/dpo.js';
import { toyDpoPairs } from './fixture.js';
import { trainRL, actionLogProbs, DEFAULT_RL, type RLConfig } from '../../src/train/rl.js';
import { prepareAdapter, sftDefaultTopTokens } from '../../src/train/adapter.js';
import { loadModel } from '../../src/run/models.js';
import type { TrainConfig } from '../../src/train/loop.js';
import { renderForReward } from '../../src/data/chat.js';
import { ShuffledLoader, trainRewardModel, evaluateRankings, type RenderedRanking } from '../../src/train/reward.js';

/** DPO and RL with a LoRA adapter on a quantized base: the reference is the base with the adapter off, and the base never moves. */
const cfg = (maxSteps: number, lr: number): TrainConfig => ({ maxSteps, lr, minLr: lr, warmupSteps: 0, weightDecay: 0, beta1: 0.9, beta2: 0.99, gradClip: 1, gradAccum: 1, evalEvery: 0, checkpointEvery: 0, keepLast: 1 });

test('DPO with LoRA on a Q8_0 base: the reference is the adapter-free base, which stays fixed while the policy learns', async (t) => {
  const { tok, pairs } = toyDpoPairs();
  const config = makeConfig({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 32 });
  const dir = mkdtempSync(join(tmpdir(), 'gf-lora-dpo-'));
  try {
    const baseDir = saveCheckpoint(join(dir, 'sft'), new GPT(config, { seed: 9 }), { stage: 'sft', step: 1, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
    const { model } = loadModel(baseDir, undefined, { fresh: true });
    const adapter = prepareAdapter('dpo', model, baseDir, { lora: 'r=4,alpha=16,targets=all-linear', basePrecision: 'q8_0' })!;
    const pad = tok.specialId('<|pad|>');
    const refLp = adapter.lora.withAdaptersDisabled(() => referenceLogProbs(model, pairs, pad));
    const res = await trainDpo({ model, adapter, pairs, ref: refLp, val: pairs, valRef: refLp, pairsPerBatch: 4, beta: 0.1, padId: pad, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() }, cfg(30, 1e-2), { runDir: dir, stageDir: join(dir, 'dpo'), quiet: true });
    t.diagnostic(`val loss ${res.lastEval['val/loss'].toFixed(4)}, accuracy ${res.lastEval['val/rewards/accuracies']}`);
    assert.equal(res.lastEval['val/rewards/accuracies'], 1);
    assert.ok(res.lastEval['val/loss'] < Math.LN2 - 0.1, `loss ${res.lastEval['val/loss']}`);
    assert.deepEqual(
      adapter.lora.withAdaptersDisabled(() => referenceLogProbs(model, pairs, pad)),
      refLp,
      'the frozen base gives the same reference after training',
    );
    assert.ok(existsSync(join(res.checkpoint!, 'adapter_model.safetensors')) && !existsSync(join(res.checkpoint!, 'model.safetensors')));
    // the saved DPO stage loads as a full model that prefers the chosen reply over the SFT base
    const merged = loadModel(res.checkpoint!).model;
    const after = referenceLogProbs(merged, pairs.slice(0, 1), pad);
    assert.ok(after.chosen[0] - refLp.chosen[0] > after.rejected[0] - refLp.rejected[0]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('RL (PPO) with LoRA on a Q4_0 base: policy, value head and reference share one base; KL starts at 0; the base does not move', async () => {
  const tok = trainTokenizer(['Say the magic word. yes no maybe hello '.repeat(30)], { vocabSize: 300 });
  const config = makeConfig({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 32 });
  const dir = mkdtempSync(join(tmpdir(), 'gf-lora-rl-'));
  try {
    const baseDir = saveCheckpoint(join(dir, 'sft'), new GPT(config, { seed: 2 }), { stage: 'sft', step: 1, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
    const { model: policy } = loadModel(baseDir, undefined, { fresh: true });
    policy.addScalarHead();
    const adapter = prepareAdapter('rl', policy, baseDir, { lora: 'r=4,alpha=8,targets=qkv,down', basePrecision: 'q4_0' })!;
    const seq = [{ ids: [tok.specialId('<|bos|>'), ...tok.encode('Say the magic word. yes no')], actions: [3, 4, 5] }];
    const pad = tok.specialId('<|pad|>');
    const before = adapter.lora.withAdaptersDisabled(() => actionLogProbs(policy, seq, pad)).logp;
    // a reward that varies from reply to reply, so the value head has something to fit
    const reward = (_p: string, r: { text: string }): number => (r.text.length % 3) / 2;
    const rl: RLConfig = { ...DEFAULT_RL, algo: 'ppo', promptsPerRollout: 8, maxNewTokens: 4, epochs: 1, minibatches: 2, klCoef: 0.01, klBound: 1e9, missingEosPenalty: 0, whitenRewards: false };
    const kls: number[] = [];
    const res = await trainRL({ policy, ref: policy, adapter, tok, prompts: [{ prompt: 'Say the magic word.' }], tools: null, reward, seed: 3 }, rl, cfg(6, 1e-2), {
      runDir: dir,
      stageDir: join(dir, 'rl'),
      quiet: true,
      onStep: (rec) => {
        if (typeof rec['objective/kl'] === 'number') kls.push(rec['objective/kl'] as number);
      },
    });
    assert.equal(res.step, 6);
    assert.ok(kls.length > 0 && Math.abs(kls[0]) < 1e-6, `a fresh adapter (B = 0) is the reference: KL ${kls[0]}`);
    assert.deepEqual(adapter.lora.withAdaptersDisabled(() => actionLogProbs(policy, seq, pad)).logp, before, 'the base is frozen');
    const score = policy.params.get('score.weight')!.data;
    assert.ok(
      score.some((v) => v !== 0),
      'the value head trains with the adapter',
    );
    const loaded = loadModel(res.checkpoint!).model;
    assert.ok(loaded.hasScalarHead, 'the adapter checkpoint carries the value head (PEFT modules_to_save)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reward model with LoRA on a Q8_0 base: adapter + score head learn a toy ranking; the checkpoint loads as a scalar-head model', async (t) => {
  const tok = trainTokenizer(['Say something nice. good great fine bad awful poor '.repeat(20)], { vocabSize: 300 });
  const pad = tok.specialId('<|pad|>');
  const words = ['great', 'good', 'fine', 'poor', 'bad', 'awful'];
  const rankings: RenderedRanking[] = [];
  let x = 7;
  for (let i = 0; i < 40; i++) {
    const picks = new Set<number>();
    while (picks.size < 3) picks.add((x = (x * 1103515245 + 12345) % 2 ** 31) % words.length);
    rankings.push({
      completions: [...picks]
        .sort((a, b) => a - b)
        .map((w) =>
          renderForReward(tok, {
            messages: [
              { role: 'user', content: 'Say something nice.' },
              { role: 'assistant', content: `${words[w]} ${words[w]}` },
            ],
          }),
        ),
    });
  }
  const config = makeConfig({ vocabSize: tok.vocabSize, blockSize: 48, nLayer: 1, nHead: 2, nEmbd: 32 });
  const dir = mkdtempSync(join(tmpdir(), 'gf-lora-rm-'));
  try {
    const baseDir = saveCheckpoint(join(dir, 'sft'), new GPT(config, { seed: 3 }), { stage: 'sft', step: 1, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
    const { model } = loadModel(baseDir, undefined, { fresh: true });
    model.addScalarHead();
    const adapter = prepareAdapter('rm', model, baseDir, { lora: 'r=8,alpha=16,targets=all-linear', basePrecision: 'q8_0' })!;
    const res = await trainRewardModel({ model, adapter, train: new ShuffledLoader(rankings, 4, 1), val: rankings, padId: pad, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() }, cfg(160, 1e-2), { runDir: dir, stageDir: join(dir, 'rm'), quiet: true });
    t.diagnostic(`accuracy ${res.lastEval['val/accuracy']}, margin ${res.lastEval['val/margin']}`);
    assert.ok(res.lastEval['val/accuracy'] >= 0.9, `accuracy ${res.lastEval['val/accuracy']}`);
    const loaded = loadModel(res.checkpoint!).model;
    assert.ok(loaded.hasScalarHead);
    // the merged fp32 checkpoint ranks about as well as the Q8_0-base model it was trained as
    assert.ok(evaluateRankings(loaded, rankings, pad)['val/accuracy'] >= 0.85);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("SFT's default token rows: the special tokens, then the most frequent targets — 512 of them, at most an eighth of the vocabulary", () => {
  assert.equal(sftDefaultTopTokens(4096), 512);
  assert.equal(sftDefaultTopTokens(1024), 128);
  assert.equal(sftDefaultTopTokens(100_277), 512);
  const asked: number[] = [];
  const model = new GPT(makeConfig({ vocabSize: 1024, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 1 });
  const ad = prepareAdapter('sft', model, '.', { lora: 'r=2' }, { specialTokens: new Map([['<|bos|>', 1000]]), frequentTokens: (k) => (asked.push(k), Array.from({ length: k }, (_, i) => i)) })!;
  assert.deepEqual(asked, [128]);
  assert.equal(ad.lora.adapter(ad.name).config.trainableTokenIndices?.length, 129);
  // other stages train no token rows unless told
  const m2 = new GPT(makeConfig({ vocabSize: 1024, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 1 });
  assert.equal(prepareAdapter('rm', m2, '.', { lora: 'r=2' }, { frequentTokens: () => [1, 2] })!.lora.adapter('default').config.trainableTokenIndices, undefined);
});
