import type { Conversation } from '../data/conversation.js';
import { arithmetic } from '../data/synthetic/arithmetic.js';
import { CHECK_REQUEST, feedbackMessage, firstAnswer, type FeedbackSource, type ReflectOp } from '../data/synthetic/reflect.js';
import type { ChatEngine, ChatOptions } from '../infer/engine.js';
import { evaluateExpression } from '../infer/tools/calculator.js';
import { builtinToolCall, type BuiltinToolCall } from '../infer/tools-state.js';
import { GptforgeError } from '../util/errors.js';
import { extractAnswer } from './vote.js';

/**
 * Reflection: answer → "Did the answer meet the requirements? Check it." → revise, up to R
 * rounds (the talk; Reflexion, Shinn et al. 2023; Self-Refine, Madaan et al. 2023), with the
 * feedback from one source (src/data/synthetic/reflect.ts teaches the review):
 *
 * - `self`: the bare request — the model must find its own mistake;
 * - `tool`: the calculator recomputes the question (its operation: +, −, × or ÷, read by the
 *   arithmetic family's parser) and its result goes in front of the request;
 * - `verdict`: a verifier's right/wrong on the current answer (a reward model thresholded,
 *   or the task's checker: an oracle verdict, the best a verifier can do).
 *
 * Each round restates the current answer as the first reply in the family's words
 * ("a + b = x.", "a × b = x." for a product) so the conversation stays two turns long: the rounds do not grow the context.
 * The loop stops early when a round keeps the answer.
 */
export interface ReflectOptions extends Pick<ChatOptions, 'maxTokens' | 'tools'> {
  /** A system message before the question. */
  system?: string;
  source: FeedbackSource;
  /** Most review rounds (default 2). */
  rounds?: number;
  /** The verdict source's verifier: is `answer` right for `question`? */
  verify?(question: string, answer: string): boolean;
  /** Greedy unless set. */
  temperature?: number;
  seed?: number;
}

/** One round of review. */
export interface ReflectRound {
  feedback: string;
  review: string;
  /** The answer after this round. */
  answer: string | undefined;
  /** With `tools`: the calls the review made, in order. */
  toolCalls?: BuiltinToolCall[];
}

export interface ReflectTrace {
  question: string;
  first: string;
  /** With `tools`: the calls the first reply made, in order. */
  firstToolCalls?: BuiltinToolCall[];
  /** The first reply's answer. */
  initial: string | undefined;
  rounds: ReflectRound[];
  /** The answer after the last round. */
  answer: string | undefined;
  tokens: number;
  ms: number;
}

/**
 * The question's problem as the arithmetic family reads it (one parser: its phrasings, else a
 * bare "a op b"): operands as digit strings and the calculator's operator.
 */
function problemOf(question: string): { a: string; op: ReflectOp; b: string } | undefined {
  const m = /^(\d+)([-+*/])(\d+)$/.exec(arithmetic.item?.(question) ?? '');
  return m ? { a: m[1], op: m[2] as ReflectOp, b: m[3] } : undefined;
}

/**
 * Answer `question` directly, then review and revise (see the interface).
 * @throws GptforgeError when the question is not a two-operand arithmetic problem (the restated
 *   answer and the calculator need its operands and operation), or the verdict source has no verifier.
 */
export function reflect(engine: ChatEngine, question: string, o: ReflectOptions): ReflectTrace {
  const t0 = performance.now();
  const p = problemOf(question);
  if (!p) throw new GptforgeError(`reflection reviews an arithmetic answer: the question must be two whole numbers and an operation, e.g. "What is 345 plus 67?", "What is 12 times 3?" or "Compute 90 - 12."; cannot read two operands and an operation in ${JSON.stringify(question)}`, { field: 'question' });
  if (o.source === 'verdict' && !o.verify) throw new GptforgeError('reflection: the verdict source needs a verifier (verify)');
  const rounds = o.rounds ?? 2;
  if (!Number.isInteger(rounds) || rounds < 0) throw new GptforgeError(`reflection: rounds must be a non-negative integer, got ${rounds}`, { field: 'rounds' });
  let tokens = 0;
  // each reply's calculator calls, when the model may make them (the trace reports them: the server's builtin_tool_calls)
  let calls: BuiltinToolCall[] = [];
  const chat: ChatOptions = { maxTokens: o.maxTokens ?? 320, temperature: o.temperature ?? 0, seed: o.seed ?? 1, tools: o.tools, onStep: () => tokens++, onToolCall: (call, res) => calls.push(builtinToolCall(call, res)) };
  const madeCalls = (): { toolCalls?: BuiltinToolCall[] } => {
    const out = calls;
    calls = [];
    return o.tools ? { toolCalls: out } : {};
  };
  const sys = o.system ? [{ role: 'system' as const, content: o.system }] : [];
  const first = engine.reply({ messages: [...sys, { role: 'user', content: question }] }, chat).text;
  const firstCalls = madeCalls().toolCalls;
  const initial = extractAnswer(first);
  let answer = initial;
  const out: ReflectRound[] = [];
  for (let r = 0; r < rounds && answer !== undefined; r++) {
    const feedback = o.source === 'tool' ? feedbackMessage('tool', p.a, p.b, { op: p.op, result: String(evaluateExpression(`${p.a}${p.op}${p.b}`)) }) : o.source === 'verdict' ? feedbackMessage('verdict', p.a, p.b, { verdict: o.verify!(question, firstAnswer(p.a, p.b, answer, p.op)) }) : CHECK_REQUEST;
    const conv: Conversation = {
      messages: [...sys, { role: 'user', content: question }, { role: 'assistant', content: firstAnswer(p.a, p.b, answer, p.op) }, { role: 'user', content: feedback }],
    };
    const review = engine.reply(conv, chat).text;
    const next = extractAnswer(review) ?? answer;
    out.push({ feedback, review, answer: next, ...madeCalls() });
    if (next === answer) break;
    answer = next;
  }
  return { question, first, ...(firstCalls ? { firstToolCalls: firstCalls } : {}), initial, rounds: out, answer, tokens, ms: performance.now() - t0 };
}
