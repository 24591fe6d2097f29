import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../src/engine/rng.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { prepareData, readDataIndex } from '../../src/data/prepare.js';
import { BatchLoader, type ConcatState } from '../../src/data/loader.js';
import type { MixtureConfig } from '../../src/data/mixture.js';
import { tempDir } from '../util/tmp.js';

/**
 * Issue #26 item 5: pretraining batches must hold the mixture's proportions. Three sources
 * of long documents (each several rows long); a batch of 8 rows × 32 tokens read from one
 * place of the stream is mostly one document, read from 8 streams it spans the mixture.
 */
const root = tempDir('gf-mix-');
const rng = new Rng(11);
const vocab = { prose: ['the', 'river', 'ran', 'past', 'stone', 'and', 'light'], code: ['function', 'return', 'const', 'x', '=', '{', '}'], dict: ['noun', 'verb', 'meaning', 'word', 'sense', 'plural', 'see'] };
const doc = (words: string[], n: number): string => Array.from({ length: n }, () => words[rng.int(words.length)]).join(' ');
for (const [name, words] of Object.entries(vocab)) {
  mkdirSync(join(root, name));
  for (let i = 0; i < 25; i++) writeFileSync(join(root, name, `${i}.txt`), doc(words, 150 + rng.int(250)));
}
const config: MixtureConfig = {
  sources: [
    { name: 'prose', paths: [join(root, 'prose')], weight: 0.5 },
    { name: 'code', paths: [join(root, 'code')], weight: 0.3 },
    { name: 'dict', paths: [join(root, 'dict')], weight: 0.2 },
  ],
  tokenBudget: 30_000,
  seed: 4,
  clean: { minChars: 20 },
};
const tok = trainTokenizer([Object.values(vocab).flat().join(' ').repeat(40)], { vocabSize: 300 });
const dataDir = join(root, 'data');
const ready = prepareData(config, dataDir, tok, { quiet: true, threads: 1 });

/** Mean over batches of the total-variation distance between a batch's source shares and the mixture's. */
function meanBatchSkew(loader: BatchLoader, proportions: number[], batches: number): number {
  let sum = 0;
  for (let i = 0; i < batches; i++) {
    const before = [...loader.tokensPerSource];
    loader.next();
    const got = loader.tokensPerSource.map((n, s) => n - before[s]);
    const total = got.reduce((a, b) => a + b, 0);
    sum += 0.5 * got.reduce((d, n, s) => d + Math.abs(n / total - proportions[s]), 0);
  }
  return sum / batches;
}

test('concat: a batch spans the mixture (one stream per row) instead of one stretch of one document', async () => {
  await ready;
  const index = readDataIndex(dataDir);
  const p = index.sources.map((s) => s.proportion);
  const batches = Math.floor(config.tokenBudget / (8 * 32)) - 2;
  const one = meanBatchSkew(BatchLoader.open(dataDir, { batchSize: 8, seqLen: 32, streams: 1 }), p, batches);
  const many = meanBatchSkew(BatchLoader.open(dataDir, { batchSize: 8, seqLen: 32 }), p, batches);
  // consecutive rows: most batches are one source (skew near 1 − its weight); 8 streams: a few rows off at most
  assert.ok(one > 0.4, `one stream: mean batch skew ${one.toFixed(3)}`);
  assert.ok(many < 0.25 && many < one / 2, `8 streams: mean batch skew ${many.toFixed(3)} (one stream ${one.toFixed(3)})`);
});

test("concat with one stream is the consecutive cut: each row starts where the previous one's inputs ended", async () => {
  await ready;
  const T = 40;
  const loader = BatchLoader.open(dataDir, { batchSize: 4, seqLen: T, streams: 1 });
  let last = -1;
  for (let i = 0; i < 20; i++) {
    const { inputs, targets } = loader.next();
    for (let b = 0; b < 4; b++) {
      if (last >= 0) assert.equal(inputs[b * T], last, `batch ${i} row ${b}`);
      last = targets[b * T + T - 1];
    }
  }
});

test('concat: a step reads the same rows however it is split (streams = batch × accumulation)', async () => {
  await ready;
  const whole = BatchLoader.open(dataDir, { batchSize: 8, seqLen: 32, streams: 8 });
  const halves = BatchLoader.open(dataDir, { batchSize: 4, seqLen: 32, streams: 8 });
  const quarters = BatchLoader.open(dataDir, { batchSize: 2, seqLen: 32, streams: 8 });
  for (let step = 0; step < 30; step++) {
    const a = whole.next().inputs;
    const b = [halves.next().inputs, halves.next().inputs];
    const c = [quarters.next().inputs, quarters.next().inputs, quarters.next().inputs, quarters.next().inputs];
    assert.deepEqual(Array.from(a), [...b[0], ...b[1]], `step ${step}: 4 × 2`);
    assert.deepEqual(
      Array.from(a),
      c.flatMap((x) => [...x]),
      `step ${step}: 2 × 4`,
    );
  }
});

test("concat: streams keep the mixture's proportions over a cycle; a resumed loader (across cycles) yields the same batches; deterministic", async () => {
  await ready;
  const index = readDataIndex(dataDir);
  const opts = { batchSize: 8, seqLen: 32 };
  const a = BatchLoader.open(dataDir, opts);
  // up to the end of the first cycle (its length is the token budget, to within a document per source)
  const cycleTokens = index.sources.reduce((n, s) => n + s.proportion * config.tokenBudget, 0);
  const first = Math.floor(cycleTokens / (8 * 32)) - 3;
  for (let i = 0; i < first; i++) a.next();
  const read = a.tokensPerSource.reduce((x, y) => x + y, 0);
  assert.equal(read, first * 8 * 32);
  // each source's share of what was read is its weight (each stream reads its own slice of the interleaved order)
  index.sources.forEach((s, i) => assert.ok(Math.abs(a.tokensPerSource[i] / read - s.proportion) < 0.03, `${s.name}: ${(a.tokensPerSource[i] / read).toFixed(3)} vs ${s.proportion}`));
  const saved = JSON.parse(JSON.stringify(a.state())) as ConcatState;
  assert.equal(saved.cursors.length, 8);
  const want: Int32Array[] = [];
  for (let i = 0; i < 12; i++) want.push(a.next().inputs);
  const cycles = (a.state() as ConcatState).cursors.map((c) => c[0]);
  assert.ok(
    cycles.some((c) => c >= 1),
    'the check runs into the second cycle',
  );
  const b = BatchLoader.open(dataDir, opts);
  b.restore(saved);
  for (let i = 0; i < 12; i++) assert.deepEqual(b.next().inputs, want[i], `batch ${i} after resume`);
  // the same seed and data give the same batches
  const c = BatchLoader.open(dataDir, opts);
  const d = BatchLoader.open(dataDir, opts);
  for (let i = 0; i < 5; i++) assert.deepEqual(c.next().inputs, d.next().inputs);
  // a position saved with another number of streams, or by the one-stream loader, is refused by name
  assert.throws(() => BatchLoader.open(dataDir, { ...opts, streams: 16 }).restore(saved), /8 streams, this run 16/);
  assert.throws(() => b.restore({ mode: 'concat', cycle: 0, pick: 3, offset: 10, buffer: [] }), /older one-stream concat loader.*--fresh/);
  assert.throws(() => b.restore({ mode: 'bestfit', cycle: 0, pick: 0, buffer: [] }), /"bestfit" loader, this run uses "concat"/);
});
