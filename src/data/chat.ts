import type { Tokenizer } from '../tokenizer/index.js';
import { GptforgeError, type ErrorLocation } from '../util/errors.js';
import { readJSONL, type OnBad } from './jsonl.js';
import { ROLES, type Conversation, type Message, type ToolCall } from './conversation.js';

/**
 * Conversations → token ids and a loss mask. One renderer serves SFT training, the chat
 * engine and the reward model, so what the model is trained on and what it is prompted
 * with can never disagree. The layout (tests pin it):
 *
 *   <|bos|>
 *   <|system_start|> text <|system_end|>                                  (optional, first)
 *   <|user_start|> text <|user_end|>
 *   <|assistant_start|> text [<|tool_start|> name: input <|tool_end|>
 *                             <|output_start|> output <|output_end|> text]… <|assistant_end|>
 *   … more user / assistant turns
 *
 * mask[i] = 1 when token i is something the assistant must learn to produce: its text, its
 * tool calls (tool_start … tool_end) and <|assistant_end|>. Everything the engine or the
 * user supplies is 0: bos, system, user turns, <|assistant_start|> (the engine forces it to
 * begin a turn) and tool outputs (the engine forces <|output_start|>…<|output_end|>).
 * Message text is encoded with special-token text as plain text, so a user who types
 * "<|assistant_end|>" cannot forge a turn boundary.
 */
export interface RenderedConversation {
  ids: number[];
  /** 1 where ids[i] is a training target (predicted from ids[i−1]); same length as ids. */
  mask: number[];
}

export const CHAT_SPECIALS = ['<|bos|>', '<|user_start|>', '<|user_end|>', '<|assistant_start|>', '<|assistant_end|>', '<|system_start|>', '<|system_end|>', '<|tool_start|>', '<|tool_end|>', '<|output_start|>', '<|output_end|>'] as const;
export type ChatSpecial = (typeof CHAT_SPECIALS)[number];

/** The special token ids a chat model needs; an error naming the missing ones otherwise. */
export function chatTokenIds(tok: Tokenizer): Record<ChatSpecial, number> {
  const missing = CHAT_SPECIALS.filter((s) => !tok.hasSpecial(s));
  if (missing.length > 0) throw new GptforgeError(`this tokenizer lacks the chat special tokens ${missing.join(' ')}; train it with gptforge's default special tokens`);
  const out = {} as Record<ChatSpecial, number>;
  for (const s of CHAT_SPECIALS) out[s] = tok.specialId(s);
  return out;
}

/**
 * The tokens that end an assistant's turn: `<|assistant_end|>`, and `<|eos|>` when the tokenizer
 * has it (a base model's end of document). Decoding stops at either; inside an open tool call both are masked.
 * @example turnEndIds(tok) // [tok.specialId('<|assistant_end|>'), tok.specialId('<|eos|>')]
 */
export function turnEndIds(tok: Pick<Tokenizer, 'hasSpecial' | 'specialId'>): number[] {
  return [tok.specialId('<|assistant_end|>'), ...(tok.hasSpecial('<|eos|>') ? [tok.specialId('<|eos|>')] : [])];
}

export interface ValidateOptions {
  /** Training data: the last message must be the assistant's (there must be something to learn). */
  forTraining?: boolean;
  where?: ErrorLocation;
}

