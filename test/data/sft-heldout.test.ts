import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSftDataset, sftTable } from '../../src/data/sft.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { tempDir } from '../util/tmp.js';

// a user file in an SFT mixture: the table says how many distinct conversations the draws repeat,
// and a share is held out so --eval-every draws a validation curve for it (newcomer24 #10)
const tok = trainTokenizer(['Question number one? Answer number one. What is the capital? It is a city.'], { vocabSize: 300 });
const dir = tempDir('gf-sft-heldout-');
const conv = (i: number): string =>
  JSON.stringify({
    messages: [
      { role: 'user', content: `Question ${i}?` },
      { role: 'assistant', content: `Answer ${i}.` },
    ],
  });
const good = join(dir, 'good.jsonl');
writeFileSync(good, Array.from({ length: 80 }, (_, i) => conv(i)).join('\n') + '\n');
const few = join(dir, 'few.jsonl');
writeFileSync(few, Array.from({ length: 5 }, (_, i) => conv(i)).join('\n') + '\n');

test('a file source: 8 of 80 held out, the rest drawn 4000×, the table saying so', () => {
  const d = buildSftDataset(tok, { sources: [{ path: good, weight: 1 }], examples: 4000 }, 64);
  const held = d.val.get('good')!;
  assert.equal(held.length, 8);
  const trainIds = new Set(d.train.map((r) => r.ids.join(',')));
  assert.equal(trainIds.size, 72);
  assert.ok(
    held.every((r) => !trainIds.has(r.ids.join(','))),
    'held-out conversations are not trained on',
  );
  assert.deepEqual([d.report[0].conversations, d.report[0].distinct, d.report[0].heldOut], [4000, 72, 8]);
  assert.match(sftTable(d.report), /good: 72 conversations, drawn 4000× \(each about 55\.6 times\); 8 more held out for the validation loss/);
  // the split is seeded: the same every run
  assert.deepEqual(
    buildSftDataset(tok, { sources: [{ path: good, weight: 1 }], examples: 4000 }, 64)
      .val.get('good')!
      .map((r) => r.ids.join(',')),
    held.map((r) => r.ids.join(',')),
  );
});

test('a file of fewer than 10 conversations, or valFraction 0, trains on all of them', () => {
  const d = buildSftDataset(tok, { sources: [{ path: few, weight: 1 }], examples: 50 }, 64);
  assert.equal(d.val.has('few'), false);
  assert.match(sftTable(d.report), /few: 5 conversations, drawn 50× .*none held out/);
  assert.equal(buildSftDataset(tok, { sources: [{ path: good, weight: 1 }], examples: 100, valFraction: 0 }, 64).val.size, 0);
  assert.throws(() => buildSftDataset(tok, { sources: [{ path: good, weight: 1 }], valFraction: 1 }, 64, 'mix.json'), /mix\.json, field "valFraction": valFraction must be a number in \[0, 1\), got 1/);
});

test('one conversation drawn many times: the table gives the count once (no "each about 4000.0 times")', () => {
  const one = join(dir, 'one.jsonl');
  writeFileSync(one, `${conv(1)}\n`);
  const table = sftTable(buildSftDataset(tok, { sources: [{ path: one, weight: 1 }], examples: 40 }, 64).report);
  assert.match(table, /one: 1 conversation, drawn 40×; none held out/);
  assert.doesNotMatch(table, /each about/);
});
