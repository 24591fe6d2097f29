import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ragIndex } from '../../src/run/rag.js';
import { RagStore } from '../../src/rag/store.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { withDocs } from './helpers.js';

test('rag index: re-indexing a store built with --tokenizer reuses that tokenizer (as --chunk-size and --model); an older store without its path says to pass the same --tokenizer', async () => {
  await withDocs('gf-rag-tok-', { 'a.txt': 'Ephemeral means lasting a very short time. '.repeat(20) }, async ({ root, docs, db }) => {
    const tokFile = join(root, 'tokenizer.json');
    const tok = trainTokenizer(['Ephemeral means lasting a very short time. Perennial plants live for many years. '.repeat(20)], { vocabSize: 300 });
    writeFileSync(tokFile, tok.toJSON());
    await ragIndex(db, { inputs: [docs], tokenizer: tokFile, chunkSize: 32 });
    writeFileSync(join(docs, 'b.txt'), 'Perennial plants live for many years.');
    const again = await ragIndex(db, { inputs: [docs] });
    assert.equal(again.indexed, 1);
    assert.equal(again.unchanged, 1);
    const store = RagStore.open(db, { readonly: true });
    assert.equal(store.meta.tokenizerHash, tok.hash());
    store.close();
    // a store from before the path was recorded: the error says what to pass
    const raw = new Database(db);
    raw.prepare("DELETE FROM meta WHERE key = 'tokenizerPath'").run();
    raw.close();
    writeFileSync(join(docs, 'c.txt'), 'Transient means passing quickly.');
    await assert.rejects(ragIndex(db, { inputs: [docs] }), (e: Error) => e.message.startsWith(`${db}, field "tokenizer": `) && /pass the same --tokenizer <tokenizer\.json> it was built with/.test(e.message));
    assert.equal((await ragIndex(db, { inputs: [docs], tokenizer: tokFile })).indexed, 1);
  });
});
