import { callInput, chatTokenIds, joinTextParts, renderConversation, renderPrompt } from '../data/chat.js';
import type { Conversation, Message } from '../data/conversation.js';
import { byteSet } from '../infer/constrain/bytes.js';
import { alt, bytes, literal, seq, star } from '../infer/constrain/grammar.js';
import { Automaton, GrammarConstraint, TokenMatcher } from '../infer/constrain/matcher.js';
import { tokenTrie } from '../infer/constrain/trie.js';
import type { TokenConstraint } from '../infer/constraint.js';
import type { RowView } from '../infer/processors.js';
import type { Finish, RowProgress, StoppingCriterion } from '../infer/stopping.js';
import type { ToolRegistry } from '../infer/tools/registry.js';
import { builtinToolCall, splitToolCall, ToolCallRow, type BuiltinToolCall, type ToolCallSetup } from '../infer/tools-state.js';

export type { BuiltinToolCall };
import type { Tokenizer } from '../tokenizer/index.js';
import { badRequest } from './errors.js';

/**
 * OpenAI chat messages ↔ gptforge conversations, and the per-row tool controller.
 *
 * Our chat models call a tool by writing `<|tool_start|>name: input<|tool_end|>` (src/data/chat.ts).
 * In the API that is a `tool_calls` entry `{type: "function", function: {name, arguments}}`;
 * `arguments` must be a JSON string, so the free-text input becomes `{"input": "<text>"}`
 * (an input that already is a JSON object is passed through). Back from the client, the
 * arguments of an assistant message's tool call become the input again: a one-key object
 * whose value is a string gives that string, anything else the arguments text itself.
 */

export interface ApiToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** The model's call input → OpenAI's `arguments` JSON string. */
export function argumentsOf(input: string): string {
  try {
    const v: unknown = JSON.parse(input);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return input;
  } catch {
    // free text: wrapped below
  }
  return JSON.stringify({ input });
}

/**
 * A message's `content` as text: a string, or an array of `{"type": "text", "text"}` parts joined.
 * An assistant message may also hold `{"type": "refusal", "refusal"}` parts (OpenAI's assistant
 * content parts: a model's refusal sent back in the history); their text is the assistant's reply
 * as the model wrote it, so it joins the content like a text part (`joinTextParts`, the rule
 * training files are read with too).
 * @throws ApiError 400 naming the part for any other part (images, audio, files).
 */
function textContent(content: unknown, where: string, assistant = false): string {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  if (Array.isArray(content)) {
    const text = joinTextParts(content, assistant);
    if (typeof text === 'string') return text;
    throw badRequest(`${where}.content[${text.badPart}]: only text parts${assistant ? ' and refusal parts' : ''} are supported`, `${where}.content`);
  }
  throw badRequest(`${where}.content must be a string or an array of text parts`, `${where}.content`);
}

/** A built-in call as a response reports it on the message: BuiltinToolCall and where it ran in `content`. */
export interface PlacedBuiltinCall extends BuiltinToolCall {
  /** Unicode code points of the message's `content` written before the call ran. */
  offset: number;
}

/**
 * Where each built-in call of a row ran in its content (the response's `builtin_tool_calls[].offset`,
 * which toConversation reads back to put the call there in the layout). Fed the row's decode events
 * in order: a call that is new at an event ran before that event's text, since a call's tokens are
 * hidden and the text before it was released when it opened.
 */
export class BuiltinCallPlaces {
  private written = 0;
  private readonly offsets: number[] = [];
  /** One event of the row: the controller's calls so far and the event's text. Returns the calls new at this event. */
  see(calls: readonly BuiltinToolCall[], text: string): PlacedBuiltinCall[] {
    const fresh: PlacedBuiltinCall[] = [];
    while (this.offsets.length < calls.length) {
      fresh.push({ ...calls[this.offsets.length], offset: this.written });
      this.offsets.push(this.written);
    }
    for (const _ of text) this.written++;
    return fresh;
  }
  /** The message's `builtin_tool_calls` (absent when none ran). */
  json(calls: readonly BuiltinToolCall[]): { builtin_tool_calls?: PlacedBuiltinCall[] } {
    return calls.length > 0 ? { builtin_tool_calls: calls.map((c, i) => ({ ...c, offset: this.offsets[i] ?? this.written })) } : {};
  }
}

/**
 * An assistant message's `builtin_tool_calls` sent back as history (the response's message as it
 * came): each entry's name, input, output and offset (code points of `content` before it), in order.
 */
