import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { isDynamicPattern } from 'tinyglobby';
import { latestCheckpoint } from '../model/checkpoint.js';
import { GptforgeError } from '../util/errors.js';
import { approxTokens, chunkText, contentHash, DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE, type TokenCounter } from './chunk.js';
import type { Embedder } from './embed.js';
import { defaultReplyTokens } from './generate.js';
import { listInputFiles, readIngestFile, statFile, type IngestDoc, type IngestFile, type IngestWarning } from './ingest.js';
import type { ChunkInput, RagStore, StoreMeta } from './store.js';

/**
 * Indexing: files → chunks → (embeddings) → the store, incrementally. A file whose size and
 * mtime match the store's record is skipped unread; one whose bytes hash the same is only
 * re-stamped; any other has all its chunks replaced in one transaction. An interrupted run
 * therefore resumes by re-running it: committed files are skipped, the rest redone, and no
 * chunk is ever stored twice (chunks are UNIQUE per file and sequence number).
 */

export interface IndexOptions {
  /** Source label stored with each file (a metadata filter at query time; default "default"). */
  source?: string;
  /** JSONL field / Parquet column (default "text"). */
  field?: string;
  /** Refuse binary/unreadable files instead of skipping them with a warning. */
  strict?: boolean;
  chunkSize?: number;
  chunkOverlap?: number;
  /** Embeds chunk text; without one the store is BM25-only. */
  embedder?: Embedder;
  /** Counts chunk tokens when there is no embedder (default: the ≈4-characters estimate). */
  countTokens?: TokenCounter;
  /** Hash of `countTokens`'s tokenizer (recorded in the store; default "approx"). */
  tokenizerHash?: string;
  /** Where that tokenizer was loaded from (recorded in the store, so a re-index can reuse it). */
  tokenizerPath?: string;
  /** Forget stored files under no input any more (default false). */
  prune?: boolean;
  onWarning?: (w: IngestWarning) => void;
  onFile?: (path: string, status: 'indexed' | 'unchanged', chunks: number) => void;
  /** After each input file, whatever became of it: files done so far and the run's file count (for a progress bar). */
  onProgress?: (done: number, total: number) => void;
}

/** A file a run indexed under another source label than the one it had (`IndexOptions.source`). */
export interface Relabel {
  path: string;
  /** The label it was indexed under before. */
  from: string;
  /** The label it has now. */
  to: string;
}

export interface IndexReport {
  files: number;
  indexed: number;
  unchanged: number;
  skipped: number;
  /** Files with no text (empty or whitespace only): not stored; a record they had before is removed with its chunks. */
  empty: number;
  pruned: number;
  /** Stored files (of any source label) under an input directory or glob of the run that no longer exist on disk: removed with their chunks. */
  deleted: string[];
  /** Files that had another source label and now have this run's (`source`): their chunks were re-indexed under it. */
  relabelled: Relabel[];
  /** Chunks written this run. */
  chunks: number;
  /** Chunks removed (replaced or pruned). */
  removed: number;
  seconds: number;
  warnings: IngestWarning[];
}

/** The store settings these options imply (what `RagStore.open` records or checks). */
export function storeMetaFor(opts: IndexOptions): StoreMeta {
  const e = opts.embedder;
  return {
    embeddingModel: e?.id ?? 'none',
    embeddingDim: e?.dim ?? 0,
    tokenizerHash: e?.tokenizerHash ?? opts.tokenizerHash ?? 'approx',
    chunkSize: opts.chunkSize ?? DEFAULT_CHUNK_SIZE,
    chunkOverlap: opts.chunkOverlap ?? DEFAULT_CHUNK_OVERLAP,
    embeddingPath: e?.path,
    tokenizerPath: e ? undefined : opts.tokenizerPath,
  };
}

