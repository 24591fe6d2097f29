import type { Tokenizer } from '../../tokenizer/tokenizer.js';

/**
 * Our chat layout (src/data/chat.ts renderConversation / renderPrompt) as a Jinja chat
 * template, the `chat_template` of tokenizer_config.json that transformers'
 * `apply_chat_template` renders (and TRL's SFTTrainer uses for conversational datasets):
 *
 *   <|bos|>
 *   system     → <|system_start|>content<|system_end|>  (nothing when content is empty, as
 *                node-llama-cpp's `systemPrompt: ''` sends: the ids then equal gptforge chat's)
 *   user       → <|user_start|>content<|user_end|>
 *   tool       → <|output_start|>content<|output_end|>
 *   assistant  → <|assistant_start|> (omitted right after a tool message: the turn continues)
 *                content, then <|tool_start|>name: input<|tool_end|> when the message has
 *                a call — the standard "tool_calls": [{"id", "function": {"name", "arguments":
 *                {"input"}}}] (one call a message, as export --format trl writes it) or our
 *                "tool_call": {"name", "input"} — else <|assistant_end|>. Several
 *                "tool_calls" (OpenAI's parallel calls) are rendered as our layout has them
 *                and as our loaders convert them (src/data/chat.ts fromOpenAIShape): each
 *                call followed by the output of the tool message answering its id
 *                (`tool_call_id`), those tool messages then not rendered again
 *   add_generation_prompt → <|assistant_start|>
 *
 * Rendered text is then tokenized with the special tokens recognised, so the ids equal
 * renderConversation's exactly — except for a message whose content itself contains a
 * special token's text, which gptforge encodes as plain text and transformers as the token.
 */
export function chatTemplate(): string {
  return [
    "{{- '<|bos|>' -}}",
    '{%- set ns = namespace(calls=false) -%}',
    '{%- for message in messages -%}',
    // a system message with empty content is skipped: gptforge's chat never renders one (its
    // loaders refuse empty content), and node-llama-cpp's `systemPrompt: ''` sends one
    "{%- if message['role'] == 'system' -%}{%- set ns.calls = false -%}{%- if message['content'] -%}{{- '<|system_start|>' + message['content'] + '<|system_end|>' -}}{%- endif -%}",
    "{%- elif message['role'] == 'user' -%}{%- set ns.calls = false -%}{{- '<|user_start|>' + message['content'] + '<|user_end|>' -}}",
    // a tool message already rendered after its parallel call (below) is not rendered again
    "{%- elif message['role'] == 'tool' -%}{%- if not ns.calls -%}{{- '<|output_start|>' + message['content'] + '<|output_end|>' -}}{%- endif -%}",
    "{%- elif message['role'] == 'assistant' -%}{%- set ns.calls = false -%}",
    "{%- if loop.first or messages[loop.index0 - 1]['role'] != 'tool' -%}{{- '<|assistant_start|>' -}}{%- endif -%}",
    "{{- message['content'] -}}",
    "{%- if message['tool_calls'] is defined and message['tool_calls'] -%}",
    '{%- set i = loop.index0 -%}',
    "{%- set ns.calls = message['tool_calls'] | length > 1 -%}",
    "{%- for call in message['tool_calls'] -%}{{- '<|tool_start|>' + call['function']['name'] + ': ' + call['function']['arguments']['input'] + '<|tool_end|>' -}}",
    // parallel calls: each call's result (the tool message answering its id) right after it
    "{%- if ns.calls -%}{%- for r in messages[i + 1:] if r['role'] == 'tool' and r['tool_call_id'] == call['id'] -%}{%- if loop.first -%}{{- '<|output_start|>' + r['content'] + '<|output_end|>' -}}{%- endif -%}{%- endfor -%}{%- endif -%}",
    '{%- endfor -%}',
    "{%- elif message['tool_call'] is defined and message['tool_call'] -%}{{- '<|tool_start|>' + message['tool_call']['name'] + ': ' + message['tool_call']['input'] + '<|tool_end|>' -}}",
    "{%- else -%}{{- '<|assistant_end|>' -}}{%- endif -%}",
    "{%- else -%}{{- raise_exception('gptforge chat: unknown role ' + message['role']) -}}",
    '{%- endif -%}',
    '{%- endfor -%}',
    "{%- if add_generation_prompt -%}{{- '<|assistant_start|>' -}}{%- endif -%}",
  ].join('');
}

/** The ids of the chat special tokens the tokenizer has, by name. */
export function chatSpecialIds(tok: Tokenizer): Record<string, number> {
  return Object.fromEntries(tok.specialTokens);
}
