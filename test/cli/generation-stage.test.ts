import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT, loadCheckpoint, saveCheckpoint, Tokenizer } from '../../src/index.js';
import { tinyRun } from '../run/fixture.js';
import { CLI } from './fixture.js';

/**
 * sample, chat and ask refuse a reward model as `serve` does (they used to decode from its
 * trunk: text without a word), and an unknown stage lists only the stages that generate.
 */
test('sample/chat/ask --stage rm refuse the reward model; an unknown stage does not list it', { timeout: 90_000 }, () => {
  const runDir = tinyRun();
  try {
    const sft = loadCheckpoint(join(runDir, 'sft', 'step-0000001'));
    const tok = Tokenizer.fromJSON(sft.tokenizerJSON!);
    const rm = new GPT(sft.meta.model, { seed: 4 });
    rm.addScalarHead();
    saveCheckpoint(join(runDir, 'rm'), rm, { stage: 'rm', step: 1, scalarHead: 'reward', tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
    const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, GPTFORGE_THREADS: '1' } });
    for (const args of [
      ['sample', '--run', runDir, '--stage', 'rm', '-p', 'hi', '--max-tokens', '3'],
      ['chat', '--run', runDir, '--stage', 'rm', '-p', 'hi', '--max-tokens', '3'],
      ['ask', '--run', runDir, '--stage', 'rm', 'What is 2+2?'],
    ]) {
      const r = run(...args);
      assert.equal(r.status, 1, `${args[0]}: ${r.stderr}`);
      assert.equal(r.stdout, '', args[0]);
      assert.match(r.stderr, /^gptforge: .*rm.*: stage "rm" holds a reward model: it scores replies \(gptforge rm score\) and does not generate/m, args[0]);
    }
    const unknown = run('sample', '--run', runDir, '--stage', 'nope', '-p', 'hi');
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /stages with a checkpoint: base, sft$/m);
    const ok = run('sample', '--run', runDir, '--stage', 'sft', '-p', 'hi', '--max-tokens', '2', '--temperature', '0');
    assert.equal(ok.status, 0, ok.stderr);
    // sample says which checkpoint it loaded, as chat does: the run's newest (a chat stage) unless --stage says
    assert.match(ok.stderr, /^sample: .*sft.step-0+1 \(stage sft\): a chat model, which stops at the end of its turn$/m);
    const newest = run('sample', '--run', runDir, '-p', 'hi', '--max-tokens', '2', '--temperature', '0');
    assert.equal(newest.status, 0, newest.stderr);
    assert.match(newest.stderr, /^sample: .*sft.step-0+1 \(stage sft\): the run's newest checkpoint, a chat model, .*--stage base completes documents$/m);
    const base = run('sample', '--run', runDir, '--stage', 'base', '-p', 'hi', '--max-tokens', '2', '--temperature', '0');
    assert.equal(base.status, 0, base.stderr);
    assert.match(base.stderr, /^sample: .*base.step-\d+ \(stage pretrain\)$/m);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test('sampling flags are checked before the model loads, for every ask technique (a missing run does not hide them)', { timeout: 60_000 }, () => {
  const missing = join(tmpdir(), 'gf-no-such-run');
  for (const [args, want] of [
    [['sample', '--run', missing, '-p', 'hi', '--temperature', '-2'], /^gptforge: --temperature: expects a number ≥ 0, got -2$/m],
    [['chat', '--run', missing, '-p', 'hi', '--top-p', '3'], /^gptforge: --top-p: expects a number in \[0, 1\] \(1 = off, 0 = only the most likely token\), got 3$/m],
    [['ask', '--run', missing, '--technique', 'direct', '--temperature', '-2', 'What is 2+2?'], /^gptforge: --temperature: expects a number ≥ 0, got -2$/m],
  ] as const) {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, want, args[0]);
    assert.doesNotMatch(r.stderr, /no checkpoint found/);
  }
});
