import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolvePreset, runPipeline } from '../../src/index.js';
import { pipelineWork, stageDone, withStageSteps } from '../../src/run/pipeline.js';
import { evalSettings } from '../../src/run/eval.js';
import { writeTinyPreset } from '../cli/fixture.js';

/** A stage's checkpoint pointer as saveCheckpoint writes it (pipelineWork reads only the pointer's step and time). */
function pointer(runDir: string, stage: string, step: number, at: number, startedFrom?: string): void {
  const dir = join(runDir, stage, `step-${String(step).padStart(7, '0')}`);
  mkdirSync(dir, { recursive: true });
  // what latestCheckpoint and stageDone read of a checkpoint: its config.json and trainer state
  writeFileSync(join(dir, 'config.json'), '{}');
  writeFileSync(join(dir, 'trainer_state.json'), JSON.stringify({ step, ...(startedFrom !== undefined ? { startedFrom } : {}) }));
  const f = join(runDir, stage, 'latest.json');
  writeFileSync(f, JSON.stringify({ checkpoint: `step-${String(step).padStart(7, '0')}`, step }) + '\n');
  utimesSync(f, at, at);
}

function output(file: string, text: string, at: number): void {
  writeFileSync(file, text);
  utimesSync(file, at, at);
}

test('pipeline: a re-run of a finished run (every stage at its steps, eval.md and the chat newer than every checkpoint) does nothing and prints the stored results', async () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-rerun-'));
  try {
    const tiny = writeTinyPreset(join(root, 'in'), { maxSteps: 3 });
    const sftTrain = { maxSteps: 4, lr: 0.001, minLr: 0.0001, warmupSteps: 1, weightDecay: 0, beta1: 0.9, beta2: 0.95, gradClip: 1, gradAccum: 1, evalEvery: 0, checkpointEvery: 0, keepLast: 1, logEvery: 1 };
    const { runDir, preset, file } = resolvePreset(tiny, { run: join(root, 'run') });
    preset.sft = { mixture: { sources: [{ task: 'arithmetic', weight: 1 }], examples: 16, testPerTask: 2 }, batchSize: 2, seqLen: 16, train: sftTrain } as unknown as typeof preset.sft;
    const t = Date.now() / 1000 - 100;
    pointer(runDir, 'base', 3, t);
    pointer(runDir, 'sft', 4, t + 10);
    output(join(runDir, 'eval.md'), '# eval of this run\n', t + 20);
    output(join(runDir, 'chat-transcript.txt'), 'user: hi\nassistant: hello\n', t + 20);
    assert.equal(pipelineWork(runDir, preset, { techniques: false }), null);

    const logged: string[] = [];
    const printed: string[] = [];
    const r = await runPipeline(runDir, preset, { presetFile: file, quiet: true, techniques: false, log: (s) => logged.push(s), print: (s) => printed.push(s) });
    assert.equal(r.interrupted, false);
    assert.deepEqual(r.timings, [], 'no stage ran');
    assert.equal(r.markdown, '# eval of this run\n');
    assert.ok(!logged.some((l) => /^estimate for this run/.test(l)), 'no calibration');
    // as make's "up to date": a line per stage and a summary pointing at eval.md, not the stored
    // chat and evaluation printed again (the stored results are still returned)
    assert.deepEqual(logged, [`pretrain: done at step 3 (${join(runDir, 'base', 'step-0000003')}); nothing to do`, `sft: done at step 4 (${join(runDir, 'sft', 'step-0000004')}); nothing to do`]);
    assert.equal(printed.length, 1, printed.join('\n'));
    assert.match(printed[0], /is up to date .*nothing to do\. Results: .*eval\.md/);
    assert.ok(!printed[0].includes('assistant: hello') && !printed[0].includes('# eval of this run'), printed[0]);
    assert.equal(r.transcript, 'user: hi\nassistant: hello\n');

    // work left: a checkpoint newer than the evaluation, a stage short of its steps, a stage the options add
    pointer(runDir, 'sft', 4, t + 30);
    assert.match(pipelineWork(runDir, preset, { techniques: false }) ?? '', /eval\.md is older than a checkpoint/);
    pointer(runDir, 'sft', 2, t + 10);
    assert.equal(pipelineWork(runDir, preset, { techniques: false }), 'sft is at step 2 of 4');
    pointer(runDir, 'sft', 4, t + 10);
    assert.match(pipelineWork(runDir, preset, { techniques: true }) ?? '', /^techniques\/sft is at step 0 of \d+/);
    // the evaluation's settings: eval.json records them; the preset's sft.eval changed since evaluates again
    const evalJson = join(runDir, 'eval.json');
    output(evalJson, JSON.stringify({ perTask: 50, fewShot: 3, settings: evalSettings(preset.sft!.eval, {}, false) }), t + 20);
    assert.equal(pipelineWork(runDir, preset, { techniques: false }), null);
    preset.sft!.eval = { perTask: 20 };
    assert.equal(pipelineWork(runDir, preset, { techniques: false }), `${evalJson} was made with sft.eval.perTask 50, the preset now asks for 20`);
    delete preset.sft!.eval;
    // with a reward model the comparison runs: its settings count too
    pointer(runDir, 'rm', 2, t + 10);
    const withRm: typeof preset = { ...preset, rm: { train: { maxSteps: 2 } } as typeof preset.rm, sft: { ...preset.sft!, eval: { compare: { maxTokens: 64 } } } };
    output(evalJson, JSON.stringify({ perTask: 50, fewShot: 3, settings: evalSettings({}, {}, true) }), t + 20);
    assert.equal(pipelineWork(runDir, withRm, { techniques: false }), `${evalJson} was made with sft.eval.compare.maxTokens 48, the preset now asks for 64`);
    withRm.sft!.eval = {};
    assert.equal(pipelineWork(runDir, withRm, { techniques: false }), null);
    // an eval.json of an older gptforge (perTask and fewShot only) is read as far as it goes
    output(evalJson, JSON.stringify({ perTask: 50, fewShot: 3 }), t + 20);
    assert.equal(pipelineWork(runDir, preset, { techniques: false }), null);
    preset.sft!.eval = { fewShot: 1 };
    assert.match(pipelineWork(runDir, preset, { techniques: false }) ?? '', /sft\.eval\.fewShot 3, the preset now asks for 1$/);
    delete preset.sft!.eval;
    rmSync(join(runDir, 'chat-transcript.txt'));
    assert.match(pipelineWork(runDir, preset, { techniques: false }) ?? '', /chat-transcript\.txt is missing/);
    delete preset.sft;
    assert.match(pipelineWork(runDir, preset) ?? '', /no sft section/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('stageDone: a stage at its steps that started from the checkpoint its parent stands for now is done; short of its steps, or started from a parent retrained since, it has work', () => {
  const runDir = mkdtempSync(join(tmpdir(), 'gf-done-'));
  try {
    const t = Date.now() / 1000 - 100;
    pointer(runDir, 'base', 3, t);
    pointer(runDir, 'sft', 4, t + 10, 'base/step-0000003');
    const sft = { stage: 'sft', steps: 4, from: 'base' };
    assert.deepEqual(stageDone(runDir, sft), { checkpoint: join(runDir, 'sft', 'step-0000004'), step: 4 });
    assert.equal(stageDone(runDir, { ...sft, steps: 5 }), null);
    assert.deepEqual(stageDone(runDir, { ...sft, steps: 2 })?.step, 4, 'past its steps is done too');
    // the base model retrained since (its newest checkpoint is another): the SFT model is out of date
    pointer(runDir, 'base', 6, t + 20);
    assert.equal(stageDone(runDir, sft), null);
    // a copied run (every file's time new, in any order) is judged by what the trainer state records, not by times
    pointer(runDir, 'sft', 4, t - 50, 'base/step-0000006');
    assert.equal(stageDone(runDir, sft)?.step, 4);
    assert.equal(stageDone(runDir, { stage: 'rm', steps: 1, from: 'sft' }), null, 'no checkpoint');
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test("withStageSteps: --sft-max-steps and --rm-max-steps replace their sections' train.maxSteps in a copy; a bad budget or a stage the preset lacks is refused, naming the option", () => {
  const tiny = resolvePreset('tiny').preset;
  const p = withStageSteps(tiny, { sft: 7, rm: 3 });
  assert.equal(p.sft?.train.maxSteps, 7);
  assert.equal(p.rm?.train.maxSteps, 3);
  assert.equal(p.rl?.train.maxSteps, tiny.rl?.train.maxSteps);
  assert.equal(p.train.maxSteps, tiny.train.maxSteps, 'pretraining keeps its own (--max-steps)');
  assert.notEqual(tiny.sft?.train.maxSteps, 7, 'the preset given is not changed');
  assert.throws(() => withStageSteps(tiny, { rl: 0 }), /--rl-max-steps: expects a whole number of optimizer steps ≥ 1, got 0/);
  assert.throws(() => withStageSteps({ ...tiny, rm: undefined }, { rm: 5 }), /--rm-max-steps: preset "tiny" has no "rm" section/);
});

// fixes46 #7: no quick way to try the techniques stage
test('withStageSteps: --techniques-max-steps sets techniques.steps (making the section, which turns the stage on, for a preset without one); a bad budget is refused', () => {
  const tiny = resolvePreset('tiny').preset;
  assert.equal(tiny.techniques, undefined, 'the tiny preset has no techniques stage');
  const p = withStageSteps(tiny, { techniques: 50 });
  assert.deepEqual(p.techniques, { steps: 50 });
  const small = resolvePreset('small').preset;
  const q = withStageSteps(small, { techniques: 200 });
  assert.equal(q.techniques?.steps, 200);
  assert.equal(q.techniques?.perCell, small.techniques?.perCell, 'the rest of the section kept');
  assert.notEqual(small.techniques?.steps, 200, 'the preset given is not changed');
  assert.throws(() => withStageSteps(tiny, { techniques: 1.5 }), /--techniques-max-steps: expects a whole number of optimizer steps ≥ 1, got 1\.5/);
});
