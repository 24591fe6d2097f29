import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { prepareData, sampleTrainingText, sourceReadOptions } from '../../src/data/prepare.js';

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

// newcomer (fixes39): a binary file in a source's glob stopped the whole prepare; --on-bad skip
// leaves it out, warned of once by name (the tokenizer's sample and the shards share the reader)
test('data prepare: a binary source file stops it with a hint to --on-bad skip; skip leaves it out with one named warning', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'gf-prep-bad-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'src'));
  for (let i = 0; i < 3; i++) writeFileSync(join(root, 'src', `d${i}.txt`), Array.from({ length: 8 }, (_, j) => `${WORDS[(i + j) % WORDS.length]} ${WORDS[(i * j) % WORDS.length]} river ${i} ${j}.`).join(' '));
  const bin = join(root, 'src', 'photo.txt');
  writeFileSync(bin, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 1, 2, 3]));
  const config = { sources: [{ name: 'src', paths: [join(root, 'src', '*.txt')], weight: 1 }], tokenBudget: 5_000, seed: 1, clean: { minChars: 10 } };
  await assert.rejects(
    () => prepareData(config, join(root, 'data'), tok, { quiet: true, threads: 1, log: () => undefined }),
    (e: Error) => e.message.startsWith(`${bin}: `) && /binary file/.test(e.message) && e.message.endsWith('; data prepare --on-bad skip leaves such a file out with a warning'),
  );
  const lines: string[] = [];
  const read = sourceReadOptions('skip', (l) => lines.push(l));
  assert.ok([...sampleTrainingText(config, 10_000, read)].length === 3, 'the sample has the three text files');
  const index = await prepareData(config, join(root, 'data'), tok, { quiet: true, threads: 1, sourceRead: read, log: (l) => lines.push(l) });
  assert.equal(index.sources[0].clean.docsIn, 3);
  const skipped = lines.filter((l) => l.startsWith('data: warning: skipped '));
  assert.equal(skipped.length, 1, lines.join('\n'));
  assert.match(skipped[0], new RegExp(`^data: warning: skipped ${bin.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(--on-bad skip\\): .*binary file`));
  assert.throws(() => sourceReadOptions('ignore' as 'skip', () => undefined), /--on-bad must be "error" or "skip", got "ignore"/);
});

// newcomer (fixes44): one bad line of a JSONL source stopped data prepare; --on-bad skip leaves bad lines
// out, one warning per file counting them and naming the first five
test('data prepare: a bad JSONL source line stops it with a hint to --on-bad skip; skip leaves bad lines out, counted in one warning per file', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'gf-prep-lines-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const good = (i: number): string => JSON.stringify({ text: Array.from({ length: 8 }, (_, j) => `${WORDS[(i + j) % WORDS.length]} ${WORDS[(i * j) % WORDS.length]} ${i} ${j}.`).join(' ') });
  // lines 1-3 good, then 7 bad ones (broken JSON, no field, a number, null), then good again
  const bad = ['{"text": "unterminated', '{"body": "no text field"}', '{"text": 3}', 'null', '[1, 2', '{"text": ', '{"txt": "x"}'];
  const lines = [good(0), good(1), good(2), ...bad, good(3), good(4)];
  const file = join(root, 'a.jsonl');
  writeFileSync(file, lines.join('\n') + '\n');
  const config = { sources: [{ name: 'mine', paths: [file], weight: 1 }], tokenBudget: 5_000, seed: 1, clean: { minChars: 10 } };
  await assert.rejects(
    () => prepareData(config, join(root, 'data'), tok, { quiet: true, threads: 1, log: () => undefined }),
    (e: Error) => e.message.startsWith(`${file}:4: `) && /not valid JSON/.test(e.message) && e.message.endsWith('; data prepare --on-bad skip leaves bad lines out with a warning counting them'),
  );
  const said: string[] = [];
  const read = sourceReadOptions('skip', (l) => said.push(l));
  assert.equal([...sampleTrainingText(config, 100_000, read)].length, 5, 'the sample has the five good lines');
  const index = await prepareData(config, join(root, 'data'), tok, { quiet: true, threads: 1, sourceRead: read, log: (l) => said.push(l) });
  assert.equal(index.sources[0].clean.docsIn, 5);
  const warnings = said.filter((l) => l.startsWith('data: warning: skipped '));
  assert.equal(warnings.length, 1, said.join('\n'));
  assert.ok(warnings[0].startsWith(`data: warning: skipped 7 bad lines of ${file} (--on-bad skip): line 4: source "mine": not valid JSON`), warnings[0]);
  assert.ok(warnings[0].includes('; line 5: source "mine": no string field "text"; line 6: '), warnings[0]);
  assert.ok(warnings[0].includes('; line 8: ') && !warnings[0].includes('line 9:'), 'the first five named');
  assert.ok(warnings[0].endsWith('; … and 2 more'), warnings[0]);
});
