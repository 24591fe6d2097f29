import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noGrad } from '../../src/engine/tensor.js';
import { makeConfig } from '../../src/model/config.js';
import { saveCheckpoint } from '../../src/model/checkpoint.js';
import { GPT } from '../../src/model/gpt.js';
import { MeanPoolEmbedder } from '../../src/rag/embed.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';

const TEXTS = ['The cat sat on the mat.', 'A dog barked at the moon all night long, and nobody slept.', 'Whales sing.', ''];
const tok = trainTokenizer(['the cat sat on the mat a dog barked at the moon all night long and nobody slept whales sing'.repeat(3)], { vocabSize: 300 });

for (const position of ['learned', 'rope'] as const) {
  test(`MeanPoolEmbedder (${position} positions): masked mean of GPT.hidden, L2-normalised; batching and padding change nothing`, () => {
    const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 24, position }), { seed: 3 });
    const emb = new MeanPoolEmbedder(model, tok, { batchSize: 3 });
    assert.equal(emb.dim, 24);
    assert.match(emb.id, /^gptforge-meanpool:[0-9a-f]{16}$/);
    const vecs = emb.embed(TEXTS);
    assert.equal(vecs.length, TEXTS.length);
    for (const v of vecs.slice(0, 3)) assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5);
    assert.ok(
      vecs[3].every((x) => x === 0),
      'an empty text embeds as zeros',
    );
    // reference: one text at a time, no padding, mean over its hidden states
    for (let i = 0; i < 3; i++) {
      const ids = tok.encodeOrdinary(TEXTS[i]);
      const h = noGrad(() => model.hidden(Int32Array.from(ids), 1, ids.length)).data;
      const ref = new Float64Array(24);
      for (let t = 0; t < ids.length; t++) for (let c = 0; c < 24; c++) ref[c] += h[t * 24 + c] / ids.length;
      const n = Math.hypot(...ref);
      for (let c = 0; c < 24; c++) assert.ok(Math.abs(vecs[i][c] - ref[c] / n) < 1e-4, `text ${i} dim ${c}: ${vecs[i][c]} vs ${ref[c] / n}`);
      // alone in its own batch = inside a padded batch
      const alone = emb.embed([TEXTS[i]])[0];
      for (let c = 0; c < 24; c++) assert.ok(Math.abs(alone[c] - vecs[i][c]) < 1e-5);
    }
    // a text over the context keeps its first blockSize tokens
    const long = 'the cat sat on the mat '.repeat(40);
    assert.ok(tok.encodeOrdinary(long).length > 32);
    assert.ok(Math.abs(Math.hypot(...emb.embed([long])[0]) - 1) < 1e-5);
    assert.equal(emb.countTokens(TEXTS[0]), tok.encodeOrdinary(TEXTS[0]).length);
  });
}

test('MeanPoolEmbedder.fromCheckpoint: same weights → same id and vectors; other weights → another id', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-rag-embed-'));
  try {
    const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 9 });
    saveCheckpoint(join(dir, 'base'), model, { stage: 'pretrain', step: 1, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
    const a = new MeanPoolEmbedder(model, tok);
    const b = MeanPoolEmbedder.fromCheckpoint(dir);
    assert.equal(b.id, a.id);
    assert.equal(b.tokenizerHash, tok.hash());
    assert.match(b.path ?? '', /base\/step-0000001$/);
    assert.deepEqual(b.embed(TEXTS), a.embed(TEXTS));
    const other = new MeanPoolEmbedder(new GPT(model.config, { seed: 10 }), tok);
    assert.notEqual(other.id, a.id);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
