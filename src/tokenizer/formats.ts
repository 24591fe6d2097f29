import { GptforgeError } from '../util/errors.js';
import { bytesKey, bytesToByteLevel, byteLevelToBytes } from './bytes.js';
import { patternName } from './patterns.js';
import { compileRule, GPT2_REGEX, SPLIT_BEHAVIORS, type SplitBehavior, type SplitRule } from './pretokenizer.js';
import type { TokenizerSpec } from './spec.js';
import { parseJsonFile } from '../util/json.js';

/**
 * File formats.
 * - tokenizer.json, Hugging Face's format for ByteLevel BPE: model.vocab (byte-level strings
 *   → ids), model.merges ("left right", rank order), pre_tokenizer = Split(our regex) then
 *   ByteLevel, decoder ByteLevel, added_tokens for the specials. Other tools load it as is.
 *   model.gptforge records our own metadata (pattern name, mode; read at the top level too,
 *   where files written before Hugging Face parity put it — the Rust library refuses it there).
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

/**
 * tokenizer.json text. Our metadata sits in model.gptforge: Hugging Face's Rust library refuses
 * unknown top-level keys. `legacy` writes it at the top level instead, as files before this
 * change had it: Tokenizer.hash() hashes that form, so existing runs' hashes stay valid.
 */
export function toHuggingFace(spec: TokenizerSpec, legacy = false): string {
  const added: HfAddedToken[] = spec.specials.map(([content, id]) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  // tiktoken: merges rank by the id they produce (tiktoken's rule), not by their position in
  // the list; the flag lets us reload the exact semantics (HF tools read the list in order,
  // which agrees except for ties between two splits of one token).
  const meta = { version: 1, mode: spec.mode, pattern: spec.preTokenizer ? 'custom' : (patternName(spec.pattern) ?? 'custom'), ...(spec.tiktoken ? { tiktoken: true } : {}) };
  if (spec.mode === 'char') {
    return JSON.stringify({ version: '1.0', gptforge: meta, added_tokens: added, model: { type: 'gptforge-char', chars: spec.chars ?? [] } }, null, 1);
  }
  const vocab: Record<string, number> = {};
  // empty entries fill gaps in a tiktoken rank file's ids; they are not tokens
  spec.vocab.forEach((bytes, id) => {
    if (bytes.length > 0) vocab[bytesToByteLevel(bytes)] = id;
  });
  const merges = spec.merges.map(([a, b]) => `${bytesToByteLevel(spec.vocab[a])} ${bytesToByteLevel(spec.vocab[b])}`);
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  const preTokenizer = spec.preTokenizer
    ? { type: 'Sequence', pretokenizers: [...spec.preTokenizer.map((r) => ({ type: 'Split', pattern: r.pattern, behavior: r.behavior, invert: r.invert })), byteLevel] }
    : spec.pattern === ''
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
      ...(legacy ? { gptforge: meta } : {}),
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: preTokenizer,
      post_processor: null,
      decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      model: {
        type: 'BPE',
        ...(legacy ? {} : { gptforge: meta }),
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: spec.ignoreMerges === true,
        vocab,
        merges,
      },
    },
    null,
    1,
  );
}

type Json = Record<string, unknown>;

/**
 * The pre-tokenizer of a ByteLevel BPE file as Split rules (HF Sequence semantics), checked
 * feature by feature: Split (any behavior, invert, Regex or String pattern) and a final
 * ByteLevel (its use_regex adds GPT-2's regex as an Isolated Split) are reproduced exactly;
 * anything else is refused naming the JSON path, so ids never silently differ from HF's.
 */
function readPreTokenizer(pre: unknown, file: string): SplitRule[] {
  const rules: SplitRule[] = [];
  let byteLevel = '';
  const refuse = (field: string, what: string): never => {
    throw new GptforgeError(`${what}; gptforge reproduces Split and ByteLevel pre-tokenizers only, so it refuses this rather than give different ids`, { file, field });
  };
  const walk = (node: unknown, field: string): void => {
    if (!node || typeof node !== 'object' || Array.isArray(node)) refuse(field, 'not a pre-tokenizer object');
    const p = node as Json;
    if (byteLevel) refuse(field, `a pre-tokenizer after ByteLevel (${byteLevel}) would see byte-level characters`);
    if (p.type === 'Sequence') {
      if (!Array.isArray(p.pretokenizers)) refuse(`${field}.pretokenizers`, 'Sequence without a "pretokenizers" list');
      (p.pretokenizers as unknown[]).forEach((sub, i) => walk(sub, `${field}.pretokenizers[${i}]`));
    } else if (p.type === 'ByteLevel') {
      if (p.add_prefix_space === true) refuse(`${field}.add_prefix_space`, 'ByteLevel add_prefix_space: true is not supported');
      // trim_offsets changes offsets only, never ids
      if (p.use_regex !== false) rules.push({ pattern: { Regex: GPT2_REGEX }, behavior: 'Isolated', invert: false });
      byteLevel = field;
    } else if (p.type === 'Split') {
      const pat = p.pattern as Json | undefined;
      const pattern: SplitRule['pattern'] = pat && typeof pat.Regex === 'string' ? { Regex: pat.Regex } : pat && typeof pat.String === 'string' ? { String: pat.String } : refuse(`${field}.pattern`, 'Split needs a pattern {"Regex": …} or {"String": …}');
      if (!SPLIT_BEHAVIORS.includes(p.behavior as SplitBehavior)) refuse(`${field}.behavior`, `unknown Split behavior ${JSON.stringify(p.behavior)} (${SPLIT_BEHAVIORS.join(', ')})`);
      if (p.invert !== undefined && typeof p.invert !== 'boolean') refuse(`${field}.invert`, 'invert must be true or false');
      const rule: SplitRule = { pattern, behavior: p.behavior as SplitBehavior, invert: p.invert === true };
      compileRule(rule, { file, field: `${field}.pattern` }); // refuse what cannot be translated, here, by path
      rules.push(rule);
    } else refuse(`${field}.type`, `the pre-tokenizer ${JSON.stringify(p.type)} is not supported`);
  };
  if (pre === null || pre === undefined) refuse('pre_tokenizer', 'a BPE model without a ByteLevel pre-tokenizer does not see bytes');
  walk(pre, 'pre_tokenizer');
  if (!byteLevel) refuse('pre_tokenizer', 'no ByteLevel pre-tokenizer: the byte-level vocabulary would not see bytes');
  return rules;
}