/** Chunk (and embed) a file's documents, numbering chunks across its documents. */
export function chunkFile(docs: readonly IngestDoc[], opts: IndexOptions): ChunkInput[] {
  const count = opts.embedder ? (t: string) => opts.embedder!.countTokens(t) : (opts.countTokens ?? approxTokens);
  const chunkSize = Math.min(opts.chunkSize ?? DEFAULT_CHUNK_SIZE, opts.embedder?.maxTokens ?? Infinity);
  const out: ChunkInput[] = [];
  for (const d of docs) {
    for (const c of chunkText(d.text, { chunkSize, chunkOverlap: opts.chunkOverlap ?? DEFAULT_CHUNK_OVERLAP, countTokens: count })) {
      out.push({ seq: out.length, line: d.line, charStart: c.charStart, charEnd: c.charEnd, byteStart: c.byteStart + d.byteBase, byteEnd: c.byteEnd + d.byteBase, tokens: c.tokens, hash: c.hash, text: c.text });
    }
  }
  if (opts.embedder) {
    const vecs = opts.embedder.embed(out.map((c) => c.text));
    out.forEach((c, i) => (c.embedding = vecs[i]));
  }
  return out;
}

function checkStore(store: RagStore, opts: IndexOptions): void {
  const want = storeMetaFor(opts);
  const diffs = (['embeddingModel', 'embeddingDim', 'tokenizerHash', 'chunkSize', 'chunkOverlap'] as const).filter((k) => want[k] !== store.meta[k]);
  if (diffs.length > 0)
    throw new GptforgeError(`this RAG store was built with other settings: ${diffs.map((k) => `${k} is ${JSON.stringify(store.meta[k])} in the store, ${JSON.stringify(want[k])} here`).join('; ')} (index into another --db, or rebuild this one with these settings: gptforge rag index --rebuild …)`, { file: store.path });
}

/** Index one already-read file (or a built-in corpus given as an IngestFile with a virtual path). */
export function indexIngestFile(store: RagStore, file: IngestFile, opts: IndexOptions = {}): { status: 'indexed' | 'unchanged'; chunks: number; removed: number; relabelled?: Relabel } {
  checkStore(store, opts);
  const source = opts.source ?? 'default';
  const old = store.file(file.path);
  if (old && old.hash === file.hash && old.source === source) {
    if (old.size !== file.size || old.mtimeMs !== file.mtimeMs) store.touchFile(file.path, file.size, file.mtimeMs);
    return { status: 'unchanged', chunks: 0, removed: 0 };
  }
  const chunks = chunkFile(file.docs, opts);
  const removed = store.replaceFile({ path: file.path, source, size: file.size, mtimeMs: file.mtimeMs, hash: file.hash }, chunks);
  return { status: 'indexed', chunks: chunks.length, removed, ...(old && old.source !== source ? { relabelled: { path: file.path, from: old.source, to: source } } : {}) };
}

/** Whether a file's documents hold no text at all (an empty or whitespace-only file, a JSONL file of empty fields). */
export function isEmptyFile(file: Pick<IngestFile, 'docs'>): boolean {
  return file.docs.every((d) => d.text.trim() === '');
}

/** The folders an input covers, resolved: a directory itself, a glob's fixed part before its first pattern segment; none for a file. */
function inputScopes(inputs: readonly string[]): string[] {
  const out: string[] = [];
  for (const input of inputs) {
    if (isDynamicPattern(input)) {
      const parts = input.split(/[\\/]/);
      const fixed = parts.slice(
        0,
        parts.findIndex((p) => isDynamicPattern(p)),
      );
      out.push(resolve(fixed.join('/') || '.'));
    } else if (existsSync(input) && lstatSync(input).isDirectory()) out.push(resolve(input));
  }
  return out;
}

/** Whether a path no longer exists (a dangling symlink exists: its reader says why it cannot be read). */
function gone(path: string): boolean {
  try {
    lstatSync(path);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR';
  }
}

/** A built-in corpus (or any documents) as one virtual file, e.g. path "builtin:wordnet-glosses"; its hash covers every text. */
export function documentsAsFile(path: string, docs: readonly { text: string; line?: number }[]): IngestFile {
  const h = contentHash(docs.map((d) => `${d.line ?? ''}\u0000${d.text}`).join('\u0001'));
  const size = docs.reduce((n, d) => n + Buffer.byteLength(d.text), 0);
  return { path, kind: 'text', size, mtimeMs: 0, hash: h, docs: docs.map((d) => ({ text: d.text, line: d.line, byteBase: 0 })) };
}

