import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { ChatEngine } from '../../src/infer/engine.js';
import { storeMetaFor, type IndexOptions } from '../../src/rag/indexer.js';
import { Retriever } from '../../src/rag/retrieve.js';
import { ftsQuery, RagStore } from '../../src/rag/store.js';
import { NO_ANSWER } from '../../src/rag/context.js';
import { answerWithRetrieval, extractiveConstraint } from '../../src/rag/generate.js';
import { applyRelevanceCutoff, bestCutoff, rocAuc } from '../../src/rag/relevance.js';
import { HashEmbedder, indexLines } from './helpers.js';

test('rocAuc: the Mann–Whitney probability, ties half; bestCutoff: the balanced-accuracy midpoint', () => {
  assert.equal(rocAuc([3, 4], [1, 2]), 1);
  assert.equal(rocAuc([1, 2], [3, 4]), 0);
  assert.equal(rocAuc([1, 3], [2, 2]), 0.5);
  assert.equal(rocAuc([2], [2]), 0.5, 'a tie counts half');
  assert.equal(rocAuc([2, 5], [1, 3, 4]), 4 / 6, 'pairs won: 2 > 1, and 5 > 1, 3, 4');
  assert.ok(Number.isNaN(rocAuc([], [1])));
  const c = bestCutoff([5, 6, 7], [1, 2, 6.5]);
  // keep x ≥ 5.5? 2 of 3 kept, 2 of 3 dropped; ≥ 3.5: all kept, 2 of 3 dropped: 5/6 is the best
  assert.equal(c.cutoff, 3.5);
  assert.deepEqual([c.kept, c.dropped], [1, 2 / 3]);
  assert.equal(c.accuracy, (1 + 2 / 3) / 2);
  assert.equal(bestCutoff([2, 3], [0, 1]).accuracy, 1);
});

test('applyRelevanceCutoff: a chunk is kept when it passes every cutoff given; a chunk without the signal fails it; no cutoff keeps all', () => {
  const chunks = [{ scores: { bm25: 9, bm25Relative: 0.8 } }, { scores: { bm25: 4, bm25Relative: 0.5 } }, { scores: { vector: 0.9 } }];
  assert.equal(applyRelevanceCutoff(chunks, undefined).length, 3);
  assert.deepEqual(applyRelevanceCutoff(chunks, { bm25Relative: 0.6 }), [chunks[0]]);
  assert.deepEqual(applyRelevanceCutoff(chunks, { bm25: 3 }), [chunks[0], chunks[1]]);
  assert.deepEqual(applyRelevanceCutoff(chunks, { cosine: 0.5 }), [chunks[2]]);
  assert.deepEqual(applyRelevanceCutoff(chunks, { bm25: 3, bm25Relative: 0.6 }), [chunks[0]]);
  assert.throws(() => applyRelevanceCutoff(chunks, { bm25Relative: Number.NaN }), /relevance cutoff bm25Relative: expects a finite number/);
});

const animals = ['Cats purr and chase mice around the house.', 'Dogs bark loudly and fetch sticks in the park.', 'Owls hunt mice at night in the forest. Mice mice mice.'];
const plants = ['Oak trees drop acorns in autumn.', 'Cacti store water in the desert.'];
const tok = trainTokenizer([[...animals, ...plants, 'Passages: Question: who chases mice? [1] [2] [3] (animals.txt:1)'].join('\n').repeat(20)], { vocabSize: 400 });

