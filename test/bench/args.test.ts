import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/test/bench → dist/bench
const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench');
// a short timeout: a bench that ignored the flag would start its (minutes-long) measurement
const run = (bench: string, ...args: string[]) => spawnSync(process.execPath, [join(BENCH, `${bench}.js`), ...args], { encoding: 'utf8', timeout: 20_000 });

test('a bench prints its usage (its module comment, flags named) on --help and -h, before any work', () => {
  for (const flag of ['--help', '-h']) {
    const r = run('shakespeare', flag);
    assert.equal(r.status, 0, `${flag}: ${r.stderr}`);
    assert.match(r.stdout, /^usage: node dist\/bench\/shakespeare\.js/);
    assert.match(r.stdout, /--iters N/);
    assert.doesNotMatch(r.stdout, /val loss \d/, 'no training ran');
  }
  // a parseArgs bench too
  const r = run('rag-effect', '--help');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^usage: node dist\/bench\/rag-effect\.js[\s\S]*--run/);
});

test('a bench refuses an unknown flag, a value flag without its value and a stray argument (exit 2, one line)', () => {
  const cases: [string, string[], RegExp][] = [
    ['shakespeare', ['--iter', '5'], /^bench shakespeare: unknown flag --iter \(--help for the usage\)\n$/],
    ['shakespeare', ['--iters'], /--iters needs a value/],
    ['engine', ['--quick=1'], /--quick takes no value/],
    ['qdecode', ['small', 'extra'], /unexpected argument "extra"/],
    ['rag-effect', ['--nope'], /^bench rag-effect: Unknown option '--nope'/],
  ];
  for (const [bench, args, message] of cases) {
    const r = run(bench, ...args);
    assert.equal(r.status, 2, `${bench} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message);
  }
});
