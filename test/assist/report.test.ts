import { test } from 'node:test';
import assert from 'node:assert/strict';
import { techniqueCells, techniqueFamilyTable, techniquesReport, type TechniquesResults } from '../../src/assist/report.js';

const results: TechniquesResults = {
  cot: [
    { task: 'long-addition', digits: 5, mode: 'direct', correct: 1, total: 10 },
    { task: 'long-addition', digits: 6, mode: 'direct', correct: 0, total: 10 },
    { task: 'long-addition', digits: 5, mode: 'cot', correct: 9, total: 10 },
    { task: 'long-addition', digits: 6, mode: 'cot', correct: 7, total: 10 },
    { task: 'long-addition', digits: 7, mode: 'cot', correct: 3, total: 10 },
  ],
  sc: {
    digits: 7,
    greedy: { k: 0, majority: 3, logprob: 3, oracle: 3, total: 10, ms: 100, tokens: 50 },
    rows: [
      { k: 1, majority: 2, logprob: 2, oracle: 2, total: 10, ms: 110, tokens: 55 },
      { k: 4, majority: 5, logprob: 6, oracle: 8, total: 10, ms: 200, tokens: 220 },
    ],
  },
  reflect: { digits: 5, rows: [{ source: 'tool', correct: [1, 4, 5], total: 10, broke: 0, tokens: 9, ms: 9 }] },
};

test('techniqueCells: cot cells pooled per length band, self-consistency at its largest k, reflection at its last round', () => {
  const cells = techniqueCells(results);
  const get = (t: string, f: string): [number, number] | undefined => {
    const c = cells.find((x) => x.technique === t && x.family === f);
    return c ? [c.correct, c.total] : undefined;
  };
  assert.deepEqual(get('direct (greedy)', 'long-addition, 5–6 digits'), [1, 20]);
  assert.deepEqual(get('step by step (greedy)', 'long-addition, 5–6 digits'), [16, 20]);
  assert.deepEqual(get('step by step (greedy)', 'long-addition, 7–8 digits'), [3, 10]);
  assert.equal(get('direct (greedy)', 'long-addition, 7–8 digits'), undefined); // not measured: no cell
  assert.deepEqual(get('self-consistency, k = 4, majority', 'long-addition, 7 digits'), [5, 10]);
  assert.deepEqual(get("self-consistency, k = 4, checker's pick", 'long-addition, 7 digits'), [8, 10]);
  assert.deepEqual(get('reflection, tool feedback', 'long-addition, 5 digits'), [5, 10]);
  assert.deepEqual(get('direct (greedy)', 'long-addition, 5 digits'), [1, 10]);
});

test('techniqueFamilyTable: one row per technique, one column per family, — where not measured', () => {
  const table = techniqueFamilyTable(techniqueCells(results));
  const lines = table.split('\n');
  const header = lines[0].split('|').map((s) => s.trim());
  assert.ok(header.includes('long-addition, 5–6 digits') && header.includes('long-addition, 7 digits'));
  const direct = lines.find((l) => l.startsWith('| direct (greedy) |'))!;
  assert.match(direct, /5% \(1\/20\)/);
  assert.match(direct, /—/);
  assert.equal(techniqueFamilyTable([]), '');
  const { markdown, svg } = techniquesReport(results);
  assert.ok(markdown.indexOf('Technique × family') < markdown.indexOf('Tokens to think'));
  assert.match(svg ?? '', /<svg/);
});

test('the self-consistency section names the family and the prefills, pairs the vote with greedy and gives CPU time', () => {
  const { markdown } = techniquesReport({
    sc: {
      digits: 8,
      task: 'long-addition-abacus',
      positionGroups: 4,
      share: false,
      greedy: { k: 0, majority: 7, logprob: 7, oracle: 7, total: 10, ms: 100, tokens: 50, cpuMs: 80 },
      rows: [{ k: 16, majority: 9, logprob: 9, oracle: 10, total: 10, ms: 300, tokens: 800, cpuMs: 240, majorityWins: 3, majorityLosses: 1 }],
    },
  });
  assert.match(markdown, /## Self-consistency: 8-digit additions \(long-addition-abacus\), step by step, T = 0\.7, 4 prefills \(position groups\), each sample its own decoding row/);
  const k16 = markdown.split('\n').find((l) => l.startsWith('| 16 |'))!;
  // 3 wins / 1 loss: p = 2 · (1 + 4) / 16 = 0.625
  assert.match(k16, /\| 3 \/ 1, p = 0\.63 \|/);
  assert.match(k16, /\| 0\.2 s \(3\.00×\) \|/);
  assert.match(markdown, /^\| greedy \| 70% \| — \| 70% \|/m);
  assert.match(markdown, /long-addition-abacus, 8 digits/); // the technique × family table's column
});

test('the engine line: one engine for all parts, or each part with its own when kept parts ran on another', () => {
  const skill = [{ condition: 'expert', correct: 8, total: 10, carryCorrect: 4, carryTotal: 5 }] as unknown as TechniquesResults['skill'];
  const one = techniquesReport({ skill, skillEngine: 'native avx2, 1 thread', engine: 'native avx2, 1 thread' }).markdown;
  assert.match(one, /^Engine: native avx2, 1 thread$/m);
  const two = techniquesReport({ skill, skillEngine: 'native avx2, 2 threads', cot: [], cotEngine: 'native avx2, 1 thread', engine: 'native avx2, 1 thread' }).markdown;
  assert.match(two, /^Engine, by part \(parts measured in separate runs\): cot: native avx2, 1 thread; skill: native avx2, 2 threads$/m);
  assert.doesNotMatch(two, /^Engine: /m);
});
