import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, runEval, saveCheckpoint } from '../../src/index.js';
import { runLayout } from '../../src/run/layout.js';
import { tinyRun } from './fixture.js';

test('eval.json and eval.md name the checkpoint and step each stage was evaluated at (an RL stage: its early-stopping best, not its newest)', () => {
  const runDir = tinyRun();
  try {
    // an RL stage whose early stopping kept update 2 of 3
    const sft = loadModel(runDir, 'sft', { fresh: true });
    const ck = { tokenizerJSON: sft.tok.toJSON(), tokenizerHash: sft.tok.hash() };
    saveCheckpoint(join(runDir, 'rl'), sft.model, { stage: 'rl', step: 3, ...ck });
    saveCheckpoint(join(runDir, 'rl', 'best'), sft.model, { stage: 'rl', step: 2, ...ck });
    const ev = runEval(runDir, { perTask: 1, fewShot: 0, tasks: ['arithmetic'], noCompare: true, quiet: true });
    const json = JSON.parse(readFileSync(runLayout(runDir).evalJson, 'utf8')) as { checkpoints: unknown };
    assert.deepEqual(json.checkpoints, [
      { name: 'base (few-shot)', stage: 'base', checkpoint: join('base', 'step-0000001'), step: 1 },
      { name: 'SFT', stage: 'sft', checkpoint: join('sft', 'step-0000001'), step: 1 },
      { name: 'PPO', stage: 'rl', checkpoint: join('rl', 'best', 'step-0000002'), step: 2 },
    ]);
    assert.ok(ev.markdown.includes(`Checkpoints evaluated: base (few-shot) ${join('base', 'step-0000001')} (step 1); SFT ${join('sft', 'step-0000001')} (step 1); PPO ${join('rl', 'best', 'step-0000002')} (step 2).`), ev.markdown);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
