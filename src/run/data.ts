import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { loadMixtureConfig, type MixtureConfig } from '../data/mixture.js';
import { mixtureTable, prepareData, sampleTrainingText, sourceReadOptions, type DataIndex } from '../data/prepare.js';
import type { SourceReadOptions } from '../data/sources.js';
import { readJSONL, readTextFile } from '../data/jsonl.js';
import { DIGIT_PAIRS, Tokenizer, trainTokenizer } from '../tokenizer/index.js';
import { patternName, resolvePattern } from '../tokenizer/patterns.js';
import { atomicWriteFile } from '../util/atomic.js';
import { GptforgeError } from '../util/errors.js';
import { expandInputs } from '../util/files.js';
import { holdRunLock } from '../util/lock.js';
import { presetsDir } from './presets.js';
import { Progress } from '../util/progress.js';

type TokenizerSection = NonNullable<MixtureConfig['tokenizer']>;

/** What a mixture's `tokenizer` section asked for, as recorded beside a tokenizer trained from it. */
interface TokenizerRequest {
  vocabSize: number;
  pattern: string;
  digitPairs: boolean;
}

function requestOf(spec: TokenizerSection): TokenizerRequest {
  return { vocabSize: spec.vocabSize, pattern: spec.pattern ?? 'gpt4', digitPairs: spec.digitPairs ?? false };
}

/**
 * Where the request a tokenizer was trained from is recorded: `tokenizer.json` →
 * `tokenizer.mixture.json` beside it. Only `pretrain`/`data prepare` write it, so a tokenizer
 * from `tokenizer train` or another run has none.
 */
export function tokenizerRequestPath(path: string): string {
  return join(dirname(path), `${basename(path).replace(/\.json$/, '')}.mixture.json`);
}

const showPattern = (p: string): string => patternName(resolvePattern(p)) ?? JSON.stringify(p);

/**
 * How the run's tokenizer differs from the mixture's `tokenizer` section: `vocabSize 512 → 1024`
 * entries, empty when they agree. With a recorded request (a tokenizer trained from a mixture)
 * the request is compared — merging may stop below the size asked, which is no difference;
 * without one only what the tokenizer shows (its size and pre-split pattern).
 */
function tokenizerDiffs(path: string, tok: Tokenizer, want: TokenizerRequest): { diffs: string[]; recorded: boolean } {
  const reqPath = tokenizerRequestPath(path);
  let had: TokenizerRequest | undefined;
  if (existsSync(reqPath)) {
    try {
      had = JSON.parse(readFileSync(reqPath, 'utf8')) as TokenizerRequest;
    } catch {
      had = undefined; // unreadable: judged by what the tokenizer shows
    }
  }
  const diffs: string[] = [];
  const pat = (p: string): string => resolvePattern(p);
  if (had) {
    if (had.vocabSize !== want.vocabSize) diffs.push(`vocabSize ${had.vocabSize} → ${want.vocabSize}`);
    if (pat(had.pattern) !== pat(want.pattern)) diffs.push(`pattern ${showPattern(had.pattern)} → ${showPattern(want.pattern)}`);
    if (had.digitPairs !== want.digitPairs) diffs.push(`digitPairs ${had.digitPairs} → ${want.digitPairs}`);
  } else {
    if (tok.vocabSize !== want.vocabSize) diffs.push(`vocabSize ${tok.vocabSize} → ${want.vocabSize}`);
    if (tok.mode === 'bpe' && tok.pattern !== pat(want.pattern)) diffs.push(`pattern ${showPattern(tok.pattern)} → ${showPattern(want.pattern)}`);
  }
  return { diffs, recorded: had !== undefined };
}

