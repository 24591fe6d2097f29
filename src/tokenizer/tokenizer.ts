import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { atomicWriteFile } from '../util/atomic.js';
import { GptforgeError } from '../util/errors.js';
import { mergeChunk } from './bpe.js';
import { bytesKey, completeUtf8Prefix } from './bytes.js';
import { PairTable } from './pairs.js';
import { resolvePattern } from './patterns.js';
import { PreTokenizer, type SplitRule } from './pretokenizer.js';
import type { TokenizerSpec } from './spec.js';
import { collectChars, countChunks, requiredMerges, trainBpe } from './train.js';
import { fromHuggingFace, fromTiktoken, toHuggingFace } from './formats.js';
import { escapeRegExp } from '../util/regex.js';

export type { TokenizerSpec } from './spec.js';

/** The special tokens of the recipe, in id order (added right after the merges). */
export const SPECIAL_TOKENS: readonly string[] = ['<|bos|>', '<|eos|>', '<|pad|>', '<|user_start|>', '<|user_end|>', '<|assistant_start|>', '<|assistant_end|>', '<|system_start|>', '<|system_end|>', '<|tool_start|>', '<|tool_end|>', '<|output_start|>', '<|output_end|>', '<|reward|>'];

export interface TrainOptions {
  /** Total vocabulary including special tokens (bpe mode). Ignored in char mode. */
  vocabSize: number;
  mode?: 'bpe' | 'char';
  /** 'gpt4' (default), 'cl100k', 'gpt2', 'none', or a regex source. */
  pattern?: string;
  /** Default SPECIAL_TOKENS; [] for none. */
  specialTokens?: readonly string[];
  /**
   * Strings the vocabulary must hold as single tokens, merged first (left to right) before
   * the counted merges: e.g. DIGIT_PAIRS, so that with 'gpt4''s 1–2 digit groups every number
   * is whole two-digit tokens, however rare its digit pairs are in the sample.
   */
  requiredTokens?: readonly string[];
  onProgress?: (done: number, total: number) => void;
}

export interface EncodeOptions {
  /** Special tokens recognised in the text: 'all', 'none' (default), or a set of names. */
  allowedSpecial?: 'all' | 'none' | ReadonlySet<string>;
  /** What to do with a special token's text that is not allowed: 'raise' (default) or encode it as 'plain' text. */
  disallowedSpecial?: 'raise' | 'plain';
}

export interface StreamDecoder {
  /** Text completed by this token (may be '' while a UTF-8 character is incomplete). */
  push(id: number): string;
  /** Whatever is left (an incomplete character becomes U+FFFD). */
  flush(): string;
}

/**
 * A byte-level BPE tokenizer (or a character-level one for nanoGPT-style benchmarks).
 *
 * Encoding: split the text with the pre-split regex; each chunk's UTF-8 bytes become byte
 * tokens which are merged by rank (bpe.ts). Chunk results are cached — natural text repeats
 * words constantly, which is most of the speed. Strings are converted with TextEncoder, so
 * lone surrogates (invalid UTF-16) are encoded as U+FFFD: decode(encode(s)) === s.toWellFormed().
 */
export class Tokenizer {
  readonly mode: 'bpe' | 'char';
  readonly vocabSize: number;
  readonly specialTokens: ReadonlyMap<string, number>;
  /** The pre-split regex of a one-Split tokenizer (Oniguruma syntax; '' = none or see preTokenizer). */
  readonly pattern: string;
  /** The pre-tokenizer as Split rules applied in order (HF Sequence semantics). */
  readonly preTokenizer: readonly SplitRule[];
  /**
   * The spec without its vocabulary and merges (kept compact below and rebuilt for `toJSON`
   * and `hash`): cl100k's 100k `Uint8Array`s and 233k merge triples were ≈ 40 MB of heap
   * objects that every full garbage collection marked (≈ 100 ms each on Zen 3), in every
   * process that holds the tokenizer (constrained decoding's masks, the server).
   */
  private readonly specRest: Omit<TokenizerSpec, 'vocab' | 'merges'>;
  /** spec.vocab.length, and per index < it whether spec.vocab has an entry there (HF vocabularies leave holes at special ids). */
  private readonly specVocabLen: number;
  private readonly specVocabHas: Uint8Array;
  /** spec.merges as [a, b, z] triples, flat. */
  private readonly specMerges: Int32Array;
  /** Every id's bytes (ordinary, char and special tokens) in one arena: id's bytes are arena[off[id] .. off[id + 1]); off[id] = −1 for an id with none. */
  private readonly arena: Uint8Array;
  private readonly arenaOff: Int32Array;
  private readonly arenaEnd: Int32Array;
  private readonly byteToId = new Int32Array(256).fill(-1);
  private readonly table: PairTable;
  private readonly pre: PreTokenizer;
  /** ignore_merges: byte string (latin1 key) of every ordinary token → id. */
  private readonly wholeTokens: Map<string, number> | null;
  private readonly specialRegex: RegExp | null;
  private readonly charToId = new Map<string, number>();
  private readonly cache = new Map<string, number[]>();
  private scratchBytes = new Uint8Array(1024);
  private scratchIds = new Int32Array(1024);
  private readonly encoder = new TextEncoder();
  private hashCache: string | undefined;

