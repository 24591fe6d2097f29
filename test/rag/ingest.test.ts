import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chunkText, contentHash } from '../../src/rag/chunk.js';
import { readInputs, readIngestFile, type IngestFile, type IngestWarning } from '../../src/rag/ingest.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { GptforgeError } from '../../src/util/errors.js';

const para = (n: number, word: string): string => Array.from({ length: n }, (_, i) => `The ${word} number ${i} sits on the mat.`).join(' ');

test('chunkText: chunks are exact slices within the token budget, overlapping, covering the text', () => {
  const text = [para(30, 'cat'), para(12, 'dog'), 'Ünïcödé 😀 line.\n' + para(40, 'émoji😀')].join('\n\n');
  const tok = trainTokenizer([text], { vocabSize: 300 });
  const count = (s: string): number => tok.encodeOrdinary(s).length;
  const chunks = chunkText(text, { chunkSize: 64, chunkOverlap: 16, countTokens: count });
  assert.ok(chunks.length > 5, `${chunks.length} chunks`);
  const enc = new TextEncoder();
  for (const c of chunks) {
    assert.equal(c.text, text.slice(c.charStart, c.charEnd));
    assert.equal(c.byteStart, enc.encode(text.slice(0, c.charStart)).length);
    assert.equal(c.byteEnd - c.byteStart, enc.encode(c.text).length);
    assert.ok(count(c.text) <= 64, `chunk of ${count(c.text)} tokens`);
    assert.equal(c.tokens, count(c.text));
    assert.equal(c.hash, contentHash(c.text));
  }
  // ordered, every character covered, and consecutive chunks overlap (overlap > 0)
  assert.equal(chunks[0].charStart, 0);
  assert.equal(chunks[chunks.length - 1].charEnd, text.length);
  let overlapped = 0;
  for (let i = 1; i < chunks.length; i++) {
    assert.ok(chunks[i].charStart > chunks[i - 1].charStart);
    assert.ok(chunks[i].charStart <= chunks[i - 1].charEnd, 'a gap between chunks');
    if (chunks[i].charStart < chunks[i - 1].charEnd) {
      overlapped++;
      assert.ok(count(text.slice(chunks[i].charStart, chunks[i - 1].charEnd)) <= 16 + 2, 'overlap over budget');
    }
  }
  assert.ok(overlapped >= chunks.length / 2, `only ${overlapped} overlaps`);
  // cuts fall at sentence ends (no sentence here is over budget), never inside a word
  for (const c of chunks.slice(0, -1)) assert.match(text.slice(c.charEnd - 1, c.charEnd + 1), /^[.]\s$/, `cut at ${c.charEnd}`);
  // no overlap: chunks tile the text
  const tiles = chunkText(text, { chunkSize: 64, chunkOverlap: 0, countTokens: count });
  assert.equal(tiles.map((c) => c.text).join(''), text);
});

test('chunkText: an unbreakable run is halved to fit; bad options are errors', () => {
  const blob = 'x'.repeat(5000);
  const chunks = chunkText(blob, { chunkSize: 100, chunkOverlap: 0 });
  assert.equal(chunks.map((c) => c.text).join(''), blob);
  assert.ok(chunks.every((c) => c.tokens <= 100));
  assert.throws(() => chunkText('a', { chunkSize: 10, chunkOverlap: 10 }), GptforgeError);
  assert.throws(() => chunkText('a', { chunkSize: 0 }), GptforgeError);
  assert.deepEqual(chunkText('   \n\n  '), []);
});