/** Options of `prepareTokenizer`. */
export interface PrepareTokenizerOptions {
  /**
   * Retrain when the run's tokenizer was trained from another `tokenizer` section (`pretrain
   * --fresh`: the model starts over, so it may take a new vocabulary) instead of refusing.
   */
  retrain?: boolean;
  /** How to retrain, named in the refusal (default `pretrain --fresh`). */
  wayOut?: string;
  /** Hides progress bars only: warnings still go to `onWarning` (or `log`). */
  quiet?: boolean;
  log?: (line: string) => void;
  /** Warnings (a tokenizer used as is though the mixture asks another); default `log`. */
  onWarning?: (line: string) => void;
  /** How the mixture's source files are read for the sample (`data prepare --on-bad`). */
  sourceRead?: SourceReadOptions;
}

/**
 * The run's tokenizer at `path`, or — when missing — a byte-level BPE trained on a sample of the
 * mixture (`config.tokenizer`: vocabulary size, pre-split pattern, digit pairs, sample bytes),
 * NOT yet saved: call `commit()` once the data it serves is good (a failed run leaves no
 * tokenizer behind for the next to reuse). `commit` writes it and, beside it, the request it
 * was trained from (`tokenizerRequestPath`).
 * @throws GptforgeError when the run's tokenizer was trained from a different `tokenizer`
 * section (naming each difference and the way out) unless `retrain`; a tokenizer without a
 * recorded request (`tokenizer train`, copied) that differs is used with a warning.
 */
export function prepareTokenizer(path: string, config: MixtureConfig, opts: PrepareTokenizerOptions = {}): { tokenizer: Tokenizer; trained: boolean; commit(): void } {
  const spec = config.tokenizer ?? { vocabSize: 4096 };
  const want = requestOf(spec);
  if (existsSync(path)) {
    const tok = Tokenizer.load(path);
    if (config.tokenizer === undefined) return { tokenizer: tok, trained: false, commit: () => undefined };
    const { diffs, recorded } = tokenizerDiffs(path, tok, want);
    if (diffs.length === 0) return { tokenizer: tok, trained: false, commit: () => undefined };
    // a BPE with no merge at all (bytes and specials only) is what an older gptforge saved when
    // the mixture's only source yielded no text: judged as one trained from the mixture
    const noMerges = tok.mode === 'bpe' && tok.vocabSize <= 256 + tok.specialTokens.size;
    if (!recorded && !noMerges) {
      (opts.onWarning ?? opts.log)?.(`tokenizer: warning: ${path} is not what the mixture's "tokenizer" section asks (${diffs.join(', ')}); it was not trained from a mixture here (tokenizer train, or copied), so it is used as is — delete it to train one from the mixture`);
      return { tokenizer: tok, trained: false, commit: () => undefined };
    }
    if (!opts.retrain)
      throw new GptforgeError(
        `the run's tokenizer ${noMerges && !recorded ? 'has no merges (saved by a run whose data failed?) and differs from' : 'was trained from another "tokenizer" section than'} the mixture's (${diffs.join(', ')}); the run's data and checkpoints are tied to it, so it is not retrained silently: ${opts.wayOut ?? '`pretrain --fresh` retrains it and starts the model over'}, or train in a new run directory to keep this one`,
        { file: path, field: 'tokenizer' },
      );
    opts.log?.(`tokenizer: the mixture's "tokenizer" section changed (${diffs.join(', ')}): retraining ${path}`);
  }
  const sample = [...sampleTrainingText(config, spec.sampleBytes ?? 8_000_000, opts.sourceRead)];
  const bytes = sample.reduce((s, t) => s + t.length, 0);
  opts.log?.(`tokenizer: training a ${spec.vocabSize}-token BPE on ${(bytes / 1e6).toFixed(1)} MB of the mixture`);
  const bar = new Progress({ label: 'tokenizer', total: Math.max(1, spec.vocabSize - 270), unit: 'merge', quiet: opts.quiet });
  const tok = trainTokenizer(sample, { vocabSize: spec.vocabSize, pattern: spec.pattern, requiredTokens: spec.digitPairs ? DIGIT_PAIRS : [], onProgress: (d) => bar.update(d) });
  bar.finish();
  return {
    tokenizer: tok,
    trained: true,
    commit: () => {
      // the tokenizer first: a kill between the two leaves it beside the older request (refused
      // or retrained next time) or none (judged by what it shows) — never an old tokenizer
      // beside a new request, which would pass for what the mixture asks
      tok.save(path);
      atomicWriteFile(tokenizerRequestPath(path), `${JSON.stringify(want, null, 2)}\n`);
    },
  };
}

