import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { presetsDir } from '../../src/run/presets.js';
import { runRlhfSweep, sweepChart, sweepMarkdown, type SweepRow } from '../../src/run/rlhf-sweep.js';

const cell = (e: number, compare: { name: string; winRate: number; accuracy: number }[]) => ({
  columns: ['SFT', 'PPO'],
  rows: [
    { label: 'arithmetic', usesTool: true, cells: { SFT: { correct: 2 + e * 10, total: 10, accuracy: 0 }, PPO: { correct: 6, total: 10, accuracy: 0 } } },
    { label: 'definitions', usesTool: false, cells: { SFT: { correct: 1, total: 10, accuracy: 0 }, PPO: { correct: 0, total: 10, accuracy: 0 } } },
    { label: 'arithmetic: 3–4 digit ×', usesTool: true, cells: { SFT: { correct: 0, total: 10, accuracy: 0 }, PPO: { correct: 10, total: 10, accuracy: 0 } } },
  ],
  compare: compare.map((c) => ({ ...c, rmReward: 0, wins: 0, ties: 0, losses: 0, rubric: 0, diversity: { samples: 4, distinct1: 0.5, distinct2: 0.6, selfBleu: 0.3, meanEntropy: 1, uniqueSamples: 3 }, listItems: { distinct: 1, perSample: 1 } })),
});

const runs: string[] = [];
after(() => runs.forEach((d) => rmSync(d, { recursive: true, force: true })));
/** A fresh run directory, removed after the file's tests. */
const tempRun = (): string => {
  runs.push(mkdtempSync(join(tmpdir(), 'gf-sweep-')));
  return runs[runs.length - 1];
};

/** A run with a (stub) base model and finished sweep cells for `done` e_w's. */
function sweepRun(done: readonly number[]): string {
  const run = tempRun();
  copyFileSync(join(presetsDir(), 'pretrain.tiny.json'), join(run, 'preset.json'));
  writeFileSync(join(run, 'tokenizer.json'), '{}');
  mkdirSync(join(run, 'base', 'step-0000001'), { recursive: true });
  writeFileSync(join(run, 'base', 'step-0000001', 'config.json'), '{}');
  writeFileSync(join(run, 'base', 'latest.json'), JSON.stringify({ checkpoint: 'step-0000001', step: 1 }));
  for (const e of done) {
    const dir = join(run, 'rlhf-sweep', `ew-${e}`);
    mkdirSync(dir, { recursive: true });
    // a cell a killed sweep had finished: every step done, its results on disk
    writeFileSync(join(dir, 'sweep-state.json'), JSON.stringify({ writerErrorRate: e, done: ['sft', 'rm', 'ppo', 'grpo', 'dpo', 'eval', 'kl'], kl: { PPO: 0.5 + e } }));
    writeFileSync(
      join(dir, 'eval.json'),
      JSON.stringify(
        cell(e, [
          { name: 'base', winRate: 0.1, accuracy: 0 },
          { name: 'SFT', winRate: 0.5, accuracy: 0.2 },
          { name: 'SFT best-of-4', winRate: 0.55, accuracy: 0.25 },
          { name: 'SFT oracle best-of-4', winRate: 0.8, accuracy: 0.4 },
          { name: 'PPO', winRate: 0.6 + e / 5, accuracy: 0.3 },
        ]),
      ),
    );
    writeFileSync(join(dir, 'rm-eval.json'), JSON.stringify({ step: 1, accuracy: 0.8, accuracyCleanByContext: { decidable: { pairs: 10, correct: 9, accuracy: 0.9 }, knowledge: { pairs: 10, correct: 5, accuracy: 0.5 } } }));
  }
  return run;
}

test('rlhf sweep: finished cells are read back, not retrained; the table and chart cover every e_w and method', async () => {
  const run = sweepRun([0, 0.5]);
  const lines: string[] = [];
  const r = await runRlhfSweep(run, { rates: [0.5, 0], log: (l) => lines.push(l) });
  assert.equal(r.interrupted, false);
  assert.deepEqual(lines, ['rlhf-sweep: all 2 cells done: reading them back', 'rlhf-sweep: cell 1/2 (e_w = 0.5): done, read back', 'rlhf-sweep: cell 2/2 (e_w = 0): done, read back']);
  assert.deepEqual(
    r.rows.map((x) => `${x.writerErrorRate} ${x.method}`),
    ['0 SFT', '0 SFT best-of-4 (RM)', '0 PPO', '0.5 SFT', '0.5 SFT best-of-4 (RM)', '0.5 PPO'],
  );
  const ppo = r.rows.find((x) => x.writerErrorRate === 0.5 && x.method === 'PPO')!;
  // arithmetic is a decidable family, definitions a knowledge one; the × row repeats arithmetic
  assert.equal(ppo.accuracyDecidable, 0.6);
  assert.equal(ppo.accuracyAll, 0.3);
  assert.equal(ppo.kl, 1);
  assert.equal(ppo.rmDecidable, 0.9);
  assert.equal(ppo.rmKnowledge, 0.5);
  assert.ok(Math.abs(r.rows.find((x) => x.method.startsWith('SFT best'))!.kl - (Math.log(4) - 0.75)) < 1e-12);
  assert.equal(r.rows.find((x) => x.method === 'SFT')!.kl, 0);
  assert.match(readFileSync(join(run, 'rlhf-sweep.md'), 'utf8'), /\| 0\.5 \| PPO \| 60\.0% \| 30\.0% \| 30\.0% \| 70\.0% \| \+20\.0 \| 90\.0% \| 50\.0% \| 1\.00 \|/);
  assert.match(readFileSync(join(run, 'rlhf-sweep.svg'), 'utf8'), /^<svg/);
  // each cell is a sub-run: the run's preset with e_w set, the base model linked, not copied
  const preset = JSON.parse(readFileSync(join(run, 'rlhf-sweep', 'ew-0.5', 'preset.json'), 'utf8')) as { sft: { mixture: { writerErrorRate: number } }; rl: { validation?: { prompts: number }; config: { ptxCoef?: number } } };
  assert.equal(preset.sft.mixture.writerErrorRate, 0.5);
  assert.ok((preset.rl.validation?.prompts ?? 0) > 0);
  // RL in a cell does not mix in the writers' spoilt demonstrations
  assert.equal(preset.rl.config.ptxCoef, 0);
  assert.ok(lstatSync(join(run, 'rlhf-sweep', 'ew-0', 'base')).isSymbolicLink());
  assert.ok(existsSync(join(run, 'rlhf-sweep.json')));
});

