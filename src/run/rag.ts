import { existsSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BUILTIN_SOURCES } from '../data/sources.js';
import { dictionaryPairs, trainEmbedder } from '../rag/contrastive.js';
import { MeanPoolEmbedder, type Embedder } from '../rag/embed.js';
import { chunkSizeWarning, CLI_NAMES, LIBRARY_NAMES, contextNear, defaultChunkSize, documentsAsFile, indexIngestFile, indexInputs, storeMetaFor, type IndexOptions, type IndexReport } from '../rag/indexer.js';
import { passageTitles } from '../rag/generate.js';
import { ModelReranker } from '../rag/rerank.js';
import { Retriever, type RetrievalMode, type RetrievedChunk } from '../rag/retrieve.js';
import { GPT } from '../model/gpt.js';
import { loadModel } from './models.js';
import { DEFAULT_CHUNK_OVERLAP } from '../rag/chunk.js';
import { loadCheckpoint, withResolvedCheckpoint } from '../model/checkpoint.js';
import { RagStore, type StoreMeta } from '../rag/store.js';
import { Tokenizer } from '../tokenizer/index.js';
import { GptforgeError } from '../util/errors.js';
import { Progress } from '../util/progress.js';

/**
 * The retrieval store's operations as the faces call them (`gptforge rag index|query|info|
 * train-embedder`): each opens the SQLite store (src/rag/store.ts), does one thing, closes it.
 */
export interface RagIndexOptions extends Omit<IndexOptions, 'embedder' | 'countTokens' | 'tokenizerHash'> {
  /** Files, directories or globs. */
  inputs?: readonly string[];
  /** How the returned `sizeWarning` names the chunk size and the chat with retrieval: `'library'` (default: `chunkSize`, `answerWithRetrieval`) or `'cli'` (`--chunk-size`, `chat --rag`; `gptforge rag index`). */
  names?: 'library' | 'cli';
  /** Built-in corpora to index (BUILTIN_SOURCES), each under its own source label unless `source` is set. */
  builtins?: readonly string[];
  /** Embed chunks with this checkpoint (mean-pooled final hidden states); default: the one an existing store was built with; a new store without it is BM25-only. */
  model?: string;
  /** Without `model`: count chunk tokens with this tokenizer.json (default: the one an existing store recorded, else ≈ 4 characters a token). */
  tokenizer?: string;
  /** Milliseconds to wait for another writer. */
  busyTimeoutMs?: number;
  /**
   * Rebuild the store with these settings (`rag index --rebuild`): the inputs are indexed into a
   * new store beside it (`<db>.rebuild-<pid>`), which then replaces it; the old store is left
   * as it was when that fails. Settings not given default to the old store's (its --model or
   * --tokenizer; its chunking unless `chunkSize` is given), as a re-index does — what differs is
   * that other settings are not refused, and files no input names are gone.
   */
  rebuild?: boolean;
  /**
   * A progress bar on stderr (util/progress.ts), a file at a time: `true` draws it when stderr is a
   * terminal, or on a pipe (a line every 10%) when the run has at least {@link PROGRESS_MIN_FILES}
   * files or embeds with `model` (9 chunks/s on the small preset's model on 2 loaded cores: 23 files
   * of docs took 6 minutes, silent on a pipe before); a stream draws it there by the same rule. Default: none (the library stays quiet).
   */
  progress?: boolean | NodeJS.WriteStream;
}

/** Files from which `ragIndex`'s progress bar also prints on a pipe (a shorter run on a pipe is quick, and its log stays one line — unless it embeds with a model). */
export const PROGRESS_MIN_FILES = 50;

/** The settings an existing store recorded (its embedding checkpoint — undefined for a BM25-only store — and chunking). */
function recordedMeta(db: string): StoreMeta | undefined {
  // an empty database (what a failed RagStore.open left before it refused ahead of creating the file) is a new store, not a refusal
  if (RagStore.isEmptyDatabase(db)) return undefined;
  const store = RagStore.open(db, { readonly: true });
  try {
    return store.meta;
  } finally {
    store.close();
  }
}

