import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Embedder } from '../../src/rag/embed.js';
import { CLI } from '../cli/fixture.js';
import { documentsAsFile, indexIngestFile, type IndexOptions } from '../../src/rag/indexer.js';
import type { RagStore } from '../../src/rag/store.js';
import { fnv1a } from '../../src/data/synthetic/tasks.js';

/**
 * A deterministic stand-in embedder for store and retrieval tests: hashed bag of words
 * (feature hashing, Weinberger et al. 2009), L2-normalised. Texts sharing words are close.
 * `failAfter` makes the n-th embed call throw (an indexing run killed half-way).
 */
export class HashEmbedder implements Embedder {
  readonly id: string;
  readonly tokenizerHash = 'words';
  readonly maxTokens = 10_000;
  calls = 0;
  constructor(
    readonly dim = 64,
    private readonly failAfter = Infinity,
    idSuffix = '',
  ) {
    this.id = `hash-bow-${dim}${idSuffix}`;
  }
  countTokens(text: string): number {
    return text.match(/\S+/g)?.length ?? 0;
  }
  embed(texts: readonly string[]): Float32Array[] {
    if (++this.calls > this.failAfter) throw new Error('embedder failed (simulated crash)');
    return texts.map((t) => {
      const v = new Float32Array(this.dim);
      for (const w of t.toLowerCase().match(/[a-z0-9]+/g) ?? []) v[fnv1a(w) % this.dim] += 1;
      const n = Math.hypot(...v);
      if (n > 0) for (let i = 0; i < v.length; i++) v[i] /= n;
      return v;
    });
  }
}

/** Index `lines` as the file `path` (line i + 1 each) into `store` under `source`. */
export function indexLines(store: RagStore, path: string, lines: readonly string[], opts: IndexOptions, source: string): void {
  indexIngestFile(
    store,
    documentsAsFile(
      path,
      lines.map((text, i) => ({ text, line: i + 1 })),
    ),
    { ...opts, source },
  );
}

/** Run the built CLI to completion (as a user would), its output as text. */
export const runCli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

/** A temporary folder for a RAG CLI test: `docs/` with the files to index, and the store path `db` (not created). */
export interface DocsDir {
  root: string;
  docs: string;
  db: string;
}

/**
 * Run `fn` over a fresh temporary folder whose `docs/` holds `files` (name → text or bytes),
 * removing the folder afterwards — when `fn` returns, throws, or (for an async `fn`) settles.
 * The store setup the RAG CLI tests share.
 */
export function withDocs<T>(prefix: string, files: Record<string, string | Uint8Array>, fn: (d: DocsDir) => T): T {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const cleanup = (): void => rmSync(root, { recursive: true, force: true });
  let pending = false;
  try {
    const docs = join(root, 'docs');
    mkdirSync(docs);
    for (const [name, content] of Object.entries(files)) writeFileSync(join(docs, name), content);
    const out = fn({ root, docs, db: join(root, 'kb.db') });
    if (out instanceof Promise) {
      pending = true;
      return out.finally(cleanup) as T;
    }
    return out;
  } finally {
    if (!pending) cleanup();
  }
}

/** One SFT conversation as `bench/rag-copy-corpus --format chat` writes it. */
export type Conv = { messages: { role: string; content: string }[] };

/**
 * The conversations `bench/rag-copy-corpus` writes for `args`, run in a temporary directory
 * (`setup` may write files there and returns the arguments that name them), removed after.
 */
export function copyCorpus(args: readonly string[], setup: (dir: string) => string[] = () => []): Conv[] {
  const dir = mkdtempSync(join(tmpdir(), 'gf-corpus-'));
  try {
    const out = join(dir, 'corpus.jsonl');
    execFileSync(process.execPath, [fileURLToPath(new URL('../../bench/rag-copy-corpus.js', import.meta.url)), ...args, ...setup(dir), '--out', out], { stdio: 'pipe' });
    return readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Conv);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
