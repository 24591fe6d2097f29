import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/engine/rng.js';
import * as op from '../../src/engine/ops.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { MeanPoolEmbedder } from '../../src/rag/embed.js';
import { dictionaryDocs, dictionaryQuestions, evaluateMode, factQueries, hitAt, type ModeResult, isRelevant, ndcgAt, recallAt, relevantIds } from '../../src/rag/evaluate.js';
import { documentsAsFile, indexIngestFile, storeMetaFor, type IndexOptions } from '../../src/rag/indexer.js';
import { Retriever } from '../../src/rag/retrieve.js';
import { RagStore } from '../../src/rag/store.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { train, type TrainConfig } from '../../src/train/loop.js';

test('metrics: recall@k, hit@k and nDCG@k by their definitions', () => {
  const rel = new Set([2, 7, 9]);
  const ranked = [5, 2, 8, 9, 1, 3, 4, 6, 0, 7];
  assert.equal(recallAt(ranked, rel, 5), 2 / 3);
  assert.equal(hitAt(ranked, rel, 1), 0);
  assert.equal(hitAt(ranked, rel, 2), 1);
  const dcg = 1 / Math.log2(3) + 1 / Math.log2(5) + 1 / Math.log2(11);
  const idcg = 1 + 1 / Math.log2(3) + 1 / Math.log2(4);
  assert.ok(Math.abs(ndcgAt(ranked, rel, 10) - dcg / idcg) < 1e-12);
  assert.equal(ndcgAt([2, 7, 9], rel, 10), 1);
  assert.equal(ndcgAt([1, 3], new Set(), 10), 0);
  const q = { family: 'kinds', word: 'cat', query: 'What kind of thing is a cat?', fact: 'feline' };
  assert.ok(isRelevant(q, 'dog: canine.\nA cat is one sort of feline.'));
  assert.ok(!isRelevant(q, 'A cat sat.\nfeline things'), 'word and fact must share a line');
  assert.ok(!isRelevant(q, 'A catapult is one sort of feline.'), 'whole words only');
});

/**
 * The measurement end to end on the first edition of the dictionary (a quarter of it): BM25,
 * mean-pooled embeddings of a tiny GPT trained here for 150 steps on the same text and of the
 * same GPT untrained, and hybrid; on the held-out questions and on fact lookups ("word: fact").
 * Asserted with margins where the outcome is a property, not a trajectory: BM25 answers most
 * questions and nearly every lookup; the untrained model's mean pooling (a bag of random token
 * embeddings, deterministic in the seed) finds lookups far above chance; hybrid keeps most
 * of BM25 on lookups. The mean-pooled figures on questions are reported, not asserted (they
 * are near zero: see docs/journal/rag.md "Measured: retrieval").
 */
test('retrieval on held-out dictionary questions: BM25, mean-pooled embeddings (tiny GPT trained here, and untrained), hybrid', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-rag-eval-'));
  try {
    const all = dictionaryDocs();
    const docs = all.slice(0, all.length / 4); // edition 0: every word once
    const text = docs.map((d) => d.text).join('\n');
    const tok = trainTokenizer([text.slice(0, 300_000)], { vocabSize: 512 });
    const ids = Int32Array.from(tok.encodeOrdinary(text));
    const cfg = makeConfig({ vocabSize: tok.vocabSize, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 48, position: 'rope' });
    const untrained = new GPT(cfg, { seed: 1 });
    const model = new GPT(cfg, { seed: 1 });
    const rng = new Rng(5);
    const B = 8;
    const T = 64;
    const trainCfg: TrainConfig = { maxSteps: 150, lr: 3e-3, minLr: 3e-4, warmupSteps: 10, weightDecay: 0.0, beta1: 0.9, beta2: 0.95, gradClip: 1, gradAccum: 1, evalEvery: 0, checkpointEvery: 0, keepLast: 1 };
    await train(
      {
        stage: 'pretrain',
        model,
        nextMicroBatch() {
          const x = new Int32Array(B * T);
          const y = new Int32Array(B * T);
          for (let b = 0; b < B; b++) {
            const s = rng.int(ids.length - T - 1);
            x.set(ids.subarray(s, s + T), b * T);
            y.set(ids.subarray(s + 1, s + T + 1), b * T);
          }
          return { x, y };
        },
        weight: () => B * T,
        forwardMicroBatch: ({ x, y }, total) => ({ loss: op.scale(model.loss(x, y, B, T), (B * T) / total), tokens: B * T }),
        state: () => rng.state(),
        restore: (s) => rng.restore(s as ReturnType<Rng['state']>),
      },
      trainCfg,
      { runDir: dir, stageDir: join(dir, 'base'), quiet: true },
    );

    const questions = dictionaryQuestions(25, 3);
    const lookups = factQueries(questions);
    assert.ok(questions.length >= 80, `${questions.length} questions`);
    const res: Record<string, ModeResult> = {};
    for (const [name, m] of [
      ['trained', model],
      ['untrained', untrained],
    ] as const) {
      const embedder = new MeanPoolEmbedder(m, tok);
      const opts: IndexOptions = { embedder, chunkSize: 64, chunkOverlap: 8 };
      const store = RagStore.open(join(dir, `${name}.db`), { meta: storeMetaFor(opts) });
      indexIngestFile(store, documentsAsFile('builtin:wordnet-dictionary', docs), opts);
      const rel = relevantIds(questions, store.allChunks());
      assert.ok(rel.filter((s) => s.size > 0).length >= 0.9 * questions.length, 'most questions have their passage in the store');
      const retriever = new Retriever(store, embedder);
      for (const mode of name === 'trained' ? (['bm25', 'vector', 'hybrid'] as const) : (['vector', 'hybrid'] as const)) {
        for (const [set, qs] of [
          ['questions', questions],
          ['lookups', lookups],
        ] as const) {
          const r = evaluateMode(retriever, qs, rel, mode);
          const key = `${set} ${mode}${mode === 'bm25' ? '' : ` (${name})`}`;
          res[key] = r;
          for (const v of [r.recall5, r.hit5, r.ndcg10]) assert.ok(v >= 0 && v <= 1);
          t.diagnostic(`${key}: recall@5 ${r.recall5.toFixed(3)} hit@5 ${r.hit5.toFixed(3)} nDCG@10 ${r.ndcg10.toFixed(3)} p50 ${r.p50ms.toFixed(1)} ms`);
        }
      }
      store.close();
    }
    assert.ok(res['questions bm25'].hit5 >= 0.7, `BM25 hit@5 on questions ${res['questions bm25'].hit5}`);
    assert.ok(res['lookups bm25'].hit5 >= 0.9, `BM25 hit@5 on lookups ${res['lookups bm25'].hit5}`);
    // chance: ~1.5 relevant chunks among ~1,900 → hit@5 ≈ 0.004
    assert.ok(res['lookups vector (untrained)'].hit5 >= 0.12, `untrained mean pooling hit@5 on lookups ${res['lookups vector (untrained)'].hit5}`);
    assert.ok(res['lookups hybrid (untrained)'].hit5 >= 0.75, `hybrid hit@5 on lookups ${res['lookups hybrid (untrained)'].hit5}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
