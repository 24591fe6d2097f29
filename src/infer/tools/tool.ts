/**
 * What a tool is, apart from the registry that runs tools (registry.ts), so tools such as
 * the calculator and the registry that lists them import this module rather than each other.
 */
export interface Tool {
  /** The name the model writes before the colon, e.g. "calculator". */
  readonly name: string;
  /** One line for prompts and docs. */
  readonly description: string;
  /**
   * The input's JSON Schema (OpenAI's function `parameters`). When set, the chat engine decodes
   * the call's input under it (src/infer/constrain/toolcall.ts): `run` receives a JSON text the
   * schema accepts. Unset: the input is free text.
   */
  readonly parameters?: unknown;
  /** Runs the tool on its input text. May throw ToolError for bad input. */
  run(input: string): string;
}

/** Bad input to a tool: its message is shown to the model verbatim, after `error: `. */
export class ToolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ToolError';
  }
}
