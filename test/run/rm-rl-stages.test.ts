import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runSft, type Conversation } from '../../src/index.js';
import { runRm } from '../../src/run/rm.js';
import { runRl } from '../../src/run/rl.js';
import { latestCheckpoint } from '../../src/model/checkpoint.js';
import { MetricsLog } from '../../src/train/metrics.js';
import { loadRunModels } from '../../src/server/index.js';
import { rmScores } from '../../src/run/rm.js';
import { loadRewardModel } from '../../src/run/models.js';
import { rlReport, rmReport } from '../../src/run/report.js';
import { runEval } from '../../src/run/eval.js';
import { stderrOf, tinyRun } from './fixture.js';

const qa = (q: string, a: string): Conversation => ({
  messages: [
    { role: 'user', content: q },
    { role: 'assistant', content: a },
  ],
});
const train = (maxSteps: number) => ({ maxSteps, lr: 0.001, minLr: 0.001, warmupSteps: 0, weightDecay: 0, beta1: 0.9, beta2: 0.95, gradClip: 1, gradAccum: 1, evalEvery: 0, checkpointEvery: 0, keepLast: 1, logEvery: 1 });

/** tinyRun's preset with small rm and rl sections. */
function run(): string {
  const runDir = tinyRun();
  const file = join(runDir, 'preset.json');
  const preset = JSON.parse(readFileSync(file, 'utf8'));
  preset.rm = { comparisons: { prompts: 4, valPrompts: 2, k: 2, noise: 0, temperature: 1, maxTokens: 8, seed: 1 }, rankingsPerBatch: 2, train: train(2) };
  preset.rl = { config: { algo: 'ppo', promptsPerRollout: 2, epochs: 1, minibatches: 1, maxNewTokens: 6, temperature: 1, klCoef: 0.05, klBound: 8, checkerBonus: 0, ptxCoef: 0, ptxRows: 1 }, prompts: 8, validation: { prompts: 0 }, train: train(2) };
  writeFileSync(file, JSON.stringify(preset));
  return runDir;
}

