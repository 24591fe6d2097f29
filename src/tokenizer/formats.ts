import { GptforgeError } from '../util/errors.js';
import { bytesKey, bytesToByteLevel, byteLevelToBytes } from './bytes.js';
import { patternName } from './patterns.js';
import type { TokenizerSpec } from './tokenizer.js';

/**
 * File formats.
 * - tokenizer.json, Hugging Face's format for ByteLevel BPE: model.vocab (byte-level strings
 *   → ids), model.merges ("left right", rank order), pre_tokenizer = Split(our regex) then
 *   ByteLevel, decoder ByteLevel, added_tokens for the specials. Other tools load it as is.
 *   A "gptforge" key records our own metadata (pattern name, mode).
 * - Character-level tokenizers (nanoGPT benchmarks) have no byte-level form; they use the same
 *   file with model.type "gptforge-char" and model.chars (id order). Only gptforge loads those.
 * - tiktoken rank files: one "base64(token bytes) rank" per line.
 */

interface HfAddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

export function toHuggingFace(spec: TokenizerSpec): string {
  const added: HfAddedToken[] = spec.specials.map(([content, id]) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  // tiktoken: merges rank by the id they produce (tiktoken's rule), not by their position in
  // the list; the flag lets us reload the exact semantics (HF tools read the list in order,
  // which agrees except for ties between two splits of one token).
  const meta = { version: 1, mode: spec.mode, pattern: patternName(spec.pattern) ?? 'custom', ...(spec.tiktoken ? { tiktoken: true } : {}) };
  if (spec.mode === 'char') {
    return JSON.stringify({ version: '1.0', gptforge: meta, added_tokens: added, model: { type: 'gptforge-char', chars: spec.chars ?? [] } }, null, 1);
  }
  const vocab: Record<string, number> = {};
  // empty entries fill gaps in a tiktoken rank file's ids; they are not tokens
  spec.vocab.forEach((bytes, id) => {
    if (bytes.length > 0) vocab[bytesToByteLevel(bytes)] = id;
  });
  const merges = spec.merges.map(([a, b]) => `${bytesToByteLevel(spec.vocab[a])} ${bytesToByteLevel(spec.vocab[b])}`);
  const preTokenizer =
    spec.pattern === ''
      ? { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false }
      : {
          type: 'Sequence',
          pretokenizers: [
            { type: 'Split', pattern: { Regex: spec.pattern }, behavior: 'Isolated', invert: false },
            { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
          ],
        };
  return JSON.stringify(
    {
      version: '1.0',
      gptforge: meta,
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: preTokenizer,
      post_processor: null,
      decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab,
        merges,
      },
    },
    null,
    1,
  );
}

type Json = Record<string, unknown>;

function findSplitRegex(pre: unknown): string | null | undefined {
  // undefined: no pre-tokenizer info; null: ByteLevel with its own GPT-2 regex; string: Split regex
  if (!pre || typeof pre !== 'object') return undefined;
  const p = pre as Json;
  if (p.type === 'Split') {
    const pat = p.pattern as Json | undefined;
    if (pat && typeof pat.Regex === 'string') return pat.Regex;
    if (pat && typeof pat.String === 'string') return (pat.String as string).replace(/[\\^$*+?.()|[\]{}]/g, '\\$&');
  }
  if (p.type === 'ByteLevel') return p.use_regex === false ? undefined : null;
  if (p.type === 'Sequence' && Array.isArray(p.pretokenizers)) {
    for (const sub of p.pretokenizers) {
      const r = findSplitRegex(sub);
      if (r !== undefined) return r;
    }
  }
  return undefined;
}

/**
 * We reproduce Split(Isolated) + ByteLevel pre-tokenizers and no normalizer. Anything else
 * would make our ids silently differ from the file's owner's, so it is refused by name.
 */
function checkSupported(j: Json, file: string): void {
  if (j.normalizer !== null && j.normalizer !== undefined) {
    const type = (j.normalizer as Json).type;
    throw new GptforgeError(`unsupported normalizer ${JSON.stringify(type)} (gptforge applies no normalization, so ids would differ)`, { file, field: 'normalizer' });
  }
  const walk = (pre: unknown, field: string): void => {
    if (pre === null || pre === undefined) return;
    const p = pre as Json;
    if (p.type === 'Sequence' && Array.isArray(p.pretokenizers)) p.pretokenizers.forEach((sub, i) => walk(sub, `${field}.pretokenizers[${i}]`));
    else if (p.type === 'ByteLevel') {
      if (p.add_prefix_space === true) throw new GptforgeError('ByteLevel add_prefix_space is not supported', { file, field: `${field}.add_prefix_space` });
    } else if (p.type === 'Split') {
      if (p.behavior !== 'Isolated' || p.invert === true) throw new GptforgeError(`Split with behavior ${JSON.stringify(p.behavior)}${p.invert ? ' (inverted)' : ''} is not supported (only "Isolated")`, { file, field });
    } else throw new GptforgeError(`unsupported pre-tokenizer ${JSON.stringify(p.type)} (gptforge reads Split and ByteLevel)`, { file, field: `${field}.type` });
  };
  walk(j.pre_tokenizer, 'pre_tokenizer');
}

export function fromHuggingFace(text: string, file: string): TokenizerSpec {
  let j: Json;
  try {
    j = JSON.parse(text) as Json;
  } catch (e) {
    throw new GptforgeError(`not valid JSON: ${(e as Error).message}`, { file });
  }
  const model = j.model as Json | undefined;
  if (!model || typeof model !== 'object') throw new GptforgeError('no "model" section', { file, field: 'model' });
  const specials: [string, number][] = [];
  const addedRaw = Array.isArray(j.added_tokens) ? (j.added_tokens as HfAddedToken[]) : [];
  addedRaw.forEach((t, i) => {
    if (typeof t?.content !== 'string' || !Number.isInteger(t?.id)) throw new GptforgeError('added token needs "content" and an integer "id"', { file, field: `added_tokens[${i}]` });
    specials.push([t.content, t.id]);
  });
  const meta = (j.gptforge ?? {}) as Json;
  if (model.type === 'gptforge-char') {
    const chars = model.chars;
    if (!Array.isArray(chars) || chars.some((c) => typeof c !== 'string')) throw new GptforgeError('"chars" must be an array of strings', { file, field: 'model.chars' });
    return { mode: 'char', vocab: [], merges: [], chars: chars as string[], pattern: '', specials };
  }
  if (model.type === 'BPE') checkSupported(j, file);
  if (model.type !== 'BPE') throw new GptforgeError(`unsupported model type ${JSON.stringify(model.type)} (gptforge reads ByteLevel "BPE" and its own "gptforge-char")`, { file, field: 'model.type' });
  const vocabObj = model.vocab as Record<string, number> | undefined;
  if (!vocabObj || typeof vocabObj !== 'object') throw new GptforgeError('BPE model has no "vocab"', { file, field: 'model.vocab' });
  const specialIds = new Set(specials.map(([, id]) => id));
  const vocab: Uint8Array[] = [];
  const byString = new Map<string, number>();
  for (const [tok, id] of Object.entries(vocabObj)) {
    if (!Number.isInteger(id) || id < 0) throw new GptforgeError(`token ${JSON.stringify(tok)} has invalid id ${JSON.stringify(id)}`, { file, field: `model.vocab[${JSON.stringify(tok)}]` });
    if (specialIds.has(id) && specials.some(([c, sid]) => sid === id && c === tok)) continue; // specials may also sit in vocab
    if (vocab[id] !== undefined) throw new GptforgeError(`duplicate id ${id} (tokens ${JSON.stringify(bytesToByteLevel(vocab[id]))} and ${JSON.stringify(tok)})`, { file, field: `model.vocab[${JSON.stringify(tok)}]` });
    const bytes = byteLevelToBytes(tok);
    if (!bytes) throw new GptforgeError(`token ${JSON.stringify(tok)} is not in the byte-level alphabet (only ByteLevel BPE tokenizers are supported)`, { file, field: `model.vocab[${JSON.stringify(tok)}]` });
    vocab[id] = bytes;
    byString.set(tok, id);
  }
  const tiktoken = meta.tiktoken === true;
  for (let id = 0; id < vocab.length; id++) {
    if (vocab[id] !== undefined || specialIds.has(id)) continue;
    if (tiktoken) vocab[id] = new Uint8Array(0); // a gap in the original rank file
    else throw new GptforgeError(`ids are not contiguous: id ${id} is missing`, { file, field: 'model.vocab' });
  }
  const mergesRaw = model.merges;
  if (!Array.isArray(mergesRaw)) throw new GptforgeError('BPE model has no "merges" list', { file, field: 'model.merges' });
  const merges: [number, number, number][] = mergesRaw.map((m: unknown, i: number) => {
    let pair: [string, string] | null = null;
    if (typeof m === 'string') {
      const sp = m.split(' ');
      if (sp.length === 2) pair = [sp[0], sp[1]];
    } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') pair = [m[0], m[1]];
    if (!pair) throw new GptforgeError(`merge ${JSON.stringify(m)} is not "left right"`, { file, field: `model.merges[${i}]` });
    const a = byString.get(pair[0]);
    const b = byString.get(pair[1]);
    const z = byString.get(pair[0] + pair[1]);
    if (a === undefined || b === undefined) throw new GptforgeError(`merge ${JSON.stringify(m)} refers to unknown token ${JSON.stringify(a === undefined ? pair[0] : pair[1])}`, { file, field: `model.merges[${i}]` });
    if (z === undefined) throw new GptforgeError(`merge ${JSON.stringify(m)} produces ${JSON.stringify(pair[0] + pair[1])}, which is not in the vocabulary`, { file, field: `model.merges[${i}]` });
    return [a, b, z];
  });
  // pre-split pattern: ours if recorded, else the Split regex, else GPT-2's (ByteLevel use_regex)
  let pattern: string;
  const split = findSplitRegex(j.pre_tokenizer);
  if (typeof split === 'string') pattern = split;
  else if (split === null) pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
  else pattern = '';
  return { mode: 'bpe', vocab, merges, pattern, specials, ...(tiktoken ? { tiktoken: true } : {}) };
}

export function fromTiktoken(text: string, file: string, pattern: string, specialTokens: readonly [string, number][] | readonly string[]): TokenizerSpec {
  const vocab: Uint8Array[] = [];
  const byBytes = new Map<string, number>();
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const sp = line.split(' ');
    const rank = Number(sp[1]);
    if (sp.length !== 2 || !Number.isInteger(rank) || rank < 0) throw new GptforgeError(`expected "base64 rank", got ${JSON.stringify(line.slice(0, 60))}`, { file, line: i + 1 });
    const bytes = new Uint8Array(Buffer.from(sp[0], 'base64'));
    if (vocab[rank] !== undefined) throw new GptforgeError(`duplicate rank ${rank}`, { file, line: i + 1 });
    const key = bytesKey(bytes);
    if (byBytes.has(key)) throw new GptforgeError(`duplicate token ${sp[0]}`, { file, line: i + 1 });
    vocab[rank] = bytes;
    byBytes.set(key, rank);
  });
  // tiktoken merges the adjacent pair whose concatenation has the lowest rank: every split
  // of a token into two tokens is a rule, with the token's rank as its rank.
  const merges: [number, number, number][] = [];
  for (let r = 0; r < vocab.length; r++) {
    const t = vocab[r];
    if (!t || t.length < 2) continue;
    for (let s = 1; s < t.length; s++) {
      const a = byBytes.get(bytesKey(t.subarray(0, s)));
      const b = byBytes.get(bytesKey(t.subarray(s)));
      if (a !== undefined && b !== undefined) merges.push([a, b, r]);
    }
  }
  // ranks may have gaps (cl100k does); fill them so ids stay dense for the model
  let next = vocab.length;
  const specials: [string, number][] = specialTokens.map((s) => (typeof s === 'string' ? [s, next++] : [s[0], s[1]]));
  for (let id = 0; id < vocab.length; id++) if (vocab[id] === undefined && !specials.some(([, sid]) => sid === id)) vocab[id] = new Uint8Array(0);
  return { mode: 'bpe', vocab, merges, pattern, specials, tiktoken: true };
}
