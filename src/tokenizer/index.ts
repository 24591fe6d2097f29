// The tokenizer layer: byte-level BPE (and char-level) — train, encode, decode, file formats.
//
// Documented behaviours other layers rely on:
// - Lone surrogates (invalid UTF-16) are encoded as U+FFFD, as TextEncoder does:
//   decode(encode(s)) === s.toWellFormed() for every string; for well-formed strings, === s.
// - trainTokenizer stops early when the corpus has no pairs left to merge; the vocabulary is
//   then smaller than asked (vocabSize tells), with the special tokens still last.
// - Character-level tokenizers are saved in the tokenizer.json layout with model.type
//   "gptforge-char" and model.chars (id order): a char vocabulary is not byte-level (it lacks
//   the 256 byte tokens), so only gptforge loads those files.
// - tokenizer.json pre-tokenizers (Split with any behavior/invert, Sequence, ByteLevel) and
//   BPE ignore_merges are reproduced as Hugging Face tokenizers (Rust) does; their Oniguruma
//   regexes are translated (onig.ts); anything else is refused by file, JSON path and feature.
// - Vocabularies loaded from tiktoken rank files keep tiktoken's rule (merge rank = id of the
//   merged token) through tokenizer.json, via the "gptforge.tiktoken" flag.
export { Tokenizer, SPECIAL_TOKENS, DIGIT_PAIRS, trainTokenizer } from './tokenizer.js';
export type { TrainOptions, EncodeOptions, StreamDecoder, TokenizerSpec } from './tokenizer.js';
export { PATTERNS } from './patterns.js';
export type { SplitRule, SplitBehavior } from './pretokenizer.js';
export { encodeBatch } from './batch.js';
