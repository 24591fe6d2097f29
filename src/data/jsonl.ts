import { readFileSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { GptforgeError, type ErrorLocation } from '../util/errors.js';

/**
 * The one reader for every text and JSONL input a user hands gptforge (text sources,
 * tokenizer training inputs, conversations, prompts, rankings and pairs, prompt files), so
 * each accepts files as people's tools write them:
 *   - a UTF-8 byte-order mark (EF BB BF: Notepad, Excel's "CSV UTF-8", PowerShell 5) is dropped;
 *   - lines end in LF, CRLF or a lone CR (old Mac); the last line may lack its newline;
 *   - blank lines are skipped; JSON's own escapes (\uXXXX, surrogate pairs) are JSON.parse's.
 * What it cannot read is refused naming the file and the reason — UTF-16/UTF-32 (by BOM, or
 * by the NUL bytes of UTF-16 without one), invalid UTF-8 at a byte offset and line — instead
 * of "line 1: not valid JSON" or text silently replaced by U+FFFD.
 * Sources: JSON Lines (https://jsonlines.org: UTF-8, one value per line, "\r\n" allowed);
 * RFC 8259 §8.1 (no BOM in JSON text, parsers MAY ignore one); the Unicode Standard §3.9 D92
 * (well-formed UTF-8 byte sequences, Table 3-7).
 */

/** What to do with a bad line: stop with an error naming it, or count it and go on. */
export type OnBad = 'skip' | 'error';

/**
 * Refuses an `onBad` that is neither "error" nor "skip" (a misspelt "skipp" used to read as
 * "error"), at `where` (an option's name, or a file's field).
 * @throws GptforgeError "must be "error" or "skip", got "skipp"".
 */
export function checkOnBad(value: unknown, where: ErrorLocation = { field: 'onBad' }): asserts value is OnBad | undefined {
  if (value === undefined || value === 'error' || value === 'skip') return;
  throw new GptforgeError(`must be "error" or "skip", got ${JSON.stringify(value)}`, where);
}

export interface JSONLResult<T> {
  items: T[];
  /** Lines skipped with onBad 'skip', each with its reason. */
  skipped: { line: number; reason: string }[];
}

/** A non-blank line of a text file: its 1-based line number and its text (terminator removed). */
export interface TextLine {
  line: number;
  text: string;
}

/**
 * Read `file` as UTF-8 text, dropping a UTF-8 byte-order mark.
 * @param what what the file is, for the error message ("conversations", "prompts" …).
 * @throws GptforgeError naming the file when it cannot be read, is UTF-16/UTF-32, holds NUL
 *   bytes, or is not valid UTF-8 (with the byte offset and line of the first bad byte).
 */
export function readTextFile(file: string, what = 'file'): string {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new GptforgeError(`cannot read ${what}: ${(e as Error).message}`, { file });
  }
  return decodeUtf8(buf, file, what);
}

/** Signatures of binary files people save under a text name by mistake (first bytes). */
const BINARY_MAGIC: readonly [string, readonly number[]][] = [
  ['an ELF executable or library', [0x7f, 0x45, 0x4c, 0x46]],
  ['a PDF document', [0x25, 0x50, 0x44, 0x46, 0x2d]],
  ['a ZIP archive (or .docx/.xlsx/.jar)', [0x50, 0x4b, 0x03, 0x04]],
  ['a gzip archive', [0x1f, 0x8b]],
  ['a PNG image', [0x89, 0x50, 0x4e, 0x47]],
  ['a JPEG image', [0xff, 0xd8, 0xff]],
  ['an SQLite database', [0x53, 0x51, 0x4c, 0x69, 0x74, 0x65, 0x20, 0x66]],
  ['a Windows executable', [0x4d, 0x5a, 0x90, 0x00]],
  ['a Mach-O executable', [0xcf, 0xfa, 0xed, 0xfe]],
];

/** What binary file `buf` is by its signature, or undefined (then NUL and control bytes decide). */
function binaryKind(buf: Uint8Array): string | undefined {
  return BINARY_MAGIC.find(([, m]) => buf.length >= m.length && m.every((b, i) => buf[i] === b))?.[0];
}

