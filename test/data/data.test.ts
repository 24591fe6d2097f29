import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/engine/rng.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { prepareData, mixtureTable, readDataIndex, splitOneDocument } from '../../src/data/prepare.js';
import { BatchLoader, ValLoader } from '../../src/data/loader.js';
import { validateMixture, type MixtureConfig } from '../../src/data/mixture.js';
import { cleanDocuments, normalizeText } from '../../src/data/clean.js';
import { BUILTIN_SOURCES, detokenize, mailBody, readSource } from '../../src/data/sources.js';

/** A small synthetic corpus in three formats, different enough per source to tell apart. */
const root = mkdtempSync(join(tmpdir(), 'gf-data-'));
const WORDS = ['river', 'stone', 'light', 'ship', 'whale', 'sea', 'city', 'law', 'nation', 'people', 'code', 'value', 'return', 'function', 'the', 'a', 'of', 'and'];
function sentence(rng: Rng, n: number): string {
  return Array.from({ length: n }, () => WORDS[rng.int(WORDS.length)]).join(' ') + '.';
}
const rng = new Rng(5);
mkdirSync(join(root, 'books'));
for (let i = 0; i < 40; i++) writeFileSync(join(root, 'books', `b${i}.txt`), Array.from({ length: 20 + rng.int(40) }, () => sentence(rng, 12)).join(' '));
writeFileSync(join(root, 'web.jsonl'), Array.from({ length: 150 }, () => JSON.stringify({ body: Array.from({ length: 3 + rng.int(12) }, () => sentence(rng, 9)).join(' ') })).join('\n') + '\n');
mkdirSync(join(root, 'code'));
for (let i = 0; i < 30; i++) writeFileSync(join(root, 'code', `f${i}.md`), `function f${i}(x) {\n  return x * ${i};\n}\n` + sentence(rng, 30));

const config: MixtureConfig = {
  sources: [
    { name: 'books', paths: [join(root, 'books')], weight: 0.5 },
    { name: 'web', paths: [join(root, 'web.jsonl')], field: 'body', weight: 0.3 },
    { name: 'code', paths: [join(root, 'code', '*.md')], weight: 0.2 },
  ],
  tokenBudget: 120_000,
  seed: 3,
  clean: { minChars: 20 },
};
const tok = trainTokenizer([WORDS.join(' ').repeat(50), 'function return x * 0123456789 {}();'], { vocabSize: 330 });
const dataDir = join(root, 'data');

test('prepare writes shards and the mixture table; re-running reuses them; a new tokenizer rebuilds', async () => {
  const index = await prepareData(config, dataDir, tok, { quiet: true, threads: 1 });
  assert.equal(index.sources.length, 3);
  assert.equal(index.dtype, 'uint16');
  for (const s of index.sources) {
    assert.ok(s.train.tokens > 0 && s.val.docs >= 1, `${s.name} has train and val data`);
    assert.ok(Math.abs(s.epochs - (s.proportion * config.tokenBudget) / s.train.tokens) < 1e-9);
  }
  const table = mixtureTable(index);
  assert.match(table, /books\s+50\.0%/);
  // the documents column says why out can exceed in (long documents are split)
  assert.match(table, /docs in→out/);
  assert.match(table, /\ndocs in→out: .*split into pieces, so out can exceed in/);
  const mtime = statSync(join(dataDir, 'books.train.bin')).mtimeMs;
  const again = await prepareData(config, dataDir, tok, { quiet: true, threads: 1 });
  assert.equal(again.contentHash, index.contentHash);
  assert.equal(statSync(join(dataDir, 'books.train.bin')).mtimeMs, mtime, 'shards reused, not rewritten');
  const tok2 = trainTokenizer([WORDS.join(' ').repeat(40)], { vocabSize: 320 });
  const other = await prepareData(config, join(root, 'data2'), tok2, { quiet: true, threads: 1 });
  assert.notEqual(other.tokenizerHash, index.tokenizerHash);
  assert.notEqual(other.contentHash, index.contentHash);
});

