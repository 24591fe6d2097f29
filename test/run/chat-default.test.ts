import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, saveCheckpoint } from '../../src/index.js';
import { cachedDefaultChatModel, checkpointStageDir, defaultChatModel, defaultChatStage } from '../../src/run/models.js';
import { tinyRun } from './fixture.js';

test('defaultChatStage: the latest finished of rl/best → rl → sft; an RL stage stopped part-way is passed over for SFT, and said so; with none finished, the latest', () => {
  const runDir = tinyRun();
  try {
    const at = (s: string) => join(runDir, s);
    // base and sft only (sft's checkpoint records no trainer state: counted as finished)
    assert.deepEqual(defaultChatStage(at), { stage: 'sft', checkpoint: join(runDir, 'sft', 'step-0000001'), finished: true, why: 'the latest finished of rl/best → rl → sft' });
    const sft = loadModel(runDir, 'sft', { fresh: true });
    const ck = { tokenizerJSON: sft.tok.toJSON(), tokenizerHash: sft.tok.hash() };
    const save = (dir: string, step: number, maxSteps: number): void => {
      const d = saveCheckpoint(dir, sft.model, { stage: 'rl', step, ...ck });
      writeFileSync(join(d, 'trainer_state.json'), JSON.stringify({ stage: 'rl', step, config: { maxSteps } }));
    };
    // RL interrupted at update 3 of 8: SFT answers, and the reason names the way to the other
    save(at('rl'), 3, 8);
    const partWay = defaultChatStage(at);
    assert.equal(partWay?.stage, 'sft');
    assert.equal(partWay?.why, 'the latest finished of rl/best → rl → sft; rl stopped at step 3 of 8: --stage rl chats with it');
    // with no finished stage, the latest present
    assert.deepEqual(defaultChatStage((s) => (s === 'sft' ? null : at(s)))?.why, 'the latest of rl/best → rl → sft, stopped at step 3 of 8: none is finished');
    // RL finished, its early stopping kept update 2: that one answers
    save(at('rl'), 8, 8);
    save(join(runDir, 'rl', 'best'), 2, 8);
    assert.deepEqual(defaultChatStage(at), { stage: 'rl', checkpoint: join(runDir, 'rl', 'best', 'step-0000002'), finished: true, why: 'the latest finished of rl/best → rl → sft' });
    // the server's view: its models by id, reward models and stages it does not serve left out
    assert.equal(checkpointStageDir(join(runDir, 'rl', 'best', 'step-0000002')), join(runDir, 'rl'));
    const served = (ids: string[]) => new Map(ids.map((id) => [id, { dir: join(runDir, id, 'step-0000001'), reward: id === 'rm' }]));
    assert.equal(defaultChatModel(served(['base', 'sft', 'rl', 'rm'])), 'rl');
    assert.equal(defaultChatModel(served(['base', 'sft', 'rm'])), 'sft');
    assert.equal(defaultChatModel(served(['base'])), undefined);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test("/v1/models' default is cached until a stage saves: repeated asks compute it once; a stage trained on since, or newly served, shows up", () => {
  const runDir = tinyRun();
  try {
    const sft = loadModel(runDir, 'sft', { fresh: true });
    const save = (step: number, maxSteps: number): void => {
      const d = saveCheckpoint(join(runDir, 'rl'), sft.model, { stage: 'rl', step, tokenizerJSON: sft.tok.toJSON(), tokenizerHash: sft.tok.hash() });
      writeFileSync(join(d, 'trainer_state.json'), JSON.stringify({ stage: 'rl', step, config: { maxSteps } }));
    };
    let computed = 0;
    const cached = cachedDefaultChatModel((m) => {
      computed++;
      return defaultChatModel(m);
    });
    const served = (ids: string[]) => new Map(ids.map((id) => [id, { dir: join(runDir, id, 'step-0000001'), reward: id === 'rm' }]));
    // the server serves base and sft: sft, then from the cache
    const before = served(['base', 'sft', 'rm']);
    assert.equal(cached(before), 'sft');
    assert.equal(cached(before), 'sft');
    assert.equal(computed, 1, 'nothing saved: not computed again');
    // rl trained and the models reloaded (a new map): rl shows up
    save(3, 8);
    const after = served(['base', 'sft', 'rl', 'rm']);
    assert.equal(cached(after), 'sft', 'rl stopped part-way: sft still answers');
    assert.equal(computed, 2);
    assert.equal(cached(after), 'sft');
    assert.equal(computed, 2);
    // rl trains on to its end, the map unchanged: its new checkpoint (latest.json rewritten) is seen
    save(8, 8);
    assert.equal(cached(after), 'rl');
    assert.equal(computed, 3);
    assert.equal(cached(after), 'rl');
    assert.equal(computed, 3);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