/** `readTextFile` for bytes already in memory (see there). */
function decodeUtf8(buf: Uint8Array, file: string, what = 'file'): string {
  const b0 = buf[0];
  const b1 = buf[1];
  if (b0 === 0xff && b1 === 0xfe) {
    const utf32 = buf.length >= 4 && buf[2] === 0 && buf[3] === 0;
    throw new GptforgeError(`${what} is ${utf32 ? 'UTF-32' : 'UTF-16'} LE (it starts with the byte-order mark FF FE${utf32 ? ' 00 00' : ''}); save it as UTF-8`, { file });
  }
  if (b0 === 0xfe && b1 === 0xff) throw new GptforgeError(`${what} is UTF-16 BE (it starts with the byte-order mark FE FF); save it as UTF-8`, { file });
  if (b0 === 0 && b1 === 0 && buf[2] === 0xfe && buf[3] === 0xff) throw new GptforgeError(`${what} is UTF-32 BE (it starts with the byte-order mark 00 00 FE FF); save it as UTF-8`, { file });
  const kind = binaryKind(buf);
  if (kind) throw new GptforgeError(`${what} is a binary file (${kind}), not text`, { file });
  const nul = buf.indexOf(0);
  if (nul >= 0) {
    // UTF-16 without a BOM: text in Latin script has a NUL in every other byte, all on one
    // side (odd offsets LE, even BE), and few control bytes; a binary file's NULs fall on both
    const head = buf.subarray(0, 4096);
    const nulsAt = [0, 0];
    let controls = 0;
    head.forEach((x, i) => {
      if (x === 0) nulsAt[i % 2]++;
      else if (x < 9 || (x > 13 && x < 32) || x === 127) controls++;
    });
    const nuls = nulsAt[0] + nulsAt[1];
    if (nuls * 4 >= head.length && Math.max(...nulsAt) >= 0.9 * nuls && controls * 20 < head.length) {
      throw new GptforgeError(`${what} looks like UTF-16 ${nulsAt[1] > nulsAt[0] ? 'LE' : 'BE'} without a byte-order mark (${nuls} of its first ${head.length} bytes are NUL); save it as UTF-8`, { file });
    }
    if ((nuls + controls) * 10 >= head.length) throw new GptforgeError(`${what} looks like a binary file, not text (${nuls} NUL and ${controls} other control bytes in its first ${head.length})`, { file });
    throw new GptforgeError(`${what} has a NUL byte at byte offset ${nul} (line ${lineAt(buf, nul)}): not a UTF-8 text file`, { file, line: lineAt(buf, nul) });
  }
  if (!isUtf8(buf)) {
    const at = firstInvalidUtf8(buf);
    const line = lineAt(buf, at);
    const bytes = Array.from(buf.subarray(at, at + 4), (x) => x.toString(16).toUpperCase().padStart(2, '0')).join(' ');
    throw new GptforgeError(`${what} is not valid UTF-8: bad byte sequence at byte offset ${at} (${bytes}…); is it Latin-1 or Windows-1252? save it as UTF-8`, { file, line });
  }
  const start = b0 === 0xef && b1 === 0xbb && buf[2] === 0xbf ? 3 : 0;
  return Buffer.from(buf.buffer, buf.byteOffset + start, buf.byteLength - start).toString('utf8');
}

/** Split text into lines at LF, CRLF or a lone CR (JSON strings cannot hold a raw CR or LF, so this never cuts a record). */
function splitLines(text: string): string[] {
  return text.split(/\r\n|\r|\n/);
}

/** The non-blank lines of a text file (see readTextFile), with their line numbers. A BOM that starts a later line (files concatenated with cat) is dropped too. */
export function readTextLines(file: string, what = 'file'): TextLine[] {
  const out: TextLine[] = [];
  splitLines(readTextFile(file, what)).forEach((raw, i) => {
    const text = raw.trim(); // String.prototype.trim also drops U+FEFF
    if (text !== '') out.push({ line: i + 1, text });
  });
  return out;
}