/**
 * What else must hold for our ids to be HF's: no normalizer, a plain BPE model (no dropout,
 * no subword prefix or suffix), added tokens matched as written (no lstrip/rstrip/single_word),
 * a ByteLevel (or no) decoder.
 */
function checkSupported(j: Json, model: Json, file: string): void {
  if (j.normalizer !== null && j.normalizer !== undefined) {
    const type = (j.normalizer as Json).type;
    throw new GptforgeError(`unsupported normalizer ${JSON.stringify(type)} (gptforge applies no normalization, so ids would differ)`, { file, field: 'normalizer' });
  }
  if (model.dropout !== null && model.dropout !== undefined && model.dropout !== 0) throw new GptforgeError(`BPE dropout ${JSON.stringify(model.dropout)} is not supported (encoding would be random)`, { file, field: 'model.dropout' });
  for (const key of ['continuing_subword_prefix', 'end_of_word_suffix']) {
    if (model[key] !== null && model[key] !== undefined && model[key] !== '') throw new GptforgeError(`BPE ${key} ${JSON.stringify(model[key])} is not supported`, { file, field: `model.${key}` });
  }
  if (model.ignore_merges !== undefined && typeof model.ignore_merges !== 'boolean') throw new GptforgeError('ignore_merges must be true or false', { file, field: 'model.ignore_merges' });
  const dec = j.decoder as Json | null | undefined;
  if (dec !== null && dec !== undefined && dec.type !== 'ByteLevel') throw new GptforgeError(`unsupported decoder ${JSON.stringify(dec.type)} (gptforge decodes byte-level tokens to their bytes)`, { file, field: 'decoder.type' });
  if (Array.isArray(j.added_tokens)) {
    (j.added_tokens as Json[]).forEach((t, i) => {
      for (const key of ['lstrip', 'rstrip', 'single_word']) {
        if (t?.[key] === true) throw new GptforgeError(`added token ${JSON.stringify(t.content)} has ${key}: true, which is not supported (it changes where the token matches)`, { file, field: `added_tokens[${i}].${key}` });
      }
    });
  }
}

export function fromHuggingFace(text: string, file: string): TokenizerSpec {
  const j = parseJsonFile(text, file) as Json;
  const model = j.model as Json | undefined;
  if (!model || typeof model !== 'object') throw new GptforgeError('no "model" section', { file, field: 'model' });
  const specials: [string, number][] = [];
  const addedRaw = Array.isArray(j.added_tokens) ? (j.added_tokens as HfAddedToken[]) : [];
  addedRaw.forEach((t, i) => {
    if (typeof t?.content !== 'string' || !Number.isInteger(t?.id)) throw new GptforgeError('added token needs "content" and an integer "id"', { file, field: `added_tokens[${i}]` });
    specials.push([t.content, t.id]);
  });
  const meta = (j.gptforge ?? (model as Json).gptforge ?? {}) as Json;
  if (model.type === 'gptforge-char') {
    const chars = model.chars;
    if (!Array.isArray(chars) || chars.some((c) => typeof c !== 'string')) throw new GptforgeError('"chars" must be an array of strings', { file, field: 'model.chars' });
    return { mode: 'char', vocab: [], merges: [], chars: chars as string[], pattern: '', specials };
  }
  if (model.type === 'BPE') checkSupported(j, model, file);
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
    if (tiktoken)
      vocab[id] = new Uint8Array(0); // a gap in the original rank file
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
  // one Isolated regex Split (ours, or ByteLevel's own regex) is kept as `pattern`
  const rules = readPreTokenizer(j.pre_tokenizer, file);
  const single = rules.length === 1 && rules[0].behavior === 'Isolated' && !rules[0].invert && 'Regex' in rules[0].pattern ? rules[0].pattern.Regex : null;
  const pattern = rules.length === 0 ? '' : (single ?? '');
  const ignoreMerges = model.ignore_merges === true;
  return { mode: 'bpe', vocab, merges, pattern, ...(rules.length > 0 && single === null ? { preTokenizer: rules } : {}), ...(ignoreMerges ? { ignoreMerges } : {}), specials, ...(tiktoken ? { tiktoken: true } : {}) };
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
