import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { displayCommand, holdLock, holdRunLock, processAlive, readLock, releaseLock } from '../../src/util/lock.js';

const dir = mkdtempSync(join(tmpdir(), 'gf-lockunit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('holdLock creates the lock file with pid, command, host and start time; is re-entrant; releaseLock removes it', () => {
  const f = join(dir, 'a.lock');
  holdLock(f, 'thing a');
  const info = readLock(f)!;
  assert.equal(info.pid, process.pid);
  assert.equal(info.host, hostname());
  assert.ok(!Number.isNaN(Date.parse(info.started)));
  holdLock(f, 'thing a'); // the same process again: no error
  assert.equal(readLock(f)!.started, info.started);
  releaseLock(f);
  assert.ok(!existsSync(f));
});

test('a live holder is refused by PID and command; another host is refused; a dead one is taken over', () => {
  const f = join(dir, 'b.lock');
  writeFileSync(f, JSON.stringify({ pid: process.ppid, command: 'gptforge rl --run r', host: hostname(), started: 'then' }));
  assert.throws(
    () => holdLock(f, 'run directory r'),
    (e: Error) => e.message === `${f}: run directory r is in use by PID ${process.ppid} (gptforge rl --run r), since then. Wait for it to finish, or stop it (kill -INT ${process.ppid}: a training stage saves a checkpoint first). Reading the run (sample, chat) works meanwhile.`,
  );
  writeFileSync(f, JSON.stringify({ pid: 1, command: 'gptforge dpo', host: 'elsewhere', started: 'then' }));
  assert.throws(() => holdLock(f, 'run directory r'), /in use by PID 1 on host elsewhere \(gptforge dpo\)/);
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  assert.equal(processAlive(dead), false);
  assert.equal(processAlive(process.pid), true);
  writeFileSync(f, JSON.stringify({ pid: dead, command: 'gptforge sft', host: hostname(), started: 'then' }));
  holdLock(f, 'run directory r');
  assert.equal(JSON.parse(readFileSync(f, 'utf8')).pid, process.pid);
  releaseLock(f);
  // garbage in the lock file (a crash mid-write) is treated as stale too
  writeFileSync(f, '{"pi');
  holdLock(f, 'run directory r');
  assert.equal(readLock(f)!.pid, process.pid);
  releaseLock(f);
});

test('holdRunLock takes no lock (and makes no directory) for a run that does not exist unless asked to create it', () => {
  const missing = join(dir, 'nope');
  holdRunLock(missing);
  assert.ok(!existsSync(missing));
  holdRunLock(missing, 'eval', { create: true });
  assert.equal(readLock(join(missing, 'eval.lock'))!.pid, process.pid);
  releaseLock(join(missing, 'eval.lock'));
});

test('displayCommand: the CLI reads as "gptforge" run directly or through a bin link (npx, node_modules/.bin); other scripts keep their path', () => {
  assert.equal(displayCommand(['node', '/repo/dist/src/cli/main.js', 'sft', '--run', 'r']), 'gptforge sft --run r');
  assert.equal(displayCommand(['node', '/root/.npm/_npx/1a2b/node_modules/.bin/gptforge', 'rm', '--run', 'r']), 'gptforge rm --run r');
  assert.equal(displayCommand(['node', 'C:\\proj\\node_modules\\.bin\\gptforge', 'rl']), 'gptforge rl');
  assert.equal(displayCommand(['node', '/repo/dist/bench/serve.js', '--x']), '/repo/dist/bench/serve.js --x');
  assert.equal(displayCommand(['node', '/repo/not-gptforge', 'a']), '/repo/not-gptforge a');
});