/** One setting a `rag index --rebuild` changed, as the summary shows it ("chunk size 192 → 48"). */
export interface SettingChange {
  setting: 'chunk size' | 'chunk overlap' | 'tokenizer' | 'embedding model';
  from: string;
  to: string;
}

/** What `ragIndex` returns: the run's report, the store's chunk count after it, and what it decided. */
export interface RagIndexResult extends IndexReport {
  total: number;
  /** chunkSizeWarning's sentence, when a full chunk cannot be shown beside a question and reply. */
  sizeWarning?: string;
  /** The chunk size was not given and derived from the model's context (defaultChunkSize): the size, the context and where it was read. */
  derivedChunkSize?: { chunkSize: number; blockSize: number; from: string };
  /** A rebuild (`rebuild` with an existing store): the settings it changed, old → new (empty when none did). */
  rebuilt?: { changed: SettingChange[] };
}

/** A store's settings as a rebuild summary names them. */
function settingsShown(m: StoreMeta): Record<SettingChange['setting'], string> {
  return {
    'chunk size': String(m.chunkSize),
    'chunk overlap': String(m.chunkOverlap),
    tokenizer: m.tokenizerPath ?? (m.tokenizerHash === 'approx' ? '≈4 characters a token' : m.embeddingPath ? `${m.embeddingPath}'s` : `hash ${m.tokenizerHash.slice(0, 12)}`),
    'embedding model': m.embeddingModel === 'none' ? 'none (BM25 only)' : (m.embeddingPath ?? m.embeddingModel),
  };
}

/** The settings that differ between two stores' meta, in the summary's order, old → new. */
export function settingChanges(old: StoreMeta, now: StoreMeta): SettingChange[] {
  const [a, b] = [settingsShown(old), settingsShown(now)];
  return (Object.keys(a) as SettingChange['setting'][]).filter((k) => a[k] !== b[k]).map((setting) => ({ setting, from: a[setting], to: b[setting] }));
}

/** The context (blockSize) of the checkpoint `path` names (a checkpoint, stage or run directory, resolved as the embedder loads it), without reading its weights. */
function checkpointContext(path: string): { blockSize: number; from: string } {
  return withResolvedCheckpoint(path, undefined, (dir) => ({ blockSize: loadCheckpoint(dir, { weights: false }).meta.model.blockSize, from: dir }));
}

/**
 * Index files and built-in corpora into the store `db` (created when missing); incremental:
 * unchanged files are skipped, changed files' chunks replaced. A new store without `chunkSize`
 * gets chunks sized to the model's context when one is known (`model`, or the checkpoint or run
 * beside `tokenizer`: defaultChunkSize, 192 at 256 tokens, 88 at 128), else DEFAULT_CHUNK_SIZE.
 * @returns the report, the store's chunk count after it, the derived chunk size, a rebuild's changed settings.
 * @throws GptforgeError when nothing is given to index, for an unknown corpus, or a bad input (naming it).
 */