function withStore(fn: (store: RagStore) => void): void {
  const root = mkdtempSync(join(tmpdir(), 'gf-rag-rel-'));
  try {
    const opts: IndexOptions = { chunkSize: 40, chunkOverlap: 0 };
    const store = RagStore.open(join(root, 'kb.db'), { meta: storeMetaFor(opts) });
    indexLines(store, '/kb/animals.txt', animals, opts, 'zoo');
    indexLines(store, '/kb/plants.txt', plants, opts, 'garden');
    try {
      fn(store);
    } finally {
      store.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('retrieve: each hit carries its list scores; the relative BM25 score is in (0, 1), higher for the chunk naming the term more often; hybrid keeps both', () => {
  withStore((store) => {
    const hits = new Retriever(store).retrieve('mice', { k: 5 });
    assert.equal(hits.length, 2);
    for (const h of hits) {
      assert.equal(h.scores.bm25, h.score, 'in bm25 mode the score is the BM25 score');
      assert.ok(h.scores.bm25Relative! > 0 && h.scores.bm25Relative! < 1, `relative ${h.scores.bm25Relative}`);
      // the ceiling: idf(mice)·(k1 + 1), with N = 5 chunks and 2 holding "mice"
      assert.ok(Math.abs(h.scores.bm25! / h.scores.bm25Relative! - Math.log((5 - 2 + 0.5) / (2 + 0.5)) * 2.2) < 1e-9);
    }
    assert.match(hits[0].text, /Mice mice mice/, 'the chunk naming mice four times first');
    assert.ok(hits[0].scores.bm25Relative! > hits[1].scores.bm25Relative!);
    assert.equal(store.bm25Ceiling('?'), 0, 'no word, no ceiling');
  });
});

test('answerWithRetrieval minScore: chunks below the cutoff are not shown; when none passes, NO_ANSWER without the model (abstained: below-cutoff), even with emptyContext generate', () => {
  withStore((store) => {
    const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 256, nLayer: 1, nHead: 2, nEmbd: 16, position: 'rope' }), { seed: 3 });
    const engine = new ChatEngine(model, tok);
    let calls = 0;
    const reply = engine.reply.bind(engine);
    engine.reply = (...args: Parameters<ChatEngine['reply']>) => {
      calls++;
      return reply(...args);
    };
    const retriever = new Retriever(store);
    const rel = retriever.retrieve('mice', { k: 3 }).map((h) => h.scores.bm25Relative!);
    const between = (rel[0] + rel[1]) / 2;
    const kept = answerWithRetrieval(engine, retriever, 'mice', { k: 3, temperature: 0, maxTokens: 4, minScore: { bm25Relative: between } });
    assert.deepEqual([kept.retrieved, kept.passages.length, kept.belowCutoff, kept.generated, kept.abstained, calls], [2, 1, 1, true, undefined, 1]);
    assert.match(kept.prompt, /Mice mice mice/);
    assert.doesNotMatch(kept.prompt, /Cats purr/, 'the weaker chunk is not shown');
    for (const emptyContext of ['no-answer', 'generate'] as const) {
      const none = answerWithRetrieval(engine, retriever, 'mice', { k: 3, temperature: 0, maxTokens: 4, emptyContext, minScore: { bm25Relative: rel[0] + 0.01 } });
      assert.deepEqual([none.text, none.generated, none.abstained, none.belowCutoff, none.retrieved, none.passages.length, calls], [NO_ANSWER, false, 'below-cutoff', 2, 2, 0, 1]);
    }
    // nothing retrieved at all: the old reason
    const empty = answerWithRetrieval(engine, retriever, 'zebra', { k: 3, temperature: 0, maxTokens: 4, minScore: { bm25Relative: 0.1 } });
    assert.deepEqual([empty.abstained, empty.belowCutoff], ['no-passage', 0]);
    // without a cutoff both chunks are shown
    assert.equal(answerWithRetrieval(engine, retriever, 'mice', { k: 3, temperature: 0, maxTokens: 4 }).belowCutoff, 0);
  });
});

test('hybrid retrieval: a cosine cutoff reads the vector list score, not the fused RRF sum', () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-rag-rel-h-'));
  try {
    const emb = new HashEmbedder(64);
    const opts: IndexOptions = { chunkSize: 40, chunkOverlap: 0, embedder: emb };
    const store = RagStore.open(join(root, 'kb.db'), { meta: storeMetaFor(opts) });
    indexLines(store, '/kb/animals.txt', animals, opts, 'zoo');
    const hits = new Retriever(store, emb).retrieve('owls hunt mice', { k: 3 });
    for (const h of hits) if (h.ranks.vector !== undefined) assert.ok(h.scores.vector! <= 1 && h.scores.vector! >= -1 && h.scores.vector !== h.score);
    const best = Math.max(...hits.map((h) => h.scores.vector ?? -1));
    assert.equal(applyRelevanceCutoff(hits, { cosine: best }).length, 1);
    store.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("extractiveGrammar noAnswer false: NO_ANSWER is no longer a reply, a quote still is; refusal 'cutoff' needs minScore and extractive", () => {
  const passages = [{ text: 'Owls hunt mice at night.' }];
  const c = extractiveConstraint(tok, passages, { noAnswer: false });
  const accepts = (cons: ReturnType<typeof extractiveConstraint>, text: string): boolean => {
    const k = cons.clone() as typeof cons;
    return k.advanceBytes(new TextEncoder().encode(text)) && k.isComplete();
  };
  assert.equal(accepts(c, ' mice at night [1].'), true);
  assert.equal(accepts(c, NO_ANSWER), false, 'no refusal');
  assert.equal(accepts(extractiveConstraint(tok, passages), NO_ANSWER), true, 'the default keeps it');
  // a passage with no sentence to quote: NO_ANSWER stays (a grammar must have a reply)
  assert.equal(accepts(extractiveConstraint(tok, [{ text: '' }], { noAnswer: false }), NO_ANSWER), true);
  withStore((store) => {
    const engine = new ChatEngine(new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 256, nLayer: 1, nHead: 2, nEmbd: 16, position: 'rope' }), { seed: 3 }), tok);
    const retriever = new Retriever(store);
    assert.throws(() => answerWithRetrieval(engine, retriever, 'mice', { refusal: 'cutoff', extractive: true }), /refusal 'cutoff' needs minScore/);
    assert.throws(() => answerWithRetrieval(engine, retriever, 'mice', { refusal: 'cutoff', minScore: { bm25Relative: 0.1 } }), /refusal 'cutoff' needs minScore .* and extractive/);
    const a = answerWithRetrieval(engine, retriever, 'mice', { k: 3, temperature: 0, maxTokens: 64, extractive: true, refusal: 'cutoff', minScore: { bm25Relative: 0.01 } });
    assert.equal(a.generated, true);
    assert.notEqual(a.text, NO_ANSWER, 'an untrained model under the grammar still quotes');
    assert.match(a.text, /\[[12]\]/);
  });
});

test('ftsQuery: the tails "s" and "t" of "what\'s" and "don\'t" are stop words (they weighed as rare words and halved the relative BM25 score of "What\'s …?" questions)', () => {
  assert.equal(ftsQuery("What's the definition of heavy?", { dropFrameWords: true }), '"heavy"');
  assert.equal(ftsQuery("Don't cats purr?"), '"don" OR "cats" OR "purr"');
});
