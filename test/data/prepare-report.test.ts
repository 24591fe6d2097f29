import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { prepareData } from '../../src/data/prepare.js';

const WORDS = ['river', 'stone', 'light', 'ship', 'whale', 'sea', 'city', 'law'];
const tok = trainTokenizer([WORDS.join(' ').repeat(40)], { vocabSize: 300 });

// newcomer (fixes39): "mine: 5 docs in, 4 kept (0.1 MB)" hid what cleaning dropped (a 2 MB one-line file
// cut into pieces, most dropped as duplicates): the line shows the counts, and a source that loses
// over 90% of its bytes is warned of, naming the files that lost them
test('data prepare: each source line shows what cleaning dropped; a source losing over 90% of its bytes warns naming its files', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'gf-prep-report-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'mine'));
  // one big file of one paragraph repeated: cut at its paragraph breaks, all but one piece duplicates
  writeFileSync(join(root, 'mine', 'big.txt'), 'river stone light ship whale.\n\n'.repeat(2000));
  const unique = (i: number): string => Array.from({ length: 12 }, (_, j) => WORDS[(i * 7 + j * 3 + j * j) % WORDS.length]).join(' ') + ` ${i}.`;
  writeFileSync(join(root, 'mine', 'small.txt'), Array.from({ length: 20 }, (_, i) => unique(i)).join(' '));
  writeFileSync(join(root, 'mine', 'tiny.txt'), 'sea.');
  mkdirSync(join(root, 'ok'));
  for (let i = 0; i < 4; i++) writeFileSync(join(root, 'ok', `d${i}.txt`), Array.from({ length: 10 }, (_, j) => unique(i * 10 + j)).join(' '));
  const config = {
    sources: [
      { name: 'mine', paths: [join(root, 'mine')], weight: 0.5 },
      { name: 'ok', paths: [join(root, 'ok')], weight: 0.5 },
    ],
    tokenBudget: 10_000,
    seed: 1,
    clean: { minChars: 20, maxChars: 40 },
  };
  const lines: string[] = [];
  const index = await prepareData(config, join(root, 'data'), tok, { threads: 1, log: (l) => lines.push(l) });
  const mine = index.sources.find((s) => s.name === 'mine')!.clean;
  assert.ok(mine.duplicates > 1000, `${mine.duplicates} duplicates`);
  const line = lines.find((l) => l.startsWith('data: mine: '));
  assert.ok(line, lines.join('\n'));
  assert.ok(line.includes(`${mine.docsIn} docs in, ${mine.docsKept} kept (`), line);
  assert.ok(line.includes(`; dropped: ${mine.duplicates} duplicates, ${mine.tooShort} too short)`), line);
  assert.ok(mine.tooShort >= 1, 'tiny.txt is too short');
  const warnings = lines.filter((l) => l.startsWith('data: warning: '));
  assert.equal(warnings.length, 1, lines.join('\n'));
  assert.match(warnings[0], /^data: warning: mine: cleaning kept [\d.]+ of [\d.]+ MB \(\d+\.\d%; dropped: \d+ duplicates, \d+ too short\); most lost in /);
  assert.ok(warnings[0].includes(join(root, 'mine', 'big.txt')), warnings[0]);
  assert.ok(!warnings[0].includes('small.txt'), 'a file that kept its text is not named');
});
