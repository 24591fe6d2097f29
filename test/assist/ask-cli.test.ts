import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainThinking } from '../../src/assist/thinking.js';
import { loadModel } from '../../src/run/models.js';
import { CLI } from '../cli/fixture.js';
import { tinyRun } from '../server/fixture.js';

const run = (args: string[]) => spawnSync(process.execPath, [CLI, 'ask', ...args], { encoding: 'utf8', timeout: 120_000 });

test('gptforge ask: refuses a bad technique or feedback and a missing question in one line, before loading a model', () => {
  const bad = run(['--run', '/nonexistent', '--technique', 'magic', 'What is 1 plus 2?']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^gptforge: --technique: expects one of direct, cot, self-consistency, reflect, tot, got "magic"/m);
  const fb = run(['--run', '/nonexistent', '--technique', 'reflect', '--feedback', 'oracle', 'What is 1 plus 2?']);
  assert.match(fb.stderr, /--feedback: expects one of .*, got "oracle"/);
  const none = run(['--run', '/nonexistent']);
  assert.match(none.stderr, /give the question as an argument/);
  // numbers are checked before the model loads, named as typed; another technique's flag is reported as ignored
  const k0 = run(['--run', '/nonexistent', '--technique', 'self-consistency', '--k', '0', 'What is 1 plus 2?']);
  assert.equal(k0.status, 1);
  assert.match(k0.stderr, /gptforge: --k: expects a whole number ≥ 1, got 0/);
  assert.doesNotMatch(k0.stderr, /no checkpoint found/);
  const ignored = run(['--run', '/nonexistent', '--k', '4', 'What is 1 plus 2?']);
  assert.match(ignored.stderr, /ask: --k is for self-consistency; ignored with --technique direct/);
});

test('trainThinking → loadModel → gptforge ask prints the samples and the votes (a few steps of a tiny model)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-ask-'));
  try {
    const r = await trainThinking(dir, { steps: 3, examples: 400, model: { nLayer: 1, nHead: 2, nEmbd: 32, blockSize: 288 }, batchSize: 4, quiet: true });
    assert.equal(r.step, 3);
    const { model, tok } = loadModel(dir);
    assert.equal(model.config.position, 'rope');
    // one digit, one token: the scratchpad's columns are single tokens
    assert.deepEqual(tok.encode('4567').length, 4);
    const sc = run(['--run', dir, '--technique', 'self-consistency', '--k', '3', '--max-tokens', '12', 'What is 12 plus 34?']);
    assert.equal(sc.status, 0, sc.stderr);
    assert.match(sc.stderr, /^ask: self-consistency with .*step-\d+/m); // which checkpoint answered
    assert.match(sc.stdout, /prompt: What is 12 plus 34\? Let's think step by step\./);
    assert.equal((sc.stdout.match(/── sample \d/g) ?? []).length, 3);
    assert.match(sc.stdout, /^majority: /m);
    assert.match(sc.stdout, /^logprob-weighted: /m);
    const rf = run(['--run', dir, '--technique', 'reflect', '--feedback', 'tool', '--rounds', '1', '--max-tokens', '8', 'What is 12 plus 34?']);
    assert.equal(rf.status, 0, rf.stderr);
    assert.match(rf.stdout, /── first answer/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('gptforge ask on a pipeline run without a techniques model says it answers with the chat model; --temperature 0 says the samples repeat', () => {
  const { dir } = tinyRun();
  try {
    writeFileSync(join(dir, 'preset.json'), '{}'); // a pipeline run (its sft stage answers), without <run>/techniques
    const cot = run(['--run', dir, '--technique', 'cot', '--max-tokens', '2', 'Hi?']);
    assert.equal(cot.status, 0, cot.stderr);
    assert.match(cot.stderr, /^ask: .* has no techniques model \(.*techniques, made by gptforge pipeline --techniques\); answering with its chat model/m);
    const greedy = run(['--run', dir, '--technique', 'self-consistency', '--k', '3', '--streams', '2', '--temperature', '0', '--max-tokens', '2', 'Hi?']);
    assert.equal(greedy.status, 0, greedy.stderr);
    assert.match(greedy.stderr, /^ask: --temperature 0 decodes greedily: the 3 samples are one reply repeated/m);
    // a direct answer is no technique of the long-addition model: no warning
    const direct = run(['--run', dir, '--max-tokens', '2', 'Hi?']);
    assert.doesNotMatch(direct.stderr, /no techniques model/);
    assert.doesNotMatch(direct.stderr, /game-of-24/);
    // newcomer37: tot on a pipeline run's chat model pruned every branch without saying why
    const tot = run(['--run', dir, '--technique', 'tot', '--max-tokens', '2', '4 7 8 8']);
    assert.match(tot.stderr, /^ask: tot needs a game-of-24 model, and a pipeline run has none: .*countdown family.*train runs\/countdown 900 countdown/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('totModelNotice: on a pipeline run and on its <run>/techniques model only, and only for tot', async () => {
  const { totModelNotice } = await import('../../src/cli/ask.js');
  const root = mkdtempSync(join(tmpdir(), 'gf-ask-tot-'));
  try {
    const other = join(root, 'countdown'); // a trainThinking run: no preset.json
    mkdirSync(join(root, 'techniques'), { recursive: true });
    mkdirSync(other);
    assert.equal(totModelNotice(root, 'tot'), null, 'no preset.json yet: not a pipeline run');
    assert.equal(totModelNotice(join(root, 'techniques'), 'tot'), null);
    writeFileSync(join(root, 'preset.json'), '{}');
    assert.match(totModelNotice(root, 'tot') ?? '', /^ask: tot needs a game-of-24 model/);
    assert.match(totModelNotice(join(root, 'techniques'), 'tot') ?? '', /^ask: tot needs a game-of-24 model/);
    assert.equal(totModelNotice(other, 'tot'), null);
    assert.equal(totModelNotice(root, 'cot'), null);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