/** Throws a GptforgeError naming the message and field when a conversation is malformed. */
export function validateConversation(conv: unknown, opts: ValidateOptions = {}): asserts conv is Conversation {
  const where = opts.where ?? {};
  const fail = (msg: string, field?: string): never => {
    throw new GptforgeError(msg, { ...where, field: field ?? where.field });
  };
  if (typeof conv !== 'object' || conv === null || !Array.isArray((conv as Conversation).messages)) fail('expected {"messages": [...]}', 'messages');
  const msgs = (conv as Conversation).messages;
  if (msgs.length === 0) fail('no messages', 'messages');
  let expectTool = false;
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i] as Partial<Message> | null;
    const f = `messages[${i}]`;
    if (typeof m !== 'object' || m === null) fail('not an object', f);
    if (!ROLES.includes(m!.role as Message['role'])) fail(`unknown role ${JSON.stringify(m!.role)} (roles: ${ROLES.join(', ')})`, `${f}.role`);
    if (typeof m!.content !== 'string')
      fail(`content must be a string, got ${m!.content === undefined ? 'none' : Array.isArray(m!.content) ? 'a list' : JSON.stringify(m!.content).slice(0, 40)}${m!.role === 'assistant' ? ' (a tool call is "tool_call": {"name", "input"} beside the text said before it, or OpenAI\'s "tool_calls")' : ''}`, `${f}.content`);
    const role = m!.role!;
    if (role === 'system' && i !== 0) fail('a system message may only come first', `${f}.role`);
    if (expectTool && role !== 'tool') fail('a tool_call must be followed by a tool message with its output', `${f}.role`);
    if (role === 'tool' && !expectTool) fail('a tool message must follow an assistant message with a tool_call', `${f}.role`);
    expectTool = false;
    if (m!.tool_call !== undefined) {
      const tc = m!.tool_call as ToolCall;
      if (role !== 'assistant') fail('only assistant messages make tool calls', `${f}.tool_call`);
      if (typeof tc !== 'object' || tc === null || typeof tc.name !== 'string' || !/^[a-z][a-z0-9_]*$/i.test(tc.name) || typeof tc.input !== 'string') fail('tool_call must be {"name": identifier, "input": string}', `${f}.tool_call`);
      if (tc.input.trim() === '') fail('empty tool input', `${f}.tool_call.input`);
      expectTool = true;
    } else if (role !== 'tool' && m!.content!.trim() === '' && !(role === 'assistant' && msgs[i - 1]?.role === 'tool')) {
      // (an assistant may end its turn right after a tool output with nothing more to say)
      fail('empty content', `${f}.content`);
    }
    // An assistant turn continues after a tool output; anything else must alternate user/assistant.
    const prev = i > 0 ? msgs[i - 1] : undefined;
    if (prev && role === 'assistant' && prev.role === 'assistant' && prev.tool_call === undefined) fail('two assistant messages in a row', `${f}.role`);
    if (prev && role === 'user' && prev.role === 'user') fail('two user messages in a row', `${f}.role`);
    if (prev && role === 'user' && prev.role === 'tool') fail('the assistant must continue after a tool output', `${f}.role`);
  }
  if (expectTool) fail('the last tool_call has no tool output', `messages[${msgs.length - 1}]`);
  const last = msgs[msgs.length - 1];
  if (opts.forTraining) {
    if (last.role !== 'assistant') fail(`the last message is from "${last.role}"; training conversations must end with the assistant`, `messages[${msgs.length - 1}].role`);
    if (!msgs.some((m) => m.role === 'user')) fail('no user message', 'messages');
  }
}

function textIds(tok: Tokenizer, text: string): number[] {
  return tok.encode(text, { disallowedSpecial: 'plain' });
}

/** The tool call's text between <|tool_start|> and <|tool_end|>. */
function toolCallText(name: string, input: string): string {
  return `${name}: ${input}`;
}

/**
 * Render a whole conversation (training, reward scoring). When the conversation ends with a
 * user message, the result ends with <|user_end|>; use renderPrompt to open the reply.
 */
