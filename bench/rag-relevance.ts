/**
 * node dist/bench/rag-relevance.js [--run <ckpt>] [--per-family 100] [-k 3] [--json]
 *
 * Calibrates the retrieval layer's relevance cutoff (src/rag/relevance.ts, docs/rag.md
 * "Relevance cutoff"): on the knowledge families' TRAIN-split questions (a validation split:
 * disjoint from the effect's held-out test prompts, bench/rag-effect.ts), each question is
 * retrieved twice over the built-in dictionary's store — as is (the asked word's entry present)
 * and with every chunk that holds the answer removed (the effect's strict condition) — and each
 * signal's best shown score is recorded: BM25 (−bm25()), and with `--run` the SFT model's rerank
 * score (log p(question | passage), nats: per question token, and as pointwise mutual information
 * against an empty passage). Printed per signal: ROC AUC (present above removed), and the cutoff
 * that best separates the two with its accuracy.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchParseArgs } from './args.js';
import { benchF32Model } from './rag-model.js';
import { dictionaryEntries, PASSAGE_FAMILIES, passageHoldsAnswer } from '../src/data/synthetic/passages.js';
import { promptItem, taskByName, wordFacts } from '../src/data/synthetic/tasks.js';
import { ExcludingRetriever, openDictionaryStore } from '../src/rag/effect.js';
import { chunkPassage, passageTitles } from '../src/rag/generate.js';
import { bestCutoff, rocAuc } from '../src/rag/relevance.js';
import { ModelReranker } from '../src/rag/rerank.js';
import { Retriever, type RetrievedChunk } from '../src/rag/retrieve.js';

const { values: args } = benchParseArgs(import.meta.url, {
  options: {
    run: { type: 'string' },
    stage: { type: 'string' },
    'per-family': { type: 'string', default: '100' },
    k: { type: 'string', short: 'k', default: '3' },
    json: { type: 'boolean', default: false },
  },
});

function main(): void {
  const per = Number(args['per-family']);
  const k = Number(args.k);
  const tmp = mkdtempSync(join(tmpdir(), 'gf-rag-relevance-'));
  try {
    const store = openDictionaryStore(join(tmp, 'dictionary.db'));
    const retriever = new Retriever(store, undefined, { dropFrameWords: true });
    const titleOf = passageTitles(store);
    const m = args.run ? benchF32Model(args.run, args.stage, 'the rerank signal') : undefined;
    const reranker = m ? new ModelReranker(m.model, m.tok) : undefined;
    const entryLines = new Map(dictionaryEntries().map((e) => [e.line, e.word]));
    const signals: Record<string, { present: number[]; absent: number[] }> = {};
    const add = (name: string, present: boolean, x: number): void => {
      signals[name] ??= { present: [], absent: [] };
      signals[name][present ? 'present' : 'absent'].push(x);
    };
    const record = (question: string, hits: RetrievedChunk[], present: boolean): void => {
      add('bm25', present, hits.length > 0 ? Math.max(...hits.map((h) => h.scores.bm25 ?? 0)) : 0);
      add('bm25Relative', present, hits.length > 0 ? Math.max(...hits.map((h) => h.scores.bm25Relative ?? 0)) : 0);
      if (!reranker || !m) return;
      const qTokens = m.tok.encode(` ${question}`, { disallowedSpecial: 'plain' }).length;
      const s =
        hits.length > 0
          ? reranker.scores(
              question,
              hits.map((h) => chunkPassage(h, undefined, titleOf)),
            )
          : [];
      const empty = reranker.scores(question, [{ text: '', source: 'none' }])[0];
      const best = s.length > 0 ? Math.max(...s) : -Infinity;
      add('rerank (nats/token)', present, s.length > 0 ? best / qTokens : -1e9);
      add('rerank PMI (nats)', present, s.length > 0 ? best - empty : -1e9);
    };
    let n = 0;
    for (const family of PASSAGE_FAMILIES) {
      const task = taskByName(family);
      const seen = new Set<string>();
      for (const ex of task.generate('train', 4 * per, 77)) {
        if (seen.size >= per || seen.has(ex.prompt)) continue;
        const word = promptItem(family, ex.prompt);
        if (word === undefined || wordFacts(word) === undefined) continue;
        seen.add(ex.prompt);
        const isEntry = (c: RetrievedChunk): boolean => c.line !== undefined && entryLines.get(c.line) === word;
        const hits = retriever.retrieve(ex.prompt, { k });
        // present: the asked word's entry among the shown passages (a retrieval miss is neither)
        if (hits.some(isEntry)) record(ex.prompt, hits, true);
        const holds = (c: RetrievedChunk): boolean => isEntry(c) || passageHoldsAnswer(ex.prompt, c.text);
        record(ex.prompt, new ExcludingRetriever(retriever, holds).retrieve(ex.prompt, { k }), false);
        n++;
      }
    }
    store.close();
    const rows = Object.entries(signals).map(([name, s]) => ({ name, present: s.present.length, absent: s.absent.length, auc: rocAuc(s.present, s.absent), ...bestCutoff(s.present, s.absent) }));
    if (args.json) return console.log(JSON.stringify({ model: m?.dir, perFamily: per, k, questions: n, rows }));
    console.log(`validation (train-split) questions: ${n}; k = ${k}${m ? `; model ${m.dir}` : ''}\n`);
    console.log('| signal (best shown passage) | present | removed | ROC AUC | best cutoff | accuracy at it | present kept | removed dropped |\n| --- | --: | --: | --: | --: | --: | --: | --: |');
    for (const r of rows) console.log(`| ${r.name} | ${r.present} | ${r.absent} | ${r.auc.toFixed(3)} | ${r.cutoff.toFixed(3)} | ${(100 * r.accuracy).toFixed(1)}% | ${(100 * r.kept).toFixed(1)}% | ${(100 * r.dropped).toFixed(1)}% |`);
    // the trade-off around the chosen cutoff: present questions whose passages survive, removed ones left with none
    const rel = signals.bm25Relative;
    console.log('\n| bm25Relative cutoff | present kept | removed dropped |\n| --: | --: | --: |');
    for (const c of [0.6, 0.65, 0.7, 0.72, 0.74, 0.76, 0.8]) console.log(`| ${c} | ${((100 * rel.present.filter((x) => x >= c).length) / rel.present.length).toFixed(1)}% | ${((100 * rel.absent.filter((x) => x < c).length) / rel.absent.length).toFixed(1)}% |`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main();
