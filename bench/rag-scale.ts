/**
 * npm run bench:rag-scale -- [--chunk-size 32] [--dim 128] [--queries 200] [--vectors hashed|random] [--json]
 *
 * Speed of src/rag at ~100k chunks (docs/journal/rag.md "Measured: speed"). Run it under the heavy-job
 * lock: `flock /tmp/gptforge-heavy.lock npm run bench:rag-scale` (≈ 3–5 min).
 *
 * 1. Indexing the built-in encyclopedia (wordnet-glosses, 12.3 MB, 2,946 pages) BM25-only with
 *    the default chunking (192/32 tokens, ≈ 4 characters a token): chunking, hashing, the
 *    SQLite inserts and the FTS5 index, in chunks per second (wall and per CPU second).
 * 2. The 100k-chunk store: the same pages cut at --chunk-size tokens (32 → 127,423 chunks, no
 *    overlap), each chunk with a --dim vector from a synthetic embedder (bench/rag-vectors.ts:
 *    `hashed`, a feature-hashed bag of its words — texts sharing words are close, so the
 *    vectors cluster as text embeddings do; `random`, unit Gaussians, the IVF's worst case).
 *    A model's forward pass per chunk would make the store take hours to build here and
 *    change nothing in the scan's cost, which is N·dim multiply-adds whatever the vectors hold.
 * 3. Query latency over --queries held-out dictionary questions, top 10, wall and this
 *    process's CPU time p50/p99: BM25 (FTS5), exact vector scan, hybrid RRF, and the
 *    approximate IVF index (src/rag/ivf.ts, FAISS's IndexIVFFlat, ⌈√N⌉ cells) at several
 *    nprobe, with its recall@10 against the exact scan's top 10 and its build time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchParseArgs } from './args.js';
import { BUILTIN_SOURCES } from '../src/data/sources.js';
import type { Embedder } from '../src/rag/embed.js';
import { dictionaryQuestions } from '../src/rag/evaluate.js';
import { documentsAsFile, indexIngestFile, storeMetaFor, type IndexOptions } from '../src/rag/indexer.js';
import { Retriever } from '../src/rag/retrieve.js';
import { RagStore } from '../src/rag/store.js';
import { HashedEmbedder, pct, RandomEmbedder } from './rag-vectors.js';

const { values: args } = benchParseArgs(import.meta.url, {
  options: {
    'chunk-size': { type: 'string', default: '32' },
    dim: { type: 'string', default: '128' },
    queries: { type: 'string', default: '200' },
    vectors: { type: 'string', default: 'hashed' },
    json: { type: 'boolean', default: false },
  },
});

interface Latency {
  p50ms: number;
  p99ms: number;
  cpuP50ms: number;
  cpuP99ms: number;
}

/** Wall and CPU time of f over each query, p50/p99. */
function time<Q>(queries: readonly Q[], f: (q: Q) => void): Latency {
  const ts: number[] = [];
  const cs: number[] = [];
  for (const q of queries) {
    const c = process.cpuUsage();
    const t = performance.now();
    f(q);
    ts.push(performance.now() - t);
    const d = process.cpuUsage(c);
    cs.push((d.user + d.system) / 1000);
  }
  ts.sort((x, y) => x - y);
  cs.sort((x, y) => x - y);
  return { p50ms: pct(ts, 50), p99ms: pct(ts, 99), cpuP50ms: pct(cs, 50), cpuP99ms: pct(cs, 99) };
}

const fmt = (l: Latency): string => `p50 ${l.p50ms.toFixed(1)} ms, p99 ${l.p99ms.toFixed(1)} ms (CPU ${l.cpuP50ms.toFixed(1)} / ${l.cpuP99ms.toFixed(1)} ms)`;

