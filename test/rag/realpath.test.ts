import { test } from 'node:test';
import assert from 'node:assert/strict';
import { symlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { RagStore } from '../../src/rag/store.js';
import { indexInputs, storeMetaFor } from '../../src/rag/indexer.js';
import { withDocs } from './helpers.js';

// newcomer33 #3: the same folder indexed by a relative and then an absolute path was stored twice
test('one file named relatively, absolutely or through a symlink is one record, under the path first given', () =>
  withDocs('gf-rag-realpath-', { 'a.md': 'Anna was born on the ninth of May.\n', 'b.md': 'The wifi password is marmalade.\n' }, async ({ root, docs, db }) => {
    const store = RagStore.open(db, { meta: storeMetaFor({}) });
    try {
      const rel = relative(process.cwd(), docs);
      const r1 = await indexInputs(store, [rel], {});
      assert.equal(r1.indexed, 2);
      assert.equal(store.count(), 2);
      const r2 = await indexInputs(store, [docs], {});
      assert.deepEqual([r2.files, r2.indexed, r2.unchanged, r2.chunks], [2, 0, 2, 0]);
      symlinkSync(docs, join(root, 'link'));
      const r3 = await indexInputs(store, [join(root, 'link', 'a.md'), join(docs, 'a.md')], {});
      assert.deepEqual([r3.files, r3.unchanged], [1, 1]);
      assert.equal(store.count(), 2);
      // kept under the path first given; pruning by the other spelling forgets nothing
      assert.deepEqual(
        store
          .files()
          .map((f) => f.path)
          .sort(),
        [join(rel, 'a.md'), join(rel, 'b.md')],
      );
      const r4 = await indexInputs(store, [docs], { prune: true });
      assert.equal(r4.pruned, 0);
      assert.equal(store.count(), 2);
    } finally {
      store.close();
    }
  }));