export function renderConversation(tok: Tokenizer, conv: Conversation): RenderedConversation {
  const s = chatTokenIds(tok);
  const ids: number[] = [s['<|bos|>']];
  const mask: number[] = [0];
  const push = (toks: readonly number[], m: number): void => {
    for (const t of toks) {
      ids.push(t);
      mask.push(m);
    }
  };
  const msgs = conv.messages;
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i];
    const prev = i > 0 ? msgs[i - 1] : undefined;
    switch (m.role) {
      case 'system':
        push([s['<|system_start|>'], ...textIds(tok, m.content), s['<|system_end|>']], 0);
        break;
      case 'user':
        push([s['<|user_start|>'], ...textIds(tok, m.content), s['<|user_end|>']], 0);
        break;
      case 'tool':
        push([s['<|output_start|>'], ...textIds(tok, m.content), s['<|output_end|>']], 0);
        break;
      case 'assistant': {
        // a continuation after a tool output stays inside the same turn
        const continues = prev?.role === 'tool';
        if (!continues) push([s['<|assistant_start|>']], 0);
        push(textIds(tok, m.content), 1);
        if (m.tool_call) push([s['<|tool_start|>'], ...textIds(tok, toolCallText(m.tool_call.name, m.tool_call.input)), s['<|tool_end|>']], 1);
        else push([s['<|assistant_end|>']], 1);
        break;
      }
      default:
        // library callers are not type-checked at run time (plain JS, JSON from elsewhere)
        throw new GptforgeError(`unknown role ${JSON.stringify((m as { role: unknown }).role)} (roles: ${ROLES.join(', ')})`, { field: `messages[${i}].role` });
    }
  }
  return { ids, mask };
}

/**
 * The prompt for the assistant's next reply: the conversation so far (ending with a user
 * message) followed by <|assistant_start|>. The chat engine and the evaluation use this.
 */
export function renderPrompt(tok: Tokenizer, conv: Conversation): number[] {
  conv.messages.forEach((m, i) => {
    if (!ROLES.includes(m.role)) throw new GptforgeError(`unknown role ${JSON.stringify(m.role)} (roles: ${ROLES.join(', ')})`, { field: `messages[${i}].role` });
  });
  const last = conv.messages[conv.messages.length - 1];
  if (!last || last.role !== 'user') throw new GptforgeError(`renderPrompt: the conversation must end with a user message${last ? `, not "${last.role}"` : ' (it is empty)'}`);
  const { ids } = renderConversation(tok, conv);
  ids.push(tok.specialId('<|assistant_start|>'));
  return ids;
}

/** The assistant's visible text of a reply: text parts joined, tool calls and outputs left out. */
export function visibleAnswer(conv: Conversation): string {
  let lastUser = -1;
  conv.messages.forEach((m, i) => {
    if (m.role === 'user') lastUser = i;
  });
  return conv.messages
    .slice(lastUser + 1)
    .filter((m) => m.role === 'assistant')
    .map((m) => m.content)
    .join('')
    .trim();
}

export type { OnBad };

export interface ReadConversationsResult {
  conversations: Conversation[];
  /** Lines skipped with --on-bad skip, each with its reason. */
  skipped: { line: number; reason: string }[];
  /** What kept lines hold that training ignores (unknown keys, unknown tools), each naming file, line and field. */
  warnings: string[];
}

/**
 * OpenAI's `arguments` JSON string → our call input: a one-key object of a string gives that
 * string, anything else the text itself. The one rule for both readers of OpenAI tool calls:
 * training files (fromOpenAIShape below) and the server's request history (src/server/chat.ts).
 */
export function callInput(args: string): string {
  try {
    const v: unknown = JSON.parse(args);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const vals = Object.values(v as Record<string, unknown>);
      if (vals.length === 1 && typeof vals[0] === 'string') return vals[0];
    }
  } catch {
    // not JSON: the text itself
  }
  return args;
}

/**
 * OpenAI's content parts as text: `{"type": "text", "text"}` parts joined, and for an assistant
 * `{"type": "refusal", "refusal"}` parts too (a model's refusal sent back: its text is the reply
 * the model wrote). The one rule for training files (`fromOpenAIShape`) and the server's
 * requests (src/server/chat.ts). Returns the joined text, or `{ badPart }`: the index of the
 * first other part (an image, audio, a file), which each caller names its own way.
 */
