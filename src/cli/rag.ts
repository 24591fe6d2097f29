import type { Command } from './command.js';
import { GptforgeError } from '../util/errors.js';
import { bool, formatHelp, num, parseArgs, str, strs, type FlagSpecs } from '../util/args.js';
import { BUILTIN_SOURCES } from '../data/sources.js';
import { Tokenizer } from '../tokenizer/index.js';
import { MeanPoolEmbedder, type Embedder } from '../rag/embed.js';
import { documentsAsFile, indexIngestFile, indexInputs, storeMetaFor, type IndexOptions, type IndexReport } from '../rag/indexer.js';
import { Retriever, type RetrievalMode } from '../rag/retrieve.js';
import { RagStore } from '../rag/store.js';
import { dictionaryPairs, trainEmbedder } from '../rag/contrastive.js';
import { join } from 'node:path';
import { answerWithRetrieval, formatCitations, type RagAnswerOptions } from '../rag/generate.js';
import type { ChatEngine, ChatReply } from '../infer/engine.js';
import type { Conversation } from '../data/conversation.js';

/** gptforge rag index|query|info — the retrieval store from the command line (src/rag). */
const INDEX: FlagSpecs = {
  input: { kind: 'strings', help: 'files, directories or globs (.txt .md .jsonl .parquet .html); repeatable', alias: 'i' },
  builtin: { kind: 'strings', help: `a built-in corpus to index (${Object.keys(BUILTIN_SOURCES).join(', ')}); repeatable` },
  db: { kind: 'string', help: 'the store (an SQLite file; created when missing)' },
  model: { kind: 'string', help: 'embed chunks with this checkpoint (mean-pooled final hidden states); without it the store is BM25-only' },
  tokenizer: { kind: 'string', help: 'without --model: count chunk tokens with this tokenizer.json (default: ≈4 characters a token)' },
  source: { kind: 'string', help: 'source label stored with the files (a query filter)', default: 'default' },
  field: { kind: 'string', help: 'JSONL field / Parquet column holding the text', default: 'text' },
  'chunk-size': { kind: 'number', help: 'most tokens per chunk', default: 192 },
  'chunk-overlap': { kind: 'number', help: 'tokens repeated from the previous chunk', default: 32 },
  strict: { kind: 'boolean', help: 'refuse binary or unreadable files instead of skipping them with a warning' },
  prune: { kind: 'boolean', help: 'forget files of this source that no input names any more' },
  'busy-timeout': { kind: 'number', help: 'ms to wait for another writer before failing', default: 5000 },
};
const QUERY: FlagSpecs = {
  db: { kind: 'string', help: 'the store' },
  k: { kind: 'number', help: 'chunks to return', default: 5, alias: 'k' },
  mode: { kind: 'string', help: 'bm25 | vector | hybrid (reciprocal rank fusion of both)', default: 'bm25' },
  model: { kind: 'string', help: 'embedding checkpoint for vector/hybrid (default: the one the store was built with)' },
  source: { kind: 'string', help: 'only chunks of this source label' },
  path: { kind: 'string', help: 'only chunks of files whose path matches this glob (* also crosses /)' },
  nprobe: { kind: 'number', help: 'approximate vector search: scan this many IVF cells (default: exact)' },
  json: { kind: 'boolean', help: 'print JSON' },
};
const INFO: FlagSpecs = { db: { kind: 'string', help: 'the store' } };
const TRAIN: FlagSpecs = {
  model: { kind: 'string', help: 'the checkpoint to start from (a run, stage or checkpoint dir)' },
  out: { kind: 'string', help: 'run directory for the embedder (checkpoints in <out>/embed, metrics.jsonl)' },
  steps: { kind: 'number', help: 'optimizer steps', default: 400 },
  'batch-size': { kind: 'number', help: '(question, passage) pairs per batch: each pair\'s in-batch negatives', default: 32 },
  lr: { kind: 'number', help: 'peak learning rate (cosine to lr/10)', default: 0.001 },
  pairs: { kind: 'number', help: 'pairs drawn from the train-split words', default: 8000 },
  temperature: { kind: 'number', help: 'InfoNCE softmax temperature', default: 0.05 },
  seed: { kind: 'number', help: 'pair and batch seed', default: 1 },
  quiet: { kind: 'boolean', help: 'no progress bar' },
};

const HELP = `gptforge rag — retrieval: chunk, embed and store documents; fetch passages for a question

  gptforge rag index --input docs/ --db kb.db [--model runs/small] [--source notes]
  gptforge rag index --builtin wordnet-glosses --db kb.db
  gptforge rag query --db kb.db "what does ephemeral mean?" [--mode bm25|vector|hybrid] [-k 5]
  gptforge rag info  --db kb.db
  gptforge rag train-embedder --model runs/small --out runs/small-embed   (contrastive; then index --model runs/small-embed)
  gptforge chat --run runs/rag --rag kb.db --max-tokens 48                (answers from the passages, citing [1])

Re-running index is incremental: unchanged files are skipped, changed files' chunks replaced.
Run "gptforge rag <sub> --help" for the options. See docs/rag.md.`;

