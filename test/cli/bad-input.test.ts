import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, writeTinyPreset } from './fixture.js';

/** Bad input a newcomer tried: each refused in one line naming what is wrong, before any work. */
const run = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });

test('an unknown GPTFORGE_BACKEND and a non-positive --max-steps are refused by name, with no stack trace and nothing written', () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-bad-'));
  try {
    const preset = writeTinyPreset(join(root, 'in'));
    const backend = run(['pretrain', '--preset', preset, '--run', join(root, 'a'), '--max-steps', '2'], { GPTFORGE_BACKEND: 'cuda' });
    assert.equal(backend.status, 1);
    assert.match(backend.stderr, /^gptforge: .*GPTFORGE_BACKEND must be "native" or "reference", got "cuda"/m);
    assert.doesNotMatch(backend.stderr, /\n\s+at /, 'no stack trace');
    for (const steps of ['-5', '0', '2.5']) {
      const r = run(['pretrain', '--preset', preset, '--run', join(root, 'b'), '--max-steps', steps]);
      assert.equal(r.status, 1, steps);
      assert.match(r.stderr, new RegExp(`--max-steps: expects a whole number of optimizer steps ≥ 1, got ${steps.replace('.', '\\.')}`));
    }
    assert.equal(existsSync(join(root, 'b')), false, 'refused before the run directory is made');
    // the pipeline's later-stage budgets: the flag named once, as typed (not 'field "rl.train.maxSteps": --rl-max-steps: …')
    for (const flag of ['--rl-max-steps', '--techniques-max-steps']) {
      const r = run(['pipeline', '--preset', preset, '--run', join(root, 'd'), flag, '0']);
      assert.equal(r.status, 1, flag);
      assert.match(r.stderr, new RegExp(`^gptforge: ${flag}: expects a whole number of optimizer steps ≥ 1, got 0$`, 'm'), r.stderr);
    }
    const threads = run(['pretrain', '--preset', preset, '--run', join(root, 'c'), '--max-steps', '2'], { GPTFORGE_THREADS: 'abc' });
    assert.equal(threads.status, 1);
    assert.match(threads.stderr, /GPTFORGE_THREADS must be a positive whole number of threads, got "abc"/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('serve on a port already in use says so in one line (no stack trace)', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as { port: number }).port;
  const root = mkdtempSync(join(tmpdir(), 'gf-bad-serve-'));
  try {
    const preset = writeTinyPreset(join(root, 'in'), { maxSteps: 1 });
    const runDir = join(root, 'run');
    assert.equal(run(['pretrain', '--preset', preset, '--run', runDir, '--quiet', '--no-samples']).status, 0);
    const r = run(['serve', '--run', runDir, '--port', String(port)]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^gptforge: .*port ${port} on 127\\.0\\.0\\.1 is already in use`, 'm'));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  } finally {
    busy.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('serve --host with an address that is no host (999.1.1.1) says so in one line naming --host (no stack trace)', () => {
  // an existing (empty) run directory: one that does not exist is refused before the address
  const empty = mkdtempSync(join(tmpdir(), 'gf-empty-run-'));
  const r = run(['serve', '--run', empty, '--host', '999.1.1.1', '--port', '0']);
  rmSync(empty, { recursive: true, force: true });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^gptforge: --host 999\.1\.1\.1: not an IP address or a host name that resolves \((ENOTFOUND|EAI_AGAIN|EAI_NONAME)\); use 127\.0\.0\.1/m);
  assert.doesNotMatch(r.stderr, /\n\s+at |getaddrinfo/, 'no stack trace, no raw error object');
});

test("the command line's own errors name the option in our one style (as a library error is printed), exit code 1: unknown option, bad number, missing value, bad choice, unknown command; --help lists every command from its definition", () => {
  const unknown = run(['sft', '--max-stpes', '3']);
  assert.equal(unknown.status, 1);
  assert.equal(unknown.stderr, 'gptforge: --max-stpes: unknown option; did you mean --max-steps? (gptforge sft --help lists them)\n');
  const nested = run(['rm', 'score', '--bogus']);
  assert.equal(nested.stderr, 'gptforge: --bogus: unknown option (gptforge rm score --help lists them)\n');
  // --reply (the /v1/rewards field's name) is accepted as --completion, a near miss gets did-you-mean
  assert.equal(run(['rm', 'score', '--reply', 'Hi.']).stderr, 'gptforge: give --prompt "…" and at least one --completion (or --reply) "…"\n');
  assert.match(run(['rm', 'score', '--replyy', 'Hi.']).stderr, /--replyy: unknown option; did you mean --reply\?/);
  const nan = run(['rl', '--kl-coef', 'abc']);
  assert.equal(nan.status, 1);
  assert.equal(nan.stderr, 'gptforge: --kl-coef: expects a number, got "abc"\n');
  const missing = run(['sample', '--prompt']);
  assert.equal(missing.status, 1);
  assert.equal(missing.stderr, 'gptforge: --prompt: needs a value (-p, --prompt <text>)\n');
  const choice = run(['rl', '--algo', 'dqn']);
  assert.equal(choice.status, 1);
  assert.equal(choice.stderr, 'gptforge: --algo: expects one of ppo, grpo, reinforce, got "dqn"\n');
  const extra = run(['rm', 'scor']);
  assert.equal(extra.status, 1);
  assert.equal(extra.stderr, 'gptforge: rm takes no arguments (got 1): a misspelt subcommand? gptforge rm --help lists them\n');
  const command = run(['sampel']);
  assert.equal(command.status, 1);
  assert.equal(command.stderr, 'gptforge: unknown command "sampel"; did you mean sample? (gptforge --help lists them)\n');
  // the flag named once, by its long name, however it was typed (not "--num-samples: -n/--num-samples …")
  for (const flag of ['-n', '--num-samples']) {
    const zero = run(['sample', '--run', 'no-such-run', '--prompt', 'the', flag, '0']);
    assert.equal(zero.status, 1);
    assert.equal(zero.stderr, 'gptforge: --num-samples: expects a whole number ≥ 1, got "0"\n');
  }
  for (const r of [unknown, nan, missing, choice, command, extra]) assert.doesNotMatch(r.stderr, /error: |'.*<.*>'/, "commander's own phrasing");
  const help = run(['--help']);
  assert.equal(help.status, 0);
  for (const c of ['tokenizer', 'data', 'pretrain', 'sft', 'chat', 'label', 'rm', 'rl', 'dpo', 'eval', 'sample', 'serve', 'pipeline', 'export', 'import', 'rag']) assert.match(help.stdout, new RegExp(`^  ${c} `, 'm'), c);
  assert.match(help.stdout, /GPTFORGE_THREADS/);
  const score = run(['rm', 'score', '--run', 'no-such-run', '-p', 'hi', '-c', 'x']);
  assert.equal(score.status, 1);
  assert.match(score.stderr, /no-such-run: no checkpoint found/, "a subcommand's --run is its own");
  // a run that does not exist says how to make one; a flag mistake is named before the run is looked for
  assert.match(score.stderr, /no such directory — train a run first \(the default run: npx gptforge pipeline; a few minutes. tiny one: npx gptforge pipeline --preset tiny --run runs\/tiny, then pass --run runs\/tiny\)/);
  const gguf = run(['export', '--run', 'no-such-run', '--format', 'gguf', '--type', 'Q5_K', '--out', 'x.gguf']);
  assert.equal(gguf.status, 1);
  assert.match(gguf.stderr, /gptforge: --type: expects F32, F16, Q8_0 or Q4_0, got "Q5_K"/);
  const two = run(['sample', '--run', 'no-such-run', '--prompt', 'x', '--regex', 'a', '--grammar', 'f.gbnf']);
  assert.equal(two.status, 1);
  assert.match(two.stderr, /give at most one of --json-schema, --regex, --grammar/);
  const sub = run(['rm', 'score', '--help']);
  assert.equal(sub.status, 0);
  assert.match(sub.stdout, /Usage: gptforge rm score \[options\]/);
  assert.match(sub.stdout, /-c, --completion <text>/);
  const none = run([]);
  assert.equal(none.status, 0);
  assert.match(none.stdout, /Usage: gptforge <command> \[options\]/);
});

test('token counts and passage counts below 1 are refused by the flag parser, before any model loads', () => {
  for (const args of [
    ['sample', '--run', '/nonexistent', '--max-tokens', '0'],
    ['sample', '--run', '/nonexistent', '--max-tokens', '-5'],
    ['chat', '--run', '/nonexistent', '--rag-k', '0', '--prompt', 'hi'],
    ['rag', 'query', '--db', '/nonexistent.db', '-k', '0', 'cats'],
  ]) {
    const r = run(args);
    assert.equal(r.status, 1, args.join(' '));
    const [flag, value] = args.slice(args.findIndex((a) => /^--(max-tokens|rag-k)$|^-k$/.test(a)));
    assert.equal(r.stderr, `gptforge: ${flag === '-k' ? '--k' : flag}: expects a whole number ≥ 1, got "${value}"\n`, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('a misspelt preset or technique is refused as typed, with the name it was near ("did you mean"), not a presets/ path the user never typed', () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-bad-'));
  try {
    for (const args of [
      ['pipeline', '--preset', 'tinny', '--run', join(root, 'a')],
      ['sft', '--run', join(root, 'b'), '--preset', 'tinny'],
    ]) {
      const r = run(args);
      assert.equal(r.status, 1, args.join(' '));
      assert.match(r.stderr, /^gptforge: --preset: no preset "tinny"; did you mean "tiny"\? \(presets: tiny, small; or a path to a JSON file\)$/m);
      assert.doesNotMatch(r.stderr, /pretrain\.tinny\.json/);
    }
    const far = run(['pretrain', '--preset', 'enormous', '--run', join(root, 'c')]);
    assert.match(far.stderr, /no preset "enormous" \(presets: tiny, small/);
    assert.ok(!existsSync(join(root, 'a')) && !existsSync(join(root, 'c')), 'nothing written');
    const ask = run(['ask', '--run', join(root, 'a'), '--technique', 'cott', 'What is 1 plus 2?']);
    assert.equal(ask.status, 1);
    assert.match(ask.stderr, /--technique: expects one of direct, cot, self-consistency, reflect, tot, got "cott"; did you mean "cot"\?/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('serve and eval on a run directory that does not exist say so, before "listening" or any work', () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-norun-'));
  try {
    const missing = join(root, 'nope');
    for (const args of [
      ['serve', '--run', missing, '--port', '0'],
      ['eval', '--run', missing],
    ]) {
      const r = run(args);
      assert.equal(r.status, 1, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /nope: no such run directory — train a run first/, args[0]);
      assert.doesNotMatch(r.stderr, /listening|no base or sft checkpoint/, args[0]);
      assert.ok(!existsSync(missing), `${args[0]} created the directory`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
