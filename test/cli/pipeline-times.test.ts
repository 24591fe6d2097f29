import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, writeTinyPreset } from './fixture.js';

const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

/**
 * Runs the CLI and notes, in seconds from the spawn, when the stage-times table's header arrives:
 * the table's total is measured just before it is printed, so that moment (not the process's
 * exit, which a loaded machine can delay by seconds of teardown) is what the total must match.
 */
function runTimed(args: string[]): Promise<{ status: number | null; stderr: string; tableAt: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let tableAt = Number.NaN;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      if (Number.isNaN(tableAt) && /^stage times on /m.test(stderr)) tableAt = (performance.now() - t0) / 1000;
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stderr, tableAt }));
  });
}
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test("pipeline prints an estimate from timed steps at its start (resume-aware), a line as each part of stage 1 starts even with --quiet, and each stage's measured time at its end", { timeout: 180_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-times-'));
  try {
    const preset = writeTinyPreset(join(root, 'in'), { maxSteps: 4 });
    const runDir = join(root, 'run');
    const r = await runTimed(['pipeline', '--preset', preset, '--run', runDir, '--quiet', '--no-samples']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`^estimate for this run: about \\d+ s on (native|reference) backend(, (avx512|avx2|scalar|neon) kernels)?, \\d+ threads?, CPU ${escape(cpus()[0].model)}`, 'm'));
    assert.match(r.stderr, /^ {2}1\. pretraining +\d+ s +4 steps × 1 × 2×16 forward\+backward, 1 evaluations; data and tokenizer preparation not included$/m);
    assert.match(r.stderr, /^1\. data, tokenizer, pretraining: \d+ s measured \(estimated \d+ s\)$/m);
    // --quiet: no progress bars, but not silence — the stage's header, then a line as each part starts, in order
    assert.match(
      r.stderr,
      /^== stage 1: data, tokenizer, pretraining \(at [\d.]+ min\) ==\npretrain: tokenizer: training a \d+-token BPE on a sample of the mixture\npretrain: data: the token shards of \d+ sources? in .+ \(reused when up to date\)\npretrain: training to step 4 \([\d.]+M parameters\)\n1\. data, tokenizer, pretraining: \d+ s measured/m,
    );
    // the table's total is the whole wall time: start-up (modules, addon) and the estimate's timing are rows of it
    const table = /^stage times on .*:\n {2}stage +measured +estimated\n {2}start-up +(\d+) s +—\n {2}calibration +(\d+) s +—\n {2}1\. data, tokenizer, pretraining +(\d+) s +\d+ s\n {2}total +(\d+) s +\d+ s$/m.exec(r.stderr);
    assert.ok(table, r.stderr);
    const [startUp, calibration, stage, total] = table.slice(1).map(Number);
    assert.ok(Math.abs(total - (startUp + calibration + stage)) <= 1.5, table[0]);
    // whole seconds, rounded: within 1.5 s below and 0.5 s above the moment the table arrived
    assert.ok(total >= r.tableAt - 1.5 && total <= r.tableAt + 0.5, `total ${total} s, the table arrived ${r.tableAt.toFixed(1)} s after the spawn`);
    // run again: the stage is done, so nothing is left to estimate
    const again = run(['pipeline', '--preset', preset, '--run', runDir, '--quiet', '--no-samples']);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /^ {2}1\. pretraining +0 s +0 steps × 1 × 2×16 forward\+backward, 0 evaluations/m);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
