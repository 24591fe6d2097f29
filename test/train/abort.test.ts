import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT } from '../../src/model/gpt.js';
import { makeConfig } from '../../src/model/config.js';
import { Rng } from '../../src/engine/rng.js';
import * as op from '../../src/engine/ops.js';
import { train, type TrainConfig, type TrainTask } from '../../src/train/loop.js';
import { listCheckpoints } from '../../src/model/checkpoint.js';

function task(): TrainTask<Int32Array> {
  const model = new GPT(makeConfig({ vocabSize: 16, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 3 });
  const rng = new Rng(5);
  return {
    stage: 'toy',
    model,
    nextMicroBatch: () => Int32Array.from({ length: 16 }, () => rng.int(16)),
    weight: () => 16,
    forwardMicroBatch: (ids, total) => ({
      loss: op.scale(
        model.loss(
          ids,
          ids.map((t) => (t + 1) % 16),
          2,
          8,
        ),
        16 / total,
      ),
      tokens: 16,
    }),
    state: () => rng.state(),
    restore: (s) => rng.restore(s as ReturnType<Rng['state']>),
  };
}

const cfg: TrainConfig = { maxSteps: 50, lr: 1e-2, minLr: 1e-3, warmupSteps: 2, weightDecay: 0.1, beta1: 0.9, beta2: 0.99, gradClip: 1, gradAccum: 1, evalEvery: 0, checkpointEvery: 0, keepLast: 2 };

test('training loop: an AbortSignal stops the stage after the step in progress, with a checkpoint, and installs no SIGINT handler', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-abort-'));
  try {
    const before = process.listenerCount('SIGINT');
    const ac = new AbortController();
    let steps = 0;
    const result = await train(task(), cfg, {
      runDir: dir,
      stageDir: join(dir, 'toy'),
      quiet: true,
      signal: ac.signal,
      onStep: () => {
        assert.equal(process.listenerCount('SIGINT'), before, 'the library must not install a SIGINT handler');
        if (++steps === 3) ac.abort();
      },
    });
    assert.equal(result.interrupted, true);
    assert.equal(result.step, 3, 'stops after the step in progress');
    assert.equal(listCheckpoints(join(dir, 'toy')).length, 1, 'a checkpoint is saved on abort');
    // an already-aborted signal runs at most one step
    const again = await train(task(), { ...cfg }, { runDir: dir, stageDir: join(dir, 'toy2'), quiet: true, signal: AbortSignal.abort() });
    assert.equal(again.interrupted, true);
    assert.equal(again.step, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
