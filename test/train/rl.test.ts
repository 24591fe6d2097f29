import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT } from '../../src/model/gpt.js';
import { makeConfig } from '../../src/model/config.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { gae, grpoAdvantages, grpoRewardStats, klK3, ppoPolicyLoss, ppoValueLoss, whiten, trainRL, actionLogProbs, validateRL, DEFAULT_RL, type RLConfig } from '../../src/train/rl.js';
import { renderConversation } from '../../src/data/chat.js';
import { PackedLoader } from '../../src/data/sft.js';
import { noGrad } from '../../src/engine/tensor.js';
import * as op from '../../src/engine/ops.js';
import { MetricsLog } from '../../src/train/metrics.js';
import type { TrainConfig } from '../../src/train/loop.js';
import type { ChatEngine, ChatReply } from '../../src/infer/engine.js';
import type { FinishReason } from '../../src/infer/stopping.js';

const close = (a: number, b: number, tol = 1e-12): boolean => Math.abs(a - b) < tol;

test('GAE: hand-computed advantages and returns (γ = 0.9, λ = 0.8)', () => {
  // rewards r = [0, 0, 1], values V = [0.5, 0.6, 0.7], V after the end = 0
  // δ2 = 1 − 0.7 = 0.3;  δ1 = 0 + 0.9·0.7 − 0.6 = 0.03;  δ0 = 0 + 0.9·0.6 − 0.5 = 0.04
  // A2 = 0.3;  A1 = 0.03 + 0.72·0.3 = 0.246;  A0 = 0.04 + 0.72·0.246 = 0.21712
  const { advantages, returns } = gae([0, 0, 1], [0.5, 0.6, 0.7], 0.9, 0.8);
  [0.21712, 0.246, 0.3].forEach((x, i) => assert.ok(close(advantages[i], x), `A${i} ${advantages[i]}`));
  [0.71712, 0.846, 1.0].forEach((x, i) => assert.ok(close(returns[i], x), `R${i} ${returns[i]}`));
  // γ = λ = 1 with zero values: every advantage is the sum of the rewards still to come
  assert.deepEqual(gae([1, 2, 3], [0, 0, 0], 1, 1).advantages, [6, 5, 3]);
});

test('PPO clipped policy loss: hand-computed values, clipping and its gradient', () => {
  const e = 0.2;
  // token 0: ratio e^0.1 = 1.10517, A = 1 → unclipped, −1.10517
  // token 1: ratio e^0.5 = 1.64872, A = 2 → clipped at 1.2: max(−3.29744, −2.4) = −2.4, no gradient
  // token 2: ratio e^−0.5 = 0.60653, A = −1 → clipped at 0.8: max(0.60653, 0.8) = 0.8, no gradient
  // token 3: ratio e^−0.5 = 0.60653, A = 1 → max(−0.60653, −0.8) = −0.60653: unclipped (pessimistic side)
  const logp = [0.1, 0.5, -0.5, -0.5];
  const old = [0, 0, 0, 0];
  const adv = [1, 2, -1, 1];
  const r = ppoPolicyLoss(logp, old, adv, e);
  const expected = (-Math.exp(0.1) - 2.4 + 0.8 - Math.exp(-0.5)) / 4;
  assert.ok(close(r.loss, expected), `${r.loss} vs ${expected}`);
  assert.equal(r.clipfrac, 0.5);
  assert.ok(close(r.dlogp[0], -Math.exp(0.1) / 4));
  assert.equal(r.dlogp[1], 0);
  assert.equal(r.dlogp[2], 0);
  assert.ok(close(r.dlogp[3], -Math.exp(-0.5) / 4));
  assert.ok(close(r.approxkl, (0.5 * (0.01 + 0.25 + 0.25 + 0.25)) / 4));
  // gradient = finite differences of the loss
  const h = 1e-6;
  for (let t = 0; t < 4; t++) {
    const up = [...logp];
    up[t] += h;
    const dn = [...logp];
    dn[t] -= h;
    const fd = (ppoPolicyLoss(up, old, adv, e).loss - ppoPolicyLoss(dn, old, adv, e).loss) / (2 * h);
    assert.ok(Math.abs(fd - r.dlogp[t]) < 1e-6, `token ${t}: fd ${fd} vs ${r.dlogp[t]}`);
  }
  // at the start of an update (logp = old) the loss is −mean(A) and nothing is clipped
  const z = ppoPolicyLoss([0.3, -1], [0.3, -1], [1, 3], e);
  assert.ok(close(z.loss, -2));
  assert.equal(z.clipfrac, 0);
  assert.ok(close(z.ratio, 1));
});

