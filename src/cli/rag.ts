import { join } from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import { BUILTIN_NAMES } from '../data/builtin-names.js';
import type { IndexReport } from '../rag/indexer.js';
import type { RetrievedChunk } from '../rag/retrieve.js';
import type { SettingChange } from '../run/rag.js';
import { GptforgeError } from '../util/errors.js';
import { chunkLines } from '../rag/lines.js';
import { collect, number, positiveInteger } from '../util/args.js';

function need(value: string | undefined, flag: string): string {
  if (!value) throw new GptforgeError(`--${flag} is required`);
  return value;
}

const index = new Command('index')
  .summary('chunk files or built-in corpora into the store (incremental)')
  .description(
    "Read files (.txt .md .jsonl .parquet .html), directories, globs or built-in corpora; split them into overlapping chunks of at most --chunk-size tokens; store them for BM25 and, with --model, their embeddings. Re-running is incremental: unchanged files are skipped, changed files' chunks replaced, and the store keeps the chunking it was built with. See docs/rag.md.",
  )
  .argument('[inputs...]', 'more inputs, as --input')
  .option('-i, --input <path>', 'files, directories or globs (.txt .md .jsonl .parquet .html); repeatable', collect, [])
  .option('--builtin <corpus>', `a built-in corpus to index (${BUILTIN_NAMES.join(', ')}); repeatable`, collect, [])
  .option('--db <file>', 'the store (an SQLite file; created when missing)')
  .option('--model <ckpt>', 'embed chunks with this checkpoint (mean-pooled final hidden states); default: the one an existing store was built with; a new store without it is BM25-only')
  .option('--tokenizer <file>', "without --model: count chunk tokens with this tokenizer.json (default: an existing store's, else ≈4 characters a token)")
  .option('--source <label>', 'source label stored with the files (a query filter)', 'default')
  .option('--field <name>', 'JSONL field / Parquet column holding the text', 'text')
  .option(
    '--chunk-size <n>',
    "most tokens per chunk, counted by --model's or --tokenizer's tokenizer, else as ≈4 characters a token (default: an existing store's; else, with --model or a --tokenizer beside a checkpoint or run, the largest chunk that fits its context beside a short question and the default reply, at most 192 — 192 at 256 tokens, 88 at 128; else 192)",
    number,
  )
  .option('--chunk-overlap <n>', "tokens repeated from the previous chunk (default: an existing store's, else min(32, chunk size / 4))", number)
  .option('--strict', 'refuse binary or unreadable files instead of skipping them with a warning')
  .option('--prune', 'forget files of this source that no input names any more')
  .option('--rebuild', "rebuild the store with this run's settings (e.g. another --chunk-size or --tokenizer): the inputs are indexed into a new file that then replaces --db, so the old store stays whole if it fails; settings not given are the old store's")
  .option('--busy-timeout <ms>', 'ms to wait for another writer before failing', number, 5000)
  .option('--quiet', 'no progress bar (drawn on a terminal, and on a pipe for runs of 50 files or more, or with --model: embedding is slow)')
  .action(async (inputs, o) => {
    const db = need(o.db, 'db');
    const { ragIndex } = await import('../run/rag.js');
    const r = await ragIndex(db, { ...o, inputs: [...o.input, ...inputs], builtins: o.builtin, busyTimeoutMs: o.busyTimeout, names: 'cli', progress: !o.quiet, onWarning: (w) => console.error(`gptforge: warning: ${w.reason} — skipped`) });
    if (r.sizeWarning) console.error(`gptforge: warning: ${r.sizeWarning}`);
    for (const line of indexNotes(r)) console.error(`gptforge: warning: ${line}`);
    // a size not given, read off the model's context: said, with the flag that overrides it
    if (r.derivedChunkSize) console.error(`gptforge: chunks of ≤ ${r.derivedChunkSize.chunkSize} tokens, fitted to the ${r.derivedChunkSize.blockSize}-token context of ${r.derivedChunkSize.from} (--chunk-size overrides)`);
    console.log(
      `${db}: ${rebuiltSummary(r.rebuilt)}${r.files} file(s): ${r.indexed} indexed, ${r.unchanged} unchanged, ${r.skipped} skipped${r.empty ? `, ${r.empty} empty (not stored)` : ''}${r.deleted.length ? `, ${r.deleted.length} deleted since (removed)` : ''}${r.pruned ? `, ${r.pruned} pruned` : ''}; ` +
        `${r.chunks} chunks written (${r.removed} replaced or removed), ${r.total} in the store; ${r.seconds.toFixed(1)} s${r.chunks > 0 ? ` (${(r.chunks / r.seconds).toFixed(0)} chunks/s)` : ''}`,
    );
  });