function main(): void {
  const log = (s: string): void => {
    if (!args.json) console.log(s);
  };
  const out: Record<string, unknown> = { cpu: cpus()[0]?.model, cores: cpus().length };
  log(`CPU: ${cpus()[0]?.model} × ${cpus().length}`);
  const dir = mkdtempSync(join(tmpdir(), 'gf-bench-rag-scale-'));
  try {
    const pages = [...BUILTIN_SOURCES['wordnet-glosses'].read()].map((d, i) => ({ text: d.text, line: i + 1 }));
    const mb = pages.reduce((n, p) => n + Buffer.byteLength(p.text), 0) / 1e6;

    // ---- 1. indexing the encyclopedia, default chunking, BM25-only
    const s1 = RagStore.open(join(dir, 'glosses.db'), { meta: storeMetaFor({}) });
    let t0 = performance.now();
    let c0 = process.cpuUsage();
    const g = indexIngestFile(s1, documentsAsFile('builtin:wordnet-glosses', pages), {});
    const gs = (performance.now() - t0) / 1000;
    let cu = process.cpuUsage(c0);
    const gcpu = (cu.user + cu.system) / 1e6;
    s1.close();
    log(`1. indexing wordnet-glosses (${mb.toFixed(1)} MB, ${pages.length} pages), chunks 192/32, BM25-only: ${g.chunks} chunks in ${gs.toFixed(1)} s = ${(g.chunks / gs).toFixed(0)} chunks/s wall, ${(g.chunks / gcpu).toFixed(0)} chunks per CPU second`);
    out.indexing = { mb, pages: pages.length, chunks: g.chunks, seconds: gs, cpuSeconds: gcpu, chunksPerSecond: g.chunks / gs, chunksPerCpuSecond: g.chunks / gcpu };

    // ---- 2. the ~100k-chunk store with vectors
    const dim = Number(args.dim);
    const embedder: Embedder = args.vectors === 'random' ? new RandomEmbedder(dim, null) : new HashedEmbedder(dim);
    const bigOpts: IndexOptions = { embedder, chunkSize: Number(args['chunk-size']), chunkOverlap: 0 };
    const store = RagStore.open(join(dir, 'big.db'), { meta: storeMetaFor(bigOpts) });
    t0 = performance.now();
    c0 = process.cpuUsage();
    const b = indexIngestFile(store, documentsAsFile('builtin:wordnet-glosses', pages), bigOpts);
    const bs = (performance.now() - t0) / 1000;
    cu = process.cpuUsage(c0);
    log(`2. store: ${b.chunks.toLocaleString('en-US')} chunks (the glosses cut at ${args['chunk-size']} tokens), ${args.vectors} vectors of dim ${dim}, built in ${bs.toFixed(1)} s (CPU ${((cu.user + cu.system) / 1e6).toFixed(1)} s)`);
    out.store = { chunks: b.chunks, chunkSize: Number(args['chunk-size']), vectors: args.vectors, dim, seconds: bs };

    // ---- 3. latency
    const qs = dictionaryQuestions(Math.ceil(Number(args.queries) / 4), 2)
      .map((q) => q.query)
      .slice(0, Number(args.queries));
    const qv = qs.map((q) => embedder.embed([q])[0]);
    const ret = new Retriever(store, embedder);
    ret.retrieve('warm up', { mode: 'hybrid' }); // reads the vectors into memory once
    const lat: Record<string, Latency> = {};
    lat.bm25 = time(qs, (q) => ret.retrieve(q, { mode: 'bm25', k: 10 }));
    lat.exact = time(qv, (q) => store.searchVector(q, 10));
    lat.hybrid = time(qs, (q) => ret.retrieve(q, { mode: 'hybrid', k: 10 }));
    log(`3. ${qs.length} queries, top 10:\n   BM25 (FTS5):        ${fmt(lat.bm25)}\n   exact vector scan:  ${fmt(lat.exact)}\n   hybrid (RRF):       ${fmt(lat.hybrid)}`);

    t0 = performance.now();
    store.searchVector(qv[0], 10, {}, { nprobe: 1 });
    const ivfBuild = (performance.now() - t0) / 1000;
    const nlist = Math.ceil(Math.sqrt(b.chunks));
    const truth = qv.map((q) => new Set(store.searchVector(q, 10).map((h) => h.id)));
    const ivf: { nprobe: number; fraction: number; latency: Latency; recall10: number }[] = [];
    for (const nprobe of [Math.ceil(nlist / 64), Math.ceil(nlist / 16), Math.ceil(nlist / 8), Math.ceil(nlist / 4)]) {
      let hit = 0;
      const l = time(
        qv.map((q, i) => ({ q, i })),
        ({ q, i }) => {
          hit += store.searchVector(q, 10, {}, { nprobe }).filter((h) => truth[i].has(h.id)).length;
        },
      );
      ivf.push({ nprobe, fraction: nprobe / nlist, latency: l, recall10: hit / (10 * qv.length) });
    }
    log(`   IVF-Flat, ${nlist} cells (built in ${ivfBuild.toFixed(1)} s):`);
    for (const r of ivf) log(`     nprobe ${String(r.nprobe).padStart(3)} (${(100 * r.fraction).toFixed(0).padStart(2)}% of cells): ${fmt(r.latency)}, recall@10 ${r.recall10.toFixed(3)}, ${(lat.exact.p50ms / r.latency.p50ms).toFixed(1)}× the exact scan's speed`);
    out.latency = { queries: qs.length, ...lat, ivf: { nlist, buildSeconds: ivfBuild, probes: ivf } };
    store.close();
    if (args.json) console.log(JSON.stringify(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
