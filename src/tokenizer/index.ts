// The tokenizer layer: byte-level BPE (and char-level) — train, encode, decode, file formats.
export { Tokenizer, SPECIAL_TOKENS, trainTokenizer } from './tokenizer.js';
export type { TrainOptions, EncodeOptions, StreamDecoder, TokenizerSpec } from './tokenizer.js';
export { PATTERNS, resolvePattern } from './patterns.js';
export { encodeBatch } from './batch.js';
