import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { GPT, MetricsLog, makeConfig, runSft, saveCheckpoint, type Conversation } from '../../src/index.js';
import { stderrOf, tinyRun } from './fixture.js';

const good: Conversation[] = [
  {
    messages: [
      { role: 'user', content: 'Who are you?' },
      { role: 'assistant', content: 'I am Forge.' },
    ],
  },
];

test('sft --fresh under trained later stages warns that they came from the replaced SFT model; into another stage does not', async () => {
  const runDir = tinyRun();
  try {
    // a reward model trained from the run's SFT model
    const model = new GPT(makeConfig({ vocabSize: 320, blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 32, position: 'rope' }), { seed: 4 });
    saveCheckpoint(join(runDir, 'rm'), model, { stage: 'rm', step: 1 });
    const lines: string[] = [];
    await runSft(runDir, { conversations: good, onlyData: true, steps: 1, fresh: true, quiet: true, log: (l) => lines.push(l) });
    assert.ok(
      lines.some((l) => /warning: --fresh replaces the SFT model that rm was trained from/.test(l)),
      lines.join('\n'),
    );
    const other: string[] = [];
    await runSft(runDir, { conversations: good, onlyData: true, steps: 1, fresh: true, into: 'sft-b', quiet: true, log: (l) => other.push(l) });
    assert.ok(!other.some((l) => /warning/.test(l)), other.join('\n'));
    // --fresh forgets the replaced run's records of the stage (the loss chart shows one run)
    const log = new MetricsLog(runDir);
    log.append({ stage: 'sft', step: 7, loss: 99 });
    await runSft(runDir, { conversations: good, onlyData: true, steps: 1, fresh: true, quiet: true, log: () => {} });
    const sft = log.read('sft');
    assert.ok(sft.length > 0 && sft.every((r) => r.loss !== 99 && r.step <= 1), JSON.stringify(sft));
    assert.ok(log.read('sft-b').length > 0, 'other stages keep their records');
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test('a --fresh start names each later checkpoint of the replaced run as it removes it', async () => {
  const runDir = tinyRun();
  try {
    const model = new GPT(makeConfig({ vocabSize: 320, blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 32, position: 'rope' }), { seed: 4 });
    for (const step of [4, 5]) saveCheckpoint(join(runDir, 'sft'), model, { stage: 'sft', step });
    const lines = await stderrOf(() => runSft(runDir, { conversations: good, onlyData: true, steps: 1, fresh: true, quiet: true, log: () => {} }));
    for (const step of [4, 5])
      assert.ok(
        lines.some((l) => l.includes(`removed ${join(runDir, 'sft', `step-000000${step}`)} (step ${step},`) && /now that step 1 is saved/.test(l)),
        lines.join('\n'),
      );
    assert.equal(existsSync(join(runDir, 'sft', 'step-0000005')), false);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test('a resumed sft says "resuming" once: the setup line names the checkpoint, the loop only where the learning rate goes on', async () => {
  const runDir = tinyRun();
  try {
    await runSft(runDir, { conversations: good, onlyData: true, steps: 1, fresh: true, quiet: true, log: () => {} });
    const log: string[] = [];
    const err = await stderrOf(() => runSft(runDir, { conversations: good, onlyData: true, steps: 2, log: (l) => log.push(l) }));
    const all = [...log, ...err].flatMap((l) => l.split('\n'));
    assert.equal(all.filter((l) => /resuming/.test(l)).length, 1, all.join('\n'));
    assert.ok(
      all.some((l) => /^sft: the learning rate goes on from /.test(l)),
      all.join('\n'),
    );
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