  constructor(spec: TokenizerSpec, source = 'tokenizer') {
    const { vocab: specVocab, merges: specMerges, ...rest } = spec;
    this.specRest = rest;
    this.mode = spec.mode;
    this.pattern = spec.pattern;
    this.preTokenizer = spec.preTokenizer ?? (spec.pattern === '' ? [] : [{ pattern: { Regex: spec.pattern }, behavior: 'Isolated', invert: false }]);
    this.pre = new PreTokenizer(this.preTokenizer, (i) => ({ file: source, field: spec.preTokenizer ? `pre_tokenizer rule ${i}` : 'pattern' }));
    const specials = new Map<string, number>();
    let maxId = -1;
    const idBytes: Uint8Array[] = []; // packed into the arena below
    if (spec.mode === 'char') {
      const chars = spec.chars ?? [];
      chars.forEach((ch, id) => {
        if (this.charToId.has(ch)) throw new GptforgeError(`duplicate character ${JSON.stringify(ch)} in the char vocabulary`, { file: source, field: `chars[${id}]` });
        this.charToId.set(ch, id);
        idBytes[id] = this.encoder.encode(ch);
      });
      maxId = chars.length - 1;
    } else {
      spec.vocab.forEach((bytes, id) => {
        idBytes[id] = bytes;
        if (bytes.length === 1 && this.byteToId[bytes[0]] < 0) this.byteToId[bytes[0]] = id;
      });
      maxId = spec.vocab.length - 1;
      for (let b = 0; b < 256; b++) {
        if (this.byteToId[b] < 0) throw new GptforgeError(`the vocabulary has no token for byte 0x${b.toString(16).padStart(2, '0')}; a byte-level BPE needs all 256`, { file: source, field: 'vocab' });
      }
    }
    this.wholeTokens = spec.ignoreMerges ? new Map(spec.vocab.flatMap((b, id): [string, number][] => (b.length > 0 ? [[bytesKey(b), id]] : []))) : null;
    this.table = new PairTable(Math.max(16, spec.merges.length));
    spec.merges.forEach(([a, b, z], rank) => this.table.set(a, b, spec.tiktoken ? z : rank, z));
    for (const [name, id] of spec.specials) {
      if (specials.has(name)) throw new GptforgeError(`duplicate special token ${name}`, { file: source, field: 'added_tokens' });
      const other = [...specials].find(([, sid]) => sid === id);
      if (other) throw new GptforgeError(`special tokens ${other[0]} and ${name} share id ${id}`, { file: source, field: 'added_tokens' });
      if (idBytes[id] !== undefined) throw new GptforgeError(`special token ${name} reuses id ${id}, which is already an ordinary token`, { file: source, field: 'added_tokens' });
      specials.set(name, id);
      idBytes[id] = this.encoder.encode(name);
      if (id > maxId) maxId = id;
    }
    this.specialTokens = specials;
    this.vocabSize = maxId + 1;
    let total = 0;
    for (const b of idBytes) if (b !== undefined) total += b.length;
    this.arena = new Uint8Array(total);
    this.arenaOff = new Int32Array(this.vocabSize).fill(-1);
    this.arenaEnd = new Int32Array(this.vocabSize);
    let at = 0;
    idBytes.forEach((b, id) => {
      this.arena.set(b, at);
      this.arenaOff[id] = at;
      at += b.length;
      this.arenaEnd[id] = at;
    });
    this.specVocabLen = specVocab.length;
    this.specVocabHas = new Uint8Array(specVocab.length);
    specVocab.forEach((_, id) => (this.specVocabHas[id] = 1));
    this.specMerges = new Int32Array(specMerges.length * 3);
    specMerges.forEach(([a, b, z], i) => this.specMerges.set([a, b, z], 3 * i));
    this.specialRegex =
      specials.size > 0
        ? new RegExp(
            [...specials.keys()]
              .sort((x, y) => y.length - x.length)
              .map(escapeRegExp)
              .join('|'),
            'g',
          )
        : null;
  }