test('over the budget the loader matches the configured proportions (±2%) and the reported epochs', () => {
  const index = readDataIndex(dataDir);
  const B = 4,
    T = 64;
  const loader = BatchLoader.open(dataDir, { batchSize: B, seqLen: T });
  const steps = Math.floor(config.tokenBudget / (B * T));
  for (let i = 0; i < steps; i++) loader.next();
  const total = loader.tokensPerSource.reduce((a, b) => a + b, 0);
  index.sources.forEach((s, i) => {
    const share = loader.tokensPerSource[i] / total;
    assert.ok(Math.abs(share - s.proportion) < 0.02, `${s.name}: share ${share.toFixed(4)} vs weight ${s.proportion}`);
    const epochs = loader.tokensPerSource[i] / s.train.tokens;
    assert.ok(Math.abs(epochs - s.epochs) / s.epochs < 0.03, `${s.name}: loader saw ${epochs.toFixed(3)} epochs, table says ${s.epochs.toFixed(3)}`);
  });
});

test('concat packing: BOS/EOS exactly at document boundaries, no token lost, rows overlap by one (each stream)', () => {
  const index = readDataIndex(dataDir);
  const B = 3,
    T = 50;
  // default: one stream per row, so row b of every batch continues stream b
  const loader = BatchLoader.open(dataDir, { batchSize: B, seqLen: T });
  const streams: number[][] = [[], [], []];
  for (let i = 0; i < 60; i++) {
    const { inputs, targets } = loader.next();
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        if (t + 1 < T) assert.equal(targets[b * T + t], inputs[b * T + t + 1], 'targets are inputs shifted by one');
        streams[b].push(inputs[b * T + t]);
      }
    }
  }
  for (const stream of streams) {
    // every stream starts at a document; every <|bos|> follows an <|eos|> and every <|eos|> is followed by <|bos|>
    assert.equal(stream[0], index.bosId);
    for (let i = 1; i < stream.length; i++) {
      if (stream[i] === index.bosId) assert.equal(stream[i - 1], index.eosId, `bos at ${i} not after eos`);
      if (stream[i - 1] === index.eosId) assert.equal(stream[i], index.bosId, `eos at ${i - 1} not followed by bos`);
    }
    const docs = stream.filter((x) => x === index.bosId).length;
    assert.ok(docs > 3);
  }
});

test('best-fit packing: every row starts at a document start', () => {
  const index = readDataIndex(dataDir);
  const loader = BatchLoader.open(dataDir, { batchSize: 4, seqLen: 64, mode: 'bestfit' });
  for (let i = 0; i < 30; i++) {
    const { inputs } = loader.next();
    for (let b = 0; b < 4; b++) assert.equal(inputs[b * 64], index.bosId);
  }
});

for (const mode of ['concat', 'bestfit'] as const) {
  test(`a loader resumed from a saved position yields the same batches (${mode})`, () => {
    const a = BatchLoader.open(dataDir, { batchSize: 2, seqLen: 40, mode });
    const want: Int32Array[] = [];
    let saved: unknown;
    for (let i = 0; i < 25; i++) {
      if (i === 9) saved = JSON.parse(JSON.stringify(a.state()));
      want.push(a.next().inputs);
    }
    const b = BatchLoader.open(dataDir, { batchSize: 2, seqLen: 40, mode });
    b.restore(saved);
    for (let i = 9; i < 25; i++) assert.deepEqual(b.next().inputs, want[i], `batch ${i}`);
  });
}

test("validation batches come from each source's held-out documents, deterministically", () => {
  const index = readDataIndex(dataDir);
  const v1 = new ValLoader(dataDir, index, 'web', 2, 32);
  const v2 = new ValLoader(dataDir, index, 'web', 2, 32);
  assert.deepEqual(v1.next().inputs, v2.next().inputs);
  assert.equal(v1.next().inputs[0] >= 0, true);
});

