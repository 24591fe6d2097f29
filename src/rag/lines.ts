import { readFileSync, statSync } from 'node:fs';
import type { StoredChunk } from './store.js';

/**
 * The lines a chunk spans (1-based, inclusive): a JSONL or Parquet document's own line; for a
 * whole-file document (.txt, .md), counted in the file when its text at the chunk's offsets
 * still is the chunk (a file changed since indexing, or a converted one — HTML, PDF — gives
 * null). The store keeps paths as `rag index` was given them: a relative one is read from this
 * process's working directory, so count lines from where the store was built (or index
 * absolute paths).
 *
 * @example chunkLines({ path: 'notes.txt', charStart: 12, charEnd: 40, text }) // { line: 3, line_end: 4 }
 */
export function chunkLines(c: Pick<StoredChunk, 'path' | 'line' | 'charStart' | 'charEnd' | 'text'>): { line: number | null; line_end: number | null } {
  if (c.line !== undefined) return { line: c.line, line_end: c.line };
  const text = sourceText(c.path);
  if (text === undefined || text.slice(c.charStart, c.charEnd) !== c.text) return { line: null, line_end: null };
  const newlines = (s: string): number => s.match(/\n/g)?.length ?? 0;
  const line = 1 + newlines(text.slice(0, c.charStart));
  return { line, line_end: line + newlines(c.text.replace(/\n+$/, '')) };
}

/** Source files' texts by path, newest use last: a request shows up to MAX_RAG_K passages, often from the same few files. */
const sourceTexts = new Map<string, { mtimeMs: number; size: number; text: string }>();
/** Files kept (their texts are what the store indexed: a few MB at most each). */
const SOURCE_CACHE_FILES = 32;

/** A source file's text, read once while its size and mtime stay the same; undefined when it cannot be read. */
function sourceText(path: string): string | undefined {
  try {
    const st = statSync(path);
    const hit = sourceTexts.get(path);
    sourceTexts.delete(path);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) {
      sourceTexts.set(path, hit);
      return hit.text;
    }
    const text = readFileSync(path, 'utf8');
    sourceTexts.set(path, { mtimeMs: st.mtimeMs, size: st.size, text });
    if (sourceTexts.size > SOURCE_CACHE_FILES) sourceTexts.delete(sourceTexts.keys().next().value as string);
    return text;
  } catch {
    sourceTexts.delete(path);
    return undefined;
  }
}
