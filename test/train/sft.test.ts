import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT } from '../../src/model/gpt.js';
import { makeConfig } from '../../src/model/config.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { renderConversation } from '../../src/data/chat.js';
import { PackedLoader } from '../../src/data/sft.js';
import { taskByName } from '../../src/data/synthetic/tasks.js';
import { sft, evaluateHeldOut } from '../../src/train/sft.js';
import { MetricsLog } from '../../src/train/metrics.js';
import type { TrainConfig } from '../../src/train/loop.js';

/**
 * A tiny model fine-tuned on the synthetic greetings/arithmetic conversations: held-out loss
 * on the assistant's tokens must fall, and a resumed run must match an uninterrupted one.
 */
const chat = taskByName('chat');
const arith = taskByName('arithmetic');
const trainConvs = [...chat.generate('train', 150, 1), ...arith.generate('train', 150, 2)].map((e) => e.conversation);
const testConvs = [...chat.generate('test', 24, 3), ...arith.generate('test', 24, 4)].map((e) => e.conversation);
const tok = trainTokenizer(
  trainConvs.flatMap((c) => c.messages.map((m) => m.content + (m.tool_call ? ` ${m.tool_call.name}: ${m.tool_call.input}` : ''))),
  { vocabSize: 400 },
);
const T = 95;
const B = 8;
const pad = tok.specialId('<|pad|>');
const trainItems = trainConvs.map((c) => renderConversation(tok, c)).filter((r) => r.ids.length <= T + 1);
const testItems = testConvs.map((c) => renderConversation(tok, c)).filter((r) => r.ids.length <= T + 1);
const cfg: TrainConfig = { maxSteps: 60, lr: 3e-3, minLr: 3e-4, warmupSteps: 5, weightDecay: 0.0, beta1: 0.9, beta2: 0.99, gradClip: 1, gradAccum: 1, evalEvery: 30, checkpointEvery: 20, keepLast: 2 };

function setup(): Parameters<typeof sft>[0] {
  const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 96, nLayer: 2, nHead: 2, nEmbd: 48 }), { seed: 5 });
  return {
    model,
    train: new PackedLoader(trainItems, B, T, pad, 11),
    val: new Map([['held-out', () => new PackedLoader(testItems, B, T, pad, 0, false)]]),
    batchSize: B,
    seqLen: T,
    tokenizerJSON: tok.toJSON(),
    tokenizerHash: tok.hash(),
  };
}

test('SFT: held-out loss on assistant tokens falls; a resumed run reproduces every loss', async (t) => {
  const dirA = mkdtempSync(join(tmpdir(), 'gf-sft-a-'));
  const dirB = mkdtempSync(join(tmpdir(), 'gf-sft-b-'));
  try {
    const sA = setup();
    const before = evaluateHeldOut(sA.model, sA.val, B, T)['val/loss'];
    const res = await sft(sA, cfg, { runDir: dirA, stageDir: join(dirA, 'sft'), quiet: true });
    const after = res.lastEval['val/loss'];
    t.diagnostic(`held-out loss ${before.toFixed(3)} → ${after.toFixed(3)}`);
    assert.ok(after < before - 1.0, `held-out loss should fall by > 1 nat: ${before.toFixed(3)} → ${after.toFixed(3)}`);

    const sB = setup();
    await sft(sB, cfg, { runDir: dirB, stageDir: join(dirB, 'sft'), quiet: true, stopAfter: 25 });
    await sft(setup(), cfg, { runDir: dirB, stageDir: join(dirB, 'sft'), quiet: true });
    const la = new MetricsLog(dirA)
      .read('sft')
      .filter((r) => 'loss' in r)
      .map((r) => r.loss);
    const lb = new MetricsLog(dirB)
      .read('sft')
      .filter((r) => 'loss' in r)
      .map((r) => r.loss);
    assert.equal(la.length, cfg.maxSteps);
    assert.deepEqual(lb, la);
  } finally {
    rmSync(dirA, { recursive: true, force: true });
    rmSync(dirB, { recursive: true, force: true });
  }
});