export function joinTextParts(parts: readonly unknown[], assistant: boolean): string | { badPart: number } {
  const out: string[] = [];
  for (let j = 0; j < parts.length; j++) {
    const part = parts[j] as { type?: unknown; text?: unknown; refusal?: unknown } | null;
    if (part?.type === 'text' && typeof part.text === 'string') out.push(part.text);
    else if (assistant && part?.type === 'refusal' && typeof part.refusal === 'string') out.push(part.refusal);
    else return { badPart: j };
  }
  return out.join('');
}

/**
 * Where a converted message came from in the line as written: the index of its message and,
 * for a call converted from OpenAI's `tool_calls`, the call's index there.
 */
export interface MessageOrigin {
  index: number;
  call?: number;
}

/**
 * A field of the converted conversation (`messages[2].tool_call.name`) named as the user wrote
 * it (`messages[1].tool_calls[0].function.name`): converting OpenAI's calls adds messages, so
 * indices after a call move, and a call's name and input live under `function`.
 */
function writtenField(field: string | undefined, origins: readonly MessageOrigin[] | undefined): string | undefined {
  const m = field === undefined || origins === undefined ? null : /^messages\[(\d+)\](.*)$/.exec(field);
  const o = m ? origins![Number(m[1])] : undefined;
  if (!m || !o) return field;
  const rest = m[2];
  if (o.call !== undefined && rest.startsWith('.tool_call')) {
    const sub = rest.slice('.tool_call'.length);
    const mapped = sub === '.name' ? '.function.name' : sub === '.input' ? '.function.arguments' : sub;
    return `messages[${o.index}].tool_calls[${o.call}]${mapped}`;
  }
  return `messages[${o.index}]${rest}`;
}

/**
 * A conversation line in OpenAI's chat shape read as ours (converted on load; lines already
 * in our shape come back as they are):
 * - a `content` list of text parts (`[{"type": "text", "text"}]`, and refusal parts on an
 *   assistant message) is their joined text, as the server reads it (`joinTextParts`);
 * - an assistant message with `tool_calls`
 *   (`[{"id", "type": "function", "function": {"name", "arguments"}}]`, arguments a JSON string
 *   or, as transformers' chat templates take them, a dict; its `content` null or
 *   text) followed by its `tool` messages (`tool_call_id`) becomes, per call, an assistant
 *   message with `tool_call: {name, input}` (a null `content` is "") and the tool message with
 *   that call's output — the layout the server builds from the same requests.
 * Anything else is left for validateConversation to judge.
 * @throws GptforgeError naming the message and field when a call lacks its id, name, arguments
 *   or result, or a content part is not text (`messages[i].content[j]`).
 */
export function fromOpenAIShape(conv: unknown, where: ErrorLocation = {}): unknown {
  return openAIToOurs(conv, where).conv;
}