/**
 * `prepareTokenizer` saved at once: the run's tokenizer, trained from the mixture when missing.
 * Shared by library users; `pretrain` and `data prepare` save only after the data is prepared.
 */
export function ensureTokenizer(path: string, config: MixtureConfig, opts: PrepareTokenizerOptions = {}): Tokenizer {
  const t = prepareTokenizer(path, config, opts);
  t.commit();
  return t.tokenizer;
}

/**
 * The default mixture: presets/mixture.default.json, the one the default preset (`small`) trains on
 * (prose, books, dictionary, encyclopedia, novel, mail, code) — the file is the single source, so
 * `data prepare` without `--config` and `pretrain --preset small` build the same shards.
 * @param tokenBudget replaces the file's token budget when given.
 * @throws GptforgeError when the file is missing or malformed (naming it and the field).
 */
export function defaultMixtureConfig(tokenBudget?: number): MixtureConfig {
  const config = loadMixtureConfig(join(presetsDir(), 'mixture.default.json'));
  return tokenBudget === undefined ? config : { ...config, tokenBudget };
}

/** Options of `runDataPrepare`. */
export interface RunDataPrepareOptions {
  /** Mixture config (or its JSON file); default `defaultMixtureConfig()`, presets/mixture.default.json (the small preset's). */
  mixture?: MixtureConfig | string;
  /** tokenizer.json to use, trained from the mixture when missing; default `<out>/../tokenizer.json`. */
  tokenizer?: string;
  /** Tokenizer worker threads (default: all cores). */
  threads?: number;
  quiet?: boolean;
  log?(line: string): void;
  /** Warnings, shown even when `log` is off (`--quiet`); default `log`. */
  onWarning?(line: string): void;
  /** A source file that is not text (binary, UTF-16, …): an error naming it (default) or `skip`, warned of by name (`--on-bad skip`). */
  onBad?: 'error' | 'skip';
}

/**
 * `data prepare`: clean, mix and tokenize the mixture's sources into token shards in `out`
 * (src/data/prepare.ts), training the tokenizer first when it is missing. Holds the lock of the
 * run `out` belongs to (its parent directory).
 * @returns the shards' index, its mixture table and the tokenizer path.
 * @throws GptforgeError for a bad mixture or source (naming file and field), or a locked run.
 */
export async function runDataPrepare(out: string, opts: RunDataPrepareOptions = {}): Promise<{ index: DataIndex; table: string; tokenizer: string }> {
  const config = typeof opts.mixture === 'string' ? loadMixtureConfig(opts.mixture) : (opts.mixture ?? defaultMixtureConfig());
  const tokenizer = opts.tokenizer ?? join(dirname(out), 'tokenizer.json');
  holdRunLock(dirname(out), 'run', { create: true });
  const sourceRead = sourceReadOptions(opts.onBad, (w) => (opts.onWarning ?? opts.log ?? ((l: string) => console.error(l)))(w));
  const tok = prepareTokenizer(tokenizer, config, { ...opts, sourceRead, wayOut: `delete ${tokenizer} to retrain it (the run's checkpoints will no longer resume), or \`pretrain --fresh\`` });
  const index = await prepareData(config, out, tok.tokenizer, { quiet: opts.quiet, threads: opts.threads, mixtureFile: typeof opts.mixture === 'string' ? opts.mixture : undefined, sourceRead });
  tok.commit(); // only now: a failed prepare leaves no tokenizer for the next run to reuse
  return { index, table: mixtureTable(index), tokenizer };
}