/** Index files, directories and globs into the store, incrementally (see the module comment). */
export async function indexInputs(store: RagStore, inputs: readonly string[], opts: IndexOptions = {}): Promise<IndexReport> {
  checkStore(store, opts);
  const t0 = performance.now();
  const report: IndexReport = { files: 0, indexed: 0, unchanged: 0, skipped: 0, empty: 0, pruned: 0, deleted: [], relabelled: [], chunks: 0, removed: 0, seconds: 0, warnings: [] };
  const source = opts.source ?? 'default';
  // a file is known by its real path: the same file named relatively and absolutely (or through
  // a symlink) is one record, kept under the path it was first indexed as (stores built before
  // this rule keep their keys; the path shown is the one given)
  const byReal = new Map<string, string>();
  for (const f of store.files()) {
    const rp = realPath(f.path);
    if (rp !== undefined && !byReal.has(rp)) byReal.set(rp, f.path);
  }
  const named = new Map<string, string>(); // store key → the path read
  for (const given of listInputFiles(inputs)) {
    const rp = realPath(given);
    const known = store.file(given) ? given : rp !== undefined ? byReal.get(rp) : undefined;
    const path = known ?? given;
    if (rp !== undefined && !byReal.has(rp)) byReal.set(rp, path);
    if (!named.has(path)) named.set(path, given);
  }
  const paths = [...named.keys()];
  const progress = (): void => opts.onProgress?.(report.files, named.size);
  for (const [path, given] of named) {
    report.files++;
    const old = store.file(path);
    if (old && old.source === source) {
      try {
        const st = statFile(given);
        if (st.size === old.size && st.mtimeMs === old.mtimeMs) {
          report.unchanged++;
          opts.onFile?.(path, 'unchanged', 0);
          progress();
          continue;
        }
      } catch {
        // unreadable now: readIngestFile below says why
      }
    }
    let file: IngestFile;
    try {
      file = { ...(await readIngestFile(given, { ...opts, onWarning: (w) => (report.warnings.push(w), opts.onWarning?.(w)) })), path };
    } catch (e) {
      if (opts.strict || !(e instanceof GptforgeError)) throw e;
      const w = { file: given, reason: e.message };
      report.skipped++;
      report.warnings.push(w);
      opts.onWarning?.(w);
      progress();
      continue;
    }
    if (isEmptyFile(file)) {
      // nothing to retrieve: not stored (a file emptied since it was indexed loses its chunks)
      report.empty++;
      if (old) report.removed += store.removeFile(path);
      progress();
      continue;
    }
    const r = indexIngestFile(store, file, opts);
    report[r.status]++;
    report.chunks += r.chunks;
    report.removed += r.removed;
    if (r.relabelled) report.relabelled.push(r.relabelled);
    opts.onFile?.(path, r.status, r.chunks);
    progress();
  }
  // files indexed before under an input folder or glob of this run, gone from the disk since: their chunks would cite a file
  // that is not there. Only under this run's inputs (a relative path resolved from the working directory): a store indexed
  // from another directory, or another folder's files, are left alone (--prune forgets those)
  const scopes = inputScopes(inputs);
  const seen = new Set(paths);
  for (const f of store.files()) {
    // whatever its label: a file gone from the disk is gone for every source
    if (seen.has(f.path) || f.path.startsWith('builtin:')) continue;
    const abs = resolve(f.path);
    if (scopes.some((d) => abs === d || abs.startsWith(d.endsWith(sep) ? d : d + sep)) && gone(f.path)) {
      report.removed += store.removeFile(f.path);
      report.deleted.push(f.path);
    }
  }
  if (opts.prune) {
    const keep = new Set(paths);
    for (const f of store.files()) {
      if (f.source === source && !keep.has(f.path) && !f.path.startsWith('builtin:')) {
        report.removed += store.removeFile(f.path);
        report.pruned++;
      }
    }
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}

/** The canonical path of a file on disk; undefined for a virtual path (builtin:…) or one that no longer exists. */
function realPath(path: string): string | undefined {
  if (path.startsWith('builtin:')) return undefined;
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/**
 * The context of the model a store counted with is likely to serve: the checkpoint beside
 * `tokenizerPath` (a checkpoint directory's config.json), else the smallest context among the
 * stages of the run it sits in (a run's tokenizer.json beside its stage folders, each's latest
 * checkpoint), with where it was read; undefined when none is found (a tokenizer on its own).
 */
export function contextNear(tokenizerPath: string): { blockSize: number; from: string } | undefined {
  const dir = dirname(tokenizerPath);
  const read = (ckpt: string): number | undefined => {
    try {
      const b = (JSON.parse(readFileSync(join(ckpt, 'config.json'), 'utf8')) as { model?: { blockSize?: unknown } }).model?.blockSize;
      return typeof b === 'number' && Number.isInteger(b) && b > 0 ? b : undefined;
    } catch {
      return undefined;
    }
  };
  const own = existsSync(join(dir, 'config.json')) ? read(dir) : undefined;
  if (own !== undefined) return { blockSize: own, from: dir };
  let best: { blockSize: number; from: string } | undefined;
  let stages: string[] = [];
  try {
    stages = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => join(dir, e.name))
      .sort();
  } catch {
    return undefined;
  }
  for (const stage of stages) {
    const ckpt = latestCheckpoint(stage);
    const b = ckpt ? read(ckpt) : undefined;
    if (b !== undefined && (!best || b < best.blockSize)) best = { blockSize: b, from: ckpt! };
  }
  return best;
}

/**
 * A warning when chunks of `chunkSize` tokens cannot be shown to a model reading `context`
 * tokens: a full chunk, its context-block line and a short question (about 16 tokens) and the
 * reply's default room (`defaultReplyTokens`, 3/16 of the context) do not fit, so `chat --rag`
 * would show no passage of that size. Undefined when they fit. The size it suggests, 3/8 of the
 * context (48 at 128, 96 at 256), leaves room for two such chunks or a longer question.
 * `names`: how the caller's face spells the chunk-size setting and the chat with retrieval —
 * {@link LIBRARY_NAMES} (default: `chunkSize`, `answerWithRetrieval`) or {@link CLI_NAMES}
 * (`--chunk-size`, `chat --rag`), so a library caller is not told a flag it has no use for.
 */
export function chunkSizeWarning(chunkSize: number, model: { blockSize: number; from: string }, names: ChunkSizeNames = LIBRARY_NAMES): string | undefined {
  const ctx = model.blockSize;
  if (chunkSize + 16 + defaultReplyTokens(ctx) <= ctx) return undefined;
  const suggested = Math.floor((ctx * 3) / 8);
  const reply = defaultReplyTokens(ctx);
  // chat --rag and the server figure their size for the question and reply at hand (often
  // larger, for a short question): say what this one assumes, so the two figures don't contradict
  return `${names.chunkSize} ${chunkSize} is too large for the ${ctx}-token context of ${model.from}: a full chunk beside a question and a ${reply}-token reply does not fit, so ${names.chat} would show no passage that size; index with ${names.chunkSize} ${suggested} or less (it leaves ${ctx - suggested - reply} tokens for a typical question with its passage block and ${reply} for the default reply; ${names.chat} and the server suggest a size for each question and reply asked, larger for a short question)`;
}

/**
 * The chunk size `rag index` takes when none is given and no store recorded one, for a model
 * whose context is `blockSize` tokens: the largest chunk that fits beside a short question
 * (16 tokens) and the default reply (defaultReplyTokens, 3/16 of the context) — the fit
 * {@link chunkSizeWarning} checks — at most DEFAULT_CHUNK_SIZE (192, what a 256-token context
 * gets; a longer context shows more passages rather than longer ones, which keeps BM25's and the
 * quote's unit a paragraph). DEFAULT_CHUNK_SIZE when the context is unknown.
 * @example defaultChunkSize(256) // 192; defaultChunkSize(128) // 88; defaultChunkSize(1024) // 192
 */
export function defaultChunkSize(blockSize: number | undefined): number {
  if (blockSize === undefined) return DEFAULT_CHUNK_SIZE;
  return Math.max(1, Math.min(DEFAULT_CHUNK_SIZE, blockSize - 16 - defaultReplyTokens(blockSize)));
}

/** How a face spells the chunk size and the chat with retrieval, for {@link chunkSizeWarning}. */
export interface ChunkSizeNames {
  chunkSize: string;
  chat: string;
}
/** The library's names: `IndexOptions.chunkSize`, `answerWithRetrieval`. */
export const LIBRARY_NAMES: ChunkSizeNames = { chunkSize: 'chunkSize', chat: 'answerWithRetrieval' };
/** The command line's: `rag index --chunk-size`, `chat --rag`. */
export const CLI_NAMES: ChunkSizeNames = { chunkSize: '--chunk-size', chat: 'chat --rag' };
