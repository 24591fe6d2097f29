import Database from 'better-sqlite3';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { GptforgeError } from '../util/errors.js';
import type { Chunk } from './chunk.js';
import { buildIVF, searchIVF, type IVFIndex } from './ivf.js';

/**
 * The RAG store: one SQLite file (better-sqlite3) holding
 *
 * - `files`  (path, source, size, mtime, SHA-256): what was indexed, for incremental re-indexing;
 * - `chunks` (file, seq, line, char/byte offsets, tokens, hash, text, embedding): the passages,
 *   each embedding a little-endian Float32 BLOB beside its text;
 * - `chunks_fts`: an FTS5 index over chunk text (external content, kept in step by triggers),
 *   tokenizer `porter unicode61`, ranked by FTS5's built-in BM25 (k1 = 1.2, b = 0.75);
 * - `meta`: the embedding model id and dimension, the tokenizer hash and chunking settings the
 *   store was built with. Opening it with others is refused, naming each difference.
 *
 * Concurrency: WAL journal, so readers never block the writer; every write is one
 * `BEGIN IMMEDIATE` transaction, so a second writer waits up to `busyTimeoutMs` and then
 * fails with a GptforgeError naming the store — SQLite's locking means it can never corrupt it.
 * A file's chunks are replaced in one transaction: a kill mid-indexing leaves every file
 * either fully old or fully new, and the next run redoes only what is missing.
 *
 * Vector search is exact: a dot product against every stored vector (they are L2-normalised,
 * so this is cosine similarity), one pass over a Float32Array cached in memory and reloaded
 * when the database changes (PRAGMA data_version sees other connections' commits).
 */

export const STORE_SCHEMA_VERSION = 1;

export interface StoreMeta {
  /** Embedding model id (e.g. "gptforge-meanpool:<sha256 of the weights>"), or "none" for a BM25-only store. */
  embeddingModel: string;
  /** Vector length; 0 without embeddings. */
  embeddingDim: number;
  /** Hash of the tokenizer that counted chunk tokens (and feeds the embedder), or "approx". */
  tokenizerHash: string;
  chunkSize: number;
  chunkOverlap: number;
  /** Where the embedding model was loaded from (informational: lets `rag query` find it). */
  embeddingPath?: string;
  /** Where the `--tokenizer` that counted chunk tokens was loaded from (informational: lets a re-index reuse it). */
  tokenizerPath?: string;
  /**
   * How the store's chunks are titled in a context block (generate.ts passageTitles): "dictionary-entries"
   * only in a store of the built-in dictionary's entries that rag/effect.ts built (set by
   * `indexDictionaryEntries`, never by indexing files); absent: no titles.
   */
  titles?: string;
}

export interface FileRecord {
  path: string;
  source: string;
  size: number;
  mtimeMs: number;
  hash: string;
}

/** A chunk (chunk.ts) as the store keeps it: its order in the file, the source line, and an optional vector. */
export interface ChunkInput extends Chunk {
  seq: number;
  line?: number;
  embedding?: Float32Array;
}

export interface StoredChunk extends Omit<ChunkInput, 'embedding'> {
  id: number;
  path: string;
  source: string;
}

export interface SearchFilter {
  /** Only chunks of files indexed under this source label. */
  source?: string;
  /** Only chunks of files whose path matches this SQLite GLOB (`*` also crosses `/`). */
  pathGlob?: string;
}

export interface ScoredId {
  id: number;
  score: number;
}

export interface OpenOptions {
  /** The settings the caller will index or query with; compared with (or, new store, written as) the store's. */
  meta?: Partial<StoreMeta>;
  readonly?: boolean;
  /** How long a write waits for another writer before failing (default 5000 ms). */
  busyTimeoutMs?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL UNIQUE,
  source TEXT NOT NULL,
  size INTEGER NOT NULL,
  mtime_ms REAL NOT NULL,
  hash TEXT NOT NULL,
  indexed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
  id INTEGER PRIMARY KEY,
  file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  line INTEGER,
  char_start INTEGER NOT NULL,
  char_end INTEGER NOT NULL,
  byte_start INTEGER NOT NULL,
  byte_end INTEGER NOT NULL,
  tokens INTEGER NOT NULL,
  hash TEXT NOT NULL,
  text TEXT NOT NULL,
  embedding BLOB,
  UNIQUE (file_id, seq)
);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(hash);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, content='chunks', content_rowid='id', tokenize='porter unicode61');
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
  INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
  INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