function placedCalls(raw: unknown, content: string, where: string): PlacedBuiltinCall[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw badRequest(`${where}.builtin_tool_calls must be an array`, 'messages');
  const length = [...content].length;
  let last = 0;
  return raw.map((x: unknown, k: number) => {
    const c = x as Partial<PlacedBuiltinCall> | null;
    const at = `${where}.builtin_tool_calls[${k}]`;
    if (typeof c?.name !== 'string' || typeof c.input !== 'string' || typeof c.output !== 'string') throw badRequest(`${at} needs name, input and output (strings), as the response gave them`, 'messages');
    if (!Number.isInteger(c.offset) || (c.offset as number) < last || (c.offset as number) > length) throw badRequest(`${at}.offset must be an integer from ${last} to ${length} (code points of the content before the call, in order), got ${JSON.stringify(c.offset)}`, 'messages');
    last = c.offset as number;
    return { name: c.name, input: c.input, output: c.output, ok: c.ok !== false, offset: last };
  });
}

/**
 * OpenAI `messages` → a Conversation. An assistant message with k tool calls becomes k
 * assistant messages (each with one call) interleaved with the k `role: "tool"` results,
 * matched by `tool_call_id`. `developer` is read as `system`. An assistant message's
 * `builtin_tool_calls` (a response's message sent back as it came) are put back where they ran:
 * the text before each, the call and its output, then the rest of the text, as the model wrote them.
 */
export function toConversation(raw: unknown): Conversation {
  if (!Array.isArray(raw) || raw.length === 0) throw badRequest("'messages' must be a non-empty array", 'messages');
  const out: Message[] = [];
  for (let i = 0; i < raw.length; i++) {
    const m = raw[i] as Record<string, unknown>;
    const where = `messages[${i}]`;
    if (typeof m !== 'object' || m === null) throw badRequest(`${where} must be an object`, 'messages');
    const role = m.role;
    if (role === 'system' || role === 'developer') out.push({ role: 'system', content: textContent(m.content, where) });
    else if (role === 'user') out.push({ role: 'user', content: textContent(m.content, where) });
    else if (role === 'assistant') {
      let content = textContent(m.content, where, true);
      // a reply sent back as the API returned a refusal: `refusal` set, `content` null
      if (content === '' && typeof m.refusal === 'string') content = m.refusal;
      const builtins = placedCalls(m.builtin_tool_calls, content, where);
      if (builtins.length > 0) {
        const chars = [...content];
        let from = 0;
        for (const c of builtins) {
          out.push({ role: 'assistant', content: chars.slice(from, c.offset).join(''), tool_call: { name: c.name, input: c.input } });
          out.push({ role: 'tool', content: c.output });
          from = c.offset;
        }
        content = chars.slice(from).join('');
      }
      const calls = m.tool_calls;
      if (calls === undefined || calls === null || (Array.isArray(calls) && calls.length === 0)) {
        out.push({ role: 'assistant', content });
        continue;
      }
      if (!Array.isArray(calls)) throw badRequest(`${where}.tool_calls must be an array`, 'messages');
      // the results follow, one `tool` message per call, in any order
      const results = new Map<string, string>();
      let j = i + 1;
      while (j < raw.length && (raw[j] as { role?: unknown })?.role === 'tool') {
        const t = raw[j] as Record<string, unknown>;
        if (typeof t.tool_call_id !== 'string') throw badRequest(`messages[${j}].tool_call_id must be a string`, 'messages');
        results.set(t.tool_call_id, textContent(t.content, `messages[${j}]`));
        j++;
      }
      calls.forEach((c: unknown, k: number) => {
        const call = c as { id?: unknown; function?: { name?: unknown; arguments?: unknown } };
        const name = call?.function?.name;
        const args = call?.function?.arguments;
        if (typeof call?.id !== 'string' || typeof name !== 'string' || typeof args !== 'string') throw badRequest(`${where}.tool_calls[${k}] needs an id, function.name and function.arguments (a string)`, 'messages');
        const result = results.get(call.id);
        if (result === undefined) throw badRequest(`${where}.tool_calls[${k}] (id ${call.id}) has no 'tool' message with its result after it`, 'messages');
        // the data layer's rule for `arguments` (callInput): files and requests read calls alike
        out.push({ role: 'assistant', content: k === 0 ? content : '', tool_call: { name, input: callInput(args) } });
        out.push({ role: 'tool', content: result });
      });
      if (results.size !== calls.length) throw badRequest(`${where}: ${results.size} tool results for ${calls.length} tool calls`, 'messages');
      i = j - 1;
    } else if (role === 'tool') throw badRequest(`${where}: a 'tool' message must follow an assistant message with 'tool_calls'`, 'messages');
    else throw badRequest(`${where}.role must be system, developer, user, assistant or tool`, 'messages');
  }
  return { messages: out };
}

