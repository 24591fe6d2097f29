import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { techniquesHeadline } from '../../src/assist/headline.js';
import { runTechniqueSweep } from '../../src/assist/sweep.js';
import { ADDITION_MIXTURE, SKILL_COT_MIXTURE, trainThinking } from '../../src/assist/thinking.js';
import { CLI } from '../cli/fixture.js';
import { latestCheckpoint } from '../../src/model/checkpoint.js';

test('gptforge eval --techniques: an unknown part is refused by name', () => {
  const r = spawnSync(process.execPath, [CLI, 'eval', '--run', '/nonexistent', '--techniques', '--parts', 'cot,magic'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--parts: expects parts among .*, got "magic"/);
});

test('runTechniqueSweep: the parts merge into techniques.json; techniques.md has the technique × family table; the SVG is written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-sweep-'));
  try {
    await trainThinking(dir, { steps: 2, examples: 300, model: { nLayer: 1, nHead: 2, nEmbd: 32, blockSize: 288 }, batchSize: 4, quiet: true });
    assert.throws(() => runTechniqueSweep(dir, { parts: ['tot'] }), /game-of-24 model/);
    const lines: string[] = [];
    runTechniqueSweep(dir, { parts: ['cot'], digits: [2], perCell: 2, cotFamilies: 'addition', log: (l) => lines.push(l) });
    assert.equal(lines.length, 2); // direct and step by step
    // a second call adds its part and keeps the first
    const { results, markdown } = runTechniqueSweep(dir, { parts: ['sc'], scProblems: 1, scDigits: 2, ks: [1, 2] });
    assert.equal(results.cot?.length, 2);
    assert.deepEqual(
      results.sc?.rows.map((r) => r.k),
      [1, 2],
    );
    const saved = JSON.parse(readFileSync(join(dir, 'techniques.json'), 'utf8')) as { cot: unknown[]; sc: unknown };
    assert.equal(saved.cot.length, 2);
    assert.ok(saved.sc);
    assert.match(markdown, /## Technique × family/);
    assert.match(markdown, /\| self-consistency, k = 2, majority \|/);
    assert.equal(readFileSync(join(dir, 'techniques.md'), 'utf8'), markdown);
    // the length-generalisation diagnostic: one row per length, a row of the tokens-to-think table
    const fl = runTechniqueSweep(dir, { parts: ['firstline'], digits: [2], perCell: 2 });
    assert.deepEqual(
      fl.results.firstLine?.map((r) => [r.digits, r.total]),
      [[2, 2]],
    );
    assert.match(fl.markdown, /\| long-addition \| step by step, first line given \|/);
    assert.ok(existsSync(join(dir, 'self-consistency.svg')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('techniquesHeadline (the pipeline techniques rows): trains the abacus recipe (AB5) by default, then direct vs step by step on 5–6 and 7–8 digits', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-headline-'));
  try {
    const table = await techniquesHeadline(dir, { steps: 2, perCell: 1, quiet: true, train: { examples: 300, model: { nLayer: 1, nHead: 2, nEmbd: 32, blockSize: 320 }, batchSize: 4 } });
    assert.ok(table);
    const lines = table.split('\n');
    assert.equal(lines[0], "## Technique × family (held-out, checked by the family's checker)");
    assert.match(table, /\| technique \| long-addition-abacus, 5–6 digits \| long-addition-abacus, 7–8 digits \|/);
    // the checkpoint is AB5's kind of model: abacus embeddings with randomized positions, the tiny shape merged over them
    const cfg = JSON.parse(readFileSync(join(latestCheckpoint(join(dir, 'sft'))!, 'config.json'), 'utf8')) as { model: { abacus?: { items?: unknown }; randomPositions?: number; nLayer: number } };
    assert.ok(cfg.model.abacus?.items, 'abacus with the Sum layout');
    assert.equal(cfg.model.randomPositions, 576);
    assert.equal(cfg.model.nLayer, 1);
    assert.match(table, /^\| direct \(greedy\) \| \d+% \(\d\/2\) \| \d+% \(\d\/2\) \|$/m);
    assert.match(table, /^\| step by step \(greedy\) \|/m);
    assert.ok(!table.includes('## Tokens to think'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('trainThinking: a continuation on another mixture keeps the run its tokenizer', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-cont-'));
  try {
    const tiny = { examples: 300, model: { nLayer: 1, nHead: 2, nEmbd: 32, blockSize: 288 }, batchSize: 4, quiet: true };
    const a = await trainThinking(dir, { ...tiny, steps: 2, mixture: ADDITION_MIXTURE });
    const b = await trainThinking(dir, { ...tiny, steps: 3, mixture: SKILL_COT_MIXTURE });
    assert.equal(b.step, 3);
    assert.equal(b.tok.hash(), a.tok.hash());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