`;

const META_KEYS: readonly (keyof StoreMeta)[] = ['embeddingModel', 'embeddingDim', 'tokenizerHash', 'chunkSize', 'chunkOverlap'];
/** Recorded where given, never compared: where the settings were loaded from. */
const INFO_KEYS = ['embeddingPath', 'tokenizerPath', 'titles'] as const;

/** Where a store's (or a caller's) embedding model or tokenizer came from, for an error naming it. */
function builtFrom(m: Partial<StoreMeta>): string {
  if (m.embeddingPath) return m.embeddingPath;
  if (m.tokenizerPath) return m.tokenizerPath;
  return m.embeddingModel === 'none' && m.tokenizerHash === 'approx' ? 'none (BM25 only, ≈4 characters a token)' : '(path not recorded)';
}

/**
 * Lucene's default English stop words (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET, which Anserini's
 * BM25 uses), plus the question words and do-forms of NLTK's list (what … how, do, does, did):
 * dropped from queries — not from the index. Lucene's match nearly every chunk, add almost
 * nothing to BM25 (IDF ≈ 0) and make FTS5 score every row; the question words are the frame of
 * a question, and a chunk quoting "What does … mean" outranked the asked word's own entry
 * (dictionary questions, `bench/rag.ts --per-family 100`: nDCG@10 0.804 → 0.836). Also "s" and
 * "t", the tails of "what's" and "don't" that splitting at the apostrophe leaves (Lucene's
 * EnglishAnalyzer strips the possessive "'s" before its stop filter, EnglishPossessiveFilter): a
 * query's "s" matched few chunks, so it weighed as a rare word, and a relevance cutoff on the
 * relative BM25 score (relevance.ts) read every "What's …?" question's own entry at half the
 * score of the same question asked without it (docs/journal/rag.md "Seventeenth attempt").
 */
export const QUERY_STOP_WORDS: ReadonlySet<string> = new Set('a an and are as at be but by for if in into is it no not of on or such that the their then there these they this to was will with what which who whom whose when where why how do does did s t'.split(' '));

/**
 * The frame of a question about a word — request verbs (tell, give, explain, define, name,
 * say, think, know, classify), the nouns that name what is asked (meaning, definition,
 * synonym, word, kind, type, sort, class, category, thing) and their glue (me, you, can, it,
 * another, same, way, general, belong). Dropped from queries only when asked
 * (`QueryOptions.dropFrameWords`), and then only while something else is left. They name the
 * question, not its topic, yet most are dictionary headwords themselves, so BM25 over "Tell me
 * what kind of thing a base is." ranked the entries of *tell* above those of *base* (with
 * one-entry chunks, the asked word's entry was in the top 3 for 87% of held-out
 * definitions/kinds/synonyms questions; 97% without the frame: docs/journal/rag.md "Retrieval for the
 * effect questions"). The list is read off the knowledge families' question phrasings
 * (src/data/synthetic/{definitions,kinds,synonyms}.ts) — tuned to those templates, so it is
 * off by default: in a user's query "type", "class" or "name" is often the topic ("type
 * inference", "class hierarchy"), which no measurement here has covered.
 */
export const QUESTION_FRAME_WORDS: ReadonlySet<string> = new Set('tell give me explain define definition meaning mean means meant name synonym synonyms word words kind kinds type sort class category classify general thing things belong another way say same think know i you can it its don t'.split(' '));

/** How free text becomes an FTS5 query (ftsQuery, RagStore.searchBM25, Retriever). */
export interface QueryOptions {
  /**
   * Drop QUESTION_FRAME_WORDS too (unless only they remain). Default false. Measured to help
   * on the dictionary questions of `bench/rag.ts`, `bench/rag-diagnose.ts` and
   * `bench/rag-effect.ts` (nDCG@10 0.836 → 0.906; the effect's top-3 hit 86% → 97%), which turn
   * it on; not measured on anything else.
   */
  dropFrameWords?: boolean;
}

/**
 * FTS5 query from free text: its words less stop words (and, with `dropFrameWords`,
 * question-frame words), each quoted (no operator injection), OR-ed (BM25 ranks by how many
 * and how rare). When only frame words remain ("What does mean mean?"), they are the topic and
 * stay; when only stop words remain, all words stay. Returns null for text without a word.
 */
export function ftsQuery(text: string, opts: QueryOptions = {}): string | null {
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu);
  if (!words || words.length === 0) return null;
  const content = words.filter((w) => !QUERY_STOP_WORDS.has(w));
  const topic = opts.dropFrameWords ? content.filter((w) => !QUESTION_FRAME_WORDS.has(w)) : content;
  return [...new Set(topic.length > 0 ? topic : content.length > 0 ? content : words)].map((w) => `"${w}"`).join(' OR ');
}

/** FTS5's bm25() k1 (its default; the store never passes another). */
export const BM25_K1 = 1.2;

type RawChunk = Omit<StoredChunk, 'line'> & { line: number | null };
const toChunk = (r: RawChunk): StoredChunk => {
  const { line, ...rest } = r;
  return line === null ? rest : { ...rest, line };
};

function isBusy(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code === 'SQLITE_BUSY_SNAPSHOT';
}

/**
 * A RAG store: one SQLite file (better-sqlite3, WAL) holding the indexed files, their chunks with
 * FTS5 for BM25, and the chunks' embeddings when built with an embedder. A store records the
 * settings it was built with (embedding model and dim, tokenizer hash, chunk size and overlap) and
 * refuses other ones. Build one with `ragIndex` or `open(db, { meta: storeMetaFor(opts) })` +
 * `indexInputs`; read one with `open(db, { readonly: true })` and a `Retriever`.
 */
export class RagStore {
  readonly path: string;
  readonly meta: StoreMeta;
  private readonly db: Database.Database;
  private vecCache: { version: string; ids: Int32Array; mat: Float32Array } | null = null;
  private ivf: { cache: object; index: IVFIndex } | null = null;
  private writes = 0;

  private constructor(path: string, db: Database.Database, meta: StoreMeta) {
    this.path = path;
    this.db = db;
    this.meta = meta;
  }

  /**
   * Open (or create) a store. A new store records `opts.meta` (all of embeddingModel,
   * embeddingDim, tokenizerHash, chunkSize, chunkOverlap are then required); an existing one is
   * compared with every field given and refused, naming each difference, when one differs.
   */
  static open(path: string, opts: OpenOptions = {}): RagStore {
    const existed = existsSync(path);
    // SQLite's own words for these ("unable to open database file") name neither the path's problem nor the fix
    if (existed && statSync(path).isDirectory()) throw new GptforgeError(`is a directory, not a RAG store file: give the store's file, e.g. ${join(path, 'kb.db')}`, { file: path });
    const parent = dirname(resolve(path));
    if (!existed && existsSync(parent) && !statSync(parent).isDirectory()) throw new GptforgeError(`cannot create the RAG store: ${parent} is a file, not a folder`, { file: path });
    if (!opts.readonly) {
      // refused before the file is created: a failed open leaves no empty database behind
      const missing = META_KEYS.filter((k) => opts.meta?.[k] === undefined);
      if (!existed && missing.length > 0) throw new GptforgeError(`a new RAG store needs ${missing.join(', ')} (pass { meta: storeMetaFor(indexOptions) }, or build it with ragIndex / gptforge rag index)`, { file: path });
      mkdirSync(dirname(path), { recursive: true });
    } else if (!existed) throw new GptforgeError('no RAG store here (build one with: gptforge rag index --input <files|dirs|globs> --db <file>)', { file: path });
    let db: Database.Database;
    try {
      db = new Database(path, { readonly: opts.readonly === true, fileMustExist: opts.readonly === true, timeout: opts.busyTimeoutMs ?? 5000 });
    } catch (e) {
      throw new GptforgeError(`cannot open the RAG store: ${(e as Error).message}`, { file: path });
    }
    try {
      if (!opts.readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL'); // WAL + NORMAL: durable at checkpoints, never corrupt
      }
      db.pragma('foreign_keys = ON');
      const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== undefined;
      if (!hasMeta && opts.readonly) {
        // an empty database (e.g. left by an older failed open) holds no store yet, rather than someone else's tables
        const empty = db.prepare('SELECT 1 FROM sqlite_master').get() === undefined;
        throw new GptforgeError(empty ? 'no RAG store here: an empty database (build one with: gptforge rag index --input <files|dirs|globs> --db <file>)' : 'not a RAG store (no meta table)', { file: path });
      }
      if (!hasMeta) {
        const m = opts.meta ?? {};
        const missing = META_KEYS.filter((k) => m[k] === undefined);
        if (missing.length > 0) throw new GptforgeError(`a new RAG store needs ${missing.join(', ')}`, { file: path });
        db.transaction(() => {
          db.exec(SCHEMA);
          const put = db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)');
          put.run('schemaVersion', String(STORE_SCHEMA_VERSION));
          for (const k of [...META_KEYS, ...INFO_KEYS]) if (m[k] !== undefined) put.run(k, String(m[k]));
          put.run('createdAt', new Date().toISOString());
        }).immediate();
      }
      const rows = db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[];
      const kv = new Map(rows.map((r) => [r.key, r.value]));
      const version = Number(kv.get('schemaVersion'));
      if (version !== STORE_SCHEMA_VERSION) throw new GptforgeError(`RAG store schema version ${kv.get('schemaVersion')} is not ${STORE_SCHEMA_VERSION} (rebuild it)`, { file: path });
      const meta: StoreMeta = {
        embeddingModel: kv.get('embeddingModel') ?? 'none',
        embeddingDim: Number(kv.get('embeddingDim') ?? 0),
        tokenizerHash: kv.get('tokenizerHash') ?? 'approx',
        chunkSize: Number(kv.get('chunkSize')),
        chunkOverlap: Number(kv.get('chunkOverlap')),
        embeddingPath: kv.get('embeddingPath'),
        tokenizerPath: kv.get('tokenizerPath'),
        titles: kv.get('titles'),
      };
      const want = opts.meta ?? {};
      const diffs = META_KEYS.filter((k) => want[k] !== undefined && String(want[k]) !== String(meta[k])).map((k) => `${k} is ${JSON.stringify(meta[k])} in the store, ${JSON.stringify(want[k])} here`);
      if (diffs.length > 0) {
        // a store that holds nothing yet (an index that failed before its first file) takes the new settings
        const empty = (db.prepare('SELECT COUNT(*) AS n FROM files').get() as { n: number }).n === 0;
        // a model or tokenizer difference names both ends by path (the hashes alone do not say which checkpoint)
        const modelDiff = (['embeddingModel', 'embeddingDim', 'tokenizerHash'] as const).some((k) => want[k] !== undefined && String(want[k]) !== String(meta[k]));
        const paths = modelDiff ? `; the store's model/tokenizer is ${builtFrom(meta)}, this one's ${builtFrom(want)}` : '';
        if (!empty || opts.readonly) throw new GptforgeError(`this RAG store was built with other settings: ${diffs.join('; ')}${paths} (index into another --db, or rebuild this one with these settings: gptforge rag index --rebuild …)`, { file: path });
        const updates = Object.fromEntries([...META_KEYS, ...INFO_KEYS].filter((k) => want[k] !== undefined).map((k) => [k, want[k]]));
        db.transaction(() => {
          const put = db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
          for (const [k, v] of Object.entries(updates)) put.run(k, String(v));
        }).immediate();
        Object.assign(meta, updates);
      }
      return new RagStore(path, db, meta);
    } catch (e) {
      db.close();
      // a database this call created and could not make a store of goes again (with its WAL files)
      if (!existed && !opts.readonly && !isBusy(e)) for (const f of [path, `${path}-wal`, `${path}-shm`]) rmSync(f, { force: true });
      if (isBusy(e)) throw new GptforgeError('the RAG store is locked by another writer (timed out waiting)', { file: path });
      if ((e as { code?: string }).code === 'SQLITE_NOTADB') throw new GptforgeError('not a RAG store: the file is not an SQLite database (build one with: gptforge rag index --input <files|dirs|globs> --db <file>)', { file: path });
      throw e;
    }
  }

  /** Record one informational setting (never compared on open): `titles` (StoreMeta). One write transaction. */
  setInfo(key: 'titles', value: string): void {
    this.write(() => this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value));
    this.meta[key] = value;
  }

  close(): void {
    this.db.close();
  }

  /** Run `fn` in one BEGIN IMMEDIATE transaction; another writer's lock becomes a clean error after the busy timeout. */
  private write<T>(fn: () => T): T {
    try {
      const r = this.db.transaction(fn).immediate();
      this.writes++;
      return r;
    } catch (e) {
      if (isBusy(e)) throw new GptforgeError('the RAG store is locked by another writer (timed out waiting; nothing was written)', { file: this.path });
      throw e;
    }
  }

  /** What the store knows of a file, or undefined. */
  file(path: string): FileRecord | undefined {
    const r = this.db.prepare('SELECT path, source, size, mtime_ms AS mtimeMs, hash FROM files WHERE path = ?').get(path) as FileRecord | undefined;
    return r;
  }

  files(): FileRecord[] {
    return this.db.prepare('SELECT path, source, size, mtime_ms AS mtimeMs, hash FROM files ORDER BY path').all() as FileRecord[];
  }

  /** Record a new size/mtime for a file whose content hash is unchanged. */
  touchFile(path: string, size: number, mtimeMs: number): void {
    this.write(() => this.db.prepare('UPDATE files SET size = ?, mtime_ms = ? WHERE path = ?').run(size, mtimeMs, path));
  }

  /**
   * Replace a file's chunks (and its record) in one transaction. Embeddings must have the
   * store's dimension; a store without embeddings takes none. Returns the chunks removed.
   */
  replaceFile(file: FileRecord, chunks: readonly ChunkInput[]): number {
    const dim = this.meta.embeddingDim;
    chunks.forEach((c, i) => {
      const n = c.embedding?.length ?? 0;
      if (n !== dim) throw new GptforgeError(`chunk ${i} has an embedding of ${n} values, the store holds ${dim}`, { file: file.path });
    });
    return this.write(() => {
      const old = this.db.prepare('SELECT id FROM files WHERE path = ?').get(file.path) as { id: number } | undefined;
      let removed = 0;
      if (old) removed = this.db.prepare('DELETE FROM chunks WHERE file_id = ?').run(old.id).changes;
      const fileId = Number(
        (
          this.db
            .prepare('INSERT INTO files (path, source, size, mtime_ms, hash, indexed_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET source = excluded.source, size = excluded.size, mtime_ms = excluded.mtime_ms, hash = excluded.hash, indexed_at = excluded.indexed_at RETURNING id')
            .get(file.path, file.source, file.size, file.mtimeMs, file.hash, new Date().toISOString()) as { id: number }
        ).id,
      );
      const ins = this.db.prepare('INSERT INTO chunks (file_id, seq, line, char_start, char_end, byte_start, byte_end, tokens, hash, text, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
      for (const c of chunks) {
        const blob = c.embedding ? Buffer.from(c.embedding.buffer, c.embedding.byteOffset, c.embedding.byteLength) : null;
        ins.run(fileId, c.seq, c.line ?? null, c.charStart, c.charEnd, c.byteStart, c.byteEnd, c.tokens, c.hash, c.text, blob);
      }
      return removed;
    });
  }

  /** Forget a file and its chunks. Returns the chunks removed. */
  removeFile(path: string): number {
    return this.write(() => {
      const old = this.db.prepare('SELECT id FROM files WHERE path = ?').get(path) as { id: number } | undefined;
      if (!old) return 0;
      const n = this.db.prepare('DELETE FROM chunks WHERE file_id = ?').run(old.id).changes;
      this.db.prepare('DELETE FROM files WHERE id = ?').run(old.id);
      return n;
    });
  }

  /** Number of chunks. */
  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM chunks').get() as { n: number }).n;
  }

  /** Chunks by id, in the order asked (ids not found are left out). */
  chunks(ids: readonly number[]): StoredChunk[] {
    if (ids.length === 0) return [];
    const rows = this.db
      .prepare(
        `SELECT c.id, c.seq, c.line, c.char_start AS charStart, c.char_end AS charEnd, c.byte_start AS byteStart, c.byte_end AS byteEnd, c.tokens, c.hash, c.text, f.path, f.source
         FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.id IN (SELECT value FROM json_each(?))`,
      )
      .all(JSON.stringify(ids)) as RawChunk[];
    const byId = new Map(rows.map((r) => [r.id, toChunk(r)]));
    return ids.map((id) => byId.get(id)).filter((r): r is StoredChunk => r !== undefined);
  }

  /** Every chunk, in file then sequence order (for exports and evaluation). */
  allChunks(): StoredChunk[] {
    const rows = this.db
      .prepare(
        `SELECT c.id, c.seq, c.line, c.char_start AS charStart, c.char_end AS charEnd, c.byte_start AS byteStart, c.byte_end AS byteEnd, c.tokens, c.hash, c.text, f.path, f.source
         FROM chunks c JOIN files f ON f.id = c.file_id ORDER BY f.path, c.seq`,
      )
      .all() as RawChunk[];
    return rows.map(toChunk);
  }

  private filterSql(filter: SearchFilter): { sql: string; args: string[] } {
    const parts: string[] = [];
    const args: string[] = [];
    if (filter.source !== undefined) {
      parts.push('f.source = ?');
      args.push(filter.source);
    }
    if (filter.pathGlob !== undefined) {
      parts.push('f.path GLOB ?');
      args.push(filter.pathGlob);
    }
    return { sql: parts.map((p) => ` AND ${p}`).join(''), args };
  }

  /** BM25 (FTS5) top k for free text (made a query by ftsQuery with `opts`); higher score is better (the negated bm25()). */
  searchBM25(query: string, k: number, filter: SearchFilter = {}, opts: QueryOptions = {}): ScoredId[] {
    const q = ftsQuery(query, opts);
    if (q === null || k <= 0) return [];
    const f = this.filterSql(filter);
    const rows = this.db.prepare(`SELECT c.id AS id, -bm25(chunks_fts) AS score FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid JOIN files f ON f.id = c.file_id WHERE chunks_fts MATCH ?${f.sql} ORDER BY bm25(chunks_fts) LIMIT ?`).all(q, ...f.args, k) as ScoredId[];
    return rows;
  }

  /**
   * Whether `path` is an SQLite database with nothing in it (no table, index or view): what an
   * older failed `open` left behind. Such a file holds no store yet, and indexing into it makes
   * one (ragIndex). False for a missing file or anything else.
   */
  static isEmptyDatabase(path: string): boolean {
    if (!existsSync(path)) return false;
    let db: Database.Database | undefined;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true });
      return db.prepare('SELECT 1 FROM sqlite_master').get() === undefined;
    } catch {
      return false;
    } finally {
      db?.close();
    }
  }

  /**
   * The most a chunk could score under BM25 for `query` (FTS5's bm25(), k1 = 1.2): Σ over the
   * query's terms (ftsQuery's) of idf(t)·(k1 + 1), the limit of each term's part as its count in
   * the chunk grows, with FTS5's idf(t) = max(1e-6, ln((N − n(t) + 0.5) / (n(t) + 0.5))), N the
   * chunks and n(t) those holding t (sqlite.org/fts5.html "The bm25() function"). A chunk's
   * score divided by it is in [0, 1) whatever the corpus: the relevance cutoff's `bm25Relative`
   * (relevance.ts). 0 for a query without a word.
   */
  bm25Ceiling(query: string, opts: QueryOptions = {}): number {
    const q = ftsQuery(query, opts);
    if (q === null) return 0;
    const n = this.count();
    const df = this.db.prepare('SELECT count(*) AS n FROM chunks_fts WHERE chunks_fts MATCH ?');
    let sum = 0;
    for (const term of q.split(' OR ')) {
      const hit = (df.get(term) as { n: number }).n;
      sum += Math.max(1e-6, Math.log((n - hit + 0.5) / (hit + 0.5))) * (BM25_K1 + 1);
    }
    return sum;
  }

  /** All stored vectors as one row-major [N, dim] matrix and their chunk ids (cached until the database changes). */
  vectors(): { ids: Int32Array; mat: Float32Array } {
    const dim = this.meta.embeddingDim;
    if (dim === 0) throw new GptforgeError('this RAG store has no embeddings (it was built without an embedding model)', { file: this.path });
    const version = `${this.db.pragma('data_version', { simple: true }) as number}:${this.writes}`;
    if (this.vecCache?.version === version) return this.vecCache;
    const n = this.count();
    const ids = new Int32Array(n);
    const mat = new Float32Array(n * dim);
    const bytes = new Uint8Array(mat.buffer);
    let i = 0;
    for (const row of this.db.prepare('SELECT id, embedding FROM chunks WHERE embedding IS NOT NULL ORDER BY id').raw().iterate() as IterableIterator<[number, Buffer]>) {
      if (row[1].length !== dim * 4) throw new GptforgeError(`chunk ${row[0]} has a ${row[1].length}-byte embedding, expected ${dim * 4}`, { file: this.path });
      ids[i] = row[0];
      bytes.set(row[1], i * dim * 4); // byte copy: a BLOB's Buffer need not be 4-byte aligned
      i++;
    }
    this.vecCache = { version, ids: ids.subarray(0, i), mat: mat.subarray(0, i * dim) };
    return this.vecCache;
  }

  /** Chunk ids passing a filter, or null for no filter. */
  private allowed(filter: SearchFilter): Set<number> | null {
    if (filter.source === undefined && filter.pathGlob === undefined) return null;
    const f = this.filterSql(filter);
    const rows = this.db
      .prepare(`SELECT c.id AS id FROM chunks c JOIN files f ON f.id = c.file_id WHERE 1${f.sql}`)
      .raw()
      .all(...f.args) as [number][];
    return new Set(rows.map((r) => r[0]));
  }

  /**
   * Exact nearest neighbours by dot product (cosine for the stored unit vectors): one scan of
   * the [N, dim] matrix keeping the k best. query: Float32Array of the store's dimension.
   * With `nprobe`, approximate: an IVF index (ivf.ts, built on first use, ⌈√N⌉ cells) scans
   * only the nprobe cells nearest the query.
   */
  searchVector(query: Float32Array, k: number, filter: SearchFilter = {}, opts: { nprobe?: number } = {}): ScoredId[] {
    const dim = this.meta.embeddingDim;
    const cache = this.vectors();
    const { ids, mat } = cache;
    if (query.length !== dim) throw new GptforgeError(`query vector has ${query.length} values, the store holds ${dim}`, { file: this.path });
    if (k <= 0) return [];
    const allow = this.allowed(filter);
    if (opts.nprobe !== undefined) {
      // approximate: an IVF index over the cached matrix, rebuilt when the matrix is
      if (this.ivf?.cache !== cache) this.ivf = { cache, index: buildIVF(mat, ids.length, dim) };
      return searchIVF(this.ivf.index, mat, query, k, opts.nprobe, allow ? (r) => allow.has(ids[r]) : undefined).map((h) => ({ id: ids[h.row], score: h.score }));
    }
    // the k best so far, sorted descending (k is small: insertion beats a heap)
    const bestS = new Float64Array(k).fill(-Infinity);
    const bestI = new Int32Array(k).fill(-1);
    const n = ids.length;
    for (let r = 0; r < n; r++) {
      if (allow && !allow.has(ids[r])) continue;
      const off = r * dim;
      let s = 0;
      for (let j = 0; j < dim; j++) s += mat[off + j] * query[j];
      if (s <= bestS[k - 1]) continue;
      let p = k - 1;
      while (p > 0 && bestS[p - 1] < s) {
        bestS[p] = bestS[p - 1];
        bestI[p] = bestI[p - 1];
        p--;
      }
      bestS[p] = s;
      bestI[p] = ids[r];
    }
    const out: ScoredId[] = [];
    for (let i = 0; i < k && bestI[i] >= 0; i++) out.push({ id: bestI[i], score: bestS[i] });
    return out;
  }

  /** PRAGMA integrity_check's verdict ("ok" when sound). */
  integrity(): string {
    return this.db.pragma('integrity_check', { simple: true }) as string;
  }
}