/**
 * The prompt ids for the assistant's next reply: after a user message, the turn opens with
 * <|assistant_start|>; after tool results, the assistant's turn goes on (the layout has no new
 * <|assistant_start|> after <|output_end|>); after an assistant message, that message goes on (a prefill).
 */
export function chatPrompt(tok: Tokenizer, conv: Conversation): number[] {
  const last = conv.messages[conv.messages.length - 1];
  if (last.role === 'user') return renderPrompt(tok, conv);
  if (last.role === 'tool') return renderConversation(tok, conv).ids;
  // a final assistant message (OpenAI accepts one) is continued, as a prefill: its turn is left open
  // (HF's continue_final_message, vLLM's), since two assistant turns in a row are not a layout the model knows
  if (last.role === 'assistant' && !last.tool_call) {
    const ids = renderConversation(tok, conv).ids;
    const end = chatTokenIds(tok)['<|assistant_end|>'];
    return ids[ids.length - 1] === end ? ids.slice(0, -1) : ids;
  }
  throw badRequest('the last message must be a user message, tool results, or an assistant message to continue', 'messages');
}

/** The index of the largest entry (the first of ties), or -1 when all are -Infinity. */
function argmaxOf(logits: Float32Array): number {
  let best = -1;
  let v = -Infinity;
  for (let i = 0; i < logits.length; i++)
    if (logits[i] > v) {
      v = logits[i];
      best = i;
    }
  return best;
}

/** Keep only `logits[id]` (0 when it was masked): the row must take that token. */
function only(logits: Float32Array, id: number): void {
  const keep = logits[id];
  logits.fill(-Infinity);
  logits[id] = Number.isFinite(keep) ? keep : 0;
}

/** Whether `logits[id]` is a largest entry (ties count). */
function isArgmax(logits: Float32Array, id: number): boolean {
  const v = logits[id];
  if (!(v > -Infinity)) return false;
  for (let i = 0; i < logits.length; i++) if (logits[i] > v) return false;
  return true;
}

/**
 * The choice's `hint` (a gptforge extension, docs/server.md) when the model wanted a tool call the
 * request did not enable: its most likely token was the call's opening, masked out.
 */
export const TOOL_HINT = 'the model tried to call a tool this request did not enable: send "builtin_tools": ["calculator"] to have the server run its calculator (gptforge chat does so by default), or declare the tool in "tools" to run it yourself';

/**
 * The choice's `hint` when the model wanted another built-in call after the request's `max_tool_calls`
 * had run (its most likely token was the call's opening, masked out): the reply alone ("Let me
 * calculate that.") looks like a model that gave up, as with TOOL_HINT.
 */
export function toolCapHint(max: number): string {
  return `the model tried to call a tool again after the request's "max_tool_calls" (${max}) built-in calls had run: raise "max_tool_calls" to let it`;
}

const nameConstraints = new WeakMap<Tokenizer, Map<string, GrammarConstraint>>();

/**
 * The constraint on a call's name when no declared tool is strict: `name₁ ":" any* | name₂ ":" any* | …`
 * over the declared names (exact spelling), so a call can only name a function the request declared,
 * as OpenAI's replies do; the arguments after the colon stay free text. Compiled once per tokenizer
 * and name list; clone before use.
 */
export function toolNameConstraint(names: readonly string[], tok: Tokenizer): GrammarConstraint {
  const key = JSON.stringify(names);
  let byNames = nameConstraints.get(tok);
  if (!byNames) nameConstraints.set(tok, (byNames = new Map()));
  let con = byNames.get(key);
  if (!con) {
    const any = star(bytes(byteSet([0, 255])));
    const g = { rules: new Map([['call', alt(...names.map((n) => seq(literal(n), literal(':'), any)))]]), start: 'call', source: 'tool call name' };
    con = new GrammarConstraint(new TokenMatcher(new Automaton(g), tokenTrie(tok)));
    // clients choose the names: a bounded cache, not one entry per name list ever sent
    if (byNames.size >= 64) byNames.clear();
    byNames.set(key, con);
  }
  return con;
}

