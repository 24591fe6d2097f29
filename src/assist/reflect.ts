import type { Conversation } from '../data/conversation.js';
import { parseLong } from '../data/synthetic/longarith.js';
import { CHECK_REQUEST, feedbackMessage, firstAnswer, type FeedbackSource } from '../data/synthetic/reflect.js';
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
 * - `tool`: the calculator recomputes the question's sum and its result goes in front of the request;
 * - `verdict`: a verifier's right/wrong on the current answer (a reward model thresholded,
 *   or the task's checker: an oracle verdict, the best a verifier can do).
 *
 * Each round restates the current answer as the first reply in the family's words
 * ("a + b = x.") so the conversation stays two turns long: the rounds do not grow the context.
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
 * Answer `question` directly, then review and revise (see the interface).
 * @throws GptforgeError when the question has no two operands (the restated answer and the
 *   calculator need them), or the verdict source has no verifier.
 */
export function reflect(engine: ChatEngine, question: string, o: ReflectOptions): ReflectTrace {
  const t0 = performance.now();
  const p = parseLong(question);
  if (!p) throw new GptforgeError(`reflection reviews an arithmetic answer: the question must hold two whole numbers, e.g. "What is 345 plus 67?" or "What is 12 times 3?"; cannot read two operands in ${JSON.stringify(question)}`, { field: 'question' });
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
    const feedback = o.source === 'tool' ? feedbackMessage('tool', p.a, p.b, { result: String(evaluateExpression(`${p.a}+${p.b}`)) }) : o.source === 'verdict' ? feedbackMessage('verdict', p.a, p.b, { verdict: o.verify!(question, firstAnswer(p.a, p.b, answer)) }) : CHECK_REQUEST;
    const conv: Conversation = {
      messages: [...sys, { role: 'user', content: question }, { role: 'assistant', content: firstAnswer(p.a, p.b, answer) }, { role: 'user', content: feedback }],
    };
    const review = engine.reply(conv, chat).text;
    const next = extractAnswer(review) ?? answer;
    out.push({ feedback, review, answer: next, ...madeCalls() });
    if (next === answer) break;
    answer = next;
  }
  return { question, first, ...(firstCalls ? { firstToolCalls: firstCalls } : {}), initial, rounds: out, answer, tokens, ms: performance.now() - t0 };
}
