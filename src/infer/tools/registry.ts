/**
 * The tools a chat model may call while decoding. The engine sees
 * `<|tool_start|>calculator: 345*67<|tool_end|>`, hands the text between the markers to
 * `ToolRegistry.call`, and forces the returned `output` into the stream between
 * `<|output_start|>` and `<|output_end|>`.
 *
 * The model's text is untrusted and often malformed, so `call` never throws: every failure
 * becomes a short, single-line `error: …` output that the model can read and recover from.
 */
import { calculator } from './calculator.js';
import { compileInputSchema, type InputValidator } from './schema.js';
import { ToolError, type Tool } from './tool.js';

export { ToolError, type Tool } from './tool.js';

/** What a tool call gave back (ToolRegistry.call). */
export interface ToolResult {
  /** false for any failure: malformed call, unknown tool, tool error or crash. */
  ok: boolean;
  /** The text forced into the stream: the tool's output, or `error: …`. */
  output: string;
  /** The tool that ran (or was asked for), when the call could be parsed that far. */
  tool?: string;
  /**
   * When the input failed the tool's declared schema (Tool.parameters): where, as a JSON Pointer
   * into the input (RFC 6901; '' for the whole input, e.g. not JSON). The output names it too.
   */
  pointer?: string;
}

/** Longest call text accepted; longer ones are degenerate generations, not real calls. */
const MAX_CALL_CHARS = 500;
/** Error outputs are cut to this length so a failure never floods the model's context. */
const MAX_ERROR_CHARS = 120;
/** A successful output longer than this is reported as an error rather than silently cut. */
const MAX_OUTPUT_CHARS = 500;

const TOOL_NAME = /^[a-z][a-z0-9_]*$/i;
/** Longest tool name echoed back in an "unknown tool" error. */
const MAX_ECHOED_NAME = 24;

/**
 * The tools a model may call by name (`calculator: 12*7` between <|tool_start|> and <|tool_end|>):
 * parses a call, runs the tool, and returns its output or an `error: …` line, cut to a few hundred
 * characters so a failure never floods the context. Names are matched case-insensitively.
 * `defaultTools()` holds the built-in ones (calculator, …).
 */
export class ToolRegistry {
  // Keyed by lower-cased name: a small model drifts between "calculator" and "Calculator",
  // and there is no reason to punish that.
  private readonly tools = new Map<string, Tool>();
  /** Each schema-declaring tool's compiled input check, by the same lower-cased key. */
  private readonly validators = new Map<string, InputValidator>();

  /**
   * Adds a tool. A tool with `parameters` gets its input checked against that JSON Schema
   * (ajv, src/infer/tools/schema.ts) before every `run`.
   * Throws on an invalid or duplicate (case-insensitive) name, or a `parameters` that is not a valid JSON Schema.
   */
  register(tool: Tool): this {
    if (!TOOL_NAME.test(tool.name)) throw new Error(`invalid tool name "${tool.name}": expected ${String(TOOL_NAME)}`);
    const key = tool.name.toLowerCase();
    if (this.tools.has(key)) throw new Error(`tool "${tool.name}" is already registered`);
    if (tool.parameters !== undefined) {
      try {
        this.validators.set(key, compileInputSchema(tool.parameters));
      } catch (e) {
        throw new Error(`tool "${tool.name}": its parameters are not a valid JSON Schema: ${describe(e)}`);
      }
    }
    this.tools.set(key, tool);
    return this;
  }

  /** The tool registered under `name` (case-insensitive), if any. */
  get(name: string): Tool | undefined {
    return this.tools.get(name.toLowerCase());
  }

  /** Registered names, in registration order. */
  names(): string[] {
    return [...this.tools.values()].map((t) => t.name);
  }

  /**
   * Parses "name: input" and runs it. Never throws: unknown tool, malformed call, an input
   * its tool's schema refuses (`error: <tool> input <pointer>: <what>`, e.g.
   * `error: weather input /city: must be string`, with `pointer` set; the tool does not run),
   * tool errors and even unexpected exceptions come back as `{ ok: false, output: "error: …" }`
   * (one line, at most MAX_ERROR_CHARS characters).
   */
  call(text: string): ToolResult {
    try {
      const parsed = parseCall(text);
      if (typeof parsed === 'string') return failure(parsed);
      const tool = this.get(parsed.name);
      if (tool === undefined) {
        return failure(`unknown tool "${clip(parsed.name, MAX_ECHOED_NAME)}" (tools: ${this.names().join(', ')})`, parsed.name);
      }
      const bad = this.validators.get(parsed.name.toLowerCase())?.(parsed.input);
      if (bad) return { ...failure(`${tool.name} input${bad.pointer === '' ? '' : ` ${bad.pointer}`}: ${bad.message}`, tool.name), pointer: bad.pointer };
      return runTool(tool, parsed.input);
    } catch (e) {
      // Only reachable through something truly odd (e.g. a tool whose `name` getter throws);
      // the contract is still "never throws".
      return failure(`tool call failed: ${describe(e)}`);
    }
  }
}

/** A registry with every built-in tool: today just the calculator. */
export function defaultTools(): ToolRegistry {
  return new ToolRegistry().register(calculator);
}

interface ParsedCall {
  name: string;
  input: string;
}

/** Splits "name: input"; returns an error message when the text is not a call at all. */
function parseCall(text: unknown): ParsedCall | string {
  if (typeof text !== 'string') return 'malformed tool call: expected "name: input"';
  const trimmed = text.trim();
  if (trimmed.length > MAX_CALL_CHARS) return `tool call too long (max ${MAX_CALL_CHARS} characters)`;
  const colon = trimmed.indexOf(':');
  if (colon < 0) return 'malformed tool call: expected "name: input"';
  const name = trimmed.slice(0, colon).trim();
  if (!TOOL_NAME.test(name)) return 'malformed tool call: expected "name: input"';
  return { name, input: trimmed.slice(colon + 1).trim() };
}

/** Runs one tool, turning exceptions and bad return values into error results. */
function runTool(tool: Tool, input: string): ToolResult {
  let output: unknown;
  try {
    output = tool.run(input);
  } catch (e) {
    // ToolError is the tool explaining bad input; anything else is a bug in the tool, but
    // the model still gets a readable line instead of the decode loop dying.
    const message = e instanceof ToolError ? e.message : `${tool.name} failed: ${describe(e)}`;
    return failure(message, tool.name);
  }
  if (typeof output !== 'string') return failure(`${tool.name} returned no text`, tool.name);
  if (output.length > MAX_OUTPUT_CHARS) return failure(`${tool.name} output too long`, tool.name);
  return { ok: true, output, tool: tool.name };
}

function failure(message: string, tool?: string): ToolResult {
  const output = clip(oneLine(`error: ${message}`), MAX_ERROR_CHARS);
  return tool === undefined ? { ok: false, output } : { ok: false, output, tool };
}

/** Control characters and line separators would break the one-line contract of errors. */
function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ');
}

/** Cuts `s` to at most `max` characters, marking the cut with an ellipsis. */
function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = max - 1;
  // Never split a surrogate pair: a lone surrogate would reach the tokenizer as garbage.
  const last = s.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${s.slice(0, end)}…`;
}

/** A message for any thrown value, robust to values whose conversion itself throws. */
function describe(e: unknown): string {
  try {
    return e instanceof Error ? e.message : String(e);
  } catch {
    return 'unknown error';
  }
}
