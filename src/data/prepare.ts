import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWriteFile } from '../util/atomic.js';
import { GptforgeError } from '../util/errors.js';
import { Progress } from '../util/progress.js';
import { Rng, streamSeed } from '../engine/rng.js';
import { encodeBatch, type Tokenizer } from '../tokenizer/index.js';
import { cleanDocuments, DEFAULT_CLEAN, type CleanReport } from './clean.js';
import { resolveSourcePaths, validateMixture, type MixtureConfig } from './mixture.js';
import { preloadParquet, readSource, validateSource, type Doc, type SourceReadOptions } from './sources.js';

/**
 * `data prepare`: read → clean → hold out validation documents → tokenize (worker threads,
 * in bounded batches) → write token shards. Each document is stored as
 * <|bos|> tokens… <|eos|>, so packing never has to add boundaries later.
 *
 * Files in the data directory:
 *   index.json                        sources, token counts, mixture table, tokenizer hash
 *   <source>.<split>.bin              little-endian uint16 tokens (uint32 when vocab > 65,535)
 *   <source>.<split>.idx              uint32 offsets of each document's first token (+ the end)
 * Every file is written under a temp name and renamed; index.json is written last, so an
 * interrupted prepare is simply redone. Re-running with the same inputs and tokenizer
 * reuses the shards (content hash); a different tokenizer invalidates them.
 */
const DATA_FORMAT_VERSION = 1;

export interface SourceIndex {
  name: string;
  weight: number;
  clean: CleanReport;
  train: { docs: number; tokens: number };
  val: { docs: number; tokens: number; bytes: number };
  /** Set when the source kept one document: its tail was held out as validation (`splitOneDocument`). */
  valFromTail?: boolean;
  /** Share of training tokens and epochs within the budget (the mixture table). */
  proportion: number;
  epochs: number;
}

export interface DataIndex {
  version: number;
  contentHash: string;
  tokenizerHash: string;
  vocabSize: number;
  dtype: 'uint16' | 'uint32';
  bosId: number;
  eosId: number;
  tokenBudget: number;
  seed: number;
  sources: SourceIndex[];
}

export interface PrepareOptions {
  /** The mixture's file, named in errors about the mixture or a source (default "mixture config"). */
  mixtureFile?: string;
  quiet?: boolean;
  /** Tokenizer worker threads (default: all cores). */
  threads?: number;
  /** Each source's report line and cleaning warnings (default: stderr; the line is not written when `quiet`, a warning is). */
  log?(line: string): void;
  /** A source file that is not text (binary, UTF-16, …): an error naming it (default) or `skip` with a warning naming it (`data prepare --on-bad skip`). */
  onBad?: 'error' | 'skip';
  /** How source files are read (shared with the tokenizer's sample, so a skipped file is warned of once); default from `onBad` and `log`. */
  sourceRead?: SourceReadOptions;
}

/** How many skipped lines of a file its warning names (the rest are counted). */
export const SKIPPED_LINES_SHOWN = 5;

/** `sourceReadOptions`' reader, which also says which JSONL lines it skipped. */
export interface PrepareSourceRead extends SourceReadOptions {
  /**
   * One warning per file with bad JSONL lines skipped since the last call (each file once):
   * `data: warning: skipped 7 bad lines of a.jsonl (--on-bad skip): line 3: …; line 5: …; … and 2 more`.
   * `prepareData` calls it after reading each source whole.
   */
  skippedLineWarnings(): string[];
}

/**
 * How `data prepare` reads its sources' files: `onBad` skip leaves out a file that is not text,
 * each warned of once by `warn`, and a JSONL line that is not JSON or lacks the text field,
 * counted per file (skippedLineWarnings); otherwise the error says how to skip it.
 */
export function sourceReadOptions(onBad: 'error' | 'skip' | undefined, warn: (line: string) => void): PrepareSourceRead {
  if (onBad !== undefined && onBad !== 'error' && onBad !== 'skip') throw new GptforgeError(`--on-bad must be "error" or "skip", got ${JSON.stringify(onBad)}`, { field: 'onBad' });
  const warned = new Set<string>();
  // the sources are read more than once (checked, sampled for the tokenizer, prepared): each line once
  const badLines = new Map<string, Map<number, string>>();
  const linesWarned = new Set<string>();
  return {
    onBad,
    hint: 'data prepare --on-bad skip leaves such a file out with a warning',
    lineHint: 'data prepare --on-bad skip leaves bad lines out with a warning counting them',
    onSkip: (file, reason) => {
      if (warned.has(file)) return;
      warned.add(file);
      warn(`data: warning: skipped ${file} (--on-bad skip): ${reason}`);
    },
    onSkipLine: (file, line, reason) => {
      const m = badLines.get(file) ?? new Map<number, string>();
      badLines.set(file, m);
      if (!m.has(line)) m.set(line, reason);
    },
    skippedLineWarnings: () => {
      const out: string[] = [];
      for (const [file, m] of badLines) {
        if (linesWarned.has(file)) continue;
        linesWarned.add(file);
        const lines = [...m].sort((a, b) => a[0] - b[0]);
        const shown = lines.slice(0, SKIPPED_LINES_SHOWN).map(([l, r]) => `line ${l}: ${r}`);
        const more = lines.length - shown.length;
        out.push(`data: warning: skipped ${lines.length} bad line${lines.length === 1 ? '' : 's'} of ${file} (--on-bad skip): ${shown.join('; ')}${more > 0 ? `; … and ${more} more` : ''}`);
      }
      return out;
    },
  };
}

