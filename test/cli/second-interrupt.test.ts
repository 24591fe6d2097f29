import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// the built src/cli/interrupt.js beside this compiled test (dist/test/cli → dist/src/cli)
const INTERRUPT = resolve(fileURLToPath(import.meta.url), '..', '..', '..', 'src', 'cli', 'interrupt.js');

/** A process that takes the CLI's Ctrl-C signal for `run` and gets two SIGINTs 50 ms apart, as a user pressing twice. */
function twoCtrlC(run: string | null): Promise<{ code: number | null; stderr: string }> {
  const script = `const { interruptSignal } = await import(${JSON.stringify(INTERRUPT)});
interruptSignal(${run === null ? '' : JSON.stringify(run)});
setInterval(() => {}, 1000); // a stage still running: only the second Ctrl-C ends the process
process.kill(process.pid, 'SIGINT');
setTimeout(() => process.kill(process.pid, 'SIGINT'), 50);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((ok) => child.on('close', (code) => ok({ code, stderr })));
}

test('a second Ctrl-C quits at once and its last line says no checkpoint was saved, naming the newest saved one', { timeout: 60_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-sigint2-'));
  try {
    const run = join(root, 'run');
    const stage = (name: string, step: number, at: number): void => {
      mkdirSync(join(run, name, `step-${String(step).padStart(7, '0')}`), { recursive: true });
      const pointer = join(run, name, 'latest.json');
      writeFileSync(pointer, JSON.stringify({ checkpoint: `step-${String(step).padStart(7, '0')}`, step }));
      utimesSync(pointer, at, at);
    };
    stage('base', 400, 1_700_000_000);
    stage('sft', 150, 1_700_000_100); // the newer one
    mkdirSync(join(run, 'tokenizer'));
    const r = await twoCtrlC(run);
    assert.equal(r.code, 130, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.match(lines[0], /saving \(Ctrl-C again to quit at once\)/);
    assert.equal(lines.at(-1), `quit at once: no checkpoint saved; last checkpoint: ${join(run, 'sft', 'step-0000150')}`);

    const fresh = await twoCtrlC(join(root, 'not-yet'));
    assert.equal(fresh.code, 130, fresh.stderr);
    assert.equal(fresh.stderr.trim().split('\n').at(-1), 'quit at once: no checkpoint saved; last checkpoint: none');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