/** `fromOpenAIShape`, with where each converted message came from (undefined: nothing moved). */
function openAIToOurs(conv: unknown, where: ErrorLocation): { conv: unknown; origins?: MessageOrigin[] } {
  const given = (conv as { messages?: unknown } | null)?.messages;
  const isMsg = (m: unknown): m is Record<string, unknown> => typeof m === 'object' && m !== null;
  if (!Array.isArray(given) || !given.some((m) => isMsg(m) && ('tool_calls' in m || m.content === null || Array.isArray(m.content)))) return { conv };
  const fail = (msg: string, field: string): never => {
    throw new GptforgeError(msg, { ...where, field });
  };
  // text parts first, so a tool result or a call's text may be parts too
  const raw = given.map((m, i) => {
    if (!isMsg(m) || !Array.isArray(m.content)) return m;
    const text = joinTextParts(m.content, m.role === 'assistant');
    if (typeof text === 'string') return { ...m, content: text };
    const part = (m.content as unknown[])[text.badPart] as { type?: unknown } | null;
    const kind = typeof part?.type === 'string' ? `a "${part.type}" part` : 'a part without a "type"';
    return fail(`content parts must be text ({"type": "text", "text"}${m.role === 'assistant' ? ' or refusal' : ''}) in training data, got ${kind}`, `messages[${i}].content[${text.badPart}]`);
  });
  const out: unknown[] = [];
  const origins: MessageOrigin[] = [];
  for (let i = 0; i < raw.length; i++) {
    const m = raw[i];
    if (!isMsg(m)) {
      out.push(m);
      origins.push({ index: i });
      continue;
    }
    const { tool_calls: calls, tool_call_id: _id, ...rest } = m;
    if (m.role !== 'assistant' || calls === undefined || calls === null || (Array.isArray(calls) && (calls as unknown[]).length === 0)) {
      out.push(rest); // a null content without calls stays null: validateConversation says what a call looks like
      origins.push({ index: i });
      continue;
    }
    const msg = { ...rest, content: m.content === null ? '' : m.content };
    const f = `messages[${i}].tool_calls`;
    if (!Array.isArray(calls)) fail('tool_calls must be a list (OpenAI: [{"id", "type": "function", "function": {"name", "arguments"}}])', f);
    const results = new Map<string, { content: unknown; index: number }>();
    let j = i + 1;
    for (; j < raw.length && (raw[j] as { role?: unknown } | null)?.role === 'tool'; j++) {
      const id = (raw[j] as { tool_call_id?: unknown }).tool_call_id;
      if (typeof id !== 'string') fail("a tool message after OpenAI tool_calls needs the call's tool_call_id", `messages[${j}].tool_call_id`);
      results.set(id as string, { content: (raw[j] as { content?: unknown }).content, index: j });
    }
    (calls as unknown[]).forEach((c, k) => {
      const call = c as { id?: unknown; function?: { name?: unknown; arguments?: unknown } } | null;
      const name = call?.function?.name;
      // OpenAI's arguments are a JSON string; transformers' chat templates (and TRL) take a dict
      const given = call?.function?.arguments;
      const args = typeof given === 'object' && given !== null && !Array.isArray(given) ? JSON.stringify(given) : given;
      if (typeof call?.id !== 'string' || typeof name !== 'string' || typeof args !== 'string') fail('an OpenAI tool call needs "id", "function.name" and "function.arguments" (a string, or a dict as transformers takes it)', `${f}[${k}]`);
      const result = results.get(call!.id as string);
      if (!result) return fail(`no tool message with tool_call_id ${JSON.stringify(call!.id)} (the call's result) follows`, `${f}[${k}]`);
      out.push({ ...msg, content: k === 0 ? msg.content : '', tool_call: { name, input: callInput(args as string) } });
      origins.push({ index: i, call: k });
      out.push({ role: 'tool', content: result.content });
      origins.push({ index: result.index });
    });
    const n = (calls as unknown[]).length;
    if (results.size !== n) fail(`${results.size} tool results for ${n} tool calls`, f);
    i = j - 1;
  }
  return { conv: { ...(conv as object), messages: out }, origins };
}

/** The keys a conversation line and its messages may have (OpenAI's tool_calls/tool_call_id are converted first). */
const LINE_KEYS: readonly string[] = ['messages'];
const MESSAGE_KEYS: readonly string[] = ['role', 'content', 'tool_call'];

/**
 * What a valid training line holds that training ignores or cannot use, as warnings naming
 * file, line and field: keys we do not read (`"weight": 0` does not drop a line) and calls to
 * a tool not in `knownTools` (chat and serve answer those with "unknown tool").
 */
function lineWarnings(line: Record<string, unknown>, conv: Conversation, where: ErrorLocation, knownTools: readonly string[] | undefined, origins?: readonly MessageOrigin[]): string[] {
  const out: string[] = [];
  const warn = (msg: string, field: string): void => void out.push(new GptforgeError(msg, { ...where, field: writtenField(field, origins) }).message);
  for (const k of Object.keys(line)) if (!LINE_KEYS.includes(k)) warn(`unknown key "${k}" is ignored (a line has: ${LINE_KEYS.join(', ')})`, k);
  conv.messages.forEach((m, i) => {
    for (const k of Object.keys(m)) if (!MESSAGE_KEYS.includes(k)) warn(`unknown key "${k}" is ignored (a message has: ${MESSAGE_KEYS.join(', ')})`, `messages[${i}].${k}`);
    if (m.tool_call && knownTools && !knownTools.includes(m.tool_call.name.toLowerCase())) warn(`tool "${m.tool_call.name}" is not one gptforge runs (${knownTools.join(', ')}): chat, ask and serve answer the call with "unknown tool" unless a client declares it`, `messages[${i}].tool_call.name`);
  });
  return out;
}