function need(value: string | undefined, flag: string): string {
  if (!value) throw new GptforgeError(`--${flag} is required`);
  return value;
}

async function index(argv: string[]): Promise<void> {
  const a = parseArgs(argv, INDEX, 'rag index');
  const db = need(str(a, 'db'), 'db');
  const inputs = [...strs(a, 'input'), ...a.positionals];
  const builtins = strs(a, 'builtin');
  if (inputs.length === 0 && builtins.length === 0) throw new GptforgeError('nothing to index: give --input files, directories or globs, or --builtin <corpus>');
  for (const b of builtins) if (!BUILTIN_SOURCES[b]) throw new GptforgeError(`unknown built-in corpus "${b}" (one of: ${Object.keys(BUILTIN_SOURCES).join(', ')})`, { field: 'builtin' });
  const embedder: Embedder | undefined = str(a, 'model') ? MeanPoolEmbedder.fromCheckpoint(str(a, 'model')!) : undefined;
  const tok = !embedder && str(a, 'tokenizer') ? Tokenizer.load(str(a, 'tokenizer')!) : undefined;
  const opts: IndexOptions = {
    source: str(a, 'source'),
    field: str(a, 'field'),
    strict: bool(a, 'strict'),
    prune: bool(a, 'prune'),
    chunkSize: num(a, 'chunk-size'),
    chunkOverlap: num(a, 'chunk-overlap'),
    embedder,
    countTokens: tok ? (t: string) => tok.encodeOrdinary(t).length : undefined,
    tokenizerHash: tok?.hash(),
    onWarning: (w) => console.error(`gptforge: warning: ${w.reason} — skipped`),
  };
  const store = RagStore.open(db, { meta: storeMetaFor(opts), busyTimeoutMs: num(a, 'busy-timeout') });
  try {
    const t0 = performance.now();
    let report: IndexReport = { files: 0, indexed: 0, unchanged: 0, skipped: 0, pruned: 0, chunks: 0, removed: 0, seconds: 0, warnings: [] };
    if (inputs.length > 0) report = await indexInputs(store, inputs, opts);
    for (const b of builtins) {
      const docs = [...BUILTIN_SOURCES[b].read()].map((d, i) => ({ text: d.text, line: i + 1 }));
      const r = indexIngestFile(store, documentsAsFile(`builtin:${b}`, docs), { ...opts, source: str(a, 'source') === 'default' ? b : str(a, 'source') });
      report.files++;
      report[r.status]++;
      report.chunks += r.chunks;
      report.removed += r.removed;
    }
    const s = (performance.now() - t0) / 1000;
    console.log(
      `${db}: ${report.files} file(s): ${report.indexed} indexed, ${report.unchanged} unchanged, ${report.skipped} skipped${report.pruned ? `, ${report.pruned} pruned` : ''}; ` +
        `${report.chunks} chunks written (${report.removed} replaced), ${store.count()} in the store; ${s.toFixed(1)} s${report.chunks > 0 ? ` (${(report.chunks / s).toFixed(0)} chunks/s)` : ''}`,
    );
  } finally {
    store.close();
  }
}

async function query(argv: string[]): Promise<void> {
  const a = parseArgs(argv, QUERY, 'rag query');
  const db = need(str(a, 'db'), 'db');
  const text = a.positionals.join(' ').trim();
  if (!text) throw new GptforgeError('no query given (gptforge rag query --db kb.db "your question")');
  const mode = str(a, 'mode') as RetrievalMode;
  if (!['bm25', 'vector', 'hybrid'].includes(mode)) throw new GptforgeError(`--mode must be bm25, vector or hybrid, not "${mode}"`, { field: 'mode' });
  const store = RagStore.open(db, { readonly: true });
  try {
    let embedder: Embedder | undefined;
    if (mode !== 'bm25') {
      if (store.meta.embeddingDim === 0) throw new GptforgeError(`--mode ${mode} needs embeddings; this store was built without --model`, { file: db });
      const model = str(a, 'model') ?? store.meta.embeddingPath;
      if (!model) throw new GptforgeError('the store does not say where its embedding model is: give --model', { file: db });
      embedder = MeanPoolEmbedder.fromCheckpoint(model);
    }
    const hits = new Retriever(store, embedder).retrieve(text, { k: num(a, 'k'), mode, nprobe: num(a, 'nprobe'), filter: { source: str(a, 'source'), pathGlob: str(a, 'path') } });
    if (bool(a, 'json')) {
      console.log(JSON.stringify(hits, null, 2));
      return;
    }
    if (hits.length === 0) console.log('(no matching passages)');
    hits.forEach((h, i) => {
      const where = `${h.path}${h.line !== undefined ? `:${h.line}` : ''} [chars ${h.charStart}–${h.charEnd}]`;
      const body = h.text.replace(/\s+/g, ' ').trim();
      console.log(`[${i + 1}] ${where}  score ${h.score.toPrecision(4)}  (${h.source})\n    ${body.length > 400 ? body.slice(0, 400) + '…' : body}`);
    });
  } finally {
    store.close();
  }
}