test('ingest: an unreadable file (a dangling symlink) in a directory is skipped with a warning naming it, or refused with strict', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-rag-unreadable-'));
  try {
    writeFileSync(join(dir, 'a.txt'), 'Readable.');
    symlinkSync(join(dir, 'nowhere', 'gone.txt'), join(dir, 'broken.txt'));
    const warnings: IngestWarning[] = [];
    const files: string[] = [];
    for await (const f of readInputs([dir], { onWarning: (w) => warnings.push(w) })) files.push(f.path);
    assert.deepEqual(files, [join(dir, 'a.txt')]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0].reason, /broken\.txt: unreadable file \(ENOENT\)/);
    await assert.rejects(async () => {
      for await (const _ of readInputs([dir], { strict: true })) void _;
    }, /broken\.txt: unreadable file \(ENOENT\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ingest: a bad JSONL line is skipped alone with a warning naming file:line (the other lines kept), or refused with strict', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-rag-jsonl-'));
  try {
    const file = join(dir, 'notes.jsonl');
    writeFileSync(file, '{"text":"one"}\n{"text": oops}\n\n{"body":"no text field"}\n[1,2]\n{"text":"five"}\r\n');
    const warnings: IngestWarning[] = [];
    const f = await readIngestFile(file, { onWarning: (w) => warnings.push(w) });
    assert.deepEqual(
      f.docs.map((d) => [d.text, d.line]),
      [
        ['one', 1],
        ['five', 6],
      ],
    );
    assert.deepEqual(
      warnings.map((w) => w.file),
      [file, file, file],
    );
    assert.match(warnings[0].reason, /notes\.jsonl:2: not valid JSON/);
    assert.match(warnings[1].reason, /notes\.jsonl:4, field "text": no string field "text"/);
    assert.match(warnings[2].reason, /notes\.jsonl:5, field "text": no string field "text"/);
    await assert.rejects(readIngestFile(file, { strict: true }), (e: unknown) => e instanceof GptforgeError && e.file === file && e.line === 2 && /not valid JSON/.test(e.message));
    // through readInputs too: the file is kept, its bad lines reported
    const seen: IngestWarning[] = [];
    const files: IngestFile[] = [];
    for await (const x of readInputs([dir], { onWarning: (w) => seen.push(w) })) files.push(x);
    assert.equal(files.length, 1);
    assert.equal(files[0].docs.length, 2);
    assert.equal(seen.length, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ingest: txt (BOM), md, jsonl field, parquet column, html, directories and globs; binary skipped with a named warning or refused when strict', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-rag-ingest-'));
  try {
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'a.txt'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('Alpha text.\n')]));
    writeFileSync(join(dir, 'sub', 'b.md'), '# Bee\n\nA *markdown* file.\n');
    writeFileSync(join(dir, 'c.jsonl'), '{"body":"first record"}\n\n{"body":"second record","x":1}\n');
    writeFileSync(join(dir, 'd.html'), '<html><head><title>no</title><script>var hidden = 1;</script><style>p{}</style></head><body><h1>Title here</h1><p>Para <a href="http://example.com/x">linked</a> text.</p></body></html>');
    writeFileSync(join(dir, 'e.bin.txt'), Buffer.from([0x41, 0x00, 0x42, 0x43]));
    writeFileSync(join(dir, 'f.txt'), Buffer.from([0x41, 0xff, 0xfe, 0x42]));
    writeFileSync(join(dir, 'ignored.png'), Buffer.from([0x89, 0x50]));
    const { parquetWriteFile } = (await import('hyparquet-writer')) as unknown as { parquetWriteFile(o: { filename: string; columnData: { name: string; data: unknown[]; type: string }[] }): void };
    parquetWriteFile({ filename: join(dir, 'g.parquet'), columnData: [{ name: 'body', data: ['row one', 'row two'], type: 'STRING' }] });

    const warnings: IngestWarning[] = [];
    const files: IngestFile[] = [];
    for await (const f of readInputs([dir], { field: 'body', onWarning: (w) => warnings.push(w) })) files.push(f);
    const by = new Map(files.map((f) => [f.path.slice(dir.length + 1), f]));
    assert.deepEqual([...by.keys()], ['a.txt', 'c.jsonl', 'd.html', 'g.parquet', 'sub/b.md']);
    assert.deepEqual(by.get('a.txt')!.docs, [{ text: 'Alpha text.\n', byteBase: 3 }]);
    assert.equal(by.get('a.txt')!.size, 15);
    assert.match(by.get('a.txt')!.hash, /^[0-9a-f]{64}$/);
    assert.deepEqual(
      by.get('c.jsonl')!.docs.map((d) => [d.text, d.line]),
      [
        ['first record', 1],
        ['second record', 3],
      ],
    );
    assert.deepEqual(
      by.get('g.parquet')!.docs.map((d) => [d.text, d.line]),
      [
        ['row one', 1],
        ['row two', 2],
      ],
    );
    const html = by.get('d.html')!.docs[0].text;
    assert.match(html, /Title here/);
    assert.match(html, /Para linked text\./);
    assert.doesNotMatch(html, /hidden|example\.com|<|no\n/);
    assert.equal(by.get('sub/b.md')!.kind, 'text');
    assert.deepEqual(
      warnings.map((w) => w.file.slice(dir.length + 1)),
      ['e.bin.txt', 'f.txt'],
    );
    assert.match(warnings[0].reason, /e\.bin\.txt: binary file \(NUL byte/);
    assert.match(warnings[1].reason, /not valid UTF-8/);

    // globs; an explicit non-text file is read and refused as binary when strict
    const globbed: string[] = [];
    for await (const f of readInputs([join(dir, '**/*.md')])) globbed.push(f.path);
    assert.deepEqual(globbed, [join(dir, 'sub', 'b.md')]);
    await assert.rejects(async () => {
      for await (const _ of readInputs([dir], { strict: true, field: 'body' })) void _;
    }, /e\.bin\.txt: binary file/);
    await assert.rejects(readIngestFile(join(dir, 'c.jsonl'), { field: 'nope', strict: true }), /c\.jsonl:1, field "nope": no string field "nope"/);
    const lineWarnings: IngestWarning[] = [];
    assert.deepEqual((await readIngestFile(join(dir, 'c.jsonl'), { field: 'nope', onWarning: (w) => lineWarnings.push(w) })).docs, []);
    assert.deepEqual(
      lineWarnings.map((w) => w.reason.slice(dir.length + 1)),
      ['c.jsonl:1, field "nope": no string field "nope"', 'c.jsonl:3, field "nope": no string field "nope"'],
    );
    await assert.rejects(async () => {
      for await (const _ of readInputs([join(dir, 'missing.txt')])) void _;
    }, /missing\.txt: no such file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