test('cleaning: NFC, controls, whitespace, duplicates, boilerplate lines, min length', () => {
  assert.equal(normalizeText('Cafe\u0301\r\nline\u0007 two  \n\n\n\nend\uFEFF'), 'Café\nline two\n\nend');
  const footer = 'This message was sent by the Example mailing list service.';
  const docs = Array.from({ length: 20 }, (_, i) => ({ text: `Document number ${i} has unique words: ${'x'.repeat(i)}\n${footer}`, file: `f${i}` }));
  docs.push({ text: docs[3].text, file: 'dup' }, { text: 'short', file: 'short' });
  const { docs: out, report } = cleanDocuments(docs, { minChars: 20, maxChars: 10_000, boilerplateFraction: 0.5 });
  assert.equal(report.docsIn, 22);
  assert.equal(report.duplicates, 1);
  assert.equal(report.tooShort, 1);
  assert.equal(out.length, 20);
  assert.ok(
    out.every((d) => !d.text.includes('mailing list')),
    'boilerplate footer removed',
  );
});

test('embedded corpora read as clean text (Brown without POS tags, mail without headers)', () => {
  const first = <T>(it: Iterable<T>, n: number): T[] => {
    const out: T[] = [];
    for (const x of it) {
      out.push(x);
      if (out.length >= n) break;
    }
    return out;
  };
  const brown = first(BUILTIN_SOURCES.brown.read(), 3);
  assert.ok(brown[0].text.startsWith('The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced "no evidence" that any irregularities took place.'), brown[0].text.slice(0, 120));
  assert.ok(!/\/(nn|at|vbd|np)\b/.test(brown.map((d) => d.text).join(' ')));
  assert.equal(detokenize(['He', 'said', ',', '``', 'no', "''", '.']), 'He said, "no".');
  const mail = first(BUILTIN_SOURCES['mail-ham'].read(), 20);
  assert.ok(mail.every((d) => !/^(Received|Return-Path|Message-Id):/im.test(d.text)));
  assert.equal(mailBody('From: a\nSubject: b\n\nHello there\n> quoted\n-- \nsig'), 'Hello there');
  for (const name of Object.keys(BUILTIN_SOURCES)) assert.ok(first(readSource({ name, builtin: name, weight: 1 }), 1)[0].text.length > 50, name);
});

test('bad input is reported with the source, file and line before any long work', async () => {
  const bad = join(root, 'bad.jsonl');
  writeFileSync(bad, '{"text": "fine line of text that is long enough"}\n{oops\n');
  const missingField = join(root, 'nofield.jsonl');
  writeFileSync(missingField, '{"body": "x"}\n');
  const run = (c: Partial<MixtureConfig>): Promise<unknown> => prepareData({ ...config, ...c } as MixtureConfig, join(root, 'bad-out'), tok, { quiet: true, threads: 1 });
  await assert.rejects(run({ sources: [{ name: 'x', paths: [join(root, 'missing.txt')], weight: 1 }] }), /missing\.txt: no such file or directory/);
  await assert.rejects(run({ sources: [{ name: 'x', paths: [join(root, 'nothing', '*.txt')], weight: 1 }] }), /the glob matches no/);
  await assert.rejects(run({ sources: [{ name: 'x', paths: [bad], weight: 1 }] }), /bad\.jsonl:2: source "x": not valid JSON/);
  await assert.rejects(run({ sources: [{ name: 'x', paths: [missingField], weight: 1 }] }), /nofield\.jsonl:1, field "text": source "x": no string field "text"/);
  assert.throws(() => validateMixture({ ...config, sources: [{ name: 'x', builtin: 'sotu', weight: -1 }] }), /weight must be a number ≥ 0/);
  assert.throws(() => validateMixture({ ...config, sources: [{ name: 'x', builtin: 'sotu', weight: 0 }] }), /sum to zero/);
  assert.throws(() => validateMixture({ ...config, sources: [{ name: 'x', builtin: 'nope', weight: 1 }] }), /unknown built-in corpus "nope"/);
  // a misspelt key is named, not read as the missing one
  const misspelt = { name: 'x', builtin: 'sotu', wieght: 1 } as unknown as MixtureConfig['sources'][number];
  assert.throws(() => validateMixture({ ...config, sources: [misspelt] }, 'm.json'), /m\.json, field "sources\[0\] \(x\)\.wieght": unknown key "wieght"; did you mean "weight"\? \(a source has: name, builtin, paths, field, weight\)/);
  const tiny = join(root, 'tiny.txt');
  writeFileSync(tiny, 'hi');
  await assert.rejects(run({ sources: [{ name: 'empty', paths: [tiny], weight: 1 }] }), /source "empty" yields no text after cleaning/);
});