function info(argv: string[]): void {
  const a = parseArgs(argv, INFO, 'rag info');
  const db = need(str(a, 'db') ?? a.positionals[0], 'db');
  const store = RagStore.open(db, { readonly: true });
  try {
    const m = store.meta;
    const files = store.files();
    console.log(`${db}: ${files.length} file(s), ${store.count()} chunks`);
    console.log(`embedding model: ${m.embeddingModel}${m.embeddingDim ? ` (dim ${m.embeddingDim}${m.embeddingPath ? `, ${m.embeddingPath}` : ''})` : ''}`);
    console.log(`tokenizer: ${m.tokenizerHash}; chunks of ≤ ${m.chunkSize} tokens, overlap ${m.chunkOverlap}`);
    const bySource = new Map<string, number>();
    for (const f of files) bySource.set(f.source, (bySource.get(f.source) ?? 0) + 1);
    console.log(`sources: ${[...bySource].map(([s, n]) => `${s} (${n})`).join(', ') || 'none'}`);
  } finally {
    store.close();
  }
}

async function trainEmbedderCmd(argv: string[]): Promise<void> {
  const a = parseArgs(argv, TRAIN, 'rag train-embedder');
  const from = MeanPoolEmbedder.fromCheckpoint(need(str(a, 'model'), 'model'));
  const out = need(str(a, 'out'), 'out');
  const lr = num(a, 'lr')!;
  const steps = num(a, 'steps')!;
  const cfg = { maxSteps: steps, lr, minLr: lr / 10, warmupSteps: Math.min(20, Math.ceil(steps / 10)), weightDecay: 0, beta1: 0.9, beta2: 0.95, gradClip: 1, gradAccum: 1, evalEvery: 0, checkpointEvery: Math.max(1, Math.ceil(steps / 4)), keepLast: 2, logEvery: 10 };
  const pairs = dictionaryPairs(num(a, 'pairs')!, num(a, 'seed')!);
  console.error(`contrastive fine-tuning of ${from.path} on ${pairs.length} (question, passage) pairs, batches of ${num(a, 'batch-size')}, ${steps} steps`);
  const r = await trainEmbedder(from.model, from.tokenizer, cfg, {
    pairs,
    batchSize: num(a, 'batch-size')!,
    temperature: num(a, 'temperature'),
    seed: num(a, 'seed'),
    runDir: out,
    stageDir: join(out, 'embed'),
    quiet: bool(a, 'quiet'),
    tokenizerJSON: from.tokenizer.toJSON(),
    tokenizerHash: from.tokenizer.hash(),
  });
  console.log(`wrote ${r.checkpoint ?? join(out, 'embed')}: index with --model ${join(out, 'embed')}`);
}

/** `gptforge chat --rag kb.db`: a BM25 retriever over the store (read-only; closed at exit). */
export function openRagRetriever(db: string): Retriever {
  return new Retriever(RagStore.open(db, { readonly: true }));
}

/**
 * One chat turn answered from retrieved passages: the reply streamed to stdout, then the
 * sources its "[n]" citations name (stderr, one line each). Returns the engine's reply,
 * whose messages continue the conversation (the plain question stays in the history).
 */
export function ragTurn(engine: ChatEngine, retriever: Retriever, conv: Conversation, opts: RagAnswerOptions): ChatReply {
  const a = answerWithRetrieval(engine, retriever, conv, { ...opts, onText: (d) => process.stdout.write(d) });
  process.stdout.write('\n');
  if (a.passages.length === 0) console.error('(no passages retrieved: the model answered without any)');
  const lines = formatCitations(a);
  if (lines.length > 0) console.error(`sources:\n  ${lines.join('\n  ')}`);
  else if (a.passages.length > 0) console.error(`(no citation; passages shown: ${a.passages.map((p, i) => `[${i + 1}] ${p.path}${p.line !== undefined ? `:${p.line}` : ''}`).join(', ')})`);
  return a.reply;
}

export const command: Command = {
  summary: 'retrieval: index documents into an SQLite store (BM25 + embeddings), query it',
  async run(argv: string[]): Promise<void> {
    const [sub, ...rest] = argv;
    if (!sub || sub === '--help' || sub === '-h') return void console.log(HELP);
    const specs = sub === 'index' ? INDEX : sub === 'query' ? QUERY : sub === 'info' ? INFO : sub === 'train-embedder' ? TRAIN : null;
    if (!specs) throw new GptforgeError(`unknown subcommand "${sub}" (index, query, info, train-embedder)`);
    if (rest.includes('--help') || rest.includes('-h')) return void console.log(formatHelp(`gptforge rag ${sub} [options]`, HELP, specs));
    if (sub === 'index') await index(rest);
    else if (sub === 'query') await query(rest);
    else if (sub === 'train-embedder') await trainEmbedderCmd(rest);
    else info(rest);
  },
};
