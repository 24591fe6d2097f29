import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { tinyRun } from '../run/fixture.js';
import { CLI } from './fixture.js';

const chat = (runDir: string, ...more: string[]) => spawnSync(process.execPath, [CLI, 'chat', '--run', runDir, '--prompt', 'hi', '--max-tokens', '2', '--no-tools', ...more], { encoding: 'utf8' });

test('chat --prompt says on stderr which checkpoint answers, and when it fell back to a base model (newcomer22)', () => {
  const runDir = tinyRun();
  try {
    const withSft = chat(runDir);
    assert.equal(withSft.status, 0, withSft.stderr);
    // the default said with its rule (the web UI's chat opens with the same: /v1/models' default)
    assert.match(withSft.stderr, new RegExp(`^chat: ${join(runDir, 'sft')}\\S* \\(stage sft: the latest finished of rl/best → rl → sft\\)$`, 'm'));
    assert.doesNotMatch(withSft.stderr, /base model/);
    // asked for by name: said, without the advice to train a chat stage
    const asked = chat(runDir, '--stage', 'base');
    assert.match(asked.stderr, /^chat: \S+ \(stage pretrain\): a base model, which continues text rather than answering$/m);
    rmSync(join(runDir, 'sft'), { recursive: true });
    const fellBack = chat(runDir);
    assert.equal(fellBack.status, 0, fellBack.stderr);
    assert.match(fellBack.stderr, new RegExp(`^chat: ${join(runDir, 'base')}\\S* \\(stage pretrain\\): a base model \\(no chat stage in this run\\), which continues text rather than answering; gptforge sft trains one$`, 'm'));
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test('chat names the stage directory asked for, and the stage its checkpoint was trained as when that differs (sft-lora-merged)', async () => {
  const { stageLabel } = await import('../../src/cli/chat-run.js');
  assert.equal(stageLabel(join('runs', 'tiny', 'sft-lora-merged', 'step-0000040'), 'sft-lora'), 'sft-lora-merged, trained as sft-lora');
  assert.equal(stageLabel(join('runs', 'tiny', 'sft', 'step-0000040'), 'sft'), 'sft');
  assert.equal(stageLabel(join('runs', 'tiny', 'base', 'step-0000300'), 'pretrain'), 'pretrain');
  // an early-stopping pick is its stage's (it named "best", which --stage does not find)
  assert.equal(stageLabel(join('runs', 'tiny', 'rl', 'best', 'step-0000002'), 'rl'), 'rl, its early-stopping best');
  assert.equal(stageLabel(join('runs', 'tiny', 'rl', 'best'), 'rl'), 'rl, its early-stopping best');
  assert.equal(stageLabel(join('runs', 'tiny', 'rl-lora-merged', 'best', 'step-0000004'), 'rl-lora'), 'rl-lora-merged, trained as rl-lora, its early-stopping best');
});
