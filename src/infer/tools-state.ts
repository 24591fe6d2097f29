import { chatTokenIds, turnEndIds, type ChatSpecial } from '../data/chat.js';
import type { Tokenizer } from '../tokenizer/index.js';
import type { TokenConstraint } from './constraint.js';
import { maskCallLogits } from './constrain/toolcall.js';
import type { RowController } from './pipeline.js';
import type { LogitsProcessor, RowView } from './processors.js';
import type { ToolResult } from './tools/registry.js';

/** What a tool row needs: the tokenizer, the longest call and the call body's grammar. */
export interface ToolCallSetup {
  tok: Tokenizer;
  /** Longest call, in tokens: at this length the row closes the call itself (forces <|tool_end|>). */
  maxCallTokens: number;
  /**
   * The call body ("name: arguments") under the declared tools' `parameters` schemas
   * (constrain/toolcall.ts), cloned for each call; null or absent: free text.
   */
  callConstraint?: TokenConstraint | null;
}

/**
 * A closed call's text split as the chat format writes it, `name: input` — the one rule both tool
 * layers (ChatEngine's ToolCallState and the server's ToolRowController) read calls by, as the
 * registry parses them (tools/registry.ts): the name is the text before the first colon, the input
 * the text after it, both trimmed. Without a colon, or with nothing before it, the call has no
 * name (null) and its whole text is the input; the registry answers such a call with a
 * "malformed tool call" error, the engine records it under the name `invalid`.
 * @example splitToolCall('calculator: 12*3') // { name: 'calculator', input: '12*3' }
 * @example splitToolCall('calculator 12*3') // { name: null, input: 'calculator 12*3' }
 */
export function splitToolCall(text: string): { name: string | null; input: string } {
  const colon = text.indexOf(':');
  const name = colon > 0 ? text.slice(0, colon).trim() : '';
  return name === '' ? { name: null, input: text.trim() } : { name, input: text.slice(colon + 1).trim() };
}

/**
 * A built-in tool's call that ran inside decoding, as it is reported: the server's
 * `builtin_tool_calls` entries on a chat message and in a technique's trace (docs/server.md),
 * the techniques' traces (src/assist/ask.ts). `output` is what was forced into the reply for the
 * model to read.
 */
export interface BuiltinToolCall {
  /** The tool that ran (its registered spelling), or the name the model wrote when none matched (`invalid` when it wrote none). */
  name: string;
  /** The call's input text after the colon (`12*3`). */
  input: string;
  /** The tool's result, or `error: …` (`ok` false). */
  output: string;
  ok: boolean;
}

/** The report of a call whose body was `text` ("name: input", splitToolCall's rule) and whose registry answer was `result`. */
export function builtinToolCall(text: string, result: ToolResult): BuiltinToolCall {
  const { name, input } = splitToolCall(text);
  return { name: result.tool ?? name ?? 'invalid', input, output: result.output, ok: result.ok };
}

/**
 * The tool-call state machine of one chat row: a small per-row record the decoding pipeline
 * (pipeline.ts) consults as a logits processor and as the row's controller, not a decoding loop
 * of its own (the shape of nanochat's engine.py). One machine for both chat users:
 * ChatEngine's ToolCallState (src/infer/engine.ts: `gptforge chat`, techniques, RL rollouts)
 * and the OpenAI server's ToolRowController (src/server/chat.ts).
 *
 * The layout is the chat format's (src/data/chat.ts):
 * `<|tool_start|>name: input<|tool_end|><|output_start|>result<|output_end|>`.
 *
 *   text mode: `<|tool_end|>` is masked, and `<|tool_start|>` unless `mayOpen()`; sampling
 *              `<|tool_start|>` opens a call (hidden, like every token of the call).
 *   call mode: `<|tool_start|>` and the end-of-turn ids (`turnEndIds`) are masked, so a call ends
 *              only at `<|tool_end|>` or at `maxCallTokens` and is never dropped by an end of
 *              turn; with a call constraint, only its tokens are allowed, and `<|tool_end|>` once
 *              it is complete (maskCallLogits).
 *   closing:   at `<|tool_end|>`, or at `maxCallTokens` where the row forces `<|tool_end|>`
 *              itself; `closeCall(text, complete)` decides what follows: tokens to force after
 *              it (a tool's output: `outputTokens`) and back to text mode, or null to leave the
 *              call open as it stands (the user's stopping criterion then ends the row).
 *
 * What it does not do: run tools, check names, count calls against a limit, build messages or
 * OpenAI `tool_calls`, end the row or rename its finish reason. Those are the users' layers:
 * the hooks `mayOpen`, `closeCall` and the optional `textLogits`, `callLogits`, `openCall`,
 * `callToken`. It holds no sampling state: masks go to -Infinity, forcing is the pipeline's.
 */
