import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { indexInputs, storeMetaFor, type IndexOptions } from '../../src/rag/indexer.js';
import { RagStore, ftsQuery } from '../../src/rag/store.js';
import { GptforgeError } from '../../src/util/errors.js';
import { HashEmbedder } from './helpers.js';

const ANIMALS: Record<string, string> = {
  'cat.txt': 'The cat is a small domesticated carnivorous mammal. Cats purr and chase mice.',
  'dog.txt': 'The dog is a domesticated descendant of the wolf. Dogs bark and fetch sticks.',
  'owl.md': '# Owls\n\nOwls are birds of prey that hunt at night; an owl can turn its head far around.',
  'notes/whale.txt': 'Whales are marine mammals. The blue whale is the largest animal known to have lived.',
};

function corpus(dir: string): void {
  mkdirSync(join(dir, 'notes'), { recursive: true });
  for (const [f, t] of Object.entries(ANIMALS)) writeFileSync(join(dir, f), t + '\n' + 'Filler sentence about nothing in particular. '.repeat(20));
}

const snapshot = (s: RagStore): string[] => s.allChunks().map((c) => `${c.path}#${c.seq}:${c.hash}:${c.charStart}-${c.charEnd}`);

test('store: BM25 with filters, incremental re-indexing (unchanged skipped, changed replaced, pruned), meta refused naming the difference', async () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-rag-store-'));
  try {
    const docs = join(root, 'docs');
    corpus(docs);
    const db = join(root, 'store.db');
    const opts: IndexOptions = { source: 'animals', chunkSize: 48, chunkOverlap: 8 };
    const store = RagStore.open(db, { meta: storeMetaFor(opts) });
    const r1 = await indexInputs(store, [docs], opts);
    assert.equal(r1.files, 4);
    assert.equal(r1.indexed, 4);
    assert.ok(r1.chunks >= 8, `${r1.chunks} chunks`);
    assert.equal(store.count(), r1.chunks);

    const top = store.chunks(store.searchBM25('which animal purrs and chases mice?', 3).map((h) => h.id));
    assert.match(top[0].path, /cat\.txt$/);
    assert.match(top[0].text, /purr/);
    assert.equal(top[0].text, readFileSync(join(docs, 'cat.txt'), 'utf8').slice(top[0].charStart, top[0].charEnd));
    // porter stemming: "barking" finds "bark"
    assert.match(store.chunks(store.searchBM25('barking', 1).map((h) => h.id))[0].path, /dog\.txt$/);
    assert.deepEqual(store.searchBM25('barking', 5, { pathGlob: '*/notes/*' }), []);
    assert.match(store.chunks(store.searchBM25('largest mammals', 5, { pathGlob: '*/notes/*' }).map((h) => h.id))[0].path, /whale/);
    assert.deepEqual(store.searchBM25('cat', 5, { source: 'other' }), []);
    // hostile query text is quoted, not parsed as FTS5 syntax
    assert.equal(ftsQuery('NEAR(" AND *'), '"near"');
    assert.equal(ftsQuery('What is the cat?'), '"cat"'); // the question words are the frame, not the topic
    // the question's frame words: kept by default (they may be a user's topic), dropped when asked
    assert.equal(ftsQuery('What does ephemeral mean?'), '"ephemeral" OR "mean"');
    assert.equal(ftsQuery('What does ephemeral mean?', { dropFrameWords: true }), '"ephemeral"');
    assert.equal(ftsQuery('Tell me what kind of thing a base is.'), '"tell" OR "me" OR "kind" OR "thing" OR "base"');
    assert.equal(ftsQuery('Tell me what kind of thing a base is.', { dropFrameWords: true }), '"base"');
    assert.equal(ftsQuery('type inference in generic code', { dropFrameWords: false }), '"type" OR "inference" OR "generic" OR "code"');
    assert.equal(ftsQuery('What does mean mean?', { dropFrameWords: true }), '"mean"'); // only frame words left: they are the topic
    assert.equal(ftsQuery('What category does the word mean belong to?', { dropFrameWords: true }), '"category" OR "word" OR "mean" OR "belong"');
    assert.equal(ftsQuery('to be or not to be'), '"to" OR "be" OR "or" OR "not"');
    assert.deepEqual(store.searchBM25('"; DROP TABLE chunks; --', 5), []);
    assert.equal(store.searchBM25('-(cat* OR "', 5).length > 0, true);

    // re-run: nothing changes, nothing is read
    const before = snapshot(store);
    const r2 = await indexInputs(store, [docs], opts);
    assert.deepEqual([r2.indexed, r2.unchanged, r2.chunks], [0, 4, 0]);
    assert.deepEqual(snapshot(store), before);
    // same bytes, new mtime: re-stamped by hash, not re-chunked
    utimesSync(join(docs, 'cat.txt'), new Date(), new Date(Date.now() + 5000));
    const r3 = await indexInputs(store, [docs], opts);
    assert.deepEqual([r3.indexed, r3.unchanged], [0, 4]);
    // a changed file's chunks are replaced, the others kept
    writeFileSync(join(docs, 'dog.txt'), 'The dog now howls at the moon.');
    const r4 = await indexInputs(store, [docs], opts);
    assert.deepEqual([r4.indexed, r4.unchanged, r4.chunks], [1, 3, 1]);
    assert.ok(r4.removed >= 2);
    assert.equal(store.searchBM25('fetch sticks', 5).length, 0);
    assert.match(store.chunks(store.searchBM25('howls', 1).map((h) => h.id))[0].path, /dog\.txt$/);
    // a file deleted from an input folder is removed and reported (rag19), before --prune would forget it
    unlinkSync(join(docs, 'owl.md'));
    const r5 = await indexInputs(store, [docs], { ...opts, prune: true });
    assert.deepEqual(r5.deleted, [join(docs, 'owl.md')]);
    assert.equal(r5.pruned, 0);
    assert.equal(store.files().length, 3);
    assert.equal(store.searchBM25('owl', 5).length, 0);
    // the same as a fresh index of what is there now
    const fresh = RagStore.open(join(root, 'fresh.db'), { meta: storeMetaFor(opts) });
    await indexInputs(fresh, [docs], opts);
    assert.deepEqual(
      snapshot(store).map((s) => s.replace(/^[^#]*\//, '')),
      snapshot(fresh).map((s) => s.replace(/^[^#]*\//, '')),
    );
    fresh.close();
    assert.equal(store.integrity(), 'ok');
    store.close();

    // another embedding model / tokenizer / chunking: refused, naming each difference
    assert.throws(
      () => RagStore.open(db, { meta: storeMetaFor({ ...opts, embedder: new HashEmbedder(16) }) }),
      (e: unknown) => e instanceof GptforgeError && /embeddingModel is "none" in the store, "hash-bow-16" here/.test(e.message) && /embeddingDim is 0 in the store, 16 here/.test(e.message) && /tokenizerHash/.test(e.message) && e.message.includes(db),
    );
    assert.throws(() => RagStore.open(db, { meta: { chunkSize: 100 } }), /chunkSize is 48 in the store, 100 here/);
    const ro = RagStore.open(db, { readonly: true });
    assert.equal(ro.meta.chunkSize, 48);
    await assert.rejects(indexInputs(ro, [docs], { ...opts, chunkOverlap: 4 }), /chunkOverlap is 8 in the store, 4 here/);
    ro.close();
    assert.throws(() => RagStore.open(join(root, 'new.db')), /a new RAG store needs embeddingModel/);

    // a store that holds no file yet (an index that failed before its first) takes new settings
    const empty = join(root, 'empty.db');
    RagStore.open(empty, { meta: storeMetaFor(opts) }).close();
    const retried = RagStore.open(empty, { meta: storeMetaFor({ ...opts, embedder: new HashEmbedder(16) }) });
    assert.equal(retried.meta.embeddingModel, 'hash-bow-16');
    assert.equal(retried.meta.embeddingDim, 16);
    retried.close();
    assert.equal(RagStore.open(empty, { readonly: true }).meta.embeddingModel, 'hash-bow-16', 'written to the file');
    // not a store, or no file: a clear error, no SQLite stack
    const junk = join(root, 'junk.db');
    writeFileSync(junk, '{"not": "sqlite"}\n'.repeat(200));
    for (const readonly of [true, false])
      assert.throws(
        () => RagStore.open(junk, { readonly, meta: storeMetaFor(opts) }),
        (e: unknown) => e instanceof GptforgeError && /not a RAG store: the file is not an SQLite database/.test(e.message) && e.message.includes(junk),
      );
    assert.throws(
      () => RagStore.open(join(root, 'missing.db'), { readonly: true }),
      (e: unknown) => e instanceof GptforgeError && /no RAG store here \(build one with: gptforge rag index/.test(e.message),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("store: exact vector search = brute force, honours filters, sees other connections' writes; an interrupted indexing resumes without duplicates", async () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-rag-vec-'));
  try {
    const docs = join(root, 'docs');
    corpus(docs);
    for (let i = 0; i < 12; i++) writeFileSync(join(docs, `extra-${String(i).padStart(2, '0')}.txt`), `Extra document ${i} mentions word${i} and word${i + 1} and mammal ${'x '.repeat(i)}.`);
    const opts: IndexOptions = { source: 's', chunkSize: 40, chunkOverlap: 8, embedder: new HashEmbedder(128) };
    const db = join(root, 'v.db');
    const store = RagStore.open(db, { meta: storeMetaFor(opts) });
    await indexInputs(store, [docs], opts);
    const q = new HashEmbedder(128).embed(['whales: the blue whale, largest marine mammal'])[0];
    const { ids, mat } = store.vectors();
    assert.equal(ids.length, store.count());
    const brute = [...ids].map((id, r) => ({ id, score: mat.subarray(r * 128, r * 128 + 128).reduce((s, v, j) => s + v * q[j], 0) })).sort((a, b) => b.score - a.score);
    const hits = store.searchVector(q, 5);
    assert.deepEqual(
      hits.map((h) => h.id),
      brute.slice(0, 5).map((h) => h.id),
    );
    hits.forEach((h, i) => assert.ok(Math.abs(h.score - brute[i].score) < 1e-5));
    for (let r = 0; r < ids.length; r++) assert.ok(Math.abs(Math.hypot(...mat.subarray(r * 128, r * 128 + 128)) - 1) < 1e-5, 'stored vectors are unit length');
    assert.match(store.chunks([hits[0].id])[0].path, /whale/);
    const filtered = store.searchVector(q, 50, { pathGlob: '*extra-0*' });
    assert.ok(filtered.length > 0 && store.chunks(filtered.map((h) => h.id)).every((c) => /extra-0\d\.txt$/.test(c.path)));
    assert.throws(() => store.searchVector(new Float32Array(31), 3), /31 values, the store holds 128/);

    // another connection writes: this one's vector cache notices
    const other = RagStore.open(db);
    writeFileSync(join(docs, 'zebra.txt'), 'zebra zebra stripes savanna');
    await indexInputs(other, [docs], opts);
    other.close();
    const z = store.searchVector(new HashEmbedder(128).embed(['zebra stripes'])[0], 1);
    assert.match(store.chunks([z[0].id])[0].path, /zebra/);

    // a run that dies after 5 files: committed files stay whole, the rerun finishes the rest
    const fresh = RagStore.open(join(root, 'fresh.db'), { meta: storeMetaFor(opts) });
    await indexInputs(fresh, [docs], opts);
    const crashDb = join(root, 'crash.db');
    const crashing = RagStore.open(crashDb, { meta: storeMetaFor(opts) });
    const dying = new HashEmbedder(128, 5);
    await assert.rejects(indexInputs(crashing, [docs], { ...opts, embedder: dying }), /simulated crash/);
    assert.equal(crashing.files().length, 5);
    assert.equal(crashing.integrity(), 'ok');
    const r = await indexInputs(crashing, [docs], opts);
    assert.deepEqual([r.unchanged, r.indexed], [5, fresh.files().length - 5]);
    const strip = (s: RagStore) => snapshot(s).map((x) => x.replace(/^[^#]*\//, ''));
    assert.deepEqual(strip(crashing), strip(fresh));
    crashing.close();
    fresh.close();
    store.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('store: a second writer waits for the lock (busy_timeout) or fails cleanly; the store stays sound', async () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-rag-lock-'));
  try {
    const db = join(root, 'lock.db');
    const opts: IndexOptions = { chunkSize: 32, chunkOverlap: 4 };
    RagStore.open(db, { meta: storeMetaFor(opts) }).close();
    // another process takes the write lock and holds it for 1.5 s
    const holder = spawn(process.execPath, ['-e', `const D = require('better-sqlite3'); const db = new D(${JSON.stringify(db)}); db.exec('BEGIN IMMEDIATE'); db.prepare("INSERT INTO meta (key, value) VALUES ('holder', '1')").run(); console.log('locked'); setTimeout(() => { db.exec('COMMIT'); db.close(); }, 1500);`], {
      cwd: process.cwd(),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((res, rej) => {
      holder.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && res());
      holder.on('exit', (c) => rej(new Error(`holder exited ${c}`)));
    });
    const file = { path: '/virtual/a.txt', source: 's', size: 1, mtimeMs: 1, hash: 'h' };
    const chunk = { seq: 0, charStart: 0, charEnd: 5, byteStart: 0, byteEnd: 5, tokens: 1, hash: 'c', text: 'hello' };
    const impatient = RagStore.open(db, { busyTimeoutMs: 100 });
    assert.throws(
      () => impatient.replaceFile(file, [chunk]),
      (e: unknown) => e instanceof GptforgeError && /locked by another writer/.test(e.message) && e.message.includes(db),
    );
    impatient.close();
    const patient = RagStore.open(db, { busyTimeoutMs: 10_000 });
    const t0 = Date.now();
    patient.replaceFile(file, [chunk]);
    assert.ok(Date.now() - t0 > 200, 'the write should have waited for the other writer');
    assert.equal(patient.count(), 1);
    assert.equal(patient.integrity(), 'ok');
    patient.close();
    await new Promise((res) => holder.once('exit', res).exitCode !== null && res(null));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