test('PPO clipped value loss: hand-computed values and gradient', () => {
  // V = [1.5, 0.0], V_old = [1.0, 0.0], R = [2.0, 1.0], clip 0.2
  // token 0: V−R = −0.5 → 0.25; clipped V = 1.2 → (−0.8)² = 0.64: the clipped branch is larger, V outside the window → no gradient
  // token 1: V = V_old: both 1.0 → 0.5·1 and gradient (V − R) = −1
  const r = ppoValueLoss([1.5, 0], [1, 0], [2, 1], 0.2);
  assert.ok(close(r.loss, (0.5 * 0.64 + 0.5 * 1) / 2));
  assert.equal(r.dv[0], 0);
  assert.ok(close(r.dv[1], -1 / 2));
  assert.equal(r.clipfrac, 0.5);
});

test('GRPO advantages, whitening and the k3 KL estimator (zero when policy equals reference)', () => {
  const a = grpoAdvantages([1, 2, 3, 5, 5, 5], 3);
  // group 1: mean 2, std 1 → [−1, 0, 1] (÷ (1 + 1e-4)); group 2: all equal → 0
  assert.ok(close(a[0], -1 / 1.0001) && close(a[1], 0) && close(a[2], 1 / 1.0001));
  assert.deepEqual(a.slice(3), [0, 0, 0]);
  const w = whiten([1, 2, 3, 4]);
  assert.ok(
    close(
      w.reduce((s, x) => s + x, 0),
      0,
      1e-9,
    ),
  );
  assert.ok(close(w.reduce((s, x) => s + x * x, 0) / 3, 1, 1e-6));
  for (const lp of [-3, -0.5, -0.01]) {
    const k = klK3(lp, lp);
    assert.equal(k.kl, 0);
    assert.equal(k.dlogp, 0);
  }
  // k3 ≥ 0, and its derivative matches finite differences
  const k = klK3(-1, -1.4);
  assert.ok(k.kl > 0);
  assert.ok(Math.abs((klK3(-1 + 1e-6, -1.4).kl - klK3(-1 - 1e-6, -1.4).kl) / 2e-6 - k.dlogp) < 1e-6);
});

const tok = trainTokenizer(['Say the magic word. yes no maybe hello '.repeat(30)], { vocabSize: 300 });
const yes = tok.encode('yes')[0];

