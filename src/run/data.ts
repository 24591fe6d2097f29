import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadMixtureConfig, type MixtureConfig } from '../data/mixture.js';
import { mixtureTable, prepareData, sampleTrainingText, type DataIndex } from '../data/prepare.js';
import { readJSONL, readTextFile } from '../data/jsonl.js';
import { DIGIT_PAIRS, Tokenizer, trainTokenizer } from '../tokenizer/index.js';
import { GptforgeError } from '../util/errors.js';
import { expandInputs } from '../util/files.js';
import { holdRunLock } from '../util/lock.js';
import { presetsDir } from './presets.js';
import { Progress } from '../util/progress.js';

/**
 * The run's tokenizer at `path`, or — when missing — a byte-level BPE trained on a sample of the
 * mixture (`config.tokenizer`: vocabulary size, pre-split pattern, digit pairs, sample bytes) and
 * saved there. Shared by `pretrain` and `data prepare`.
 */
export function ensureTokenizer(path: string, config: MixtureConfig, opts: { quiet?: boolean; log?: (line: string) => void } = {}): Tokenizer {
  if (existsSync(path)) return Tokenizer.load(path);
  const spec = config.tokenizer ?? { vocabSize: 4096 };
  const sample = [...sampleTrainingText(config, spec.sampleBytes ?? 8_000_000)];
  const bytes = sample.reduce((s, t) => s + t.length, 0);
  opts.log?.(`tokenizer: training a ${spec.vocabSize}-token BPE on ${(bytes / 1e6).toFixed(1)} MB of the mixture`);
  const bar = new Progress({ label: 'tokenizer', total: Math.max(1, spec.vocabSize - 270), unit: 'merge', quiet: opts.quiet });
  const tok = trainTokenizer(sample, { vocabSize: spec.vocabSize, pattern: spec.pattern, requiredTokens: spec.digitPairs ? DIGIT_PAIRS : [], onProgress: (d) => bar.update(d) });
  bar.finish();
  tok.save(path);
  return tok;
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
  const tok = ensureTokenizer(tokenizer, config, opts);
  const index = await prepareData(config, out, tok, { quiet: opts.quiet, threads: opts.threads });
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