  specialId(name: string): number {
    const id = this.specialTokens.get(name);
    if (id === undefined) throw new GptforgeError(`this tokenizer has no special token ${name} (it has: ${[...this.specialTokens.keys()].join(' ') || 'none'})`);
    return id;
  }

  hasSpecial(name: string): boolean {
    return this.specialTokens.has(name);
  }

  /** Encode text; special tokens follow tiktoken's rules (see EncodeOptions). */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const allowed = opts.allowedSpecial ?? 'none';
    const out: number[] = [];
    if (!this.specialRegex || (allowed === 'none' && opts.disallowedSpecial === 'plain')) {
      this.encodeOrdinaryInto(text, out);
      return out;
    }
    const isAllowed = (name: string): boolean => allowed === 'all' || (allowed !== 'none' && allowed.has(name));
    const re = this.specialRegex;
    re.lastIndex = 0;
    let start = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      if (!isAllowed(m[0])) {
        if (opts.disallowedSpecial !== 'plain') {
          throw new GptforgeError(`the text contains the special token ${m[0]} at offset ${m.index}, which is not allowed here (pass allowedSpecial, or disallowedSpecial: 'plain' to encode it as text)`);
        }
        continue;
      }
      this.encodeOrdinaryInto(text.slice(start, m.index), out);
      out.push(this.specialTokens.get(m[0])!);
      start = m.index + m[0].length;
    }
    this.encodeOrdinaryInto(text.slice(start), out);
    return out;
  }

  /** Encode with special-token text treated as ordinary text (the fast path for corpora). */
  encodeOrdinary(text: string): number[] {
    const out: number[] = [];
    this.encodeOrdinaryInto(text, out);
    return out;
  }

  private encodeOrdinaryInto(text: string, out: number[]): void {
    if (text.length === 0) return;
    if (this.mode === 'char') {
      for (const ch of text) {
        const id = this.charToId.get(ch);
        if (id === undefined) throw new GptforgeError(`character ${JSON.stringify(ch)} (U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}) is not in this character-level vocabulary`);
        out.push(id);
      }
      return;
    }
    // HF sees U+FFFD for a lone surrogate (as TextEncoder writes it): split what it splits
    const wellFormed = (text as unknown as { toWellFormed(): string }).toWellFormed();
    if (this.pre.empty) {
      this.encodeChunk(wellFormed, out, false);
      return;
    }
    this.pre.forEachPiece(wellFormed, (piece) => this.encodeChunk(piece, out, true));
  }

  private encodeChunk(chunk: string, out: number[], useCache: boolean): void {
    if (useCache) {
      const hit = this.cache.get(chunk);
      if (hit !== undefined) {
        for (let i = 0; i < hit.length; i++) out.push(hit[i]);
        return;
      }
    }
    // UTF-8 bytes into a reused buffer (at most 3 bytes per UTF-16 unit)
    if (this.scratchBytes.length < chunk.length * 3) {
      this.scratchBytes = new Uint8Array(chunk.length * 3);
      this.scratchIds = new Int32Array(chunk.length * 3);
    }
    const { written } = this.encoder.encodeInto(chunk, this.scratchBytes);
    const ids = this.scratchIds;
    let n: number;
    const whole = this.wholeTokens?.get(bytesKey(this.scratchBytes.subarray(0, written)));
    if (whole !== undefined) {
      ids[0] = whole;
      n = 1;
    } else {
      for (let i = 0; i < written; i++) ids[i] = this.byteToId[this.scratchBytes[i]];
      n = mergeChunk(ids, written, this.table);
    }
    if (useCache) {
      const res = Array.from(ids.subarray(0, n));
      if (this.cache.size >= 200_000) this.cache.clear();
      this.cache.set(chunk, res);
      for (let i = 0; i < n; i++) out.push(res[i]);
    } else {
      for (let i = 0; i < n; i++) out.push(ids[i]);
    }
  }

  /** The bytes of token `id` (a view into the tokenizer's byte store: read, do not modify). */
  tokenBytes(id: number): Uint8Array {
    const o = Number.isInteger(id) && id >= 0 && id < this.vocabSize ? this.arenaOff[id] : -1;
    if (o < 0) throw new GptforgeError(`token id ${id} is out of range for this tokenizer (vocabulary of ${this.vocabSize})`);
    return this.arena.subarray(o, this.arenaEnd[id]);
  }

  /**
   * Every token's bytes in one store, for code that walks the whole vocabulary (constrained
   * decoding's trie): token id's bytes are `bytes[start[id] .. end[id])`; start[id] = −1 for
   * an id with none. Shared, not copied: read only.
   */
  get byteStore(): { readonly bytes: Uint8Array; readonly start: Int32Array; readonly end: Int32Array } {
    return { bytes: this.arena, start: this.arenaOff, end: this.arenaEnd };
  }

  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    let len = 0;
    for (let i = 0; i < ids.length; i++) len += this.tokenBytes(ids[i]).length;
    const out = new Uint8Array(len);
    let o = 0;
    for (let i = 0; i < ids.length; i++) {
      const a = this.arenaOff[ids[i]];
      const e = this.arenaEnd[ids[i]];
      out.set(this.arena.subarray(a, e), o);
      o += e - a;
    }
    return out;
  }

  /** The spec this tokenizer was built from, rebuilt from the compact store (copies: for saving and hashing only). */
  private get spec(): TokenizerSpec {
    const vocab: Uint8Array[] = new Array<Uint8Array>(this.specVocabLen);
    for (let id = 0; id < this.specVocabLen; id++) if (this.specVocabHas[id] === 1) vocab[id] = this.arena.slice(this.arenaOff[id], this.arenaEnd[id]);
    const m = this.specMerges;
    const merges: [number, number, number][] = [];
    for (let i = 0; i < m.length; i += 3) merges.push([m[i], m[i + 1], m[i + 2]]);
    return { ...this.specRest, vocab, merges };
  }

  /** Text of the tokens; invalid UTF-8 (e.g. a cut multi-byte character) becomes U+FFFD. */
  decode(ids: ArrayLike<number>): string {
    return new TextDecoder().decode(this.decodeBytes(ids));
  }

  createStreamDecoder(): StreamDecoder {
    let buf = new Uint8Array(16);
    let len = 0;
    const dec = new TextDecoder();
    return {
      push: (id: number): string => {
        const b = this.tokenBytes(id);
        if (len + b.length > buf.length) {
          const nb = new Uint8Array(Math.max(buf.length * 2, len + b.length));
          nb.set(buf.subarray(0, len));
          buf = nb;
        }
        buf.set(b, len);
        len += b.length;
        const ready = completeUtf8Prefix(buf, len);
        if (ready === 0) return '';
        const text = dec.decode(buf.subarray(0, ready));
        buf.copyWithin(0, ready, len);
        len -= ready;
        return text;
      },
      flush: (): string => {
        const text = len > 0 ? dec.decode(buf.subarray(0, len)) : '';
        len = 0;
        return text;
      },
    };
  }

  /**
   * Stable content hash (vocabulary, merges, pre-tokenizer, specials): data shards and
   * checkpoints record it. Hashes the file's earlier layout (metadata at the top level) so that
   * hashes recorded before the metadata moved into model.gptforge still match.
   */
  hash(): string {
    if (!this.hashCache) this.hashCache = createHash('sha256').update(toHuggingFace(this.spec, true)).digest('hex').slice(0, 16);
    return this.hashCache;
  }

  /** Hugging Face tokenizer.json text (char mode: our own documented variant). */
  toJSON(): string {
    return toHuggingFace(this.spec);
  }

  save(path: string): void {
    atomicWriteFile(path, this.toJSON());
  }

  /**
   * Load tokenizer.json (ours or Hugging Face's ByteLevel BPE) or a tiktoken rank file
   * (.tiktoken). A rank file named after an OpenAI encoding (cl100k_base, o200k_base, r50k_base,
   * p50k_base, gpt2) gets that encoding's pattern and special tokens unless opts say otherwise;
   * any other gets opts.pattern (default cl100k) and opts.specialTokens (default none).
   */
  static load(path: string, opts: { pattern?: string; specialTokens?: readonly string[] } = {}): Tokenizer {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new GptforgeError(`cannot read tokenizer: ${(e as Error).message}`, { file: path });
    }
    if (path.endsWith('.tiktoken') || !text.trimStart().startsWith('{')) {
      // a rank file has no pattern or specials of its own: OpenAI's file names tell us them
      const known = KNOWN_TIKTOKEN[basename(path).replace(/\.tiktoken$/, '')];
      const specials = opts.specialTokens ?? (known ? Object.entries(known.specials) : []);
      return new Tokenizer(fromTiktoken(text, path, resolvePattern(opts.pattern ?? known?.pattern ?? 'cl100k'), specials), path);
    }
    return Tokenizer.fromJSON(text, path);
  }

  static fromJSON(text: string, sourceName = 'tokenizer.json'): Tokenizer {
    return new Tokenizer(fromHuggingFace(text, sourceName), sourceName);
  }

  /** Tokenizer from a tiktoken rank file's text (base64 token, space, rank per line). */
  static fromTiktoken(text: string, opts: { pattern?: string; specialTokens?: readonly [string, number][] | readonly string[]; sourceName?: string } = {}): Tokenizer {
    const name = opts.sourceName ?? 'ranks.tiktoken';
    return new Tokenizer(fromTiktoken(text, name, resolvePattern(opts.pattern ?? 'cl100k'), opts.specialTokens ?? []), name);
  }
}

