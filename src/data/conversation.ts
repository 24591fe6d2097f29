/**
 * The conversation format every chat stage shares (SFT data, the chat engine, reward data):
 *
 *   {"messages": [{"role": "system"|"user"|"assistant"|"tool", "content": "…"}]}
 *
 * A tool call is part of the assistant's turn, in OpenAI's shape: an assistant message with
 * `tool_call` (its `content` is the text said before the call, often ""), then a `tool`
 * message with the tool's output, then an assistant message that continues the same turn.
 * The renderer (chat.ts) turns that into
 *
 *   <|assistant_start|>text<|tool_start|>calculator: 345*67<|tool_end|><|output_start|>23115<|output_end|>text<|assistant_end|>
 */
export type Role = 'system' | 'user' | 'assistant' | 'tool';

export interface ToolCall {
  /** Registered tool name, e.g. "calculator". */
  name: string;
  /** The tool's input text, e.g. "345*67". */
  input: string;
}

export interface Message {
  role: Role;
  content: string;
  /** Only on assistant messages: the call made after `content`; the next message is its `tool` output. */
  tool_call?: ToolCall;
}

/**
 * A chat as the data, the engine and the server hold it: OpenAI's messages (system, user,
 * assistant, tool), an assistant's tool call as `tool_call` followed by the `tool` message with its
 * output. JSONL files hold one `{"messages": […]}` per line (readConversationsJSONL).
 */
export interface Conversation {
  messages: Message[];
}

export const ROLES: readonly Role[] = ['system', 'user', 'assistant', 'tool'];
