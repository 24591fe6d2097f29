import { createHash } from 'node:crypto';
import type { Doc } from './sources.js';

/**
 * Cleaning, per source:
 *  - normalise: Unicode NFC, \r\n → \n, control characters dropped (tab and newline kept),
 *    trailing spaces trimmed, runs of blank lines collapsed to one;
 *  - boilerplate lines (the same line in many documents: footers, licence banners) removed;
 *  - exact duplicates removed (by hash of the normalised text);
 *  - documents shorter than minChars dropped, longer than maxChars split at paragraph breaks.
 */
export interface CleanOptions {
  minChars: number;
  maxChars: number;
  /** A line is boilerplate when it appears in at least this fraction of documents (and ≥ 5 of them). */
  boilerplateFraction: number;
}

export const DEFAULT_CLEAN: CleanOptions = { minChars: 64, maxChars: 50_000, boilerplateFraction: 0.05 };

export interface CleanReport {
  docsIn: number;
  docsKept: number;
  bytesIn: number;
  bytesKept: number;
  duplicates: number;
  tooShort: number;
  boilerplateLines: number;
}

// C0/C1 controls except \t and \n; U+FEFF; lone surrogates never survive NFC round trips in practice
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\uFEFF]/g;

export function normalizeText(text: string): string {
  return text
    .normalize('NFC')
    .replace(/\r\n?/g, '\n')
    .replace(CONTROL, '')
    .replace(/[ \t]+$/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function splitLong(text: string, maxChars: number): string[] {
  if (text.length <= maxChars) return [text];
  const out: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + maxChars);
    if (end < text.length) {
      const br = text.lastIndexOf('\n\n', end);
      const nl = text.lastIndexOf('\n', end);
      end = br > start + maxChars / 2 ? br : nl > start + maxChars / 2 ? nl : end;
    }
    out.push(text.slice(start, end).trim());
    start = end;
  }
  return out.filter(Boolean);
}

export function cleanDocuments(docs: Iterable<Doc>, opts: CleanOptions = DEFAULT_CLEAN): { docs: Doc[]; report: CleanReport } {
  const report: CleanReport = { docsIn: 0, docsKept: 0, bytesIn: 0, bytesKept: 0, duplicates: 0, tooShort: 0, boilerplateLines: 0 };
  const normalized: Doc[] = [];
  for (const d of docs) {
    report.docsIn++;
    report.bytesIn += Buffer.byteLength(d.text);
    normalized.push({ ...d, text: normalizeText(d.text) });
  }
  // boilerplate: lines (≥ 20 chars, so short common lines like "}" survive) in many documents
  const lineDocs = new Map<string, number>();
  for (const d of normalized) {
    const seen = new Set<string>();
    for (const line of d.text.split('\n')) {
      const l = line.trim();
      if (l.length >= 20 && !seen.has(l)) {
        seen.add(l);
        lineDocs.set(l, (lineDocs.get(l) ?? 0) + 1);
      }
    }
  }
  const threshold = Math.max(5, Math.ceil(opts.boilerplateFraction * normalized.length));
  const boiler = new Set<string>();
  for (const [l, n] of lineDocs) if (n >= threshold) boiler.add(l);
  report.boilerplateLines = boiler.size;
  const hashes = new Set<string>();
  const out: Doc[] = [];
  for (const d of normalized) {
    let text = d.text;
    if (boiler.size > 0)
      text = text
        .split('\n')
        .filter((l) => !boiler.has(l.trim()))
        .join('\n')
        .replace(/\n{3,}/g, '\n\n')
        .trim();
    for (const piece of splitLong(text, opts.maxChars)) {
      if (piece.length < opts.minChars) {
        report.tooShort++;
        continue;
      }
      const h = createHash('sha1').update(piece).digest('base64');
      if (hashes.has(h)) {
        report.duplicates++;
        continue;
      }
      hashes.add(h);
      out.push({ ...d, text: piece });
      report.bytesKept += Buffer.byteLength(piece);
    }
  }
  report.docsKept = out.length;
  return { docs: out, report };
}