export type ToolChoice = 'none' | 'auto' | 'required' | { name: string };

export interface ToolSetup extends ToolCallSetup {
  /** Function names the client declared in `tools` (it runs them). */
  clientTools: ReadonlySet<string>;
  /** Tools run here, inside decoding (the calculator), or null. */
  builtin: ToolRegistry | null;
  /** Most built-in calls in one reply (the request's `max_tool_calls`, default the engine's DEFAULT_MAX_TOOL_CALLS); then `<|tool_start|>` is masked. */
  maxBuiltinCalls: number;
  choice: ToolChoice;
  /**
   * The call body ("name: arguments") under the declared tools' `parameters` schemas
   * (src/infer/constrain/toolcall.ts), cloned for each call; null when no tool declares any.
   */
  callConstraint?: GrammarConstraint | null;
}

/**
 * One chat row's tool controller: the server's layer on the per-row tool state machine
 * (src/infer/tools-state.ts, shared with ChatEngine: `<|tool_end|>` masked in text mode,
 * `<|tool_start|>` and the end of turn masked in a call, a call closed at `maxCallTokens`), and the
 * row's stopping criterion. A call may open while a tool is enabled, `tool_choice` is not "none"
 * and fewer than `maxBuiltinCalls` built-in calls have run; with `tool_choice` "required" or a named function the
 * reply must open with a call (and a named call's `name: ` prefix is forced token by token). A
 * call's name is always a declared one (the strict grammar, or `toolNameConstraint` up to the
 * colon); under "auto" a call heading for an undeclared name is dropped and flagged `wantedTool`.
 * When a call closes: a built-in tool runs and its output is forced into the row (the model goes
 * on); a client's tool ends the row, and the call is returned as `tool_calls`. A strict call cut
 * at `maxCallTokens` before its arguments were complete stays open and ends the row ('length').
 */
export class ToolRowController extends ToolCallRow implements StoppingCriterion {
  readonly calls: ApiToolCall[] = [];
  /** The built-in tools' calls run so far, in order (their outputs were forced into the row). */
  readonly builtinCalls: BuiltinToolCall[] = [];
  /** Whether the last sampled token was visible text (logprobs report only those). */
  lastVisible = true;
  private readonly prefix: number[];
  private done = false;
  /** Names only (no strict tool): the declared names' constraint, dropped once the call's colon is written. */
  private readonly nameCon: GrammarConstraint | null;
  /** Whether the open call is still writing its name (no colon yet). */
  private naming = false;
  /** Under "auto" the model began a call to a tool the request did not declare: the call is dropped and the row ends. */
  private abandoned = false;
  /** A call cut at maxCallTokens before its arguments were complete: the row ends with 'length'. */
  private cut = false;
  /**
   * The model's most likely next token was <|tool_start|> while the request enabled no tool (it
   * was masked): an SFT model that says "Let me calculate that." and then stops. The response
   * says so (`TOOL_HINT`), since the reply alone looks like a model that gave up.
   */
  wantedTool = false;
  /**
   * The model's most likely next token was <|tool_start|> after `maxBuiltinCalls` built-in calls had
   * run (it was masked): the response says so (`toolCapHint`).
   */
  capReached = false;

  /** The choice's `hint` (docs/server.md), or null: a tool the request did not enable, or the call cap reached. */
  get hint(): string | null {
    return this.wantedTool ? TOOL_HINT : this.capReached ? toolCapHint(this.s.maxBuiltinCalls) : null;
  }

  constructor(
    private readonly s: ToolSetup,
    private readonly idPrefix: string,
  ) {
    super(s);
    this.prefix = typeof s.choice === 'object' ? s.tok.encode(`${s.choice.name}: `, { disallowedSpecial: 'plain' }) : [];
    const names = [...s.clientTools, ...(s.builtin?.names() ?? []).filter((n) => !s.clientTools.has(n))];
    this.nameCon = !s.callConstraint && names.length > 0 ? toolNameConstraint(names, s.tok) : null;
  }

  private get mustCall(): boolean {
    return this.calls.length === 0 && this.builtinCalls.length === 0 && (this.s.choice === 'required' || typeof this.s.choice === 'object');
  }

  private get anyTool(): boolean {
    return this.s.clientTools.size > 0 || this.s.builtin !== null;
  }

