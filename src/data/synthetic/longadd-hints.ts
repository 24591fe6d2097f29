import { Rng } from '../../engine/rng.js';
import { GptforgeError } from '../../util/errors.js';
import { checkLongResult, longResult, THINK_TRIGGER } from './longarith.js';
import type { GenerateOptions, Split, SyntheticTask, TaskExample } from './task.js';
import { fnv1a, splitOf } from './tasks.js';
import { example } from './text.js';

/**
 * Long addition with an index-hinted scratchpad: the length-generalisation variant of
 * longarith.ts's family (docs/journal/techniques.md, "Length generalisation"). The question is the
 * same natural question; only the step-by-step reply differs.
 *
 * longarith's scratchpad copies the remaining operands on every line, and the model learned
 * each copy's length by position (it copies at most the 6 digits trained). Here nothing is
 * ever located by counting: every digit carries a letter label — its column, counted from
 * the right, as consecutive letters from a start letter drawn at random for each problem and
 * cycled after z (Zhou et al. 2023's index hints, "What algorithms can transformers learn?";
 * the random start is why every label and every "next label" is seen in training, so a
 * longer number only reuses them) — and each later step finds its digits by label:
 *
 *   4567+891            the question (any of longarith's phrasings, unchanged)
 *   A:k7l6m5n4          the first operand read from its last digit, one label per column
 *   B:k1l9m8            the second, with the same start label (so columns align by label)
 *   k:7+1+0=8k          one line per column: its label, A's and B's digit with that label
 *   l:6+9+0=15l         (0 where the operand has none), the carry in (the previous line's
 *   m:5+8+1=14m         tens digit), the column sum, the label again (the line's last token
 *   n:4+0+1=5n          sits after the sum's last digit, so the label finds that digit)
 *   Sum:n5m4l5k8        the result digits, most significant first, each with its label
 *   Answer: 5458        the labels dropped
 *
 * A final carry gets a column line of its own ("o:0+0+1=1o"). The reads run right to left so
 * that the first label is the units column of both operands; the read is the one step that
 * still looks into the prompt (the previous digits read, not a count, say where the next one
 * is), and the answer line is the one step that strips labels.
 *
 * Items are split train/test by tasks.ts's hash of "a+b", the same split as long-addition:
 * a problem held out in one format is held out in the other.
 */

/** The label alphabet: lowercase a–z, cycled. */
export const HINT_LABELS = 'abcdefghijklmnopqrstuvwxyz';

/** The label `k` columns after `start` (cycled after z). */
export function hintLabel(start: number, k: number): string {
  return HINT_LABELS[(((start + k) % HINT_LABELS.length) + HINT_LABELS.length) % HINT_LABELS.length];
}

/**
 * The hinted scratchpad for a + b (see the module comment), labels starting at letter index
 * `start` (0 = a … 25 = z). Operands: digit strings of 1–25 digits (more would reuse a label
 * within one problem).
 */
export function hintedScratchpad(a: string, b: string, start: number): string {
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) throw new GptforgeError(`hintedScratchpad: operands must be digit strings, got "${a}" and "${b}"`);
  if (Math.max(a.length, b.length) >= HINT_LABELS.length) throw new GptforgeError(`hintedScratchpad: at most ${HINT_LABELS.length - 1} digits (one label per column), got ${Math.max(a.length, b.length)}`);
  if (!Number.isInteger(start) || start < 0 || start >= HINT_LABELS.length) throw new GptforgeError(`hintedScratchpad: start must be a label index 0–${HINT_LABELS.length - 1}, got ${start}`);
  const read = (x: string): string =>
    [...x]
      .reverse()
      .map((d, k) => hintLabel(start, k) + d)
      .join('');
  const lines = [`A:${read(a)}`, `B:${read(b)}`];
  const digits: string[] = [];
  let carry = 0;
  for (let k = 0; k < a.length || k < b.length || carry > 0; k++) {
    const x = k < a.length ? Number(a[a.length - 1 - k]) : 0;
    const y = k < b.length ? Number(b[b.length - 1 - k]) : 0;
    const s = x + y + carry;
    const label = hintLabel(start, k);
    lines.push(`${label}:${x}+${y}+${carry}=${s}${label}`);
    digits.push(label + String(s % 10));
    carry = Math.floor(s / 10);
  }
  const sum = digits.reverse();
  lines.push(`Sum:${sum.join('')}`);
  // a leading zero survives only in a one-digit result ("0+0")
  lines.push(
    `Answer: ${sum
      .map((it) => it.slice(1))
      .join('')
      .replace(/^0+(?=\d)/, '')}`,
  );
  return lines.join('\n');
}

