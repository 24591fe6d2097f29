import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { indexNotes } from '../../src/cli/rag.js';
import { RagStore } from '../../src/rag/store.js';
import { PROGRESS_MIN_FILES, ragIndex } from '../../src/run/rag.js';
import { tinyRun } from '../server/fixture.js';

const storedPaths = (db: string): string[] => {
  const s = RagStore.open(db, { readonly: true });
  try {
    return s.files().map((f) => f.path);
  } finally {
    s.close();
  }
};

// rag19 #3: what a newcomer's index runs did silently
test('rag index: empty files are counted and not stored; a file gone from an input folder is removed and reported; a --source relabel is reported', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'gf-rag-report-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const docs = join(root, 'docs');
  const other = join(root, 'other');
  mkdirSync(docs);
  mkdirSync(other);
  writeFileSync(join(docs, 'a.md'), 'Cats purr and chase mice.\n');
  writeFileSync(join(docs, 'b.md'), 'Dogs bark at the mail carrier.\n');
  writeFileSync(join(docs, 'empty.md'), '');
  writeFileSync(join(docs, 'blank.txt'), '  \n\n');
  writeFileSync(join(other, 'c.md'), 'Owls hunt at night.\n');
  const db = join(root, 'kb.db');

  let r = await ragIndex(db, { inputs: [docs], source: 'notes' });
  assert.equal(r.files, 4);
  assert.equal(r.indexed, 2);
  assert.equal(r.empty, 2, 'the empty and the whitespace-only file');
  assert.deepEqual(storedPaths(db).sort(), [join(docs, 'a.md'), join(docs, 'b.md')]);
  r = await ragIndex(db, { inputs: [other], source: 'notes' });
  assert.deepEqual(r.deleted, [], "another folder's files are not this run's to judge");

  // a file emptied since: its chunks go; a file deleted since: removed and reported; a gone file outside the run's inputs stays
  writeFileSync(join(docs, 'a.md'), '\n');
  unlinkSync(join(docs, 'b.md'));
  writeFileSync(join(docs, 'd.md'), 'Mice eat grain.\n');
  unlinkSync(join(other, 'c.md'));
  writeFileSync(join(other, 'e.md'), 'Bats sleep by day.\n');
  r = await ragIndex(db, { inputs: [docs], source: 'notes' });
  assert.equal(r.empty, 3);
  assert.equal(r.indexed, 1);
  assert.deepEqual(r.deleted, [join(docs, 'b.md')]);
  assert.deepEqual(indexNotes(r), [`${join(docs, 'b.md')}: indexed before, no longer on disk — removed from the store`]);
  assert.deepEqual(storedPaths(db).sort(), [join(docs, 'd.md'), join(other, 'c.md')]);
  // the same through a glob: its fixed folder is the run's scope
  r = await ragIndex(db, { inputs: [join(other, '*.md')], source: 'notes' });
  assert.deepEqual(r.deleted, [join(other, 'c.md')]);

  // indexed again without --source: relabelled from "notes" to "default", said with the flag that keeps the label
  r = await ragIndex(db, { inputs: [docs] });
  assert.deepEqual(r.relabelled, [{ path: join(docs, 'd.md'), from: 'notes', to: 'default' }]);
  assert.match(indexNotes(r).join('\n'), /1 file\(s\) indexed under source "notes" now have source "default" .*d\.md.*index with --source notes to keep their label/);
  r = await ragIndex(db, { inputs: [docs] });
  assert.deepEqual(r.relabelled, [], 'said once');
  // a file gone from the run's folder is removed whatever label it had
  writeFileSync(join(docs, 'f.md'), 'Frogs croak.\n');
  await ragIndex(db, { inputs: [docs], source: 'pond' });
  unlinkSync(join(docs, 'f.md'));
  r = await ragIndex(db, { inputs: [docs] });
  assert.deepEqual(r.deleted, [join(docs, 'f.md')]);
});

test('rag index: --db naming a directory is a clear error naming it, before anything is written', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'gf-rag-dbdir-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'a.md'), 'Cats purr.\n');
  await assert.rejects(ragIndex(root, { inputs: [join(root, 'a.md')] }), (e: Error) => e.message.includes(root) && /is a directory, not a RAG store file: give the store's file, e\.g\. .*kb\.db/.test(e.message));
  const file = join(root, 'a.md');
  await assert.rejects(ragIndex(join(file, 'kb.db'), { inputs: [file] }), /cannot create the RAG store: .*a\.md is a file, not a folder/);
  // a missing parent folder is created (as before)
  const r = await ragIndex(join(root, 'new', 'sub', 'kb.db'), { inputs: [file] });
  assert.equal(r.indexed, 1);
});

test(`rag index: a progress bar by files — on a pipe only for runs of ${PROGRESS_MIN_FILES}+ files`, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'gf-rag-progress-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const run = async (files: number, dir: string): Promise<string> => {
    mkdirSync(join(root, dir));
    for (let i = 0; i < files; i++) writeFileSync(join(root, dir, `f${i}.md`), `Note ${i} about cats.\n`);
    const out = new PassThrough();
    let text = '';
    out.on('data', (b: Buffer) => (text += b.toString()));
    const r = await ragIndex(join(root, `${dir}.db`), { inputs: [join(root, dir)], progress: out as unknown as NodeJS.WriteStream });
    assert.equal(r.indexed, files);
    return text;
  };
  assert.equal(await run(3, 'small'), '', 'a short run on a pipe prints no bar');
  const long = await run(PROGRESS_MIN_FILES, 'long');
  const lines = long.trim().split('\n');
  assert.ok(lines.length >= 2 && lines.every((l) => l.startsWith('index [')), long);
  assert.match(lines[lines.length - 1], new RegExp(`100% ${PROGRESS_MIN_FILES}/${PROGRESS_MIN_FILES} .*${PROGRESS_MIN_FILES} chunks`));
});

// newcomer37: embedding 23 files with the small model took 6 minutes with nothing on a pipe
test('rag index with a model: the progress bar prints on a pipe even for a few files (embedding is slow)', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'gf-rag-progress-model-'));
  const { dir: runDir } = tinyRun();
  t.after(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(runDir, { recursive: true, force: true });
  });
  for (let i = 0; i < 3; i++) writeFileSync(join(root, `f${i}.md`), `Note ${i} about cats.\n`);
  const out = new PassThrough();
  let text = '';
  out.on('data', (b: Buffer) => (text += b.toString()));
  const r = await ragIndex(join(root, 'kb.db'), { inputs: [join(root, 'f*.md')], model: join(runDir, 'sft'), progress: out as unknown as NodeJS.WriteStream });
  assert.equal(r.indexed, 3);
  const lines = text.trim().split('\n');
  assert.ok(lines.length >= 1 && lines.every((l) => l.startsWith('index [')), text);
  assert.match(lines[lines.length - 1], /100% 3\/3 .*3 chunks/);
});
