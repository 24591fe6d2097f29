import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runRm } from '../../src/run/rm.js';
import { runLayout } from '../../src/run/layout.js';
import { tinyRun } from './fixture.js';

const train = (maxSteps: number) => ({ maxSteps, lr: 0.001, minLr: 0.001, warmupSteps: 0, weightDecay: 0, beta1: 0.9, beta2: 0.95, gradClip: 1, gradAccum: 1, evalEvery: 0, checkpointEvery: 0, keepLast: 1, logEvery: 1 });

// newcomer (fixes39): rankings made on the web UI's Rank page (<run>/rankings.jsonl) never reached
// the reward model: `gptforge rm` (and the dashboard's Start rm) trained on simulated comparisons
test('rm trains on <run>/rankings.jsonl when it has rankings, says so, and --no-run-rankings opts out', async (t) => {
  const runDir = tinyRun();
  t.after(() => rmSync(runDir, { recursive: true, force: true }));
  const file = join(runDir, 'preset.json');
  const preset = JSON.parse(readFileSync(file, 'utf8'));
  preset.rm = { comparisons: { prompts: 4, valPrompts: 2, k: 2, noise: 0, temperature: 1, maxTokens: 8, seed: 1 }, rankingsPerBatch: 2, train: train(1) };
  writeFileSync(file, JSON.stringify(preset));
  const own = runLayout(runDir).rankings;
  writeFileSync(own, `${Array.from({ length: 7 }, (_, i) => JSON.stringify({ prompt: `Is ${i} small?`, completions: ['Yes, it is.', 'No.'] })).join('\n')}\n`);

  const logs: string[] = [];
  await runRm(runDir, { quiet: true, maxSteps: 1, log: (l) => logs.push(l) });
  assert.ok(logs.includes(`rm: training on your 7 rankings in ${own} (the Rank page and gptforge label write it; --no-run-rankings for the simulated comparisons instead)`), logs.join('\n'));
  assert.equal(existsSync(runLayout(runDir).comparisons), false, 'no simulated comparisons sampled');

  // named files win over the run's own
  const mine = join(runDir, 'mine.jsonl');
  writeFileSync(mine, `${Array.from({ length: 6 }, (_, i) => JSON.stringify({ prompt: `Is ${i + 10} small?`, chosen: 'Yes.', rejected: 'No.' })).join('\n')}\n`);
  logs.length = 0;
  await runRm(runDir, { rankings: [mine], fresh: true, quiet: true, maxSteps: 1, log: (l) => logs.push(l) });
  assert.ok(!logs.some((l) => l.includes(own)), logs.join('\n'));

  logs.length = 0;
  // (this fixture's random model ties every simulated ranking: the error names the simulated comparisons)
  const simulated = /the simulated comparisons in \S+comparisons give no pair with a preference/;
  await assert.rejects(() => runRm(runDir, { runRankings: false, fresh: true, quiet: true, maxSteps: 1, log: (l) => logs.push(l) }), simulated);
  assert.ok(logs.includes(`rm: not using your rankings in ${own} (--no-run-rankings): training on the simulated comparisons`), logs.join('\n'));
  assert.ok(existsSync(runLayout(runDir).comparisons), 'the simulated comparisons were sampled');

  // an empty file (every prompt skipped) is no rankings: the simulated comparisons, as before
  writeFileSync(own, '');
  logs.length = 0;
  await assert.rejects(() => runRm(runDir, { quiet: true, maxSteps: 1, log: (l) => logs.push(l) }), simulated);
  assert.ok(!logs.some((l) => l.includes('training on your')), logs.join('\n'));
});
