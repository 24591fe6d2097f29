import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT } from '../../src/model/gpt.js';
import { makeConfig } from '../../src/model/config.js';
import { Rng } from '../../src/engine/rng.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { renderConversation, renderForReward } from '../../src/data/chat.js';
import { PackedLoader } from '../../src/data/sft.js';
import { pretrain, type BatchSource } from '../../src/train/pretrain.js';
import { sft } from '../../src/train/sft.js';
import { trainRewardModel, ShuffledLoader, type RenderedRanking } from '../../src/train/reward.js';
import { trainDpo, referenceLogProbs, type DpoPair } from '../../src/train/dpo.js';
import { trainRL, DEFAULT_RL, type RLConfig } from '../../src/train/rl.js';
import { MetricsLog, type MetricRecord } from '../../src/train/metrics.js';
import type { TrainConfig, TrainOptions } from '../../src/train/loop.js';

/**
 * Issue #26 item 4: one optimizer step's loss and gradient must not depend on how the step is
 * split into micro-batches. Every stage runs the same 8 rows (conversations, rankings, pairs,
 * rollouts) as 8 × 1, 4 × 2 and 2 × 4 (batch × gradAccum) and must log the same loss and
 * gradient norm to 1e-5 relative. The data is chosen so that micro-batches carry different
 * numbers of supervised tokens / pairs / action tokens: averaging each micro-batch on its own
 * and then the micro-batches equally (the old loop) fails every one of these but DPO.
 */
const SPLITS: [number, number][] = [
  [8, 1],
  [4, 2],
  [2, 4],
];
const base: TrainConfig = { maxSteps: 1, lr: 1e-3, minLr: 1e-3, warmupSteps: 0, weightDecay: 0, beta1: 0.9, beta2: 0.99, gradClip: 1, gradAccum: 1, evalEvery: 0, checkpointEvery: 0, keepLast: 1 };

const words = ['yes', 'no', 'maybe', 'hello', 'great', 'good', 'fine', 'poor', 'bad', 'awful', 'twelve', 'plus'];
const tok = trainTokenizer([`Say the magic word. ${words.join(' ')} `.repeat(30)], { vocabSize: 300 });
const pad = tok.specialId('<|pad|>');
const config = makeConfig({ vocabSize: tok.vocabSize, blockSize: 48, nLayer: 1, nHead: 2, nEmbd: 16 });

