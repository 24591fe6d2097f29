/**
 * The tool-call limits, apart from the engine (engine.ts re-exports them): `gptforge chat --help`
 * states them without loading the engine (src/cli/main.ts).
 */

/**
 * Most tool calls in one reply unless told otherwise: ChatOptions.maxToolCalls, and the server's
 * built-in calls (`max_tool_calls`, docs/server.md). A model that keeps calling gets
 * `<|tool_start|>` masked after that many and has to answer.
 */
export const DEFAULT_MAX_TOOL_CALLS = 4;

/** The most tool calls a request (`max_tool_calls`) or `chat --max-tool-calls` may allow in one reply. */
export const MAX_TOOL_CALLS_LIMIT = 64;