  protected mayOpen(): boolean {
    return this.anyTool && this.s.choice !== 'none' && this.builtinCalls.length < this.s.maxBuiltinCalls;
  }

  protected override textLogits(logits: Float32Array, row: RowView): void {
    if (!this.anyTool && isArgmax(logits, this.sp['<|tool_start|>'])) this.wantedTool = true;
    else if (this.s.builtin !== null && this.s.choice !== 'none' && this.builtinCalls.length >= this.s.maxBuiltinCalls && isArgmax(logits, this.sp['<|tool_start|>'])) this.capReached = true;
    if (this.mayOpen() && this.mustCall && row.ids.length === 0) only(logits, this.sp['<|tool_start|>']);
  }

  protected override callLogits(logits: Float32Array): void {
    const n = this.callIds.length;
    if (n < this.prefix.length && this.calls.length === 0) only(logits, this.prefix[n]);
    // the name among the declared ones, and the arguments under the tool's schema when strict: only allowed tokens; <|tool_end|> once complete
    if (this.callCon) {
      // under "auto", a model heading for a name the request did not declare (its most likely token is masked) is not
      // pushed into a declared one: the call is dropped and the reply carries the hint, as when no tool is enabled
      const top = this.naming && this.s.choice === 'auto' ? argmaxOf(logits) : -1;
      this.maskCall(logits);
      if (top >= 0 && logits[top] === -Infinity) {
        this.wantedTool = true;
        this.abandoned = true;
        only(logits, this.sp['<|tool_end|>']);
      }
    }
  }

  protected override openCall(): TokenConstraint | null {
    this.naming = true;
    return super.openCall() ?? this.nameCon?.clone() ?? null;
  }

  protected override callToken(): void {
    if (this.naming && this.s.tok.decode(this.callIds).includes(':')) {
      this.naming = false;
      // the name is complete: free-text arguments are not constrained
      if (this.callCon && !this.s.callConstraint) this.callCon = null;
    }
  }

  override onSampled(next: number): { visible: boolean; forced?: readonly number[] } {
    if (this.inCall && this.abandoned) {
      this.lastVisible = false;
      this.dropCall();
      this.done = true;
      return { visible: false };
    }
    const r = super.onSampled(next);
    this.lastVisible = r.visible;
    return r;
  }

  protected closeCall(text: string, complete: boolean): readonly number[] | null {
    // a constrained call cut before its arguments were complete is never returned or run
    if (!complete) {
      this.cut = true;
      return null;
    }
    // the names are constrained to declared ones up to the colon, so a call that closes complete has
    // one; a call without (splitToolCall's rule) is no client function's: the built-in registry
    // answers it with its error when built-in tools are on, as ChatEngine does, else the row ends
    const { name, input } = splitToolCall(text);
    if (this.s.builtin && (name === null || (this.s.builtin.get(name) && !this.s.clientTools.has(name)))) {
      const r = this.s.builtin.call(text);
      this.builtinCalls.push(builtinToolCall(text, r));
      return this.outputTokens(r.output);
    }
    if (name === null) {
      this.done = true;
      return [];
    }
    this.calls.push({ id: `${this.idPrefix}_${this.calls.length}`, type: 'function', function: { name, arguments: argumentsOf(input) } });
    this.done = true;
    return [];
  }

  /**
   * The client's call the row was writing when it was cut (by `max_tokens`, or at `maxCallTokens`
   * before a strict call's arguments were complete): its name and the arguments' text generated so far,
   * as OpenAI returns a call cut by `max_tokens` (with finish_reason "length"; the arguments need
   * not parse). Null when no call is open, or the open one is a built-in tool's.
   */
  partialCall(): ApiToolCall | null {
    if (!this.inCall || this.callIds.length === 0) return null;
    const { name, input } = splitToolCall(this.s.tok.decode(this.callIds));
    // a name cut before its colon is not yet a declared function's: no call to return
    if (name === null || !this.s.clientTools.has(name)) return null;
    // the text so far, as it stands (a strict call's JSON prefix), not wrapped as a complete free-text call is
    return { id: `${this.idPrefix}_${this.calls.length}`, type: 'function', function: { name, arguments: input } };
  }

  /** A client's tool call ends the row: the client runs it and sends the result back. */
  check(_row: RowProgress): Finish | null {
    if (this.cut) return { reason: 'length', matched: null };
    return this.done ? { reason: 'stop', matched: null } : null;
  }
}
