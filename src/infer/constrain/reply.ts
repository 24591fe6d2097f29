/**
 * A chat reply's constraint that leaves tool calls free: the wrapped constraint governs the
 * assistant's visible text only. Tool calls may come before the text begins (the model works
 * out the answer, then writes the constrained value); from `<|tool_start|>` through the
 * engine-forced `<|output_end|>` every token passes unchecked (the chat engine's own processor
 * shapes the call: see src/infer/engine.ts). Once the text has begun, no more tool calls: a
 * call inside a JSON value would split it.
 *
 * At most `maxCalls` calls (default 1) come back before the text: after that many results the
 * text must begin. The mask renormalises the model's distribution over what the constraint
 * allows, and after a result a small model wants to write prose (`The answer is 36.`), which a
 * JSON value masks: with the opener still allowed, another call took nearly all the mass, so the
 * tiny SFT model was seen calling the calculator again up to `max_tool_calls` (4, every seed) and
 * spent its budget there, while the same request without `response_format` made 1 call.
 *
 * Layout (docs/assistant.md): text* (<|tool_start|> call <|tool_end|> <|output_start|> result
 * <|output_end|>){0,maxCalls} text — the constrained value is the text after the last call.
 */
import type { Tokenizer } from '../../tokenizer/index.js';
import type { TokenConstraint } from '../constraint.js';
import { GptforgeError } from '../../util/errors.js';

/**
 * A `TokenConstraint` for a chat reply: `inner` (a schema, regex or grammar constraint) governs
 * the visible text, and up to `maxCalls` tool calls may come before it unchecked (the module
 * comment says why). Masks are bitsets of ⌈V / 32⌉ words over the tokenizer's ids (bit `id & 31`
 * of word `id >>> 5`), as `TokenConstraint.fillMask` says: before the text, `inner`'s mask plus
 * `<|tool_start|>` while a call is still allowed; inside a call, every token; after the text has
 * begun, `inner`'s mask alone. `isComplete`/`mustEnd` are `inner`'s, and false inside a call.
 * Used by `gptforge chat --json-schema|--regex|--grammar` (maxCalls = `--max-tool-calls`,
 * default 1) and by the server when a request has both `response_format` and tools.
 * @throws GptforgeError from `forTokenizer` when the tokenizer has no `<|tool_start|>` or `<|output_end|>`.
 * @example const c = ReplyConstraint.forTokenizer(schemaConstraint(schema, tok), tok, 2); // ≤ 2 calculator calls, then JSON
 */
export class ReplyConstraint implements TokenConstraint {
  private inCall = false;
  private started = false;
  /** Calls whose result came back (`<|output_end|>`). */
  private calls = 0;
  constructor(
    readonly inner: TokenConstraint,
    private readonly toolStart: number,
    private readonly outputEnd: number,
    /** Calls allowed before the text (default 1; the server passes a request's `max_tool_calls` when it sets one). */
    readonly maxCalls = 1,
  ) {}

  /** Wrap `inner` for a chat tokenizer (it must have <|tool_start|> and <|output_end|>). */
  static forTokenizer(inner: TokenConstraint, tok: Tokenizer, maxCalls = 1): ReplyConstraint {
    if (!tok.hasSpecial('<|tool_start|>') || !tok.hasSpecial('<|output_end|>')) throw new GptforgeError('the tokenizer has no tool-call tokens (<|tool_start|>, <|output_end|>)');
    return new ReplyConstraint(inner, tok.specialId('<|tool_start|>'), tok.specialId('<|output_end|>'), maxCalls);
  }

  /** Whether `<|tool_start|>` may come now: before the text, and fewer than `maxCalls` results back. */
  private mayCall(): boolean {
    return !this.started && this.calls < this.maxCalls;
  }

  fillMask(allowed: Uint32Array): void {
    if (this.inCall) {
      allowed.fill(0xffffffff);
      return;
    }
    this.inner.fillMask(allowed);
    if (this.mayCall()) allowed[this.toolStart >>> 5] |= 1 << (this.toolStart & 31);
  }
  advance(token: number): boolean {
    if (this.inCall) {
      if (token === this.outputEnd) {
        this.inCall = false;
        this.calls++;
      }
      return true;
    }
    if (token === this.toolStart) {
      if (!this.mayCall()) return false;
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
    const c = new ReplyConstraint(this.inner.clone(), this.toolStart, this.outputEnd, this.maxCalls);
    c.inCall = this.inCall;
    c.started = this.started;
    c.calls = this.calls;
    return c;
  }
}
