import { Rng } from '../../engine/rng.js';
import { GptforgeError } from '../../util/errors.js';
import type { Conversation } from '../conversation.js';
import { longResult, parseLong, scratchpad } from './longarith.js';
import { forgetCarries } from './skill.js';
import type { GenerateOptions, Split, SyntheticTask, TaskExample } from './task.js';
import { fnv1a, splitOf } from './tasks.js';

/**
 * Reflection (the talk's "did the answer meet the requirements?"; Reflexion, Shinn et al.
 * 2023; Self-Refine, Madaan et al. 2023): a direct answer to an addition, then a request to
 * check it with feedback from one of three sources, then the review and the revised answer.
 *
 *   user       What is 4567 plus 891?
 *   assistant  4567 + 891 = 4358.                          ← context only: not trained on
 *   user       [feedback] Did the answer meet the requirements? Check it.
 *   assistant  [review] … Answer: 5458
 *
 * - `self`: no feedback; the review redoes the sum as a scratchpad and says whether the first
 *   answer was right;
 * - `tool`: "The calculator says 4567+891 = 5458." — the review compares and takes it;
 * - `verdict`: "A reviewer marked the answer as wrong." (a reward model's or a checker's
 *   verdict, no number) — right: keep the answer; wrong: redo it as a scratchpad.
 *
 * Half the first answers are wrong (a forgotten carry, else one digit off), so "it was right"
 * and "it was wrong" are equally common and the review must look. The first assistant turn
 * is a wrong answer half the time, so training masks it out (`firstReplyIsContext`).
 */
export type FeedbackSource = 'self' | 'tool' | 'verdict';
export const FEEDBACK_SOURCES: readonly FeedbackSource[] = ['self', 'tool', 'verdict'];

export const CHECK_REQUEST = 'Did the answer meet the requirements? Check it.';

/** A question's operation: the calculator's operator (the arithmetic family's). The family itself only adds. */
export type ReflectOp = '+' | '-' | '*' | '/';
const OP_SYMBOL: Record<ReflectOp, string> = { '+': '+', '-': '−', '*': '×', '/': '÷' };

/** The user's turn asking for the review, with the source's feedback in front (`op`: the calculator's input operator, default '+'). */
export function feedbackMessage(source: FeedbackSource, a: string, b: string, opts: { result?: string; verdict?: boolean; op?: ReflectOp } = {}): string {
  if (source === 'tool') {
    if (opts.result === undefined) throw new GptforgeError("tool feedback needs the calculator's result");
    return `The calculator says ${a}${opts.op ?? '+'}${b} = ${opts.result}. ${CHECK_REQUEST}`;
  }
  if (source === 'verdict') {
    if (opts.verdict === undefined) throw new GptforgeError('verdict feedback needs the verdict');
    return `A reviewer marked the answer as ${opts.verdict ? 'right' : 'wrong'}. ${CHECK_REQUEST}`;
  }
  return CHECK_REQUEST;
}

/** The first answer as the family writes it (and as the reflection loop restates a revised one; `op` default '+', written as the arithmetic family's symbol). */
export const firstAnswer = (a: string, b: string, x: string, op: ReflectOp = '+'): string => `${a} ${OP_SYMBOL[op]} ${b} = ${x}.`;

function review(source: FeedbackSource, a: string, b: string, x: string): string {
  const r = longResult(a, '+', b);
  const right = x === r;
  if (source === 'tool') return right ? `The calculator agrees, so ${x} was right.\nAnswer: ${r}` : `The calculator gives ${r}, so ${x} was wrong.\nAnswer: ${r}`;
  if (source === 'verdict') return right ? `The reviewer says ${x} is right.\nAnswer: ${x}` : `The reviewer says ${x} is wrong, so let me redo it.\n${scratchpad(a, '+', b)}`;
  return `Let me redo it.\n${scratchpad(a, '+', b)}\nSo ${x} was ${right ? 'right' : 'wrong'}.`;
}

function wrongAnswer(rng: Rng, a: string, b: string): string {
  const r = longResult(a, '+', b);
  const nc = forgetCarries(a, b);
  if (nc !== r && rng.random() < 0.7) return nc;
  const i = rng.int(r.length);
  const d = (Number(r[i]) + 1 + rng.int(9)) % 10;
  const w = (r.slice(0, i) + String(d) + r.slice(i + 1)).replace(/^0+(?=\d)/, '');
  return w === r ? String(BigInt(r) + 1n) : w;
}

const PROMPTS = ['What is {a} plus {b}?', 'Add {a} and {b}.', '{a} + {b} = ?', 'Compute {a} + {b}.'];

function draw(rng: Rng, d: number): string {
  let s = String(1 + rng.int(9));
  for (let i = 1; i < d; i++) s += String(rng.int(10));
  return s;
}

/** The reflection family (see the module comment). Variant: { minDigits, maxDigits } (default 2–6), { source } to fix one. */
export const reflection: SyntheticTask = {
  name: 'reflection',
  description: "A direct answer to an addition, a request to check it (no feedback, the calculator's result, or a right/wrong verdict), the review and the revised answer.",
  usesTool: false,
  generate(split: Split, n: number, seed: number, opts?: GenerateOptions): TaskExample[] {
    if (!Number.isInteger(n) || n < 0) throw new GptforgeError(`task "reflection": example count must be a non-negative integer, got ${n}`);
    const lo = (opts?.variant?.minDigits as number | undefined) ?? 2;
    const hi = (opts?.variant?.maxDigits as number | undefined) ?? 6;
    const fixed = opts?.variant?.source as FeedbackSource | undefined;
    if (fixed !== undefined && !FEEDBACK_SOURCES.includes(fixed)) throw new GptforgeError(`reflection variant: source must be one of ${FEEDBACK_SOURCES.join(', ')}`, { field: 'variant' });
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 1 && lo <= hi && hi <= 12)) throw new GptforgeError('reflection variant: minDigits and maxDigits must be integers with 1 ≤ minDigits ≤ maxDigits ≤ 12', { field: 'variant' });
    const rng = new Rng((seed ^ fnv1a('reflection')) >>> 0);
    const out: TaskExample[] = [];
    while (out.length < n) {
      const a = draw(rng, lo + rng.int(hi - lo + 1));
      const b = draw(rng, lo + rng.int(hi - lo + 1));
      if (splitOf(`${a}+${b}`) !== split) continue;
      const r = longResult(a, '+', b);
      const x = rng.random() < 0.5 ? r : wrongAnswer(rng, a, b);
      const source = fixed ?? FEEDBACK_SOURCES[rng.int(FEEDBACK_SOURCES.length)];
      const prompt = PROMPTS[rng.int(PROMPTS.length)].replace('{a}', a).replace('{b}', b);
      const conversation: Conversation = {
        messages: [
          { role: 'user', content: prompt },
          { role: 'assistant', content: firstAnswer(a, b, x) },
          { role: 'user', content: feedbackMessage(source, a, b, { result: r, verdict: x === r }) },
          { role: 'assistant', content: review(source, a, b, x) },
        ],
      };
      out.push({ prompt, conversation });
    }
    return out;
  },
  /** The review's final answer (after the last "Answer:") is the exact sum. */
  check(prompt: string, answer: string): boolean {
    const p = parseLong(prompt);
    const m = [...answer.matchAll(/Answer:\s*(\d+)/g)];
    return p !== undefined && m.length > 0 && m[m.length - 1][1] === longResult(p.a, '+', p.b);
  },
};