function contentHash(config: MixtureConfig, tokenizer: Tokenizer): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ v: DATA_FORMAT_VERSION, sources: config.sources, budget: config.tokenBudget, seed: config.seed ?? 1337, val: config.valFraction ?? 0.01, clean: config.clean ?? {} }));
  h.update(tokenizer.hash());
  return h.digest('hex').slice(0, 16);
}

export function readDataIndex(dir: string): DataIndex {
  const p = join(dir, 'index.json');
  if (!existsSync(p)) throw new GptforgeError('no index.json: run "gptforge data prepare" first', { file: dir });
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as DataIndex;
  } catch (e) {
    throw new GptforgeError(`corrupt data index: ${(e as Error).message}`, { file: p });
  }
}

/** Share of a one-document source's text held out at least (10%); `valFraction` when larger. */
export const ONE_DOCUMENT_VAL_SHARE = 0.1;

/**
 * Split a source's only document into [training head, validation tail]: the tail is about
 * max(`valFraction`, 10%) of its characters, cut at the last line break (else the last space)
 * in the second half before that point so no word or line is split, else at the point itself
 * (never inside a surrogate pair). Both parts are non-empty for any text of ≥ 2 characters.
 */
export function splitOneDocument(text: string, valFraction: number): [string, string] {
  const chars = [...text];
  const share = Math.min(0.5, Math.max(valFraction, ONE_DOCUMENT_VAL_SHARE));
  const at = Math.min(chars.length - 1, Math.max(1, Math.round(chars.length * (1 - share))));
  const half = Math.floor(chars.length / 2);
  let cut = at;
  for (const sep of ['\n', ' ']) {
    const i = chars.lastIndexOf(sep, at);
    if (i >= half && i > 0) {
      cut = i;
      break;
    }
  }
  const head = chars.slice(0, cut).join('').trimEnd();
  const tail = chars.slice(cut).join('').trimStart();
  return head && tail ? [head, tail] : [chars.slice(0, at).join(''), chars.slice(at).join('')];
}

/** Stream token arrays into a temp file, then rename: no half shard is ever visible. */
class ShardWriter {
  private readonly fd: number;
  private readonly tmp: string;
  tokens = 0;
  readonly offsets: number[] = [0];
  constructor(
    private readonly path: string,
    private readonly dtype: 'uint16' | 'uint32',
  ) {
    this.tmp = `${path}.tmp-${process.pid}`;
    this.fd = openSync(this.tmp, 'w');
  }
  addDoc(ids: ArrayLike<number>, bos: number, eos: number): void {
    const n = ids.length + 2;
    const arr = this.dtype === 'uint16' ? new Uint16Array(n) : new Uint32Array(n);
    arr[0] = bos;
    for (let i = 0; i < ids.length; i++) arr[i + 1] = ids[i];
    arr[n - 1] = eos;
    const bytes = new Uint8Array(arr.buffer);
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
    this.tokens += n;
    this.offsets.push(this.tokens);
  }
  finish(): void {
    fsyncSync(this.fd);
    closeSync(this.fd);
    renameSync(this.tmp, this.path);
    atomicWriteFile(this.path.replace(/\.bin$/, '.idx'), new Uint8Array(Uint32Array.from(this.offsets).buffer));
  }
  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    rmSync(this.tmp, { force: true });
  }
}

