import type { Rng } from '../engine/rng.js';
import type { Message } from './conversation.js';
import { completionMessages, completionText, type Completion } from './preferences.js';
import type { SyntheticTask } from './synthetic/task.js';

/**
 * Correctness-contrast replies (issue #24): the same reply with only its checkable fact
 * changed, so a comparison of the two is decided by correctness and nothing else. A reward
 * model trained on a small model's own samples sees few pairs decided by correctness, and in
 * those few the right reply usually differs from the wrong one in form as well (docs/journal/rlhf.md,
 * "The reward model on decidable pairs"): it learns form. A contrast pair leaves it nothing to
 * go on but whether the answer agrees with what the context shows — the calculator's output,
 * the number the prompt's word calls for.
 *
 * The change is made in the reply's answer (its last assistant message with text), where the
 * family checkers read it:
 *
 *   right → wrong  the answer's last number moved by one to about a fifth (the slip a person
 *                  makes copying the calculator's result or counting), or, in a family whose
 *                  answer has no number (rhymes, chat), another item's answer with this item's
 *                  word put in — the same mistakes as the writers' `wrong_answer`
 *                  (src/data/writers.ts)
 *   wrong → right  the answer's last number replaced by the first of these the checker accepts:
 *                  a number the reply's tool outputs show (last first), then 0–12 (a syllable
 *                  count); undefined when none does (a calculator called on the wrong numbers)
 *
 * Every candidate is checked with the family's checker on the visible text, so the pair's
 * verdicts always differ. Deterministic in `rng`.
 */

const NUMBER = /\d[\d,]*(?:\.\d+)?/g;

/** Small numbers a wrong answer may be corrected to: a syllable count, a small result. */
const SMALL = Array.from({ length: 13 }, (_, i) => i);

/** The index of the last assistant message with text (the answer), −1 without one. */
function answerIndex(msgs: readonly Message[]): number {
  for (let i = msgs.length - 1; i >= 0; i--) if (msgs[i].role === 'assistant' && msgs[i].content.trim() !== '') return i;
  return -1;
}

function withAnswer(msgs: readonly Message[], i: number, text: string): Completion {
  return { messages: msgs.map((m, k) => (k === i ? { ...m, content: text } : { ...m })) };
}

/** The answer text with its last number replaced by `value`. */
function replaceLastNumber(text: string, last: RegExpMatchArray, value: string): string {
  return text.slice(0, last.index) + value + text.slice(last.index! + last[0].length);
}

/**
 * The reply with its checkable fact changed so the family's checker gives the other verdict,
 * and that verdict; undefined when no such change is found (no answer, a wrong reply whose
 * number no candidate fixes, a wrong reply in a family without numbers).
 * @example contrastReply('What is 2 + 3?', arithmetic, { messages: [..., { role: 'tool', content: '5' }, { role: 'assistant', content: 'It is 5.' }] }, rng)
 *   // { reply: … 'It is 6.', correct: false }
 */
export function contrastReply(prompt: string, task: SyntheticTask, reply: Completion, rng: Rng): { reply: Completion; correct: boolean } | undefined {
  const msgs = completionMessages(reply);
  const ai = answerIndex(msgs);
  if (ai < 0) return undefined;
  const text = msgs[ai].content;
  const correct = task.check(prompt, completionText(reply));
  const accepts = (c: Completion): boolean => task.check(prompt, completionText(c));
  const nums = [...text.matchAll(NUMBER)];
  const last = nums[nums.length - 1];
  if (!correct) {
    if (!last) return undefined;
    const shown = msgs
      .filter((m) => m.role === 'tool')
      .flatMap((m) => [...m.content.matchAll(NUMBER)].map((x) => x[0]))
      .reverse();
    for (const v of [...shown, ...SMALL.map(String)]) {
      if (v === last[0]) continue;
      const c = withAnswer(msgs, ai, replaceLastNumber(text, last, v));
      if (accepts(c)) return { reply: c, correct: true };
    }
    return undefined;
  }
  for (let attempt = 0; attempt < 8; attempt++) {
    let wrong: string;
    if (last) {
      const value = Number(last[0].replace(/,/g, ''));
      const delta = Math.max(1, Math.round(Math.abs(value) * 0.2 * rng.random())) * (rng.random() < 0.5 ? -1 : 1);
      const moved = value + delta < 0 ? value + Math.abs(delta) : value + delta;
      wrong = replaceLastNumber(text, last, String(Number.isInteger(value) ? moved : moved.toFixed(2)));
    } else {
      const other = task.generate('train', 1, rng.nextU32())[0];
      const om = other.conversation.messages;
      const oi = answerIndex(om);
      if (oi < 0) continue;
      wrong = om[oi].content;
      const mine = task.item?.(prompt);
      const theirs = task.item?.(other.prompt);
      // a word family's answer names its word: say it about this item, so only the answer is wrong
      if (mine && theirs && mine !== theirs && /^[\p{L}'-]+$/u.test(theirs)) wrong = wrong.replace(new RegExp(`\\b${theirs}\\b`, 'g'), mine);
    }
    const c = withAnswer(msgs, ai, wrong);
    if (wrong !== text && !accepts(c)) return { reply: c, correct: false };
  }
  return undefined;
}

/**
 * A number of the same length with every digit changed (each digit replaced by another, the
 * leading one never 0), e.g. "302" → "841": a wrong answer that shares no digit position with
 * the right one, so a reward model comparing the answer with the calculator's output token by
 * token finds no position that matches (the ±1..20% slip of contrastReply often keeps the
 * leading digits). Non-digit characters (a comma, a point) are kept. Deterministic in `rng`.
 * @throws Error when `value` has no digit.
 */
export function everyDigitChanged(value: string, rng: Rng): string {
  if (!/\d/.test(value)) throw new Error(`everyDigitChanged: "${value}" has no digit`);
  const first = value.search(/\d/);
  return value.replace(/\d/g, (d, at: number) => {
    const lo = at === first && value.length > 1 ? 1 : 0;
    let x = d;
    while (x === d) x = String(lo + Math.floor(rng.random() * (10 - lo)));
    return x;
  });
}