/** OpenAI's published encodings: pre-split pattern and special tokens, by rank-file name. */
const GPT2_SPECIALS = { '<|endoftext|>': 50256 };
const KNOWN_TIKTOKEN: Readonly<Record<string, { pattern: string; specials: Readonly<Record<string, number>> }>> = {
  cl100k_base: { pattern: 'cl100k', specials: { '<|endoftext|>': 100257, '<|fim_prefix|>': 100258, '<|fim_middle|>': 100259, '<|fim_suffix|>': 100260, '<|endofprompt|>': 100276 } },
  o200k_base: { pattern: 'o200k', specials: { '<|endoftext|>': 199999, '<|endofprompt|>': 200018 } },
  r50k_base: { pattern: 'gpt2', specials: GPT2_SPECIALS },
  gpt2: { pattern: 'gpt2', specials: GPT2_SPECIALS },
  p50k_base: { pattern: 'gpt2', specials: GPT2_SPECIALS },
};

/** Every two-digit string "00" … "99": the tokens that make 'gpt4''s digit groups uniform. */
export const DIGIT_PAIRS: readonly string[] = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));

/** Train a tokenizer on texts (see TrainOptions). Deterministic: the same texts give the same tokenizer. */
export function trainTokenizer(texts: Iterable<string>, opts: TrainOptions): Tokenizer {
  const specials = opts.specialTokens ?? SPECIAL_TOKENS;
  const pattern = resolvePattern(opts.pattern);
  if (opts.mode === 'char') {
    const chars = collectChars(texts);
    if (chars.length === 0) throw new GptforgeError('no text to train a character vocabulary on');
    return new Tokenizer({ mode: 'char', vocab: [], merges: [], chars, pattern: '', specials: specials.map((s, i) => [s, chars.length + i]) });
  }
  const numMerges = opts.vocabSize - 256 - specials.length;
  if (!Number.isInteger(opts.vocabSize) || numMerges < 0) {
    throw new GptforgeError(`vocab size ${opts.vocabSize} is too small: a byte-level BPE needs at least 256 byte tokens + ${specials.length} special tokens = ${256 + specials.length}`, { field: 'vocabSize' });
  }
  const counts = countChunks(texts, pattern);
  const { merges } = trainBpe(counts, numMerges, opts.onProgress, requiredMerges(opts.requiredTokens ?? []));
  const vocab: Uint8Array[] = [];
  for (let b = 0; b < 256; b++) vocab.push(Uint8Array.of(b));
  const full: [number, number, number][] = merges.map(([a, b], i) => {
    const bytes = new Uint8Array(vocab[a].length + vocab[b].length);
    bytes.set(vocab[a]);
    bytes.set(vocab[b], vocab[a].length);
    vocab.push(bytes);
    return [a, b, 256 + i];
  });
  const first = vocab.length;
  return new Tokenizer({ mode: 'bpe', vocab, merges: full, pattern, specials: specials.map((s, i) => [s, first + i]) });
}
