/**
 * node dist/bench/rag-rerank.js --run <run dir> [--stage sft] [--store entries|chunks] [--per-family 50] [--candidates 20] [--json]
 *
 * Does reranking by the chat model help retrieval? (docs/journal/rag.md "Measured: rerank by the chat model".) The knowledge
 * families' held-out questions (definitions, kinds, synonyms, antonyms; src/rag/evaluate.ts)
 * over a store of the built-in dictionary — `entries`: one entry a chunk, as the effect
 * measurement stores it (src/rag/effect.ts); `chunks`: the dictionary pages at the default
 * 192/32 chunking, as bench/rag.js measures BM25 — then:
 *
 * - BM25: FTS5's top 10;
 * - rerank: BM25's top --candidates reordered by the model's query likelihood
 *   log p(question | passage) (src/rag/rerank.ts, UPR);
 * - fused: reciprocal rank fusion of the BM25 order and the rerank order of those candidates.
 *
 * recall@5, hit@5 and nDCG@10 against the chunks that name the word and state the fact, and
 * the rerank's time per question.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchParseArgs } from './args.js';
import { benchF32Model } from './rag-model.js';
import { openDictionaryStore } from '../src/rag/effect.js';
import { dictionaryDocs, dictionaryQuestions, hitAt, ndcgAt, recallAt, relevantIds } from '../src/rag/evaluate.js';
import { documentsAsFile, indexIngestFile, storeMetaFor } from '../src/rag/indexer.js';
import { ModelReranker } from '../src/rag/rerank.js';
import { reciprocalRankFusion, Retriever } from '../src/rag/retrieve.js';
import { RagStore } from '../src/rag/store.js';

const { values: args } = benchParseArgs(import.meta.url, {
  options: {
    run: { type: 'string' },
    stage: { type: 'string' },
    store: { type: 'string', default: 'entries' },
    'per-family': { type: 'string', default: '50' },
    candidates: { type: 'string', default: '20' },
    json: { type: 'boolean', default: false },
  },
});

function main(): void {
  const { model, tok, dir } = benchF32Model(args.run, args.stage, 'reranking');
  const tmp = mkdtempSync(join(tmpdir(), 'gf-rag-rerank-'));
  try {
    let store: RagStore;
    if (args.store === 'entries') store = openDictionaryStore(join(tmp, 'entries.db'));
    else {
      store = RagStore.open(join(tmp, 'chunks.db'), { meta: storeMetaFor({}) });
      indexIngestFile(store, documentsAsFile('builtin:wordnet-dictionary', dictionaryDocs()), { source: 'dictionary' });
    }
    const questions = dictionaryQuestions(Number(args['per-family']), 1);
    const rel = relevantIds(questions, store.allChunks());
    const retriever = new Retriever(store);
    const reranker = new ModelReranker(model, tok);
    const n = Number(args.candidates);
    const modes = ['bm25', 'rerank', 'fused'] as const;
    const sums = Object.fromEntries(modes.map((m) => [m, { recall5: 0, hit5: 0, ndcg10: 0 }])) as Record<(typeof modes)[number], { recall5: number; hit5: number; ndcg10: number }>;
    let asked = 0;
    let ms = 0;
    questions.forEach((q, i) => {
      if (rel[i].size === 0) return;
      asked++;
      const cands = retriever.retrieve(q.query, { mode: 'bm25', k: n });
      const t0 = performance.now();
      const reranked = reranker.rerank(q.query, cands);
      ms += performance.now() - t0;
      const lists = {
        bm25: cands.map((c) => c.id),
        rerank: reranked.map((c) => c.id),
        fused: reciprocalRankFusion([cands.map((c) => ({ id: c.id, score: c.score })), reranked.map((c) => ({ id: c.id, score: c.score }))]).map((h) => h.id),
      };
      for (const m of modes) {
        sums[m].recall5 += recallAt(lists[m], rel[i], 5);
        sums[m].hit5 += hitAt(lists[m], rel[i], 5);
        sums[m].ndcg10 += ndcgAt(lists[m], rel[i], 10);
      }
      if (!args.json && process.stderr.isTTY) process.stderr.write(`\r${asked}`);
    });
    store.close();
    const result = Object.fromEntries(modes.map((m) => [m, { recall5: sums[m].recall5 / asked, hit5: sums[m].hit5 / asked, ndcg10: sums[m].ndcg10 / asked }]));
    if (args.json) {
      console.log(JSON.stringify({ model: dir, store: args.store, questions: asked, candidates: n, msPerQuestion: ms / asked, result }));
      return;
    }
    console.log(`model: ${dir} (${model.numParams().toLocaleString('en-US')} parameters); store: ${args.store} (${rel.length} questions, ${asked} with a relevant chunk); rerank of BM25's top ${n}: ${(ms / asked).toFixed(0)} ms a question\n`);
    console.log('| order | recall@5 | hit@5 | nDCG@10 |\n| --- | ---: | ---: | ---: |');
    for (const m of modes) console.log(`| ${m} | ${result[m].recall5.toFixed(3)} | ${result[m].hit5.toFixed(3)} | ${result[m].ndcg10.toFixed(3)} |`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main();
