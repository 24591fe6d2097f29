import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, writeTinyPreset } from './fixture.js';

const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, GPTFORGE_THREADS: '1' }, timeout: 120_000 });
const WARNING = /tokenizer: warning: .*is not what the mixture's "tokenizer" section asks \(vocabSize 280 → 300\).*used as is/;

test('--quiet hides progress only: data prepare and pretrain still warn that a hand-trained tokenizer is used as is', { timeout: 180_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-quiet-'));
  try {
    const preset = writeTinyPreset(join(root, 'in'), { maxSteps: 1 }); // its mixture asks a 300-token tokenizer
    const tok = join(root, 'tok.json');
    const trained = run(['tokenizer', 'train', '--input', join(root, 'in', '*.txt'), '--vocab-size', '280', '--out', tok]);
    assert.equal(trained.status, 0, trained.stderr);

    mkdirSync(join(root, 'a'));
    copyFileSync(tok, join(root, 'a', 'tokenizer.json'));
    const prep = run(['data', 'prepare', '-c', join(root, 'in', 'mixture.json'), '-o', join(root, 'a', 'data'), '--quiet']);
    assert.equal(prep.status, 0, prep.stderr);
    assert.match(prep.stderr, WARNING);

    mkdirSync(join(root, 'b'));
    copyFileSync(tok, join(root, 'b', 'tokenizer.json'));
    const pre = run(['pretrain', '--preset', preset, '--run', join(root, 'b'), '--quiet']);
    assert.equal(pre.status, 0, pre.stderr);
    assert.match(pre.stderr, WARNING);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
