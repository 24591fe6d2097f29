import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { saveCheckpoint } from '../../src/model/checkpoint.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { chunkSizeWarning, defaultChunkSize } from '../../src/rag/indexer.js';
import { RagStore } from '../../src/rag/store.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { rebuiltSummary } from '../../src/cli/rag.js';
import { runCli as run, withDocs } from './helpers.js';

// fixes46 #5: rag index's default chunk size was a fixed 192, too large for the tiny preset's 128-token context
test('defaultChunkSize: the largest chunk that fits beside a short question and the default reply, at most 192; never one chunkSizeWarning refuses', () => {
  assert.equal(defaultChunkSize(256), 192);
  assert.equal(defaultChunkSize(128), 88);
  assert.equal(defaultChunkSize(1024), 192);
  assert.equal(defaultChunkSize(undefined), 192);
  for (const ctx of [32, 64, 128, 200, 256, 512]) assert.equal(chunkSizeWarning(defaultChunkSize(ctx), { blockSize: ctx, from: 'x' }), undefined, `context ${ctx}`);
  assert.notEqual(chunkSizeWarning(defaultChunkSize(128) + 1, { blockSize: 128, from: 'x' }), undefined, 'one more token would not fit');
});

// fixes46 #4: --rebuild's summary did not say it rebuilt, nor what changed
test('rag index: with --tokenizer beside a 128-token checkpoint the chunk size is derived (88, said on stderr); --rebuild says "rebuilt" with the settings changed, old → new', () =>
  withDocs('gf-rag-defaults-', { 'a.md': 'Whales breathe air through a blowhole on the top of their head.\n' }, ({ root, docs, db }) => {
    const tok = trainTokenizer(['Whales breathe air through a blowhole on the top of their head. '.repeat(20)], { vocabSize: 300 });
    const ckpt = saveCheckpoint(join(root, 'ck'), new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 128, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 1 }), { stage: 'sft', step: 1, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
    const tokFile = join(ckpt, 'tokenizer.json');
    const settings = (): [number, number] => {
      const s = RagStore.open(db, { readonly: true });
      try {
        return [s.meta.chunkSize, s.meta.chunkOverlap];
      } finally {
        s.close();
      }
    };
    let r = run(['rag', 'index', '--input', docs, '--db', db, '--tokenizer', tokFile]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(settings(), [88, 22], 'fitted to 128 tokens; the overlap follows (min(32, 88 / 4))');
    assert.match(r.stderr, new RegExp(`chunks of ≤ 88 tokens, fitted to the 128-token context of ${ckpt.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(--chunk-size overrides\\)`));
    assert.doesNotMatch(r.stderr, /too large/, 'the derived size fits: no warning');
    assert.doesNotMatch(r.stdout, /rebuilt/);
    // a re-index keeps the store's size, and derives nothing
    r = run(['rag', 'index', '--input', docs, '--db', db]);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /fitted to/);
    r = run(['rag', 'index', '--input', docs, '--db', db, '--chunk-size', '48', '--rebuild']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: rebuilt \\(chunk size 88 → 48, chunk overlap 22 → 12\\); 1 file\\(s\\): 1 indexed`));
    assert.deepEqual(settings(), [48, 12]);
    r = run(['rag', 'index', '--input', docs, '--db', db, '--rebuild']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /: rebuilt \(same settings\); 1 file\(s\)/);
  }));

test('rebuiltSummary names each changed setting old → new, the tokenizer too', () => {
  assert.equal(rebuiltSummary(undefined), '');
  assert.equal(rebuiltSummary({ changed: [{ setting: 'tokenizer', from: '≈4 characters a token', to: '/runs/tiny/tokenizer.json' }] }), 'rebuilt (tokenizer ≈4 characters a token → /runs/tiny/tokenizer.json); ');
});
