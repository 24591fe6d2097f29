import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
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

test('a bench of subcommands (techniques): usage on --help, each subcommand its own; unknown subcommands, flags and argument counts refused (exit 2) before any work', () => {
  const help = run('techniques', '--help');
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^usage: node dist\/bench\/techniques\.js <subcommand>[\s\S]*tot-value-paired/);
  // a dispatched subcommand's usage is its own module's comment (bench/techniques-tot.ts)
  const tot = run('techniques', 'tot-value-paired', '--help');
  assert.equal(tot.status, 0, tot.stderr);
  assert.match(tot.stdout, /^usage: node dist\/bench\/techniques\.js tot-value-paired\n\nTree of thoughts' learned value/);
  const none = run('techniques');
  assert.equal(none.status, 2);
  assert.match(none.stderr, /^usage: node dist\/bench\/techniques\.js/);
  const cases: [string[], RegExp][] = [
    [['nope', 'dir'], /^bench techniques: unknown subcommand "nope" \(one of: train, .*tot-value-paired\)/],
    [['tot-value-eval', 'run', '--fast'], /^bench techniques tot-value-eval: unknown flag --fast/],
    [['tot-value-paired', 'countdown'], /^bench techniques tot-value-paired: needs at least 2 arguments, got 1/],
    [['tot-value-paired', 'countdown', 'value', '5', 'extra'], /unexpected argument "extra"/],
    [['report'], /^bench techniques report: needs 1 argument, got 0/],
  ];
  for (const [args, message] of cases) {
    const r = run('techniques', ...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stdout, /backend|isa/i, 'no work started (the engine summary is its first line)');
  }
});

test('bench/rag-lancedb.mjs (plain JavaScript, run from bench/): --help prints its usage as run from there, an unknown flag is refused before LANCEDB_DIR is read', () => {
  const file = join(BENCH, '..', '..', 'bench', 'rag-lancedb.mjs');
  const env = { ...process.env, LANCEDB_DIR: '' };
  const help = spawnSync(process.execPath, [file, '--help'], { encoding: 'utf8', timeout: 20_000, env });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^usage: node bench\/rag-lancedb\.mjs \[flags\]\n\nnode bench\/rag-lancedb\.mjs — /);
  const bad = spawnSync(process.execPath, [file, '--pages', '3'], { encoding: 'utf8', timeout: 20_000, env });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^bench rag-lancedb: unknown flag --pages \(--help for the usage\)\n$/);
});

// engineSummary's line ("native backend, avx512 kernels, 2 threads, CPU …"), which a bench prints as its work starts
const ENGINE_LINE = /backend(, \w+ kernels)?, \d+ threads?, CPU /;

// modules the benches share, not benches: run alone they do nothing
const SHARED = new Set(['args', 'engine-configs', 'engine-sgemm', 'rag-model', 'rag-vectors', 'rm-train', 'serve-model', 'techniques-abacus', 'techniques-sc', 'techniques-tot']);

test('every bench answers --help with its usage line (exit 0) before any work', () => {
  // the sources' list (bench/*.ts), not dist/'s, which may keep a removed bench's output
  const benches = readdirSync(join(BENCH, '..', '..', 'bench'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -3))
    .filter((b) => !SHARED.has(b));
  assert.ok(benches.includes('sample') && benches.includes('serve') && benches.length > 30, benches.join(' '));
  for (const bench of benches) {
    const r = run(bench, '--help');
    assert.equal(r.status, 0, `${bench} --help: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^usage: node dist/bench/${bench}\\.js`), bench);
    assert.doesNotMatch(r.stdout, ENGINE_LINE, `${bench}: no work started`);
  }
});

test('bench/sample: its usage names SAMPLE_ROUNDS and the JS ÷ native ratio; an argument or a bad SAMPLE_ROUNDS is refused (exit 2) before any work; a bench whose argument is required says so', () => {
  const help = run('sample', '-h');
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /SAMPLE_ROUNDS/);
  assert.match(help.stdout, /JavaScript's time ÷ the path's/);
  const cases: [string, string[], NodeJS.ProcessEnv, RegExp][] = [
    ['sample', ['--rounds', '3'], {}, /^bench sample: unknown flag --rounds \(--help for the usage\)\n$/],
    ['sample', ['3'], {}, /^bench sample: unexpected argument "3"/],
    ['sample', [], { SAMPLE_ROUNDS: 'many' }, /^bench sample: SAMPLE_ROUNDS: expects a whole number ≥ 1, got "many"/],
    ['comparisons-batch', [], {}, /^usage: node dist\/bench\/comparisons-batch\.js/],
    ['decode-step', ['--rows', '4'], {}, /^bench decode-step: unknown flag --rows/],
  ];
  for (const [bench, args, env, message] of cases) {
    const r = spawnSync(process.execPath, [join(BENCH, `${bench}.js`), ...args], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...env } });
    assert.equal(r.status, 2, `${bench} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stdout, ENGINE_LINE, 'no work started');
  }
});

// newcomer49: `constrain.js --schemas 0` timed nothing and printed tables of NaN
test("bench/constrain refuses --schemas 0 (nothing to time) before any work, in the benches' own prefix", () => {
  const r = run('constrain', '--schemas', '0', '--xgrammar', '0', '--vocab', '4k');
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^bench constrain: --schemas 0: expected a whole number ≥ 1/m);
  assert.doesNotMatch(r.stdout, /NaN/);
});