/**
 * One conversation as a JSONL line or an in-memory source holds it (runSft's `conversations`, a
 * mixture source's): OpenAI's text parts and tool-call shape converted (`fromOpenAIShape`), then
 * validated (`validateConversation`), errors naming the fields as written. The one rule for
 * files and memory.
 * @returns the conversation in our shape, and where each of its messages came from (undefined: nothing moved).
 * @throws GptforgeError at `where` and the written field (`messages[1].content[0]`).
 */
export function readConversation(given: unknown, where: ErrorLocation, opts: { forTraining?: boolean } = {}): { conv: Conversation; origins?: readonly MessageOrigin[] } {
  const { conv, origins } = openAIToOurs(given, where);
  try {
    validateConversation(conv, { forTraining: opts.forTraining, where });
  } catch (e) {
    // the converted conversation's fields, named as the line wrote them
    if (e instanceof GptforgeError && origins) throw new GptforgeError(e.detail, { ...where, field: writtenField(e.field, origins) });
    throw e;
  }
  return { conv, origins };
}

/** How many bad lines a conversations file's error lists (the rest are counted). */
export const BAD_LINES_SHOWN = 5;

/**
 * Read a conversations JSONL file (one {"messages": [...]} per line; blank lines ignored;
 * OpenAI's text parts and tool-call shape converted on load, `fromOpenAIShape`; errors and
 * warnings name the fields as the line wrote them). A malformed line is an
 * error naming file, line and field (several: one error listing the first BAD_LINES_SHOWN, each
 * `file:line[:column]: field — problem`, and counting the rest), or a counted skip with onBad 'skip'. maxTokens (with a
 * tokenizer) also rejects conversations longer than that (SFT: a training row, seqLen + 1
 * tokens). `warnings` name (file, line, field) what a kept line holds that training ignores:
 * unknown keys, and with `knownTools` calls to other tools.
 */
export function readConversationsJSONL(file: string, opts: { onBad?: OnBad; forTraining?: boolean; tokenizer?: Tokenizer; maxTokens?: number; knownTools?: readonly string[] } = {}): ReadConversationsResult {
  const warnings: string[] = [];
  const r = readJSONL(
    file,
    'conversations',
    (line, where) => {
      const { conv: obj, origins } = readConversation(line, where, { forTraining: opts.forTraining });
      if (opts.tokenizer && opts.maxTokens !== undefined) {
        const n = renderConversation(opts.tokenizer, obj).ids.length;
        if (n > opts.maxTokens) throw new GptforgeError(`conversation is ${n} tokens, longer than a training row of ${opts.maxTokens}`, { ...where, field: 'messages' });
      }
      warnings.push(...lineWarnings(line as Record<string, unknown>, obj, where, opts.knownTools, origins));
      return obj;
    },
    opts.onBad,
    { listBad: BAD_LINES_SHOWN },
  );
  return { conversations: r.items, skipped: r.skipped, warnings };
}

/**
 * A conversation as the reward model reads it: rendered as in training, then <|reward|>,
 * where the scalar head reads the model's judgement of everything before it.
 */
export function renderForReward(tok: Tokenizer, conv: Conversation): number[] {
  if (!tok.hasSpecial('<|reward|>')) throw new GptforgeError("this tokenizer has no <|reward|> token; train it with gptforge's default special tokens");
  const { ids } = renderConversation(tok, conv);
  ids.push(tok.specialId('<|reward|>'));
  return ids;
}
