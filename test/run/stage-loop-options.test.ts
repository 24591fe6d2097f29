import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runDpo, runPretrain, runRl, runSft, type MetricRecord, type PretrainPreset } from '../../src/index.js';
import { runRm } from '../../src/run/rm.js';
import { qa, tinyRun } from './fixture.js';

const convs = [qa('Who are you?', 'I am Forge.'), qa('Say hello.', 'Hello!')];

/** tinyRun's preset with rm and dpo sections of a few steps. */
function run(): string {
  const runDir = tinyRun();
  const file = join(runDir, 'preset.json');
  const preset = JSON.parse(readFileSync(file, 'utf8'));
  const train = { ...preset.train, lr: 0.001, evalEvery: 0 };
  preset.rm = { comparisons: { prompts: 4, valPrompts: 2, k: 2, noise: 0, temperature: 1, maxTokens: 8, seed: 1 }, rankingsPerBatch: 2, train: { ...train, maxSteps: 9 } };
  preset.dpo = { beta: 0.1, pairsPerBatch: 2, train: { ...train, maxSteps: 9 } };
  writeFileSync(file, JSON.stringify(preset));
  const pairs = Array.from({ length: 8 }, (_, i) => JSON.stringify({ prompt: `Is ${i} small?`, chosen: 'Yes, it is.', rejected: 'No.' }));
  writeFileSync(join(runDir, 'pairs.jsonl'), `${pairs.join('\n')}\n`);
  return runDir;
}

test('every stage runner takes maxSteps, logEvery and onStep (runSft, runRm, runDpo): onStep sees every logEvery-th step and the last', async (t) => {
  const runDir = run();
  t.after(() => rmSync(runDir, { recursive: true, force: true }));
  const steps = (): { seen: number[]; onStep: (r: MetricRecord) => void } => {
    const seen: number[] = [];
    return {
      seen,
      onStep: (r) => {
        // the known metrics are typed numbers (a compile-time check: MetricRecord was number | string)
        const loss: number | undefined = r.loss;
        assert.equal(typeof loss, 'number');
        seen.push(r.step);
      },
    };
  };
  const sft = steps();
  await runSft(runDir, { conversations: convs, onlyData: true, into: 'sft-x', maxSteps: 3, logEvery: 2, quiet: true, onStep: sft.onStep });
  assert.deepEqual(sft.seen, [2, 3]);
  const rm = steps();
  const pairs = join(runDir, 'pairs.jsonl');
  await runRm(runDir, { rankings: [pairs], into: 'rm', maxSteps: 3, logEvery: 1, quiet: true, onStep: rm.onStep });
  assert.deepEqual(rm.seen, [1, 2, 3], 'runRm: onStep fires, maxSteps overrides the preset (9)');
  const dpo = steps();
  await runDpo(runDir, { pairs: [pairs], into: 'dpo', maxSteps: 2, logEvery: 1, quiet: true, onStep: dpo.onStep });
  assert.deepEqual(dpo.seen, [1, 2], 'runDpo: onStep fires, maxSteps overrides the preset (9)');
  await assert.rejects(
    () => runSft(runDir, { conversations: convs, onlyData: true, into: 'sft-z', logEvery: 0, quiet: true }),
    (e: Error & { field?: string }) => e.field === 'logEvery',
  );
});

test('a signal already aborted: every stage runner rejects with the AbortError before any work (no checkpoint, no metrics)', async (t) => {
  const runDir = run();
  t.after(() => rmSync(runDir, { recursive: true, force: true }));
  const signal = AbortSignal.abort();
  const metrics = join(runDir, 'metrics.jsonl');
  const before = existsSync(metrics) ? readFileSync(metrics, 'utf8') : '';
  const aborted = (e: Error) => e.name === 'AbortError';
  await assert.rejects(() => runSft(runDir, { conversations: convs, onlyData: true, into: 'sft-x', maxSteps: 2, quiet: true, signal }), aborted);
  await assert.rejects(() => runRm(runDir, { rankings: [join(runDir, 'pairs.jsonl')], into: 'rm', quiet: true, signal }), aborted);
  await assert.rejects(() => runDpo(runDir, { pairs: [join(runDir, 'pairs.jsonl')], into: 'dpo', quiet: true, signal }), aborted);
  await assert.rejects(() => runRl(runDir, { into: 'rl', quiet: true, signal }), aborted);
  const preset = JSON.parse(readFileSync(join(runDir, 'preset.json'), 'utf8')) as PretrainPreset;
  await assert.rejects(() => runPretrain(join(runDir, 'pre'), preset, { presetFile: join(runDir, 'preset.json'), maxSteps: 1, quiet: true, signal }), aborted);
  for (const stage of ['sft-x', 'rm', 'dpo', 'rl', 'pre']) assert.ok(!existsSync(join(runDir, stage)), `${stage} was not created`);
  assert.equal(existsSync(metrics) ? readFileSync(metrics, 'utf8') : '', before);
});

test('runPretrain takes maxSteps and logEvery as options (checked, named by the option), not only through resolvePreset', async () => {
  const runDir = tinyRun();
  const preset = JSON.parse(readFileSync(join(runDir, 'preset.json'), 'utf8')) as PretrainPreset;
  rmSync(runDir, { recursive: true, force: true });
  await assert.rejects(
    () => runPretrain('/nonexistent/never-created', preset, { presetFile: 'preset.json', maxSteps: 0 }),
    (e: Error & { field?: string }) => e.field === 'maxSteps' && /positive integer, got 0/.test(e.message),
  );
  await assert.rejects(
    () => runPretrain('/nonexistent/never-created', preset, { presetFile: 'preset.json', logEvery: 1.5 }),
    (e: Error & { field?: string }) => e.field === 'logEvery',
  );
});
