// Runs every compiled test file (dist/test/**/*.test.js) with node's test runner, each file in
// its own node process, two files at a time: most files spend their time in one
// thread (a spawned CLI, a server round trip, qemu, a small model), so a second lane fills the
// second core. The heavy files in SLOW run the multi-threaded native kernels for many seconds;
// two of them at once would oversubscribe the cores (the kernel pool's threads spin-wait on
// each other), so at most one runs at a time, beside light ones.
//
// Each file's report (TAP in a log, spec on a terminal) is printed whole when the file ends,
// under a line naming the file, its status, its test count, wall and CPU seconds; the end
// lists the totals, any failed files and the ten slowest files.
//
//   node scripts/run-tests.mjs [--jobs N] [substring…]
// Substrings filter the files by path (`npm test -- tokenizer`); --jobs (or GPTFORGE_TEST_JOBS)
// sets how many files run at once (1: one at a time, as before).
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

// The costliest files, costliest first (CPU seconds each, measured by this script on the 2-core
// AVX2 machine; a file's wall time alone on idle cores is about that, or half for the
// two-thread ones), started first so that the run does not end on one long file; heavy: runs
// the multi-threaded kernels for long, so at most one at a time.
const SLOW = [
  ['e2e/pipeline.test.js', 150, 'heavy'], // the tiny preset's whole recipe, then an RL resume
  ['engine/neon.test.js', 48], // an AArch64 cross-build (35 s of it) run under qemu-user
  ['train/resume-kill.test.js', 42, 'heavy'], // tiny pretraining, killed and resumed 3 times
  ['rag/cli.test.js', 30],
  ['tokenizer/formats.test.js', 22],
  ['cli/bad-input.test.js', 18],
  ['engine/native.test.js', 18, 'heavy'],
  ['tokenizer/onig.test.js', 17],
  ['cli/constrain-cli.test.js', 14],
  ['rag/evaluate.test.js', 14],
  ['cli/lock.test.js', 13],
  ['rag/contrast-corpus.test.js', 13],
  ['constrain/mask-exact.test.js', 12],
  ['data/mqar.test.js', 10],
  ['data/passages.test.js', 10],
  ['interop/cli.test.js', 9],
  ['cli/stage-settings.test.js', 8],
  ['engine/qmatmul.test.js', 8, 'heavy'],
];

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...collect(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const argv = process.argv.slice(2);
let jobs = Number(process.env.GPTFORGE_TEST_JOBS ?? 2);
const filters = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--jobs') jobs = Number(argv[++i]);
  else if (argv[i].startsWith('--jobs=')) jobs = Number(argv[i].slice(7));
  else filters.push(argv[i]);
}
if (!Number.isInteger(jobs) || jobs < 1) {
  console.error(`--jobs (or GPTFORGE_TEST_JOBS) must be a positive whole number, got "${jobs}"`);
  process.exit(1);
}
const files = collect('dist/test').filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const slowRank = (f) => SLOW.findIndex(([s]) => f.endsWith(s));
const isHeavy = (f) => SLOW[slowRank(f)]?.[2] === 'heavy';
const queue = [...files.filter((f) => slowRank(f) >= 0).sort((a, b) => slowRank(a) - slowRank(b)), ...files.filter((f) => slowRank(f) < 0)];

// CPU seconds of the finished children (Linux: cutime + cstime in /proc/self/stat, in ticks of
// 1/100 s), read as each file's process exits; null elsewhere
function childCpu() {
  try {
    const s = readFileSync('/proc/self/stat', 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[13]) + Number(f[14])) / 100;
  } catch {
    return null;
  }
}

const reporter = process.stdout.isTTY ? 'spec' : 'tap';
const totals = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
const results = [];
const t0 = performance.now();
let cpuBefore = childCpu();
let heavyRunning = false;
let running = 0;

function runFile(file) {
  const heavy = isHeavy(file);
  if (heavy) heavyRunning = true;
  running++;
  const start = performance.now();
  const chunks = [];
  // the file run directly (`node file`, its tests start on their own): what `node --test file`
  // runs in its child, less one node process (~0.2 CPU seconds a file)
  const child = spawn(process.execPath, [`--test-reporter=${reporter}`, file], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (c) => chunks.push(c));
  child.stderr.on('data', (c) => chunks.push(c));
  child.on('close', (code, signal) => {
    const cpuNow = childCpu();
    const cpu = cpuNow !== null && cpuBefore !== null ? cpuNow - cpuBefore : null;
    cpuBefore = cpuNow;
    const wall = (performance.now() - start) / 1000;
    const out = Buffer.concat(chunks).toString('utf8');
    const counts = {};
    for (const m of out.matchAll(/^(?:#|ℹ) (tests|pass|fail|cancelled|skipped|todo) (\d+)$/gm)) counts[m[1]] = Number(m[2]);
    for (const k of Object.keys(totals)) totals[k] += counts[k] ?? 0;
    const ok = code === 0;
    results.push({ file, ok, wall, cpu, tests: counts.tests ?? 0 });
    const status = ok ? 'ok' : `FAILED (${signal ?? `exit ${code}`})`;
    process.stdout.write(`\n# ━━ ${file}: ${status}, ${counts.tests ?? '?'} tests, ${wall.toFixed(1)} s${cpu === null ? '' : `, cpu ${cpu.toFixed(1)} s`}\n${out}`);
    running--;
    if (heavy) heavyRunning = false;
    next();
  });
}

function next() {
  while (running < jobs) {
    const i = queue.findIndex((f) => !heavyRunning || !isHeavy(f));
    if (i < 0) break;
    runFile(queue.splice(i, 1)[0]);
  }
  if (running === 0 && queue.length === 0) finish();
}

function finish() {
  const wall = (performance.now() - t0) / 1000;
  const failed = results.filter((r) => !r.ok);
  const sum = results.reduce((a, r) => a + r.wall, 0);
  const cpu = results.every((r) => r.cpu !== null) ? results.reduce((a, r) => a + r.cpu, 0) : null;
  const slow = [...results].sort((a, b) => b.wall - a.wall).slice(0, 10);
  const line = (r) => `#   ${r.wall.toFixed(1).padStart(6)} s${r.cpu === null ? '' : ` (cpu ${r.cpu.toFixed(1).padStart(5)} s)`}  ${r.file}`;
  console.log(`\n# ━━ ${results.length} file${results.length === 1 ? '' : 's'}, ${jobs} at a time: ${wall.toFixed(1)} s wall (the files' own times sum to ${sum.toFixed(1)} s${cpu === null ? '' : `, cpu ${cpu.toFixed(1)} s`})`);
  console.log(`# tests ${totals.tests}, pass ${totals.pass}, fail ${totals.fail}, cancelled ${totals.cancelled}, skipped ${totals.skipped}, todo ${totals.todo}`);
  console.log('# slowest files:');
  for (const r of slow) console.log(line(r));
  if (failed.length > 0) {
    console.log(`# FAILED files (${failed.length}):`);
    for (const r of failed) console.log(line(r));
  }
  process.exit(failed.length > 0 ? 1 : 0);
}

next();
