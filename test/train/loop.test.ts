import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT } from '../../src/model/gpt.js';
import { makeConfig } from '../../src/model/config.js';
import { Rng } from '../../src/engine/rng.js';
import * as op from '../../src/engine/ops.js';
import { train, type TrainConfig, type TrainTask } from '../../src/train/loop.js';
import { extendSchedule, learningRate } from '../../src/train/schedule.js';
import { MetricsLog } from '../../src/train/metrics.js';
import { listCheckpoints } from '../../src/model/checkpoint.js';
import { tempDir } from '../util/tmp.js';

/** A toy stage: random token batches from a seeded RNG whose state is the "data position". */
function toyTask(seed = 1): TrainTask<{ ids: Int32Array; targets: Int32Array }> & { rng: Rng } {
  const model = new GPT(makeConfig({ vocabSize: 16, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed });
  const rng = new Rng(99);
  return {
    stage: 'toy',
    model,
    rng,
    nextMicroBatch() {
      const B = 2,
        T = 8;
      // a learnable pattern: next token = (token + 1) mod 16, starting anywhere
      const ids = new Int32Array(B * T);
      const targets = new Int32Array(B * T);
      for (let b = 0; b < B; b++) {
        const s = rng.int(16);
        for (let t = 0; t < T; t++) {
          ids[b * T + t] = (s + t) % 16;
          targets[b * T + t] = (s + t + 1) % 16;
        }
      }
      return { ids, targets };
    },
    weight: () => 2 * 8,
    forwardMicroBatch: ({ ids, targets }, total) => ({ loss: op.scale(model.loss(ids, targets, 2, 8), 16 / total), tokens: 16 }),
    evaluate: () => ({ 'val/loss': 1 }),
    state: () => rng.state(),
    restore: (s) => rng.restore(s as ReturnType<Rng['state']>),
  };
}

const cfg: TrainConfig = { maxSteps: 12, lr: 1e-2, minLr: 1e-3, warmupSteps: 2, weightDecay: 0.1, beta1: 0.9, beta2: 0.99, gradClip: 1, gradAccum: 2, evalEvery: 4, checkpointEvery: 3, keepLast: 2 };

test('learning-rate schedule: warmup, cosine, floor', () => {
  const s = { lr: 1, minLr: 0.1, warmupSteps: 10, decaySteps: 110 };
  assert.ok(learningRate(0, s) < learningRate(5, s) && learningRate(5, s) < learningRate(9, s));
  assert.ok(Math.abs(learningRate(10, s) - 1) < 1e-9);
  assert.ok(Math.abs(learningRate(60, s) - 0.55) < 1e-9);
  assert.equal(learningRate(500, s), 0.1);
});

test('training loop: loss falls; resume after an interruption reproduces every later loss bit for bit', async (t) => {
  const dirA = mkdtempSync(join(tmpdir(), 'gf-loop-a-'));
  const dirB = mkdtempSync(join(tmpdir(), 'gf-loop-b-'));
  try {
    const a = await train(toyTask(), cfg, { runDir: dirA, stageDir: join(dirA, 'toy'), quiet: true });
    const lossesA = new MetricsLog(dirA)
      .read('toy')
      .filter((r) => 'loss' in r)
      .map((r) => r.loss);
    t.diagnostic(`loss ${(lossesA[0] as number).toFixed(4)} → ${(lossesA[11] as number).toFixed(4)}`);
    assert.equal(lossesA.length, 12);
    assert.ok((lossesA[11] as number) < (lossesA[0] as number), `loss should fall: ${lossesA[0]} → ${lossesA[11]}`);
    assert.equal(a.step, 12);
    assert.equal(listCheckpoints(join(dirA, 'toy')).length, 2, 'keeps the last 2 checkpoints');

    // interrupted after 5 steps (checkpoint written at the stop), then a fresh model object resumes
    const b1 = await train(toyTask(), cfg, { runDir: dirB, stageDir: join(dirB, 'toy'), quiet: true, stopAfter: 5 });
    assert.equal(b1.interrupted, true);
    // a half-written checkpoint left by a kill must be ignored and cleaned
    const stale = join(dirB, 'toy', 'step-0000009.tmp-123-456');
    rmSync(stale, { recursive: true, force: true });
    writeFileSync(join(dirB, 'toy', '.tmp-1-2-latest.json'), 'garbage');
    const b2 = await train(toyTask(7 /* different init: must be overwritten by the checkpoint */), cfg, { runDir: dirB, stageDir: join(dirB, 'toy'), quiet: true });
    assert.equal(b2.step, 12);
    const lossesB = new MetricsLog(dirB)
      .read('toy')
      .filter((r) => 'loss' in r)
      .map((r) => r.loss);
    assert.deepEqual(lossesB, lossesA, 'resumed run must match the uninterrupted one exactly');
    assert.ok(!readdirSync(join(dirB, 'toy')).some((n) => n.startsWith('.tmp-')));
  } finally {
    rmSync(dirA, { recursive: true, force: true });
    rmSync(dirB, { recursive: true, force: true });
  }
});

test('more steps on resume continue the learning rate from where it got to (no re-warm), in the loop and the schedule', async () => {
  const s = { lr: 1, minLr: 0.1, warmupSteps: 10, decaySteps: 110 };
  // interrupted at 60 (rate 0.55) and given 200 steps: a cosine from 0.55 down to 0.1 at 200
  const e = extendSchedule(s, { ...s, decaySteps: 200 }, 60);
  assert.ok(Math.abs(learningRate(60, e) - 0.55) < 1e-9);
  assert.ok(Math.abs(learningRate(130, e) - 0.325) < 1e-9);
  assert.equal(learningRate(200, e), 0.1);
  assert.deepEqual(extendSchedule(e, { ...s, decaySteps: 200 }, 130), e, 'a second resume with the same horizon keeps the continuation');
  assert.deepEqual(extendSchedule(s, { ...s, lr: 2, decaySteps: 200 }, 60), { ...s, lr: 2, decaySteps: 200 }, 'a new peak is a new schedule');
  assert.deepEqual(extendSchedule(s, { ...s, decaySteps: 200 }, 5), { ...s, decaySteps: 200 }, 'inside the warmup');

  const dir = mkdtempSync(join(tmpdir(), 'gf-loop-ext-'));
  try {
    const done = await train(toyTask(), { ...cfg, maxSteps: 6 }, { runDir: dir, stageDir: join(dir, 'toy'), quiet: true });
    assert.equal(done.step, 6);
    await train(toyTask(), { ...cfg, maxSteps: 10 }, { runDir: dir, stageDir: join(dir, 'toy'), quiet: true });
    const lrs = new MetricsLog(dir)
      .read('toy')
      .filter((r) => 'learning_rate' in r)
      .map((r) => [r.step, r.learning_rate] as [number, number]);
    assert.deepEqual(
      lrs.map(([st]) => st),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => i - 1 + (lrs[0][0] as number)),
    );
    // the finished stage reached minLr; the four more steps stay there instead of jumping back up
    for (const [st, lr] of lrs.slice(6)) assert.equal(lr, cfg.minLr, `step ${st}: ${lr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a resume that trains nothing (at or past --max-steps) logs no second evaluation of a step already evaluated; one never evaluated, once', async () => {
  const dir = tempDir('gf-loop-past-');
  const opts = { runDir: dir, stageDir: join(dir, 'toy'), quiet: true };
  const evals = (): number[] =>
    new MetricsLog(dir)
      .read('toy')
      .filter((r) => 'val/loss' in r)
      .map((r) => r.step);
  await train(toyTask(), { ...cfg, maxSteps: 6 }, opts);
  assert.deepEqual(evals(), [4, 6]);
  // past the end: the held-out evaluation still runs (its result is returned), but step 6 is logged once
  const past = await train(toyTask(), { ...cfg, maxSteps: 4 }, opts);
  assert.equal(past.step, 6);
  assert.deepEqual(past.lastEval, { 'val/loss': 1 });
  assert.deepEqual(evals(), [4, 6]);
  // interrupted at step 7 (no evaluation there), then resumed with fewer steps: step 7's evaluation is new, logged once
  await train(toyTask(), { ...cfg, maxSteps: 12 }, { ...opts, stopAfter: 1 });
  assert.deepEqual(evals(), [4, 6]);
  await train(toyTask(), { ...cfg, maxSteps: 4 }, opts);
  await train(toyTask(), { ...cfg, maxSteps: 7 }, opts);
  assert.deepEqual(evals(), [4, 6, 7]);
});

test('a stage with no held-out data (its evaluate measures nothing) appends no evaluation record, at the interval or at the end', async () => {
  const dir = tempDir('gf-loop-noval-');
  const task = { ...toyTask(), evaluate: () => ({}) };
  await train(task, { ...cfg, maxSteps: 6 }, { runDir: dir, stageDir: join(dir, 'toy'), quiet: true });
  const records = new MetricsLog(dir).read('toy');
  assert.ok(records.length > 0, 'the training records are logged');
  const empty = records.filter((r) => Object.keys(r).every((k) => ['stage', 'step', 'tokens'].includes(k)));
  assert.deepEqual(empty, []);
});

test('training loop: NaN stops with a clear message and leaves the last checkpoint intact', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-loop-nan-'));
  try {
    const task = toyTask();
    let calls = 0;
    const inner = task.forwardMicroBatch.bind(task);
    task.forwardMicroBatch = (mb, total) => {
      calls++;
      if (calls === 2 * 7) task.model.params.get('transformer.wte.weight')!.data[0] = NaN;
      return inner(mb, total);
    };
    await assert.rejects(train(task, cfg, { runDir: dir, stageDir: join(dir, 'toy'), quiet: true }), /loss is NaN at step 7.*last good checkpoint is intact: .*step-0000006/);
    assert.ok(existsSync(join(dir, 'toy', 'step-0000006', 'model.safetensors')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('resume refuses a checkpoint from a different model shape, naming the field', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-loop-cfg-'));
  try {
    await train(toyTask(), { ...cfg, maxSteps: 3 }, { runDir: dir, stageDir: join(dir, 'toy'), quiet: true });
    const other = toyTask();
    const bigger = new GPT(makeConfig({ vocabSize: 16, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 16 }));
    await assert.rejects(train({ ...other, model: bigger }, cfg, { runDir: dir, stageDir: join(dir, 'toy'), quiet: true }), /nLayer=1.*has 2/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a corrupt latest checkpoint is reported with its file, and the previous one is offered', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-loop-corrupt-'));
  try {
    await train(toyTask(), { ...cfg, maxSteps: 6 }, { runDir: dir, stageDir: join(dir, 'toy'), quiet: true });
    const latest = join(dir, 'toy', 'step-0000006', 'model.safetensors');
    writeFileSync(latest, Buffer.from('\x10\x00\x00\x00\x00\x00\x00\x00{"trunc'));
    await assert.rejects(train(toyTask(), cfg, { runDir: dir, stageDir: join(dir, 'toy'), quiet: true }), /step-0000006[/\\]model\.safetensors.*The previous checkpoint .*step-0000003 is available/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