test('rlhf sweep: the start estimate times the cells left on this machine (the finished one not counted), and each cell opens with "cell i/N (e_w = …)"', async () => {
  const run = sweepRun([0.5]);
  const lines: string[] = [];
  const ac = new AbortController();
  ac.abort(); // stop before the fresh cell's first step: the estimate and the headers are what is tested
  const r = await runRlhfSweep(run, { rates: [0.5, 0], log: (l) => lines.push(l), signal: ac.signal });
  assert.equal(r.interrupted, true);
  const est = lines[0].split('\n');
  const m = /^rlhf-sweep: estimate: about ([\d.]+) (s|min|h) for 1 of 2 cells \(e_w 0\) on .+/.exec(est[0]);
  assert.ok(m && Number(m[1]) > 0, lines[0]);
  assert.match(est[1], /^ {2}per cell: .+ \(SFT .+, comparisons \+ RM .+, PPO and GRPO .+ each, evaluation .+\)/);
  assert.deepEqual(lines.slice(1), ['rlhf-sweep: cell 1/2 (e_w = 0.5): done, read back', 'rlhf-sweep: cell 2/2 (e_w = 0)']);
});

test('rlhf sweep: a bad rate and a run without a base model are refused by name', async () => {
  const run = tempRun();
  await assert.rejects(runRlhfSweep(run, { rates: [1.5] }), /between 0 and 1/);
  await assert.rejects(runRlhfSweep(run, { rates: [0] }), /base model/);
  const rows: SweepRow[] = [];
  assert.match(sweepMarkdown(rows), /^\| e_w \| method/);
  assert.match(sweepChart(rows), /<svg/);
});

// newcomer29: --sweep-rates 0.25 then --sweep-rates 0.1 tabled only 0.1, the finished 0.25 cell left out
test('rlhf sweep: the table also holds the cells an earlier sweep finished, named as such; an unfinished cell is left out', async () => {
  const run = sweepRun([0.1, 0.25]);
  // a cell begun but not finished is not tabled
  mkdirSync(join(run, 'rlhf-sweep', 'ew-0.5'), { recursive: true });
  writeFileSync(join(run, 'rlhf-sweep', 'ew-0.5', 'sweep-state.json'), JSON.stringify({ writerErrorRate: 0.5, done: ['sft'] }));
  const lines: string[] = [];
  const r = await runRlhfSweep(run, { rates: [0.1], log: (l) => lines.push(l) });
  assert.deepEqual([...new Set(r.rows.map((x) => x.writerErrorRate))], [0.1, 0.25]);
  assert.ok(lines.includes('rlhf-sweep: also tabling the cells an earlier sweep finished: e_w 0.25'), lines.join('\n'));
  const md = readFileSync(join(run, 'rlhf-sweep.md'), 'utf8');
  assert.match(md, /\| 0\.25 \| PPO \|/);
  assert.match(md, /e_w 0\.1 from this sweep's --sweep-rates; e_w 0\.25 finished by an earlier sweep/);
  const json = JSON.parse(readFileSync(join(run, 'rlhf-sweep.json'), 'utf8'));
  assert.deepEqual(json.earlierRates, [0.25]);
  assert.equal(json.rows.length, r.rows.length);
});

// newcomer29: an edit to the run's preset did not reach an existing cell, and nothing said so
test('rlhf sweep: a run preset changed since a cell was made is named, key by key; the cell keeps its own preset', async () => {
  const run = sweepRun([0.25]);
  await runRlhfSweep(run, { rates: [0.25] });
  const cellPreset = join(run, 'rlhf-sweep', 'ew-0.25', 'preset.json');
  const before = readFileSync(cellPreset, 'utf8');
  const preset = JSON.parse(readFileSync(join(run, 'preset.json'), 'utf8'));
  preset.rm.comparisons.prompts += 7;
  writeFileSync(join(run, 'preset.json'), JSON.stringify(preset));
  const lines: string[] = [];
  await runRlhfSweep(run, { rates: [0.25], log: (l) => lines.push(l) });
  const warning = lines.find((l) => l.startsWith('rlhf-sweep: warning:')) ?? '';
  assert.match(warning, /the run's preset has changed since cell .*ew-0\.25 was made \(rm\.comparisons\.prompts\); the cell keeps its own .*ew-0\.25\/preset\.json/, lines.join('\n'));
  assert.equal(readFileSync(cellPreset, 'utf8'), before);
});

// newcomer29: Ctrl-C before any cell finished printed an empty table
test('rlhf sweep: stopped before any cell finished, it returns no table (not an empty one)', async () => {
  const run = sweepRun([]);
  const ac = new AbortController();
  ac.abort();
  const r = await runRlhfSweep(run, { rates: [0], signal: ac.signal });
  assert.equal(r.interrupted, true);
  assert.deepEqual(r.rows, []);
  assert.equal(r.markdown, '');
});