/** The result a hinted reply's "Sum:" line spells (labels dropped), or undefined without one — a diagnostic beside the checked "Answer:". */
export function hintedSum(reply: string): string | undefined {
  const m = /Sum:([a-z0-9]+)/.exec(reply);
  return m ? m[1].replace(/[a-z]/g, '').replace(/^0+(?=\d)/, '') : undefined;
}

const PROMPTS: readonly string[] = ['What is {a} plus {b}?', 'Add {a} and {b}.', '{a} + {b} = ?', 'Compute {a} + {b}.', 'What is the sum of {a} and {b}?'];

/**
 * Sentences a training prompt may carry after the question (variant `filler`): they move the
 * operands a varying distance back from the reply, so the read cannot find an operand's last
 * digit by its distance from the reply — the model first trained without them located it by
 * distance and was one digit off as soon as the second operand was longer than trained.
 * The test questions carry none.
 */
export const HINT_FILLERS: readonly string[] = [
  'Please show your work.',
  'I need the exact number.',
  'Take your time.',
  'No calculator, please.',
  'This is for my homework and I want to check it.',
  'My teacher asked me to add these by hand, so please be careful with every column.',
  'Be careful.',
  'I tried it myself but I am not sure about my answer, so I would like to see how you do it.',
];

function number(rng: Rng, d: number): string {
  let s = d === 1 ? String(rng.int(10)) : String(1 + rng.int(9));
  for (let i = 1; i < d; i++) s += String(rng.int(10));
  return s;
}

/**
 * The draw loop of the long-addition scratchpad families (long-addition-hints, -abacus): the
 * common variant { minDigits, maxDigits (1–12), mode: 'both' | 'cot' | 'direct', cotShare
 * (default 0.5), filler (default 0: the share of prompts with one of HINT_FILLERS after the
 * question) } checked and named with the family, operands drawn until `n` fall in `split` by
 * long-addition's item key (a problem held out there is held out here), the question worded
 * one of five ways. `answer(a, b, cot, rng)` writes the reply; it may draw from `rng` (after
 * the prompt's draws, for every item).
 * @throws GptforgeError naming the family and the variant field.
 */
export function drawLongAdditions(name: string, split: Split, n: number, seed: number, opts: GenerateOptions | undefined, answer: (a: string, b: string, cot: boolean, rng: Rng) => string): TaskExample[] {
  if (!Number.isInteger(n) || n < 0) throw new GptforgeError(`task "${name}": example count must be a non-negative integer, got ${n}`);
  const v = opts?.variant;
  const minDigits = v?.minDigits ?? 1;
  const maxDigits = v?.maxDigits ?? 6;
  const mode = v?.mode ?? 'both';
  const cotShare = v?.cotShare ?? 0.5;
  const filler = v?.filler ?? 0;
  if (typeof filler !== 'number' || !(filler >= 0 && filler <= 1)) throw new GptforgeError(`${name} variant: filler must be a number in [0, 1], got ${JSON.stringify(filler)}`, { field: 'variant' });
  if (typeof cotShare !== 'number' || !(cotShare >= 0 && cotShare <= 1)) throw new GptforgeError(`${name} variant: cotShare must be a number in [0, 1], got ${JSON.stringify(cotShare)}`, { field: 'variant' });
  const ok = (d: unknown): d is number => Number.isInteger(d) && (d as number) >= 1 && (d as number) <= 12;
  if (!ok(minDigits) || !ok(maxDigits) || minDigits > maxDigits) throw new GptforgeError(`${name} variant: minDigits and maxDigits must be integers with 1 ≤ minDigits ≤ maxDigits ≤ 12`, { field: 'variant' });
  if (mode !== 'both' && mode !== 'cot' && mode !== 'direct') throw new GptforgeError(`${name} variant: mode must be "both", "cot" or "direct", got ${JSON.stringify(mode)}`, { field: 'variant' });
  const rng = new Rng((seed ^ fnv1a(name)) >>> 0);
  const out: TaskExample[] = [];
  for (let tries = 0; out.length < n; tries++) {
    if (tries > 1000 * (n + 10)) throw new GptforgeError(`task "${name}": cannot draw ${n} ${split} items with ${minDigits}–${maxDigits} digits`);
    const a = number(rng, minDigits + rng.int(maxDigits - minDigits + 1));
    const b = number(rng, minDigits + rng.int(maxDigits - minDigits + 1));
    if (splitOf(`${a}+${b}`) !== split) continue;
    const cot = mode === 'cot' || (mode === 'both' && rng.random() < cotShare);
    // drawn only when asked for, so the default draws the same problems as before the option existed
    const extra = filler > 0 && rng.random() < filler ? ` ${HINT_FILLERS[rng.int(HINT_FILLERS.length)]}` : '';
    const prompt = PROMPTS[rng.int(PROMPTS.length)].replace('{a}', a).replace('{b}', b) + extra + (cot ? ` ${THINK_TRIGGER}` : '');
    out.push(example(prompt, [{ role: 'assistant', content: answer(a, b, cot, rng) }]));
  }
  return out;
}

