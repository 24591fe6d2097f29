/**
 * A constraint on the tokens a row may sample next: the hook between the decoding pipeline
 * (src/infer) and constrained decoding (src/infer/constrain: JSON Schema, regex, GBNF).
 *
 * The decoding pipeline owns one TokenConstraint per row. Before sampling it asks for the
 * allowed set (`fillMask`), sets every disallowed logit to -Infinity, and allows the row's
 * end tokens (end of turn / eos) only while `isComplete()`; after sampling it calls
 * `advance(token)` with the sampled (or forced) token. A constraint that `isComplete()` and
 * allows no further token (`mustEnd()`) ends the row.
 *
 * Vocabulary: ids are the tokenizer's ids; special tokens are never allowed by a constraint
 * (the pipeline handles end tokens itself).
 */
export interface TokenConstraint {
  /**
   * Write the set of allowed next tokens into `allowed`, a bitset over the vocabulary
   * (bit `id & 31` of word `id >>> 5` set = allowed). `allowed.length` is ceil(V / 32);
   * the callee overwrites every word.
   */
  fillMask(allowed: Uint32Array): void;
  /** Consume one token; returns false (state unchanged) if the token is not allowed. */
  advance(token: number): boolean;
  /** True when the output so far is a complete match: end of turn may be sampled now. */
  isComplete(): boolean;
  /** True when the output is complete and no token can extend it: the row must end now. */
  mustEnd(): boolean;
  /** An independent copy at the same state (several samples sharing one prefix). */
  clone(): TokenConstraint;
}
