import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runSft } from '../../src/index.js';
import { qa, stderrOf, tinyRun } from './fixture.js';

const convs = [qa('Who are you?', 'I am Forge.'), qa('Say hello.', 'Hello!')];

test('resuming a stage already past --max-steps says there is nothing to train, not "step 4 of 2" or a decay to step 2', async () => {
  const runDir = tinyRun();
  try {
    await runSft(runDir, { conversations: convs, onlyData: true, into: 'sft-x', steps: 4, quiet: true, log: () => {} });
    const metrics = (): string => readFileSync(join(runDir, 'metrics.jsonl'), 'utf8');
    const logged = metrics();
    const log: string[] = [];
    let step = -1;
    const errs = await stderrOf(async () => {
      step = (await runSft(runDir, { conversations: convs, onlyData: true, into: 'sft-x', steps: 2, log: (l) => log.push(l) })).step;
    });
    assert.equal(step, 4); // nothing was trained
    // nor logged: no second record of step 4 (the first run's end-of-stage evaluation is the same model's)
    assert.equal(metrics(), logged);
    const all = [...log, ...errs].join('\n');
    assert.ok(!/step 4 of 2|step 4\/2|decaying to/.test(all), all);
    // called from the library, the lines name runSft's option `steps`, not the CLI's --max-steps (newcomer22)
    assert.ok(
      log.some((l) => l.includes('already at step 4, past steps 2: nothing to train; give steps > 4 to train on')),
      log.join('\n'),
    );
    // said once: the setup line above names the checkpoint and step, so the loop adds no second
    // "resuming … nothing to train" line of its own (resumeAnnounced, newcomer24)
    assert.ok(!errs.some((l) => /resuming|nothing to train/.test(l)), errs.join('\n'));
    assert.ok(!all.includes('--max-steps'), all);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test('resuming past --max-steps leaves the checkpoint as it was: a later, longer run goes on with the schedule it was interrupted in, not at minLr', async () => {
  const runDir = tinyRun();
  try {
    const sft = (steps: number, more: { signal?: AbortSignal; onStep?: (r: { step: number; learning_rate?: unknown }) => void } = {}) => runSft(runDir, { conversations: convs, onlyData: true, into: 'sft-x', steps, quiet: true, log: () => {}, ...more });
    // interrupted at step 3 of 8 (lr 0.01 → minLr 0.001 at step 8)
    const stop = new AbortController();
    const first = await sft(8, { signal: stop.signal, onStep: (r) => r.step === 3 && stop.abort() });
    assert.equal(first.step, 3);
    assert.equal(first.interrupted, true);
    const state = (): string => readFileSync(join(first.checkpoint!, 'trainer_state.json'), 'utf8');
    const before = state();
    // resumed with fewer steps: nothing trains, and the checkpoint is not re-saved with a schedule ending at 2
    const past = await sft(2);
    assert.equal(past.step, 3);
    assert.equal(past.checkpoint, first.checkpoint);
    assert.equal(state(), before);
    // resumed with the original horizon: step 4 trains at the rate the 8-step schedule gives it
    const rates = new Map<number, number>();
    await sft(8, { onStep: (r) => rates.set(r.step, Number(r.learning_rate)) });
    assert.ok(rates.get(4)! > 0.005, `step 4's learning rate ${rates.get(4)} (minLr 0.001; cosine 0.01 → 0.001 over 8 steps gives ~0.007)`);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test('resuming a stage already past --max-steps draws no progress bar (it read "sft-x [####] 100% 4/2", newcomer32)', async () => {
  const runDir = tinyRun();
  try {
    await runSft(runDir, { conversations: convs, onlyData: true, into: 'sft-x', steps: 4, quiet: true, log: () => {} });
    const written: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string | Uint8Array) => (written.push(String(s)), true)) as typeof process.stderr.write;
    let step = -1;
    try {
      // not quiet: the bar would be drawn were there anything to train
      step = (await runSft(runDir, { conversations: convs, onlyData: true, into: 'sft-x', steps: 2, log: () => {} })).step;
    } finally {
      process.stderr.write = orig;
    }
    assert.equal(step, 4);
    const out = written.join('');
    assert.ok(!/sft-x \[/.test(out) && !/4\/2/.test(out), out);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
