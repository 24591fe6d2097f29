import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyRelevanceCutoff } from '../../src/rag/relevance.js';
import { ragRequest } from '../../src/server/rag.js';
import { ApiError } from '../../src/server/errors.js';
import { runCli } from './helpers.js';

// newcomer33 #4: a cutoff outside the relative score's 0…1 refused every answer without a word
test('a min_score outside 0…1 is refused by the library, the server (400) and the CLI (exit 1), naming the range', () => {
  const chunks = [{ scores: { bm25Relative: 0.8 } }, { scores: { bm25Relative: 0.2 } }];
  assert.equal(applyRelevanceCutoff(chunks, { bm25Relative: 0.5 }).length, 1);
  assert.equal(applyRelevanceCutoff(chunks, { bm25Relative: 0 }).length, 2);
  assert.equal(applyRelevanceCutoff(chunks, { bm25Relative: 1 }).length, 0);
  assert.throws(() => applyRelevanceCutoff(chunks, { bm25Relative: 1.5 }), /bm25Relative: expects a number from 0 to 1, got 1\.5/);
  assert.throws(() => applyRelevanceCutoff(chunks, { cosine: -2 }), /cosine: expects a number from -1 to 1/);
  // raw BM25 is unbounded: any finite cutoff
  assert.equal(applyRelevanceCutoff([{ scores: { bm25: 12 } }], { bm25: 10 }).length, 1);

  assert.deepEqual(ragRequest({ rag: { min_score: 0.3 } }), { k: 3, emptyContext: 'no-answer', minScore: 0.3, extractive: false, refusal: 'model' });
  for (const bad of [5, 1.5, -0.1, '0.5']) {
    assert.throws(
      () => ragRequest({ rag: { min_score: bad } }),
      (e: unknown) => e instanceof ApiError && e.status === 400 && /'rag\.min_score' must be a number from 0 to 1/.test(e.message),
    );
  }

  // refused before any model loads (the run does not exist)
  const r = runCli(['chat', '--run', '/nonexistent/run', '--rag', '/nonexistent/kb.db', '--rag-min-score', '1.5', '--prompt', 'hi']);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /--rag-min-score: expects a relative BM25 score from 0 to 1, got 1\.5/);
});