export async function ragIndex(db: string, o: RagIndexOptions): Promise<RagIndexResult> {
  const inputs = o.inputs ?? [];
  const builtins = o.builtins ?? [];
  if (inputs.length === 0 && builtins.length === 0) throw new GptforgeError('nothing to index: give --input files, directories or globs, or --builtin <corpus>');
  for (const b of builtins) if (!BUILTIN_SOURCES[b]) throw new GptforgeError(`unknown built-in corpus "${b}" (one of: ${Object.keys(BUILTIN_SOURCES).join(', ')})`, { field: 'builtin' });
  // re-indexing a store: the settings it recorded (its embedding checkpoint, as `rag query` does, and its chunking)
  const recorded = existsSync(db) ? recordedMeta(db) : undefined;
  const model = o.model ?? (!o.tokenizer ? recorded?.embeddingPath : undefined);
  // and its --tokenizer: the recorded path, else (a store from before paths were recorded) say which to pass
  const tokenizer = o.tokenizer ?? (!model ? recorded?.tokenizerPath : undefined);
  if (!model && !tokenizer && recorded && recorded.tokenizerHash !== 'approx') throw new GptforgeError(`this store counts chunk tokens with a tokenizer (hash ${recorded.tokenizerHash.slice(0, 12)}…): pass the same --tokenizer <tokenizer.json> it was built with`, { file: db, field: 'tokenizer' });
  // not given, nor recorded by the store: sized to the context of the model the store is read with, when known
  const context = o.chunkSize === undefined && recorded === undefined ? (model ? checkpointContext(model) : tokenizer ? contextNear(tokenizer) : undefined) : undefined;
  const chunkSize = o.chunkSize ?? recorded?.chunkSize ?? defaultChunkSize(context?.blockSize);
  // an overlap not given follows the size: the recorded one, or the default scaled down for small chunks
  const chunkOverlap = o.chunkOverlap ?? (o.chunkSize === undefined ? recorded?.chunkOverlap : undefined) ?? Math.min(DEFAULT_CHUNK_OVERLAP, Math.floor(chunkSize / 4));
  // checked before the store is created: a failed first run leaves no store behind
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new GptforgeError(`chunk size must be a whole number of tokens ≥ 1, got ${chunkSize}`, { field: 'chunkSize' });
  if (!Number.isInteger(chunkOverlap) || chunkOverlap < 0 || chunkOverlap >= chunkSize) throw new GptforgeError(`chunk overlap must be a whole number of tokens in [0, chunk size ${chunkSize}), got ${chunkOverlap}`, { field: 'chunkOverlap' });
  if (o.rebuild && recorded) {
    const tmp = `${db}.rebuild-${process.pid}`;
    for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`, `${tmp}-journal`]) rmSync(f, { force: true });
    // a new store (its failure removes it, ragIndex's rule for a first run), the old one untouched until it is complete
    const r = await ragIndex(tmp, { ...o, rebuild: false, model, tokenizer, chunkSize, chunkOverlap });
    // the old store's journal files go first: SQLite would otherwise apply a stale -wal to the new file
    for (const f of [`${db}-wal`, `${db}-shm`, `${db}-journal`]) rmSync(f, { force: true });
    renameSync(tmp, db);
    // the new store's settings, read once it is in place (reading the temporary file would leave its -wal and -shm behind)
    const now = recordedMeta(db);
    return { ...r, rebuilt: { changed: now ? settingChanges(recorded, now) : [] } };
  }
  const embedder: Embedder | undefined = model ? MeanPoolEmbedder.fromCheckpoint(model) : undefined;
  const tok = !embedder && tokenizer ? Tokenizer.load(tokenizer) : undefined;
  const opts: IndexOptions = { ...o, chunkSize, chunkOverlap, embedder, countTokens: tok ? (t: string) => tok.encodeOrdinary(t).length : undefined, tokenizerHash: tok?.hash(), tokenizerPath: tok ? resolve(tokenizer!) : undefined };
  const created = !existsSync(db);
  const store = RagStore.open(db, { meta: storeMetaFor(opts), busyTimeoutMs: o.busyTimeoutMs });
  let failed = true;
  try {
    const t0 = performance.now();
    let report: IndexReport = { files: 0, indexed: 0, unchanged: 0, skipped: 0, empty: 0, pruned: 0, deleted: [], relabelled: [], chunks: 0, removed: 0, seconds: 0, warnings: [] };
    // the bar counts files (inputs, then each built-in corpus as one), made once their number is known
    const stream = o.progress === true ? process.stderr : o.progress || undefined;
    let bar: Progress | undefined;
    let written = 0;
    const tick = (done: number, total: number): void => {
      if (!stream) return;
      bar ??= new Progress({ label: 'index', total, unit: 'file', stream, quiet: !stream.isTTY && total < PROGRESS_MIN_FILES && !embedder });
      bar.update(done, `${written} chunks`);
    };
    if (inputs.length > 0) {
      const n = builtins.length;
      report = await indexInputs(store, inputs, { ...opts, onProgress: (done, total) => tick(done, total + n), onFile: (path, status, chunks) => ((written += chunks), o.onFile?.(path, status, chunks)) });
    }
    const base = report.files;
    for (const [i, b] of builtins.entries()) {
      const docs = [...BUILTIN_SOURCES[b].read()].map((d, i) => ({ text: d.text, line: i + 1 }));
      const r = indexIngestFile(store, documentsAsFile(`builtin:${b}`, docs), { ...opts, source: o.source === undefined || o.source === 'default' ? b : o.source });
      report.files++;
      report[r.status]++;
      report.chunks += r.chunks;
      report.removed += r.removed;
      if (r.relabelled) report.relabelled.push(r.relabelled);
      written += r.chunks;
      tick(base + i + 1, base + builtins.length);
    }
    bar?.finish(`${written} chunks`);
    // chunks the model this store is likely read with cannot show (its context known from --model, or the checkpoint or run beside --tokenizer)
    const near = embedder ? { blockSize: embedder.maxTokens, from: model! } : tokenizer ? contextNear(tokenizer) : undefined;
    const sizeWarning = near ? chunkSizeWarning(chunkSize, near, o.names === 'cli' ? CLI_NAMES : LIBRARY_NAMES) : undefined;
    const derived = context && o.chunkSize === undefined ? { derivedChunkSize: { chunkSize, blockSize: context.blockSize, from: context.from } } : {};
    const done: RagIndexResult = { ...report, seconds: (performance.now() - t0) / 1000, total: store.count(), ...(sizeWarning ? { sizeWarning } : {}), ...derived };
    failed = false;
    return done;
  } finally {
    store.close();
    // a first run that failed (an input that does not exist, a bad file with --strict) leaves no
    // empty store behind: the next run would otherwise take its settings for recorded ones
    if (failed && created) for (const f of [db, `${db}-wal`, `${db}-shm`, `${db}-journal`]) rmSync(f, { force: true });
  }
}

/** Options of `ragQuery`. */
export interface RagQueryOptions {
  k?: number;
  /** bm25 (default) | vector | hybrid (reciprocal rank fusion of both). */
  mode?: RetrievalMode;
  /** Embedding checkpoint for vector/hybrid (default: the one the store was built with). */
  model?: string;
  /** Only chunks of this source label. */
  source?: string;
  /**
   * Only chunks of files whose path matches this SQLite GLOB (`*` also crosses `/`; case-sensitive),
   * as `SearchFilter.pathGlob` and `gptforge rag query --path-glob`.
   */
  pathGlob?: string;
  /** @deprecated The old name of `pathGlob` (it read as a path, not a pattern); still honoured, an error when both are given and differ. */
  path?: string;
  /** Approximate vector search: scan this many IVF cells (default: exact). */
  nprobe?: number;
  /** Drop question-frame words ("tell", "kind", "meaning"…) from the BM25 query too (default false; store.ts QueryOptions). */
  dropFrameWords?: boolean;
  /** Rerank by this chat model (a run, stage or checkpoint dir): its query likelihood log p(question | passage) orders `rerankCandidates` retrieved chunks (rag/rerank.ts). */
  rerank?: string;
  /** Chunks retrieved for the reranker (default 20). */
  rerankCandidates?: number;
}

/** `pathGlob`, or its deprecated alias `path`; both, and different: an error naming both. */
function pathGlobOption(o: RagQueryOptions): string | undefined {
  if (o.path !== undefined && o.pathGlob !== undefined && o.path !== o.pathGlob) {
    throw new GptforgeError(`both pathGlob ("${o.pathGlob}") and its deprecated alias path ("${o.path}") given: give pathGlob (--path-glob) only`, { field: 'pathGlob' });
  }
  return o.pathGlob ?? o.path;
}

/**
 * The chunks of store `db` that best answer `text`.
 * @throws GptforgeError for an empty query, an unknown mode, vector search on a store without embeddings, or `pathGlob` and `path` both given and different.
 */
export function ragQuery(db: string, text: string, o: RagQueryOptions = {}): RetrievedChunk[] {
  if (!text.trim()) throw new GptforgeError('no query given (gptforge rag query --db kb.db "your question")');
  const mode = o.mode ?? 'bm25';
  if (!['bm25', 'vector', 'hybrid'].includes(mode)) throw new GptforgeError(`--mode must be bm25, vector or hybrid, not "${mode}"`, { field: 'mode' });
  const store = RagStore.open(db, { readonly: true });
  try {
    let embedder: Embedder | undefined;
    if (mode !== 'bm25') {
      if (store.meta.embeddingDim === 0) throw new GptforgeError(`--mode ${mode} needs embeddings; this store was built without --model`, { file: db });
      const model = o.model ?? store.meta.embeddingPath;
      if (!model) throw new GptforgeError('the store does not say where its embedding model is: give --model', { file: db });
      embedder = MeanPoolEmbedder.fromCheckpoint(model);
    }
    const retriever = new Retriever(store, embedder);
    const filter = { source: o.source, pathGlob: pathGlobOption(o) };
    if (o.rerank === undefined) return retriever.retrieve(text.trim(), { k: o.k, mode, nprobe: o.nprobe, filter, dropFrameWords: o.dropFrameWords });
    const { model, tok, dir } = loadModel(o.rerank);
    if (!(model instanceof GPT)) throw new GptforgeError('--rerank needs a float (unquantized) checkpoint', { file: dir });
    const k = o.k ?? 5;
    const candidates = retriever.retrieve(text.trim(), { k: Math.max(k, o.rerankCandidates ?? 20), mode, nprobe: o.nprobe, filter, dropFrameWords: o.dropFrameWords });
    return new ModelReranker(model, tok).rerank(text.trim(), candidates, passageTitles(store)).slice(0, k);
  } finally {
    store.close();
  }
}

/** A store's contents and settings as text lines (`gptforge rag info`). */
export function ragInfo(db: string): string[] {
  const store = RagStore.open(db, { readonly: true });
  try {
    const m = store.meta;
    const files = store.files();
    const bySource = new Map<string, number>();
    for (const f of files) bySource.set(f.source, (bySource.get(f.source) ?? 0) + 1);
    return [
      `${db}: ${files.length} file(s), ${store.count()} chunks`,
      `embedding model: ${m.embeddingModel}${m.embeddingDim ? ` (dim ${m.embeddingDim}${m.embeddingPath ? `, ${m.embeddingPath}` : ''})` : ''}`,
      `tokenizer: ${m.tokenizerHash}; chunks of ≤ ${m.chunkSize} tokens, overlap ${m.chunkOverlap}`,
      `sources: ${[...bySource].map(([s, n]) => `${s} (${n})`).join(', ') || 'none'}`,
    ];
  } finally {
    store.close();
  }
}

/** Options of `ragTrainEmbedder` (src/rag/contrastive.ts). */
export interface RagTrainEmbedderOptions {
  steps: number;
  /** (question, passage) pairs per batch: each pair's in-batch negatives. */
  batchSize: number;
  /** Peak learning rate (cosine to lr/10). */
  lr: number;
  /** Pairs drawn from the train-split words. */
  pairs: number;
  /** InfoNCE softmax temperature. */
  temperature?: number;
  seed: number;
  quiet?: boolean;
  log?(line: string): void;
}

/**
 * Contrastive fine-tuning of checkpoint `model` as an embedder on dictionary (question,
 * passage) pairs, into `<out>/embed`. @returns the checkpoint written.
 */
export async function ragTrainEmbedder(model: string, out: string, o: RagTrainEmbedderOptions): Promise<string> {
  const from = MeanPoolEmbedder.fromCheckpoint(model);
  const cfg = { maxSteps: o.steps, lr: o.lr, minLr: o.lr / 10, warmupSteps: Math.min(20, Math.ceil(o.steps / 10)), weightDecay: 0, beta1: 0.9, beta2: 0.95, gradClip: 1, gradAccum: 1, evalEvery: 0, checkpointEvery: Math.max(1, Math.ceil(o.steps / 4)), keepLast: 2, logEvery: 10 };
  const pairs = dictionaryPairs(o.pairs, o.seed);
  o.log?.(`contrastive fine-tuning of ${from.path} on ${pairs.length} (question, passage) pairs, batches of ${o.batchSize}, ${o.steps} steps`);
  const r = await trainEmbedder(from.model, from.tokenizer, cfg, {
    pairs,
    batchSize: o.batchSize,
    temperature: o.temperature,
    seed: o.seed,
    runDir: out,
    stageDir: join(out, 'embed'),
    quiet: o.quiet,
    tokenizerJSON: from.tokenizer.toJSON(),
    tokenizerHash: from.tokenizer.hash(),
  });
  return r.checkpoint ?? join(out, 'embed');
}
