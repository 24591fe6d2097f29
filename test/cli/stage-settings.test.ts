import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tinyRun } from '../run/fixture.js';
import { CLI } from './fixture.js';

/**
 * A stage setting out of range is refused before anything loads, naming the flag typed or the
 * preset's field. (`sft --batch-size 0` used to spin forever in the held-out evaluation,
 * `--lr -1` and `dpo --beta -1` trained and exited 0.)
 */
test('stages refuse a zero batch size, a non-positive lr or beta, a negative KL coefficient: by flag, or by preset field', { timeout: 120_000 }, () => {
  const runDir = tinyRun();
  try {
    const presetFile = join(runDir, 'preset.json');
    const preset = JSON.parse(readFileSync(presetFile, 'utf8')) as { train: unknown; sft: Record<string, unknown> };
    const train = preset.sft.train;
    writeFileSync(presetFile, JSON.stringify({ ...preset, rm: { train }, rl: { config: {}, train }, dpo: { beta: 0.1, train } }));
    const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args, '--run', runDir, '--quiet'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, GPTFORGE_THREADS: '1' } });
    const cases: [string[], RegExp][] = [
      [['sft', '--batch-size', '0', '--max-steps', '2'], /^gptforge: --batch-size: expects a positive integer, got 0$/m],
      [['sft', '--lr', '-1'], /^gptforge: --lr: expects a positive number, got -1$/m],
      [['sft', '--max-steps', '0'], /^gptforge: --max-steps: expects a positive integer, got 0$/m],
      [['rm', '--lr', '0'], /^gptforge: --lr: expects a positive number, got 0$/m],
      [['rl', '--lr', '-1'], /^gptforge: --lr: expects a positive number, got -1$/m],
      [['rl', '--kl-coef', '-0.5'], /^gptforge: --kl-coef: expects a non-negative number, got -0.5$/m],
      [['dpo', '--beta', '-1'], /^gptforge: --beta: expects a positive number, got -1$/m],
      [['dpo', '--lr', '-1'], /^gptforge: --lr: expects a positive number, got -1$/m],
      // a flag's value is named by the flag, not as a field of the preset it joins
      [['sft', '--data-weight', '-2', '--data', presetFile], /^gptforge: --data-weight: expects a positive number, got -2$/m],
      [['sft', '--writer-error-rate', '2'], /^gptforge: --writer-error-rate: expects a probability in \[0, 1\], got 2$/m],
    ];
    for (const [args, want] of cases) {
      const r = run(...args);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, want, args.join(' '));
    }
    // from the preset: its file and field
    writeFileSync(presetFile, JSON.stringify({ ...preset, sft: { ...preset.sft, batchSize: 0 }, dpo: { beta: 0, train } }));
    const sft = run('sft');
    assert.equal(sft.status, 1, sft.stderr);
    assert.match(sft.stderr, /preset\.json, field "sft\.batchSize": expects a positive integer, got 0$/m);
    const dpo = run('dpo');
    assert.equal(dpo.status, 1, dpo.stderr);
    assert.match(dpo.stderr, /preset\.json, field "dpo\.beta": expects a positive number, got 0$/m);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test('pretrain refuses --lr -1 and --batch-size 0 by flag', { timeout: 60_000 }, () => {
  for (const [flag, v, want] of [
    ['--lr', '-1', /^gptforge: --lr: expects a positive number, got -1$/m],
    ['--batch-size', '0', /^gptforge: --batch-size: expects a positive integer, got 0$/m],
  ] as const) {
    const r = spawnSync(process.execPath, [CLI, 'pretrain', '--preset', 'tiny', '--run', '/nonexistent/gf-pretrain', flag, v], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, want);
  }
});

test('an onBad other than "error" or "skip" is refused, by flag or by the mixture field (it used to read as "error")', { timeout: 60_000 }, () => {
  const runDir = tinyRun();
  try {
    const presetFile = join(runDir, 'preset.json');
    const preset = JSON.parse(readFileSync(presetFile, 'utf8')) as { sft: Record<string, unknown> & { mixture: Record<string, unknown> } };
    writeFileSync(presetFile, JSON.stringify({ ...preset, sft: { ...preset.sft, mixture: { ...preset.sft.mixture, onBad: 'skipp' } }, dpo: { beta: 0.1, train: preset.sft.train } }));
    const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args, '--run', runDir, '--quiet'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, GPTFORGE_THREADS: '1' } });
    const mixture = run('sft', '--max-steps', '1');
    assert.equal(mixture.status, 1, mixture.stderr);
    assert.match(mixture.stderr, /preset\.json, field "onBad": must be "error" or "skip", got "skipp"$/m);
    for (const cmd of ['sft', 'rm', 'dpo']) {
      const r = run(cmd, '--on-bad', 'skipp');
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /^gptforge: --on-bad: must be "error" or "skip", got "skipp"$/m, cmd);
    }
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