test('rm --from/--into and rl --from/--into/--reward-model: second reward model and a LoRA policy beside the standard stages', async (t) => {
  const runDir = run();
  t.after(() => rmSync(runDir, { recursive: true, force: true }));
  await runSft(runDir, { conversations: [qa('Who are you?', 'I am Forge.')], onlyData: true, into: 'sft-lora', steps: 2, lr: 0.02, quiet: true, lora: 'r=2,alpha=4,targets=qkv' });
  const rankings = join(runDir, 'verifier.jsonl');
  writeFileSync(rankings, Array.from({ length: 12 }, (_, i) => JSON.stringify({ prompt: `Is ${i} small?`, chosen: 'Yes, it is.', rejected: 'No.' })).join('\n') + '\n');

  await assert.rejects(() => runRm(runDir, { rankings: [rankings], into: 'sft', quiet: true }), /--into sft would train over the model it starts from/);
  const rm = await runRm(runDir, { rankings: [rankings], from: 'sft-lora', into: 'verifier', quiet: true, maxSteps: 2 });
  assert.equal(rm.step, 2);
  assert.ok(latestCheckpoint(join(runDir, 'verifier')), 'the reward model is in <run>/verifier');
  assert.equal(existsSync(join(runDir, 'rm')), false, 'the standard rm stage is untouched');
  assert.ok(existsSync(join(runDir, 'verifier-eval.json')));
  assert.equal(existsSync(join(runDir, 'rm-eval.json')), false);
  assert.ok(new MetricsLog(runDir).read('verifier').length > 0, 'metrics carry the stage name');
  assert.match(rmReport(rm), /^verifier: done at step 2;/);
  // a stage another stage wrote is neither resumed nor replaced (--fresh included): base is intact
  const baseBefore = latestCheckpoint(join(runDir, 'base'));
  for (const fresh of [false, true]) await assert.rejects(() => runRm(runDir, { rankings: [rankings], into: 'base', fresh, quiet: true, maxSteps: 1 }), /base holds checkpoints the pretrain stage wrote; training base into it would (resume|replace) them/);
  assert.equal(latestCheckpoint(join(runDir, 'base')), baseBefore);
  await assert.rejects(() => runRm(runDir, { rankings: [rankings], from: 'verifier', into: 'rm2', quiet: true }), /--from verifier is already a reward model/);

  // sft refuses to start from a reward model, or to train over the stage it starts from
  await assert.rejects(() => runSft(runDir, { conversations: [qa('Hi?', 'Hello.')], onlyData: true, from: 'verifier', into: 'sft-x', steps: 1, quiet: true }), /--from verifier is a reward model/);
  await assert.rejects(() => runSft(runDir, { conversations: [qa('Hi?', 'Hello.')], onlyData: true, from: 'sft-lora', into: 'sft-lora', steps: 1, quiet: true }), /--into sft-lora would train over the model it starts from/);

  // rl from the LoRA SFT against the second reward model, into its own stage
  await assert.rejects(() => runRl(runDir, { quiet: true }), /rm/, 'the default reward model stage does not exist');
  const logged: string[] = [];
  const rl = await runRl(runDir, { from: 'sft-lora', into: 'rl-lora', rewardModel: 'verifier', quiet: true, maxSteps: 2, lora: 'r=2,alpha=4,targets=qkv', log: (l) => logged.push(l) });
  assert.equal(rl.stage, 'rl-lora');
  assert.ok(latestCheckpoint(join(runDir, 'rl-lora')));
  assert.equal(existsSync(join(runDir, 'rl')), false);
  assert.ok(
    logged.some((l) => l.startsWith('rl-lora: ppo from') && l.includes('sft-lora') && l.includes('verifier')),
    logged.join('\n'),
  );
  assert.ok(new MetricsLog(runDir).read('rl-lora').length > 0);
  assert.match(rlReport(rl), /^rl-lora: done at update 2;/);
  // resumed: the setup line names the stage's own checkpoint, not the SFT model as a fresh start
  const resumedFrom = latestCheckpoint(join(runDir, 'rl-lora'));
  const resumedLog: string[] = [];
  // not quiet: the training loop's own "resuming" line stays silent (the setup line said it), as in sft
  let more: Awaited<ReturnType<typeof runRl>> | undefined;
  const err = await stderrOf(async () => {
    more = await runRl(runDir, { from: 'sft-lora', into: 'rl-lora', rewardModel: 'verifier', maxSteps: 3, lora: 'r=2,alpha=4,targets=qkv', log: (l) => resumedLog.push(l) });
  });
  assert.equal(more?.step, 3);
  assert.ok(
    resumedLog.some((l) => l.startsWith(`rl-lora: ppo resuming ${resumedFrom} at step 2 of 3 (the stage started from ${latestCheckpoint(join(runDir, 'sft-lora'))}) against `)),
    resumedLog.join('\n'),
  );
  const all = [...resumedLog, ...err].flatMap((l) => l.split('\n'));
  assert.equal(all.filter((l) => /resuming/.test(l)).length, 1, all.join('\n'));

  // PPO's policy carries a value head: a generation model, not a reward model
  await assert.rejects(() => runRl(runDir, { from: 'verifier', into: 'rl-x', rewardModel: 'verifier', quiet: true, maxSteps: 1 }), /--from verifier is a reward model, not a policy/);
  await assert.rejects(() => runRl(runDir, { from: 'sft-lora', into: 'rl-y', rewardModel: 'rl-lora', quiet: true, maxSteps: 1 }), /is not a reward model \(its scalar head is PPO's value head\)/);
  assert.throws(() => rmScores(join(runDir, 'rl-lora'), 'hi', ['x']), /not a reward model \(its scalar head is PPO's value head\)/);
  assert.equal(rmScores(join(runDir, 'verifier'), 'hi', ['x']).length, 1);
  assert.throws(() => loadRewardModel(join(runDir, 'sft')), /not a reward model \(no reward head/);
  assert.equal(loadRewardModel(join(runDir, 'verifier')).reward, true);
  // serve: the PPO stage generates, the second reward model scores
  const served = loadRunModels(runDir);
  assert.deepEqual(
    [...served.values()].map((m) => `${m.id}:${m.reward ? 'reward' : 'generation'}`),
    ['base:generation', 'sft:generation', 'rl-lora:generation', 'sft-lora:generation', 'verifier:reward'],
  );
  // eval scores the stages named beside the standard ones, against the reward model named
  assert.throws(() => runEval(runDir, { stages: ['verifier'], quiet: true }), /stage verifier is a reward model, not a policy/);
  // (the comparison's prompts do not fit this fixture's 64-token context: the accuracy table only)
  const ev = runEval(runDir, { stages: ['sft-lora', 'rl-lora'], tasks: ['chat'], perTask: 2, noCompare: true, quiet: true });
  assert.deepEqual(ev.table.columns, ['base (few-shot)', 'SFT, no tool', 'SFT', 'sft-lora', 'rl-lora']);
  assert.throws(() => runEval(runDir, { rewardModel: 'rl-lora', tasks: ['chat'], perTask: 1, quiet: true }), /rl-lora\S* is not a reward model/);
  assert.throws(() => runEval(runDir, { rewardModel: 'nope', tasks: ['chat'], perTask: 1, quiet: true }), /--reward-model nope has no checkpoint/);
});

// newcomer29: rm --rankings … --on-bad skip dropped a bad line silently; it warns as dpo does
test('rm --rankings with onBad skip warns of each skipped line by file, line and field', async (t) => {
  const runDir = run();
  t.after(() => rmSync(runDir, { recursive: true, force: true }));
  const rankings = join(runDir, 'my.jsonl');
  const lines = Array.from({ length: 6 }, (_, i) => JSON.stringify({ prompt: `Is ${i} small?`, chosen: 'Yes, it is.', rejected: 'No.' }));
  lines[4] = JSON.stringify({ prompt: 'Is 4 small?' });
  writeFileSync(rankings, `${lines.join('\n')}\n`);
  const warnings: string[] = [];
  await runRm(runDir, { rankings: [rankings], onBad: 'skip', quiet: true, maxSteps: 1, onWarning: (w) => warnings.push(w) });
  assert.equal(warnings[0], `rm: warning: skipped 1 line of ${rankings}`, warnings.join('\n'));
  assert.match(warnings[1] ?? '', new RegExp(`^rm: warning: ${rankings.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:5\\b.*— skipped$`), warnings.join('\n'));
  assert.equal(warnings.length, 2, warnings.join('\n'));
});
