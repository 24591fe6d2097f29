import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkSizeWarning, CLI_NAMES } from '../../src/rag/indexer.js';
import { defaultReplyTokens } from '../../src/rag/generate.js';

test("rag index's chunk-size warning says what its suggested size assumes (a typical question and the default reply), unlike chat --rag's per-question figure", () => {
  for (const ctx of [128, 256]) {
    const w = chunkSizeWarning(ctx, { blockSize: ctx, from: 'runs/tiny/sft' }, CLI_NAMES);
    assert.ok(w, `no warning at ${ctx}`);
    const m = /index with --chunk-size (\d+) or less \(it leaves (\d+) tokens for a typical question with its passage block and (\d+) for the default reply; chat --rag and the server suggest a size for each question/.exec(w);
    assert.ok(m, w);
    const [chunk, question, reply] = m.slice(1).map(Number);
    assert.equal(reply, defaultReplyTokens(ctx));
    assert.equal(chunk + question + reply, ctx);
    assert.equal(chunkSizeWarning(chunk, { blockSize: ctx, from: 'runs/tiny/sft' }), undefined);
  }
});

test("the warning speaks the caller's face: a library caller is told chunkSize and answerWithRetrieval, not the CLI's flags", () => {
  const w = chunkSizeWarning(128, { blockSize: 128, from: 'runs/tiny/sft' });
  assert.ok(w);
  assert.match(w, /^chunkSize 128 is too large .* so answerWithRetrieval would show no passage that size; index with chunkSize 48 or less/);
  assert.doesNotMatch(w, /--chunk-size|chat --rag/);
});
