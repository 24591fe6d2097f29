import { createHash } from 'node:crypto';
import { GptforgeError } from '../util/errors.js';

/**
 * Token-aware recursive chunking with overlap, after LlamaIndex's SentenceSplitter
 * (llama_index.core.node_parser.SentenceSplitter): the text is split at the coarsest
 * separator that yields pieces of at most `chunkSize` tokens — paragraphs, then lines, then
 * sentences, then words, then halves of a word — and the pieces are merged greedily back into
 * chunks of at most `chunkSize` tokens; each new chunk starts with the previous chunk's last
 * pieces, up to `chunkOverlap` tokens, so a fact cut at a boundary is whole in one of them.
 *
 * LlamaIndex defaults to 1024/200 tokens; our models' context is 256 tokens and a retrieved
 * passage must fit into the prompt beside the question, so the defaults here are 192/32.
 *
 * Every piece is a slice of the original text (separators lead the piece after them), so a
 * chunk is exactly `text.slice(charStart, charEnd)`: offsets are exact, never re-derived.
 */

/** Counts tokens of a string (a tokenizer's `encodeOrdinary(s).length`, or an estimate). */
export type TokenCounter = (text: string) => number;

export interface ChunkOptions {
  /** Most tokens in a chunk (default 192). */
  chunkSize?: number;
  /** Tokens of the previous chunk repeated at the start of the next (default 32; < chunkSize). */
  chunkOverlap?: number;
  /** Token counter (default: `approxTokens`, ≈ 4 characters a token). */
  countTokens?: TokenCounter;
}

export interface Chunk {
  text: string;
  /** [charStart, charEnd) in UTF-16 code units of the document text. */
  charStart: number;
  charEnd: number;
  /** [byteStart, byteEnd) in the UTF-8 bytes of the document text. */
  byteStart: number;
  byteEnd: number;
  /** Tokens by the counter used. */
  tokens: number;
  /** SHA-256 of the chunk's UTF-8 text, hex. */
  hash: string;
}

export const DEFAULT_CHUNK_SIZE = 192;
export const DEFAULT_CHUNK_OVERLAP = 32;

/** A tokenizer-free estimate: one token per 4 characters, at least one per word (GPT-2's rule of thumb). */
export function approxTokens(text: string): number {
  const words = text.match(/\S+/g)?.length ?? 0;
  return Math.max(words, Math.ceil(text.length / 4));
}

/** SHA-256 hex of a string's UTF-8 bytes. */
export function contentHash(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

interface Piece {
  start: number;
  end: number;
  tokens: number;
}

// Split positions, coarsest first. Each regex matches where a new piece begins (the separator
// goes with the piece after it: GPT pre-tokenizers attach a leading space to the next word).
const SEPARATORS: readonly RegExp[] = [
  /\n[ \t]*\n\s*/g, // paragraphs
  /\n/g, // lines
  /(?<=[.!?]["')\]]?)\s+/g, // sentences (LlamaIndex uses punkt; punctuation + space is its cheap stand-in)
  /[,;:](?=\s)|\s+/g, // clauses, then words
];

function splitAt(text: string, start: number, end: number, re: RegExp): number[] {
  const cuts: number[] = [];
  re.lastIndex = 0;
  const s = text.slice(start, end);
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    // a clause mark ends its piece; whitespace starts the next one
    const cut = /^[,;:]$/.test(m[0]) ? m.index + 1 : m.index;
    if (cut > 0 && cut < s.length) cuts.push(start + cut);
  }
  return cuts;
}

/** Split [start, end) into pieces of ≤ size tokens, trying separators from `level` on. */
function splitRecursive(text: string, start: number, end: number, level: number, size: number, count: TokenCounter, out: Piece[]): void {
  const tokens = count(text.slice(start, end));
  if (tokens <= size) {
    out.push({ start, end, tokens });
    return;
  }
  for (let l = level; l < SEPARATORS.length; l++) {
    const cuts = splitAt(text, start, end, SEPARATORS[l]);
    if (cuts.length === 0) continue;
    const bounds = [start, ...cuts, end];
    for (let i = 0; i + 1 < bounds.length; i++) splitRecursive(text, bounds[i], bounds[i + 1], l + 1, size, count, out);
    return;
  }
  // no separator left (a very long word, a base64 blob): halve, never inside a surrogate pair
  let mid = start + Math.floor((end - start) / 2);
  if (mid > start && /[\uDC00-\uDFFF]/.test(text[mid])) mid--;
  if (mid <= start || mid >= end) {
    out.push({ start, end, tokens }); // one code point over budget: nothing smaller exists
    return;
  }
  splitRecursive(text, start, mid, SEPARATORS.length, size, count, out);
  splitRecursive(text, mid, end, SEPARATORS.length, size, count, out);
}

/**
 * Split a document into overlapping chunks of at most `chunkSize` tokens (by `countTokens`;
 * a piece that is one code point cannot be split further). Whitespace-only chunks are dropped.
 * Errors: chunkSize < 1 or chunkOverlap outside [0, chunkSize).
 */
export function chunkText(text: string, opts: ChunkOptions = {}): Chunk[] {
  const size = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const overlap = opts.chunkOverlap ?? DEFAULT_CHUNK_OVERLAP;
  const count = opts.countTokens ?? approxTokens;
  if (!Number.isInteger(size) || size < 1) throw new GptforgeError(`chunk size must be a positive integer of tokens, got ${size}`, { field: 'chunkSize' });
  if (!Number.isInteger(overlap) || overlap < 0 || overlap >= size) throw new GptforgeError(`chunk overlap must be an integer in [0, chunk size ${size}), got ${overlap}`, { field: 'chunkOverlap' });
  const pieces: Piece[] = [];
  if (text.length > 0) splitRecursive(text, 0, text.length, 0, size, count, pieces);

  const spans: [number, number][] = [];
  let i = 0;
  while (i < pieces.length) {
    // greedy: add pieces while the sum fits
    let j = i;
    let sum = 0;
    while (j < pieces.length && (j === i || sum + pieces[j].tokens <= size)) sum += pieces[j++].tokens;
    // token counts of pieces need not add up exactly (BPE merges across a cut): check the whole
    while (j - i > 1 && count(text.slice(pieces[i].start, pieces[j - 1].end)) > size) j--;
    spans.push([i, j]);
    if (j >= pieces.length) break;
    // the next chunk starts with the last pieces of this one, up to `overlap` tokens
    let k = j;
    let carried = 0;
    while (k - 1 > i && carried + pieces[k - 1].tokens <= overlap) carried += pieces[--k].tokens;
    i = k;
  }

  const enc = new TextEncoder();
  const out: Chunk[] = [];
  // byte offsets: UTF-8 length of the prefix, advanced incrementally (chunks start in order)
  let bytePos = 0;
  let charPos = 0;
  const byteAt = (c: number): number => {
    if (c < charPos) {
      bytePos = 0;
      charPos = 0;
    }
    bytePos += enc.encode(text.slice(charPos, c)).length;
    charPos = c;
    return bytePos;
  };
  for (const [a, b] of spans) {
    const charStart = pieces[a].start;
    const charEnd = pieces[b - 1].end;
    const t = text.slice(charStart, charEnd);
    if (t.trim() === '') continue;
    const byteStart = byteAt(charStart);
    const byteEnd = byteStart + enc.encode(t).length;
    out.push({ text: t, charStart, charEnd, byteStart, byteEnd, tokens: count(t), hash: contentHash(t) });
  }
  return out;
}
