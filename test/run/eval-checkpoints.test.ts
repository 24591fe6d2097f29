import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
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

// newcomer37: a quick check (`eval --per-task 1`) replaced the run's eval.md, the pipeline's report
test('runEval with out: the report goes to that directory and the run keeps its own eval.md and eval.json byte for byte; the CLI warns when it would replace them', async () => {
  const runDir = tinyRun();
  try {
    const layout = runLayout(runDir);
    writeFileSync(layout.evalMarkdown, 'the pipeline report\n');
    writeFileSync(layout.evalJson, '{"perTask": 50}\n');
    const out = join(runDir, 'quick', 'nested');
    const ev = runEval(runDir, { perTask: 1, fewShot: 0, tasks: ['arithmetic'], noCompare: true, quiet: true, out });
    assert.equal(readFileSync(layout.evalMarkdown, 'utf8'), 'the pipeline report\n');
    assert.equal(readFileSync(layout.evalJson, 'utf8'), '{"perTask": 50}\n');
    assert.equal(readFileSync(runLayout(out).evalMarkdown, 'utf8'), `${ev.markdown}\n`);
    assert.equal((JSON.parse(readFileSync(runLayout(out).evalJson, 'utf8')) as { perTask: number }).perTask, 1);
    const { reportNotice } = await import('../../src/cli/eval.js');
    assert.match(reportNotice(runDir, { perTask: 3, compare: false }) ?? '', /^eval: replacing the run's report, .*eval\.md \(with eval\.json: .*\), by one made with --per-task 3 --no-compare; --out DIR writes it elsewhere/);
    assert.equal(reportNotice(runDir, { perTask: 3, out }), null, '--out: nothing replaced');
    assert.equal(reportNotice(runDir, {}), null, "the preset's settings: nothing to warn about");
    rmSync(layout.evalMarkdown);
    assert.equal(reportNotice(runDir, { perTask: 3 }), null, 'no report yet');
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
