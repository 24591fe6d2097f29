import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, startCli, waitFor, writeTinyPreset } from './fixture.js';

const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
const steps = (runDir: string): number[] =>
  readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { step: number; loss?: number })
    .filter((r) => r.loss !== undefined)
    .map((r) => r.step);
/** The PID of a process that has ended. */
const deadPid = (): number => spawnSync(process.execPath, ['-e', '']).pid!;

test("two pretrains on one run directory: the second is refused naming the first's PID and command; readers (sample, eval) work meanwhile", { timeout: 300_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-lock-'));
  // killed and awaited before the directory is removed, so a failed assertion is reported as itself, not as the
  // ENOTEMPTY of a still-writing child
  let first: ReturnType<typeof startCli> | undefined;
  try {
    const preset = writeTinyPreset(join(root, 'in'), { checkpointEvery: 5 });
    const runDir = join(root, 'run');
    first = startCli(['pretrain', '--preset', preset, '--run', runDir, '--quiet', '--no-samples']);
    await waitFor(() => existsSync(join(runDir, 'base', 'latest.json')), 180_000, 'the first checkpoint');
    const lock = JSON.parse(readFileSync(join(runDir, 'run.lock'), 'utf8')) as { pid: number; command: string; host: string; started: string };
    assert.equal(lock.pid, first.child.pid);
    assert.equal(lock.host, hostname());
    assert.match(lock.command, /^gptforge pretrain --preset /);

    const second = run(['pretrain', '--preset', preset, '--run', runDir, '--quiet', '--no-samples', '--max-steps', '3']);
    assert.equal(second.status, 1, second.stderr);
    assert.match(second.stderr, new RegExp(`run directory .* is in use by PID ${first.child.pid} \\(gptforge pretrain --preset `));
    // other writers of the run are refused the same way
    const tok = run(['tokenizer', 'train', '--input', join(root, 'in'), '--vocab-size', '260', '--out', join(runDir, 'tokenizer.json')]);
    assert.equal(tok.status, 1);
    assert.match(tok.stderr, new RegExp(`in use by PID ${first.child.pid}`));
    // a reader works while the stage trains
    const sample = run(['sample', '--run', runDir, '--prompt', 'the whale', '--max-tokens', '4']);
    assert.equal(sample.status, 0, sample.stderr);
    assert.match(sample.stdout, /^the whale/);
    // eval writes its own report (eval.lock), not what the stage writes
    const ev = run(['eval', '--run', runDir, '--per-task', '1', '--few-shot', '0', '--no-compare', '--quiet']);
    assert.equal(ev.status, 0, ev.stderr);
    assert.ok(existsSync(join(runDir, 'eval.md')) && !existsSync(join(runDir, 'eval.lock')));

    first.child.kill('SIGINT');
    const r = await first.done;
    assert.equal(r.code, 130, r.stderr);
    assert.ok(!existsSync(join(runDir, 'run.lock')), 'the lock is released at exit');
    const s = steps(runDir);
    assert.deepEqual(s, [...new Set(s)], 'each step logged once');
  } finally {
    if (first && first.child.exitCode === null && first.child.signalCode === null) {
      first.child.kill('SIGKILL');
      await first.done;
    }
    rmSync(root, { recursive: true, force: true });
  }
});

test('a lock left by a dead process is taken over with a notice naming it; the run then completes and releases it', { timeout: 240_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-lock-stale-'));
  try {
    const preset = writeTinyPreset(join(root, 'in'), { maxSteps: 3 });
    const runDir = join(root, 'run');
    const pid = deadPid();
    // the shape a killed run leaves behind
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(runDir, 'run.lock'), JSON.stringify({ pid, command: 'gptforge pretrain --preset small', host: hostname(), started: '2026-01-01T00:00:00.000Z' }));
    const r = run(['pretrain', '--preset', preset, '--run', runDir, '--quiet', '--no-samples']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`notice: taking over the lock on run directory .* left by PID ${pid} \\(gptforge pretrain --preset small, since 2026-01-01T00:00:00.000Z\\), which is no longer running`));
    assert.deepEqual(steps(runDir), [1, 2, 3]);
    assert.ok(!existsSync(join(runDir, 'run.lock')));

    // a lock held by a live process on this host (this test's own process) is refused
    writeFileSync(join(runDir, 'run.lock'), JSON.stringify({ pid: process.pid, command: 'gptforge sft --run x', host: hostname(), started: '2026-01-01T00:00:00.000Z' }));
    const refused = run(['sft', '--run', runDir, '--quiet']);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, new RegExp(`in use by PID ${process.pid} \\(gptforge sft --run x\\), since 2026-01-01T00:00:00.000Z`));
    assert.ok(existsSync(join(runDir, 'run.lock')), "another process's lock is never removed");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
