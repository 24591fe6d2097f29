import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolvePreset, runEval, runLayout, runPipeline, runPretrain } from '../../src/index.js';
import { writeTinyPreset } from '../cli/fixture.js';

test('stage runners from library code: a signal aborted once training has begun stops pretraining after one step with a checkpoint, no signal handler installed, no exit; resume; eval; the pipeline stops at the stage', async () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-stages-'));
  const sigint = process.listenerCount('SIGINT');
  try {
    const { runDir, preset, file } = resolvePreset(writeTinyPreset(join(root, 'in')), { run: join(root, 'run'), maxSteps: 3 });
    assert.throws(() => resolvePreset(file, { maxSteps: 2.5 }), /maxSteps: expects a whole number of optimizer steps ≥ 1/);
    const lines: string[] = [];
    // aborted after the runner's start (a signal aborted before it rejects with nothing written: stage-loop-options.test)
    const ac = new AbortController();
    const r = await runPretrain(runDir, preset, {
      presetFile: file,
      quiet: true,
      signal: ac.signal,
      log: (l) => {
        lines.push(l);
        if (/^pretrain: .*M parameters/.test(l)) ac.abort();
      },
    });
    assert.equal(r.interrupted, true);
    assert.equal(r.step, 1);
    assert.ok(r.checkpoint && existsSync(join(r.checkpoint, 'model.safetensors')));
    assert.ok(
      lines.some((l) => /^pretrain: .*M parameters/.test(l)),
      'progress lines go to log',
    );
    assert.equal(process.listenerCount('SIGINT'), sigint, 'no SIGINT handler installed');
    assert.ok(existsSync(runLayout(runDir).preset) && existsSync(runLayout(runDir).lossPlot));

    const done = await runPretrain(runDir, preset, { presetFile: file, quiet: true });
    assert.equal(done.interrupted, false);
    assert.deepEqual(
      done.history.filter((h) => typeof h.loss === 'number').map((h) => h.step),
      [1, 2, 3],
    );

    const ev = runEval(runDir, { perTask: 1, fewShot: 0, tasks: ['arithmetic'], noCompare: true, quiet: true });
    assert.deepEqual(ev.table.columns, ['base (few-shot)']);
    assert.equal(readFileSync(runLayout(runDir).evalMarkdown, 'utf8'), `${ev.markdown}\n`);
    // the settings it ran with, for the pipeline to tell whether the preset still asks for them
    assert.deepEqual(JSON.parse(readFileSync(runLayout(runDir).evalJson, 'utf8')).settings, { perTask: 1, fewShot: 0, compare: null });

    // the pipeline calls the runners: an aborted signal ends it after stage 1 with nothing later run
    const p = resolvePreset(file, { run: join(root, 'p'), maxSteps: 2 });
    const logged: string[] = [];
    const ac2 = new AbortController();
    const pr = await runPipeline(p.runDir, p.preset, {
      presetFile: file,
      quiet: false, // the stages' lines reach \`log\` only when not quiet
      samples: false,
      signal: ac2.signal,
      log: (s) => {
        logged.push(s);
        if (/^pretrain: .*M parameters/.test(s)) ac2.abort();
      },
    });
    assert.equal(pr.interrupted, true);
    assert.deepEqual(
      pr.timings.map((t) => t.stage),
      ['1. data, tokenizer, pretraining'],
    );
    assert.match(logged[0], /^estimate for this run: about/);
    assert.equal(process.listenerCount('SIGINT'), sigint);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
