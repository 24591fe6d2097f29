/**
 * node bench/rag-lancedb.mjs — the RAG store's SQLite (better-sqlite3 + FTS5, src/rag/store.ts)
 * against LanceDB (@lancedb/lancedb 0.31.0) on the same chunks and vectors: the built-in
 * encyclopedia (wordnet-glosses) cut at 32 tokens (~127k chunks), each embedded as a
 * feature-hashed bag of its words (dim 96, clustered like text; bench/rag.ts's vectors).
 * Measured: writing the chunks, exact top-10 vector search, full-text (BM25) search, and an
 * approximate index (our IVF-Flat vs LanceDB's IVF_PQ) with its recall@10 against exact.
 *
 * LanceDB is not a dependency of gptforge (docs/rag.md says why); install it beside:
 *   mkdir /tmp/lance && cd /tmp/lance && npm init -y && npm install --save-exact @lancedb/lancedb@0.31.0 apache-arrow@18.1.0
 *   LANCEDB_DIR=/tmp/lance node bench/rag-lancedb.mjs     (after npx tsc -p .; LANCEDB_PAGES=500 for a smaller run)
 */
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILTIN_SOURCES } from '../dist/src/data/sources.js';
import { chunkFile, documentsAsFile, indexIngestFile, storeMetaFor } from '../dist/src/rag/indexer.js';
import { RagStore } from '../dist/src/rag/store.js';
import { dictionaryQuestions } from '../dist/src/rag/evaluate.js';
import { checkBenchArgs } from '../dist/bench/args.js';

// no flags (its settings are LANCEDB_DIR and LANCEDB_PAGES): --help prints the comment above, anything else is refused
checkBenchArgs(import.meta.url, {});

const dir = process.env.LANCEDB_DIR;
if (!dir) throw new Error('set LANCEDB_DIR to a directory where @lancedb/lancedb@0.31.0 is installed');
const require = createRequire(join(dir, 'package.json'));
const lancedb = require('@lancedb/lancedb');

const DIM = 96;
/** Feature-hashed bag of words, L2-normalised (as bench/rag.ts's HashedEmbedder). */
class Hashed {
  id = `hashed-bow-${DIM}`;
  tokenizerHash = 'approx';
  maxTokens = 1 << 20;
  dim = DIM;
  countTokens(t) {
    return Math.ceil(t.length / 4);
  }
  embed(texts) {
    return texts.map((t) => {
      const v = new Float32Array(DIM);
      for (const w of t.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
        let h = 0x811c9dc5;
        for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w.charCodeAt(i), 0x01000193) >>> 0;
        v[h % DIM] += h & 0x80000000 ? -1 : 1;
      }
      let n = 0;
      for (const x of v) n += x * x;
      n = Math.sqrt(n) || 1;
      return v.map((x) => x / n);
    });
  }
}
const pct = (s, p) => s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
const timeAll = async (qs, f) => {
  const ts = [];
  for (const q of qs) {
    const t = performance.now();
    await f(q);
    ts.push(performance.now() - t);
  }
  ts.sort((a, b) => a - b);
  return { p50: pct(ts, 50), p99: pct(ts, 99) };
};
const duSize = (p) => (statSync(p).isDirectory() ? readdirSync(p).reduce((n, f) => n + duSize(join(p, f)), 0) : statSync(p).size);
const fmt = (x) => `p50 ${x.p50.toFixed(1)} ms, p99 ${x.p99.toFixed(1)} ms`;