/**
 * The head of `rag index --rebuild`'s summary: "rebuilt (chunk size 192 → 48, chunk overlap 32 → 12); ",
 * "rebuilt (same settings); ", or "" for a run that did not rebuild.
 * @example rebuiltSummary({ changed: [{ setting: 'chunk size', from: '192', to: '48' }] }) // 'rebuilt (chunk size 192 → 48); '
 */
export function rebuiltSummary(rebuilt: { changed: readonly SettingChange[] } | undefined): string {
  if (!rebuilt) return '';
  return `rebuilt (${rebuilt.changed.length === 0 ? 'same settings' : rebuilt.changed.map((c) => `${c.setting} ${c.from} → ${c.to}`).join(', ')}); `;
}

/**
 * What `rag index` warns about after a run: files gone from the disk (removed from the store),
 * and files relabelled by `--source` (grouped by their old label, with the flag that keeps it).
 * @example indexNotes({ deleted: ['notes/a.md'], relabelled: [] }) // ['notes/a.md: indexed before, no longer on disk — removed from the store']
 */
export function indexNotes(r: Pick<IndexReport, 'deleted' | 'relabelled'>): string[] {
  const out = r.deleted.map((p) => `${p}: indexed before, no longer on disk — removed from the store`);
  const byLabel = new Map<string, string[]>();
  for (const x of r.relabelled) byLabel.set(`${x.from}\u0000${x.to}`, [...(byLabel.get(`${x.from}\u0000${x.to}`) ?? []), x.path]);
  for (const [key, paths] of byLabel) {
    const [from, to] = key.split('\u0000');
    const shown = paths.slice(0, 3).join(', ') + (paths.length > 3 ? ` and ${paths.length - 3} more` : '');
    out.push(`${paths.length} file(s) indexed under source "${from}" now have source "${to}" (${shown}): a query with --source ${from} no longer finds them; index with --source ${from} to keep their label`);
  }
  return out;
}

const query = new Command('query')
  .summary('fetch the passages that best answer a question')
  .description(
    'Print the k chunks that best answer a question, best first, with their file, offsets (and line for JSONL/Parquet records) and score: by BM25, by the embedding model (vector), or both fused by reciprocal rank (hybrid); filters by source label and path glob; --json for the fields the server returns. See docs/rag.md (Retrieval).',
  )
  .argument('[question...]', 'the question')
  .option('--db <file>', 'the store')
  .option('-k, --k <n>', 'chunks to return', positiveInteger, 5)
  .addOption(new Option('--mode <mode>', 'bm25 | vector | hybrid (reciprocal rank fusion of both)').choices(['bm25', 'vector', 'hybrid'] as const).default('bm25' as const))
  .option('--model <ckpt>', 'embedding checkpoint for vector/hybrid (default: the one the store was built with)')
  .option('--source <label>', 'only chunks of this source label')
  .option('--path-glob <glob>', 'only chunks of files whose path matches this glob (* also crosses /)')
  .addOption(new Option('--path <glob>', 'deprecated: --path-glob').hideHelp())
  .option('--nprobe <n>', 'approximate vector search: scan this many IVF cells (default: exact)', positiveInteger)
  .option('--drop-frame-words', 'BM25: drop question-frame words (tell, kind, meaning, word…) from the query too — helps "What kind of thing is a base?" over a dictionary, may hurt queries where they are the topic (docs/rag.md)')
  .option('--rerank <run>', "rerank by this chat model's log p(question | passage) (a run, stage or checkpoint dir)")
  .option('--rerank-candidates <n>', 'chunks retrieved for --rerank', positiveInteger, 20)
  .option('--json', 'print JSON')
  .action(async (words, o) => {
    const { ragQuery } = await import('../run/rag.js');
    const hits = ragQuery(need(o.db, 'db'), words.join(' '), o);
    if (o.json) return void console.log(JSON.stringify(hits.map(hitJSON), null, 2));
    if (hits.length === 0) console.log('(no matching passages)');
    hits.forEach((h, i) => {
      // a whole file's chunk gets its lines counted in the file (null when it changed since indexing)
      const { line, line_end } = chunkLines(h);
      const lines = line === null ? '' : line_end !== null && line_end > line ? `:${line}–${line_end}` : `:${line}`;
      const where = `${h.path}${lines} [chars ${h.charStart}–${h.charEnd}]`;
      const body = h.text.replace(/\s+/g, ' ').trim();
      // the relative BM25 score beside the mode's: the one a relevance cutoff (--rag-min-score) compares, comparable across queries
      const relative = h.scores.bm25Relative !== undefined ? `, relative ${h.scores.bm25Relative.toFixed(3)}` : '';
      console.log(`[${i + 1}] ${where}  score ${h.score.toPrecision(4)}${relative}  (source ${h.source})\n    ${body.length > 400 ? body.slice(0, 400) + '…' : body}`);
    });
  });

