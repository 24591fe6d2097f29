import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Embedder } from '../../src/rag/embed.js';
import { Retriever } from '../../src/rag/retrieve.js';
import { RagStore } from '../../src/rag/store.js';

// rag19 #5: a store built with one model, asked with another: the error named hashes only
test('another embedding model or tokenizer than the store was built with: the error names both paths', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-rag-paths-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'kb.db');
  const meta = { embeddingModel: 'gptforge-meanpool:aaaa', embeddingDim: 4, tokenizerHash: 'tokA', chunkSize: 48, chunkOverlap: 8, embeddingPath: '/runs/a/step-1' };
  RagStore.open(db, { meta }).close();
  const store = RagStore.open(db, { readonly: true });
  t.after(() => store.close());
  const other = (id: string, tokenizerHash: string): Embedder => ({ id, dim: 4, tokenizerHash, path: '/runs/b/step-2', maxTokens: 64, countTokens: () => 1, embed: (xs) => xs.map(() => new Float32Array(4)) });
  assert.throws(() => new Retriever(store, other('gptforge-meanpool:bbbb', 'tokA')), /embedding model gptforge-meanpool:aaaa from \/runs\/a\/step-1, not gptforge-meanpool:bbbb from \/runs\/b\/step-2: query with --model \/runs\/a\/step-1/);
  assert.throws(() => new Retriever(store, other('gptforge-meanpool:aaaa', 'tokB')), /tokenizer tokA from \/runs\/a\/step-1, not tokB from \/runs\/b\/step-2/);
  // opening it to index with another model: the settings' difference, and both paths
  assert.throws(
    () => RagStore.open(db, { readonly: true, meta: { ...meta, embeddingModel: 'gptforge-meanpool:bbbb', embeddingPath: '/runs/b/step-2' } }),
    /embeddingModel is "gptforge-meanpool:aaaa" in the store, "gptforge-meanpool:bbbb" here; the store's model\/tokenizer is \/runs\/a\/step-1, this one's \/runs\/b\/step-2/,
  );
});