/** Parse one JSONL line; a syntax error names the location (and `what`, e.g. 'source "books"', when given). */
export function parseJSONLine(text: string, where: ErrorLocation, what?: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new GptforgeError(`${what ? `${what}: ` : ''}not valid JSON (${(e as Error).message})`, where);
  }
}

/**
 * Read a JSONL file, one record a line (blank lines ignored; encoding and line endings as
 * readTextFile/splitLines): each line is parsed and handed to `parse` with its location,
 * which validates it (throwing a GptforgeError that names the field) and returns the record.
 * Bad lines are errors naming file and line, or counted skips; a file that cannot be decoded
 * is always an error.
 */
export function readJSONL<T>(file: string, what: string, parse: (obj: unknown, where: ErrorLocation) => T, onBad: OnBad = 'error', opts: { listBad?: number } = {}): JSONLResult<T> {
  checkOnBad(onBad);
  const out: JSONLResult<T> = { items: [], skipped: [] };
  const bad: GptforgeError[] = [];
  for (const { line, text } of readTextLines(file, what)) {
    const where = { file, line };
    try {
      out.items.push(parse(parseJSONLine(text, where), where));
    } catch (e) {
      if (!(e instanceof GptforgeError)) throw e;
      if (onBad === 'skip') out.skipped.push({ line, reason: e.message });
      else if (opts.listBad === undefined) throw e;
      else bad.push(e);
    }
  }
  if (bad.length === 1) throw bad[0];
  if (bad.length > 1) throw badLinesError(file, what, bad, opts.listBad ?? bad.length);
  return out;
}

/**
 * One error for many bad lines: `n bad lines of <what>` and the first `shown`, each as
 * `file:line[:column]: field — problem` (the column where JSON.parse gave a position), then
 * "and K more".
 */
export function badLinesError(file: string, what: string, bad: readonly GptforgeError[], shown: number): GptforgeError {
  const entry = (e: GptforgeError): string => {
    const pos = /at position (\d+)/.exec(e.detail);
    const at = `${e.file ?? file}${e.line !== undefined ? `:${e.line}` : ''}${pos && e.line !== undefined ? `:${Number(pos[1]) + 1}` : ''}`;
    return `${at}: ${e.field !== undefined ? `${e.field} — ` : ''}${e.detail}`;
  };
  const more = bad.length - Math.min(shown, bad.length);
  const lines = bad.slice(0, shown).map(entry);
  return new GptforgeError(`${bad.length} bad lines of ${what}${more > 0 ? ` (the first ${shown})` : ''}; fix them, or --on-bad skip leaves them out with a count:\n  ${lines.join('\n  ')}${more > 0 ? `\n  and ${more} more` : ''}`, { file });
}

/** 1-based line of byte `offset` (lines end at LF, CRLF or a lone CR, as in splitLines). */
function lineAt(buf: Uint8Array, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) {
    if (buf[i] === 0x0a) line++;
    else if (buf[i] === 0x0d && buf[i + 1] !== 0x0a) line++;
  }
  return line;
}

/** Offset of the first byte that does not start a well-formed UTF-8 sequence (Unicode Table 3-7). */
function firstInvalidUtf8(buf: Uint8Array): number {
  let i = 0;
  while (i < buf.length) {
    const b = buf[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) n = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      n = 2;
      if (b === 0xe0) lo = 0xa0; // overlong
      if (b === 0xed) hi = 0x9f; // surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 3;
      if (b === 0xf0) lo = 0x90; // overlong
      if (b === 0xf4) hi = 0x8f; // above U+10FFFF
    } else return i;
    if (i + n >= buf.length) return i; // truncated at the end of the file
    if (buf[i + 1] < lo || buf[i + 1] > hi) return i;
    for (let k = 2; k <= n; k++) if (buf[i + k] < 0x80 || buf[i + k] > 0xbf) return i;
    i += n + 1;
  }
  return buf.length;
}
