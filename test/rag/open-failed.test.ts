import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { storeMetaFor } from '../../src/rag/indexer.js';
import { RagStore } from '../../src/rag/store.js';
import { ragIndex } from '../../src/run/rag.js';

test('RagStore.open: a new store without its settings is refused before any file is made; an empty database reads as no store and still becomes one', () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-rag-open-'));
  try {
    const db = join(root, 'notes.db');
    assert.throws(() => RagStore.open(db), /a new RAG store needs embeddingModel.*storeMetaFor/);
    assert.deepEqual(readdirSync(root), [], 'no notes.db, -wal or -shm left behind');
    // an empty SQLite database (what an older failed open left): "no store here", and a store can still be built in it
    new Database(db).close();
    assert.throws(() => RagStore.open(db, { readonly: true }), /no RAG store here: an empty database/);
    const store = RagStore.open(db, { meta: storeMetaFor({ chunkSize: 48, chunkOverlap: 8 }) });
    assert.equal(store.meta.chunkSize, 48);
    store.close();
    assert.equal(RagStore.open(db, { readonly: true }).meta.chunkSize, 48);
    assert.ok(existsSync(db));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('ragIndex into an empty database (left by an older failed open) treats it as a new store and indexes', async () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-rag-open-idx-'));
  try {
    const db = join(root, 'notes.db');
    new Database(db).close();
    assert.equal(RagStore.isEmptyDatabase(db), true);
    writeFileSync(join(root, 'a.txt'), 'Whales breathe air through a blowhole.');
    const r = await ragIndex(db, { inputs: [join(root, 'a.txt')] });
    assert.deepEqual([r.indexed, r.total], [1, 1]);
    assert.equal(RagStore.isEmptyDatabase(db), false);
    assert.equal(RagStore.isEmptyDatabase(join(root, 'missing.db')), false);
    // a database holding someone else's tables is still refused, not overwritten
    const other = join(root, 'other.db');
    const d = new Database(other);
    d.exec('CREATE TABLE t (x)');
    d.close();
    await assert.rejects(ragIndex(other, { inputs: [join(root, 'a.txt')] }), /not a RAG store \(no meta table\)/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
