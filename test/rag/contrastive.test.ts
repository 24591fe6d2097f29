import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noGrad } from '../../src/engine/tensor.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { dictionaryPairs, infoNCE, trainEmbedder } from '../../src/rag/contrastive.js';
import { MeanPoolEmbedder } from '../../src/rag/embed.js';
import { dictionaryDocs, KNOWLEDGE_FAMILIES } from '../../src/rag/evaluate.js';
import { promptItem } from '../../src/data/synthetic/tasks.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { GptforgeError } from '../../src/util/errors.js';

test('dictionaryPairs: train-split questions with their own entry; test-split words never among them', () => {
  const train = dictionaryPairs(200, 1);
  const test = dictionaryPairs(100, 1, 'test');
  assert.equal(train.length, 200);
  const word = (q: string): string | undefined => KNOWLEDGE_FAMILIES.map((f) => promptItem(f, q)).find((w) => w !== undefined);
  for (const p of train) {
    const w = word(p.query);
    assert.ok(w, p.query);
    assert.match(p.passage.toLowerCase(), new RegExp(`\\b${w}\\b`), `${p.query} → ${p.passage.slice(0, 80)}`);
  }
  const trainQueries = new Set(train.map((p) => p.query));
  assert.ok(test.every((p) => !trainQueries.has(p.query)));
  assert.deepEqual(dictionaryPairs(20, 5), dictionaryPairs(20, 5));
});

test('trainEmbedder: InfoNCE on held-out (test-split) pairs falls well below chance; the result embeds through MeanPoolEmbedder', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-rag-contrastive-'));
  try {
    const text = dictionaryDocs()
      .slice(0, 12)
      .map((d) => d.text)
      .join('\n');
    const tok = trainTokenizer([text], { vocabSize: 400 });
    const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 32, position: 'rope' }), { seed: 2 });
    const heldOut = dictionaryPairs(16, 9, 'test');
    const lossOf = (): number => noGrad(() => infoNCE(model, tok, heldOut, 0.05).item());
    const before = lossOf();
    // chance (every passage equally likely) is ln 16 ≈ 2.77; untrained is worse: near-parallel
    // vectors' small cosine differences, divided by τ = 0.05, make confident wrong guesses
    assert.ok(before > 2, `untrained held-out InfoNCE ${before}`);
    const cfg = { maxSteps: 120, lr: 3e-3, minLr: 3e-4, warmupSteps: 10, weightDecay: 0, beta1: 0.9, beta2: 0.95, gradClip: 1, gradAccum: 1, evalEvery: 0, checkpointEvery: 60, keepLast: 1 };
    await trainEmbedder(model, tok, cfg, { pairs: dictionaryPairs(2000, 3), batchSize: 16, runDir: dir, stageDir: join(dir, 'embed'), quiet: true, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
    const after = lossOf();
    t.diagnostic(`held-out InfoNCE ${before.toFixed(3)} → ${after.toFixed(3)}`);
    assert.ok(after < before - 1 && after < Math.log(16) - 0.2, `held-out InfoNCE should fall below chance (ln 16): ${before.toFixed(3)} → ${after.toFixed(3)}`);
    const emb = MeanPoolEmbedder.fromCheckpoint(join(dir, 'embed'));
    assert.equal(emb.id, new MeanPoolEmbedder(model, tok).id);
    await assert.rejects(trainEmbedder(model, tok, cfg, { pairs: dictionaryPairs(4, 3), batchSize: 8, runDir: dir, stageDir: join(dir, 'x') }), GptforgeError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('trainEmbedder counts tokens (both sides of each pair), not pairs: tokens seen and tok/s are token figures', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-rag-contrastive-tokens-'));
  try {
    const tok = trainTokenizer([dictionaryDocs()[0].text], { vocabSize: 300 });
    const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 16, position: 'rope' }), { seed: 1 });
    const pairs = dictionaryPairs(40, 4);
    const len = (p: { query: string; passage: string }): number => Math.min(tok.encodeOrdinary(p.query).length, 64) + Math.min(tok.encodeOrdinary(p.passage).length, 64);
    const lo = Math.min(...pairs.map(len));
    const hi = Math.max(...pairs.map(len));
    const steps = 2;
    const B = 4;
    const cfg = { maxSteps: steps, lr: 1e-3, minLr: 1e-4, warmupSteps: 0, weightDecay: 0, beta1: 0.9, beta2: 0.95, gradClip: 1, gradAccum: 1, evalEvery: 0, checkpointEvery: 0, keepLast: 1 };
    const r = await trainEmbedder(model, tok, cfg, { pairs, batchSize: B, runDir: dir, stageDir: join(dir, 'embed'), quiet: true });
    // every pair is several tokens a side, so the pair count (steps × B) is far below the range
    assert.ok(lo > 2, `shortest pair ${lo} tokens`);
    assert.ok(r.tokensSeen >= steps * B * lo && r.tokensSeen <= steps * B * hi, `${r.tokensSeen} tokens for ${steps * B} pairs of ${lo}–${hi} tokens`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