/** An object's keys in snake_case, nested objects' too (`scores.bm25Relative` → `scores.bm25_relative`). */
function snakeKeys(o: object): Record<string, unknown> {
  const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [snake(k), v !== null && typeof v === 'object' && !Array.isArray(v) ? snakeKeys(v as object) : v]));
}

/**
 * A hit as `rag query --json` prints it: its fields in snake_case, as the server's API names them
 * (`char_start`, `byte_end`: OpenAI's style, src/server/rag.ts), nested ones too: `scores.bm25` (raw
 * −bm25(), not comparable across queries) and `scores.bm25_relative` (0…1, what `--rag-min-score` /
 * `rag.min_score` compare with).
 * @example hitJSON({ charStart: 0, scores: { bm25Relative: 0.8 }, … }) // { char_start: 0, scores: { bm25_relative: 0.8 }, … }
 */
export function hitJSON(h: RetrievedChunk): Record<string, unknown> {
  return snakeKeys(h);
}

const info = new Command('info')
  .summary('what a store holds and how it was built')
  .description('Print what a store holds and how it was built: its files and chunks, the embedding model (or BM25-only), the tokenizer and chunk size/overlap it counts with (re-indexing keeps them), and the chunks per source label. See docs/rag.md.')
  .argument('[db]', 'the store, as --db')
  .option('--db <file>', 'the store')
  .action(async (db, o) => console.log((await import('../run/rag.js')).ragInfo(need(o.db ?? db, 'db')).join('\n')));

const trainEmbedder = new Command('train-embedder')
  .summary('contrastive fine-tuning of a checkpoint as the embedder (then index --model <out>/embed)')
  .description(
    "Fine-tune a checkpoint into a retrieval embedder (SGPT's bi-encoder recipe): InfoNCE over in-batch negatives on (question, passage) pairs made from the knowledge families' train-split words, embedding by mean-pooled final hidden states. Writes an ordinary checkpoint to <out>/embed; index a store with --model <out>/embed to use it for vector and hybrid queries. See docs/rag.md (Embeddings).",
  )
  .option('--model <ckpt>', 'the checkpoint to start from (a run, stage or checkpoint dir)')
  .option('--out <dir>', 'run directory for the embedder (checkpoints in <out>/embed, metrics.jsonl)')
  .option('--steps <n>', 'optimizer steps', number, 400)
  .option('--batch-size <n>', "(question, passage) pairs per batch: each pair's in-batch negatives", number, 32)
  .option('--lr <x>', 'peak learning rate (cosine to lr/10)', number, 0.001)
  .option('--pairs <n>', 'pairs drawn from the train-split words', number, 8000)
  .option('--temperature <x>', 'InfoNCE softmax temperature', number, 0.05)
  .option('--seed <n>', 'pair and batch seed', number, 1)
  .option('--quiet', 'no progress bar')
  .action(async (o) => {
    const { ragTrainEmbedder } = await import('../run/rag.js');
    const ckpt = await ragTrainEmbedder(need(o.model, 'model'), need(o.out, 'out'), { ...o, log: (l) => console.error(l) });
    console.log(`wrote ${ckpt}: index with --model ${join(need(o.out, 'out'), 'embed')}`);
  });

export const command = new Command('rag')
  .summary('retrieval: index documents into an SQLite store (BM25 + embeddings), query it')
  .description("Retrieval: chunk, embed and store documents; fetch passages for a question. Re-running index is incremental: unchanged files are skipped, changed files' chunks replaced. See docs/rag.md.")
  .addHelpText(
    'after',
    `
Examples:
  gptforge rag index --input docs/ --db kb.db [--model runs/small] [--source notes]
  gptforge rag index --builtin wordnet-glosses --db kb.db
  gptforge rag index --input docs/ --db kb.db --rebuild --chunk-size 48 --tokenizer runs/tiny/tokenizer.json  (the store rebuilt with other settings)
  gptforge rag query --db kb.db "what does ephemeral mean?" [--mode bm25|vector|hybrid] [-k 5]
  gptforge rag info  --db kb.db
  gptforge rag train-embedder --model runs/small --out runs/small-embed
  gptforge chat --run runs/rag --rag kb.db --max-tokens 48   (answers from the passages, citing [1]; a 256-token context)
  gptforge chat --run runs/tiny --rag kb.db --max-tokens 24  (the tiny preset's 128-token context: index with --chunk-size 48)`,
  )
  .addCommand(index)
  .addCommand(query)
  .addCommand(info)
  .addCommand(trainEmbedder);
