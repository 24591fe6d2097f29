import { Rng } from '../../engine/rng.js';
import { GptforgeError } from '../../util/errors.js';
import type { GenerateOptions, Split, SyntheticTask, TaskExample } from './task.js';
import { fnv1a, splitOf } from './tasks.js';
import { example } from './text.js';

/**
 * "Models need tokens to think": long addition and long multiplication without the
 * calculator, answered either directly or as a step-by-step scratchpad — the scratchpad only
 * when the prompt ends with "Let's think step by step." (Kojima et al. 2022's zero-shot
 * trigger), so one model learns both and the prompt chooses.
 *
 * The scratchpad (Nye et al. 2021, "Show your work") is written so that every step reads
 * only the line above it: each line drops the last digit of each operand, writes that digit
 * column's sum (or product) with the carry in, and the result so far with the new digit in
 * front:
 *
 *   4567+891            4567*8
 *   456+89|7+1+0=8|8    456|7*8+0=56|6
 *   45+8|6+9+0=15|58    45|6*8+5=53|36
 *   4+|5+8+1=14|458     4|5*8+5=45|536
 *   +|4+0+1=5|5458      |4*8+4=36|6536
 *   Answer: 5458        Answer: 36536
 *
 * Where the digits come from is always the end of an operand on the previous line (no
 * counting positions into the prompt), so the same local step applies at any length: the
 * property that lets a scratchpad run past the operand lengths it was trained on. With a
 * tokenizer that splits numbers into single digits (`gpt4-digits`) a digit is a token.
 *
 * Multiplication here is a number (1–`maxDigits` digits) times a single digit: the
 * digit-by-digit pass with carries. Multi-digit by multi-digit (partial products, then their
 * sum) needs scratchpads several times longer than our context and training budget allow.
 *
 * Items (the pair "a+b" / "a*b") are split train/test by tasks.ts's hash, like arithmetic.
 */
export type LongOp = '+' | '*';

/** The zero-shot chain-of-thought trigger (Kojima et al. 2022). */
export const THINK_TRIGGER = "Let's think step by step.";

const PROMPTS: Record<LongOp, readonly string[]> = {
  '+': ['What is {a} plus {b}?', 'Add {a} and {b}.', '{a} + {b} = ?', 'Compute {a} + {b}.', 'What is the sum of {a} and {b}?'],
  '*': ['What is {a} times {b}?', 'Multiply {a} by {b}.', '{a} × {b} = ?', 'Compute {a} * {b}.', 'What is the product of {a} and {b}?'],
};

export interface LongArithVariant {
  /** Operand digits, both operands (multiplication: the first; the second is one digit). */
  minDigits: number;
  maxDigits: number;
  /** 'both' (default: half the prompts carry the trigger), 'cot' or 'direct'. */
  mode: 'both' | 'cot' | 'direct';
}

function variantOf(v: Record<string, unknown> | undefined): LongArithVariant {
  const minDigits = v?.minDigits ?? 1;
  const maxDigits = v?.maxDigits ?? 6;
  const mode = v?.mode ?? 'both';
  const ok = (d: unknown): d is number => Number.isInteger(d) && (d as number) >= 1 && (d as number) <= 12;
  if (!ok(minDigits) || !ok(maxDigits) || minDigits > maxDigits) throw new GptforgeError('long arithmetic variant: minDigits and maxDigits must be integers with 1 ≤ minDigits ≤ maxDigits ≤ 12', { field: 'variant' });
  if (mode !== 'both' && mode !== 'cot' && mode !== 'direct') throw new GptforgeError(`long arithmetic variant: mode must be "both", "cot" or "direct", got ${JSON.stringify(mode)}`, { field: 'variant' });
  return { minDigits, maxDigits, mode };
}

/** A number with exactly d digits (d = 1: 0–9), as a decimal string; BigInt-free up to 12 digits. */
function number(rng: Rng, d: number): string {
  let s = d === 1 ? String(rng.int(10)) : String(1 + rng.int(9));
  for (let i = 1; i < d; i++) s += String(rng.int(10));
  return s;
}

/** The exact result as a decimal string (BigInt: operands up to 12 digits). */
export function longResult(a: string, op: LongOp, b: string): string {
  return String(op === '+' ? BigInt(a) + BigInt(b) : BigInt(a) * BigInt(b));
}

/**
 * The scratchpad for a op b (see the module comment), ending with "Answer: r".
 * Multiplication needs b to be one digit. `forgetCarries`: the novice's scratchpad (skill.ts) —
 * every carry written as 0 and the last one dropped, so the answer is skill.ts's
 * forgetCarries(a, b) for addition.
 */
