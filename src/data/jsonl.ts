import { readFileSync } from 'node:fs';
import { GptforgeError, type ErrorLocation } from '../util/errors.js';

/** What to do with a bad line: stop with an error naming it, or count it and go on. */
export type OnBad = 'skip' | 'error';

export interface JSONLResult<T> {
  items: T[];
  /** Lines skipped with onBad 'skip', each with its reason. */
  skipped: { line: number; reason: string }[];
}

/**
 * Read a JSONL file, one record a line (blank lines ignored): each line is parsed and handed
 * to `parse` with its location, which validates it (throwing a GptforgeError that names the
 * field) and returns the record. Bad lines are errors naming file and line, or counted skips.
 */
export function readJSONL<T>(file: string, what: string, parse: (obj: unknown, where: ErrorLocation) => T, onBad: OnBad = 'error'): JSONLResult<T> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new GptforgeError(`cannot read ${what}: ${(e as Error).message}`, { file });
  }
  const out: JSONLResult<T> = { items: [], skipped: [] };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw === '') continue;
    const where = { file, line: i + 1 };
    try {
      let obj: unknown;
      try {
        obj = JSON.parse(raw);
      } catch (e) {
        throw new GptforgeError(`not valid JSON (${(e as Error).message})`, where);
      }
      out.items.push(parse(obj, where));
    } catch (e) {
      if (onBad !== 'skip' || !(e instanceof GptforgeError)) throw e;
      out.skipped.push({ line: i + 1, reason: e.message });
    }
  }
  return out;
}
