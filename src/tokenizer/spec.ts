import type { SplitRule } from './pretokenizer.js';

/** Everything that defines a tokenizer; formats.ts reads and writes it, tokenizer.ts runs it. */
export interface TokenizerSpec {
  mode: 'bpe' | 'char';
  /** id → bytes for ordinary tokens (bpe), ids 0..n−1. */
  vocab: Uint8Array[];
  /** BPE rules in rank order: [left id, right id, merged id]. */
  merges: [number, number, number][];
  /** char mode: id → character. */
  chars?: string[];
  /**
   * The pre-split regex (Oniguruma syntax, as tokenizer.json holds it; '' = none) when the
   * pre-tokenizer is one Isolated Split — every tokenizer gptforge trains. '' when
   * `preTokenizer` is given.
   */
  pattern: string;
  /** Any other pre-tokenizer: Split rules applied in order (HF Sequence semantics). */
  preTokenizer?: SplitRule[];
  /** HF BPE `ignore_merges`: a piece that is a vocabulary token as a whole is that token. */
  ignoreMerges?: boolean;
  specials: [string, number][];
  /** True when merges came from a tiktoken rank file (rules derived from every split of every token). */
  tiktoken?: boolean;
}