test('a source that keeps one document holds out its tail for validation, not the training text again', async () => {
  const file = join(root, 'one.txt');
  const lines = Array.from({ length: 30 }, () => sentence(rng, 10));
  writeFileSync(file, lines.join('\n'));
  const one: MixtureConfig = { sources: [{ name: 'one', paths: [file], weight: 1 }], tokenBudget: 5000, seed: 1, clean: { minChars: 20 } };
  const dir = join(root, 'one-data');
  const index = await prepareData(one, dir, tok, { quiet: true, threads: 1 });
  const s = index.sources[0];
  assert.equal(s.clean.docsKept, 1);
  const read = (split: string): string => {
    const buf = readFileSync(join(dir, `one.${split}.bin`));
    const ids = Array.from(new Uint16Array(buf.buffer, buf.byteOffset, buf.length / 2));
    return tok.decode(ids.filter((id) => id !== index.bosId && id !== index.eosId));
  };
  const train = read('train');
  const val = read('val');
  // the head trains and the tail validates: together they are the document, cut between lines
  assert.equal(`${train}\n${val}`, lines.join('\n'));
  assert.ok(!train.includes(val) && val.length > 0, 'validation text is not training text');
  const share = val.length / (train.length + val.length);
  assert.ok(share > 0.05 && share < 0.2, `about 10% held out (${share.toFixed(3)})`);
  assert.equal(s.valFromTail, true);
  // shards prepared by the old rule (no valFromTail) are rebuilt, not reused
  const old = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
  delete old.sources[0].valFromTail;
  writeFileSync(join(dir, 'index.json'), JSON.stringify(old));
  assert.equal((await prepareData(one, dir, tok, { quiet: true, threads: 1 })).sources[0].valFromTail, true);
  // a text without line breaks is cut at a space; one without spaces at the point itself
  assert.deepEqual(splitOneDocument('aaaa bbbb cccc dddd eeee', 0.01), ['aaaa bbbb cccc dddd', 'eeee']);
  assert.deepEqual(splitOneDocument('abcdefghij', 0.01), ['abcdefghi', 'j']);
  assert.deepEqual(splitOneDocument('ab', 0.01), ['a', 'b']);
});

test('parquet sources: the text column is read; a missing column names file and column', async () => {
  const { parquetWriteFile } = (await import('hyparquet-writer')) as unknown as { parquetWriteFile(o: { filename: string; columnData: { name: string; data: unknown[]; type: string }[] }): void };
  const file = join(root, 'docs.parquet');
  const texts = Array.from({ length: 30 }, (_, i) => `Parquet document ${i}: ` + sentence(rng, 20));
  parquetWriteFile({
    filename: file,
    columnData: [
      { name: 'content', data: texts, type: 'STRING' },
      { name: 'id', data: texts.map((_, i) => i), type: 'INT32' },
    ],
  });
  const pq: MixtureConfig = { sources: [{ name: 'pq', paths: [file], field: 'content', weight: 1 }], tokenBudget: 5000, seed: 1, clean: { minChars: 10 } };
  const index = await prepareData(pq, join(root, 'pq-data'), tok, { quiet: true, threads: 1 });
  assert.equal(index.sources[0].clean.docsIn, 30);
  await assert.rejects(prepareData({ ...pq, sources: [{ name: 'pq', paths: [file], field: 'body', weight: 1 }] }, join(root, 'pq-bad'), tok, { quiet: true }), /docs\.parquet, field "body": source "pq": parquet file has no column "body" \(columns: content, id\)/);
});

test.after(() => rmSync(root, { recursive: true, force: true }));
