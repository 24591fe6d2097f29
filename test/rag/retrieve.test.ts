import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeMetaFor, type IndexOptions } from '../../src/rag/indexer.js';
import { reciprocalRankFusion, Retriever } from '../../src/rag/retrieve.js';
import { RagStore } from '../../src/rag/store.js';
import { HashEmbedder, indexLines } from './helpers.js';
import { openDictionaryStore } from '../../src/rag/effect.js';
import { dictionaryEntries } from '../../src/data/synthetic/passages.js';

test("reciprocalRankFusion: Σ 1/(k + rank), agreement beats one list's top, ties broken by best rank then id", () => {
  const fused = reciprocalRankFusion([
    [
      { id: 1, score: 9 },
      { id: 2, score: 8 },
      { id: 3, score: 7 },
    ],
    [
      { id: 3, score: 0.9 },
      { id: 2, score: 0.8 },
      { id: 4, score: 0.7 },
    ],
  ]);
  // 1/61 + 1/63 > 2/62 (1/x is convex): a first and a third place beat two seconds
  assert.deepEqual(
    fused.map((h) => h.id),
    [3, 2, 1, 4],
  );
  assert.ok(Math.abs(fused[0].score - (1 / 63 + 1 / 61)) < 1e-12);
  assert.ok(Math.abs(fused[1].score - (1 / 62 + 1 / 62)) < 1e-12);
  assert.ok(Math.abs(fused[2].score - 1 / 61) < 1e-12);
  assert.deepEqual(
    reciprocalRankFusion([[{ id: 5, score: 1 }], [{ id: 4, score: 1 }]]).map((h) => h.id),
    [4, 5],
  );
  assert.deepEqual(reciprocalRankFusion([]), []);
});

test('Retriever: bm25, vector and hybrid modes with sources and filters; a foreign embedder is refused', () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-rag-ret-'));
  try {
    const emb = new HashEmbedder(256);
    const opts: IndexOptions = { chunkSize: 40, chunkOverlap: 0, embedder: emb };
    const store = RagStore.open(join(root, 'r.db'), { meta: storeMetaFor(opts) });
    const animals = ['Cats purr and chase mice around the house.', 'Dogs bark loudly and fetch sticks in the park.', 'Owls hunt mice at night in the forest.'];
    const plants = ['Oak trees drop acorns in autumn.', 'Cacti store water in the desert.'];
    indexLines(store, '/kb/animals.txt', animals, opts, 'zoo');
    indexLines(store, '/kb/plants/plants.txt', plants, opts, 'garden');
    const r = new Retriever(store, emb);

    const b = r.retrieve('who chases mice?', { mode: 'bm25', k: 3 });
    assert.equal(b[0].text, animals[0]);
    assert.deepEqual([b[0].path, b[0].line, b[0].source], ['/kb/animals.txt', 1, 'zoo']);
    assert.equal(b[0].ranks.bm25, 1);
    assert.ok(b.every((c, i) => i === 0 || c.score <= b[i - 1].score));

    const v = r.retrieve('water desert', { mode: 'vector', k: 2 });
    assert.equal(v[0].text, plants[1]);
    assert.ok(v[0].score > 0.3 && v[0].score <= 1 + 1e-6);

    const h = r.retrieve('mice', { k: 5 });
    assert.deepEqual(new Set(h.slice(0, 2).map((c) => c.text)), new Set([animals[0], animals[2]]));
    assert.ok(h[0].ranks.bm25 !== undefined && h[0].ranks.vector !== undefined);
    assert.ok(Math.abs(h[0].score - (1 / (60 + h[0].ranks.bm25!) + 1 / (60 + h[0].ranks.vector!))) < 1e-12);

    for (const mode of ['bm25', 'vector', 'hybrid'] as const) {
      const only = r.retrieve('mice trees water', { mode, k: 10, filter: { source: 'garden' } });
      assert.ok(only.length > 0 && only.every((c) => c.source === 'garden'), mode);
      const glob = r.retrieve('mice trees water', { mode, k: 10, filter: { pathGlob: '/kb/plants/*' } });
      assert.ok(glob.length > 0 && glob.every((c) => c.path === '/kb/plants/plants.txt'), mode);
    }
    assert.throws(() => new Retriever(store, new HashEmbedder(256, Infinity, '-other')), /built with embedding model hash-bow-256 from .*, not hash-bow-256-other from /);
    assert.throws(() => new Retriever(store).retrieve('x', { mode: 'vector' }), /needs the embedding model/);
    assert.equal(new Retriever(store).retrieve('acorns')[0].text, plants[0]);
    store.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("retrieval with dropFrameWords: the asked word's own dictionary entries outrank entries that only mention it, and the question's frame words (themselves headwords) do not win; off (the default), they do", () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-rag-head-'));
  try {
    const store = openDictionaryStore(join(root, 'd.db'));
    const retriever = new Retriever(store, undefined, { dropFrameWords: true });
    const plain = new Retriever(store);
    const wordOf = new Map(dictionaryEntries().map((e) => [e.line, e.word]));
    const cases: [string, string, string][] = [
      // [question, asked word, a frame word with its own entries that used to rank first]
      ['Tell me what kind of thing a base is.', 'base', 'tell'],
      ['What general class of things does a flow belong to?', 'flow', 'general'],
      ['Tell me another way to say engage.', 'engage', 'tell'],
      ['What general class of things does an expression belong to?', 'expression', 'general'],
      ["I don't know the word structure. What does it mean?", 'structure', 'know'],
    ];
    let frameWins = 0;
    for (const [question, word, frame] of cases) {
      const all = store.allChunks();
      const mentions = all.filter((c) => wordOf.get(c.line!) !== word && new RegExp(`\\b${word}\\b`, 'i').test(c.text));
      assert.ok(mentions.length > 0, `entries other than ${word}'s name it (the hard negatives this guards against)`);
      const top = retriever.retrieve(question, { k: 3, mode: 'bm25' });
      assert.equal(top.length, 3);
      // rank 1 is the word's own entry (the rest may be a stem-mate's: porter folds engage/engagement)
      assert.equal(wordOf.get(top[0].line!), word, `${question} → ${top[0].text.slice(0, 60)} (an entry of ${wordOf.get(top[0].line!)}, not ${word})`);
      assert.ok(top.filter((c) => wordOf.get(c.line!) === word).length >= 2, `${question}: most of the top 3 are ${word}'s entries`);
      for (const c of top) assert.notEqual(wordOf.get(c.line!), frame, `${question}: the frame word's entry ${c.text.slice(0, 60)}`);
      if (frame !== 'definition')
        assert.ok(
          all.some((c) => wordOf.get(c.line!) === frame),
          `${frame} is a headword too`,
        );
      // the option can be turned off, per retriever (the default) or per call, and then the frame is searched for
      const kept = plain.retrieve(question, { k: 3, mode: 'bm25' }).map((c) => c.id);
      assert.deepEqual(
        retriever.retrieve(question, { k: 3, mode: 'bm25', dropFrameWords: false }).map((c) => c.id),
        kept,
      );
      if (kept.some((id) => wordOf.get(all.find((c) => c.id === id)!.line!) === frame)) frameWins++;
    }
    // these questions were chosen because their frame word's entries outranked the asked word's: with the frame kept, they still do
    assert.ok(frameWins >= 4, `the frame word's entry is in the top 3 for ${frameWins} of ${cases.length} questions when the frame is kept`);
    store.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