export function scratchpad(a: string, op: LongOp, b: string, opts: { forgetCarries?: boolean } = {}): string {
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) throw new GptforgeError(`scratchpad: operands must be digit strings, got "${a}" and "${b}"`);
  if (op === '*' && b.length !== 1) throw new GptforgeError(`scratchpad: long multiplication takes a one-digit multiplier, got "${b}"`);
  const lines = [op === '+' ? `${a}+${b}` : `${a}*${b}`];
  let x = a;
  let y = op === '+' ? b : '';
  let carry = 0;
  let r = '';
  while (x.length > 0 || y.length > 0) {
    const dx = x.length > 0 ? Number(x[x.length - 1]) : 0;
    x = x.slice(0, -1);
    let s: number;
    let step: string;
    if (op === '+') {
      const dy = y.length > 0 ? Number(y[y.length - 1]) : 0;
      y = y.slice(0, -1);
      s = dx + dy + carry;
      step = `${dx}+${dy}+${carry}=${s}`;
    } else {
      s = dx * Number(b) + carry;
      step = `${dx}*${b}+${carry}=${s}`;
    }
    carry = opts.forgetCarries ? 0 : Math.floor(s / 10);
    r = String(s % 10) + r;
    lines.push(`${op === '+' ? `${x}+${y}` : x}|${step}|${r}`);
  }
  const answer = (carry > 0 ? String(carry) : '') + r;
  // a leading zero survives only in a one-digit result ("0"); multiplying by 0 gives 0…0
  lines.push(`Answer: ${answer.replace(/^0+(?=\d)/, '')}`);
  return lines.join('\n');
}

/** The operands of a prompt of the family: its first two numbers (commas dropped). */
export function parseLong(prompt: string): { a: string; b: string } | undefined {
  const nums = prompt.match(/\d[\d,]*/g);
  if (!nums || nums.length < 2) return undefined;
  return { a: nums[0].replace(/,/g, ''), b: nums[1].replace(/,/g, '') };
}

/** The answer a reply gives: the number after the last "Answer:", else its last number. */
export function finalNumber(reply: string): string | undefined {
  const tagged = reply.match(/Answer:\s*(-?[\d,]+)/g);
  const m = tagged ? /(-?[\d,]+)$/.exec(tagged[tagged.length - 1].trim()) : null;
  if (m) return m[1].replace(/,/g, '');
  const all = reply.match(/-?\d[\d,]*/g);
  return all ? all[all.length - 1].replace(/,/g, '') : undefined;
}

/**
 * Whether `answer`'s final number (after the last "Answer:", else its last number) is the exact
 * result of the prompt's two operands under `op`: the checker of every long-arithmetic family.
 * @example checkLongResult('What is 12 + 30?', 'Answer: 42', '+') // true
 */
export function checkLongResult(prompt: string, answer: string, op: LongOp): boolean {
  const p = parseLong(prompt);
  if (!p) return false;
  const got = finalNumber(answer);
  return got !== undefined && /^\d+$/.test(got) && BigInt(got) === BigInt(longResult(p.a, op, p.b));
}

const fill = (t: string, a: string, b: string): string => t.replace('{a}', a).replace('{b}', b);

function longTask(name: string, op: LongOp, description: string): SyntheticTask {
  return {
    name,
    description,
    usesTool: false,
    generate(split: Split, n: number, seed: number, opts?: GenerateOptions): TaskExample[] {
      if (!Number.isInteger(n) || n < 0) throw new GptforgeError(`task "${name}": example count must be a non-negative integer, got ${n}`);
      const v = variantOf(opts?.variant);
      const rng = new Rng((seed ^ fnv1a(name)) >>> 0);
      const out: TaskExample[] = [];
      for (let tries = 0; out.length < n; tries++) {
        if (tries > 1000 * (n + 10)) throw new GptforgeError(`task "${name}": cannot draw ${n} ${split} items with ${v.minDigits}–${v.maxDigits} digits`);
        const d = v.minDigits + rng.int(v.maxDigits - v.minDigits + 1);
        const a = number(rng, d);
        // addition: the second operand's length is drawn on its own, so columns of unequal length are common
        const b = op === '*' ? number(rng, 1) : number(rng, v.minDigits + rng.int(v.maxDigits - v.minDigits + 1));
        if (splitOf(`${a}${op}${b}`) !== split) continue;
        const cot = v.mode === 'cot' || (v.mode === 'both' && rng.random() < 0.5);
        const templates = PROMPTS[op];
        const prompt = fill(templates[rng.int(templates.length)], a, b) + (cot ? ` ${THINK_TRIGGER}` : '');
        const answer = cot ? scratchpad(a, op, b) : `${a} ${op === '+' ? '+' : '×'} ${b} = ${longResult(a, op, b)}.`;
        out.push(example(prompt, [{ role: 'assistant', content: answer }]));
      }
      return out;
    },
    /** The reply's final number (after the last "Answer:", else its last number) equals the exact result. */
    check(prompt: string, answer: string): boolean {
      return checkLongResult(prompt, answer, op);
    },
  };
}

/** Long addition without the calculator: direct, or a column-by-column scratchpad with carries. */
export const longAddition: SyntheticTask = longTask('long-addition', '+', 'Add two 1–6 digit numbers without the calculator: directly, or digit by digit with carries after "Let\'s think step by step."');
/** A number times one digit without the calculator: direct, or digit by digit with carries. */
export const longMultiplication: SyntheticTask = longTask('long-multiplication', '*', 'Multiply a 1–6 digit number by one digit without the calculator: directly, or digit by digit with carries after "Let\'s think step by step."');

/** The tokens-to-think families (registered in tasks.ts's taskByName). */
export const THINKING_TASKS: readonly SyntheticTask[] = [longAddition, longMultiplication];