test('RL: the KL between a policy and an identical reference is zero; PPO learns a toy reward ("say yes")', async (t) => {
  const config = makeConfig({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 24 });
  const policy = new GPT(config, { seed: 2, scalarHead: true });
  const ref = new GPT(config, { seed: 2 });
  const seq = [{ ids: [tok.specialId('<|bos|>'), ...tok.encode('Say the magic word. yes no')], actions: [3, 4, 5] }];
  const a = actionLogProbs(policy, seq, tok.specialId('<|pad|>'));
  const b = actionLogProbs(ref, seq, tok.specialId('<|pad|>'));
  assert.deepEqual(a.logp, b.logp);

  // reward: the fraction of the reply's tokens that are "yes"
  const reward = (_p: string, r: { text: string }): number => {
    const ids = tok.encode(r.text);
    return ids.length ? ids.filter((i) => i === yes).length / ids.length : 0;
  };
  const rl: RLConfig = { ...DEFAULT_RL, algo: 'ppo', promptsPerRollout: 16, maxNewTokens: 6, epochs: 2, minibatches: 2, klCoef: 0.01, klBound: 1e9, missingEosPenalty: 0, whitenRewards: false };
  // Whether PPO finds "yes" at all (about 1 token in 300 at the start) depends on the float
  // trajectory: one seed learnt on AVX-512 and stalled at 0.35 on AVX2 after 120 updates.
  // Measured over 6 seeds on the avx2, scalar and reference paths: at 120 updates 11 of 18
  // runs ended above 0.9; at 300, 17 of 18 (the 18th never sampled "yes"). So: 300 updates,
  // three seeds, and at least two of them must learn.
  const cfg: TrainConfig = { maxSteps: 300, lr: 1e-2, minLr: 1e-2, warmupSteps: 0, weightDecay: 0, beta1: 0.9, beta2: 0.99, gradClip: 1, gradAccum: 1, evalEvery: 0, checkpointEvery: 0, keepLast: 1 };
  const runs: { first: number; last: number }[] = [];
  for (const seed of [2, 3, 4]) {
    const dir = mkdtempSync(join(tmpdir(), 'gf-rl-'));
    try {
      const p = new GPT(config, { seed, scalarHead: true });
      await trainRL({ policy: p, ref: new GPT(config, { seed }), tok, prompts: [{ prompt: 'Say the magic word.' }], tools: null, reward, seed: seed + 1 }, rl, cfg, { runDir: dir, stageDir: join(dir, 'rl'), quiet: true });
      const scores = new MetricsLog(dir)
        .read('rl')
        .map((r) => r['objective/scores'] as number)
        .filter((x) => x !== undefined);
      runs.push({ first: scores[0], last: scores.slice(-4).reduce((s, x) => s + x, 0) / 4 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const text = runs.map((r) => `${r.first.toFixed(3)} → ${r.last.toFixed(3)}`).join(', ');
  t.diagnostic(`mean reward per seed: ${text}`);
  for (const r of runs) assert.ok(r.first < 0.1, `a random policy rarely says yes: ${text}`);
  assert.ok(runs.filter((r) => r.last > 0.6).length >= 2, `PPO should learn to say yes in at least 2 of 3 seeds: ${text}`);
});

test('RL with ptx: mixing the SFT loss into PPO keeps what SFT taught that the reward does not pay for', async (t) => {
  // SFT taught "no"; the reward pays for "yes". Without ptx PPO unlearns "no"; with γ = 1 the
  // SFT loss on the "no" conversations stays far lower, and it is logged as loss/ptx_avg.
  const convs = [
    renderConversation(tok, {
      messages: [
        { role: 'user', content: 'Say the magic word.' },
        { role: 'assistant', content: 'no' },
      ],
    }),
  ];
  const pad = tok.specialId('<|pad|>');
  const T = 16;
  const sftLoss = (m: GPT): number => {
    const b = new PackedLoader(convs, 2, T, pad, 0, false).next();
    return noGrad(() => op.crossEntropy(m.forward(b.inputs, 2, T), b.targets).item());
  };
  const reward = (_p: string, r: { text: string }): number => (tok.encode(r.text).includes(yes) ? 1 : 0);
  const run = async (ptxCoef: number): Promise<{ loss: number; logged: boolean }> => {
    const config = makeConfig({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 24 });
    const policy = new GPT(config, { seed: 2, scalarHead: true });
    const ref = new GPT(config, { seed: 2 });
    const rl: RLConfig = { ...DEFAULT_RL, promptsPerRollout: 16, maxNewTokens: 4, klCoef: 0, klBound: 1e9, missingEosPenalty: 0, whitenRewards: false, ptxCoef, ptxRows: 2 };
    const cfg: TrainConfig = { maxSteps: 60, lr: 1e-2, minLr: 1e-2, warmupSteps: 0, weightDecay: 0, beta1: 0.9, beta2: 0.99, gradClip: 1, gradAccum: 1, evalEvery: 0, checkpointEvery: 0, keepLast: 1 };
    const dir = mkdtempSync(join(tmpdir(), 'gf-ptx-'));
    try {
      const ptx = ptxCoef > 0 ? new PackedLoader(convs, 2, T, pad, 5) : undefined;
      await trainRL({ policy, ref, tok, prompts: [{ prompt: 'Say the magic word.' }], tools: null, reward, seed: 3, ptx }, rl, cfg, { runDir: dir, stageDir: join(dir, 'rl'), quiet: true });
      const logged = new MetricsLog(dir).read('rl').some((r) => typeof r['loss/ptx_avg'] === 'number');
      return { loss: sftLoss(policy), logged };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const without = await run(0);
  const withPtx = await run(1);
  t.diagnostic(`SFT loss on "no" after PPO: with ptx ${withPtx.loss.toFixed(3)}, without ${without.loss.toFixed(3)}`);
  assert.equal(without.logged, false);
  assert.equal(withPtx.logged, true);
  assert.ok(withPtx.loss < 0.5 * without.loss, `SFT loss on "no" after PPO: with ptx ${withPtx.loss.toFixed(3)}, without ${without.loss.toFixed(3)}`);
  assert.throws(() => validateRL({ ...DEFAULT_RL, ptxCoef: 1 }, { policy: new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 24 }), { scalarHead: true }), reward, prompts: [{ prompt: 'x' }] }), /ptxCoef > 0 needs SFT rows/);
});

test("sampleRollouts: a reply ended by its end token ('stop') is ended; one cut by maxTokens, the context or an unclosed call is not (missingEosPenalty's rule)", async () => {
  const { sampleRollouts } = await import('../../src/train/rl/rollout.js');
  const { Rng } = await import('../../src/engine/rng.js');
  const reasons: FinishReason[] = ['stop', 'length', 'context', 'unclosed_tool_call'];
  let i = 0;
  const reply = (): ChatReply => {
    const finishReason = reasons[i++ % reasons.length];
    // (the deprecated stopReason set apart from finishReason: the rollout reads finishReason)
    return { messages: [{ role: 'assistant', content: 'yes' }], text: 'yes', ids: tok.encode(' yes'), sampled: [1], finishReason, stopReason: 'context', toolCalls: 0 };
  };
  // the engine only answers: repliesTo for groups of one, one reply per prompt
  const engine = { repliesTo: (convs: unknown[]) => convs.map(reply) } as unknown as ChatEngine;
  const { batch } = sampleRollouts(engine, { tok, prompts: [{ prompt: 'Say the magic word.' }], tools: null }, { ...DEFAULT_RL, promptsPerRollout: 4 }, 1, new Rng(1));
  assert.deepEqual(
    batch.map((r) => r.ended),
    [true, false, false, false],
  );
});

// newcomer29: GRPO logged PPOTrainer's names (objective/kl, objective/scores, loss/value_avg: 0);
// it logs TRL GRPOTrainer's (reward, reward_std, frac_reward_zero_std, kl, entropy, completions/…)
test("GRPO logs TRL GRPOTrainer's metric names, not PPO's; reward_std is the mean of the groups' std", async () => {
  assert.deepEqual(grpoRewardStats([1, 2, 3, 5, 5, 5], 3), { reward: 3.5, reward_std: 0.5, frac_reward_zero_std: 0.5 });
  const config = makeConfig({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 24 });
  const rl: RLConfig = { ...DEFAULT_RL, algo: 'grpo', groupSize: 2, promptsPerRollout: 2, maxNewTokens: 4, epochs: 1, minibatches: 1, klCoef: 0.05, klBound: 1e9, missingEosPenalty: 0 };
  const cfg: TrainConfig = { maxSteps: 2, lr: 1e-3, minLr: 1e-3, warmupSteps: 0, weightDecay: 0, beta1: 0.9, beta2: 0.99, gradClip: 1, gradAccum: 1, evalEvery: 0, checkpointEvery: 0, keepLast: 1 };
  const dir = mkdtempSync(join(tmpdir(), 'gf-grpo-'));
  try {
    const recs: Record<string, unknown>[] = [];
    const reward = (_p: string, r: { text: string }): number => r.text.length % 3;
    await trainRL({ policy: new GPT(config, { seed: 2 }), ref: new GPT(config, { seed: 2 }), tok, prompts: [{ prompt: 'Say the magic word.' }], tools: null, reward, seed: 3 }, rl, cfg, { runDir: dir, stageDir: join(dir, 'rl'), quiet: true, onStep: (r) => recs.push({ ...r }) });
    const rec = recs.find((r) => r.loss !== undefined)!;
    for (const k of ['reward', 'reward_std', 'frac_reward_zero_std', 'kl', 'entropy', 'completions/mean_length', 'completions/clipped_ratio', 'clip_ratio/region_mean', 'rollout/kl']) assert.equal(typeof rec[k], 'number', k);
    for (const k of Object.keys(rec)) assert.ok(!/^(objective|policy|val)\/|^loss\/value_avg$/.test(k), `a PPO name in GRPO's metrics: ${k}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