/**
 * Long addition, answered directly or (after "Let's think step by step.") with the
 * index-hinted scratchpad. Variant: { minDigits, maxDigits (1–12), mode: 'both' | 'cot' |
 * 'direct' }, as long-addition's, cotShare (default 0.5): the share of step-by-step prompts
 * in mode 'both', and filler (default 0): the share of prompts with one of HINT_FILLERS after
 * the question.
 */
export const longAdditionHinted: SyntheticTask = {
  name: 'long-addition-hints',
  description: 'Add two 1–6 digit numbers without the calculator: directly, or with an index-hinted scratchpad (every digit labelled by its column) after "Let\'s think step by step."',
  usesTool: false,
  generate(split: Split, n: number, seed: number, opts?: GenerateOptions): TaskExample[] {
    return drawLongAdditions('long-addition-hints', split, n, seed, opts, (a, b, cot, rng) => {
      // drawn for every item, so the problems are the same whether or not it is step by step
      const start = rng.int(HINT_LABELS.length);
      return cot ? hintedScratchpad(a, b, start) : `${a} + ${b} = ${longResult(a, '+', b)}.`;
    });
  },
  /** The reply's final number (after the last "Answer:", else its last number) equals a + b — the same checker as long-addition. */
  check(prompt: string, answer: string): boolean {
    return checkLongResult(prompt, answer, '+');
  },
};

/** Where a hinted reply first departs from the right scratchpad (docs/journal/techniques.md's error table, model F). */
export type HintedStep = 'A' | 'B' | 'column' | 'columns-end' | 'Sum' | 'Answer' | 'none';

/**
 * The first step of `reply` that differs from hintedScratchpad(a, b, start), the start label
 * being the one the reply chose (any start is right): 'A' / 'B' (a read out of the prompt),
 * 'column' (a column line: a digit looked up by label, the carry or the sum; `column` its
 * index from the units), 'columns-end' (a column too many or too few), 'Sum' (the gather),
 * 'Answer' (the label-free copy), or 'none' (the whole reply is right).
 */
export function firstWrongStep(reply: string, a: string, b: string): { step: HintedStep; column?: number } {
  const start = HINT_LABELS.indexOf(/^A:([a-z])/.exec(reply.trim())?.[1] ?? '?');
  if (start < 0) return { step: 'A' };
  const want = hintedScratchpad(a, b, start).split('\n');
  const got = reply.trim().split('\n');
  const columns = want.length - 4;
  for (let i = 0; i < want.length; i++) {
    if (got[i] === want[i]) continue;
    if (i === 0) return { step: 'A' };
    if (i === 1) return { step: 'B' };
    if (i < 2 + columns) return got[i]?.startsWith('Sum:') ? { step: 'columns-end', column: i - 2 } : { step: 'column', column: i - 2 };
    if (i === 2 + columns) return got[i]?.startsWith('Sum:') ? { step: 'Sum' } : { step: 'columns-end', column: columns };
    return { step: 'Answer' };
  }
  return { step: 'none' };
}
