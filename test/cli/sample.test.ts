import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, writeTinyPreset } from './fixture.js';

const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

test('sample --strict refuses a prompt longer than the context without printing it first; without --strict the prompt is echoed', { timeout: 180_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-sample-'));
  try {
    const preset = writeTinyPreset(join(root, 'in'), { maxSteps: 1 });
    const runDir = join(root, 'run');
    const pre = run(['pretrain', '--preset', preset, '--run', runDir, '--quiet', '--no-samples']);
    assert.equal(pre.status, 0, pre.stderr);
    const long = Array.from({ length: 60 }, () => 'the whale').join(' '); // > the 32-token context
    const strict = run(['sample', '--run', runDir, '--prompt', long, '--max-tokens', '4', '--strict']);
    assert.equal(strict.status, 1);
    assert.equal(strict.stdout, '');
    assert.match(strict.stderr, /^gptforge: the prompt has \d+ tokens; with 4 new tokens it exceeds the context of 32/m);
    const loose = run(['sample', '--run', runDir, '--prompt', long, '--max-tokens', '4']);
    assert.equal(loose.status, 0, loose.stderr);
    assert.ok(loose.stdout.startsWith(long), loose.stdout.slice(0, 80));
    // every sample of several starts with the prompt
    const n2 = run(['sample', '--run', runDir, '--prompt', 'the sea', '--max-tokens', '3', '-n', '2']);
    assert.equal(n2.status, 0, n2.stderr);
    assert.equal(n2.stdout.split('\nthe sea').length, 3);
    // decoding on Q8_0 blocks with int8 activations (src/model/inference-precision.ts); a bad name is refused
    const q8 = run(['sample', '--run', runDir, '--prompt', 'the sea', '--max-tokens', '3', '--precision', 'q8_0']);
    assert.equal(q8.status, 0, q8.stderr);
    assert.ok(q8.stdout.startsWith('the sea'), q8.stdout);
    const bad = run(['sample', '--run', runDir, '--prompt', 'the sea', '--precision', 'int8']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /unknown precision "int8"; valid: f32, q8_0, q4_0/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

/** Counts the checkpoint weight files the process opens (patches node:fs before the CLI loads) and prints the count at exit. */
const COUNT_WEIGHT_OPENS = `data:text/javascript,${encodeURIComponent(
  'import fs from "node:fs"; import { syncBuiltinESMExports } from "node:module"; const open = fs.openSync; let n = 0; ' +
    'fs.openSync = (p, ...a) => { if (String(p).endsWith("model.safetensors")) n++; return open(p, ...a); }; syncBuiltinESMExports(); ' +
    'process.on("exit", () => process.stderr.write(`weight files opened: ${n}\\n`));',
)}`;

test('sample loads the model once, at the precision it decodes at, however many samples', { timeout: 180_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-sample-once-'));
  try {
    const preset = writeTinyPreset(join(root, 'in'), { maxSteps: 1 });
    const runDir = join(root, 'run');
    assert.equal(run(['pretrain', '--preset', preset, '--run', runDir, '--quiet', '--no-samples']).status, 0);
    for (const precision of ['f32', 'q8_0']) {
      const r = spawnSync(process.execPath, ['--import', COUNT_WEIGHT_OPENS, CLI, 'sample', '--run', runDir, '--prompt', 'the sea', '--max-tokens', '2', '-n', '3', '--precision', precision], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.split('\nthe sea').length, 4, r.stdout);
      assert.match(r.stderr, /^weight files opened: 1$/m, `${precision}: ${r.stderr}`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
