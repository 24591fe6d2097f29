/**
 * A chat reply's constraint that leaves tool calls free: the wrapped constraint governs the
 * assistant's visible text only. Tool calls may come before the text begins (the model works
 * out the answer, then writes the constrained value); from `<|tool_start|>` through the
 * engine-forced `<|output_end|>` every token passes unchecked (the chat engine's own processor
 * shapes the call: see src/infer/engine.ts). Once the text has begun, no more tool calls: a
 * call inside a JSON value would split it.
 *
 * Layout (docs/assistant.md): text* (<|tool_start|> call <|tool_end|> <|output_start|> result
 * <|output_end|>)* text — the constrained value is the text after the last call.
 */
import type { Tokenizer } from '../../tokenizer/index.js';
import type { TokenConstraint } from '../constraint.js';
import { GptforgeError } from '../../util/errors.js';

export class ReplyConstraint implements TokenConstraint {
  private inCall = false;
  private started = false;
  constructor(
    readonly inner: TokenConstraint,
    private readonly toolStart: number,
    private readonly outputEnd: number,
  ) {}

  /** Wrap `inner` for a chat tokenizer (it must have <|tool_start|> and <|output_end|>). */
  static forTokenizer(inner: TokenConstraint, tok: Tokenizer): ReplyConstraint {
    if (!tok.hasSpecial('<|tool_start|>') || !tok.hasSpecial('<|output_end|>')) throw new GptforgeError('the tokenizer has no tool-call tokens (<|tool_start|>, <|output_end|>)');
    return new ReplyConstraint(inner, tok.specialId('<|tool_start|>'), tok.specialId('<|output_end|>'));
  }

  fillMask(allowed: Uint32Array): void {
    if (this.inCall) {
      allowed.fill(0xffffffff);
      return;
    }
    this.inner.fillMask(allowed);
    if (!this.started) allowed[this.toolStart >>> 5] |= 1 << (this.toolStart & 31);
  }
  advance(token: number): boolean {
    if (this.inCall) {
      if (token === this.outputEnd) this.inCall = false;
      return true;
    }
    if (token === this.toolStart) {
      if (this.started) return false;
      this.inCall = true;
      return true;
    }
    if (!this.inner.advance(token)) return false;
    this.started = true;
    return true;
  }
  isComplete(): boolean {
    return !this.inCall && this.inner.isComplete();
  }
  mustEnd(): boolean {
    return !this.inCall && this.inner.mustEnd();
  }
  clone(): ReplyConstraint {
    const c = new ReplyConstraint(this.inner.clone(), this.toolStart, this.outputEnd);
    c.inCall = this.inCall;
    c.started = this.started;
    return c;
  }
}