export async function prepareData(config: MixtureConfig, outDir: string, tokenizer: Tokenizer, opts: PrepareOptions = {}): Promise<DataIndex> {
  validateMixture(config, opts.mixtureFile);
  if (opts.mixtureFile) resolveSourcePaths(config, opts.mixtureFile, { strict: true }); // a path found nowhere, named with both places looked
  await preloadParquet(config.sources); // async read of .parquet columns (also checks the column exists)
  const say = opts.log ?? ((l: string) => console.error(l));
  const read = opts.sourceRead ?? sourceReadOptions(opts.onBad, say);
  for (const s of config.sources) validateSource(s, read);
  const hash = contentHash(config, tokenizer);
  const indexPath = join(outDir, 'index.json');
  if (existsSync(indexPath)) {
    const old = readDataIndex(outDir);
    const complete = old.sources.every((s) => ['train', 'val'].every((sp) => existsSync(join(outDir, `${s.name}.${sp}.bin`))));
    // shards from before one-document sources were split validated such a source on its own training text
    const oldOneDoc = old.sources.some((s) => s.clean.docsKept === 1 && !s.valFromTail);
    if (old.contentHash === hash && complete && !oldOneDoc) {
      if (!opts.quiet) console.error(`data: ${outDir} is up to date (content hash ${hash}), reusing its shards`);
      return old;
    }
    const why = old.contentHash === hash && complete ? `a one-document source in ${outDir} validated on its training text (prepared before its tail was held out)` : `inputs or tokenizer changed since ${outDir} was prepared`;
    if (!opts.quiet) console.error(`data: ${why}; rebuilding`);
    // the old index would otherwise vouch for a mix of old and new shards if this rebuild fails
    rmSync(indexPath, { force: true });
  }
  mkdirSync(outDir, { recursive: true });
  for (const f of readdirSync(outDir)) if (f.includes('.tmp-')) rmSync(join(outDir, f), { force: true });
  const dtype = tokenizer.vocabSize > 65_535 ? 'uint32' : 'uint16';
  const bos = tokenizer.specialId('<|bos|>');
  const eos = tokenizer.specialId('<|eos|>');
  const seed = config.seed ?? 1337;
  const valFraction = config.valFraction ?? 0.01;
  const cleanOpts = { ...DEFAULT_CLEAN, ...config.clean };
  const sources: SourceIndex[] = [];

  for (const [si, src] of config.sources.entries()) {
    const t0 = performance.now();
    const docsRead: Doc[] = [];
    for (const d of readSource(src, read)) docsRead.push(d);
    for (const w of (read as Partial<PrepareSourceRead>).skippedLineWarnings?.() ?? []) say(w);
    const { docs, report } = cleanDocuments(docsRead, cleanOpts);
    if (docs.length === 0) throw new GptforgeError(`source "${src.name}" yields no text after cleaning (${report.docsIn} documents in, ${report.tooShort} too short, ${report.duplicates} duplicates)`, { file: opts.mixtureFile ?? 'mixture config', field: `sources[${si}]` });
    // hold out ~1% of documents (at least one, and at least one left for training)
    const nVal = docs.length < 2 ? 0 : Math.max(1, Math.round(valFraction * docs.length));
    const perm = new Rng(streamSeed(seed, si + 1)).permutation(docs.length);
    const valSet = new Set(perm.slice(0, nVal));
    const splits = { train: docs.filter((_, i) => !valSet.has(i)), val: docs.filter((_, i) => valSet.has(i)) };
    let tailNote = '';
    if (docs.length === 1) {
      // one document: validating on the training text would measure memorisation, so its tail is held out instead
      const [head, tail] = splitOneDocument(docs[0].text, valFraction);
      splits.train = [{ ...docs[0], text: head }];
      splits.val = [{ ...docs[0], text: tail }];
      tailNote = ` (one document kept: its last ${[...tail].length} of ${[...docs[0].text].length} characters are the validation split)`;
    }
    const counts = { train: { docs: 0, tokens: 0 }, val: { docs: 0, tokens: 0, bytes: 0 } };
    for (const split of ['train', 'val'] as const) {
      const list = splits[split];
      const writer = new ShardWriter(join(outDir, `${src.name}.${split}.bin`), dtype);
      const bar = new Progress({ label: `tokenize ${src.name}/${split}`, total: list.length, unit: 'doc', quiet: opts.quiet || list.length < 50 });
      try {
        // bounded batches (≈ 4 MB of text) keep memory flat whatever the corpus size
        for (let i = 0; i < list.length; ) {
          let j = i;
          let bytes = 0;
          while (j < list.length && (bytes < 4_000_000 || j === i)) bytes += list[j++].text.length;
          const texts = list.slice(i, j).map((d) => d.text);
          const encoded = await encodeBatch(tokenizer, texts, { threads: opts.threads });
          for (const ids of encoded) writer.addDoc(ids, bos, eos);
          if (split === 'val') counts.val.bytes += texts.reduce((s, t) => s + Buffer.byteLength(t), 0);
          i = j;
          bar.update(i);
        }
        writer.finish();
      } catch (e) {
        writer.abort();
        throw e;
      }
      bar.finish();
      counts[split].docs = list.length;
      counts[split].tokens = writer.tokens;
    }
    sources.push({ name: src.name, weight: src.weight, clean: report, train: counts.train, val: counts.val, ...(tailNote ? { valFromTail: true } : {}), proportion: 0, epochs: 0 });
    // what cleaning dropped, as index.json records it ("too short" counts the pieces empty after cleaning too)
    const dropped = `${report.duplicates} duplicate${report.duplicates === 1 ? '' : 's'}, ${report.tooShort} too short${report.boilerplateLines ? `, ${report.boilerplateLines} boilerplate lines removed` : ''}`;
    if (!opts.quiet) say(`data: ${src.name}: ${report.docsIn} docs in, ${report.docsKept} kept (${mb(report.bytesKept)} of ${mb(report.bytesIn)} MB; dropped: ${dropped}), ${counts.train.tokens} train + ${counts.val.tokens} val tokens${tailNote}, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const lost = lossWarning(src.name, docsRead, docs, report, dropped);
    if (lost) say(lost);
  }
  const totalW = sources.reduce((s, x) => s + x.weight, 0);
  for (const s of sources) {
    s.proportion = s.weight / totalW;
    s.epochs = (s.proportion * config.tokenBudget) / s.train.tokens;
  }
  const index: DataIndex = { version: DATA_FORMAT_VERSION, contentHash: hash, tokenizerHash: tokenizer.hash(), vocabSize: tokenizer.vocabSize, dtype, bosId: bos, eosId: eos, tokenBudget: config.tokenBudget, seed, sources };
  atomicWriteFile(indexPath, JSON.stringify(index, null, 2));
  return index;
}

const mb = (bytes: number): string => (bytes / 1e6).toFixed(bytes > 0 && bytes < 1e5 ? 3 : 1);

/**
 * A warning when cleaning kept under 10% of a source's bytes (a newcomer's 2 MB one-line file was
 * cut into pieces and most dropped as duplicates, one report line saying only "0.1 MB kept"):
 * the source's drop counts and the files that lost most, each with its bytes in → kept. Null otherwise.
 */
function lossWarning(name: string, read: readonly Doc[], kept: readonly Doc[], report: CleanReport, dropped: string): string | null {
  if (report.bytesIn === 0 || report.bytesKept >= 0.1 * report.bytesIn) return null;
  const files = new Map<string, { in: number; kept: number }>();
  for (const d of read) {
    const f = files.get(d.file) ?? { in: 0, kept: 0 };
    f.in += Buffer.byteLength(d.text);
    files.set(d.file, f);
  }
  for (const d of kept) files.get(d.file)!.kept += Buffer.byteLength(d.text);
  const worst = [...files].filter(([, f]) => f.kept < 0.1 * f.in).sort((a, b) => b[1].in - b[1].kept - (a[1].in - a[1].kept));
  const shown = worst.slice(0, 5).map(([file, f]) => `${file} (${mb(f.in)} MB → ${mb(f.kept)} MB)`);
  const more = worst.length > shown.length ? ` and ${worst.length - shown.length} more` : '';
  return `data: warning: ${name}: cleaning kept ${mb(report.bytesKept)} of ${mb(report.bytesIn)} MB (${((100 * report.bytesKept) / report.bytesIn).toFixed(1)}%; dropped: ${dropped}); most lost in ${shown.join(', ')}${more}: check those files (duplicate or short pieces; the mixture's clean.minChars and clean.maxChars)`;
}

/** The LLaMA-style table: source, proportion, epochs, size, text and documents kept (a note explains split documents). */
export function mixtureTable(index: DataIndex): string {
  const rows = index.sources.map((s) => [s.name, `${(100 * s.proportion).toFixed(1)}%`, s.epochs.toFixed(2), `${(s.train.tokens / 1e6).toFixed(2)}M tok`, `${(s.clean.bytesKept / 1e6).toFixed(1)} MB`, `${s.clean.docsIn}→${s.clean.docsKept}`]);
  const head = ['source', 'proportion', 'epochs', 'train size', 'text kept', 'docs in→out'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  // cleaning drops documents (duplicates, too short) and splits long ones, so "out" can exceed "in"
  const note = 'docs in→out: documents read → after cleaning (duplicates and short ones dropped; one longer than maxChars, default 50,000 characters, split into pieces, so out can exceed in)';
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line), note, `budget: ${(index.tokenBudget / 1e6).toFixed(2)}M training tokens, vocabulary ${index.vocabSize} (${index.dtype} shards)`].join('\n');
}

/** Up to maxBytes of the mixture's text, drawn from each source in proportion to its weight: the tokenizer's training sample. */
export function* sampleTrainingText(config: MixtureConfig, maxBytes: number, read: SourceReadOptions = {}): Iterable<string> {
  validateMixture(config);
  const totalW = config.sources.reduce((s, x) => s + x.weight, 0);
  for (const src of config.sources) {
    const budget = (maxBytes * src.weight) / totalW;
    let taken = 0;
    for (const d of readSource(src, read)) {
      if (taken >= budget) break;
      const t = d.text.slice(0, Math.max(0, budget - taken));
      taken += t.length;
      yield t;
    }
  }
}