/** Run `go` once per split and return the first step's logged record of each. */
async function firstSteps(go: (B: number, cfg: TrainConfig, opts: TrainOptions) => Promise<unknown>): Promise<MetricRecord[]> {
  const out: MetricRecord[] = [];
  for (const [B, accum] of SPLITS) {
    const dir = mkdtempSync(join(tmpdir(), 'gf-accum-'));
    try {
      let rec: MetricRecord | undefined;
      await go(B, { ...base, gradAccum: accum }, { runDir: dir, stageDir: join(dir, 'ck'), quiet: true, onStep: (r) => (rec ??= r) });
      assert.ok(rec, `no step logged for ${B} × ${accum}`);
      out.push(rec);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return out;
}

function assertSameStep(stage: string, recs: MetricRecord[], extra: string[] = []): void {
  const [ref, ...rest] = recs;
  for (const key of ['loss', 'grad_norm', ...extra]) {
    const a = ref[key] as number;
    assert.ok(Number.isFinite(a) && a !== 0, `${stage}: ${key} of 8 × 1 is ${a}`);
    rest.forEach((r, i) => {
      const b = r[key] as number;
      const rel = Math.abs(a - b) / Math.abs(a);
      assert.ok(rel <= 1e-5, `${stage}: ${key} of ${SPLITS[i + 1].join(' × ')} is ${b}, of 8 × 1 ${a} (relative difference ${rel.toExponential(2)})`);
    });
  }
}

/** A reply of n words, so rows and micro-batches carry different numbers of supervised tokens. */
const reply = (n: number, k = 0): string => Array.from({ length: n }, (_, i) => words[(i * 5 + k) % words.length]).join(' ');

test('pretraining with masked targets: 8 × 1, 4 × 2 and 2 × 4 give the same step', async () => {
  // 8 fixed rows; row r has its first 4r targets masked (−1): 28 supervised tokens in row 0, 0 in row 7
  const T = 32;
  const rng = new Rng(5);
  const rows = Array.from({ length: 8 }, (_, r) => {
    const ids = Int32Array.from({ length: T }, () => rng.int(tok.vocabSize));
    const targets = Int32Array.from({ length: T }, (_, t) => (t < 4 * r ? -1 : rng.int(tok.vocabSize)));
    return { ids, targets };
  });
  const recs = await firstSteps((B, cfg, opts) => {
    let next = 0;
    const source: BatchSource = {
      next: () => {
        const inputs = new Int32Array(B * T);
        const targets = new Int32Array(B * T);
        for (let b = 0; b < B; b++, next++) {
          inputs.set(rows[next % 8].ids, b * T);
          targets.set(rows[next % 8].targets, b * T);
        }
        return { inputs, targets };
      },
      state: () => next,
      restore: (s) => (next = s as number),
    };
    return pretrain({ model: new GPT(config, { seed: 1 }), train: source, val: [], batchSize: B, seqLen: T, evalBatches: 0, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() }, cfg, opts);
  });
  assertSameStep('pretrain', recs);
});

test('SFT: 8 × 1, 4 × 2 and 2 × 4 give the same step (rows with short and long answers)', async () => {
  const T = 47;
  // one conversation per row (each fills more than half a row), answers of 3 to 8 words
  const lengths = [3, 8, 3, 7, 4, 3, 8, 3];
  const items = lengths.map((n, i) =>
    renderConversation(tok, {
      messages: [
        { role: 'user', content: `Say the magic word ${words[i]}.` },
        { role: 'assistant', content: reply(n, i) },
      ],
    }),
  );
  for (const it of items) assert.ok(it.ids.length <= T + 1 && it.ids.length > (T + 1) / 2, `conversation of ${it.ids.length} tokens`);
  const recs = await firstSteps((B, cfg, opts) => sft({ model: new GPT(config, { seed: 1 }), train: new PackedLoader(items, B, T, pad, 0, false), val: new Map(), batchSize: B, seqLen: T, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() }, cfg, opts));
  assertSameStep('sft', recs);
});

test('reward model: 8 × 1, 4 × 2 and 2 × 4 give the same step (rankings of 2 to 4, some tied)', async () => {
  const ranking = (n: number, i: number, tiers?: number[]): RenderedRanking => ({
    completions: Array.from({ length: n }, (_, k) =>
      renderForReward(tok, {
        messages: [
          { role: 'user', content: 'Say something nice.' },
          { role: 'assistant', content: reply(k + 1, i) },
        ],
      }),
    ),
    tiers,
  });
  const rankings = [ranking(4, 0), ranking(2, 1), ranking(3, 2, [0, 0, 0]), ranking(3, 3, [0, 0, 1]), ranking(2, 4, [0, 0]), ranking(4, 5), ranking(2, 6), ranking(3, 7)];
  const recs = await firstSteps((B, cfg, opts) => {
    const model = new GPT(config, { seed: 1, scalarHead: true });
    // the head starts at zero (all rewards 0): give it values so that rankings differ
    model.params.get('score.weight')!.data.forEach((_, i, a) => (a[i] = Math.sin(i + 1) * 0.5));
    return trainRewardModel({ model, train: new ShuffledLoader(rankings, B, 1), val: [], padId: pad, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() }, cfg, opts);
  });
  assertSameStep('rm', recs, ['train/accuracy']);
});

test('DPO: 8 × 1, 4 × 2 and 2 × 4 give the same step', async () => {
  const conv = (a: string): ReturnType<typeof renderConversation> =>
    renderConversation(tok, {
      messages: [
        { role: 'user', content: 'Is it good?' },
        { role: 'assistant', content: a },
      ],
    });
  const pairs: DpoPair[] = Array.from({ length: 8 }, (_, i) => ({ chosen: conv(reply(1 + i, 0)), rejected: conv(reply(8 - i, 3)) }));
  const ref = new GPT(config, { seed: 2 });
  const refLp = referenceLogProbs(ref, pairs, pad);
  const recs = await firstSteps((B, cfg, opts) => trainDpo({ model: new GPT(config, { seed: 1 }), pairs, ref: refLp, val: [], valRef: { chosen: [], rejected: [] }, pairsPerBatch: B, beta: 0.5, padId: pad, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() }, cfg, opts));
  assertSameStep('dpo', recs, ['rewards/margins']);
});

test('RL (PPO with ptx): splitting a minibatch of 8 rollouts into 1, 2 or 4 micro-batches gives the same step', async () => {
  // replies of different lengths (sampled up to 8 tokens): micro-batches hold different numbers of action tokens
  const reward = (_p: string, r: { text: string }): number => tok.encode(r.text).length / 8;
  const rl: RLConfig = { ...DEFAULT_RL, algo: 'ppo', promptsPerRollout: 8, maxNewTokens: 8, epochs: 1, minibatches: 1, klCoef: 0.05, klBound: 1e9, missingEosPenalty: 0.5, ptxCoef: 0.5, ptxRows: 2 };
  const sftItems = [1, 6, 3].map((n) =>
    renderConversation(tok, {
      messages: [
        { role: 'user', content: 'Say the magic word.' },
        { role: 'assistant', content: reply(n) },
      ],
    }),
  );
  const tokensOf: number[][] = [];
  const recs = await firstSteps(async (_B, cfg, opts) => {
    const policy = new GPT(config, { seed: 2, scalarHead: true });
    const ref = new GPT(config, { seed: 2 });
    const ptx = new PackedLoader(sftItems, 2, 40, pad, 1);
    const r = await trainRL({ policy, ref, tok, prompts: [{ prompt: 'Say the magic word.' }, { prompt: 'Is it good?' }], tools: null, reward, seed: 3, ptx }, rl, cfg, {
      ...opts,
      onStep: (rec) => {
        tokensOf.push([rec['rollout/reply_tokens'] as number]);
        opts.onStep?.(rec);
      },
    });
    return r;
  });
  // (loss/policy_avg is ~0 on the first step: whitened advantages have mean 0)
  assertSameStep('rl', recs, ['loss/value_avg', 'loss/ptx_avg']);
  // the same rollouts in every split (sampling does not depend on gradAccum)
  assert.deepEqual(tokensOf[1], tokensOf[0]);
  assert.deepEqual(tokensOf[2], tokensOf[0]);
});

test('RL (PPO with ptx) with gradAccum 2: a run stopped mid-rollout and resumed logs the same losses as an uninterrupted one', async () => {
  const reward = (_p: string, r: { text: string }): number => tok.encode(r.text).length / 8;
  const rl: RLConfig = { ...DEFAULT_RL, algo: 'ppo', promptsPerRollout: 6, maxNewTokens: 6, epochs: 2, minibatches: 2, klCoef: 0.05, klBound: 1e9, missingEosPenalty: 0.5, ptxCoef: 0.5, ptxRows: 2 };
  const sftItems = [1, 6, 3].map((n) =>
    renderConversation(tok, {
      messages: [
        { role: 'user', content: 'Say the magic word.' },
        { role: 'assistant', content: reply(n) },
      ],
    }),
  );
  const cfg: TrainConfig = { ...base, maxSteps: 7, lr: 1e-2, gradAccum: 2, checkpointEvery: 0 };
  const go = (dir: string, stopAfter?: number): Promise<unknown> =>
    trainRL({ policy: new GPT(config, { seed: 2, scalarHead: true }), ref: new GPT(config, { seed: 2 }), tok, prompts: [{ prompt: 'Say the magic word.' }, { prompt: 'Is it good?' }], tools: null, reward, seed: 3, ptx: new PackedLoader(sftItems, 2, 40, pad, 1) }, rl, cfg, {
      runDir: dir,
      stageDir: join(dir, 'rl'),
      quiet: true,
      stopAfter,
    });
  const dirA = mkdtempSync(join(tmpdir(), 'gf-accum-rl-a-'));
  const dirB = mkdtempSync(join(tmpdir(), 'gf-accum-rl-b-'));
  try {
    await go(dirA);
    await go(dirB, 3); // 4 updates per rollout: stopped inside the first rollout's updates
    await go(dirB);
    const losses = (dir: string): number[] =>
      new MetricsLog(dir)
        .read('rl')
        .filter((r) => typeof r.loss === 'number')
        .map((r) => r.loss as number);
    assert.equal(losses(dirA).length, 7);
    assert.deepEqual(losses(dirB), losses(dirA));
  } finally {
    rmSync(dirA, { recursive: true, force: true });
    rmSync(dirB, { recursive: true, force: true });
  }
});
