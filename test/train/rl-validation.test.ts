import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fnv1a, isHeldOut, isValidation } from '../../src/data/synthetic/split.js';
import { promptItem } from '../../src/data/synthetic/tasks.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { latestCheckpoint } from '../../src/model/checkpoint.js';
import { CheckpointSelector, isValidationPrompt, selectedStageDir, validationCurveSVG, validationPrompts } from '../../src/run/rl-validation.js';
import { taskPrompts } from '../../src/train/comparisons.js';
import type { MetricRecord } from '../../src/train/metrics.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { tempDir } from '../util/tmp.js';

test('validation split: disjoint from the test split, about a tenth of keys, and RL prompts drawn from it are train items', () => {
  let val = 0;
  for (let i = 0; i < 5000; i++) {
    const k = `w${i}`;
    assert.ok(!(isValidation(k) && isHeldOut(k)), k);
    if (isValidation(k)) val++;
    assert.equal(isValidation(k), fnv1a(k) % 100 >= 10 && fnv1a(k) % 100 < 20);
  }
  assert.ok(val > 350 && val < 650, String(val));
  const ps = validationPrompts(24, 5);
  assert.equal(ps.length, 24);
  assert.equal(new Set(ps.map((p) => p.prompt)).size, 24);
  assert.ok(new Set(ps.map((p) => p.task)).size >= 6, 'spread over the families');
  for (const p of ps) {
    assert.ok(isValidationPrompt(p));
    const item = promptItem(p.task!, p.prompt) ?? p.prompt;
    assert.ok(!isHeldOut(item) || p.task === 'chat', `${p.task}: ${item} is a test item`);
  }
  // the test prompts the eval draws are never validation prompts
  const test = new Set(taskPrompts('test', 200, 9001).map((p) => p.prompt));
  assert.ok(ps.every((p) => !test.has(p.prompt)));
});

class Scripted extends CheckpointSelector {
  scores: number[] = [];
  override measure(): { 'val/rubric': number; 'val/accuracy': number } {
    const s = this.scores.shift()!;
    return { 'val/rubric': s, 'val/accuracy': s / 10 };
  }
}

test('early stopping: keeps the best update after update 0, survives a restart, starts over with fresh', () => {
  const dir = tempDir('gf-rlval-');
  const stageDir = join(dir, 'rl');
  const tok = trainTokenizer(['hello world '.repeat(20)], { vocabSize: 270 });
  const policy = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 3 });
  const setup = { stageDir, stage: 'rl', policy, tok, tools: null, prompts: [], temperature: 1, maxTokens: 4, fresh: false, save: true };
  const sel = new Scripted(setup);
  sel.scores = [9, 5, 7, 6, 6.5];
  const history: MetricRecord[] = [0, 1, 2, 3, 4].map((step) => ({ stage: 'rl', step, ...sel.evaluate(step) }));
  // update 0 (the SFT model) scored best but is not a candidate
  assert.equal(sel.bestSoFar()?.step, 2);
  assert.equal(history[4]['val/best_step'], 2);
  assert.equal(selectedStageDir(stageDir), join(stageDir, 'best'));
  assert.match(latestCheckpoint(join(stageDir, 'best')) ?? '', /step-0000002$/);
  const again = new Scripted(setup);
  assert.equal(again.bestSoFar()?.step, 2, 'a resumed run remembers the best');
  again.scores = [6.8];
  again.evaluate(5);
  assert.equal(again.bestSoFar()?.step, 2, 'not better than 7');
  assert.match(validationCurveSVG(history, 'ppo', sel.bestSoFar()), /kept: update 2/);
  const fresh = new Scripted({ ...setup, fresh: true });
  assert.equal(fresh.bestSoFar(), null);
  assert.ok(!existsSync(join(stageDir, 'best')));
  assert.equal(selectedStageDir(stageDir), stageDir);
});