export abstract class ToolCallRow implements LogitsProcessor, RowController {
  /** The chat format's special ids. */
  protected readonly sp: Record<ChatSpecial, number>;
  /** The end-of-turn ids (<|assistant_end|>, <|eos|> when present), masked while a call is open. */
  private readonly turnEnds: readonly number[];
  private open = false;
  private ids: number[] = [];
  /** The open call's constraint (a clone per call), or null: free text. A layer may drop it mid-call. */
  protected callCon: TokenConstraint | null = null;
  private callMask: Uint32Array | null = null;
  private closedCalls = 0;

  constructor(protected readonly setup: ToolCallSetup) {
    this.sp = chatTokenIds(setup.tok);
    this.turnEnds = turnEndIds(setup.tok);
  }

  /** Whether a call is open (after `<|tool_start|>`, before it closes). */
  get inCall(): boolean {
    return this.open;
  }

  /** The open call's body ids so far (empty in text mode). */
  get callIds(): readonly number[] {
    return this.ids;
  }

  /** Calls closed so far (cut ones included when `closeCall` went on past them). */
  get closed(): number {
    return this.closedCalls;
  }

  /** Text mode: whether `<|tool_start|>` may be sampled at this step. */
  protected abstract mayOpen(): boolean;

  /**
   * A call closed: `text` is its body decoded ("name: input"), `complete` false when the call
   * constraint was still unfinished (a call cut at maxCallTokens mid-arguments). Returns the
   * tokens to force after `<|tool_end|>` (the row goes back to text mode), or null to keep the
   * call open as it is (nothing forced; the layer ends the row).
   */
  protected abstract closeCall(text: string, complete: boolean): readonly number[] | null;

  /** Text mode, after `<|tool_end|>` is masked and before `<|tool_start|>` is (when `!mayOpen()`). */
  protected textLogits(_logits: Float32Array, _row: RowView): void {}

  /** Call mode, after `<|tool_start|>` and the end of turn are masked: the call constraint's mask. */
  protected callLogits(logits: Float32Array, _row: RowView): void {
    this.maskCall(logits);
  }

  /** A call opens: its constraint (default: a clone of the setup's, or null). */
  protected openCall(): TokenConstraint | null {
    return this.setup.callConstraint?.clone() ?? null;
  }

  /** A token of the open call's body was appended (and the constraint advanced). */
  protected callToken(_token: number): void {}

  /** Mask `logits` to what the open call's constraint allows (`<|tool_end|>` once complete); nothing without one. */
  protected maskCall(logits: Float32Array): void {
    if (this.callCon) this.callMask = maskCallLogits(this.callCon, logits, this.sp['<|tool_end|>'], this.callMask);
  }

  /** Close the open call without running or returning it (nothing forced, not counted): back to text mode. */
  protected dropCall(): void {
    this.ids = [];
    this.callCon = null;
    this.open = false;
  }

  /** `<|output_start|> output <|output_end|>`: a tool's result as the tokens to force. */
  protected outputTokens(output: string): number[] {
    return [this.sp['<|output_start|>'], ...this.setup.tok.encode(output, { disallowedSpecial: 'plain' }), this.sp['<|output_end|>']];
  }

  process(logits: Float32Array, row: RowView): void {
    const { sp } = this;
    if (!this.open) {
      logits[sp['<|tool_end|>']] = -Infinity;
      this.textLogits(logits, row);
      if (!this.mayOpen()) logits[sp['<|tool_start|>']] = -Infinity;
    } else {
      logits[sp['<|tool_start|>']] = -Infinity;
      // an open call ends only at <|tool_end|> (or is closed at maxCallTokens): an end of turn here would drop it
      // silently, so it is masked, as llguidance/vLLM keep a tool call open until its grammar closes it
      for (const e of this.turnEnds) logits[e] = -Infinity;
      this.callLogits(logits, row);
    }
  }

  onSampled(next: number): { visible: boolean; forced?: readonly number[] } {
    const end = this.sp['<|tool_end|>'];
    if (!this.open) {
      if (next !== this.sp['<|tool_start|>']) return { visible: true };
      this.open = true;
      this.callCon = this.openCall();
      return { visible: false };
    }
    if (next !== end) {
      this.ids.push(next);
      this.callCon?.advance(next);
      this.callToken(next);
      if (this.ids.length < this.setup.maxCallTokens) return { visible: false };
    }
    const complete = this.callCon === null || this.callCon.isComplete();
    this.callCon = null;
    const after = this.closeCall(this.setup.tok.decode(this.ids), complete);
    if (after === null) return { visible: false };
    this.ids = [];
    this.open = false;
    this.closedCalls++;
    // a call that grew to maxCallTokens is closed by the row itself
    return { visible: false, forced: next === end ? after : [end, ...after] };
  }
}
