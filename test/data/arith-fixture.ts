import type { Message } from '../../src/data/conversation.js';
import type { Completion } from '../../src/data/preferences.js';
import { taskByName } from '../../src/data/synthetic/tasks.js';

/** A real held-out arithmetic problem for the preference tests: its prompt, its exact answer (from the generated tool output) and a reply that calls the calculator and states it. */
export const arith = taskByName('arithmetic').generate('test', 1, 1)[0];
export const P = arith.prompt;
export const R = Number(arith.conversation.messages.find((m) => m.role === 'tool')!.content);
export const call = arith.conversation.messages.find((m) => m.tool_call)!.tool_call!;
export const toolMsgs: Message[] = [
  { role: 'assistant', content: 'Let me calculate that. ', tool_call: call },
  { role: 'tool', content: String(R) },
  { role: 'assistant', content: `The answer is ${R}.` },
];
export const withTool: Completion = { messages: toolMsgs };