/** Options of `runTokenizerTrain` (see `trainTokenizer` for their meaning). */
export interface RunTokenizerTrainOptions {
  /** Files, directories or globs of .txt, .md, .jsonl ("text" field) and .text files. */
  inputs: readonly string[];
  vocabSize: number;
  /** Pre-split pattern name or regex; default gpt4. */
  pattern?: string;
  mode?: 'bpe' | 'char';
  /** Make all 100 two-digit strings tokens first. */
  digitPairs?: boolean;
  /** No special tokens. */
  noSpecials?: boolean;
  /** Read at most this many bytes of input (0 = all). */
  maxBytes?: number;
  quiet?: boolean;
  log?(line: string): void;
}

function readTextInputs(files: readonly string[], maxBytes: number): string[] {
  const texts: string[] = [];
  let total = 0;
  for (const f of files) {
    if (f.endsWith('.jsonl')) {
      // the shared reader: BOM, CRLF/CR, encodings refused by name (src/data/jsonl.ts)
      readJSONL(f, 'input', (rec, where) => {
        const t = (rec as { text?: unknown } | null)?.text;
        if (typeof t !== 'string') throw new GptforgeError('no string "text" field', { ...where, field: 'text' });
        texts.push(t);
        total += Buffer.byteLength(t);
      });
    } else {
      const raw = readTextFile(f, 'input');
      texts.push(raw);
      total += Buffer.byteLength(raw);
    }
    if (maxBytes > 0 && total >= maxBytes) break;
  }
  return texts;
}

/**
 * `tokenizer train`: a tokenizer trained on text files, saved to `out` (the lock of the run
 * `out` lies in is held). @returns the tokenizer, its bytes/token on (up to 2 MB of) the
 * training text and the wall seconds.
 * @throws GptforgeError when no input is given or an input is missing or unreadable (naming it).
 */
export function runTokenizerTrain(out: string, opts: RunTokenizerTrainOptions): { tokenizer: Tokenizer; bytesPerToken: number; seconds: number } {
  holdRunLock(dirname(out), 'run', { create: true });
  if (opts.inputs.length === 0) throw new GptforgeError('no --input given (files, directories or globs of text)');
  const files = expandInputs(opts.inputs, { extensions: ['.txt', '.md', '.jsonl', '.text'] });
  const texts = readTextInputs(files, opts.maxBytes ?? 0);
  const bytes = texts.reduce((s, t) => s + Buffer.byteLength(t), 0);
  const mode = opts.mode ?? 'bpe';
  opts.log?.(`training a ${mode} tokenizer on ${files.length} file(s), ${(bytes / 1e6).toFixed(1)} MB`);
  // created on the first report, which carries the real number of merges (it depends on the specials)
  let bar: Progress | undefined;
  const t0 = performance.now();
  const tok = trainTokenizer(texts, {
    vocabSize: opts.vocabSize,
    mode,
    pattern: opts.pattern,
    specialTokens: opts.noSpecials ? [] : undefined,
    requiredTokens: opts.digitPairs ? DIGIT_PAIRS : undefined,
    onProgress: (done, total) => (bar ??= new Progress({ label: 'merges', total: Math.max(1, total), quiet: opts.quiet })).update(done),
  });
  bar?.finish();
  // BPE stops when no pair of adjacent tokens is left to merge: every pre-split word is one token
  if (mode === 'bpe' && tok.vocabSize < opts.vocabSize)
    opts.log?.(`note: merging stopped at a vocabulary of ${tok.vocabSize}, below --vocab-size ${opts.vocabSize}: every word of the training text (as the pre-split pattern cuts it) is already a single token, so no pair is left to merge; more (or more varied) text gives more merges`);
  tok.save(out);
  const sample = texts.join('\n').slice(0, 2_000_000);
  return { tokenizer: tok, bytesPerToken: Buffer.byteLength(sample) / Math.max(1, tok.encodeOrdinary(sample).length), seconds: (performance.now() - t0) / 1000 };
}
