import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The whole recipe on the tiny preset — pretrain → SFT → comparisons → RM → PPO → eval → chat —
 * then the stage CLIs' bad-input paths and an RL run killed and resumed.
 */
const CLI = resolve(fileURLToPath(import.meta.url), '..', '..', '..', 'src', 'cli', 'main.js');
const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

function records(runDir: string, stage: string): Record<string, number>[] {
  return readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, number> & { stage: string })
    .filter((r) => (r as unknown as { stage: string }).stage === stage);
}

// ~150 CPU seconds (two threads); the limit leaves room for a shared, loaded machine (at a load
// of ~20 on 2 cores it took 20 minutes and failed a 10-minute limit with every check passing)
test('pipeline --preset tiny runs every stage; rl refuses a head-less RM; a killed RL run resumes to the same losses', { timeout: 1_800_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-pipeline-'));
  try {
    const dir = join(root, 'tiny');
    const r = run(['pipeline', '--preset', 'tiny', '--run', dir, '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    for (const stage of ['base', 'sft', 'rm', 'rl']) assert.ok(existsSync(join(dir, stage, 'latest.json')), `no ${stage} checkpoint`);
    for (const f of ['eval.md', 'eval.json', 'eval-chart.svg', 'chat-transcript.txt', 'rm-eval.json', 'comparisons/train.jsonl', 'comparisons/val.clean.jsonl', 'sft-loss.svg', 'rl-curves.svg']) assert.ok(existsSync(join(dir, f)), `missing ${f}`);
    type EvalJson = { columns: string[]; rows: { label: string; cells: Record<string, { examples: { answer: string }[] } | null> }[]; compare: { name: string; winRate: number }[] };
    const ev = JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8')) as EvalJson;
    assert.deepEqual(ev.columns, ['base (few-shot)', 'SFT, no tool', 'SFT', 'PPO']);
    assert.deepEqual(
      ev.compare.map((c) => c.name),
      ['base', 'SFT', 'SFT best-of-2', 'SFT oracle best-of-3', 'PPO'],
    );
    assert.match(r.stdout, /user> What is 4821 times 37\?\nassistant> /);
    // the RM's held-out accuracy split by the rubric term that decided each pair covers every pair
    const rmEval = JSON.parse(readFileSync(join(dir, 'rm-eval.json'), 'utf8')) as { pairs: number; accuracyCleanBy: Record<string, { pairs: number; accuracy: number }>; accuracyCleanByContext: Record<string, { pairs: number }> };
    assert.equal(
      Object.values(rmEval.accuracyCleanBy).reduce((n, t) => n + t.pairs, 0),
      rmEval.pairs,
    );
    // … and so does its split into pairs decidable from the context and knowledge pairs
    assert.equal(
      Object.values(rmEval.accuracyCleanByContext).reduce((n, t) => n + t.pairs, 0),
      rmEval.pairs,
    );
    assert.match(readFileSync(join(dir, 'eval.md'), 'utf8'), /decidable pairs/);
    const rl = records(dir, 'rl');
    assert.ok(rl.length > 0);
    // early stopping: the validation curve starts at update 0 (SFT); the kept update is an RL one
    assert.ok(rl.some((r) => r.step === 0 && typeof r['val/rubric'] === 'number'));
    assert.ok(existsSync(join(dir, 'rl', 'best', 'best.json')) && existsSync(join(dir, 'rl-validation.svg')));
    for (const k of ['objective/kl', 'objective/entropy', 'objective/rlhf_reward', 'objective/scores', 'policy/approxkl_avg', 'policy/clipfrac_avg', 'val/ratio', 'loss/policy_avg', 'loss/value_avg', 'loss/ptx_avg']) assert.equal(typeof rl.find((r) => r.loss !== undefined)?.[k], 'number', k);
    // every model the pipeline evaluated is the one on disk: greedy answers from a fresh process
    // match (training SFT in place once turned the pipeline's cached "base" into the SFT model)
    const evalAgain = run(['eval', '--run', dir, '--no-compare', '--quiet']);
    assert.equal(evalAgain.status, 0, evalAgain.stderr);
    const ev2 = JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8')) as EvalJson;
    const answers = (e: EvalJson) => e.rows.map((row) => e.columns.map((c) => `${row.label}/${c}: ${(row.cells[c]?.examples ?? []).map((x) => x.answer).join(' | ')}`));
    assert.deepEqual(answers(ev2), answers(ev));
    const sft = records(dir, 'sft').filter((x) => typeof x['val/loss'] === 'number');
    assert.ok(sft.length >= 2 && sft[sft.length - 1]['val/loss'] < sft[0]['val/loss'] + 1e-9);

    // an RM checkpoint without a reward head is refused before any rollout
    const bad = join(root, 'bad');
    cpSync(join(dir, 'preset.json'), join(bad, 'preset.json'));
    cpSync(join(dir, 'sft'), join(bad, 'sft'), { recursive: true });
    cpSync(join(dir, 'sft'), join(bad, 'rm'), { recursive: true });
    const refused = run(['rl', '--run', bad, '--quiet']);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /no reward head/);
    assert.ok(!existsSync(join(bad, 'rl')));

    // RL killed mid-run and resumed: every update's loss equals the uninterrupted run's
    const want = records(dir, 'rl').map((x) => x.loss);
    const again = join(root, 'again');
    for (const d of ['preset.json', 'sft', 'rm']) cpSync(join(dir, d), join(again, d), { recursive: true });
    const args = ['rl', '--run', again, '--quiet'];
    const child = spawn(process.execPath, [CLI, ...args], { stdio: 'ignore' });
    await new Promise<void>((done) => {
      const timer = setInterval(() => {
        const p = join(again, 'metrics.jsonl');
        const n = existsSync(p)
          ? readFileSync(p, 'utf8')
              .split('\n')
              .filter((l) => l.includes('"stage":"rl"')).length
          : 0;
        if (n >= 5 || child.exitCode !== null) {
          clearInterval(timer);
          child.kill('SIGKILL');
          done();
        }
      }, 5);
    });
    await new Promise((res) => child.once('exit', res));
    const resumed = run(args);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.deepEqual(
      records(again, 'rl').map((x) => x.loss),
      want,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