const tmp = mkdtempSync(join(tmpdir(), 'gf-lance-'));
try {
  const emb = new Hashed();
  const opts = { embedder: emb, chunkSize: 32, chunkOverlap: 0 };
  // LANCEDB_PAGES=n: the first n pages only (a quicker, smaller comparison)
  const all = [...BUILTIN_SOURCES['wordnet-glosses'].read()].map((d, i) => ({ text: d.text, line: i + 1 }));
  const pages = process.env.LANCEDB_PAGES ? all.slice(0, Number(process.env.LANCEDB_PAGES)) : all;
  const file = documentsAsFile('builtin:wordnet-glosses', pages);
  const chunks = chunkFile(file.docs, opts);
  const queries = dictionaryQuestions(50, 2).map((q) => q.query);
  const qv = emb.embed(queries);
  console.log(`${chunks.length} chunks (dim ${DIM}), ${queries.length} queries, top 10`);

  // ---- SQLite (ours)
  const store = RagStore.open(join(tmp, 'kb.db'), { meta: storeMetaFor(opts) });
  let t = performance.now();
  indexIngestFile(store, file, opts); // (chunks and embeds again: counted in the write time)
  const sqlWrite = (performance.now() - t) / 1000;
  store.searchVector(qv[0], 10);
  const sqlExact = await timeAll(qv, (q) => store.searchVector(q, 10));
  const sqlBm25 = await timeAll(queries, (q) => store.searchBM25(q, 10));
  t = performance.now();
  store.searchVector(qv[0], 10, {}, { nprobe: 1 });
  const ivfBuild = (performance.now() - t) / 1000;
  const nlist = Math.ceil(Math.sqrt(chunks.length));
  const truth = qv.map((q) => new Set(store.searchVector(q, 10).map((h) => h.id)));
  const sqlIvf = {};
  for (const nprobe of [Math.ceil(nlist / 64), Math.ceil(nlist / 16)]) {
    let hit = 0;
    const lat = await timeAll(qv.map((q, i) => [q, i]), ([q, i]) => (hit += store.searchVector(q, 10, {}, { nprobe }).filter((h) => truth[i].has(h.id)).length));
    sqlIvf[nprobe] = { ...lat, recall: hit / (10 * qv.length) };
  }
  store.close();
  console.log(`SQLite: write ${sqlWrite.toFixed(1)} s (chunk + embed + insert + FTS5), ${(duSize(join(tmp, 'kb.db')) / 1e6).toFixed(0)} MB; exact ${fmt(sqlExact)}; BM25 ${fmt(sqlBm25)}; IVF-Flat (${nlist} cells, built ${ivfBuild.toFixed(1)} s in memory): ` + Object.entries(sqlIvf).map(([n, v]) => `nprobe ${n}: ${fmt(v)}, recall@10 ${v.recall.toFixed(3)}`).join(' · '));

  // ---- LanceDB, the same rows
  const db = await lancedb.connect(join(tmp, 'lance'));
  const rows = chunks.map((c, i) => ({ id: i, text: c.text, vector: Array.from(c.embedding) }));
  t = performance.now();
  const table = await db.createTable('chunks', rows);
  const lanceWrite = (performance.now() - t) / 1000;
  const exactQ = (q) => table.search(Array.from(q)).bypassVectorIndex().distanceType('cosine').limit(10).toArray();
  await exactQ(qv[0]);
  const lanceExact = await timeAll(qv, exactQ);
  const lanceTruth = [];
  for (const q of qv) lanceTruth.push(new Set((await exactQ(q)).map((r) => r.id)));
  t = performance.now();
  await table.createIndex('text', { config: lancedb.Index.fts() });
  const ftsBuild = (performance.now() - t) / 1000;
  const lanceFts = await timeAll(queries, (q) => table.search(q, 'fts', 'text').limit(10).toArray());
  t = performance.now();
  await table.createIndex('vector', { config: lancedb.Index.ivfPq({ numPartitions: nlist, numSubVectors: 16, distanceType: 'cosine' }) });
  const pqBuild = (performance.now() - t) / 1000;
  const lanceIvf = {};
  for (const nprobe of [Math.ceil(nlist / 64), Math.ceil(nlist / 16)]) {
    let hit = 0;
    const lat = await timeAll(qv.map((q, i) => [q, i]), async ([q, i]) => {
      const got = await table.search(Array.from(q)).distanceType('cosine').nprobes(nprobe).limit(10).toArray();
      hit += got.filter((r) => lanceTruth[i].has(r.id)).length;
    });
    lanceIvf[nprobe] = { ...lat, recall: hit / (10 * qv.length) };
  }
  console.log(`LanceDB: write ${lanceWrite.toFixed(1)} s (insert only; chunks and vectors given), ${(duSize(join(tmp, 'lance')) / 1e6).toFixed(0)} MB; exact ${fmt(lanceExact)}; FTS (built ${ftsBuild.toFixed(1)} s) ${fmt(lanceFts)}; IVF_PQ (${nlist} partitions, 16 sub-vectors, built ${pqBuild.toFixed(1)} s): ` + Object.entries(lanceIvf).map(([n, v]) => `nprobes ${n}: ${fmt(v)}, recall@10 ${v.recall.toFixed(3)}`).join(' · '));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
