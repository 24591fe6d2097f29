import { readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { convert as htmlToText } from 'html-to-text';
import { preloadParquet, readSource } from '../data/sources.js';
import { GptforgeError } from '../util/errors.js';
import { expandInputs } from '../util/files.js';
import { contentHash } from './chunk.js';

/**
 * Ingest: user inputs (files, directories, globs) → files → documents of plain text.
 *
 * - .txt .text .md .markdown: the file is one document (UTF-8; a BOM is dropped and counted
 *   in the byte offsets, so offsets are into the file's bytes);
 * - .jsonl: one document per line, its `field` (default "text"), offsets into that string,
 *   `line` its line number;
 * - .parquet: one document per row of the `field` column (hyparquet, via sources.ts), `line`
 *   its 1-based row;
 * - .html .htm: the page's text by html-to-text (block elements become line breaks, script,
 *   style and the head are dropped, links keep their text), offsets into that text.
 *
 * A file with a NUL byte in its first 8 KiB or invalid UTF-8 is binary; it and unreadable
 * files are skipped with a warning that names them, or refused with `strict`. A JSONL line
 * that is not JSON or lacks the field is skipped alone, its warning naming file:line.
 */

export const INGEST_EXTENSIONS: readonly string[] = ['.txt', '.text', '.md', '.markdown', '.jsonl', '.parquet', '.html', '.htm'];

export type FileKind = 'text' | 'jsonl' | 'parquet' | 'html';

export interface IngestDoc {
  text: string;
  /** JSONL line or Parquet row (1-based); absent for whole-file documents. */
  line?: number;
  /** Added to chunk byte offsets: the BOM's 3 bytes for a text file that has one, else 0. */
  byteBase: number;
}

export interface IngestFile {
  path: string;
  kind: FileKind;
  /** Bytes on disk. */
  size: number;
  mtimeMs: number;
  /** SHA-256 of the file's bytes, hex. */
  hash: string;
  docs: IngestDoc[];
}

export interface IngestWarning {
  file: string;
  reason: string;
}

export interface IngestOptions {
  /** JSONL field / Parquet column holding the text (default "text"). */
  field?: string;
  /** Refuse (throw) instead of skipping binary or unreadable files and bad JSONL lines. */
  strict?: boolean;
  /** A skipped bad JSONL line (readInputs also reports skipped files here). */
  onWarning?: (w: IngestWarning) => void;
}

/** Files named by the inputs, sorted; directories and globs keep INGEST_EXTENSIONS only. Errors name a missing path. */
export function listInputFiles(inputs: readonly string[]): string[] {
  if (inputs.length === 0) throw new GptforgeError('no input files given', { field: 'input' });
  return expandInputs(inputs, { extensions: INGEST_EXTENSIONS });
}

/** What kind of reader a path takes (by extension; anything else is read as text if it decodes). */
export function fileKind(path: string): FileKind {
  const ext = extname(path).toLowerCase();
  if (ext === '.jsonl') return 'jsonl';
  if (ext === '.parquet') return 'parquet';
  if (ext === '.html' || ext === '.htm') return 'html';
  return 'text';
}

/** Size and modification time, the cheap test for "unchanged since last indexing". */
export function statFile(path: string): { size: number; mtimeMs: number } {
  const st = statSync(path);
  return { size: st.size, mtimeMs: st.mtimeMs };
}

/** Decode UTF-8 or say why the bytes are not text. */
function decodeText(bytes: Uint8Array, file: string): { text: string; bom: boolean } {
  const head = bytes.subarray(0, 8192);
  if (head.includes(0)) throw new GptforgeError('binary file (NUL byte in its first 8 KiB)', { file });
  try {
    const bom = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), bom };
  } catch {
    throw new GptforgeError('binary file (not valid UTF-8)', { file });
  }
}

/**
 * A JSONL file's documents, one per line with a string `field`. A line that is not JSON or
 * lacks the field is skipped with a warning naming file, line and field (the rest of the
 * file is still indexed), or refused with `strict`. Blank lines are ignored.
 */
function jsonlDocs(text: string, file: string, field: string, opts: IngestOptions): IngestDoc[] {
  const docs: IngestDoc[] = [];
  text.split('\n').forEach((raw, i) => {
    const src = raw.trim(); // (also drops a \r and a BOM)
    if (src === '') return;
    let bad: GptforgeError | undefined;
    try {
      const rec: unknown = JSON.parse(src);
      const t = typeof rec === 'object' && rec !== null ? (rec as Record<string, unknown>)[field] : undefined;
      if (typeof t === 'string') docs.push({ text: t, line: i + 1, byteBase: 0 });
      else bad = new GptforgeError(`no string field "${field}"`, { file, line: i + 1, field });
    } catch (e) {
      bad = new GptforgeError(`not valid JSON (${(e as Error).message})`, { file, line: i + 1 });
    }
    if (bad && opts.strict) throw bad;
    if (bad) opts.onWarning?.({ file, reason: bad.message });
  });
  return docs;
}

/**
 * Read one file into documents. Throws GptforgeError naming the file (and line/field) when it
 * is binary, unreadable or malformed; `readInputs` turns that into a warning unless strict.
 */
export async function readIngestFile(path: string, opts: IngestOptions = {}): Promise<IngestFile> {
  const field = opts.field ?? 'text';
  let bytes: Buffer;
  let st: { size: number; mtimeMs: number };
  try {
    st = statFile(path);
    bytes = readFileSync(path);
  } catch (e) {
    throw new GptforgeError(`unreadable file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file: path });
  }
  const kind = fileKind(path);
  const base = { path, kind, size: st.size, mtimeMs: st.mtimeMs, hash: contentHash(bytes) };
  if (kind === 'parquet') {
    const src = { name: 'rag', paths: [path], field, weight: 1 };
    await preloadParquet([src]);
    return { ...base, docs: [...readSource(src)].map((d) => ({ text: d.text, line: d.line, byteBase: 0 })) };
  }
  const { text, bom } = decodeText(bytes, path);
  if (kind === 'jsonl') return { ...base, docs: jsonlDocs(text, path, field, opts) };
  if (kind === 'html') {
    const page = htmlToText(text, {
      wordwrap: false,
      selectors: [
        { selector: 'a', options: { ignoreHref: true } },
        { selector: 'img', format: 'skip' },
        { selector: 'h1', options: { uppercase: false } },
        { selector: 'h2', options: { uppercase: false } },
        { selector: 'h3', options: { uppercase: false } },
        { selector: 'h4', options: { uppercase: false } },
        { selector: 'h5', options: { uppercase: false } },
        { selector: 'h6', options: { uppercase: false } },
      ],
    });
    return { ...base, docs: [{ text: page, byteBase: 0 }] };
  }
  return { ...base, docs: [{ text, byteBase: bom ? 3 : 0 }] };
}

/**
 * Every input file read into documents, in path order. Binary, unreadable and malformed
 * files are reported to `onWarning` and skipped — or, with `strict`, the first one throws.
 */
export async function* readInputs(inputs: readonly string[], opts: IngestOptions = {}): AsyncIterable<IngestFile> {
  for (const path of listInputFiles(inputs)) {
    try {
      yield await readIngestFile(path, opts);
    } catch (e) {
      if (opts.strict || !(e instanceof GptforgeError)) throw e;
      opts.onWarning?.({ file: path, reason: e.message });
    }
  }
}
